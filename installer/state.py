"""Read what a previous run left in the cluster: ExistingState, who owns the PVC, the CA, the stored chart."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from installer.checks import user_from_secret_key
from installer.errors import InstallerError
from installer.htpasswd import parse_htpasswd
from installer.kube import KubeClient, NotFound
from installer.managed import list_managed
from installer.plan import ClaimInfo, ExistingState, SecretNames, chart_fullname
from installer.render import MANAGED_BY, OLD_S3_KEYS, S3_ACCESS_KEY, S3_SECRET_KEY
from installer.secretstr import SecretStr

if TYPE_CHECKING:  # the probe's types only: an offline render reads no cluster (start-up)
    from installer.probe import ProbeResult
    from installer.tlsfiles import TLSMaterial

MANAGED_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
INSTANCE_LABEL = "app.kubernetes.io/instance"
HELM_OWNERSHIP = ("meta.helm.sh/release-name", "meta.helm.sh/release-namespace")


def _decode(secret: Any, key: str) -> str | None:
    raw = (secret.data or {}).get(key)
    if raw is None:
        return None
    try:
        return base64.b64decode(str(raw)).decode("utf-8", errors="replace")
    except ValueError:  # not base64 (a hand-edited file): as if absent
        return None


def load_existing(
    kube: KubeClient,
    probe: ProbeResult,
    namespace: str,
    release: str,
    extra_secret: str | None = None,
    wanted_claim: str | None = None,
) -> ExistingState:
    """Everything a re-run must keep: haSharedSecret, password hashes, generated passwords, the CA.

    `extra_secret`: the TLS Secret of tls.mode existing-secret or cert-manager (its tls.crt and ca.crt are kept).
    `wanted_claim` (storage.filesystem.existing_claim) is looked up too: found, missing, or None when not allowed to
    look."""
    if not probe.namespace_exists:
        return ExistingState(existing_claim_found=False if wanted_claim else None)
    names = SecretNames(release)
    listed = kube.call(
        f"list the installer's Secrets in {namespace}",
        kube.core.list_namespaced_secret,
        namespace,
        label_selector=f"{MANAGED_SELECTOR},app.kubernetes.io/instance={release}",
    ).items
    by_name = {s.metadata.name: s for s in listed}
    present = set(by_name)
    tls_secret = by_name.get(extra_secret) if extra_secret else None
    if extra_secret and tls_secret is None:
        try:
            tls_secret = kube.call(
                f"read Secret {extra_secret}", kube.core.read_namespaced_secret, extra_secret, namespace
            )
            present.add(extra_secret)
        except NotFound:
            pass
    values = probe.release.values if probe.release is not None else {}
    chart_secrets = values.get("secrets") or {}
    passwords = _generated_passwords(by_name.get(names.state))
    s3 = by_name.get(names.s3)
    s3_keys = _s3_keys(s3) if s3 is not None else None
    ingress_auth = by_name.get(names.basic_auth)
    ingress_htpasswd = (
        parse_htpasswd((_decode(ingress_auth, "auth") or _decode(ingress_auth, "htpasswd") or ""))
        if ingress_auth
        else {}
    )
    return ExistingState(
        ha_shared_secret=SecretStr(chart_secrets["haSharedSecret"]) if chart_secrets.get("haSharedSecret") else None,
        registry_htpasswd=parse_htpasswd(chart_secrets.get("htpasswd") or ""),
        ingress_htpasswd=ingress_htpasswd,
        passwords=passwords,
        s3_keys=s3_keys,
        tls=_self_signed_tls(by_name.get(names.tls), by_name.get(names.ca)),
        values=values,
        secrets_present=frozenset(present),
        revision=probe.release.revision if probe.release is not None else 0,
        claim=_claim(kube, namespace, release, values),
        existing_claim_found=_claim_found(kube, namespace, wanted_claim) if wanted_claim else None,
        managed_objects=tuple(list_managed(kube, namespace, release)),
        # the TLS Secret's chain and ca.crt: where a private CA is found without asking (cert-manager's CA issuers)
        tls_secret_chain=_decode(tls_secret, "tls.crt") if tls_secret is not None else None,
        tls_secret_ca=_decode(tls_secret, "ca.crt") if tls_secret is not None else None,
        node_trust_ca=node_trust_ca(kube, namespace, release),
    )


def node_trust_ca(kube: KubeClient, namespace: str, release: str) -> str | None:
    """The CA certificate node trust put on the nodes in an earlier run (its ConfigMap's ca.crt), or None."""
    from installer.clients import node_trust_name
    from installer.kube import Forbidden

    name = node_trust_name(release)
    try:
        config_map = kube.call(f"read ConfigMap {name}", kube.core.read_namespaced_config_map, name, namespace)
    except (NotFound, Forbidden):
        return None
    return (config_map.data or {}).get("ca.crt")


def tls_secret_pems(kube: KubeClient, namespace: str, name: str) -> tuple[str | None, str | None]:
    """(tls.crt, ca.crt) of a TLS Secret, None for what is missing (the Secret too)."""
    try:
        secret = kube.call(f"read Secret {name}", kube.core.read_namespaced_secret, name, namespace)
    except NotFound:
        return None, None
    return _decode(secret, "tls.crt"), _decode(secret, "ca.crt")


def _s3_keys(secret: Any) -> tuple[SecretStr, SecretStr]:
    """The S3 keys in the installer's Secret: the chart's names, or the names older installers wrote."""
    access = _decode(secret, S3_ACCESS_KEY) or _decode(secret, OLD_S3_KEYS[0]) or ""
    key = _decode(secret, S3_SECRET_KEY) or _decode(secret, OLD_S3_KEYS[1]) or ""
    return SecretStr(access), SecretStr(key)


def _claim_found(kube: KubeClient, namespace: str, name: str) -> bool | None:
    from installer.kube import Forbidden

    try:
        kube.call(f"read PVC {name}", kube.core.read_namespaced_persistent_volume_claim, name, namespace)
        return True
    except NotFound:
        return False
    except Forbidden:
        return None


def existing_from_rendered(
    secrets: list[dict[str, Any]], secret_values: dict[str, Any], release: str, tls_secret_name: str | None = None
) -> ExistingState:
    """What an earlier offline render wrote (its Secrets and secret values), as the state a re-render keeps:
    the same haSharedSecret, CA, serving certificate, generated passwords and password hashes."""
    from types import SimpleNamespace

    names = SecretNames(release)
    by_name = {
        s["metadata"]["name"]: SimpleNamespace(data=s.get("data") or {})
        for s in secrets
        if isinstance(s, dict) and isinstance(s.get("metadata"), dict) and isinstance(s.get("data") or {}, dict)
    }
    chart_secrets = (secret_values or {}).get("secrets") or {}
    ingress_auth = by_name.get(names.basic_auth)
    return ExistingState(
        ha_shared_secret=SecretStr(str(chart_secrets["haSharedSecret"]))
        if chart_secrets.get("haSharedSecret")
        else None,
        registry_htpasswd=parse_htpasswd(str(chart_secrets.get("htpasswd") or "")),
        ingress_htpasswd=parse_htpasswd((_decode(ingress_auth, "auth") or _decode(ingress_auth, "htpasswd") or ""))
        if ingress_auth
        else {},
        passwords=_generated_passwords(by_name.get(names.state)),
        s3_keys=_s3_keys(by_name[names.s3]) if names.s3 in by_name else None,
        tls=_self_signed_tls(by_name.get(tls_secret_name or names.tls), by_name.get(names.ca)),
    )


def _generated_passwords(state_secret: Any) -> dict[str, SecretStr]:
    """user -> generated password, from the installer's state Secret (keys made by secret_key_for_user)."""
    passwords = {}
    for key in (state_secret.data or {}) if state_secret is not None else {}:
        user = user_from_secret_key(key)
        if user is not None:
            passwords[user] = SecretStr(_decode(state_secret, key) or "")
    return passwords


def _claim(kube: KubeClient, namespace: str, release: str, values: dict) -> ClaimInfo | None:
    """The PVC named as the installer's data volume for this release, and who made it."""
    name = chart_fullname(release)
    try:
        pvc = kube.call(f"read PVC {name}", kube.core.read_namespaced_persistent_volume_claim, name, namespace)
    except NotFound:
        return None
    return ClaimInfo(
        name=name,
        size=(pvc.spec.resources.requests or {}).get("storage", "0"),
        phase=pvc.status.phase or "Pending",
        storage_class=pvc.spec.storage_class_name,
        owner=claim_owner(pvc.metadata, release),
        access_modes=tuple(pvc.spec.access_modes or ()),
    )


def claim_owner(metadata: Any, release: str) -> str:
    """ "installer" (labelled the installer's own for `release`), "chart" (the release's chart made it) or "other"."""
    labels = metadata.labels or {}
    annotations = metadata.annotations or {}
    if all(labels.get(k) == v for k, v in MANAGED_BY.items()) and labels.get(INSTANCE_LABEL) == release:
        return "installer"
    if annotations.get("meta.helm.sh/release-name") == release or (
        labels.get("release") == release and labels.get("heritage") == "Helm"
    ):
        return "chart"
    return "other"


def _self_signed_tls(tls_secret: Any, ca_secret: Any) -> "TLSMaterial | None":
    if tls_secret is None or ca_secret is None:
        return None
    cert, key, ca, ca_key = (
        _decode(tls_secret, "tls.crt"),
        _decode(tls_secret, "tls.key"),
        _decode(ca_secret, "tls.crt"),
        _decode(ca_secret, "tls.key"),
    )
    if not (cert and key and ca and ca_key):
        return None
    from installer.tlsfiles import TLSMaterial  # cryptography loads slowly: only when a CA is kept

    return TLSMaterial(cert_pem=cert, key_pem=SecretStr(key), ca_pem=ca, ca_key_pem=SecretStr(ca_key))


def release_chart_dir(kube: KubeClient, namespace: str, release: str, dest: Path) -> Path:
    """Write the chart stored in the release's latest revision to `dest` (helm keeps it whole)."""
    import yaml

    from installer.probe import latest_release_record

    record = latest_release_record(kube, namespace, release)
    if record is None:
        raise InstallerError(
            f"release {release} is not installed in namespace {namespace}",
            "check --release and --namespace (helm list -A)",
        )
    chart = record["chart"]
    dest = Path(dest)
    dest.mkdir(parents=True)
    (dest / "Chart.yaml").write_text(yaml.safe_dump(chart["metadata"]))
    (dest / "values.yaml").write_text(yaml.safe_dump(chart.get("values") or {}))
    root = dest.resolve()
    for item in (chart.get("templates") or []) + (chart.get("files") or []):
        path = dest / item["name"]
        if not path.resolve().is_relative_to(root):  # a name like ../../x in a tampered release stays inside dest
            raise InstallerError(
                f"the stored chart of release {release} names a file outside the chart ({item['name']!r})",
                "reinstall the chart from its repository (helm upgrade with --chart)",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(item["data"]))
    return dest


class InstalledCA(NamedTuple):
    """The CA clients must trust for an installed release, where it came from, and the hosts the release answers on."""

    pem: str
    hosts: list[str]
    source: str  # in words: the Secret or ConfigMap it was read from, and its subject


def installed_ca(kube: KubeClient, namespace: str, release: str) -> InstalledCA:
    """The CA clients must trust for `release`, first found of: the installer's CA (Secret `<release>-ca`, tls.mode
    self-signed), the private CA node trust put on the nodes (its ConfigMap), the CA that signed the release's TLS
    Secret (its `ca.crt`, or the CA of the cert-manager CA issuer that issues it: find_client_ca decides). With the
    hosts the release answers on (Ingress rules, or the installer's HTTPRoute). InstallerError, naming what was
    tried and the fix, when there is none."""
    from installer.clients import node_trust_name

    listed = kube.call("read the Ingress", kube.networking.list_namespaced_ingress, namespace).items
    ingresses = [ing for ing in listed if claim_owner(ing.metadata, release) != "other"]  # the chart's, not another's
    hosts = [rule.host for ing in ingresses for rule in (ing.spec.rules or []) if rule.host]
    managed = list_managed(kube, namespace, release)
    if not hosts:  # exposed through a Gateway: the installer's HTTPRoute names them
        from installer.managed import release_hosts

        hosts = release_hosts({"ingress": {"enabled": False}}, managed)
    name = SecretNames(release).ca
    try:
        secret = kube.call(f"read Secret {name}", kube.core.read_namespaced_secret, name, namespace)
    except NotFound:
        secret = None
    if secret is not None:
        pem = _decode(secret, "tls.crt")
        if not pem:
            raise InstallerError(
                f"Secret {name} in namespace {namespace} holds no readable tls.crt",
                "re-run apply to write the installer's CA again",
            )
        return InstalledCA(pem, hosts, f"the installer's CA, Secret {namespace}/{name}{_subject(pem)}")
    trust = node_trust_name(release)
    pem = node_trust_ca(kube, namespace, release)  # a private CA (ca_file, a Secret's ca.crt) is on record there
    if pem:
        return InstalledCA(
            pem, hosts, f"the CA node trust put on the nodes, ConfigMap {namespace}/{trust}{_subject(pem)}"
        )
    tried = [
        f"Secret {name} (the installer's CA, tls.mode self-signed): not there",
        f"ConfigMap {trust} (the CA node trust keeps): not there or holds no ca.crt",
    ]
    found = _tls_secret_ca(kube, namespace, release, ingresses, managed, tried)
    if found is not None:
        return InstalledCA(found[0], hosts, found[1])
    raise InstallerError(
        f"no CA for release {release} in namespace {namespace}; tried:\n"
        + "\n".join(f"    - {line}" for line in tried),
        "give exposure.tls.ca_file (the CA that signed the registry's certificate) with clients.node_trust: true and "
        f"re-run apply (node trust keeps that CA in ConfigMap {trust}); a publicly trusted certificate needs no CA",
    )


def _subject(pem: str) -> str:
    """ " (CN=...)" of the first certificate in `pem`, or nothing when it does not parse."""
    from installer.tlsfiles import load_chain, subject_words

    certs = load_chain(pem)
    return f" ({subject_words(certs[0])})" if certs else ""


IssuerRef = tuple[Literal["ClusterIssuer", "Issuer"], str]  # a cert-manager issuer's kind and name


def _tls_secret_ca(
    kube: KubeClient,
    namespace: str,
    release: str,
    ingresses: list[Any],
    managed: list[dict[str, Any]],
    tried: list[str],
) -> tuple[str, str] | None:
    """(PEM, where from) of the CA that signed the release's TLS Secret: the Secrets its Ingress names (spec.tls), or
    the installer's cert-manager Certificate (a Gateway install); what was tried and why it failed goes to `tried`.

    A Gateway listener's own certificate (tls.mode existing-secret) is not the release's and is not looked at."""
    from installer.kube import Forbidden
    from installer.probe import issuer_of
    from installer.tlsfiles import find_client_ca, load_chain

    refs = _tls_secrets(ingresses, managed)
    if not refs:
        tried.append("the release's TLS Secret: its Ingress names none (spec.tls), and it has no Certificate")
    for secret, ref in refs.items():
        where, secret_name = f"Secret {namespace}/{secret}", f"{namespace}/{secret}"
        try:
            chain_pem, ca_pem = tls_secret_pems(kube, namespace, secret)  # tls.crt and ca.crt only: never tls.key
        except Forbidden:
            tried.append(f"{where}: not allowed to read it")
            continue
        chain = load_chain(chain_pem)
        found, _ = find_client_ca(chain, where, secret_ca=ca_pem, secret_name=secret_name)
        if found.pem is None and not found.public and ref is not None:  # the CA issuer's CA, read as the probe does
            try:
                issuer = issuer_of(kube, ref[0], ref[1], namespace)
            except Forbidden:
                issuer = None
            if issuer is not None:
                found, _ = find_client_ca(chain, where, secret_ca=ca_pem, secret_name=secret_name, issuer=issuer)
        if found.pem is not None:
            return found.pem, found.source
        if found.public:
            raise InstallerError(
                f"no CA to print for release {release}: {found.source}",
                "nothing to install: docker, containerd and Pods trust it through the system trust store",
            )
        tried.append(found.source.removeprefix("not known: "))  # its words name the Secret
    return None


def _tls_secrets(ingresses: list[Any], managed: list[dict[str, Any]]) -> dict[str, IssuerRef | None]:
    """The release's TLS Secrets (its Ingresses' spec.tls, its cert-manager Certificate's secretName), each with the
    cert-manager issuer that issues it (the Ingress's annotation, the Certificate's issuerRef), when one is named."""
    from installer.reconfigure import CM_CLUSTER_ISSUER, CM_ISSUER

    refs: dict[str, IssuerRef | None] = {}
    for ing in ingresses:
        annotations = ing.metadata.annotations or {}
        issuer: IssuerRef | None = (
            ("ClusterIssuer", annotations[CM_CLUSTER_ISSUER])
            if annotations.get(CM_CLUSTER_ISSUER)
            else ("Issuer", annotations[CM_ISSUER])
            if annotations.get(CM_ISSUER)
            else None
        )
        for entry in ing.spec.tls or []:
            if entry.secret_name:
                refs.setdefault(entry.secret_name, issuer)
    for obj in managed:
        spec = obj.get("spec") or {}
        if obj.get("kind") == "Certificate" and spec.get("secretName"):
            ref = spec.get("issuerRef") or {}
            kind: Literal["ClusterIssuer", "Issuer"] = (
                "ClusterIssuer" if ref.get("kind") == "ClusterIssuer" else "Issuer"
            )
            refs.setdefault(spec["secretName"], (kind, str(ref["name"])) if ref.get("name") else None)
    return refs

"""build_plan: the user's Choices, checked against the probe and resolved into one frozen Plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence, TypeVar

from installer.errors import InstallerError, Problem, ValidationFailed
from installer.gateway import ALTERNATIVES, PolicyKind, family_info, policy_for, why_not
from installer.gcschedule import kubectl_image
from installer.htpasswd import build_htpasswd
from installer.model import Choices, Storage, password_length_problem
from installer.secretref import generate_password
from installer.secretstr import SecretStr, repr_without
from installer.sizes import parse_size
from installer.structs import msgspec

if TYPE_CHECKING:  # the probe module (and the cluster client it names) is not needed to plan offline
    from installer.probe import IngressClassInfo, IssuerInfo, ProbeResult, StorageClassInfo
    from installer.tlsfiles import ClientCA, TLSMaterial

BASIC_AUTH_FAMILIES = ("ingress-nginx", "nginx-inc")
_Class = TypeVar("_Class", "IngressClassInfo", "StorageClassInfo")


class SecretNames(msgspec.Struct, frozen=True):
    """Names of the Secrets the installer keeps beside the release."""

    release: str

    @property
    def basic_auth(self) -> str:
        return f"{self.release}-basic-auth"

    @property
    def tls(self) -> str:
        return f"{self.release}-tls"

    @property
    def ca(self) -> str:
        return f"{self.release}-ca"

    @property
    def state(self) -> str:
        return f"{self.release}-installer"

    @property
    def s3(self) -> str:
        return f"{self.release}-s3"


class GatewayTarget(msgspec.Struct, frozen=True):
    """Where the installer's HTTPRoute attaches: a Gateway, its listener, and the implementation behind it."""

    name: str
    namespace: str
    listener: str | None  # the parentRef's sectionName
    family: str
    certificate_refs: tuple[str, ...] = ()  # the listener's Secrets, "namespace/name"
    policy: PolicyKind | None = None  # the family's policy the installer creates for the route

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


# The value classes here are msgspec Structs (made in C; a frozen dataclass compiles six generated methods at import,
# ~0.3 ms each class on every command's start); fields kept out of repr (secrets, TLS material) are named to
# repr_without.


class ExistingState(msgspec.Struct, frozen=True):
    """What a previous run left in the cluster, so a re-run changes nothing it does not have to."""

    ha_shared_secret: SecretStr | None = None
    registry_htpasswd: dict[str, str] = msgspec.field(default_factory=dict)
    ingress_htpasswd: dict[str, str] = msgspec.field(default_factory=dict)
    passwords: dict[str, SecretStr] = msgspec.field(default_factory=dict)
    s3_keys: tuple[SecretStr, SecretStr] | None = None
    tls: "TLSMaterial | None" = None
    values: dict[str, Any] = msgspec.field(default_factory=dict)
    secrets_present: frozenset[str] = frozenset()
    revision: int = 0
    claim: "ClaimInfo | None" = None
    existing_claim_found: bool | None = None  # storage.filesystem.existing_claim: found, missing, or not checked
    managed_objects: tuple[dict[str, Any], ...] = ()  # HTTPRoute, policies, ... of this release
    # the chosen Gateway's listener certificates: "namespace/name" -> tls.crt PEM, "" when the Secret is missing, None
    # when unreadable
    listener_certs: dict[str, str | None] = msgspec.field(default_factory=dict)
    # the TLS Secret of tls.mode existing-secret / cert-manager as it is now: its tls.crt chain and ca.crt (PEM)
    tls_secret_chain: str | None = None
    tls_secret_ca: str | None = None
    node_trust_ca: str | None = None  # the CA node trust wrote before (its ConfigMap)

    __repr__, __rich_repr__ = repr_without(
        "ha_shared_secret",
        "registry_htpasswd",
        "ingress_htpasswd",
        "passwords",
        "s3_keys",
        "tls",
        "values",
        "managed_objects",
        "listener_certs",
        "tls_secret_chain",
        "tls_secret_ca",
        "node_trust_ca",
    )


class ClaimInfo(msgspec.Struct, frozen=True):
    """The release's data volume as it is now.

    `owner`: "installer" (labelled as the installer's own for this release), "chart" (made by the
    chart of this release, helm deletes it on `helm uninstall`) or "other" (someone else's PVC).
    """

    name: str
    size: str
    phase: str
    storage_class: str | None
    owner: str = "installer"
    access_modes: tuple[str, ...] = ()


class DataClaim(msgspec.Struct, frozen=True):
    """The PVC the registry's data lives in, and what the install does with it.

    action: "create" (the installer makes it), "reuse" (the installer's own, kept across
    uninstalls), "adopt" (the chart made it: kept through the upgrade, then labelled the
    installer's own) or "user" (storage.filesystem.existing_claim: never changed or deleted).
    """

    name: str
    action: str
    size: str
    access_mode: str
    storage_class: str | None

    @property
    def installer_owned(self) -> bool:
        return self.action != "user"


def chart_fullname(release: str) -> str:
    """The name the chart gives its objects for this release; also the name of the installer's data PVC."""
    from installer.checks import chart_fullname as fullname

    return fullname(release)


class ResolvedUser(msgspec.Struct, frozen=True):
    """A user and its password; `password` is None when only the installed hash is kept (`keep`)."""

    name: str
    password: SecretStr | None
    source: str = ""  # words: where the password came from
    kept_hash: str | None = None

    __repr__, __rich_repr__ = repr_without("password", "kept_hash")


class ChartRef(msgspec.Struct, frozen=True):
    """What to pass to `helm upgrade --install`: a chart reference plus --repo/--version."""

    ref: str
    version: str | None
    repo: str | None

    def args(self) -> list[str]:
        out = [self.ref]
        if self.repo:
            out += ["--repo", self.repo]
        if self.version:
            out += ["--version", self.version]
        return out


class Plan(msgspec.Struct, frozen=True):
    """Every decision made and every secret resolved: what render() and apply() need, nothing more."""

    choices: Choices
    context: str | None
    namespace: str
    release: str
    chart: ChartRef
    ingress_class: str
    controller_family: str
    storage_class: str | None
    tls_secret_name: str | None
    tls: "TLSMaterial | None"
    users: tuple[ResolvedUser, ...]
    htpasswd: SecretStr | None
    ha_shared_secret: SecretStr
    s3_keys: tuple[SecretStr, SecretStr] | None
    notes: tuple[str, ...] = ()
    claim: DataClaim | None = None  # None on S3 storage
    gateway: GatewayTarget | None = None  # exposure through a Gateway (an HTTPRoute) instead of an Ingress
    pull_user: ResolvedUser | None = None  # clients.pull_user, when namespaces pull
    gc_image: str = ""  # the scheduled collection's kubectl image (extras.garbage_collect.image or the cluster's)
    client_ca: "ClientCA | None" = None  # the CA clients trust, and where it came from

    @property
    def pull_address(self) -> str:
        """HOST[:PORT] the cluster's nodes pull from (clients.pull_address, else the first host)."""
        return self.choices.clients.pull_address or self.registry_host

    @property
    def names(self) -> SecretNames:
        return SecretNames(self.release)

    @property
    def registry_host(self) -> str:
        return self.choices.exposure.hosts[0]

    @property
    def ca_pem(self) -> str | None:
        """The CA clients must trust (nodes, the smoke push, CDI): the installer's own, or the private CA that signed
        the registry's certificate; None when it is publicly trusted or not known."""
        if self.client_ca is not None:
            return self.client_ca.pem
        return self.tls.ca_pem if self.tls is not None else None

    __repr__, __rich_repr__ = repr_without(
        "tls", "users", "htpasswd", "ha_shared_secret", "s3_keys", "pull_user", "client_ca"
    )


def build_plan(choices: Choices, probe: ProbeResult | None = None, existing: ExistingState | None = None) -> Plan:
    """Check the choices against what the cluster has, resolve secrets, and return the Plan.

    Raises:
        ValidationFailed: every problem found, each naming the setting and the fix.
        InstallerError: a secret reference cannot be resolved (env var unset, file missing).
    """
    existing = existing or ExistingState()
    problems: list[Problem] = []
    notes: list[str] = []
    gateway = None
    if choices.exposure.gateway is not None:
        gateway = _gateway(choices, probe, problems, notes)
        ingress_class, family = "", gateway.family
    else:
        ingress_class, family = _ingress(choices.exposure.ingress_class, probe, problems, notes)
    storage_class = _storage(choices, probe, problems, notes)
    _volume_change(choices.storage, choices.target.namespace, probe, existing.claim, problems)
    claim = _data_claim(choices, storage_class, existing.claim, problems, notes)
    auth_problem = ingress_auth_problem(choices.auth.mode, ingress_class, family)
    if auth_problem is not None:
        problems.append(auth_problem)
    fs = choices.storage.filesystem
    if choices.storage.kind == "filesystem" and fs.existing_claim and existing.existing_claim_found is False:
        notes.append(
            f"warning: storage.filesystem.existing_claim {fs.existing_claim} was not found in namespace "
            f"{choices.target.namespace}: the registry pod stays Pending until it exists (kubectl -n "
            f"{choices.target.namespace} get pvc)"
        )
    users = _users(choices, existing, problems)
    pull_user = None
    if choices.clients.namespaces and choices.auth.mode != "none":
        name = choices.clients.pull_user
        pull_user = ResolvedUser(
            name, existing.passwords.get(name) or SecretStr(generate_password(32)), "generated for pulls"
        )
    tls, tls_secret = _tls(choices, probe, existing, problems, notes)
    if gateway is not None:
        _listener_tls(choices, gateway, tls_secret, probe, existing.listener_certs, problems, notes)
    ca, ca_problems = client_ca(choices, existing, tls, chosen_issuer(choices, probe))
    problems.extend(ca_problems)
    if ca is not None and (ca.pem or ca.public) and choices.exposure.tls.mode != "self-signed":
        notes.append(f"CA for the nodes, the smoke push and CDI: {ca.source}")
    trust_problem = node_trust_problem(choices, ca) if not ca_problems else None
    if trust_problem is not None and not (choices.exposure.tls.mode == "files" and tls is None):
        problems.append(trust_problem)
    if problems:
        raise ValidationFailed(problems, "settings")
    htpasswd = None
    if choices.auth.mode != "none":
        old = existing.registry_htpasswd if choices.auth.mode == "registry" else existing.ingress_htpasswd
        kept = {u.name: u.kept_hash for u in users if u.kept_hash}
        htpasswd = SecretStr(
            build_htpasswd(
                {u.name: u.password for u in [*users, *([pull_user] if pull_user else [])] if u.password is not None},
                choices.auth.bcrypt_cost,
                old,
                kept=kept,
            )
        )
    s3_keys = None
    s3 = choices.storage.s3
    if choices.storage.kind == "s3" and s3 is not None and s3.access_key is not None and s3.secret_key is not None:
        old_keys = existing.s3_keys or (None, None)
        s3_keys = (
            s3.access_key.resolve("storage.s3.access_key", old_keys[0]),
            s3.secret_key.resolve("storage.s3.secret_key", old_keys[1]),
        )
    if choices.auth.mode == "none":
        notes.append("auth.mode is none: anyone who can reach the registry can push and pull")
    return Plan(
        choices=choices,
        context=choices.target.context,
        namespace=choices.target.namespace,
        release=choices.target.release,
        chart=_chart_ref(choices),
        ingress_class=ingress_class,
        controller_family=family,
        storage_class=storage_class,
        tls_secret_name=tls_secret,
        tls=tls,
        users=tuple(users),
        htpasswd=htpasswd,
        ha_shared_secret=existing.ha_shared_secret or SecretStr(generate_password(40)),
        s3_keys=s3_keys,
        notes=tuple(notes),
        claim=claim,
        gateway=gateway,
        pull_user=pull_user,
        gc_image=choices.extras.garbage_collect.image or kubectl_image(probe.server_version if probe else None),
        client_ca=ca,
    )


def chosen_issuer(choices: Choices, probe: ProbeResult | None) -> "IssuerInfo | None":
    """The probe's view of the cert-manager issuer tls.mode cert-manager names (a CA issuer's CA with it); None
    offline, in other modes, or when the probe did not find it."""
    tls = choices.exposure.tls
    if probe is None or tls.mode != "cert-manager":
        return None
    return next((i for i in probe.issuers if i.name == tls.issuer and i.kind == tls.issuer_kind), None)


def client_ca(
    choices: Choices,
    existing: ExistingState,
    material: "TLSMaterial | None" = None,
    issuer: "IssuerInfo | None" = None,
) -> tuple["ClientCA | None", list[Problem]]:
    """The CA clients must trust and where it came from (installer.tlsfiles.find_client_ca); None without TLS.

    `material`: the serving certificate the Plan holds (self-signed, files); for files without it, the chain is read
    from tls.cert_file (the wizard asks before the Plan is built). `issuer`: the cert-manager issuer tls.mode
    cert-manager names, as the probe read it (a CA issuer's CA is used when nothing better is known)."""
    tls = choices.exposure.tls
    if tls.mode == "none":
        return None, []
    if tls.mode != "cert-manager":
        issuer = None
    known = (
        tls.ca_file
        or existing.tls_secret_chain
        or existing.tls_secret_ca
        or existing.node_trust_ca
        or any(existing.listener_certs.values())
        or (issuer is not None and issuer.ca_pem)
    )
    if tls.mode not in ("self-signed", "files") and not known and not choices.clients.node_trust:
        return None, []  # nothing to look at (offline, or before cert-manager issued): not even cryptography
    from installer.tlsfiles import ClientCA, find_client_ca, load_chain

    if tls.mode == "self-signed":
        ca_pem = material.ca_pem if material is not None else None
        return ClientCA(
            ca_pem, f"the installer's own CA (tls.mode self-signed, Secret {choices.target.release}-ca)"
        ), []
    secret = tls.secret_name or SecretNames(choices.target.release).tls
    installed = (f"{choices.target.release}-node-trust", existing.node_trust_ca) if existing.node_trust_ca else None
    if tls.mode == "files":
        chain = load_chain(material.cert_pem if material is not None else _read_text(tls.cert_file))
        return find_client_ca(chain, f"exposure.tls.cert_file ({tls.cert_file})", tls.ca_file, installed_ca=installed)
    if tls.mode == "listener":
        pems = [pem for pem in existing.listener_certs.values() if pem]
        chain = load_chain(pems[0] if pems else None)
        return find_client_ca(chain, "the Gateway listener's certificate", tls.ca_file, installed_ca=installed)
    return find_client_ca(
        load_chain(existing.tls_secret_chain),
        f"the certificate in Secret {secret}",
        tls.ca_file,
        existing.tls_secret_ca,
        secret,
        installed,
        issuer,
    )


def _read_text(path: str | None) -> str | None:
    from installer.files import FileProblem, read_user_file
    from installer.tlsfiles import MAX_PEM_BYTES

    try:
        return read_user_file(path or "", "exposure.tls.cert_file", "certificate file", MAX_PEM_BYTES).decode(
            "ascii", errors="replace"
        )
    except FileProblem:
        return None


def node_trust_offered(mode: str, ca: "ClientCA | None") -> bool:
    """Node trust is offered whenever TLS is on and the certificate is not publicly trusted."""
    return mode != "none" and not (ca is not None and ca.public)


def node_trust_problem(choices: Choices, ca: "ClientCA | None") -> Problem | None:
    """clients.node_trust without a CA to write: no TLS, a publicly trusted certificate, or a CA not known."""
    if not choices.clients.node_trust:
        return None
    mode = choices.exposure.tls.mode
    if mode == "none":
        return Problem(
            "clients.node_trust",
            "node trust writes the registry's CA on the nodes, and with tls.mode none there is no TLS and no CA",
            "use tls.mode self-signed (the installer's own CA) or files with exposure.tls.ca_file, or set "
            "clients.node_trust: false",
        )
    if ca is not None and ca.public:
        return Problem(
            "clients.node_trust",
            f"the registry's certificate is {ca.source}",
            "set clients.node_trust: false (the nodes trust it already)",
        )
    if ca is None or ca.pem is None:
        return Problem(
            "clients.node_trust",
            f"node trust needs the CA that signed the registry's certificate, and it is "
            f"{ca.source if ca is not None else 'not known'}",
            "set exposure.tls.ca_file to the CA's PEM file (your corporate or private root), or set "
            "clients.node_trust: false",
        )
    return None


def _chart_ref(choices: Choices) -> ChartRef:
    chart = choices.chart
    if chart.path:
        return ChartRef(chart.path, None, None)
    if chart.oci:
        return ChartRef(chart.oci, chart.version, None)
    return ChartRef(chart.name, chart.version, chart.repo)


def ingress_auth_problem(auth_mode: str, ingress_class: str, family: str) -> Problem | None:
    """Ingress basic auth needs a controller that reads the auth annotations (ingress-nginx, NGINX Inc); the one
    home of this rule (build_plan and the wizard's Access step ask it)."""
    if auth_mode != "ingress" or family in BASIC_AUTH_FAMILIES:
        return None
    return Problem(
        "auth.mode",
        f"ingress basic auth is not supported on the {family} controller that serves class {ingress_class}",
        "use auth.mode: registry (the registry checks passwords itself)",
    )


def ingress_controller(ingress_class: str | None, probe: ProbeResult | None) -> tuple[str, str]:
    """The IngressClass an Ingress gets (`ingress_class`, else the default) and the controller family serving it,
    as build_plan resolves them ("other" when the class is unknown)."""
    return _ingress(ingress_class, probe, [], [])


def volume_change_problems(
    storage: Storage, namespace: str, probe: ProbeResult | None, claim: ClaimInfo | None
) -> list[Problem]:
    """What is wrong with changing the installed data volume `claim` to `storage`'s size (shrinking; growing a
    volume that cannot grow); the one home of this rule (build_plan and the wizard's Storage step ask it)."""
    problems: list[Problem] = []
    _volume_change(storage, namespace, probe, claim, problems)
    return problems


def _ingress(
    wanted: str | None, probe: ProbeResult | None, problems: list[Problem], notes: list[str]
) -> tuple[str, str]:
    if probe is None or (not probe.ingress_classes and "list ingressclasses" in probe.forbidden):
        name = wanted or "nginx"
        family = "ingress-nginx" if "nginx" in name else "other"
        notes.append(f"ingress class {name} not checked against a cluster; assuming the {family} controller")
        return name, family
    info = _pick_class(
        "IngressClass",
        "exposure.ingress_class",
        wanted,
        probe.ingress_classes,
        probe.default_ingress_class(),
        (
            "choose one of the available classes, or install its controller first",
            "set exposure.ingress_class to one of them",
        ),
        problems,
    )
    if info is None:
        return wanted or "", "other"
    return info.name, info.family


def _pick_class(
    kind: str,
    setting: str,
    wanted: str | None,
    classes: Sequence[_Class],
    default: _Class | None,
    fixes: tuple[str, str],
    problems: list[Problem],
) -> _Class | None:
    """The class `wanted` names, else the cluster's default; None, with a Problem for `setting` that lists the classes
    there are, when there is no such class. `fixes`: what to do when the named class is missing, when no default."""
    found = next((c for c in classes if c.name == wanted), None) if wanted else default
    if found is None:
        available = ", ".join(c.name for c in classes) or "none"
        problems.append(
            Problem(setting, f"{kind} '{wanted}' does not exist in the cluster (available: {available})", fixes[0])
            if wanted
            else Problem(setting, f"no default {kind} to fall back on (available: {available})", fixes[1])
        )
    return found


def _gateway(choices: Choices, probe: ProbeResult | None, problems: list[Problem], notes: list[str]) -> GatewayTarget:
    """The Gateway and listener the HTTPRoute attaches to, checked against the probe."""
    ref = choices.exposure.gateway
    assert ref is not None
    namespace = ref.namespace or choices.target.namespace
    hosts = choices.exposure.hosts
    want_tls = choices.exposure.tls.mode != "none"
    if probe is None or (probe.gateway_api is None and "list Gateway API objects" in probe.forbidden):
        notes.append(
            f"Gateway {namespace}/{ref.name} not checked against a cluster: its implementation is unknown, so no "
            "body-size policy is created; make sure it accepts request bodies of several GB"
        )
        return GatewayTarget(ref.name, namespace, ref.listener, "other")
    if probe.gateway_api is None:
        problems.append(
            Problem(
                "exposure.gateway",
                "the cluster has no Gateway API CRDs (gateways.gateway.networking.k8s.io)",
                f"install a Gateway API implementation ({ALTERNATIVES}), or remove exposure.gateway to use an Ingress",
            )
        )
        return GatewayTarget(ref.name, namespace, ref.listener, "other")
    gateway = probe.gateway(ref.name, namespace)
    if gateway is None:
        available = ", ".join(g.ref for g in probe.gateways) or "none"
        problems.append(
            Problem(
                "exposure.gateway.name",
                f"Gateway {namespace}/{ref.name} does not exist (available: {available})",
                "name an existing Gateway and its namespace (exposure.gateway.namespace)",
            )
        )
        return GatewayTarget(ref.name, namespace, ref.listener, "other")
    labels = (
        probe.namespace_labels if probe.namespace_exists else {"app.kubernetes.io/managed-by": "registry-installer"}
    )
    reasons = {
        listener.name: why_not(listener, gateway, hosts, choices.target.namespace, labels, want_tls)
        for listener in gateway.listeners
    }
    if ref.listener is not None:
        listener = gateway.listener(ref.listener)
        if listener is None:
            problems.append(
                Problem(
                    "exposure.gateway.listener",
                    f"Gateway {gateway.ref} has no listener '{ref.listener}' "
                    f"(listeners: {', '.join(li.words() for li in gateway.listeners) or 'none'})",
                    "name one of its listeners",
                )
            )
            return GatewayTarget(gateway.name, gateway.namespace, ref.listener, gateway.family)
        if reasons[listener.name]:
            problems.append(
                Problem(
                    "exposure.gateway.listener",
                    f"listener {listener.name} of Gateway {gateway.ref} cannot carry "
                    f"{', '.join(hosts)}: {reasons[listener.name]}",
                    _listener_fix(gateway, reasons),
                )
            )
    else:
        usable = [li for li in gateway.listeners if reasons[li.name] is None]
        if not usable:
            why = "; ".join(f"{name}: {reason}" for name, reason in reasons.items()) or "it has no listeners"
            problems.append(
                Problem(
                    "exposure.gateway",
                    f"no listener of Gateway {gateway.ref} can carry {', '.join(hosts)} ({why})",
                    _listener_fix(gateway, reasons),
                )
            )
            return GatewayTarget(gateway.name, gateway.namespace, None, gateway.family)
        # a listener naming the host beats a catch-all one
        listener = sorted(usable, key=lambda li: (not li.hostname, li.name))[0]
        notes.append(f"the HTTPRoute attaches to listener {listener.words()} of Gateway {gateway.ref}")
    info = family_info(gateway.family)
    policy = policy_for(gateway.family, probe.gateway_policy_crds)
    if info is None:
        gw_class = gateway.class_name
        controller = next((c.controller for c in probe.gateway_classes if c.name == gw_class), "unknown")
        notes.append(
            f"GatewayClass {gw_class} (controller {controller}) is not an implementation the installer knows: it sets "
            "the HTTPRoute's timeouts; make sure the Gateway accepts request bodies of several GB and uploads of an "
            "hour"
        )
    elif info.policy is not None and policy is None:
        problems.append(
            Problem(
                "exposure.gateway",
                f"Gateway {gateway.ref} is served by {info.name}, whose {info.policy.kind} CRD "
                f"({info.policy.crd}) is not installed: bodies stay limited ({info.bodies})",
                f"install {info.name}'s CRDs (they come with its Helm chart), then re-run",
            )
        )
    return GatewayTarget(
        gateway.name, gateway.namespace, listener.name, gateway.family, listener.certificate_refs, policy
    )


def _listener_fix(gateway, reasons: dict[str, str | None]) -> str:
    return (
        f"choose a listener that can carry the hosts, or ask the Gateway's owner to add one to {gateway.ref} "
        "(protocol HTTPS, TLS mode Terminate, hostname matching the registry's host or empty, allowedRoutes "
        "admitting the release namespace), or use an Ingress"
    )


def _listener_coverage(
    gateway: GatewayTarget, hosts: list[str], certs: dict[str, str | None]
) -> tuple[list[str], list[str], list[str]]:
    """(refs whose certificate covers every host, refs read that do not, refs that could not be checked) of the
    listener."""
    from cryptography import x509

    from installer.tlsfiles import cert_covers, cert_names

    covering, other, unknown = [], [], []
    for ref in gateway.certificate_refs:
        pem = certs.get(ref)
        if not pem:
            unknown.append(ref + (" (missing)" if pem == "" else " (not readable)" if ref in certs else ""))
            continue
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            unknown.append(f"{ref} (no PEM certificate in tls.crt)")
            continue
        if all(cert_covers(cert, h) for h in hosts):
            covering.append(ref)
        else:
            other.append(f"{ref} (names {', '.join(cert_names(cert)) or 'no DNS names'})")
    return covering, other, unknown


def _listener_tls(
    choices: Choices,
    gateway: GatewayTarget,
    tls_secret: str | None,
    probe: ProbeResult | None,
    certs: dict[str, str | None],
    problems: list[Problem],
    notes: list[str],
) -> None:
    """Say when the listener's TLS cannot cover the registry's hosts, and what to change."""
    mode = choices.exposure.tls.mode
    hosts = ", ".join(choices.exposure.hosts)
    where = f"listener {gateway.listener or '(any)'} of Gateway {gateway.ref}"
    if mode == "none" or probe is None or gateway.listener is None:
        return
    covering, other, unknown = _listener_coverage(gateway, choices.exposure.hosts, certs)
    if mode == "listener":
        if not gateway.certificate_refs:
            problems.append(
                Problem(
                    "exposure.tls.mode",
                    f"{where} has no certificateRefs: it has no certificate for {hosts}",
                    "choose tls.mode self-signed or cert-manager (the installer makes the Secret and you add it to the "
                    "listener), or ask the Gateway's owner to add a certificate",
                )
            )
        elif other and not covering and not unknown:
            problems.append(
                Problem(
                    "exposure.tls.mode",
                    f"{where} presents {', '.join(other)}: no certificate covers {hosts}",
                    f"add a certificate for {hosts} to the listener's tls.certificateRefs, or choose tls.mode "
                    "self-signed or cert-manager (the installer makes one for the host; add it to the listener)",
                )
            )
        elif covering:
            notes.append(f"TLS terminates at {where} with {', '.join(covering)}, which covers {hosts}")
        else:
            notes.append(
                f"TLS terminates at {where} with {', '.join(unknown + other)}: the installer could not check it covers "
                f"{hosts}"
            )
        return
    if covering:
        notes.append(
            f"{where} already presents {', '.join(covering)}, which covers {hosts}: tls.mode listener would use it "
            "without a Secret of the installer's"
        )
    if tls_secret is None:
        return
    ours = f"{choices.target.namespace}/{tls_secret}"
    if ours not in gateway.certificate_refs:
        now = (
            f"it presents {', '.join(gateway.certificate_refs)}"
            if gateway.certificate_refs
            else "it has no certificate"
        )
        grant = (
            f" (the installer creates the ReferenceGrant that lets Gateways in {gateway.namespace} use it)"
            if gateway.namespace != choices.target.namespace
            else ""
        )
        notes.append(
            f"TLS: {where} does not present the Secret {ours} made for {hosts}: {now}, which the installer cannot "
            f"check covers {hosts}. Add {{kind: Secret, name: {tls_secret}, namespace: {choices.target.namespace}}} to "
            f"that listener's tls.certificateRefs{grant}, or choose tls.mode listener to keep its certificate"
        )


def _storage(choices: Choices, probe: ProbeResult | None, problems: list[Problem], notes: list[str]) -> str | None:
    storage = choices.storage
    if storage.kind != "filesystem" or storage.filesystem.existing_claim:
        return None
    wanted = storage.filesystem.storage_class
    if probe is None or (not probe.storage_classes and "list storageclasses" in probe.forbidden):
        return wanted
    info = _pick_class(
        "StorageClass",
        "storage.filesystem.storage_class",
        wanted,
        probe.storage_classes,
        probe.default_storage_class(),
        (
            "choose one of the available classes",
            "set storage.filesystem.storage_class, or use storage.filesystem.existing_claim",
        ),
        problems,
    )
    if info is None:
        return wanted or None
    if not info.allow_expansion:
        notes.append(
            f"StorageClass {info.name} does not allow volume expansion: size the volume for growth now "
            f"({storage.filesystem.size} asked)"
        )
    return info.name


def _volume_change(
    storage: Storage, namespace: str, probe: ProbeResult | None, claim: ClaimInfo | None, problems: list[Problem]
) -> None:
    """A data volume can grow only when bound on an expandable class, and never shrink."""
    fs = storage.filesystem
    if claim is None or storage.kind != "filesystem" or fs.existing_claim:
        return
    old, new = parse_size(claim.size), parse_size(fs.size)
    if new < old:
        problems.append(
            Problem(
                "storage.filesystem.size",
                f"the data volume {claim.name} is {claim.size}; Kubernetes volumes cannot shrink",
                f"keep size: {claim.size} or larger",
            )
        )
    elif new > old:
        info = probe.storage_class(claim.storage_class) if probe is not None and claim.storage_class else None
        if info is not None and not info.allow_expansion:
            problems.append(
                Problem(
                    "storage.filesystem.size",
                    f"the data volume {claim.name} ({claim.size}) is on StorageClass {info.name}, which does not allow "
                    "expansion",
                    f"keep size: {claim.size}, or move the data to a new claim on an expandable class",
                )
            )
        elif claim.phase != "Bound":
            problems.append(
                Problem(
                    "storage.filesystem.size",
                    f"the data volume {claim.name} is {claim.phase}, not Bound: only bound volumes can grow",
                    f"keep size: {claim.size} until the volume is bound (kubectl -n {namespace} "
                    f"describe pvc {claim.name})",
                )
            )


def _data_claim(
    choices: Choices, storage_class: str | None, claim: ClaimInfo | None, problems: list[Problem], notes: list[str]
) -> DataClaim | None:
    """The installer's own PVC (helm never owns it, so `helm uninstall` cannot delete the images), or the user's."""
    storage = choices.storage
    if storage.kind != "filesystem":
        return None
    fs = storage.filesystem
    if fs.existing_claim:
        return DataClaim(fs.existing_claim, "user", fs.size, fs.access_mode, None)
    name = chart_fullname(choices.target.release)
    if claim is None:
        return DataClaim(name, "create", fs.size, fs.access_mode, storage_class)
    path = "storage.filesystem"
    if claim.owner == "other":
        problems.append(
            Problem(
                path,
                f"a PVC named {name} already exists in namespace {choices.target.namespace} and neither the installer "
                "nor this release's chart made it",
                f"set storage.filesystem.existing_claim: {name} to keep its data, or choose another release name",
            )
        )
        return None
    if claim.access_modes and fs.access_mode not in claim.access_modes:
        problems.append(
            Problem(
                f"{path}.access_mode",
                f"the data volume {name} is {', '.join(claim.access_modes)}; a PVC's access mode cannot change",
                f"keep access_mode: {claim.access_modes[0]}",
            )
        )
    if fs.storage_class and claim.storage_class and fs.storage_class != claim.storage_class:
        problems.append(
            Problem(
                f"{path}.storage_class",
                f"the data volume {name} is on StorageClass {claim.storage_class}; a PVC's class cannot change",
                f"keep storage_class: {claim.storage_class} (or leave it unset)",
            )
        )
    if claim.owner == "chart":
        notes.append(
            f"the chart's PVC {name} becomes the installer's own (same volume, no copy): from now on `helm uninstall` "
            "keeps it"
        )
    return DataClaim(
        name, "reuse" if claim.owner == "installer" else "adopt", fs.size, fs.access_mode, claim.storage_class
    )


def _users(choices: Choices, existing: ExistingState, problems: list[Problem]) -> list[ResolvedUser]:
    if choices.auth.mode == "none":
        return []
    users = []
    for index, user in enumerate(choices.auth.users):
        path = f"auth.users.{index}.password"
        installed_hash = existing.registry_htpasswd.get(user.name) or existing.ingress_htpasswd.get(user.name)
        if user.password.kind == "keep" and user.name not in existing.passwords and installed_hash:
            # the installer never saw this password (typed, env or file): keep the installed hash as it is
            users.append(ResolvedUser(user.name, None, "kept from the installed release", kept_hash=installed_hash))
            continue
        try:
            password = user.password.resolve(f"the password of user {user.name}", existing.passwords.get(user.name))
        except InstallerError as exc:
            problems.append(Problem(path, exc.message, exc.hint))
            continue
        too_long = password_length_problem(password.get_secret_value(), path, user.name)
        if too_long is not None:
            problems.append(too_long)
            continue
        users.append(ResolvedUser(user.name, password, user.password.describe()))
    return users


def _tls(
    choices: Choices, probe: ProbeResult | None, existing: ExistingState, problems: list[Problem], notes: list[str]
) -> tuple["TLSMaterial | None", str | None]:
    tls = choices.exposure.tls
    hosts = choices.exposure.hosts
    default_name = SecretNames(choices.target.release).tls
    if tls.mode == "none":
        notes.append(
            "TLS is off: docker refuses plain-HTTP registries unless every client lists it under insecure-registries"
        )
        return None, None
    if tls.mode == "listener":
        return None, None
    if tls.mode == "existing-secret":
        if probe is not None and tls.secret_name not in existing.secrets_present:
            notes.append(
                f"TLS Secret {tls.secret_name} was not found in namespace {choices.target.namespace}: until it exists "
                "the ingress serves its default certificate; create it (and the namespace, if it does not exist yet) "
                f"with: kubectl create namespace {choices.target.namespace} --dry-run=client -o yaml | kubectl apply "
                f"-f - && kubectl -n {choices.target.namespace} create secret tls {tls.secret_name} --cert=CERT "
                "--key=KEY; or choose TLS from certificate and key files and the installer creates it"
            )
        return None, tls.secret_name
    if tls.mode == "cert-manager":
        if probe is not None:
            if not probe.cert_manager and "read cert-manager issuers" not in probe.forbidden:
                problems.append(
                    Problem(
                        "exposure.tls.mode",
                        "cert-manager is not installed in the cluster (no cert-manager.io CRDs)",
                        "install cert-manager, or choose tls.mode files, existing-secret or self-signed",
                    )
                )
            elif probe.cert_manager and not any(
                i.name == tls.issuer and i.kind == tls.issuer_kind for i in probe.issuers
            ):
                names = ", ".join(f"{i.kind}/{i.name}" for i in probe.issuers) or "none"
                problems.append(
                    Problem(
                        "exposure.tls.issuer",
                        f"{tls.issuer_kind} '{tls.issuer}' does not exist (found: {names})",
                        "name an existing issuer",
                    )
                )
        return None, tls.secret_name or default_name
    # cryptography takes ~20 ms to import: only the two modes that make or read certificates load it
    from installer.tlsfiles import check_cert_and_key, self_signed

    if tls.mode == "files":
        material, found = check_cert_and_key(tls.cert_file or "", tls.key_file or "", hosts)
        problems.extend(found)
        return material, tls.secret_name or default_name
    material = self_signed(hosts, existing.tls)
    notes.append(
        "self-signed TLS: every docker/containerd/podman host must trust the installer's CA (the Done screen and "
        "`registry-installer ca` say how)"
    )
    return material, tls.secret_name or default_name

"""render(plan): the chart's values (no secrets), its secret values, and the Secrets made beside it."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import yaml

from installer.checks import secret_key_for_user
from installer.gateway import (
    CERTIFICATE,
    GATEWAY_GROUP,
    HTTPROUTE,
    REFERENCE_GRANT,
    family_info,
    gateway_duration,
    nginx_duration,
    object_words,
)
from installer.gcschedule import schedule_objects
from installer.plan import ExistingState, Plan, chart_fullname
from installer.secretstr import repr_without
from installer.structs import msgspec

MANAGED_BY = {"app.kubernetes.io/managed-by": "registry-installer"}
# the keys chart 3.0.0 reads from the Secret named in secrets.s3.secretRef (installer versions before
# this wrote accessKey/secretKey, which the chart never reads: pods stuck in CreateContainerConfigError)
S3_ACCESS_KEY, S3_SECRET_KEY = "s3AccessKey", "s3SecretKey"
OLD_S3_KEYS = ("accessKey", "secretKey")
NGINX = "nginx.ingress.kubernetes.io/"
NGINX_INC = "nginx.org/"


class UploadAnnotations(msgspec.Struct, frozen=True):
    """The Ingress annotations one controller family reads for large uploads."""

    body: str
    read_timeout: str
    send_timeout: str
    buffering: str
    buffering_on: str
    buffering_off: str
    seconds_suffix: str = ""


UPLOAD_ANNOTATIONS = {
    "ingress-nginx": UploadAnnotations(
        NGINX + "proxy-body-size",
        NGINX + "proxy-read-timeout",
        NGINX + "proxy-send-timeout",
        NGINX + "proxy-request-buffering",
        "on",
        "off",
    ),
    # NGINX Inc's controller has no request-buffering knob; proxy-buffering is the closest it offers
    "nginx-inc": UploadAnnotations(
        NGINX_INC + "client-max-body-size",
        NGINX_INC + "proxy-read-timeout",
        NGINX_INC + "proxy-send-timeout",
        NGINX_INC + "proxy-buffering",
        "true",
        "false",
        "s",
    ),
}


class Rendered(msgspec.Struct, frozen=True):
    """What a Plan becomes. `values` holds no secret material; the rest is secret and never printed."""

    values: dict[str, Any]
    secret_values: dict[str, Any]
    secrets: tuple[dict[str, Any], ...]
    notes: tuple[str, ...] = ()
    claim: dict[str, Any] | None = None  # the installer's data PVC (not secret); None when the user brings one or S3

    def claim_yaml(self) -> str:
        return to_yaml(self.claim) if self.claim is not None else ""

    objects: tuple[
        dict[str, Any], ...
    ] = ()  # the installer's own non-secret objects: HTTPRoute, policy, Certificate, ReferenceGrant
    review: tuple[str, ...] = ()  # Gateway exposure in words for the Review step: route, TLS, what limits large uploads

    def objects_yaml(self) -> str:
        return yaml.safe_dump_all(list(self.objects), sort_keys=False, default_flow_style=False)

    def values_yaml(self) -> str:
        return to_yaml(self.values)

    def secret_values_yaml(self) -> str:
        return to_yaml(self.secret_values)

    def secrets_yaml(self) -> str:
        return yaml.safe_dump_all(list(self.secrets), sort_keys=False, default_flow_style=False)

    def secret_summary(self) -> list[str]:
        """One line per Secret: name, type and key names (never values), for review screens."""
        return [f"{s['metadata']['name']} ({s['type']}): keys {', '.join(sorted(s['data']))}" for s in self.secrets]

    __repr__, __rich_repr__ = repr_without("secret_values", "secrets")


def to_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=120)


def render(plan: Plan) -> Rendered:
    """Pure: the same Plan always renders the same bytes."""
    notes: list[str] = []
    values: dict[str, Any] = {"replicaCount": plan.choices.extras.replicas}
    storage = plan.choices.storage
    if storage.kind == "filesystem" and storage.filesystem.access_mode != "ReadWriteMany":
        # RollingUpdate would start the new pod before the old one lets go of the RWO volume: Multi-Attach hangs.
        values["updateStrategy"] = {"type": "Recreate"}
    image = plan.choices.extras.image
    if image.repository or image.tag:
        values["image"] = {k: v for k, v in (("repository", image.repository), ("tag", image.tag)) if v}
    values["ingress"] = _ingress(plan, notes) if plan.gateway is None else {"enabled": False}
    values.update(_storage(plan))
    extras = plan.choices.extras
    if extras.garbage_collect.enabled:
        # the chart's garbageCollect stays off: its CronJob collects while the registry accepts pushes
        gc = extras.garbage_collect
        notes.append(
            f"scheduled garbage collection ({gc.schedule}): the installer's CronJob {plan.release}-installer-gc makes "
            f"the registry read-only (pushes get 405), collects inside the registry pod and makes it writable again; "
            f"it runs {plan.gc_image}"
        )
    if extras.metrics:
        values["metrics"] = {"enabled": True}
        values["configData"] = {"http": {"debug": {"prometheus": {"enabled": True}}}}
    resources = _resources(plan)
    if resources:
        values["resources"] = resources
    secret_values: dict[str, Any] = {"secrets": {"haSharedSecret": plan.ha_shared_secret.get_secret_value()}}
    if plan.choices.auth.mode == "registry" and plan.htpasswd is not None:
        secret_values["secrets"]["htpasswd"] = plan.htpasswd.get_secret_value()
    exposure_objects = tuple(gateway_objects(plan))
    objects = exposure_objects + tuple(schedule_objects(plan))
    return Rendered(
        values=values,
        secret_values=secret_values,
        secrets=tuple(_secrets(plan)),
        notes=tuple(plan.notes) + tuple(notes),
        claim=_claim(plan),
        objects=objects,
        review=tuple(gateway_review(plan, exposure_objects)),
    )


def _labels(plan: Plan) -> dict[str, str]:
    return {**MANAGED_BY, "app.kubernetes.io/instance": plan.release}


def gateway_objects(plan: Plan) -> list[dict[str, Any]]:
    """The HTTPRoute to the chart's Service, the family's upload policy, a Certificate and a ReferenceGrant as
    needed."""
    gateway = plan.gateway
    if gateway is None:
        return []
    exposure, uploads = plan.choices.exposure, plan.choices.uploads
    meta = {"namespace": plan.namespace, "labels": _labels(plan)}
    parent: dict[str, Any] = {
        "group": GATEWAY_GROUP,
        "kind": "Gateway",
        "name": gateway.name,
        "namespace": gateway.namespace,
    }
    if gateway.listener:
        parent["sectionName"] = gateway.listener
    timeout = gateway_duration(max(uploads.read_timeout, uploads.send_timeout))
    route = {
        "apiVersion": HTTPROUTE.api_version,
        "kind": HTTPROUTE.kind,
        "metadata": {"name": plan.release, **meta},
        "spec": {
            "parentRefs": [parent],
            "hostnames": list(exposure.hosts),
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": exposure.path}}],
                    "backendRefs": [
                        {"group": "", "kind": "Service", "name": chart_fullname(plan.release), "port": 5000}
                    ],
                    # long layer uploads: the whole request and the backend's answer may take this long
                    "timeouts": {"request": timeout, "backendRequest": timeout},
                }
            ],
        },
    }
    out = [route]
    if gateway.policy is not None:
        out.append(
            {
                "apiVersion": gateway.policy.api_version,
                "kind": gateway.policy.kind,
                "metadata": {"name": f"{plan.release}-uploads", **meta},
                "spec": {
                    "targetRef": {"group": GATEWAY_GROUP, "kind": HTTPROUTE.kind, "name": plan.release},
                    "body": {
                        "maxSize": nginx_size(uploads.max_body_size),
                        "timeout": nginx_duration(uploads.send_timeout),
                    },
                },
            }
        )
    tls = exposure.tls
    if tls.mode == "cert-manager" and plan.tls_secret_name:
        out.append(
            {
                "apiVersion": CERTIFICATE.api_version,
                "kind": CERTIFICATE.kind,
                "metadata": {"name": plan.tls_secret_name, **meta},
                "spec": {
                    "secretName": plan.tls_secret_name,
                    "dnsNames": list(exposure.hosts),
                    "issuerRef": {"group": "cert-manager.io", "kind": tls.issuer_kind, "name": tls.issuer},
                },
            }
        )
    if plan.tls_secret_name and gateway.namespace != plan.namespace:
        out.append(
            {
                "apiVersion": REFERENCE_GRANT.api_version,
                "kind": REFERENCE_GRANT.kind,
                "metadata": {"name": f"{plan.release}-gateway-tls", **meta},
                "spec": {
                    "from": [{"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": gateway.namespace}],
                    "to": [{"group": "", "kind": "Secret", "name": plan.tls_secret_name}],
                },
            }
        )
    return out


def nginx_size(size: str) -> str:
    """An nginx size for NGINX Gateway Fabric's maxSize (at most 4 digits and k, m or g); "0" is no limit."""
    text = size.lower()
    number, unit = (text[:-1], text[-1]) if text[-1:] in "kmg" else (text, "")
    value, units = int(number), ["", "k", "m", "g"]
    index = units.index(unit)
    while value > 9999 and index < len(units) - 1:
        value, index = -(-value // 1024), index + 1
    return f"{value}{units[index]}"


def gateway_review(plan: Plan, objects: tuple[dict[str, Any], ...]) -> list[str]:
    """What the Review step shows for a Gateway exposure: the objects, TLS, and what limits large uploads."""
    gateway = plan.gateway
    if gateway is None:
        return []
    hosts = ", ".join(plan.choices.exposure.hosts)
    listener = f", listener {gateway.listener}" if gateway.listener else ""
    lines = [
        f"HTTPRoute {plan.namespace}/{plan.release}: {hosts} on Gateway {gateway.ref}{listener} -> Service "
        f"{chart_fullname(plan.release)}:5000 (the chart's Ingress is off)"
    ]
    lines += [f"creates {object_words(obj)}" for obj in objects if obj["kind"] != HTTPROUTE.kind]
    info = family_info(gateway.family)
    if info is None:
        lines.append(
            f"large uploads: the implementation behind {gateway.ref} is not one the installer knows; the HTTPRoute "
            "sets timeouts, but no body-size policy is known: make sure it accepts bodies of several GB"
        )
    else:
        lines.append(f"large uploads on {info.name}: bodies: {info.bodies}; timeouts: {info.timeouts}")
        if gateway.policy is not None:
            lines.append(
                f"the installer creates {gateway.policy.kind} {plan.release}-uploads for the HTTPRoute (no body limit, "
                "long body timeout)"
            )
        else:
            lines.append(
                f"no policy object is needed on {info.name}: the HTTPRoute's timeouts cover long uploads; if a push "
                f"still fails: {info.lift}"
            )
    lines.append(
        "auth: the registry checks htpasswd itself (Gateway API has no standard basic auth)"
        if plan.choices.auth.mode == "registry"
        else "auth: none: anyone who reaches the Gateway can push and pull"
    )
    return lines


def _ingress(plan: Plan, notes: list[str]) -> dict[str, Any]:
    exposure = plan.choices.exposure
    ingress: dict[str, Any] = {
        "enabled": True,
        "className": plan.ingress_class,
        "path": exposure.path,
        "hosts": list(exposure.hosts),
        "annotations": _annotations(plan, notes),
    }
    if plan.tls_secret_name:
        ingress["tls"] = [{"secretName": plan.tls_secret_name, "hosts": list(exposure.hosts)}]
    return ingress


def _annotations(plan: Plan, notes: list[str]) -> dict[str, str]:
    up = plan.choices.uploads
    auth = plan.choices.auth
    family = plan.controller_family
    out: dict[str, str] = {}
    tls = plan.choices.exposure.tls
    if tls.mode == "cert-manager":
        key = "cert-manager.io/cluster-issuer" if tls.issuer_kind == "ClusterIssuer" else "cert-manager.io/issuer"
        out[key] = tls.issuer or ""
    keys = UPLOAD_ANNOTATIONS.get(family)
    if keys is not None:
        out[keys.body] = up.max_body_size
        out[keys.read_timeout] = f"{up.read_timeout}{keys.seconds_suffix}"
        out[keys.send_timeout] = f"{up.send_timeout}{keys.seconds_suffix}"
        out[keys.buffering] = keys.buffering_on if up.request_buffering else keys.buffering_off
    if auth.mode == "ingress" and family == "ingress-nginx":
        out[NGINX + "auth-type"] = "basic"
        out[NGINX + "auth-secret"] = plan.names.basic_auth
        out[NGINX + "auth-realm"] = auth.realm
    elif auth.mode == "ingress" and family == "nginx-inc":
        out[NGINX_INC + "basic-auth-secret"] = plan.names.basic_auth
        out[NGINX_INC + "basic-auth-realm"] = auth.realm
    if family == "traefik":
        notes.append(
            "Traefik has no request body limit by default; its read/write timeouts are entrypoint settings "
            "(entryPoints.websecure.transport.respondingTimeouts): raise them there for multi-GB layers"
        )
    elif keys is None:
        notes.append(
            f"the {family} ingress controller has no per-Ingress body-size or timeout setting the installer knows: "
            "make sure it accepts request bodies of several GB and long uploads"
        )
    return out


def _storage(plan: Plan) -> dict[str, Any]:
    storage = plan.choices.storage
    if storage.kind == "s3" and storage.s3 is not None:
        s3 = storage.s3
        s3_values: dict[str, Any] = {
            "bucket": chart_bare(s3.bucket),
            "region": chart_bare(s3.region),
            "secure": s3.secure,
            "forcepathstyle": s3.force_path_style,
            "skipverify": s3.skip_verify,
            "encrypt": s3.encrypt,
        }
        if s3.endpoint:
            s3_values["regionEndpoint"] = chart_bare(s3.endpoint)
        if s3.root_directory:
            s3_values["rootdirectory"] = s3.root_directory
        # The chart dereferences secrets.s3 for every s3 render: an empty map means instance-role credentials.
        secrets_s3 = {"secretRef": plan.names.s3} if plan.s3_keys else {}
        out: dict[str, Any] = {
            "storage": "s3",
            "s3": s3_values,
            "secrets": {"s3": secrets_s3},
            "persistence": {"enabled": False, "deleteEnabled": storage.delete_enabled},
        }
        if not s3.secure:
            # the chart writes REGISTRY_STORAGE_S3_SECURE only when true; the registry's default is true
            out["extraEnvVars"] = [{"name": "REGISTRY_STORAGE_S3_SECURE", "value": "false"}]
        return out
    fs = storage.filesystem
    persistence: dict[str, Any] = {
        "enabled": True,
        "accessMode": fs.access_mode,
        "size": fs.size,
        "deleteEnabled": storage.delete_enabled,
    }
    claim = plan.claim
    if claim is not None and claim.installer_owned and claim.storage_class:
        persistence["storageClass"] = (
            claim.storage_class
        )  # unused by the chart with existingClaim; kept for reconfigure
    if claim is not None:
        # the chart never makes the PVC: helm cannot delete it, so `helm uninstall` keeps the images
        persistence["existingClaim"] = claim.name
    return {"storage": "filesystem", "persistence": persistence}


# goyaml (helm) reads these plain scalars as numbers or bools; PyYAML misses some of its spellings (1_000, 0o17, y, n)
_GO_YAML_SCALAR = re.compile(
    r"^([yYnN]|[-+]?(0[xob][0-9a-fA-F_]+|[0-9_]*\.?[0-9_]+([eE][-+]?[0-9]+)?|\.(inf|Inf|INF|nan|NaN|NAN)))$"
)


def chart_bare(value: str) -> str:
    """`value` made safe for a chart template that writes it unquoted (`value: {{ .Values.s3.bucket }}`).

    chart 3.0.0 writes s3.bucket, s3.region and s3.regionEndpoint bare into the Deployment's env, so
    a bucket named 12345 (or true, null, 1e5) becomes a number, bool or null and the API server
    refuses the Deployment. Such a value is passed double-quoted: the chart then writes a YAML
    string. Everything else is passed as is. `chart_unbare` undoes it when reading values back.
    """
    try:
        plain = yaml.safe_load(value)
    except yaml.YAMLError:
        plain = None
    if plain == value and isinstance(plain, str) and not _GO_YAML_SCALAR.match(value) and value.strip() == value:
        return value
    import json  # here: most renders quote no value (start-up)

    return json.dumps(value)


def chart_unbare(value: Any) -> Any:
    """The value `chart_bare` was given (values read back from an installed release)."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        import json  # here: only a quoted value needs it (start-up)

        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _claim(plan: Plan) -> dict[str, Any] | None:
    """The installer's own data PVC, labelled as the installer's; helm never owns it."""
    claim = plan.claim
    if claim is None or not claim.installer_owned:
        return None
    spec: dict[str, Any] = {"accessModes": [claim.access_mode], "resources": {"requests": {"storage": claim.size}}}
    if claim.storage_class:
        spec["storageClassName"] = claim.storage_class
    labels = {**MANAGED_BY, "app.kubernetes.io/instance": plan.release, "app.kubernetes.io/component": "registry-data"}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim.name, "namespace": plan.namespace, "labels": labels},
        "spec": spec,
    }


def _resources(plan: Plan) -> dict[str, Any]:
    r = plan.choices.extras.resources
    out: dict[str, Any] = {}
    requests = {k: v for k, v in (("cpu", r.cpu_request), ("memory", r.memory_request)) if v}
    limits = {k: v for k, v in (("cpu", r.cpu_limit), ("memory", r.memory_limit)) if v}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _secret(plan: Plan, name: str, data: dict[str, str], secret_type: str = "Opaque") -> dict[str, Any]:
    labels = {**MANAGED_BY, "app.kubernetes.io/instance": plan.release}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": plan.namespace, "labels": labels},
        "type": secret_type,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _secrets(plan: Plan) -> list[dict[str, Any]]:
    out = []
    if plan.choices.auth.mode == "ingress" and plan.htpasswd is not None:
        if plan.controller_family == "nginx-inc":
            out.append(
                _secret(
                    plan, plan.names.basic_auth, {"htpasswd": plan.htpasswd.get_secret_value()}, "nginx.org/htpasswd"
                )
            )
        else:
            out.append(_secret(plan, plan.names.basic_auth, {"auth": plan.htpasswd.get_secret_value()}))
    if plan.tls is not None and plan.tls_secret_name:
        data = {"tls.crt": plan.tls.cert_pem, "tls.key": plan.tls.key_pem.get_secret_value()}
        if plan.tls.ca_pem:
            data["ca.crt"] = plan.tls.ca_pem
        out.append(_secret(plan, plan.tls_secret_name, data, "kubernetes.io/tls"))
        if plan.tls.ca_key_pem is not None and plan.tls.ca_pem:
            out.append(
                _secret(
                    plan,
                    plan.names.ca,
                    {"tls.crt": plan.tls.ca_pem, "tls.key": plan.tls.ca_key_pem.get_secret_value()},
                    "kubernetes.io/tls",
                )
            )
    generated = {
        secret_key_for_user(u.name): u.password.get_secret_value()
        for u, spec in _user_specs(plan)
        if spec.kind == "generate" and u.password is not None
    }
    if plan.pull_user is not None and plan.pull_user.password is not None:
        generated[secret_key_for_user(plan.pull_user.name)] = plan.pull_user.password.get_secret_value()
    if generated:
        out.append(_secret(plan, plan.names.state, generated))
    if plan.s3_keys is not None:
        out.append(
            _secret(
                plan,
                plan.names.s3,
                {S3_ACCESS_KEY: plan.s3_keys[0].get_secret_value(), S3_SECRET_KEY: plan.s3_keys[1].get_secret_value()},
            )
        )
    return out


def _user_specs(plan: Plan):
    specs = {u.name: u.password for u in plan.choices.auth.users}
    return [(u, specs[u.name]) for u in plan.users]


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the owner only (0600), never through a link (installer.files)."""
    from installer.files import write_file

    write_file(path, text, 0o600)


STATE_KIND = "registry-installer-render-state"


def write_rendered(
    rendered: Rendered,
    out_dir: str | os.PathLike[str],
    setting: str = "--out",
    state_file: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """values.yaml and pvc.yaml (0644), secrets.yaml and secret-values.yaml (0600), and the --state file (0600) when
    asked; returns the paths written. Every target is checked (no links, no input files) before the first
    one is written."""
    from installer.files import prepare_dir, write_files

    out = prepare_dir(out_dir, setting)
    files: list[tuple[Path, str, int]] = [(out / "values.yaml", rendered.values_yaml(), 0o644)]
    if rendered.claim is not None:
        files.append((out / "pvc.yaml", rendered.claim_yaml(), 0o644))
    if rendered.secrets:
        files.append((out / "secrets.yaml", rendered.secrets_yaml(), 0o600))
    if rendered.secret_values:
        files.append((out / "secret-values.yaml", rendered.secret_values_yaml(), 0o600))
    if rendered.objects:  # the installer's own objects (no secrets): kubectl apply -f after helm
        files.append((out / "objects.yaml", rendered.objects_yaml(), 0o644))
    if state_file is not None:
        state = {"kind": STATE_KIND, "secret_values": rendered.secret_values, "secrets": list(rendered.secrets)}
        files.append((Path(state_file).expanduser(), to_yaml(state), 0o600))
    return write_files(files, setting)


def read_previous_render(
    out_dir: str | os.PathLike[str],
    state_file: str | os.PathLike[str] | None,
    release: str,
    tls_secret_name: str | None = None,
) -> tuple["ExistingState | None", str]:
    """The secrets an earlier offline render left (the --state file, else --out's secrets.yaml and
    secret-values.yaml), so a re-render writes the same haSharedSecret, CA, certificate and passwords.

    Returns (state or None when there is nothing to keep, words saying where it came from).
    """
    from installer.errors import InstallerError
    from installer.files import FileProblem, check_target, read_user_text
    from installer.state import existing_from_rendered

    def load(path: Path, setting: str) -> list[Any]:
        check_target(path, setting)  # a link planted there is refused before it is read (and it is written next)
        try:
            text = read_user_text(path, setting, "file written by render", 4 * 1024 * 1024, remember=False)
            return [doc for doc in yaml.safe_load_all(text) if doc is not None]
        except FileProblem as exc:
            raise InstallerError(exc.message, f"{exc.hint}; or delete it to render new secrets") from None
        except (yaml.YAMLError, ValueError, RecursionError):
            raise InstallerError(
                f"{setting}: {path} is not the YAML a render wrote, so its secrets cannot be kept",
                "restore it, or delete it to render new secrets (every secret changes)",
            ) from None

    if state_file is not None:
        path = Path(state_file).expanduser()
        if not os.path.lexists(path):
            return None, ""
        docs = load(path, "--state")
        state = docs[0] if len(docs) == 1 and isinstance(docs[0], dict) else {}
        if (
            state.get("kind") != STATE_KIND
            or not isinstance(state.get("secrets"), list)
            or not isinstance(state.get("secret_values"), dict)
        ):
            raise InstallerError(
                f"--state: {path} is not a state file written by render --state",
                "give the file an earlier `render --state` wrote, or a path that does not exist yet",
            )
        return existing_from_rendered(
            state["secrets"], state["secret_values"], release, tls_secret_name
        ), f"the state file {path}"
    out = Path(out_dir).expanduser()
    secrets_path, values_path = out / "secrets.yaml", out / "secret-values.yaml"
    if not (os.path.lexists(secrets_path) or os.path.lexists(values_path)):
        return None, ""
    secrets = load(secrets_path, "--out") if os.path.lexists(secrets_path) else []
    values_docs = load(values_path, "--out") if os.path.lexists(values_path) else []
    secret_values = values_docs[0] if values_docs and isinstance(values_docs[0], dict) else {}
    return existing_from_rendered(secrets, secret_values, release, tls_secret_name), f"the previous render in {out}"

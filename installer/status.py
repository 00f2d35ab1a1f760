"""`registry-installer status`: is the registry healthy, how full is it, when was it last cleaned.

Everything is read through the API server: the helm release Secret, pods, the Ingress, the TLS
Secret, cert-manager's Certificate, the data PVC, the kubelet's stats summary through the node
proxy (`/api/v1/nodes/NODE/proxy/stats/summary`: the registry pod's volume usage), the registry
catalog through the service proxy, and the installer's own record of garbage collections.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from installer.errors import InstallerError
from installer.kube import KubeClient, NotFound
from installer.plan import SecretNames, chart_fullname
from installer.render import MANAGED_BY

log = logging.getLogger(__name__)
USAGE_WARN = 0.80
TLS_WARN_DAYS = 14
CATALOG_LIMIT = 200
GC_HISTORY = 10


@dataclass(frozen=True)
class VolumeUsage:
    """The kubelet's view of the data volume (it refreshes volume stats about once a minute)."""

    used_bytes: int
    capacity_bytes: int
    available_bytes: int
    node: str
    pod: str
    time: str = ""

    @property
    def fraction(self) -> float:
        return self.used_bytes / self.capacity_bytes if self.capacity_bytes else 0.0


@dataclass
class RegistryStatus:
    namespace: str
    release: str
    installed: bool = False
    revision: int | None = None
    release_status: str = ""
    chart: str = ""
    app_version: str = ""
    pods_ready: int = 0
    pods_total: int = 0
    restarts: int = 0
    pods: list[dict[str, Any]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    ingress_address: list[str] = field(default_factory=list)
    tls_secret: str | None = None
    tls_days_left: int | None = None
    tls_not_after: str | None = None
    cert_manager: str | None = None  # None: not used; "ready" or "not ready: why"
    storage: str = "filesystem"
    claim: str | None = None
    claim_owner: str | None = None
    claim_requested: str | None = None
    claim_capacity: str | None = None
    claim_phase: str | None = None
    claim_conditions: list[str] = field(default_factory=list)
    storage_class: str | None = None
    expandable: bool | None = None
    usage: VolumeUsage | None = None
    usage_note: str = ""
    repositories: int | None = None
    tags: int | None = None
    catalog_note: str = ""
    last_gc: dict[str, Any] | None = None
    gc_schedule: str | None = None  # the installer's CronJob's schedule; None when there is none
    read_only: bool = False  # the scheduled collection's read-only switch is on the Deployment
    warnings: list[str] = field(default_factory=list)

    @property
    def usage_fraction(self) -> float | None:
        return self.usage.fraction if self.usage is not None else None

    def to_json(self) -> str:
        data = asdict(self)
        data["usage_fraction"] = round(self.usage_fraction, 4) if self.usage_fraction is not None else None
        return json.dumps(data, indent=2, sort_keys=True)


def collect_status(kube: KubeClient, namespace: str, release: str) -> RegistryStatus:
    """Read everything status shows. Parts the identity may not read are said in words, not raised."""
    from installer.probe import read_release

    status = RegistryStatus(namespace=namespace, release=release)
    info = read_release(kube, namespace, release)
    if info is None:
        status.warnings.append(f"release {release} is not installed in namespace {namespace}")
        return status
    status.installed = True
    status.revision, status.release_status, status.chart, status.app_version = (
        info.revision,
        info.status,
        info.chart,
        info.app_version,
    )
    if info.status != "deployed":
        status.warnings.append(f"release status is {info.status}: re-run `registry-installer apply` to converge it")
    values = info.values
    _pods(kube, status)
    _ingress(kube, status, values)
    _volume(kube, status, values)
    _catalog(kube, status, values)
    status.last_gc = last_gc(kube, namespace, release)
    _schedule(kube, status)
    return status


def _schedule(kube: KubeClient, status: RegistryStatus) -> None:
    """The installer's GC CronJob, and whether its read-only switch is on the Deployment (a run now, or a killed
    one)."""
    from installer.gcschedule import READONLY_ENV, readonly_override, schedule_name

    try:
        cronjob = kube.call(
            "read the garbage collection CronJob",
            kube.batch.read_namespaced_cron_job,
            schedule_name(status.release),
            status.namespace,
        )
        status.gc_schedule = cronjob.spec.schedule
    except NotFound:
        pass
    except InstallerError as exc:
        log.debug("no CronJob: %s", exc)
    try:
        deployment = kube.call(
            "read the registry Deployment",
            kube.apps.read_namespaced_deployment,
            chart_fullname(status.release),
            status.namespace,
        )
    except InstallerError:
        return
    status.read_only = readonly_override(deployment)
    if status.read_only:
        status.warnings.append(
            f"the registry is read-only ({READONLY_ENV} on its Deployment): a scheduled garbage collection is running, "
            f"or was stopped before it could switch back; if no collection runs (kubectl -n {status.namespace} get "
            "jobs), `registry-installer gc --yes` or `registry-installer apply` makes it writable again"
        )


def registry_pods(kube: KubeClient, namespace: str, release: str) -> list[Any]:
    """The chart's registry pods (its selector: app=docker-registry, release=RELEASE)."""
    return kube.call(
        f"list the registry pods in {namespace}",
        kube.core.list_namespaced_pod,
        namespace,
        label_selector=f"app=docker-registry,release={release}",
    ).items


def live_registry_pods(kube: KubeClient, namespace: str, release: str) -> list[Any]:
    """registry_pods() without those being deleted."""
    return [p for p in registry_pods(kube, namespace, release) if p.metadata.deletion_timestamp is None]


def container_statuses(pod: Any) -> list[Any]:
    return (pod.status.container_statuses or []) if pod.status else []


def pod_ready(pod: Any) -> bool:
    """Every container of the pod is ready (a pod with no container status yet is not)."""
    statuses = container_statuses(pod)
    return bool(statuses) and all(c.ready for c in statuses)


def _pods(kube: KubeClient, status: RegistryStatus) -> None:
    pods = live_registry_pods(kube, status.namespace, status.release)
    status.pods_total = len(pods)
    for pod in pods:
        ready = pod_ready(pod)
        restarts = sum(c.restart_count or 0 for c in container_statuses(pod))
        status.pods_ready += int(ready)
        status.restarts += restarts
        status.pods.append(
            {
                "name": pod.metadata.name,
                "node": pod.spec.node_name,
                "phase": pod.status.phase if pod.status else None,
                "ready": ready,
                "restarts": restarts,
            }
        )
    if status.pods_ready < max(status.pods_total, 1):
        status.warnings.append(
            f"{status.pods_ready}/{status.pods_total} registry pods ready: "
            f"kubectl -n {status.namespace} describe pods -l app=docker-registry,release={status.release}"
        )


def _ingress(kube: KubeClient, status: RegistryStatus, values: dict) -> None:
    ingress_values = values.get("ingress") or {}
    status.hosts = list(ingress_values.get("hosts") or [])
    try:
        ingress = kube.call(
            "read the Ingress",
            kube.networking.read_namespaced_ingress,
            chart_fullname(status.release),
            status.namespace,
        )
    except NotFound:
        status.warnings.append("the registry's Ingress is missing: re-run `registry-installer apply`")
        return
    lb = (ingress.status.load_balancer.ingress or []) if ingress.status and ingress.status.load_balancer else []
    status.ingress_address = [a.ip or a.hostname for a in lb if a.ip or a.hostname]
    if not status.ingress_address:
        status.warnings.append("the Ingress has no address yet: is its ingress controller running?")
    tls = ingress.spec.tls or []
    status.tls_secret = tls[0].secret_name if tls else None
    annotations = ingress.metadata.annotations or {}
    uses_cert_manager = any(k.startswith("cert-manager.io/") for k in annotations)
    if status.tls_secret:
        _tls_expiry(kube, status)
        if uses_cert_manager:
            status.cert_manager = _certificate_ready(kube, status.namespace, status.tls_secret)
            if status.cert_manager != "ready":
                status.warnings.append(f"cert-manager certificate {status.tls_secret}: {status.cert_manager}")


def _tls_expiry(kube: KubeClient, status: RegistryStatus) -> None:
    from cryptography import x509

    try:
        secret = kube.call(
            f"read Secret {status.tls_secret}", kube.core.read_namespaced_secret, status.tls_secret, status.namespace
        )
    except NotFound:
        status.warnings.append(
            f"TLS Secret {status.tls_secret} does not exist: the ingress serves its default certificate"
        )
        return
    pem = base64.b64decode((secret.data or {}).get("tls.crt", ""))
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        status.warnings.append(f"TLS Secret {status.tls_secret} holds no readable certificate")
        return
    not_after = cert.not_valid_after_utc
    status.tls_not_after = not_after.isoformat()
    status.tls_days_left = (not_after - dt.datetime.now(dt.timezone.utc)).days
    if status.tls_days_left < TLS_WARN_DAYS:
        status.warnings.append(
            f"the TLS certificate expires in {status.tls_days_left} days ({not_after:%Y-%m-%d}): renew it"
        )


def _certificate_ready(kube: KubeClient, namespace: str, name: str) -> str:
    try:
        cert = kube.get_json(
            f"read Certificate {name}", f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates/{name}"
        )
    except NotFound:
        return "not ready: no Certificate yet (is cert-manager's ingress-shim running?)"
    except InstallerError as exc:
        return f"unknown ({exc.message})"
    for cond in (cert.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return (
                "ready"
                if cond.get("status") == "True"
                else f"not ready: {cond.get('message') or cond.get('reason') or 'pending'}"
            )
    return "not ready: no Ready condition yet"


def _volume(kube: KubeClient, status: RegistryStatus, values: dict) -> None:
    from installer.state import claim_owner
    from installer.volume import read_claim

    persistence = values.get("persistence") or {}
    if values.get("storage") == "s3":
        status.storage = "s3"
        status.usage_note = "S3 storage: the bucket's usage is the S3 service's to report"
        return
    if not persistence.get("enabled"):
        status.usage_note = "no persistence: images live in the pod's emptyDir and are lost on restart"
        status.warnings.append(status.usage_note)
        return
    status.claim = persistence.get("existingClaim") or chart_fullname(status.release)
    pvc = read_claim(kube, status.namespace, status.claim)
    if pvc is None:
        status.warnings.append(f"the data PVC {status.claim} does not exist")
        return
    status.claim_owner = claim_owner(pvc.metadata, status.release)
    status.claim_requested = (pvc.spec.resources.requests or {}).get("storage")
    status.claim_capacity = ((pvc.status.capacity or {}).get("storage")) if pvc.status else None
    status.claim_phase = pvc.status.phase if pvc.status else None
    status.claim_conditions = (
        [c.type for c in (pvc.status.conditions or []) if c.status == "True"] if pvc.status else []
    )
    status.storage_class = pvc.spec.storage_class_name
    if status.storage_class:
        try:
            sc = kube.get_json(
                f"read StorageClass {status.storage_class}",
                f"/apis/storage.k8s.io/v1/storageclasses/{status.storage_class}",
            )
            status.expandable = bool(sc.get("allowVolumeExpansion"))
        except InstallerError:
            status.expandable = None
    if status.claim_owner == "chart":
        status.warnings.append(
            f"the data PVC {status.claim} belongs to the chart: `helm uninstall` would delete it; "
            "re-run `registry-installer apply` to make it the installer's own"
        )
    if "FileSystemResizePending" in status.claim_conditions:
        status.warnings.append(
            f"PVC {status.claim} waits for its filesystem to grow: it happens when the registry pod restarts "
            f"(kubectl -n {status.namespace} rollout restart deployment/{chart_fullname(status.release)})"
        )
    why: list[str] = []
    status.usage = volume_usage(kube, status.namespace, status.release, status.claim, why=why)
    if status.usage is None:
        status.usage_note = "; ".join(why) or "the kubelet has not measured the volume yet (about once a minute)"
        return
    warning = usage_warning(status.usage, status.claim_requested, status.storage_class, status.expandable)
    if warning:
        status.warnings.append(warning)


def usage_warning(
    usage: VolumeUsage, requested: str | None, storage_class: str | None, expandable: bool | None
) -> str | None:
    """Above 80 %: say how full and the ways out (gc, grow when the class allows it, S3)."""
    if usage.fraction <= USAGE_WARN:
        return None
    fixes = "reclaim space with `registry-installer gc`"
    if expandable:
        fixes += f", grow the volume with `registry-installer grow --size {_double(requested)}`"
    else:
        fixes += (
            f" (StorageClass {storage_class or '(none)'} cannot expand: to grow, move the images to a larger claim)"
        )
    fixes += ", or move the images to S3 storage"
    return f"the data volume is {usage.fraction:.0%} full ({usage.used_bytes} of {usage.capacity_bytes} bytes): {fixes}"


def _double(size: str | None) -> str:
    """Twice a quantity, in the same unit when it has one (100Gi -> 200Gi): a suggestion for `grow --size`."""
    import re

    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", (size or "").strip())
    if not match:
        return "SIZE"
    return f"{float(match[1]) * 2:g}{match[2]}"


def volume_usage(
    kube: KubeClient,
    namespace: str,
    release: str,
    claim: str,
    pods: list[Any] | None = None,
    why: list[str] | None = None,
) -> VolumeUsage | None:
    """The data volume's usage from the kubelet's stats summary of each node running a registry pod (newest wins).

    `why`, when given, collects the reasons there is none (a kubelet that refused, a volume it does not measure).
    """
    found: list[VolumeUsage] = []
    why = why if why is not None else []
    pods = pods if pods is not None else [p for p in registry_pods(kube, namespace, release) if p.spec.node_name]
    nodes = sorted({p.spec.node_name for p in pods if p.spec.node_name})
    if not nodes:
        why.append("no registry pod is running on a node")
    for node in nodes:
        try:
            summary = kube.get_json(
                f"read the kubelet stats of node {node}", f"/api/v1/nodes/{node}/proxy/stats/summary"
            )
        except InstallerError as exc:
            why.append(f"the kubelet of node {node} gave no stats ({exc.message})")
            continue
        usage = claim_usage(summary, namespace, claim, node)
        if not usage:
            why.append(
                f"the kubelet of node {node} does not measure volume {claim} (its volume plugin reports no usage, e.g. "
                "hostPath)"
            )
        found += usage
    return max(found, key=lambda u: u.time) if found else None


def claim_usage(summary: dict[str, Any], namespace: str, claim: str, node: str) -> list[VolumeUsage]:
    """Every pod's stats of volume `claim` in a kubelet stats summary."""
    out = []
    for pod in summary.get("pods") or []:
        ref = pod.get("podRef") or {}
        if ref.get("namespace") != namespace:
            continue
        for volume in pod.get("volume") or []:
            if (volume.get("pvcRef") or {}).get("name") == claim and volume.get("capacityBytes"):
                out.append(
                    VolumeUsage(
                        int(volume.get("usedBytes") or 0),
                        int(volume["capacityBytes"]),
                        int(volume.get("availableBytes") or 0),
                        node,
                        ref.get("name", ""),
                        volume.get("time", ""),
                    )
                )
    return out


def _catalog(kube: KubeClient, status: RegistryStatus, values: dict) -> None:
    """Repositories and tags through the API server's service proxy (the ingress and its auth are bypassed); when
    the registry checks passwords itself, through a port-forward to its pod with the installer's credentials."""
    if status.pods_ready == 0:
        status.catalog_note = "no ready registry pod to ask"
        return
    if (values.get("secrets") or {}).get("htpasswd"):
        _catalog_with_credentials(kube, status, values)
        return
    scheme = "https" if values.get("tlsSecretName") else "http"
    base = f"/api/v1/namespaces/{status.namespace}/services/{scheme}:{chart_fullname(status.release)}:5000/proxy"
    try:
        repos = service_get(kube, base, "/v2/_catalog", {"n": str(CATALOG_LIMIT)}).get("repositories") or []
        tags = 0
        for repo in repos:
            try:
                tags += len(service_get(kube, base, f"/v2/{repo}/tags/list").get("tags") or [])
            except NotFound:  # a repository whose last tag was deleted
                continue
    except CatalogRefused as exc:
        status.catalog_note = str(exc)
        return
    except InstallerError as exc:
        status.catalog_note = f"the catalog could not be read: {exc.message}"
        return
    status.repositories, status.tags = len(repos), tags
    if len(repos) >= CATALOG_LIMIT:
        status.catalog_note = f"counted the first {CATALOG_LIMIT} repositories only"


def catalog_credentials(htpasswd: str, state_data: dict[str, str] | None, secret: str) -> tuple[str, str] | str:
    """(user, password) for reading the catalog: the first registry user whose password the installer generated and
    keeps in its Secret (`state_data`: that Secret's base64 data; None when it could not be read). Otherwise the
    reason, in words."""
    from installer.checks import secret_key_for_user
    from installer.htpasswd import parse_htpasswd

    users = sorted(parse_htpasswd(htpasswd))
    if state_data is None:
        return f"the installer's Secret {secret} could not be read"
    for user in users:
        encoded = state_data.get(secret_key_for_user(user))
        if encoded:
            return user, base64.b64decode(encoded).decode("utf-8")
    return (
        f"the registry checks passwords and the installer keeps none for {', '.join(users) or 'its users'} "
        f"(typed, not generated: only generated passwords are kept in Secret {secret})"
    )


def _catalog_with_credentials(kube: KubeClient, status: RegistryStatus, values: dict) -> None:
    """The catalog as the installer's own user, through a port-forward to a ready registry pod (the API server's
    service proxy drops the Authorization header, so a password cannot go that way)."""
    secret = SecretNames(status.release).state
    try:
        data = kube.call(f"read Secret {secret}", kube.core.read_namespaced_secret, secret, status.namespace).data or {}
    except InstallerError as exc:
        log.debug("state Secret: %s", exc)
        data = None
    found = catalog_credentials((values.get("secrets") or {}).get("htpasswd") or "", data, secret)
    if isinstance(found, str):
        status.catalog_note = f"repositories: unknown ({found}); `curl -u USER https://HOST/v2/_catalog` lists them"
        return
    user, password = found
    pod = next(p["name"] for p in status.pods if p["ready"])
    tls = bool(values.get("tlsSecretName"))
    try:
        catalog = pod_get(kube, status.namespace, pod, "/v2/_catalog?n=" + str(CATALOG_LIMIT), user, password, tls)
        repos = catalog.get("repositories") or []
        tags = 0
        for repo in repos:
            listed = pod_get(kube, status.namespace, pod, f"/v2/{repo}/tags/list", user, password, tls, missing_ok=True)
            tags += len(listed.get("tags") or [])
    except InstallerError as exc:
        status.catalog_note = (
            f"repositories: unknown (read as {user} through a port-forward to pod {pod}: {exc.message})"
        )
        return
    status.repositories, status.tags = len(repos), tags
    status.catalog_note = f"read as {user}" + (
        f"; counted the first {CATALOG_LIMIT} repositories only" if len(repos) >= CATALOG_LIMIT else ""
    )


def pod_get(
    kube: KubeClient,
    namespace: str,
    pod: str,
    path: str,
    user: str,
    password: str,
    tls: bool,
    missing_ok: bool = False,
) -> dict[str, Any]:
    """GET `path` from the registry in `pod` (port 5000) through the API server's port-forward, with Basic auth.

    With `tls` the registry serves HTTPS itself; its certificate is not checked: the tunnel is the API server's,
    to the pod it names, which is what authenticates the other end here.
    """
    import http.client
    import ssl

    from kubernetes.stream import portforward

    try:
        forward = portforward(kube.core.connect_get_namespaced_pod_portforward, pod, namespace, ports="5000")
    except Exception as exc:  # the websocket library's and the client's errors alike
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise InstallerError(f"no port-forward ({reason}): it needs create on pods/portforward") from None
    sock = forward.socket(5000)
    sock.setblocking(True)
    sock.settimeout(30)
    try:
        if tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname="registry")
        conn = http.client.HTTPConnection("registry", 5000, timeout=30)
        conn.sock = sock
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        conn.request("GET", path, headers={"Authorization": f"Basic {token}", "Connection": "close"})
        response = conn.getresponse()
        body = response.read()
    except OSError as exc:
        raise InstallerError(f"the registry did not answer {path}: {exc}") from None
    finally:
        sock.close()
        forward.close()
    if response.status == 404 and missing_ok:
        return {}
    if response.status == 401:
        raise InstallerError(f"the registry refused {user}'s password (401)")
    if response.status != 200:
        raise InstallerError(f"the registry answered {response.status} to {path}")
    return json.loads(body or b"{}")


class CatalogRefused(InstallerError):
    """The registry wants credentials the API server's proxy cannot pass on."""


def service_get(kube: KubeClient, base: str, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    from kubernetes.client.exceptions import ApiException

    try:
        return kube.call(f"read {path} from the registry", kube._request_json, "GET", base + path, query, None)
    except InstallerError as exc:
        if "401" in exc.message or "rejected our credentials" in exc.message:
            raise CatalogRefused(
                "repositories: unknown (the registry checks passwords itself and the API server's proxy cannot pass "
                "one); `docker search` or `curl -u USER https://HOST/v2/_catalog` lists them"
            ) from None
        raise
    except ApiException as exc:  # pragma: no cover - call() turns these into InstallerErrors
        raise InstallerError(f"registry answered {exc.status}") from None


# -- the installer's record of garbage collections ----------------------------------------------


def gc_record_name(release: str) -> str:
    return f"{SecretNames(release).state}-gc"


def last_gc(kube: KubeClient, namespace: str, release: str) -> dict[str, Any] | None:
    history = gc_history(kube, namespace, release)
    return history[-1] if history else None


def _read_record(kube: KubeClient, namespace: str, release: str) -> Any:
    try:
        return kube.call(
            "read the garbage collection record",
            kube.core.read_namespaced_config_map,
            gc_record_name(release),
            namespace,
        )
    except NotFound:
        return None


def gc_history(kube: KubeClient, namespace: str, release: str) -> list[dict[str, Any]]:
    """`gc` runs (key history.json) and the last scheduled run (key scheduled.json, written by the CronJob), oldest
    first."""
    from installer.gcschedule import RECORD_KEY

    cm = _read_record(kube, namespace, release)
    data = (cm.data or {}) if cm is not None else {}
    try:
        history = json.loads(data.get("history.json", "[]"))
    except ValueError:
        history = []
    try:
        scheduled = json.loads(data[RECORD_KEY]) if data.get(RECORD_KEY) else None
    except ValueError:
        scheduled = None
    if isinstance(scheduled, dict):
        history.append(scheduled)
    return sorted((h for h in history if isinstance(h, dict)), key=lambda h: str(h.get("time", "")))


def _record_body(release: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": gc_record_name(release),
            "namespace": namespace,
            "labels": {**MANAGED_BY, "app.kubernetes.io/instance": release},
        },
        "data": data,
    }


def record_gc(kube: KubeClient, namespace: str, release: str, entry: dict[str, Any]) -> None:
    """Append one `gc` run to the ConfigMap `<release>-installer-gc` (the last ten are kept; other keys stay)."""
    cm = _read_record(kube, namespace, release)
    data = dict((cm.data or {}) if cm is not None else {})
    try:
        runs = json.loads(data.get("history.json", "[]"))
    except ValueError:
        runs = []
    data["history.json"] = json.dumps((runs + [entry])[-GC_HISTORY:], indent=1)
    name = gc_record_name(release)
    body = _record_body(release, namespace, data)
    if cm is None:
        kube.call(f"create ConfigMap {name}", kube.core.create_namespaced_config_map, namespace, body)
    else:
        body["metadata"]["resourceVersion"] = cm.metadata.resource_version
        kube.call(f"update ConfigMap {name}", kube.core.replace_namespaced_config_map, name, namespace, body)


def ensure_gc_record(kube: KubeClient, namespace: str, release: str) -> bool:
    """Create the record ConfigMap when missing (the scheduled collection may only patch it); True when created."""
    if _read_record(kube, namespace, release) is not None:
        return False
    body = _record_body(release, namespace, {"history.json": "[]"})
    kube.call(f"create ConfigMap {gc_record_name(release)}", kube.core.create_namespaced_config_map, namespace, body)
    return True

"""In-cluster clients of the registry: pull Secrets, node trust (a DaemonSet writing the CA into certs.d), the pull
check."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets as _random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from installer.errors import InstallerError
from installer.events import EventSink, Note, discard, step
from installer.kube import Forbidden, KubeClient, NotFound

log = logging.getLogger(__name__)

MANAGED_BY = {"app.kubernetes.io/managed-by": "registry-installer"}
COMPONENT = "app.kubernetes.io/component"
# the release a pull Secret in another namespace belongs to: "<namespace>.<release>"
REGISTRY_LABEL = "registry-installer.io/registry"
NODE_TRUST = "node-trust"
REPORT_PREFIX = "registry-installer-node-trust:"
STEP_CLIENTS = "clients"
STEP_NODE_TRUST = "node trust"
STEP_PULL_CHECK = "pull check"
TRUST_MOUNTS = {"containerd": "/certs/containerd", "crio": "/certs/containers", "docker": "/certs/docker"}
CONFIG_MOUNT = "/containerd-config"


def pull_secret_name(release: str) -> str:
    return f"{release}-pull"


def cdi_names(release: str) -> tuple[str, str]:
    """The CDI forms: (ConfigMap with ca.crt for certConfigMap, Secret with accessKeyId/secretKey for secretRef)."""
    return f"{release}-ca", f"{release}-cdi"


def node_trust_name(release: str) -> str:
    return f"{release}-node-trust"


def registry_label(plan) -> str:
    return f"{plan.namespace}.{plan.release}"


def _labels(plan, component: str) -> dict[str, str]:
    return {
        **MANAGED_BY,
        "app.kubernetes.io/instance": plan.release,
        COMPONENT: component,
        REGISTRY_LABEL: registry_label(plan),
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def dockerconfigjson(hosts: list[str], user: str, password: str) -> str:
    """The .dockerconfigjson of a kubernetes.io/dockerconfigjson Secret: the same login for every host."""
    auth = _b64(f"{user}:{password}")
    return json.dumps(
        {"auths": {h: {"username": user, "password": password, "auth": auth} for h in hosts}},
        sort_keys=True,
        separators=(",", ":"),
    )


def trust_hosts(plan) -> list[str]:
    """The names the nodes pull by (HOST or HOST:PORT), each a certs.d folder name."""
    out = list(plan.choices.exposure.hosts)
    if plan.pull_address not in out:
        out.append(plan.pull_address)
    return out


def client_secrets(plan) -> list[dict[str, Any]]:
    """The pull Secret (and the CDI Secret when asked) in each namespace of clients.namespaces. Secret: never
    printed."""
    clients = plan.choices.clients
    user = plan.pull_user
    if user is None or user.password is None:
        return []
    password = user.password.get_secret_value()
    out = []
    for namespace in clients.namespaces:
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": pull_secret_name(plan.release),
                    "namespace": namespace,
                    "labels": _labels(plan, "pull-secret"),
                },
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": _b64(dockerconfigjson(trust_hosts(plan), user.name, password))},
            }
        )
        if clients.cdi:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {
                        "name": cdi_names(plan.release)[1],
                        "namespace": namespace,
                        "labels": _labels(plan, "cdi"),
                    },
                    "type": "Opaque",
                    "data": {"accessKeyId": _b64(user.name), "secretKey": _b64(password)},
                }
            )
    return out


def client_config_maps(plan) -> list[dict[str, Any]]:
    """CDI's certConfigMap (key ca.crt) in each client namespace, when clients.cdi and the CA is private."""
    if not plan.choices.clients.cdi or not plan.ca_pem:
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": cdi_names(plan.release)[0], "namespace": ns, "labels": _labels(plan, "cdi")},
            "data": {"ca.crt": plan.ca_pem},
        }
        for ns in plan.choices.clients.namespaces
    ]


# -- node trust ----------------------------------------------------------------------------------

NODE_SCRIPT = r"""set -eu
write() { # file content: write atomically, so a runtime never reads half a file
  printf '%s' "$2" > "$1.tmp" && mv "$1.tmp" "$1"
}
ca="$(cat /trust/ca.crt)"
for h in $HOSTS; do
  c="/certs/containerd/$h"; p="/certs/containers/$h"; d="/certs/docker/$h"
  if [ "$MODE" = remove ]; then
    rm -f "$c/hosts.toml" "$c/ca.crt" "$p/ca.crt" "$d/ca.crt"
    rmdir "$c" "$p" "$d" 2>/dev/null || true
  else
    mkdir -p "$c" "$p" "$d"
    write "$c/ca.crt" "$ca
"
    write "$c/hosts.toml" "server = \"https://$h\"
ca = \"$CERTS_D/$h/ca.crt\"

[host.\"https://$h\"]
  capabilities = [\"pull\", \"resolve\"]
  ca = \"$CERTS_D/$h/ca.crt\"
"
    write "$p/ca.crt" "$ca
"
    write "$d/ca.crt" "$ca
"
  fi
done
cfg=none
line=
if [ -r "/containerd-config/$CONFIG_FILE" ]; then
  line="$(grep -E '^[[:space:]]*config_path[[:space:]]*=' "/containerd-config/$CONFIG_FILE" \
    | head -n 1 | tr -d '\t' || true)"
  if [ -z "$line" ]; then cfg=unset
  elif echo "$line" | grep -Eq "[\"':]$CERTS_D/?[\"':]"; then cfg=set
  else cfg=other
  fi
fi
echo "registry-installer-node-trust: mode=$MODE config=$cfg line=$line"
mkdir -p /run/ri && touch /run/ri/done
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
"""


def node_trust_objects(plan) -> list[dict[str, Any]]:
    """The ConfigMap (the CA only) and the DaemonSet that writes it into every node's certs.d folders; [] when off."""
    clients = plan.choices.clients
    if not clients.node_trust or not plan.ca_pem:
        return []
    return node_trust_manifests(plan, plan.ca_pem, trust_hosts(plan), mode="write")


def node_trust_manifests(plan, ca_pem: str, hosts: list[str], mode: str) -> list[dict[str, Any]]:
    clients = plan.choices.clients
    name = node_trust_name(plan.release)
    labels = _labels(plan, NODE_TRUST)
    selector = {"app.kubernetes.io/instance": plan.release, COMPONENT: NODE_TRUST}
    config_dir, _, config_file = clients.containerd_config.rpartition("/")
    checksum = hashlib.sha256(json.dumps([ca_pem, hosts, mode, clients.containerd_certs_d]).encode()).hexdigest()[:16]
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": plan.namespace, "labels": labels},
        "data": {"ca.crt": ca_pem},
    }

    def host_dir(volume: str, path: str) -> dict[str, Any]:
        return {"name": volume, "hostPath": {"path": path, "type": "DirectoryOrCreate"}}

    env = {"HOSTS": " ".join(hosts), "MODE": mode, "CERTS_D": clients.containerd_certs_d, "CONFIG_FILE": config_file}
    container = {
        "name": "write-ca",
        "image": clients.node_trust_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", NODE_SCRIPT],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "resources": {"requests": {"cpu": "5m", "memory": "8Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}},
        # root to write root-owned folders; no capability is needed for that, and no runtime needs privileged mode:
        # containerd reads hosts.toml at each pull, CRI-O and Docker read certs.d at each pull
        "securityContext": {
            "runAsUser": 0,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "readinessProbe": {"exec": {"command": ["cat", "/run/ri/done"]}, "periodSeconds": 2},
        "volumeMounts": [
            {"name": "ca", "mountPath": "/trust", "readOnly": True},
            {"name": "run", "mountPath": "/run"},
            {"name": "containerd-certs", "mountPath": TRUST_MOUNTS["containerd"]},
            {"name": "crio-certs", "mountPath": TRUST_MOUNTS["crio"]},
            {"name": "docker-certs", "mountPath": TRUST_MOUNTS["docker"]},
            {"name": "containerd-config", "mountPath": CONFIG_MOUNT, "readOnly": True},
        ],
    }
    daemon_set = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": plan.namespace, "labels": labels},
        "spec": {
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
            "template": {
                "metadata": {"labels": labels, "annotations": {"registry-installer.io/ca-checksum": checksum}},
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 5,
                    "containers": [container],
                    "volumes": [
                        {"name": "ca", "configMap": {"name": name}},
                        {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                        host_dir("containerd-certs", clients.containerd_certs_d),
                        host_dir("crio-certs", clients.crio_certs_d),
                        host_dir("docker-certs", clients.docker_certs_d),
                        host_dir("containerd-config", config_dir or "/"),
                    ],
                },
            },
        },
    }
    return [config_map, daemon_set]


@dataclass(frozen=True)
class NodeTrust:
    """One node's verdict: trusted, needs config_path (with the line), unknown runtime, or not written."""

    node: str
    runtime: str  # Node.status.nodeInfo.containerRuntimeVersion, e.g. containerd://1.7.24
    state: Literal["trusted", "needs-config-path", "unknown-runtime", "not-written"]
    detail: str = ""

    def words(self) -> str:
        return f"{self.node} ({self.runtime or 'runtime unknown'}): {self.state}" + (
            f": {self.detail}" if self.detail else ""
        )


def config_path_line(runtime: str, certs_d: str) -> str:
    """The lines containerd needs to read hosts.toml files from `certs_d` (containerd 2 moved the CRI image plugin)."""
    major = _major(runtime)
    section = (
        'plugins."io.containerd.cri.v1.images".registry'
        if major >= 2
        else 'plugins."io.containerd.grpc.v1.cri".registry'
    )
    return f'[{section}] config_path = "{certs_d}" (in /etc/containerd/config.toml, then restart containerd)'


def _major(runtime: str) -> int:
    match = re.search(r"://v?(\d+)", runtime)
    return int(match.group(1)) if match else 0


def node_verdict(node: str, runtime: str, report: str | None, certs_d: str, problem: str = "") -> NodeTrust:
    """Judge one node from its runtime and the DaemonSet pod's report line (None when the pod did not report)."""
    kind = runtime.split("://", 1)[0]
    if kind not in ("containerd", "cri-o", "docker"):
        return NodeTrust(
            node,
            runtime,
            "unknown-runtime",
            "the CA files are written, but this runtime's trust settings are unknown: configure it by hand",
        )
    if report is None:
        return NodeTrust(node, runtime, "not-written", problem or "the node-trust pod did not report on this node")
    if kind != "containerd":
        where = "/etc/containers/certs.d" if kind == "cri-o" else "/etc/docker/certs.d"
        return NodeTrust(node, runtime, "trusted", f"{where}/<host>/ca.crt, read at each pull")
    config = re.search(r"config=(\S+)", report)
    line = report.split("line=", 1)[1].strip() if "line=" in report else ""
    state = config.group(1) if config else "none"
    if state == "set":
        return NodeTrust(node, runtime, "trusted", f"containerd reads {certs_d} ({line})")
    if state in ("unset", "none") and _major(runtime) >= 2 and certs_d == "/etc/containerd/certs.d":
        return NodeTrust(node, runtime, "trusted", "containerd 2 reads /etc/containerd/certs.d by default")
    why = f"it reads {line}" if state == "other" else "config_path is not set, so containerd ignores hosts.toml"
    return NodeTrust(node, runtime, "needs-config-path", f"{why}; add {config_path_line(runtime, certs_d)}")


def node_report(kube: KubeClient, plan) -> list[NodeTrust]:
    """Per node: the runtime (Node.status.nodeInfo) and what the node-trust pod on it found in containerd's config."""
    nodes = kube.call("list Nodes", kube.core.list_node).items
    pods = kube.call(
        f"list the node-trust pods in {plan.namespace}",
        kube.core.list_namespaced_pod,
        plan.namespace,
        label_selector=f"app.kubernetes.io/instance={plan.release},{COMPONENT}={NODE_TRUST}",
    ).items
    by_node = {p.spec.node_name: p for p in pods if p.spec.node_name and not p.metadata.deletion_timestamp}
    out = []
    certs_d = plan.choices.clients.containerd_certs_d
    for node in nodes:
        name = node.metadata.name
        runtime = (
            node.status.node_info.container_runtime_version if node.status and node.status.node_info else ""
        ) or ""
        pod = by_node.get(name)
        report, problem = None, ""
        if pod is None:
            problem = "no node-trust pod runs there (a nodeSelector or a full node?)"
        elif not _ready(pod):
            problem = f"pod {pod.metadata.name} is not ready: {_waiting(pod) or pod.status.phase}"
        else:
            report = _report_line(kube, plan.namespace, pod.metadata.name)
            if report is None:
                problem = f"pod {pod.metadata.name} wrote no report"
        out.append(node_verdict(name, runtime, report, certs_d, problem))
    return out


def _ready(pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _waiting(pod) -> str:
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason:
            return f"{waiting.reason}: {waiting.message or ''}".strip(": ")
    return ""


def _report_line(kube: KubeClient, namespace: str, pod: str) -> str | None:
    try:
        text = kube.call(f"read the log of pod {pod}", kube.core.read_namespaced_pod_log, pod, namespace, tail_lines=20)
    except InstallerError:
        return None
    lines = [line for line in str(text).splitlines() if line.startswith(REPORT_PREFIX)]
    return lines[-1] if lines else None


def _apply(kube: KubeClient, obj: dict[str, Any]) -> None:
    kind, ns, name = obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]
    prefix = "/apis/apps/v1" if kind == "DaemonSet" else "/api/v1"
    plural = {"DaemonSet": "daemonsets", "ConfigMap": "configmaps", "Secret": "secrets"}[kind]
    kube.apply_json(f"apply {kind} {ns}/{name}", f"{prefix}/namespaces/{ns}/{plural}/{name}", obj)


def wait_node_trust(kube: KubeClient, plan, timeout: float = 120.0, sleep: Callable[[float], None] = time.sleep) -> str:
    """Wait until every node runs the current node-trust pod and it is ready (it has written the files). Returns
    words."""
    name = node_trust_name(plan.release)
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while True:
        ds = kube.get_json(f"read DaemonSet {name}", f"/apis/apps/v1/namespaces/{plan.namespace}/daemonsets/{name}")
        status = ds.get("status") or {}
        want = status.get("desiredNumberScheduled", 0)
        if (
            status.get("observedGeneration", 0) >= ds["metadata"].get("generation", 1)
            and want > 0
            and status.get("updatedNumberScheduled", 0) == want
            and status.get("numberReady", 0) == want
        ):
            return f"{want} node(s) ready"
        if time.monotonic() > deadline:
            pods = kube.call(
                "list node-trust pods",
                kube.core.list_namespaced_pod,
                plan.namespace,
                label_selector=f"app.kubernetes.io/instance={plan.release},{COMPONENT}={NODE_TRUST}",
            ).items
            why = (
                "; ".join(f"{p.spec.node_name or p.metadata.name}: {_waiting(p) or p.status.phase}" for p in pods)
                or "no pods"
            )
            raise InstallerError(
                f"the node-trust DaemonSet {plan.namespace}/{name} is not ready on every node after {timeout:g}s "
                f"({status.get('numberReady', 0)}/{status.get('desiredNumberScheduled', 0)} ready: {why})",
                "when the image cannot be pulled, set clients.node_trust_image to a busybox-like image the nodes "
                "have (or a mirror); re-run, it converges",
            )
        sleep(1.0)


# -- applying and removing ----------------------------------------------------------------------


@dataclass
class ClientsResult:
    applied: list[str] = field(default_factory=list)
    service_accounts: list[str] = field(default_factory=list)
    nodes: list[NodeTrust] = field(default_factory=list)


def apply_clients(kube: KubeClient, plan, on_event: EventSink = discard, timeout: float = 120.0) -> ClientsResult:
    """Pull Secrets (+ CDI forms) in the client namespaces, the default ServiceAccounts, node trust; removes what is no
    longer wanted."""
    from installer.secret_writes import ensure_namespace

    result = ClientsResult()
    clients = plan.choices.clients
    wanted = client_secrets(plan) + client_config_maps(plan)
    if wanted or _listed(kube, plan, "secrets"):
        with step(on_event, STEP_CLIENTS, ", ".join(clients.namespaces) or "removing pull Secrets") as run:
            for namespace in clients.namespaces:
                if ensure_namespace(kube, namespace):
                    on_event(Note(STEP_CLIENTS, f"created namespace {namespace}"))
            for obj in wanted:
                _apply(kube, obj)
                result.applied.append(f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}")
            removed = _remove_unwanted(
                kube, plan, {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in wanted}
            )
            if clients.service_account and plan.pull_user is not None:
                for namespace in clients.namespaces:
                    if merge_pull_secret(kube, namespace, "default", pull_secret_name(plan.release)):
                        result.service_accounts.append(f"{namespace}/default")
            words = (
                [f"applied {len(result.applied)}"]
                + ([f"removed {', '.join(removed)}"] if removed else [])
                + ([f"imagePullSecrets of {', '.join(result.service_accounts)}"] if result.service_accounts else [])
            )
            run.result = "; ".join(words)
    objects = node_trust_objects(plan)
    if objects:
        detail = (
            f"DaemonSet {plan.namespace}/{node_trust_name(plan.release)} writes the CA for "
            f"{', '.join(trust_hosts(plan))}"
        )
        with step(on_event, STEP_NODE_TRUST, detail) as run:
            for obj in objects:
                _apply(kube, obj)
            ready = wait_node_trust(kube, plan, timeout)
            result.nodes = node_report(kube, plan)
            for verdict in result.nodes:
                on_event(Note(STEP_NODE_TRUST, verdict.words(), "info" if verdict.state == "trusted" else "warning"))
            run.result = f"{ready}; {sum(v.state == 'trusted' for v in result.nodes)}/{len(result.nodes)} trusted"
    elif not clients.node_trust and _node_trust_present(kube, plan):
        remove_node_trust(kube, plan, on_event, timeout)
    return result


def _listed(kube: KubeClient, plan, plural: str) -> list[dict[str, Any]]:
    try:
        return kube.get_json(
            f"list the installer's {plural}",
            f"/api/v1/{plural}",
            {"labelSelector": f"{REGISTRY_LABEL}={registry_label(plan)}"},
        ).get("items", [])
    except (Forbidden, NotFound):
        return []


def _remove_unwanted(kube: KubeClient, plan, keep: set[tuple[str, str, str]]) -> list[str]:
    removed = []
    for plural, kind in (("secrets", "Secret"), ("configmaps", "ConfigMap")):
        for item in _listed(kube, plan, plural):
            meta = item["metadata"]
            if (meta.get("labels") or {}).get(COMPONENT) == NODE_TRUST or (
                kind,
                meta["namespace"],
                meta["name"],
            ) in keep:
                continue
            try:
                kube.delete_json(
                    f"delete {kind} {meta['namespace']}/{meta['name']}",
                    f"/api/v1/namespaces/{meta['namespace']}/{plural}/{meta['name']}",
                )
            except NotFound:
                continue
            removed.append(f"{kind} {meta['namespace']}/{meta['name']}")
            if kind == "Secret" and meta["name"] == pull_secret_name(plan.release):
                unmerge_pull_secret(kube, meta["namespace"], "default", meta["name"])
    return removed


def merge_pull_secret(kube: KubeClient, namespace: str, account: str, secret: str, timeout: float = 20.0) -> bool:
    """Add `secret` to the ServiceAccount's imagePullSecrets, keeping the others; True when it changed.

    A namespace created just now gets its default ServiceAccount from the controller manager a moment later: wait for
    it."""
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            sa = kube.get_json(f"read ServiceAccount {namespace}/{account}", path)
            break
        except NotFound:
            if time.monotonic() > deadline:
                raise InstallerError(
                    f"ServiceAccount {namespace}/{account} does not exist (waited {timeout:g}s)",
                    f"create it, or set clients.service_account: false and name the Secret "
                    f"{secret} in the pods' imagePullSecrets",
                ) from None
            time.sleep(0.5)
    current = sa.get("imagePullSecrets") or []
    if any(ref.get("name") == secret for ref in current):
        return False
    body = {
        "metadata": {"resourceVersion": sa["metadata"]["resourceVersion"]},
        "imagePullSecrets": [*current, {"name": secret}],
    }
    kube.call(
        f"add {secret} to ServiceAccount {namespace}/{account}",
        kube.core.patch_namespaced_service_account,
        account,
        namespace,
        body,
    )
    return True


def unmerge_pull_secret(kube: KubeClient, namespace: str, account: str, secret: str) -> None:
    """Take only `secret` out of the ServiceAccount's imagePullSecrets (the others stay)."""
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}"
    try:
        sa = kube.get_json(f"read ServiceAccount {namespace}/{account}", path)
    except (NotFound, Forbidden):
        return
    current = sa.get("imagePullSecrets") or []
    kept = [ref for ref in current if ref.get("name") != secret]
    if len(kept) != len(current):
        kube.call(
            f"remove {secret} from ServiceAccount {namespace}/{account}",
            kube.core.replace_namespaced_service_account,
            account,
            namespace,
            {**sa, "imagePullSecrets": kept},
        )


def _node_trust_present(kube: KubeClient, plan) -> bool:
    try:
        kube.get_json(
            "read the node-trust DaemonSet",
            f"/apis/apps/v1/namespaces/{plan.namespace}/daemonsets/{node_trust_name(plan.release)}",
        )
        return True
    except (NotFound, Forbidden):
        return False


def remove_node_trust(kube: KubeClient, plan, on_event: EventSink = discard, timeout: float = 120.0) -> None:
    """Remove the files the DaemonSet wrote (it runs once more, in remove mode), then the DaemonSet and its ConfigMap.

    `plan` needs only .namespace and .release: uninstall has no Plan, so the live DaemonSet is reused as it is."""
    name = node_trust_name(plan.release)
    path = f"/apis/apps/v1/namespaces/{plan.namespace}/daemonsets/{name}"
    with step(on_event, STEP_NODE_TRUST, f"removing the CA files DaemonSet {plan.namespace}/{name} wrote") as run:
        ds = kube.get_json(f"read DaemonSet {name}", path)
        template = ds["spec"]["template"]
        for env in template["spec"]["containers"][0].get("env", []):
            if env["name"] == "MODE":
                env["value"] = "remove"
        template["metadata"].setdefault("annotations", {})["registry-installer.io/ca-checksum"] = "remove"
        kube.call(
            f"switch DaemonSet {name} to remove mode", kube.apps.replace_namespaced_daemon_set, name, plan.namespace, ds
        )
        wait_node_trust(kube, plan, timeout)
        for kind, prefix in (("DaemonSet", "/apis/apps/v1"), ("ConfigMap", "/api/v1")):
            try:
                kube.delete_json(
                    f"delete {kind} {name}", f"{prefix}/namespaces/{plan.namespace}/{kind.lower()}s/{name}"
                )
            except NotFound:
                pass
        run.result = "CA files removed from every node; DaemonSet deleted"


def remove_clients(kube: KubeClient, plan, on_event: EventSink = discard) -> list[str]:
    """Uninstall: node-trust files and DaemonSet, pull Secrets and CDI forms in every namespace (the ServiceAccount
    entry too)."""
    if _node_trust_present(kube, plan):
        remove_node_trust(kube, plan, on_event)
    return [f"removed {words}" for words in _remove_unwanted(kube, plan, set())]


# -- the in-cluster pull check --------------------------------------------------------------------

PULL_FAILED = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
NOT_PULL = (
    "CreateContainerError",
    "RunContainerError",
    "StartError",
    "ContainerCannotRun",
    "CreateContainerConfigError",
)
PullCheckKind = Literal[
    "", "pulled", "x509", "auth", "dns", "connection", "not-found", "other", "timeout", "unschedulable"
]


@dataclass(frozen=True)
class PullCheck:
    """The kubelet's verdict on pulling `image` in `namespace`: ok, or a cause with the fix and the kubelet's words."""

    ok: bool
    image: str
    namespace: str
    node: str | None
    cause: str = ""
    fix: str = ""
    kind: PullCheckKind = ""  # "": not known yet
    detail: str = ""
    nodes: tuple[NodeTrust, ...] = ()


def classify_pull_error(message: str, image: str, trust_words: str = "") -> tuple[PullCheckKind, str, str]:
    """(kind, cause, fix) for a kubelet pull error message."""
    host = image.split("/", 1)[0]
    text = message.lower()
    if "x509" in text or "certificate signed by unknown authority" in text or "failed to verify certificate" in text:
        return (
            "x509",
            f"the node does not trust the registry's certificate (x509) for {host}",
            "turn on node trust (clients.node_trust: true, the installer writes the CA into each node's certs.d), or "
            "put the CA on every node by hand (registry-installer ca shows "
            f"where).{(' Nodes: ' + trust_words) if trust_words else ''}",
        )
    if (
        "401" in text
        or "unauthorized" in text
        or "authorization failed" in text
        or "no basic auth credentials" in text
        or "may require authorization" in text
    ):
        return (
            "auth",
            f"the registry refused the pull without valid credentials (401) for {host}",
            "give the pod the pull Secret: name the namespace in clients.namespaces (the installer writes the Secret) "
            "and add it to the pod's imagePullSecrets, or set clients.service_account: true to add it to the default "
            "ServiceAccount",
        )
    lookup = re.search(r"lookup ([^\s:]+)", message)
    if lookup or "no such host" in text or "server misbehaving" in text:
        name = lookup.group(1) if lookup else host
        return (
            "dns",
            f"the node cannot resolve {name} (the name the node tried for {host})",
            f"make {name} resolve from the nodes (DNS record, or /etc/hosts on each node) to the ingress address, or "
            "set clients.pull_address to a name the nodes resolve",
        )
    if "connection refused" in text or "i/o timeout" in text or "no route to host" in text or "dial tcp" in text:
        dial = re.search(r"dial tcp ([^\s:]+:\d+)", message)
        return (
            "connection",
            f"the node cannot connect to the registry at {dial.group(1) if dial else host}",
            "check that the nodes reach the ingress address and port (firewall, NodePort), or set clients.pull_address",
        )
    if "not found" in text or "manifest unknown" in text:
        return (
            "not-found",
            f"the registry has no image {image}",
            "the smoke image was deleted before the pod pulled it: re-run",
        )
    return ("other", "the node could not pull the image", "read the kubelet's words below (kubectl describe pod)")


def pull_check_pod(
    name: str, namespace: str, image: str, pull_secret: str | None, labels: dict[str, str]
) -> dict[str, Any]:
    """A Pod that only needs its image pulled: its command does not exist, so it never runs a program."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 0,
        "containers": [
            {
                "name": "pull",
                "image": image,
                "imagePullPolicy": "Always",
                "command": ["/registry-installer-pull-check"],
                "resources": {"requests": {"cpu": "1m", "memory": "4Mi"}, "limits": {"memory": "16Mi"}},
            }
        ],
        "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
    }
    if pull_secret:
        spec["imagePullSecrets"] = [{"name": pull_secret}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def run_pull_check(
    kube: KubeClient,
    namespace: str,
    image: str,
    pull_secret: str | None,
    release: str = "registry",
    on_event: EventSink = discard,
    timeout: float = 90.0,
    nodes: tuple[NodeTrust, ...] = (),
) -> PullCheck:
    """Create the pull-check Pod, wait for the kubelet's verdict (Pod status and events), delete the Pod."""
    name = f"{release}-pull-check-{_random.token_hex(3)}"[:63]
    labels = {**MANAGED_BY, "app.kubernetes.io/instance": release, COMPONENT: "pull-check"}
    with step(on_event, STEP_PULL_CHECK, f"pod {namespace}/{name} pulls {image}") as run:
        kube.call(
            f"create the pull-check pod in {namespace}",
            kube.core.create_namespaced_pod,
            namespace,
            pull_check_pod(name, namespace, image, pull_secret, labels),
        )
        try:
            result = _await_verdict(kube, namespace, name, image, timeout, nodes)
        finally:
            try:
                kube.call(
                    f"delete pod {name}", kube.core.delete_namespaced_pod, name, namespace, grace_period_seconds=0
                )
            except InstallerError as exc:
                log.warning("could not delete the pull-check pod %s/%s: %s", namespace, name, exc)
        detail = f"pulled on {result.node}" if result.ok else f"{result.cause}: {result.detail}"
        if not result.ok:
            on_event(Note(STEP_PULL_CHECK, f"{result.cause} -> {result.fix}", "warning"))
        run.ok, run.result = result.ok, detail.splitlines()[0] if detail else ""
    return result


def _events(kube: KubeClient, namespace: str, name: str) -> list[Any]:
    try:
        return kube.call(
            "list the pull-check pod's events",
            kube.core.list_namespaced_event,
            namespace,
            field_selector=f"involvedObject.name={name}",
        ).items
    except InstallerError:
        return []


def _count(events: list[Any], reason: str, prefix: str = "") -> int:
    """How many times the kubelet reported `reason` (an Event's count folds repeats), optionally only messages
    starting with `prefix`."""
    return sum(e.count or 1 for e in events if e.reason == reason and (e.message or "").startswith(prefix))


def _await_verdict(
    kube: KubeClient, namespace: str, name: str, image: str, timeout: float, nodes: tuple[NodeTrust, ...]
) -> PullCheck:
    deadline = time.monotonic() + timeout
    trust_words = "; ".join(n.words() for n in nodes)
    last = ""
    first_unread: tuple[int, int] | None = None  # (failed pulls, unread-Secret events) when a 401 came without it
    while True:
        pod = kube.call(f"read pod {name}", kube.core.read_namespaced_pod, name, namespace)
        node = pod.spec.node_name
        events = _events(kube, namespace, name)
        if any(e.reason == "Pulled" for e in events):
            return PullCheck(True, image, namespace, node, kind="pulled", nodes=nodes)
        for status in pod.status.container_statuses or []:
            waiting = status.state.waiting if status.state else None
            if (
                status.image_id
                or (status.state and (status.state.running or status.state.terminated))
                or (waiting is not None and waiting.reason in NOT_PULL)
            ):
                # the image is there: a container that cannot start still proves the pull
                return PullCheck(True, image, namespace, node, kind="pulled", nodes=nodes)
            if waiting is not None and waiting.reason in PULL_FAILED:
                # the kubelet's own words: its "Failed to pull image ..." event, else the waiting message (the
                # "Error: ErrImagePull" / "Error: ImagePullBackOff" events only repeat the reason)
                failed = [
                    e.message
                    for e in events
                    if e.reason == "Failed" and (e.message or "").startswith("Failed to pull image")
                ]
                message = failed[-1] if failed else (waiting.message or "")
                if not message:
                    break  # the event is not there yet: ask again
                kind, cause, fix = classify_pull_error(message, image, trust_words)
                unread = _count(events, "FailedToRetrieveImagePullSecret")
                if kind == "auth" and unread:
                    # the kubelet pulled without the Secret because it could not read it yet ("failed to sync secret
                    # cache", a busy node): its next attempt, after the back-off, reads it. Judge that attempt.
                    attempts = _count(events, "Failed", "Failed to pull image")
                    if first_unread is None:
                        first_unread = (attempts, unread)
                    if attempts <= first_unread[0] and time.monotonic() < deadline:
                        break
                    if unread > first_unread[1] or attempts <= first_unread[0]:
                        cause = f"the kubelet on {node} could not read the pull Secret, so it pulled without it"
                        fix = "check the node's access to Secrets (kubectl describe pod; the kubelet's log) and re-run"
                return PullCheck(False, image, namespace, node, cause, fix, kind, message, nodes)
        for condition in pod.status.conditions or []:
            if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == "Unschedulable":
                last = condition.message or "unschedulable"
        if time.monotonic() > deadline:
            if last:
                return PullCheck(
                    False,
                    image,
                    namespace,
                    None,
                    "the pull-check pod could not be scheduled",
                    "make room on a node (or allow pods without tolerations)",
                    "unschedulable",
                    last,
                    nodes,
                )
            return PullCheck(
                False,
                image,
                namespace,
                node,
                f"no verdict from the kubelet within {timeout:g}s",
                "check the node (kubectl describe pod)",
                "timeout",
                _waiting(pod) or str(pod.status.phase),
                nodes,
            )
        time.sleep(0.5)


# -- what clients outside the installer's reach need (registry-installer clients, the Done step) -----------------


def client_snippets(plan, image: str = "vms/fedora:40") -> list[tuple[str, str]]:
    """(title, text) for docker, podman, containerd, a Pod, a KubeVirt VirtualMachine and a CDI DataVolume."""

    from installer.disk import ExampleDisk, datavolume_snippet, vm_snippet

    clients = plan.choices.clients
    host = plan.pull_address
    user = plan.pull_user.name if plan.pull_user is not None else next((u.name for u in plan.users), None)
    login = f"--username {user} --password-stdin < password.txt" if user else ""
    reference = f"{host}/{image}"
    ca = bool(plan.ca_pem)
    out = []
    if plan.pull_user is not None:
        from installer.checks import secret_key_for_user

        key = secret_key_for_user(plan.pull_user.name).replace(".", "\\.")
        out.append(
            (
                "the pull user's password (generated, kept across re-runs)",
                f"kubectl -n {plan.namespace} get secret {plan.names.state} -o jsonpath='{{.data.{key}}}' | base64 -d "
                "> password.txt\n",
            )
        )
    docker = (
        f"sudo mkdir -p /etc/docker/certs.d/{host} && sudo cp ca.crt /etc/docker/certs.d/{host}/ca.crt\n" if ca else ""
    )
    out.append(("docker", docker + (f"docker login {host} {login}\n" if user else "") + f"docker pull {reference}\n"))
    podman = (
        f"sudo mkdir -p /etc/containers/certs.d/{host} && sudo cp ca.crt /etc/containers/certs.d/{host}/ca.crt\n"
        if ca
        else ""
    )
    out.append(("podman", podman + (f"podman login {host} {login}\n" if user else "") + f"podman pull {reference}\n"))
    found = plan.client_ca
    if found is not None and found.public:
        out.append(("CA", f"# {found.source}\n"))
    if ca:
        out.append(
            (
                "containerd (each node; clients.node_trust does this for you)",
                (f"# ca.crt: {found.source}\n" if found is not None else "")
                + f"# {DEFAULT_CERTS_D}/{host}/hosts.toml, with the CA beside it as ca.crt\n"
                f'server = "https://{host}"\nca = "{DEFAULT_CERTS_D}/{host}/ca.crt"\n\n[host."https://{host}"]\n'
                f'  capabilities = ["pull", "resolve"]\n  ca = "{DEFAULT_CERTS_D}/{host}/ca.crt"\n'
                f"# and in /etc/containerd/config.toml (containerd 1.x; 2.x reads this folder by default):\n"
                f'# [plugins."io.containerd.grpc.v1.cri".registry]\n#   config_path = "{DEFAULT_CERTS_D}"\n',
            )
        )
    secret = pull_secret_name(plan.release) if plan.pull_user is not None else None
    where = ", ".join(clients.namespaces) or "your namespace"
    pod_secret = (
        f"\n  imagePullSecrets:\n  - name: {secret}      # in {where}" if secret and not clients.service_account else ""
    )
    out.append(
        (
            "Pod",
            f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:{pod_secret}\n  containers:\n  - name: app\n"
            f"    image: {reference}\n",
        )
    )
    disk = ExampleDisk()
    out.append(("KubeVirt VirtualMachine (containerDisk)", vm_snippet(reference, disk, image.split(":")[0], secret)))
    cm_name, cdi_secret = cdi_names(plan.release)
    out.append(
        (
            "CDI DataVolume",
            datavolume_snippet(
                reference,
                disk,
                image.split(":")[0],
                cdi_secret if clients.cdi and secret else None,
                cm_name if clients.cdi and ca else None,
            ),
        )
    )
    return out


DEFAULT_CERTS_D = "/etc/containerd/certs.d"


def clients_from_cluster(kube: KubeClient, namespace: str, release: str, hosts: list[str]) -> dict[str, Any] | None:
    """The installed `clients` section, read back from the installer's own objects (for reconfigure).

    None when there are none.

    Without it a reconfigure from the wizard would take the pull Secrets and node trust away."""
    from types import SimpleNamespace

    where = SimpleNamespace(namespace=namespace, release=release)
    secrets = _listed(kube, where, "secrets")
    pulls = sorted(
        s["metadata"]["namespace"]
        for s in secrets
        if (s["metadata"].get("labels") or {}).get(COMPONENT) == "pull-secret"
    )
    out: dict[str, Any] = {}
    if pulls:
        out["namespaces"] = pulls
        out["cdi"] = any((s["metadata"].get("labels") or {}).get(COMPONENT) == "cdi" for s in secrets)
        try:
            config = json.loads(
                base64.b64decode(
                    next(
                        s
                        for s in secrets
                        if s["metadata"]["namespace"] == pulls[0]
                        and (s["metadata"].get("labels") or {}).get(COMPONENT) == "pull-secret"
                    )["data"][".dockerconfigjson"]
                )
            )
            out["pull_user"] = next(iter(config["auths"].values()))["username"]
        except (KeyError, ValueError, StopIteration, TypeError):
            pass
        try:
            account = kube.get_json(
                "read the default ServiceAccount", f"/api/v1/namespaces/{pulls[0]}/serviceaccounts/default"
            )
            out["service_account"] = {"name": pull_secret_name(release)} in (account.get("imagePullSecrets") or [])
        except (NotFound, Forbidden):
            pass
    try:
        ds = kube.get_json(
            "read the node-trust DaemonSet",
            f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{node_trust_name(release)}",
        )
    except (NotFound, Forbidden):
        ds = None
    if ds is not None:
        pod = ds["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
        paths = {v["name"]: v["hostPath"]["path"] for v in pod.get("volumes", []) if "hostPath" in v}
        out.update(
            node_trust=True, node_trust_image=container["image"], containerd_certs_d=env.get("CERTS_D", DEFAULT_CERTS_D)
        )
        if "crio-certs" in paths:
            out["crio_certs_d"] = paths["crio-certs"]
        if "docker-certs" in paths:
            out["docker_certs_d"] = paths["docker-certs"]
        if "containerd-config" in paths and env.get("CONFIG_FILE"):
            out["containerd_config"] = f"{paths['containerd-config'].rstrip('/')}/{env['CONFIG_FILE']}"
        extra = [h for h in env.get("HOSTS", "").split() if h not in hosts]
        if extra:
            out["pull_address"] = extra[0]
    return out or None


def node_trust_status(kube: KubeClient, namespace: str, release: str) -> list[NodeTrust] | None:
    """The per-node trust report of an installed release (the Status view); None when node trust is off."""
    from types import SimpleNamespace

    installed = clients_from_cluster(kube, namespace, release, [])
    if not installed or not installed.get("node_trust"):
        return None
    certs_d = installed.get("containerd_certs_d", DEFAULT_CERTS_D)
    where = SimpleNamespace(
        namespace=namespace,
        release=release,
        choices=SimpleNamespace(clients=SimpleNamespace(containerd_certs_d=certs_d)),
    )
    return node_report(kube, where)


def installed_clients(kube: KubeClient, plan) -> dict[str, Any] | None:
    """clients_from_cluster for the Plan's release; None when it cannot be read (a diff is no reason to fail)."""
    try:
        return clients_from_cluster(kube, plan.namespace, plan.release, list(plan.choices.exposure.hosts))
    except InstallerError as exc:
        log.debug("clients not read back: %s", exc)
        return None


def ca_change(before_pem: str | None, plan) -> list[str]:
    """Reconfigure: the CA node trust writes is not the one on the nodes now (`before_pem`, its ConfigMap's); the
    re-run rolls the DaemonSet and every node gets the new one."""
    if not plan.choices.clients.node_trust or not plan.ca_pem or not before_pem:
        return []
    if before_pem.strip() == plan.ca_pem.strip():
        return []
    from installer.tlsfiles import load_chain, subject_words

    def words(pem: str) -> str:
        chain = load_chain(pem)
        return subject_words(chain[0]) if chain else "an unreadable certificate"

    source = f" from {plan.client_ca.source}" if plan.client_ca is not None else ""
    return [f"~ node trust CA: {words(before_pem)} -> {words(plan.ca_pem)}{source} (written on every node)"]


def clients_changes(before: dict[str, Any] | None, clients) -> list[str]:
    """What a reconfigure changes in the clients section, one line each (`before`: clients_from_cluster's answer)."""
    before = before or {}
    old_ns, new_ns = set(before.get("namespaces", [])), set(clients.namespaces)
    lines = [f"+ pull Secret in namespace {ns} (created)" for ns in sorted(new_ns - old_ns)]
    lines += [f"- pull Secret in namespace {ns} (removed)" for ns in sorted(old_ns - new_ns)]
    if bool(before.get("node_trust")) != clients.node_trust:
        lines.append(
            "+ node trust DaemonSet (writes the CA on every node)"
            if clients.node_trust
            else "- node trust DaemonSet (removed, with the CA files it wrote on every node)"
        )
    for key, words in (
        ("service_account", "default ServiceAccount imagePullSecrets"),
        ("cdi", "CDI forms"),
        ("node_trust_image", "node trust image"),
        ("containerd_certs_d", "containerd certs.d folder"),
        ("pull_address", "pull address"),
    ):
        if (
            key in before
            and before[key] != getattr(clients, key)
            and (key not in ("node_trust_image", "containerd_certs_d") or clients.node_trust)
        ):
            lines.append(f"~ {words}: {before[key]} -> {getattr(clients, key)}")
    return lines

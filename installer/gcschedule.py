"""Scheduled garbage collection the safe way: the installer's own CronJob running `gc`'s sequence in the cluster.

The chart's CronJob runs `registry garbage-collect` against a live, writable registry (a push in
flight can lose blobs), with no concurrencyPolicy and nothing that pins it to a ReadWriteOnce
volume's node. The installer's CronJob instead runs a kubectl image with a namespaced
ServiceAccount and a script that, under the release's Lease (the same lock as apply and gc):

1. makes the registry read-only with distribution's environment override on the Deployment,
   `REGISTRY_STORAGE_MAINTENANCE_READONLY={"enabled": true}`, and waits until every registry pod
   runs with it and one is ready (pushes get 405);
2. runs `registry garbage-collect` inside a registry pod (`kubectl exec`: same volume, same
   node, so a ReadWriteOnce volume is no problem);
3. removes the override again from a shell `trap`, so any failure, a TERM from the Job's deadline
   or a lost lock still ends writable, and records the run in the installer's ConfigMap
   `<release>-installer-gc` (key `scheduled.json`), where `status` reads the last collection.

A run that finds the Lock held (an install, `gc` or `grow` is running) changes nothing, fails its
Job with the reason in its log, and is recorded too (`"skipped": true`, who held the lock, since
when), so `status` shows why no collection happened.

Why an environment variable and not the chart's config: a `helm upgrade` would need helm and
write access to every object of the release in the job. The variable is not in the chart's
manifest, so helm's three-way merge (and helm 4's server-side apply) leaves it alone: a plain
`helm upgrade` during the window keeps the registry read-only until the script removes it, and
nothing that helm renders ever brings it back. `apply` and `gc` remove one left by a job that
was killed outright (`clear_readonly_override`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from installer.gateway import MANAGED_BY, ManagedKind

if TYPE_CHECKING:
    from installer.kube import KubeClient
    from installer.plan import Plan

READONLY_ENV = "REGISTRY_STORAGE_MAINTENANCE_READONLY"
READONLY_VALUE = '{"enabled": true}'
REGISTRY_CONTAINER = "docker-registry"  # the chart's container name (its Chart.Name)
KUBECTL_IMAGE_REPOSITORY = "registry.k8s.io/kubectl"
DEFAULT_KUBECTL_VERSION = "v1.35.2"  # when no cluster tells its version (offline render)
NAME_SUFFIX = "-installer-gc"
COMPONENT = "scheduled-gc"
LEASE_HOLDER_PREFIX = "scheduled-gc/"
RECORD_KEY = "scheduled.json"
JOB_DEADLINE = 3600  # seconds: the whole run, read-only window included
TERMINATION_GRACE = 300  # seconds the script gets after a TERM to make the registry writable again
IMAGE_ANNOTATION = "registry-installer/kubectl-image"
# listed and pruned with the installer's other objects beside the release (installer/managed.py)
SCHEDULE_KINDS = (
    ManagedKind("batch/v1", "CronJob", "cronjobs"),
    ManagedKind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    ManagedKind("rbac.authorization.k8s.io/v1", "Role", "roles"),
    ManagedKind("v1", "ServiceAccount", "serviceaccounts"),
)


def schedule_name(release: str) -> str:
    """The CronJob, ServiceAccount, Role and RoleBinding (and the record ConfigMap) share this name."""
    return f"{release}{NAME_SUFFIX}"


def kubectl_image(server_version: str | None) -> str:
    """registry.k8s.io/kubectl at the cluster's version (v1.31.4-eks-xyz -> v1.31.4), else a fixed default."""
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", server_version or "")
    version = f"v{match[1]}.{match[2]}.{match[3]}" if match else DEFAULT_KUBECTL_VERSION
    return f"{KUBECTL_IMAGE_REPOSITORY}:{version}"


# The script needs bash, date, sleep and kubectl: registry.k8s.io/kubectl has them (Debian base).
SCRIPT = r"""
set -u
say() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
k() { kubectl -n "$NAMESPACE" "$@"; }
micro() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
holder="scheduled-gc/$POD_NAME"
ready=""; locked=""; skipped=""; readonly_at=""; ro_seconds=0; blobs=null; manifests=null; error=""
selector="app=docker-registry,release=$RELEASE"

lease() {  # $1: extra metadata (a resourceVersion to replace)
  printf '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"%s","namespace":"%s",' \
    "$LEASE" "$NAMESPACE"
  printf '"labels":{"app.kubernetes.io/managed-by":"registry-installer"}%s},' "$1"
  printf '"spec":{"holderIdentity":"%s","leaseDurationSeconds":%s,"acquireTime":"%s","renewTime":"%s"}}' \
    "$holder" "$LEASE_SECONDS" "$(micro)" "$(micro)"
}

take_lock() {
  if lease "" | k create -f - >/dev/null 2>&1; then locked=1; return 0; fi
  local info who renewed secs rv acquired
  info=$(k get lease "$LEASE" -o 'jsonpath={.spec.holderIdentity}|{.spec.renewTime}|{.spec.leaseDurationSeconds}|'\
'{.metadata.resourceVersion}|{.spec.acquireTime}') \
    || { error="could not read the release's lock (Lease $LEASE)"; return 1; }
  IFS='|' read -r who renewed secs rv acquired <<< "$info"
  if [ -n "$who" ] && [ -n "$renewed" ] \
      && [ $(( $(date -u -d "$renewed" +%s) + ${secs:-60} )) -gt "$(date -u +%s)" ]; then
    skipped=1  # recorded (status shows it), and the Job fails with this reason in its log
    error="skipped: the release's lock is held by $who (since ${acquired:-$renewed}, renewed $renewed): an install, gc"
    error+=" or grow was running; this run changed nothing"
    return 1
  fi
  lease ",\"resourceVersion\":\"$rv\"" | k replace -f - >/dev/null \
    || { error="could not take over the expired lock (Lease $LEASE)"; return 1; }
  locked=1
}

# name|deleting|Ready|override for every registry pod (terminating ones too)
pods() {
  k get pods -l "$selector" -o "jsonpath={range .items[*]}{.metadata.name}|{.metadata.deletionTimestamp}|\
{.status.conditions[?(@.type==\"Ready\")].status}|\
{.spec.containers[?(@.name==\"$CONTAINER\")].env[?(@.name==\"$READONLY_ENV\")].name}{\"\n\"}{end}"
}

# wait until every registry pod runs with (want=1) or without (want=0) the override; a ready one in $ready.
# It runs in this shell, never in a $(...) subshell: bash runs the TERM trap only once its foreground command
# ends, and a subshell looping until the timeout would hold the trap back that long.
settle() {
  local want=$1 deadline=$(( $(date -u +%s) + TIMEOUT )) name deleting ok env bad
  while [ "$(date -u +%s)" -lt "$deadline" ]; do
    bad=""; ready=""
    while IFS='|' read -r name deleting ok env; do
      [ -z "$name" ] && continue
      if [ "$want" = 1 ] && [ -z "$env" ]; then bad=1; fi
      if [ "$want" = 0 ] && [ -n "$env" ]; then bad=1; fi
      if [ -z "$deleting" ] && [ "$ok" = True ] && [ -z "$ready" ]; then ready=$name; fi
    done <<< "$(pods)"
    if [ -z "$bad" ] && [ -n "$ready" ]; then return 0; fi
    sleep 2
  done
  return 1
}

record() {  # $1: true|false
  local entry err=${error//[\"\\]/\'}
  entry="{\"time\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"ok\":$1,\"scheduled\":true,"
  [ -n "$skipped" ] && entry+="\"skipped\":true,"
  entry+="\"readonly_seconds\":$ro_seconds,\"blobs_deleted\":$blobs,\"manifests_deleted\":$manifests,"
  entry+="\"used_before\":null,\"used_after\":null,\"freed_bytes\":null,\"job\":\"$JOB_NAME\""
  [ -n "$err" ] && entry+=",\"error\":\"$err\""
  entry+="}"
  k patch configmap "$RECORD" --type merge -p "{\"data\":{\"$RECORD_KEY\":\"${entry//\"/\\\"}\"}}" >/dev/null \
    || say "could not record the run in ConfigMap $RECORD"
}

finish() {
  local rc=$?
  trap '' TERM INT
  trap - EXIT
  if [ -n "$readonly_at" ]; then
    say "writable: removing $READONLY_ENV from deployment/$DEPLOYMENT"
    local i
    for i in 1 2 3 4 5 6; do
      k set env "deployment/$DEPLOYMENT" -c "$CONTAINER" "$READONLY_ENV-" >/dev/null && break
      say "retrying in 5 s"; sleep 5
    done
    if settle 0; then
      ro_seconds=$(( $(date -u +%s) - readonly_at ))
      say "the registry is writable again (read-only for $ro_seconds s)"
    else
      rc=1; error="${error:-the registry did not become writable again within $TIMEOUT s}"
      say "$error: kubectl -n $NAMESPACE set env deployment/$DEPLOYMENT $READONLY_ENV- (or registry-installer gc)"
    fi
  fi
  [ "$rc" != 0 ] && [ -z "$error" ] && error="the run failed (exit $rc)"
  if [ -n "$locked" ]; then
    if [ "$rc" = 0 ]; then record true; else record false; fi
    k delete lease "$LEASE" >/dev/null 2>&1 || say "could not release Lease $LEASE (it expires by itself)"
  elif [ -n "$skipped" ]; then
    record false  # the lock is someone else's: leave it alone
  fi
  if [ "$rc" = 0 ]; then say "done"; elif [ -n "$skipped" ]; then say "$error"; else say "failed: $error"; fi
  exit "$rc"
}

trap finish EXIT
trap 'error="${error:-stopped (TERM): the Job reached its deadline or was deleted}"; exit 143' TERM INT
say "taking the release's lock (Lease $LEASE)"
take_lock || exit 1
say "read-only: setting $READONLY_ENV on deployment/$DEPLOYMENT"
readonly_at=$(date -u +%s)
k set env "deployment/$DEPLOYMENT" -c "$CONTAINER" "$READONLY_ENV=$READONLY_VALUE" >/dev/null \
  || { error="could not set $READONLY_ENV on deployment/$DEPLOYMENT"; exit 1; }
settle 1 || { error="the registry did not roll out read-only within $TIMEOUT s"; exit 1; }
pod=$ready
say "collecting in pod $pod (pushes get 405 meanwhile)"
binary=$(k get pod "$pod" -o "jsonpath={.spec.containers[?(@.name==\"$CONTAINER\")].command[0]}")
config=$(k get pod "$pod" -o "jsonpath={.spec.containers[?(@.name==\"$CONTAINER\")].command[2]}")
k exec "$pod" -c "$CONTAINER" -- "${binary:-/bin/registry}" garbage-collect $GC_FLAGS \
  "${config:-/etc/distribution/config.yml}" > /tmp/gc.log 2>&1
gc_rc=$?
while IFS= read -r line; do
  echo "gc: $line"
  if [[ $line =~ ([0-9]+)\ blobs\ marked,\ ([0-9]+)\ blobs\ and\ ([0-9]+)\ manifests ]]; then
    blobs=${BASH_REMATCH[2]}; manifests=${BASH_REMATCH[3]}
  fi
done < /tmp/gc.log
if [ "$gc_rc" != 0 ]; then
  error="registry garbage-collect failed (exit $gc_rc)"
  exit 1
fi
if [ "$blobs" = null ]; then  # e.g. a flag it does not know: it prints its usage and exits 0
  error="registry garbage-collect failed (no summary line in its output)"
  exit 1
fi
say "collected: $blobs blobs and $manifests manifests deleted"
"""


def _labels(release: str) -> dict[str, str]:
    return {**MANAGED_BY, "app.kubernetes.io/instance": release, "app.kubernetes.io/component": COMPONENT}


def role_rules(release: str, deployment: str) -> list[dict[str, Any]]:
    """What the job may do, all in the release's namespace (nothing cluster-wide).

    - the registry Deployment (by name): get, patch (kubectl set env), list and watch (rollout waits,
      which the API server authorizes by name through the metadata.name field selector);
    - pods: get, list (find the registry pod, any name); pods/exec: create (the SPDY and WebSocket exec of
      API servers that check create), get (older API servers check get for kubectl's WebSocket exec);
    - the release's Lease (by name): get, update, delete; leases: create (a create cannot name its object);
    - the record ConfigMap (by name): get, patch.
    """
    lock, record = f"{release}-installer-lock", schedule_name(release)
    return [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": [deployment],
            "verbs": ["get", "list", "watch", "patch"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lock],
            "verbs": ["get", "update", "delete"],
        },
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [record], "verbs": ["get", "patch"]},
    ]


def schedule_objects(plan: "Plan") -> list[dict[str, Any]]:
    """ServiceAccount, Role, RoleBinding and CronJob of the scheduled collection; none when it is off."""
    from installer.plan import chart_fullname

    gc = plan.choices.extras.garbage_collect
    if not gc.enabled:
        return []
    namespace, release = plan.namespace, plan.release
    name = schedule_name(release)
    labels = _labels(release)

    def meta(extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"name": name, "namespace": namespace, "labels": dict(labels), **(extra or {})}

    env = {
        "RELEASE": release,
        "DEPLOYMENT": chart_fullname(release),
        "CONTAINER": REGISTRY_CONTAINER,
        "LEASE": f"{release}-installer-lock",
        "LEASE_SECONDS": str(JOB_DEADLINE + TERMINATION_GRACE),
        "RECORD": name,
        "RECORD_KEY": RECORD_KEY,
        "READONLY_ENV": READONLY_ENV,
        "READONLY_VALUE": READONLY_VALUE,
        "GC_FLAGS": "--delete-untagged" if gc.delete_untagged else "",
        "TIMEOUT": "600",
        "HOME": "/tmp",
    }
    fields = {"NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name", "JOB_NAME": "metadata.labels['job-name']"}
    container = {
        "name": "gc",
        "image": plan.gc_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "-c", SCRIPT],
        "env": [{"name": k, "value": v} for k, v in env.items()]
        + [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": v}}} for k, v in fields.items()],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    annotations = {IMAGE_ANNOTATION: gc.image} if gc.image else {}
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta({"annotations": annotations} if annotations else None),
        "spec": {
            "schedule": gc.schedule,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": JOB_DEADLINE,
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {
                            "serviceAccountName": name,
                            "restartPolicy": "Never",
                            "terminationGracePeriodSeconds": TERMINATION_GRACE,
                            "containers": [container],
                            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                        },
                    },
                },
            },
        },
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta()},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(),
            "rules": role_rules(release, chart_fullname(release)),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        cronjob,
    ]


def schedule_from_cronjob(cronjob: dict[str, Any] | None) -> dict[str, Any] | None:
    """The preset's garbage_collect section an installed CronJob of the installer was made from."""
    if not cronjob:
        return None
    spec = cronjob.get("spec") or {}
    pod = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    container = (pod.get("containers") or [{}])[0]
    env = {e.get("name"): e.get("value") for e in container.get("env") or []}
    out: dict[str, Any] = {
        "enabled": True,
        "schedule": spec.get("schedule", "0 1 * * *"),
        "delete_untagged": "--delete-untagged" in (env.get("GC_FLAGS") or ""),
    }
    if ((cronjob.get("metadata") or {}).get("annotations") or {}).get(IMAGE_ANNOTATION):
        out["image"] = container.get("image")
    return out


def readonly_override(deployment: Any) -> bool:
    """True when the registry Deployment carries the read-only override (a scheduled run in progress, or left)."""
    for container in deployment.spec.template.spec.containers or []:
        if any(e.name == READONLY_ENV for e in container.env or []):
            return True
    return False


def clear_readonly_override(kube: "KubeClient", namespace: str, release: str) -> bool:
    """Remove the read-only override a killed scheduled run left on the Deployment; True when there was one.

    Call it under the release's lock (then no scheduled run is in progress).
    """
    from installer.kube import NotFound
    from installer.plan import chart_fullname

    name = chart_fullname(release)
    try:
        deployment = kube.call("read the registry Deployment", kube.apps.read_namespaced_deployment, name, namespace)
    except NotFound:
        return False
    containers = deployment.spec.template.spec.containers or []
    patch = []
    for i, container in enumerate(containers):
        for j, env in reversed(list(enumerate(container.env or []))):
            if env.name == READONLY_ENV:
                patch.append({"op": "remove", "path": f"/spec/template/spec/containers/{i}/env/{j}"})
    if not patch:
        return False
    kube.call(
        f"remove {READONLY_ENV} from Deployment {name}",
        kube.apps.patch_namespaced_deployment,
        name,
        namespace,
        patch,
    )
    return True

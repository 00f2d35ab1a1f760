"""Day-two changes: safe garbage collection and growing the data volume, under the release's lock.

Safe GC (upstream: collect only while nothing can upload, or blobs of a running push are
deleted): the registry is switched read-only through the chart's own config
(`configData.storage.maintenance.readonly.enabled`, a helm upgrade that waits for the rollout),
a Job runs `registry garbage-collect` on the same volume (on the registry pod's node when the
volume is ReadWriteOnce), then the release is rolled back to the revision before: writable
again, values exactly as they were. Any failure (or a cancel) still rolls back.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from installer.errors import InstallerError, UsageError
from installer.events import EventSink, Note, discard
from installer.helm import HelmRunner
from installer.kube import KubeClient, NotFound
from installer.lock import ReleaseLock
from installer.plan import chart_fullname
from installer.render import MANAGED_BY
from installer.status import VolumeUsage, live_registry_pods, pod_ready, record_gc, volume_usage

log = logging.getLogger(__name__)
READONLY_KEY = "configData.storage.maintenance.readonly.enabled"
GC_SUMMARY_RE = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion")
JOB_LABELS = {**MANAGED_BY, "app.kubernetes.io/component": "garbage-collect"}
# PVC conditions of a resize (others, such as "Unused", say nothing about it)
RESIZE_CONDITIONS = ("Resizing", "FileSystemResizePending", "ControllerResizeError", "NodeResizeError")


@dataclass(frozen=True)
class GCOptions:
    dry_run: bool = False
    delete_untagged: bool = True
    timeout: str = "10m"  # each rollout and the Job
    usage_wait: float = (
        150.0  # seconds to wait for the kubelet's next volume measurement (it measures about once a minute)
    )


@dataclass
class GCResult:
    ok: bool = False
    dry_run: bool = False
    readonly_seconds: float | None = None
    blobs_marked: int | None = None
    blobs_deleted: int | None = None
    manifests_deleted: int | None = None
    used_before: int | None = None
    used_after: int | None = None
    job: str = ""
    node: str | None = None
    revision_after: int | None = None
    log_tail: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int | None:
        if self.used_before is None or self.used_after is None:
            return None
        return max(self.used_before - self.used_after, 0)


@dataclass
class Target:
    """What day-two commands need to know about the installed release."""

    namespace: str
    release: str
    revision: int
    values: dict[str, Any]
    deployment: Any

    @property
    def fullname(self) -> str:
        return chart_fullname(self.release)

    @property
    def filesystem(self) -> bool:
        return self.values.get("storage", "filesystem") != "s3" and bool(
            (self.values.get("persistence") or {}).get("enabled")
        )

    @property
    def claim(self) -> str | None:
        return (
            ((self.values.get("persistence") or {}).get("existingClaim") or self.fullname) if self.filesystem else None
        )

    @property
    def rwo(self) -> bool:
        return (
            self.filesystem
            and (self.values.get("persistence") or {}).get("accessMode", "ReadWriteOnce") != "ReadWriteMany"
        )


def load_target(kube: KubeClient, namespace: str, release: str) -> Target:
    """The deployed release, its values and Deployment; refuses a release that is not installed or not settled."""
    from installer.probe import read_release

    info = read_release(kube, namespace, release)
    if info is None:
        raise InstallerError(
            f"release {release} is not installed in namespace {namespace}",
            "check --release and --namespace (helm list -A)",
        )
    if info.status != "deployed":
        raise InstallerError(
            f"release {release} is {info.status}, not deployed",
            "re-run `registry-installer apply` to converge it first",
        )
    try:
        deployment = kube.call(
            "read the registry Deployment", kube.apps.read_namespaced_deployment, chart_fullname(release), namespace
        )
    except NotFound:
        raise InstallerError(
            f"the registry Deployment {chart_fullname(release)} is missing", "re-run `registry-installer apply`"
        ) from None
    return Target(namespace, release, info.revision, info.values, deployment)


def _ready_pods(kube: KubeClient, target: Target) -> list[Any]:
    return [pod for pod in live_registry_pods(kube, target.namespace, target.release) if pod_ready(pod)]


# -- garbage collection ---------------------------------------------------------------------------


def run_gc(
    kube: KubeClient,
    helm: HelmRunner,
    namespace: str,
    release: str,
    options: GCOptions = GCOptions(),
    on_event: EventSink = discard,
    cancel: threading.Event | None = None,
) -> GCResult:
    """Read-only, collect, writable again; returns what was freed and how long pushes were refused.

    Raises:
        InstallerError: what failed; the registry is writable again (revision said in the message).
    """
    from installer.apply import explain_failure
    from installer.events import step
    from installer.uninstall import upgrade_stored_chart

    _ = helm.version
    target = load_target(kube, namespace, release)
    pods = _ready_pods(kube, target)
    if not pods:
        raise InstallerError(
            f"no registry pod of release {release} is ready: garbage collection needs the running registry's volume",
            f"kubectl -n {namespace} get pods -l app=docker-registry,release={release}; fix the registry first",
        )
    _check_job_permission(kube, namespace, release)
    node = pods[0].spec.node_name if target.rwo else None
    result = GCResult(dry_run=options.dry_run, node=node)
    with ReleaseLock(kube, namespace, release):
        from installer.gcschedule import READONLY_ENV, clear_readonly_override

        if not options.dry_run and clear_readonly_override(kube, namespace, release):
            on_event(Note("gc", f"removed {READONLY_ENV} left by a stopped scheduled collection", "warning"))
        before = volume_usage(kube, namespace, release, target.claim, pods) if target.claim else None
        result.used_before = before.used_bytes if before else None
        if options.dry_run:
            _collect(kube, target, node, options, result, on_event, cancel)
            result.ok = True
            return result
        started = time.monotonic()
        failure: BaseException | None = None
        claims = (target.claim,) if target.claim else ()
        try:
            # the same helm upgrade and own wait as apply; a rollout that fails is explained and rolled back there
            upgrade_stored_chart(
                helm,
                kube,
                namespace,
                release,
                ["--set", f"{READONLY_KEY}=true"],
                on_event,
                "read-only",
                "registry read-only (pushes get 405) and rolled out",
                wait=True,
                timeout=options.timeout,
                cancel=cancel,
                claims=claims,
            )
            _collect(kube, target, node, options, result, on_event, cancel)
        except BaseException as exc:  # KeyboardInterrupt too: the registry must end writable
            failure = exc
        finally:
            with step(on_event, "writable", f"rolling back to revision {target.revision} (writable)") as run:
                run.result = _writable_again(kube, helm, target, claims, options.timeout, on_event)
            result.readonly_seconds = time.monotonic() - started
            on_event(Note("gc", f"the registry was read-only for {result.readonly_seconds:.0f} s"))
        result.revision_after = (helm.status(release, namespace) or {}).get("version")
        if failure is not None:
            _record(
                kube,
                target,
                result,
                ok=False,
                error=str(failure).splitlines()[0] if str(failure) else type(failure).__name__,
            )
            if isinstance(failure, InstallerError):
                failure.hint = failure.hint or "see the Job's log above"
                raise explain_failure(
                    failure, f"The registry is writable again (revision {result.revision_after})."
                ) from None
            raise failure
        if target.claim and before is not None:  # a kubelet that gave no usage before gives none after
            after = _usage_after(kube, target, before, options.usage_wait, on_event)
            result.used_after = after.used_bytes if after else None
        result.ok = True
        _record(kube, target, result, ok=True)
    return result


def _writable_again(
    kube: KubeClient, helm: HelmRunner, target: Target, claims: tuple[str, ...], timeout: str, on_event: EventSink
) -> str:
    """Back to revision `target.revision`'s values (unless a failed switch was rolled back there already), then the
    installer's own wait until its pods are ready, as apply waits. Not cancellable: it is what a cancel ends with.

    Raises:
        InstallerError: the pods of the writable revision did not become ready (values are writable by then).
    """
    from installer.apply import Upgrade, change_and_wait

    values = helm.get_values(target.release, target.namespace)
    maintenance = ((values.get("configData") or {}).get("storage") or {}).get("maintenance") or {}
    read_only = maintenance.get("readonly") if isinstance(maintenance, dict) else None
    status = (helm.status(target.release, target.namespace) or {}).get("info", {}).get("status")
    switched = (isinstance(read_only, dict) and bool(read_only.get("enabled"))) or status != "deployed"

    def change() -> int | None:
        if switched:
            helm.rollback(target.release, target.namespace, target.revision, timeout=timeout)
        return (helm.status(target.release, target.namespace) or {}).get("version")

    upgrade = Upgrade(target.namespace, target.release, claims, timeout)
    try:
        change_and_wait(kube, upgrade, change, on_event, None)
    except InstallerError as exc:
        raise InstallerError(
            f"the registry is back at revision {target.revision}'s values (writable), but its pods are not ready: "
            f"{exc.message}",
            exc.hint,
        ) from None
    return f"revision {target.revision}'s values" + ("" if switched else " (the failed switch was rolled back)")


def _check_job_permission(kube: KubeClient, namespace: str, release: str) -> None:
    """Refuse before the read-only window when the collection Job could not be created anyway."""
    from installer.probe import ClusterProbe, NeededPermission

    check = ClusterProbe(kube, namespace, release).can(NeededPermission("create", "jobs", "batch"))
    if not check.allowed:
        who = f"context {kube.context}" if kube.context else "the current identity"
        raise InstallerError(
            f"{who} may not {check.words()}: garbage collection runs in a Job. Nothing was changed.",
            "ask a cluster admin for this permission (RBAC), or use a context that has it (--context)",
        )


def _record(kube: KubeClient, target: Target, result: GCResult, ok: bool, error: str = "") -> None:
    entry = {
        "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ok": ok,
        "readonly_seconds": round(result.readonly_seconds or 0, 1),
        "blobs_deleted": result.blobs_deleted,
        "manifests_deleted": result.manifests_deleted,
        "used_before": result.used_before,
        "used_after": result.used_after,
        "freed_bytes": result.freed_bytes,
        "job": result.job,
    }
    if error:
        entry["error"] = error
    try:
        record_gc(kube, target.namespace, target.release, entry)
    except InstallerError as exc:
        log.warning("could not record the garbage collection: %s", exc)


def gc_job(target: Target, node: str | None, options: GCOptions, name: str) -> dict[str, Any]:
    """A Job running `registry garbage-collect` with the registry pod's own image, config, env and volumes."""
    from kubernetes.client import ApiClient

    pod_spec = ApiClient().sanitize_for_serialization(target.deployment.spec.template.spec)
    registry = pod_spec["containers"][0]
    command = registry.get("command") or ["/bin/registry", "serve", "/etc/distribution/config.yml"]
    binary, config = command[0], command[-1]
    args = [binary, "garbage-collect"]
    if options.delete_untagged:
        args.append("--delete-untagged")
    if options.dry_run:
        args.append("--dry-run")
    container = {
        k: v
        for k, v in registry.items()
        if k in ("image", "imagePullPolicy", "env", "envFrom", "volumeMounts", "securityContext", "resources")
    }
    container.update({"name": "garbage-collect", "command": [*args, config]})
    spec = {
        k: v
        for k, v in pod_spec.items()
        if k
        in (
            "volumes",
            "securityContext",
            "serviceAccountName",
            "imagePullSecrets",
            "tolerations",
            "priorityClassName",
            "nodeSelector",
            "affinity",
        )
    }
    spec.update({"containers": [container], "restartPolicy": "Never"})
    if node:
        # ReadWriteOnce: only pods on the node that has the volume attached can mount it
        spec.pop("nodeSelector", None)
        spec.pop("affinity", None)
        spec["nodeName"] = node
    labels = {**JOB_LABELS, "app.kubernetes.io/instance": target.release}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": target.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 86400,
            "activeDeadlineSeconds": duration_seconds(options.timeout),
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def duration_seconds(duration: str) -> int:
    """Seconds in a Go duration such as 10m, 90s or 1h30m (600 when it names none)."""
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(h|m|s)", duration):
        total += float(number) * {"h": 3600, "m": 60, "s": 1}[unit]
    return int(total) or 600


def _collect(
    kube: KubeClient,
    target: Target,
    node: str | None,
    options: GCOptions,
    result: GCResult,
    on_event: EventSink,
    cancel: threading.Event | None,
) -> None:
    from installer.events import step

    name = f"{target.fullname}-gc-{dt.datetime.now(dt.timezone.utc):%Y%m%d%H%M%S}"
    result.job = name
    detail = (
        f"Job {name}"
        + (f" on node {node}" if node else "")
        + (" (dry run: deletes nothing)" if options.dry_run else "")
    )
    with step(on_event, "collect", detail, cancel) as run:
        kube.call(
            f"create Job {name}",
            kube.batch.create_namespaced_job,
            target.namespace,
            gc_job(target, node, options, name),
        )
        ok, why = _wait_job(kube, target.namespace, name, duration_seconds(options.timeout), cancel)
        lines = _job_log(kube, target.namespace, name)
        result.log_tail = lines[-20:]
        for line in lines:
            match = GC_SUMMARY_RE.search(line)
            if match:
                result.blobs_marked, result.blobs_deleted, result.manifests_deleted = (int(g) for g in match.groups())
        if not ok:
            for line in result.log_tail[-5:]:
                on_event(Note("collect", f"job: {line}", "warning"))
            raise InstallerError(
                f"the garbage collection Job {name} failed: {why}",
                f"kubectl -n {target.namespace} logs job/{name} shows its output",
            )
        verb = "eligible" if options.dry_run else "deleted"
        run.result = (
            f"{result.blobs_deleted} blobs and {result.manifests_deleted} manifests {verb}"
            if result.blobs_deleted is not None
            else "done (no summary line in its log)"
        )


def _wait_job(
    kube: KubeClient, namespace: str, name: str, timeout: float, cancel: threading.Event | None
) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = kube.call(f"read Job {name}", kube.batch.read_namespaced_job, name, namespace)
        st = job.status
        if st is not None:
            for cond in st.conditions or []:
                if cond.type == "Complete" and cond.status == "True":
                    return True, ""
                if cond.type == "Failed" and cond.status == "True":
                    return False, cond.message or cond.reason or "failed"
            if (st.succeeded or 0) > 0:
                return True, ""
            if (st.failed or 0) > 0:
                return False, "its pod failed"
        if cancel is not None and cancel.wait(1.0):
            return False, "cancelled"
        elif cancel is None:
            time.sleep(1.0)
    return False, f"not finished after {timeout:.0f} s"


def _job_log(kube: KubeClient, namespace: str, name: str) -> list[str]:
    try:
        pods = kube.call(
            "list the Job's pods", kube.core.list_namespaced_pod, namespace, label_selector=f"job-name={name}"
        ).items
        if not pods:
            return []
        text = kube.call(
            "read the Job's log", kube.core.read_namespaced_pod_log, pods[-1].metadata.name, namespace, tail_lines=2000
        )
    except InstallerError as exc:
        return [f"(no log: {exc.message})"]
    return [line for line in (text or "").splitlines() if line.strip()]


def _usage_after(
    kube: KubeClient, target: Target, before: VolumeUsage | None, wait: float, on_event: EventSink
) -> VolumeUsage | None:
    """The kubelet's first volume measurement taken after the collection (it measures about once a minute)."""
    from installer.events import step

    finished = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with step(on_event, "usage", "waiting for the kubelet's next measurement of the volume") as run:
        deadline = time.monotonic() + wait
        while True:
            usage = volume_usage(kube, target.namespace, target.release, target.claim or "")
            if usage is not None and usage.time >= finished:
                run.result = f"{usage.used_bytes} bytes used"
                return usage
            if time.monotonic() >= deadline:
                run.result = "no new measurement yet: `registry-installer status` shows it later"
                return None
            time.sleep(3.0)


# -- growing the volume ---------------------------------------------------------------------------


@dataclass
class GrowResult:
    claim: str
    old_size: str
    new_size: str
    state: Literal["done", "filesystem-resize-pending", "resizing", "failed"]
    capacity: str | None = None
    message: str = ""


def run_grow(
    kube: KubeClient,
    helm: HelmRunner,
    namespace: str,
    release: str,
    size: str,
    on_event: EventSink = discard,
    wait_seconds: float = 120.0,
    cancel: threading.Event | None = None,
) -> GrowResult:
    """Expand the installer's data PVC to `size`, record it in the release's values, and wait for the resize. A PVC
    that asks for `size` already while the release's values say otherwise (a grow whose record failed, or a resize by
    hand) only gets the record.

    Raises:
        UsageError: a size that is not a quantity.
        InstallerError: shrinking, a class without expansion, S3 storage, an unbound or foreign PVC (each with
        alternatives).
    """
    from installer.apply import explain_failure
    from installer.events import step
    from installer.sizes import parse_size
    from installer.state import claim_owner
    from installer.uninstall import detach_claim, upgrade_stored_chart
    from installer.volume import adopt_claim, keep_claim, read_claim, request_size

    try:
        wanted = parse_size(size)
    except ValueError as exc:
        raise UsageError(f"--size {size!r}: {exc}", "e.g. --size 200Gi") from None
    _ = helm.version
    target = load_target(kube, namespace, release)
    if not target.filesystem:
        raise InstallerError(
            "the registry stores its images in S3 (or keeps no volume): there is no volume to grow",
            "S3 buckets grow by themselves; nothing to do",
        )
    claim = target.claim or ""
    pvc = read_claim(kube, namespace, claim)
    if pvc is None:
        raise InstallerError(f"the data PVC {claim} does not exist", "re-run `registry-installer apply`")
    owner = claim_owner(pvc.metadata, release)
    current = (pvc.spec.resources.requests or {}).get("storage", "0")
    alternatives = (
        "reclaim space with `registry-installer gc`; or install a new release on a larger claim and copy the images "
        "(e.g. `skopeo sync`); or move to S3 storage"
    )
    if owner == "other":
        raise InstallerError(
            f"PVC {claim} is yours (storage.filesystem.existing_claim): the installer does not resize it",
            f"kubectl -n {namespace} patch pvc {claim} -p "
            f'\'{{"spec":{{"resources":{{"requests":{{"storage":"{size}"}}}}}}}}\'',
        )
    if wanted < parse_size(current):
        raise InstallerError(
            f"--size {size} is smaller than the volume ({current}): Kubernetes volumes cannot shrink", alternatives
        )
    recorded = str((target.values.get("persistence") or {}).get("size") or current)
    try:
        recorded_bytes: int | None = parse_size(recorded)
    except ValueError:
        recorded_bytes = None
    if wanted == parse_size(current) and recorded_bytes == wanted:
        raise InstallerError(f"PVC {claim} is already {current}", "give a larger --size")
    sc_name = pvc.spec.storage_class_name
    sc = (
        kube.get_json(f"read StorageClass {sc_name}", f"/apis/storage.k8s.io/v1/storageclasses/{sc_name}")
        if sc_name
        else {}
    )
    if not sc.get("allowVolumeExpansion"):
        what = (
            f"StorageClass {sc_name} does not allow volume expansion"
            if sc_name
            else "the volume has no StorageClass, so it cannot expand"
        )
        raise InstallerError(
            f"{what}: PVC {claim} stays {current}",
            "a cluster admin may set allowVolumeExpansion: true on the class if its driver can expand volumes; "
            f"otherwise {alternatives}",
        )
    if (pvc.status.phase if pvc.status else None) != "Bound":
        raise InstallerError(
            f"PVC {claim} is {pvc.status.phase if pvc.status else 'Pending'}, not Bound: only bound volumes can grow",
            f"kubectl -n {namespace} describe pvc {claim}",
        )
    with ReleaseLock(kube, namespace, release):
        if owner == "chart":
            with step(on_event, "volume", f"making PVC {claim} the installer's own"):
                keep_claim(kube, namespace, claim)
            if not (target.values.get("persistence") or {}).get("existingClaim"):
                detach_claim(helm, kube, namespace, release, claim, on_event)
            adopt_claim(kube, namespace, release, claim)
        with step(on_event, "grow", f"PVC {claim} {current} -> {size}") as run:
            if wanted == parse_size(current):
                run.result = f"asks for {size} already; the release's values say {recorded}"
            else:
                request_size(kube, namespace, claim, size)
        # the chart renders nothing from persistence.size here: a new revision that changes no object, so reconfigure
        # sees the size
        record, what = ["--set-string", f"persistence.size={size}"], f"persistence.size={size} in the release's values"
        try:
            upgrade_stored_chart(helm, kube, namespace, release, record, on_event, "record", what, cancel=cancel)
        except InstallerError as exc:
            raise explain_failure(
                exc,
                f"PVC {claim} keeps asking for {size} (volumes cannot shrink): re-run the same `grow` to record it "
                "in the release's values.",
            ) from None
        with step(on_event, "resize", "waiting for the storage driver") as run:
            result = _wait_resize(kube, namespace, claim, current, size, wanted, wait_seconds)
            run.result = result.message
    return result


def _wait_resize(
    kube: KubeClient, namespace: str, claim: str, old: str, size: str, wanted: int, wait_seconds: float
) -> GrowResult:
    from installer.sizes import parse_size
    from installer.volume import read_claim

    deadline = time.monotonic() + wait_seconds
    deployment = chart_fullname_for_claim(claim)
    while True:
        pvc = read_claim(kube, namespace, claim)
        capacity = ((pvc.status.capacity or {}).get("storage")) if pvc is not None and pvc.status else None
        conditions = {
            c.type: c
            for c in ((pvc.status.conditions or []) if pvc is not None and pvc.status else [])
            if c.type in RESIZE_CONDITIONS and c.status == "True"
        }
        if capacity and parse_size(capacity) >= wanted and not conditions:
            return GrowResult(claim, old, size, "done", capacity, f"PVC {claim} is {capacity}")
        failed = [c for t, c in conditions.items() if t.endswith("ResizeError")]
        if failed:
            return GrowResult(
                claim,
                old,
                size,
                "failed",
                capacity,
                f"the storage driver could not grow PVC {claim}: "
                f"{failed[0].message or failed[0].reason or failed[0].type}; it stays {capacity or old} (kubectl -n "
                f"{namespace} describe pvc {claim})",
            )
        if "FileSystemResizePending" in conditions:
            return GrowResult(
                claim,
                old,
                size,
                "filesystem-resize-pending",
                capacity,
                f"the volume is {size}; its filesystem grows when the registry pod next starts (kubectl -n {namespace} "
                f"rollout restart deployment/{deployment}), until then it shows {capacity or old}",
            )
        if time.monotonic() >= deadline:
            state = (
                ", ".join(f"{t}: {c.message or c.reason or c.status}" for t, c in conditions.items())
                or "no resize condition yet"
            )
            return GrowResult(
                claim,
                old,
                size,
                "resizing",
                capacity,
                f"asked for {size}; the storage driver has not finished ({state}); "
                f"`registry-installer status` or kubectl -n {namespace} describe pvc {claim} shows when it has",
            )
        time.sleep(2.0)


def chart_fullname_for_claim(claim: str) -> str:
    """The Deployment that mounts the installer's claim (both carry the chart's full name)."""
    return claim


def pods_on_volume(kube: KubeClient, namespace: str, claim: str) -> list[str]:
    """Pods in the namespace that mount `claim` (for messages)."""
    pods = kube.call("list pods", kube.core.list_namespaced_pod, namespace).items
    return [
        p.metadata.name
        for p in pods
        for v in (p.spec.volumes or [])
        if v.persistent_volume_claim and v.persistent_volume_claim.claim_name == claim
    ]

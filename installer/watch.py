"""Wait for a release's rollout: say what the PVCs and Pods are doing, stop early on a definite failure.

helm's `--wait` says nothing until its timeout; the cluster usually knows much earlier why the
registry cannot start, so the installer runs helm without it and waits here (`wait_ready`).
`RolloutWatcher` polls the release's PVCs, Pods and Events about once a
second on a thread and emits `RolloutStatus` (what changed) and `RolloutProblem` (what stands in
the way, in the cluster's own words, with a fix). A problem nothing will cure by waiting (no
provisioner for the class, an image that cannot be pulled, a missing Secret key, a crash loop)
is `fatal`: the watcher sets `stop`, which ends the wait as the user's cancel does, and the
caller rolls back and raises `failure` as the error.

The classification (`pod_findings`, `claim_findings`) works on the API's plain JSON, so it is
unit-tested on recorded objects; the watcher only fetches and de-duplicates.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from installer.errors import InstallerError
from installer.events import EventSink, RolloutProblem, RolloutStatus, WatchedKind
from installer.kube import KubeClient

log = logging.getLogger(__name__)

PVC: WatchedKind = "PersistentVolumeClaim"
POD: WatchedKind = "Pod"
REPLICA_SET: WatchedKind = "ReplicaSet"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
SELECTED_NODE = "volume.kubernetes.io/selected-node"  # the scheduler's pick: a WaitForFirstConsumer claim's turn
PULL_GRACE = 60.0  # seconds an image may fail to pull (network hiccups) before the wait ends
# Seconds a claim may wait for its provisioner's first word before the watch says the provisioner is silent. An
# external provisioner picks a claim up from its informer within a second and emits "Provisioning" at the start of
# every attempt; one restarting or failing over (leader election: 15 s lease, 5 s retries) answers well within 60 s.
# Counted on the watch's own clock from when it first sees the claim waiting (for a first install that is moments
# after the installer made the claim): the PVC's creationTimestamp is the API server's clock, and the events that
# would show an earlier answer expire (--event-ttl, 1 h), so a claim's age says nothing about its provisioner.
PROVISIONER_GRACE = 60.0
# what only the provisioner itself says about a claim (the PV controller's "ExternalProvisioning" is not an answer)
PROVISIONER_ANSWERS = ("Provisioning", "ProvisioningSucceeded", "ProvisioningFailed")
LOG_LINES = 10
MAX_STUCK_LINES = 6  # objects the timeout error lists (replicas beyond these are alike)
NO_SCHEDULER_FIX = (
    "no scheduler placed the pod or said why not: check that kube-scheduler runs (and serves the pod's schedulerName)"
)
# pull errors no retry cures: the image or tag does not exist, or the node may not read it
DEFINITE_PULL = re.compile(
    r"not found|manifest unknown|repository does not exist|pull access denied|unauthorized|"
    r"authentication required|invalid reference format|InvalidImageName",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    """One observation about one object: a status (problem is None) or a problem."""

    kind: WatchedKind
    name: str
    state: str
    detail: str = ""
    problem: RolloutProblem | None = None
    fix: str = ""  # a status that waiting will not end: what to do (the timeout error says it); problems have theirs
    stuck: str = ""  # how the timeout error says it, when "KIND NAME was still STATE (DETAIL)" says too little

    def stuck_words(self) -> str:
        """This object's last state as the timeout error says it."""
        if self.stuck:
            return self.stuck
        if self.problem is not None:
            first = (self.problem.message.splitlines() or [""])[0]
            return f"{self.kind} {self.name}: {self.problem.reason}: {first}"
        return f"{self.kind} {self.name} was still {self.state}{f' ({self.detail})' if self.detail else ''}"

    @property
    def settled(self) -> bool:
        """Nothing more to wait for here (a Bound claim, a Ready pod)."""
        return self.problem is None and self.state in ("Bound", "Ready")


@dataclass
class ClusterView:
    """What one poll saw: the release's pods and claims, their events, and the classes they use."""

    pods: list[dict[str, Any]] = field(default_factory=list)
    claims: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # name -> PVC (None: not created yet)
    events: list[dict[str, Any]] = field(default_factory=list)  # only those new since the watch started
    earlier_events: list[dict[str, Any]] = field(default_factory=list)  # the rest: only to see a provisioner answered
    classes: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # name -> StorageClass (None: missing)
    free_volumes: dict[str, int] | None = None  # class -> Available PVs; None when PVs cannot be listed
    default_class: str | None = None


def _events_for(view: ClusterView, kind: str, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in view.events
        if (e.get("involvedObject") or {}).get("kind") == kind and (e.get("involvedObject") or {}).get("name") == name
    ]


def _last_event(view: ClusterView, kind: str, name: str, *reasons: str) -> dict[str, Any] | None:
    matching = [e for e in _events_for(view, kind, name) if e.get("reason") in reasons]
    return max(matching, key=_event_time) if matching else None


def _event_time(event: dict[str, Any]) -> str:
    return (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _problem(
    kind: WatchedKind, name: str, state: str, reason: str, message: str, fix: str, *, fatal: bool = False
) -> Finding:
    """A finding that stands in the rollout's way: the object is in `state` because of `reason`."""
    return Finding(kind, name, state, problem=RolloutProblem(kind, name, reason, message, fix, fatal=fatal))


def claim_findings(
    name: str, pvc: dict[str, Any] | None, view: ClusterView, waited: float = 0.0, grace: float = PROVISIONER_GRACE
) -> list[Finding]:
    """What a data PVC is doing: Bound, waiting for its first pod, waiting for or failing at provisioning, or never
    bindable.

    Args:
        waited: seconds the watch has seen this claim waiting for its provisioner (`grace` of silence: a problem).
    """
    if pvc is None:
        return []

    def pending(reason: str, message: str, fix: str, *, fatal: bool = False) -> list[Finding]:
        """The claim stays Pending because of `reason`."""
        return [_problem(PVC, name, "Pending", reason, message, fix, fatal=fatal)]

    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase == "Bound":
        size = (status.get("capacity") or {}).get("storage", "")
        return [Finding(PVC, name, "Bound", f"volume {spec.get('volumeName', '?')}{', ' + size if size else ''}")]
    if phase == "Lost":
        return [
            _problem(
                PVC,
                name,
                "Lost",
                "ClaimLost",
                f"the volume {spec.get('volumeName', '?')} behind PVC {name} is gone",
                "restore the PersistentVolume or delete the PVC so a new volume is made (the images on the lost "
                "one are gone)",
                fatal=True,
            )
        ]

    class_name = spec.get("storageClassName")
    if class_name is None:
        class_name = view.default_class
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "?")
    if not class_name:
        binding = _last_event(view, PVC, name, "FailedBinding")
        if binding is not None:
            return pending(
                "NoStorageClass",
                _one_line(binding.get("message")),
                "the cluster has no default StorageClass: name one in storage.filesystem.storage_class",
                fatal=True,
            )
        return [
            Finding(
                PVC,
                name,
                "Pending",
                "no StorageClass; waiting for a matching PersistentVolume",
                fix=f"create a PersistentVolume without a class of at least {size} for it, or name a StorageClass in "
                "storage.filesystem.storage_class",
            )
        ]
    sc = view.classes.get(class_name, {})
    if sc is None:
        return pending(
            "NoStorageClass",
            f"PVC {name} asks for StorageClass {class_name}, which does not exist",
            "choose an existing class in storage.filesystem.storage_class (`registry-installer probe` lists them)",
            fatal=True,
        )
    provisioner = sc.get("provisioner", "")
    if provisioner == NO_PROVISIONER:
        free = (view.free_volumes or {}).get(class_name, 0)
        binding = _last_event(view, PVC, name, "FailedBinding")
        if (view.free_volumes is not None and free == 0) or binding is not None:
            return pending(
                "NoProvisioner",
                f"StorageClass {class_name} has no provisioner ({NO_PROVISIONER}) and no free PersistentVolume "
                f"of that class: PVC {name} ({size}) can never bind",
                "choose a StorageClass with a provisioner (storage.filesystem.storage_class), or create a "
                f"PersistentVolume of class {class_name} with at least {size}",
                fatal=True,
            )
        # bound at once when one fits (Immediate); WaitForFirstConsumer waits for the pod, whose lines say why not
        fits = (
            f"no free PersistentVolume of class {class_name} fits: check their size (at least {size}), access mode and "
            "node affinity, or choose a StorageClass with a provisioner (storage.filesystem.storage_class)"
        )
        return [
            Finding(
                PVC,
                name,
                "Pending",
                f"waiting for a pre-made PersistentVolume of class {class_name}",
                fix="" if sc.get("volumeBindingMode") == "WaitForFirstConsumer" else fits,
            )
        ]
    failed = _last_event(view, PVC, name, "ProvisioningFailed")
    if failed is not None:
        return pending(
            "ProvisioningFailed",
            _one_line(failed.get("message")),
            f"the provisioner of StorageClass {class_name} cannot make the volume: fix what its message says "
            "(quota, pool, credentials) or choose another class (storage.filesystem.storage_class)",
        )
    if (
        sc.get("volumeBindingMode") == "WaitForFirstConsumer"
        and not ((pvc.get("metadata") or {}).get("annotations") or {}).get(SELECTED_NODE)
        and _last_event(view, PVC, name, "ExternalProvisioning", "Provisioning") is None
    ):
        return [
            Finding(PVC, name, "WaitForFirstConsumer", f"class {class_name} binds when the registry pod is scheduled")
        ]
    return [_provisioning(name, pvc, view, provisioner, f"a {size} volume of class {class_name}", waited, grace)]


def _provisioning(
    name: str, pvc: dict[str, Any], view: ClusterView, provisioner: str, volume: str, waited: float, grace: float
) -> Finding:
    """A claim its provisioner should be making `volume` for: at it, or silent (a problem after `grace`; the wait
    goes on, since a provisioner may be slow to start or fail over, but the operator learns where to look)."""
    making = f"{PVC} {name} was still waiting for {provisioner} to make {volume} after {waited:.0f}s"
    answer = _provisioner_answer(view, pvc, name)
    if answer is not None:
        said = _one_line(answer.get("message"))
        detail = (
            f"{provisioner} made the volume; waiting for the claim to bind"
            if answer.get("reason") == "ProvisioningSucceeded"
            else f"{provisioner} is making {volume}"
        )
        return Finding(PVC, name, "Provisioning", detail, stuck=f"{making} ({provisioner} said: {said})")
    fix = _provisioner_fix(provisioner)
    silent = f"{making} (no answer from that provisioner)"
    if waited < grace:
        return Finding(PVC, name, "Provisioning", f"waiting for {provisioner} to make {volume}", fix=fix, stuck=silent)
    message = (
        f"no answer from {provisioner} about PVC {name} in {grace:.0f}s (no Provisioning event): the provisioner is "
        "not running, or does not see the claim; still waiting"
    )
    return Finding(
        PVC, name, "Provisioning", problem=RolloutProblem(PVC, name, "ProvisionerSilent", message, fix), stuck=silent
    )


def _provisioner_answer(view: ClusterView, pvc: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The provisioner's last event about this claim (this very object: an older claim of the same name does not
    count), from before the watch too."""
    uid = (pvc.get("metadata") or {}).get("uid")
    answers = [
        e
        for e in view.earlier_events + view.events
        if (e.get("involvedObject") or {}).get("kind") == PVC
        and (e.get("involvedObject") or {}).get("name") == name
        and (not uid or (e.get("involvedObject") or {}).get("uid") in (None, uid))
        and e.get("reason") in PROVISIONER_ANSWERS
    ]
    return max(answers, key=_event_time) if answers else None


def _provisioner_fix(provisioner: str) -> str:
    other = "or choose another StorageClass (storage.filesystem.storage_class)"
    rook = re.fullmatch(r"([a-z0-9.-]+)\.(rbd|cephfs)\.csi\.ceph\.com", provisioner)
    if rook:  # Rook names its CSI drivers after the operator's namespace
        namespace, driver = rook.groups()
        return (
            f"check Rook's CSI provisioner: `kubectl -n {namespace} get pods -l app=csi-{driver}plugin-provisioner` "
            f"(and their csi-provisioner log), {other}"
        )
    return (
        f"check that {provisioner} runs: `kubectl get csidriver {provisioner}` (a CSI driver registers one) and its "
        f"controller pods (their csi-provisioner log), {other}"
    )


def _container_statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])


def _image_of(pod: dict[str, Any], container: str) -> str:
    spec = pod.get("spec") or {}
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        if c.get("name") == container:
            return c.get("image", "?")
    return "?"


def pod_findings(
    pod: dict[str, Any],
    view: ClusterView,
    pull_failing_for: Callable[[str], float],
    last_logs: Callable[[str, str], str],
    pull_grace: float = PULL_GRACE,
) -> list[Finding]:
    """What one registry pod is doing, and what stands in its way.

    Args:
        pull_failing_for: seconds the given container key ("pod/container") has failed to pull its image.
        last_logs: the last lines a crashed container (pod, container) printed, "" when unknown.
    """
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    name = meta.get("name", "?")
    if meta.get("deletionTimestamp"):
        return [Finding(POD, name, "Terminating")]
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") != "True":
        if scheduled.get("reason") == "Unschedulable" or _last_event(view, POD, name, "FailedScheduling"):
            message = _one_line(
                scheduled.get("message") or (_last_event(view, POD, name, "FailedScheduling") or {}).get("message")
            )
            if "unbound immediate persistentvolumeclaims" in message.lower():
                return [
                    Finding(POD, name, "Pending", "waiting for its volume to be bound")
                ]  # the PVC's own lines say why
            return [_problem(POD, name, "Pending", "Unschedulable", message, _unschedulable_fix(message))]
        return [Finding(POD, name, "Pending", "waiting for the scheduler", fix=NO_SCHEDULER_FIX)]
    findings: list[Finding] = []
    for cs in _container_statuses(pod):
        container = cs.get("name", "?")
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason", "")
        message = _one_line(waiting.get("message"))
        if reason in ("ErrImagePull", "ImagePullBackOff"):
            image = _image_of(pod, container)
            # the node's own error: ErrImagePull's message, else the kubelet's last "Failed to pull image" event
            # (ImagePullBackOff only says "Back-off pulling image"; the "Error: ErrImagePull" events say nothing)
            pulls = [
                e
                for e in _events_for(view, POD, name)
                if e.get("reason") == "Failed" and "failed to pull" in (e.get("message") or "").lower()
            ]
            failed = max(pulls, key=_event_time) if pulls else None
            node_error = (
                message
                if reason == "ErrImagePull" and message
                else _one_line(failed.get("message"))
                if failed
                else message
            )
            seconds = pull_failing_for(f"{name}/{container}")
            definite = bool(DEFINITE_PULL.search(node_error)) or seconds >= pull_grace
            findings.append(
                _problem(
                    POD,
                    name,
                    reason,
                    reason,
                    f"image {image} cannot be pulled: {node_error or reason}",
                    f"check image.repository/image.tag ({image}) and that every node can reach that registry "
                    "(mirror it for clusters without internet access)",
                    fatal=definite,
                )
            )
        elif reason == "CreateContainerConfigError":
            findings.append(
                _problem(
                    POD,
                    name,
                    reason,
                    reason,
                    message or "the container's configuration refers to something missing",
                    _config_fix(message),
                    fatal=True,
                )
            )
        elif reason in ("CrashLoopBackOff", "RunContainerError", "CreateContainerError"):
            last = (cs.get("lastState") or {}).get("terminated") or {}
            exit_words = (
                f" (exit code {last['exitCode']}{', ' + last['reason'] if last.get('reason') else ''})"
                if "exitCode" in last
                else ""
            )
            logs = last_logs(name, container) if reason == "CrashLoopBackOff" else ""
            text = (
                f"container {container} keeps failing{exit_words}: {message}"
                if reason == "CrashLoopBackOff"
                else f"container {container}: {message}"
            )
            if logs:
                text += "\nlast log lines:\n" + logs
            findings.append(
                _problem(
                    POD,
                    name,
                    reason,
                    reason,
                    text,
                    "read the log lines above: usually a storage setting (S3 endpoint, bucket, keys) "
                    "or a volume the registry (uid 1000) cannot write",
                    fatal=reason == "CrashLoopBackOff",
                )
            )
        elif reason:
            findings.append(Finding(POD, name, reason, message))
    if findings:
        return findings
    mount = _last_event(view, POD, name, "FailedMount", "FailedAttachVolume")
    if status.get("phase") == "Pending" and mount is not None:
        return [
            _problem(
                POD,
                name,
                "ContainerCreating",
                mount.get("reason", "FailedMount"),
                _one_line(mount.get("message")),
                "a volume the pod needs is not there yet: check the Secret or PVC the message names",
            )
        ]
    ready = (conditions.get("Ready") or {}).get("status") == "True"
    if ready:
        return [Finding(POD, name, "Ready", f"on {(pod.get('spec') or {}).get('nodeName', '?')}")]
    if status.get("phase") == "Running":
        unhealthy = _last_event(view, POD, name, "Unhealthy")
        if unhealthy is not None and "readiness" in (unhealthy.get("message") or "").lower():
            return [
                _problem(
                    POD,
                    name,
                    "Running",
                    "ReadinessFailed",
                    _one_line(unhealthy.get("message")),
                    "the registry answers its readiness probe (GET / on port 5000) badly: check its storage "
                    "settings and logs",
                )
            ]
        return [Finding(POD, name, "Running", "waiting for the readiness probe")]
    return [Finding(POD, name, "ContainerCreating", f"on {(pod.get('spec') or {}).get('nodeName', '?')}")]


def replica_set_findings(view: ClusterView, deployment: str) -> list[Finding]:
    """The API server refuses the Deployment's pods (an admission policy, Pod Security, a quota): no pod appears, only
    its ReplicaSet's FailedCreate event says why."""
    latest: dict[str, dict[str, Any]] = {}
    for event in view.events:
        involved = event.get("involvedObject") or {}
        name = involved.get("name") or ""
        if (
            involved.get("kind") == REPLICA_SET
            and name.startswith(f"{deployment}-")
            and event.get("reason") == "FailedCreate"
        ):
            if name not in latest or _event_time(event) >= _event_time(latest[name]):
                latest[name] = event
    return [
        _problem(
            REPLICA_SET,
            name,
            "FailedCreate",
            "FailedCreate",
            _one_line(event.get("message")),
            "the API server refuses the registry's pods: change what its message names (a Pod Security level, a "
            "quota, an admission policy) or ask a cluster admin",
        )
        for name, event in sorted(latest.items())
    ]


def _unschedulable_fix(message: str) -> str:
    lowered = message.lower()
    if "persistentvolumeclaim" in lowered or "persistent volume" in lowered or "volume node affinity" in lowered:
        return (
            "the data volume cannot be bound for any node: see the PersistentVolumeClaim lines, or choose another "
            "storage class"
        )
    if "insufficient" in lowered:
        return "no node has the CPU/memory the pod requests: lower extras.resources or add capacity"
    if "taint" in lowered:
        return "every node has a taint the registry pod does not tolerate: untaint a node or add capacity"
    return "make a node fit the pod (see the scheduler's reason above)"


def _config_fix(message: str) -> str:
    match = re.search(r"couldn't find key (\S+) in Secret (\S+)", message)
    if match:
        key, secret = match.group(1), match.group(2)
        return (
            f"the Secret {secret} has no key {key}: re-run the installer (it writes the keys the chart reads) or add "
            "that key"
        )
    match = re.search(r'secret "([^"]+)" not found', message)
    if match:
        return f"create the Secret {match.group(1)} in the namespace, or re-run the installer"
    return "fix the Secret or ConfigMap the message names"


def timeout_error(findings: list[Finding] | None, timeout: str, namespace: str, deployment: str) -> InstallerError:
    """The error when the wait met its timeout: each object still not ready with its last state, and their fixes;
    "raise the timeout" only when none of them needed more than time. `findings`: the watch's last look (None: the
    watch could not look)."""
    head = f"the registry pods did not become ready in time (timeout {timeout})"
    if findings is None:
        return InstallerError(
            head,
            f"the installer could not watch the rollout (listing events is not allowed?): `kubectl -n {namespace} "
            "describe pods,pvc` says why; raise the timeout (--timeout) only when they were still starting",
        )
    stuck = [(f.stuck_words(), f.problem.fix if f.problem is not None else f.fix) for f in findings if not f.settled]
    if not any(f.kind != PVC for f in findings):  # no pod, and no ReplicaSet saying why not
        stuck.append(
            (
                f"Deployment {deployment} had no pod: nothing created one, nothing said why",
                "check that kube-controller-manager runs (it makes the Deployment's pods): "
                f"`kubectl -n {namespace} describe deployment {deployment}`",
            )
        )
    elif not stuck:
        stuck.append((f"Deployment {deployment} had not finished its rollout (its pods were ready)", ""))
    fixes = list(dict.fromkeys(fix for _words, fix in stuck if fix))
    lines = [head]  # the failed step's line shows this one; both front ends show the objects under it
    for words, fix in stuck[:MAX_STUCK_LINES]:
        lines.append(f"  • {words}")
        if fix and len(fixes) > 1:
            lines.append(f"    fix: {fix}")
    if len(stuck) > MAX_STUCK_LINES:
        lines.append(f"  • and {len(stuck) - MAX_STUCK_LINES} more: `kubectl -n {namespace} get pods,pvc`")
    if not fixes:
        hint = "they were still starting: raise the timeout (--timeout) and re-run the same command"
    elif len(fixes) == 1:
        hint = fixes[0]
    else:
        hint = "fix what each line above says, then re-run the same command"
    return InstallerError("\n".join(lines), hint)


def deployment_ready(deployment: dict[str, Any]) -> bool:
    """A Deployment's rollout is complete: its newest spec observed, every replica updated and available, no old
    replica left (what `helm --wait` and `kubectl rollout status` wait for)."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    want = spec.get("replicas", 1)
    return (
        status.get("observedGeneration", 0) >= (deployment.get("metadata") or {}).get("generation", 0)
        and status.get("updatedReplicas", 0) == want
        and status.get("availableReplicas", 0) == want
        and status.get("replicas", 0) == want
    )


class RolloutWatcher:
    """Polls one release's rollout on a thread while the installer waits; see the module docstring."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        release: str,
        claims: tuple[str, ...],
        on_event: EventSink,
        cancel: threading.Event | None = None,
        interval: float = 1.0,
        pull_grace: float = PULL_GRACE,
        app: str = "docker-registry",
        provisioner_grace: float = PROVISIONER_GRACE,
    ) -> None:
        self.kube, self.namespace, self.release, self.claims = kube, namespace, release, claims
        self.on_event, self.cancel, self.interval, self.pull_grace = on_event, cancel, interval, pull_grace
        self.stop = threading.Event()  # set on a fatal problem or the user's cancel: ends wait_ready's sleep
        self.selector = f"app={app},release={release}"
        self.failure: RolloutProblem | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: set[tuple[str, str, str, str]] = set()
        self._old_events: set[tuple[str, Any]] | None = None
        self._pull_since: dict[str, float] = {}
        self.provisioner_grace = provisioner_grace
        self._claim_since: dict[str, float] = {}  # claim -> when the watch first saw it waiting for its provisioner
        self.latest: list[Finding] | None = None  # the last poll's findings (None: the watch never saw the cluster)
        self._classes: dict[str, dict[str, Any]] = {}
        self._logs: dict[str, str] = {}

    def mark_old_events(self) -> None:
        """Remember the namespace's events as they are now: the watch explains only newer ones. Called before helm
        changes anything (else on entering), so the new rollout's first events count as new.

        Raises:
            Exception: the events cannot be listed (then the watch only waits, without explanations).
        """
        self._old_events = {self._event_key(e) for e in self._list_events()}

    def __enter__(self) -> "RolloutWatcher":
        try:
            if self._old_events is None:
                self.mark_old_events()
        except Exception as exc:  # e.g. not allowed to list events: the wait goes on, only without explanations
            log.info("not watching the rollout: %s", exc)
            self._thread = threading.Thread(target=self._pass_cancel_on, name="rollout-cancel", daemon=True)
            self._thread.start()
            return self
        self._thread = threading.Thread(target=self._run, name="rollout-watcher", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if (
            exc_type is None
            and self.failure is None
            and self._thread is not None
            and self._thread.name == "rollout-watcher"
        ):
            try:
                self.poll_once()  # the wait is over: show where things ended (Bound, Ready) even if it was quick
            except Exception as error:
                log.debug("last rollout poll failed: %s", error)

    def _run(self) -> None:
        next_poll = 0.0
        while not self._done.is_set():
            if self.cancel is not None and self.cancel.is_set():
                self.stop.set()  # the user's cancel ends the wait's sleep at once
            if time.monotonic() >= next_poll:
                try:
                    self.poll_once()
                except Exception as exc:  # the watch only explains; it must never break the install
                    log.debug("rollout watch poll failed: %s", exc)
                next_poll = time.monotonic() + self.interval
                if self.failure is not None:
                    self.stop.set()
                    return
            self._done.wait(0.1)

    def wait_ready(self, deployment: str, seconds: float, detach: threading.Event | None = None) -> str:
        """The installer's own wait, in place of helm's --wait (helm has returned; the release is deployed):
        "ready" once the Deployment is rolled out, "failed" on a problem no waiting cures (`failure`),
        "cancelled" (the user's cancel), "detached" (the user stopped waiting: `detach`), or "timeout"."""
        deadline = time.monotonic() + seconds
        path = f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{deployment}"
        while True:
            if self.failure is not None:
                return "failed"
            if self.cancel is not None and self.cancel.is_set():
                return "cancelled"
            if detach is not None and detach.is_set():
                return "detached"
            try:
                if deployment_ready(self.kube.get_json(f"read Deployment {deployment}", path)):
                    return "ready"
            except Exception as exc:  # not there yet, or a hiccup: the next look decides
                log.debug("reading the Deployment failed: %s", exc)
            if time.monotonic() >= deadline:
                return "timeout"
            self.stop.wait(self.interval)  # set by the watcher thread on a fatal problem or the user's cancel

    def timeout_error(self, timeout: str) -> InstallerError:
        """The timeout's error from the watch's last look (`timeout_error`)."""
        from installer.plan import chart_fullname

        return timeout_error(self.latest, timeout, self.namespace, chart_fullname(self.release))

    def _pass_cancel_on(self) -> None:
        while not self._done.wait(0.1):
            if self.cancel is not None and self.cancel.is_set():
                self.stop.set()
                return

    @staticmethod
    def _event_key(event: dict[str, Any]) -> tuple[str, Any]:
        meta = event.get("metadata") or {}
        return meta.get("uid", ""), event.get("count") or (event.get("series") or {}).get("count") or meta.get(
            "resourceVersion"
        )

    def _list_events(self) -> list[dict[str, Any]]:
        return self.kube.get_json("list events", f"/api/v1/namespaces/{self.namespace}/events").get("items") or []

    def view(self) -> ClusterView:
        """One look at the cluster: the release's pods and claims, new events, and the storage classes involved."""
        ns = self.namespace
        view = ClusterView()
        view.pods = (
            self.kube.get_json(
                "list the registry's pods", f"/api/v1/namespaces/{ns}/pods", {"labelSelector": self.selector}
            ).get("items")
            or []
        )
        for event in self._list_events():
            old = self._event_key(event) in (self._old_events or set())
            (view.earlier_events if old else view.events).append(event)
        if not self.claims:
            return view
        listed = self.kube.get_json("list PVCs", f"/api/v1/namespaces/{ns}/persistentvolumeclaims").get("items") or []
        by_name = {p["metadata"]["name"]: p for p in listed}
        view.claims = {name: by_name.get(name) for name in self.claims}
        pending = [p for p in view.claims.values() if p is not None and (p.get("status") or {}).get("phase") != "Bound"]
        if pending:
            self._load_classes(view, pending)
        return view

    def _load_classes(self, view: ClusterView, pending: list[dict[str, Any]]) -> None:
        from installer.kube import NotFound

        if not self._classes:
            listed = (
                self.kube.get_json("list storage classes", "/apis/storage.k8s.io/v1/storageclasses").get("items") or []
            )
            self._classes = {sc["metadata"]["name"]: sc for sc in listed}
        view.classes = dict(self._classes)
        view.default_class = next(
            (
                n
                for n, sc in self._classes.items()
                if ((sc.get("metadata") or {}).get("annotations") or {}).get(
                    "storageclass.kubernetes.io/is-default-class"
                )
                == "true"
            ),
            None,
        )
        for pvc in pending:
            name = (pvc.get("spec") or {}).get("storageClassName")
            if name and name not in view.classes:
                view.classes[name] = None
        if any((sc or {}).get("provisioner") == NO_PROVISIONER for sc in view.classes.values()):
            try:
                volumes = self.kube.get_json("list persistent volumes", "/api/v1/persistentvolumes").get("items") or []
            except (NotFound, Exception):  # forbidden for many users: fall back to the binder's events
                return
            view.free_volumes = {}
            for pv in volumes:
                if (pv.get("status") or {}).get("phase") == "Available":
                    cls = (pv.get("spec") or {}).get("storageClassName") or ""
                    view.free_volumes[cls] = view.free_volumes.get(cls, 0) + 1

    def poll_once(self) -> None:
        """Look once, emit what is new; sets `failure` on a fatal problem."""
        from installer.plan import chart_fullname

        view = self.view()
        findings: list[Finding] = []
        now = time.monotonic()
        for name, pvc in view.claims.items():
            found = claim_findings(name, pvc, view, now - self._claim_since.get(name, now), self.provisioner_grace)
            if any(f.state == "Provisioning" for f in found):
                self._claim_since.setdefault(name, now)
            else:
                self._claim_since.pop(name, None)
            findings += found
        pulling = set()
        for pod in view.pods:
            for cs in _container_statuses(pod):
                if ((cs.get("state") or {}).get("waiting") or {}).get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                    key = f"{pod['metadata']['name']}/{cs.get('name')}"
                    pulling.add(key)
                    self._pull_since.setdefault(key, now)
        self._pull_since = {k: v for k, v in self._pull_since.items() if k in pulling}

        def pull_failing_for(key: str) -> float:
            return now - self._pull_since.get(key, now)

        for pod in view.pods:
            findings += pod_findings(pod, view, pull_failing_for, self._last_logs, self.pull_grace)
        findings += replica_set_findings(view, chart_fullname(self.release))
        self.latest = findings
        for finding in findings:
            self._emit(finding)
            if finding.problem is not None and finding.problem.fatal and self.failure is None:
                self.failure = finding.problem

    def _emit(self, finding: Finding) -> None:
        problem = finding.problem
        if problem is not None:
            key = (finding.kind, finding.name, problem.reason, problem.message + str(problem.fatal))
            if key not in self._seen:
                self._seen.add(key)
                self.on_event(problem)
            return
        key = (finding.kind, finding.name, finding.state, finding.detail)
        if key not in self._seen:
            self._seen.add(key)
            self.on_event(RolloutStatus(finding.kind, finding.name, finding.state, finding.detail))

    def _last_logs(self, pod: str, container: str) -> str:
        key = f"{pod}/{container}"
        if key not in self._logs:
            try:
                text = self.kube.call(
                    f"read the logs of {pod}",
                    self.kube.core.read_namespaced_pod_log,
                    pod,
                    self.namespace,
                    container=container,
                    previous=True,
                    tail_lines=LOG_LINES,
                )
                self._logs[key] = "\n".join(line for line in (text or "").splitlines()[-LOG_LINES:])
            except Exception as exc:  # logs need the kubelet; say what we could not read and go on
                log.debug("no logs for %s: %s", key, exc)
                self._logs[key] = ""
        return self._logs[key]

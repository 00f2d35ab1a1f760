"""The rollout watcher's judgement on the API's JSON: what is a status, what is a problem, what ends the wait."""

from __future__ import annotations

import io

from installer.console import EventPrinter
from installer.events import RolloutProblem, RolloutStatus
from installer.watch import ClusterView, claim_findings, pod_findings, replica_set_findings

NS = "docker-registry"


def pod(
    name="docker-registry-7c9-abcde",
    scheduled=True,
    phase="Pending",
    waiting=None,
    ready=False,
    last=None,
    conditions=None,
    image="registry:3.0.0",
):
    status = {
        "phase": phase,
        "conditions": conditions
        if conditions is not None
        else [
            {"type": "PodScheduled", "status": "True" if scheduled else "False"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ],
    }
    if scheduled:
        cs = {
            "name": "docker-registry",
            "ready": ready,
            "restartCount": 3 if last else 0,
            "state": {"waiting": waiting}
            if waiting
            else ({"running": {}} if phase == "Running" else {"waiting": {"reason": "ContainerCreating"}}),
        }
        if last:
            cs["lastState"] = {"terminated": last}
        status["containerStatuses"] = [cs]
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {"nodeName": "node-1", "containers": [{"name": "docker-registry", "image": image}]},
        "status": status,
    }


def event(kind, name, reason, message):
    return {
        "metadata": {"uid": f"{name}-{reason}"},
        "involvedObject": {"kind": kind, "name": name},
        "reason": reason,
        "message": message,
        "lastTimestamp": "2026-11-28T17:00:00Z",
    }


def findings(p, view=None, seconds=0.0, logs=""):
    return pod_findings(p, view or ClusterView(), lambda _key: seconds, lambda _pod, _c: logs)


def test_a_missing_secret_key_is_fatal_and_names_the_key():
    msg = "couldn't find key s3AccessKey in Secret docker-registry/docker-registry-s3"
    [f] = findings(pod(waiting={"reason": "CreateContainerConfigError", "message": msg}))
    assert f.problem.fatal and f.problem.reason == "CreateContainerConfigError"
    assert f.problem.message == msg
    assert "docker-registry/docker-registry-s3 has no key s3AccessKey" in f.problem.fix


def test_a_pull_error_waits_for_the_grace_unless_the_image_does_not_exist():
    network = event(
        "Pod",
        "docker-registry-7c9-abcde",
        "Failed",
        'Failed to pull image "registry:3.0.0": dial tcp: lookup registry-1.docker.io: no such host',
    )
    p = pod(waiting={"reason": "ImagePullBackOff", "message": 'Back-off pulling image "registry:3.0.0"'})
    [early] = findings(p, ClusterView(events=[network]), seconds=5)
    assert (
        not early.problem.fatal
        and "no such host" in early.problem.message
        and "registry:3.0.0" in early.problem.message
    )
    [late] = findings(p, ClusterView(events=[network]), seconds=61)
    assert late.problem.fatal
    missing = event(
        "Pod",
        "docker-registry-7c9-abcde",
        "Failed",
        'Failed to pull image "registry:nope": rpc error: code = NotFound desc = failed to pull and unpack image '
        '"docker.io/library/registry:nope": failed to resolve reference: docker.io/library/registry:nope: not found',
    )
    [at_once] = findings(
        pod(waiting={"reason": "ImagePullBackOff", "message": "Back-off"}),
        ClusterView(events=[missing, event("Pod", "docker-registry-7c9-abcde", "Failed", "Error: ImagePullBackOff")]),
        seconds=0,
    )
    assert (
        at_once.problem.fatal
        and "image.tag" in at_once.problem.fix
        and "registry:nope: not found" in at_once.problem.message
    )


def test_a_crash_loop_is_fatal_and_carries_the_last_log_lines():
    p = pod(
        phase="Running",
        waiting={"reason": "CrashLoopBackOff", "message": "back-off 20s restarting failed container"},
        last={"exitCode": 1, "reason": "Error"},
    )
    [f] = findings(p, logs='level=fatal msg="s3aws: NoSuchBucket"')
    assert f.problem.fatal
    assert f.problem.message.splitlines()[0].startswith("container docker-registry keeps failing (exit code 1, Error)")
    assert f.problem.message.splitlines()[-1] == 'level=fatal msg="s3aws: NoSuchBucket"'


def test_unschedulable_gives_the_schedulers_reason():
    reason = "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available"
    p = pod(
        scheduled=False,
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": reason}],
    )
    [f] = findings(p)
    assert f.problem.reason == "Unschedulable" and f.problem.message == reason and not f.problem.fatal
    assert "extras.resources" in f.problem.fix


def test_a_pod_waiting_for_its_volume_is_no_problem_of_its_own():
    p = pod(
        scheduled=False,
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found",
            }
        ],
    )
    [f] = findings(p)
    assert (f.state, f.problem) == ("Pending", None)


def test_readiness_failing_and_ready():
    p = pod(phase="Running")
    [waiting] = findings(p)
    assert (waiting.state, waiting.problem) == ("Running", None)
    unhealthy = event(
        "Pod", p["metadata"]["name"], "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"
    )
    [f] = findings(p, ClusterView(events=[unhealthy]))
    assert f.problem.reason == "ReadinessFailed" and "503" in f.problem.message and not f.problem.fatal
    [ready] = findings(pod(phase="Running", ready=True))
    assert (ready.state, ready.detail) == ("Ready", "on node-1")


def pvc(name="docker-registry", phase="Pending", cls="local-path", size="10Gi"):
    return {
        "metadata": {"name": name},
        "spec": {"storageClassName": cls, "resources": {"requests": {"storage": size}}, "volumeName": "pv-1"},
        "status": {"phase": phase, **({"capacity": {"storage": size}} if phase == "Bound" else {})},
    }


def test_a_class_without_provisioner_and_no_free_volume_is_fatal():
    view = ClusterView(
        classes={
            "manual": {"provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"}
        },
        free_volumes={},
    )
    [f] = claim_findings("docker-registry", pvc(cls="manual"), view)
    assert f.problem.fatal and f.problem.reason == "NoProvisioner"
    assert "StorageClass manual has no provisioner" in f.problem.message and "10Gi" in f.problem.fix
    view.free_volumes = {"manual": 1}
    [ok] = claim_findings("docker-registry", pvc(cls="manual"), view)
    assert ok.problem is None  # an admin made a volume: it may bind


def test_claim_states():
    wffc = ClusterView(
        classes={"local-path": {"provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}}
    )
    [f] = claim_findings("docker-registry", pvc(), wffc)
    assert f.state == "WaitForFirstConsumer" and f.problem is None
    failed = event(
        "PersistentVolumeClaim", "docker-registry", "ProvisioningFailed", "failed to provision volume: pool full"
    )
    [p] = claim_findings("docker-registry", pvc(), ClusterView(classes=wffc.classes, events=[failed]))
    assert (
        p.problem.reason == "ProvisioningFailed"
        and p.problem.message == "failed to provision volume: pool full"
        and not p.problem.fatal
    )
    [b] = claim_findings("docker-registry", pvc(phase="Bound"), wffc)
    assert (b.state, b.detail) == ("Bound", "volume pv-1, 10Gi")
    [gone] = claim_findings("docker-registry", pvc(cls="nope"), ClusterView(classes={"nope": None}))
    assert gone.problem.fatal and "does not exist" in gone.problem.message


def test_the_console_prints_statuses_problems_and_log_lines():
    out = io.StringIO()
    printer = EventPrinter(out=out)
    printer(RolloutStatus("PersistentVolumeClaim", "docker-registry", "Bound", "volume pv-1, 10Gi"))
    printer(
        RolloutProblem(
            "Pod", "p", "CrashLoopBackOff", "container keeps failing\nlast log lines:\nboom", "read the log", fatal=True
        )
    )
    lines = out.getvalue().splitlines()
    assert lines[0] == "       rollout: PersistentVolumeClaim docker-registry: Bound  volume pv-1, 10Gi"
    assert lines[1] == "       STOP: Pod p: CrashLoopBackOff: container keeps failing"
    assert lines[3] == "         | boom" and lines[4] == "         fix: read the log"


def test_pods_the_api_server_refuses_are_explained_from_the_replica_sets_event():
    refused = 'Error creating: pods "docker-registry-7c9-" is forbidden: exceeded quota: pods, requested: pods=1'
    view = ClusterView(
        events=[
            event("ReplicaSet", "docker-registry-7c9", "FailedCreate", refused),
            event("ReplicaSet", "other-app-5d4", "FailedCreate", "not ours"),
            event("ReplicaSet", "docker-registry-7c9", "SuccessfulCreate", "Created pod: docker-registry-7c9-x"),
        ]
    )
    (found,) = replica_set_findings(view, "docker-registry")
    problem = found.problem
    assert problem is not None and not problem.fatal, "a quota or policy may change: the wait goes on"
    assert (problem.kind, problem.name, problem.reason) == ("ReplicaSet", "docker-registry-7c9", "FailedCreate")
    assert problem.message == refused and "quota" in problem.fix
    assert replica_set_findings(ClusterView(), "docker-registry") == []

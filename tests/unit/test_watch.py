"""The rollout watcher's judgement on the API's JSON: what is a status, what is a problem, what ends the wait."""

from __future__ import annotations

import io

from installer.console import EventPrinter
from installer.events import RolloutProblem, RolloutStatus
from installer.watch import ClusterView, claim_findings, pod_findings, replica_set_findings, timeout_error

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


def unschedulable_pod(message):
    """A pod the scheduler could not place, in the scheduler's words (PodScheduled False, reason Unschedulable)."""
    return pod(
        scheduled=False,
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}],
    )


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
    p = unschedulable_pod(reason)
    [f] = findings(p)
    assert f.problem.reason == "Unschedulable" and f.problem.message == reason and not f.problem.fatal
    assert "extras.resources" in f.problem.fix


def test_a_pod_waiting_for_its_volume_is_no_problem_of_its_own():
    p = unschedulable_pod("0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found")
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


# a claim of the seed preset on a Rook cluster, and what the cluster says about it (events as recorded from
# kube-controller-manager's PV controller and ceph-csi's external-provisioner sidecar)
ROOK = "rook-ceph.rbd.csi.ceph.com"
ROOK_CLASS = {"rook-ceph-block": {"provisioner": ROOK, "volumeBindingMode": "Immediate"}}
CLAIM_UID = "5c1e0f7a-claim"


def rook_claim(annotations=None):
    claim = pvc(cls="rook-ceph-block", size="100Gi")
    claim["metadata"].update(uid=CLAIM_UID, annotations=annotations or {})
    return claim


def claim_event(reason, message, uid=CLAIM_UID, at="2026-11-28T17:00:00Z"):
    found = event("PersistentVolumeClaim", "docker-registry", reason, message)
    found["involvedObject"]["uid"] = uid
    found["metadata"]["uid"] = f"{uid}-{reason}"
    found["lastTimestamp"] = at
    return found


HANDED_OVER = claim_event(
    "ExternalProvisioning",
    f"Waiting for a volume to be created either by the external provisioner '{ROOK}' or manually by the system "
    "administrator. If volume creation is delayed, please verify that the provisioner is running and correctly "
    "registered.",
)
STARTED = claim_event(
    "Provisioning", 'External provisioner is provisioning volume for claim "docker-registry/docker-registry"'
)


def test_a_silent_provisioner_is_a_problem_after_the_grace_and_the_wait_goes_on():
    """The coordinator's cluster: rook-ceph-block's provisioner is not running. Only the PV controller says it handed
    the claim over; after 60 s without a word from the provisioner the watch says so, names it and what to check,
    and keeps waiting (the provisioner may be starting or failing over)."""
    view = ClusterView(classes=ROOK_CLASS, events=[HANDED_OVER])
    [early] = claim_findings("docker-registry", rook_claim(), view, waited=30)
    assert early.problem is None and early.state == "Provisioning"
    assert early.detail == f"waiting for {ROOK} to make a 100Gi volume of class rook-ceph-block"
    [late] = claim_findings("docker-registry", rook_claim(), view, waited=61)
    problem = late.problem
    assert problem is not None and problem.reason == "ProvisionerSilent" and not problem.fatal
    assert problem.message.startswith(f"no answer from {ROOK} about PVC docker-registry in 60s")
    assert "`kubectl -n rook-ceph get pods -l app=csi-rbdplugin-provisioner`" in problem.fix
    assert "storage.filesystem.storage_class" in problem.fix
    assert early.fix == problem.fix, "the timeout error gives the same fix before the grace is over"
    assert late.stuck_words() == (
        f"PersistentVolumeClaim docker-registry was still waiting for {ROOK} to make a 100Gi volume of class "
        "rook-ceph-block after 61s (no answer from that provisioner)"
    )


def test_a_provisioner_that_answered_is_slow_not_silent():
    """An answer (the sidecar's Provisioning event), even from before the watch started, means the provisioner runs:
    no problem however long it takes. An event about an earlier claim of the same name (another uid) is no answer."""
    for view in (
        ClusterView(classes=ROOK_CLASS, events=[HANDED_OVER, STARTED]),
        ClusterView(classes=ROOK_CLASS, events=[HANDED_OVER], earlier_events=[STARTED]),
    ):
        [slow] = claim_findings("docker-registry", rook_claim(), view, waited=600)
        assert slow.problem is None and slow.fix == ""
        assert slow.detail == f"{ROOK} is making a 100Gi volume of class rook-ceph-block"
        assert "is provisioning volume for claim" in slow.stuck_words()
    earlier_claim = claim_event("ProvisioningSucceeded", "Successfully provisioned volume pvc-1", uid="old-claim")
    view = ClusterView(classes=ROOK_CLASS, earlier_events=[earlier_claim])
    [silent] = claim_findings("docker-registry", rook_claim(), view, waited=61)
    assert silent.problem is not None and silent.problem.reason == "ProvisionerSilent"


def test_a_silent_csi_driver_gets_the_generic_checks():
    view = ClusterView(classes={"gp3": {"provisioner": "ebs.csi.aws.com", "volumeBindingMode": "Immediate"}})
    [f] = claim_findings("docker-registry", pvc(cls="gp3"), view, waited=90)
    assert "`kubectl get csidriver ebs.csi.aws.com`" in f.problem.fix and "controller pods" in f.problem.fix
    assert "rook-ceph" not in f.problem.fix


def test_a_wait_for_first_consumer_claim_is_the_provisioners_once_the_scheduler_picked_a_node():
    wffc = {"local-path": {"provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}}
    claim = pvc()
    [before] = claim_findings("docker-registry", claim, ClusterView(classes=wffc), waited=300)
    assert before.state == "WaitForFirstConsumer" and before.problem is None
    claim["metadata"]["annotations"] = {"volume.kubernetes.io/selected-node": "node-1"}
    [after] = claim_findings("docker-registry", claim, ClusterView(classes=wffc), waited=300)
    assert after.problem is not None and after.problem.reason == "ProvisionerSilent"
    assert "rancher.io/local-path" in after.problem.message


def stuck_error(findings, timeout="45s"):
    return timeout_error(findings, timeout, NS, "docker-registry")


def test_the_timeout_error_names_the_silent_provisioner_and_its_fix():
    """The coordinator's run ended with "see the rollout lines above"; now the error itself names the claim, the
    provisioner, its last state and the fix, and does not suggest a longer timeout for a provisioner that never
    answered. Here, as on the test cluster, no pod ever appeared either (no controller-manager)."""
    [claim] = claim_findings("docker-registry", rook_claim(), ClusterView(classes=ROOK_CLASS), waited=45)
    error = stuck_error([claim])
    lines = error.message.splitlines()
    assert lines[0] == "the registry pods did not become ready in time (timeout 45s)"
    assert lines[1] == (
        f"  • PersistentVolumeClaim docker-registry was still waiting for {ROOK} to make a 100Gi volume of class "
        "rook-ceph-block after 45s (no answer from that provisioner)"
    )
    assert lines[2].startswith("    fix: check Rook's CSI provisioner: `kubectl -n rook-ceph get pods -l app=csi-rbd")
    assert lines[3] == "  • Deployment docker-registry had no pod: nothing created one, nothing said why"
    assert "kube-controller-manager" in lines[4]
    assert error.hint == "fix what each line above says, then re-run the same command"
    assert "--timeout" not in str(error)


def test_the_timeout_error_gives_one_fix_as_the_hint_and_keeps_the_pod_waiting_for_its_volume():
    """A real cluster: the pod exists, Pending on the unbound claim; the claim's fix is the error's fix."""
    waiting = unschedulable_pod("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.")
    [claim] = claim_findings("docker-registry", rook_claim(), ClusterView(classes=ROOK_CLASS), waited=600)
    error = stuck_error([claim, *findings(waiting)], "10m")
    assert "(timeout 10m)" in error.message and f"waiting for {ROOK}" in error.message
    assert "Pod docker-registry-7c9-abcde was still Pending (waiting for its volume to be bound)" in error.message
    assert "fix:" not in error.message and error.hint == claim.problem.fix


def test_the_timeout_error_gives_the_schedulers_reason():
    reason = "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available"
    unschedulable = unschedulable_pod(reason)
    error = stuck_error(findings(unschedulable))
    assert f"  • Pod docker-registry-7c9-abcde: Unschedulable: {reason}" in error.message.splitlines()
    assert "extras.resources" in error.hint and "--timeout" not in error.hint
    [unplaced] = findings(pod(scheduled=False))
    assert "kube-scheduler" in stuck_error([unplaced]).hint, "no decision at all: nothing schedules"


def test_the_timeout_error_says_raise_the_timeout_only_while_things_were_still_starting():
    pulling = pod(waiting={"reason": "ContainerCreating"})
    starting = pod(name="docker-registry-7c9-fghij", phase="Running")
    [bound] = claim_findings("docker-registry", pvc(phase="Bound"), ClusterView())
    error = stuck_error([bound, *findings(pulling), *findings(starting)])
    assert "Pod docker-registry-7c9-abcde was still ContainerCreating" in error.message
    assert "Pod docker-registry-7c9-fghij was still Running (waiting for the readiness probe)" in error.message
    assert "PersistentVolumeClaim" not in error.message, "a Bound claim is not what held things up"
    assert "raise the timeout (--timeout)" in error.hint
    failing = event(
        "Pod",
        "docker-registry-7c9-fghij",
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
    )
    error = stuck_error(findings(starting, ClusterView(events=[failing])))
    assert "ReadinessFailed: Readiness probe failed" in error.message and "--timeout" not in error.hint


def test_the_timeout_error_without_a_watch_says_how_to_look():
    error = stuck_error(None)
    assert error.message == "the registry pods did not become ready in time (timeout 45s)"
    assert "kubectl -n docker-registry describe pods,pvc" in error.hint


def test_the_timeout_error_says_what_a_claim_waiting_for_a_pre_made_volume_needs():
    """Claims no provisioner serves: the timeout error says what would let them bind. A WaitForFirstConsumer one
    waits for the pod, whose own line says why it is not placed."""
    manual = {"provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate"}
    [claim] = claim_findings("docker-registry", pvc(cls="manual"), ClusterView(classes={"manual": manual}))
    error = stuck_error([claim, *findings(pod(phase="Running"))])
    assert "PersistentVolumeClaim docker-registry was still Pending (waiting for a pre-made" in error.message
    assert error.hint.startswith("no free PersistentVolume of class manual fits: check their size (at least 10Gi)")
    wffc = ClusterView(classes={"manual": {**manual, "volumeBindingMode": "WaitForFirstConsumer"}})
    [waiting] = claim_findings("docker-registry", pvc(cls="manual"), wffc)
    assert waiting.fix == "" and "raise the timeout" in stuck_error([waiting, *findings(pod(phase="Running"))]).hint
    classless = pvc()
    classless["spec"]["storageClassName"] = ""
    [bare] = claim_findings("docker-registry", classless, ClusterView())
    assert "create a PersistentVolume without a class of at least 10Gi" in stuck_error([bare]).message

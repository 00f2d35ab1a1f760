"""A claim no provisioner answers, against the real kube-apiserver: the watch says so while it waits, and the timeout
error names the claim, the provisioner and the fix (the seeded StorageClass rook-ceph-block has no provisioner
running here)."""

from __future__ import annotations

import time

import pytest

from installer.kube import KubeClient
from installer.watch import RolloutWatcher
from tests.conftest import helm_path
from tests.test_cluster_install import apply_preset, core, release_secrets

pytestmark = pytest.mark.cluster
ROOK = "rook-ceph.rbd.csi.ceph.com"


def test_apply_whose_claim_no_provisioner_answers_names_it_in_the_timeout_error(kube_cluster):
    """The coordinator's run: `apply --timeout` on the seed preset. The error said "see the rollout lines above";
    now it says which object was stuck, how, and what to check, and the failed first install is removed."""
    namespace = "silent-provisioner"
    proc = apply_preset(kube_cluster, helm_path("helm4"), namespace, "--skip-smoke", "--timeout", "6s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rollout: PersistentVolumeClaim docker-registry: Provisioning" in proc.stdout, proc.stdout
    error = proc.stderr
    assert "error: the registry pods did not become ready in time (timeout 6s)\n" in error, error
    assert (
        f"  • PersistentVolumeClaim docker-registry was still waiting for {ROOK} to make a 100Gi volume of class "
        "rook-ceph-block after " in error
    ), error
    assert "(no answer from that provisioner)" in error
    assert (
        "fix: check Rook's CSI provisioner: `kubectl -n rook-ceph get pods -l app=csi-rbdplugin-provisioner`" in error
    )
    assert "storage.filesystem.storage_class" in error
    assert "see the rollout lines above" not in error and "--timeout" not in error, "waiting longer cures nothing"
    assert "Nothing is left installed. The Secrets are as they were." in error and "Traceback" not in error
    assert "[ ok ] rollback" in proc.stdout and "failed first install removed" in proc.stdout
    assert release_secrets(kube_cluster, namespace) == []
    claims = core(kube_cluster).list_namespaced_persistent_volume_claim(namespace).items
    # deleted by the rollback (no pvc-protection controller runs here to finish the deletion)
    assert all(c.metadata.deletion_timestamp is not None for c in claims), [c.metadata.name for c in claims]


def test_the_watch_reports_a_silent_provisioner_once_and_then_its_answer(kube_cluster):
    """The watch on the real API server with a 1 s grace: the claim's status, then (no word from the provisioner) the
    problem, once, not fatal; then the provisioner's Provisioning event (posted here as ceph-csi's sidecar does) turns
    it back into a status."""
    from kubernetes import client

    namespace = "silent-provisioner-watch"
    api = core(kube_cluster)
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    claim = api.create_namespaced_persistent_volume_claim(
        namespace,
        client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="docker-registry"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                storage_class_name="rook-ceph-block",
                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
            ),
        ),
    )
    seen = []
    kube = KubeClient(context="admin", kubeconfig=str(kube_cluster.kubeconfig))
    watcher = RolloutWatcher(kube, namespace, "docker-registry", ("docker-registry",), seen.append, provisioner_grace=1)
    watcher.mark_old_events()
    watcher.poll_once()
    assert [(e.kind, e.state) for e in seen] == [("PersistentVolumeClaim", "Provisioning")], seen
    time.sleep(1.5)  # past the grace: no event came from the provisioner
    watcher.poll_once()
    watcher.poll_once()
    problems = [e for e in seen if hasattr(e, "reason")]
    assert len(problems) == 1, seen
    assert problems[0].reason == "ProvisionerSilent" and not problems[0].fatal and watcher.failure is None
    assert ROOK in problems[0].message and "app=csi-rbdplugin-provisioner" in problems[0].fix
    api.create_namespaced_event(
        namespace,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name="docker-registry."),
            involved_object=client.V1ObjectReference(
                kind="PersistentVolumeClaim",
                name="docker-registry",
                namespace=namespace,
                uid=claim.metadata.uid,
                api_version="v1",
            ),
            reason="Provisioning",
            message=f'External provisioner is provisioning volume for claim "{namespace}/docker-registry"',
            type="Normal",
            source=client.V1EventSource(component=f"{ROOK}_csi-rbdplugin-provisioner-5d9f8-x7k2q"),
        ),
    )
    watcher.poll_once()
    assert (seen[-1].state, seen[-1].detail) == (
        "Provisioning",
        f"{ROOK} is making a 1Gi volume of class rook-ceph-block",
    )
    said = f"({ROOK} said: External provisioner is provisioning volume for claim"
    assert said in watcher.timeout_error("1m").message, "the timeout error tells a slow provisioner from a silent one"

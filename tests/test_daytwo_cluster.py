"""Day two against the real API server (no kubelet: pods never run): status, gc's refusals, grow.

What needs running pods (kubelet usage, the GC Job, 405 during the read-only window, a real
resize) is in tests/test_daytwo_node.py on the real node.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import PRESETS, helm_path
from tests.test_cluster_install import apply_seed, bind_claim, cli, core, release_secrets

pytestmark = [pytest.mark.cluster, pytest.mark.helm]


def record_a_collection(cluster, namespace: str) -> None:
    """The installer's own record of one collection (2026-11-01T01:00:00Z, ok, freed 3 MiB, read-only 41.2 s), as
    status reads it for "last gc"."""
    core(cluster).create_namespaced_config_map(
        namespace,
        {
            "metadata": {
                "name": "docker-registry-installer-gc",
                "labels": {"app.kubernetes.io/managed-by": "registry-installer"},
            },
            "data": {
                "history.json": json.dumps(
                    [{"time": "2026-11-01T01:00:00Z", "ok": True, "freed_bytes": 3 * 2**20, "readonly_seconds": 41.2}]
                )
            },
        },
    )


def test_status_of_an_installed_release_and_of_none(kube_cluster, tmp_path):
    helm = helm_path("helm3")
    namespace = "status-api"
    proc = apply_seed(kube_cluster, helm, namespace, preset=PRESETS / "minimal.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = cli(kube_cluster, "status", "--json", "--namespace", namespace)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["installed"] and status["revision"] == 1 and status["release_status"] == "deployed"
    assert status["chart"] == "docker-registry-3.0.0"
    assert (status["claim"], status["claim_owner"], status["claim_requested"]) == (
        "docker-registry",
        "installer",
        "100Gi",
    )
    assert status["storage_class"] == "rook-ceph-block" and status["expandable"] is True
    assert status["tls_secret"] == "docker-registry-tls" and 300 < status["tls_days_left"] <= 3660
    assert status["pods_total"] == 0 and status["usage"] is None and status["last_gc"] is None
    assert any("0/0 registry pods ready" in w for w in status["warnings"])
    assert any("no address yet" in w for w in status["warnings"])

    # the installer's own record of a collection shows as "last gc"
    record_a_collection(kube_cluster, namespace)
    human = cli(kube_cluster, "status", "--namespace", namespace)
    assert human.returncode == 0, human.stderr
    assert "volume:    PVC docker-registry 100Gi" in human.stdout and "expandable" in human.stdout
    assert "last gc:   2026-11-01T01:00:00Z ok, freed 3 MiB, read-only 41 s" in human.stdout
    assert "usage:     unknown" in human.stdout

    # a scheduled run that found the lock held is recorded (by the CronJob's script) and is the last gc status shows
    skipped = {
        "time": "2026-11-02T01:00:00Z",
        "ok": False,
        "scheduled": True,
        "skipped": True,
        "error": "skipped: the release's lock is held by host/1/a (since 2026-11-02T00:59:00Z); nothing changed",
    }
    core(kube_cluster).patch_namespaced_config_map(
        "docker-registry-installer-gc", namespace, {"data": {"scheduled.json": json.dumps(skipped)}}
    )
    human = cli(kube_cluster, "status", "--namespace", namespace)
    assert (
        "last gc:   2026-11-02T01:00:00Z (scheduled) skipped: the release's lock is held by host/1/a (since "
        "2026-11-02T00:59:00Z); nothing changed\n" in human.stdout
    ), human.stdout

    none = cli(kube_cluster, "status", "--namespace", "nothing-here")
    assert none.returncode == 1 and "release docker-registry is not installed in namespace nothing-here" in none.stdout


def test_gc_refuses_without_a_running_registry_and_changes_nothing(kube_cluster):
    helm = helm_path("helm4")
    namespace = "gc-api"
    assert apply_seed(kube_cluster, helm, namespace).returncode == 0
    unconfirmed = cli(kube_cluster, "gc", "--namespace", namespace, helm=helm)
    assert unconfirmed.returncode == 2 and "pass --yes" in unconfirmed.stderr
    proc = cli(kube_cluster, "gc", "--yes", "--namespace", namespace, helm=helm)
    assert proc.returncode == 1
    assert "no registry pod of release docker-registry is ready" in proc.stderr and "Traceback" not in proc.stderr
    assert [r["version"] for r in release_secrets(kube_cluster, namespace)] == [1], "no read-only revision may be made"
    missing = cli(kube_cluster, "gc", "--yes", "--namespace", "gc-nothing", helm=helm)
    assert missing.returncode == 1 and "is not installed in namespace gc-nothing" in missing.stderr


def _pvc(cluster, namespace):
    return core(cluster).read_namespaced_persistent_volume_claim("docker-registry", namespace)


def test_grow_expands_the_installers_pvc_and_records_the_size(kube_cluster, helm_binary):
    namespace = f"grow-{helm_binary.name}"
    assert apply_seed(kube_cluster, helm_binary, namespace).returncode == 0
    unbound = cli(kube_cluster, "grow", "--size", "200Gi", "--yes", "--namespace", namespace, helm=helm_binary)
    assert unbound.returncode == 1 and "only bound volumes can grow" in unbound.stderr
    bind_claim(kube_cluster, namespace, "docker-registry", "100Gi")
    shrink = cli(kube_cluster, "grow", "--size", "50Gi", "--yes", "--namespace", namespace, helm=helm_binary)
    assert shrink.returncode == 1 and "cannot shrink" in shrink.stderr and "registry-installer gc" in shrink.stderr
    bad = cli(kube_cluster, "grow", "--size", "lots", "--yes", "--namespace", namespace, helm=helm_binary)
    assert bad.returncode == 2 and "--size 'lots'" in bad.stderr

    grown = cli(
        kube_cluster, "grow", "--size", "200Gi", "--yes", "--timeout", "3s", "--namespace", namespace, helm=helm_binary
    )
    assert grown.returncode == 0, grown.stdout + grown.stderr
    assert "the storage driver has not finished (no resize condition yet)" in grown.stdout
    assert _pvc(kube_cluster, namespace).spec.resources.requests["storage"] == "200Gi"
    releases = release_secrets(kube_cluster, namespace)
    assert releases[-1]["info"]["status"] == "deployed" and releases[-1]["config"]["persistence"]["size"] == "200Gi"
    assert "PersistentVolumeClaim" not in releases[-1]["manifest"]
    assert [r["version"] for r in release_secrets(kube_cluster, namespace)] == [1, 2]

    # play the resize controller: the volume grew, the filesystem waits for the pod to restart
    core(kube_cluster).patch_namespaced_persistent_volume_claim_status(
        "docker-registry",
        namespace,
        {
            "status": {
                "conditions": [
                    {
                        "type": "FileSystemResizePending",
                        "status": "True",
                        "message": "Waiting for user to (re-)start a pod to finish file system resize",
                    }
                ]
            }
        },
    )
    pending = cli(
        kube_cluster, "grow", "--size", "300Gi", "--yes", "--timeout", "3s", "--namespace", namespace, helm=helm_binary
    )
    assert pending.returncode == 0, pending.stdout + pending.stderr
    assert "its filesystem grows when the registry pod next starts" in pending.stdout
    assert f"kubectl -n {namespace} rollout restart deployment/docker-registry" in pending.stdout
    status = json.loads(cli(kube_cluster, "status", "--json", "--namespace", namespace).stdout)
    assert "FileSystemResizePending" in status["claim_conditions"]
    assert any("waits for its filesystem to grow" in w for w in status["warnings"])

    # a PVC that asks for more than the release's values say (a grow whose record was rolled back, or kubectl by
    # hand): grow records it, and then it is "already" that size
    core(kube_cluster).patch_namespaced_persistent_volume_claim(
        "docker-registry", namespace, {"spec": {"resources": {"requests": {"storage": "400Gi"}}}}
    )
    recorded = cli(
        kube_cluster, "grow", "--size", "400Gi", "--yes", "--timeout", "3s", "--namespace", namespace, helm=helm_binary
    )
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert "asks for 400Gi already; the release's values say 300Gi" in recorded.stdout, recorded.stdout
    assert release_secrets(kube_cluster, namespace)[-1]["config"]["persistence"]["size"] == "400Gi"
    again = cli(kube_cluster, "grow", "--size", "400Gi", "--yes", "--namespace", namespace, helm=helm_binary)
    assert again.returncode == 1 and "PVC docker-registry is already 400Gi" in again.stderr, again.stderr


def test_grow_is_refused_on_a_class_without_expansion(kube_cluster, tmp_path):
    helm = helm_path("helm3")
    namespace = "grow-noexpand"
    preset = tmp_path / "noexpand.yaml"
    preset.write_text(
        (PRESETS / "rook-ceph-nginx.yaml")
        .read_text()
        .replace("storage_class: rook-ceph-block", "storage_class: standard-noexpand")
    )
    assert apply_seed(kube_cluster, helm, namespace, preset=preset).returncode == 0
    bind_claim(kube_cluster, namespace, "docker-registry", "100Gi")
    proc = cli(kube_cluster, "grow", "--size", "200Gi", "--yes", "--namespace", namespace, helm=helm)
    assert proc.returncode == 1
    assert (
        "StorageClass standard-noexpand does not allow volume expansion: PVC docker-registry stays 100Gi" in proc.stderr
    )
    assert "allowVolumeExpansion: true" in proc.stderr and "skopeo sync" in proc.stderr and "S3" in proc.stderr
    assert _pvc(kube_cluster, namespace).spec.resources.requests["storage"] == "100Gi"
    assert len(release_secrets(kube_cluster, namespace)) == 1

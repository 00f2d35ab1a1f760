"""Faults reproduced for real against the real API server and helm: nothing lost, re-runs converge."""

from __future__ import annotations

import base64
import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import PRESETS, ROOT, apply_args
from tests.fixtures.cluster import deny_in_namespace
from tests.test_cluster_install import PASSWORD, apply_preset, apply_seed, cli, core, release_secrets

pytestmark = [pytest.mark.faults, pytest.mark.cluster]


def _auth_secret(cluster, namespace):
    return base64.b64decode(
        core(cluster).read_namespaced_secret("docker-registry-basic-auth", namespace).data["auth"]
    ).decode()


def _deny_metrics_port(cluster, namespace):
    """A ValidatingAdmissionPolicy that makes the API server reject a Service with a metrics port in `namespace`
    (the upgrade adds one; the rollback takes it away again, which the policy lets through)."""
    deny_in_namespace(
        cluster,
        f"deny-metrics-{namespace}",
        namespace,
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["services"]},
        {
            "expression": "!object.spec.ports.exists(p, has(p.name) && p.name == 'http-metrics')",
            "message": "metrics ports are not allowed here (test policy)",
        },
    )


def test_rejected_upgrade_rolls_back_and_restores_secrets(kube_cluster, helm_binary, tmp_path):
    namespace = f"fail-{helm_binary.name}"
    assert apply_seed(kube_cluster, helm_binary, namespace).returncode == 0
    before = _auth_secret(kube_cluster, namespace)
    _deny_metrics_port(kube_cluster, namespace)
    # metrics add a port to the chart's Service: helm's upgrade is what the server rejects (the installer's own
    # objects, e.g. a garbage collection CronJob, are applied after helm and would not make helm roll back)
    preset = tmp_path / "metrics.yaml"
    preset.write_text((PRESETS / "rook-ceph-nginx.yaml").read_text() + "extras:\n  metrics: true\n")
    proc = apply_seed(
        kube_cluster, helm_binary, namespace, preset=preset, env={"REGISTRY_PASSWORD": "a-new-password-1"}
    )
    assert proc.returncode == 1, proc.stdout
    assert "metrics ports are not allowed here" in proc.stderr
    assert "The previous registry (revision 1) is still running" in proc.stderr and "Traceback" not in proc.stderr
    assert "[ ok ] rollback" in proc.stdout
    releases = release_secrets(kube_cluster, namespace)
    assert releases[-1]["info"]["status"] == "deployed" and releases[-1]["config"] == releases[0]["config"]
    assert _auth_secret(kube_cluster, namespace) == before, "the basic-auth Secret must be restored"


def test_helm_timeout_rolls_back(kube_cluster, helm_binary):
    namespace = f"timeout-{helm_binary.name}"
    assert apply_seed(kube_cluster, helm_binary, namespace).returncode == 0
    # waiting for pods that never run (no kubelet here) meets the timeout for real
    proc = apply_preset(kube_cluster, helm_binary, namespace, "--skip-smoke", "--timeout", "4s")
    assert proc.returncode == 1
    # helm ran without --wait; the installer's own wait (the wizard's too) met the timeout and rolled back
    assert "waiting up to 4s for the registry's pods" in proc.stdout, proc.stdout
    assert "did not become ready in time" in proc.stderr, proc.stderr
    assert "The previous registry (revision 1) is still running" in proc.stderr
    releases = release_secrets(kube_cluster, namespace)
    assert releases[-1]["info"]["status"] == "deployed"
    assert releases[-1]["config"] == releases[0]["config"]


def _start_apply(cluster, helm, namespace, *extra):
    argv = [
        sys.executable,
        "-m",
        "installer",
        *apply_args(PRESETS / "rook-ceph-nginx.yaml", namespace),
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--context",
        "admin",
        "--helm",
        str(helm),
        *extra,
    ]
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "REGISTRY_PASSWORD": PASSWORD},
        start_new_session=True,
    )


def _read_until(proc, marker, timeout=120):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return seen
    raise AssertionError(f"never saw {marker!r}: {''.join(seen)}")


def _finish_claim_deletion(cluster, namespace):
    """The rollback of a first install deletes the PVC it made. A real cluster's pvc-protection controller then drops
    the finalizer (no pod mounts the claim any more) and the PVC is gone; this cluster has no controllers, so the test
    does that step. Without it the re-run finds the PVC being deleted and (rightly) will not reuse it."""
    api = core(cluster)
    claims = api.list_namespaced_persistent_volume_claim(namespace).items
    for claim in claims:
        assert claim.metadata.deletion_timestamp is not None, f"the rollback left PVC {claim.metadata.name} in place"
        assert claim.metadata.finalizers == ["kubernetes.io/pvc-protection"], claim.metadata.finalizers
        api.patch_namespaced_persistent_volume_claim(claim.metadata.name, namespace, {"metadata": {"finalizers": None}})


@pytest.mark.parametrize("helm_name,signum", [("helm3", signal.SIGTERM), ("helm4", signal.SIGINT)])
def test_signal_during_helm_stops_cleanly_and_rerun_converges(kube_cluster, helm_name, signum):
    from tests.conftest import helm_path

    helm_binary = helm_path(helm_name)
    namespace = f"sig{int(signum)}-{helm_name}"
    # --wait: pods never come here, so helm is still running when the signal lands
    proc = _start_apply(kube_cluster, helm_binary, namespace, "--skip-smoke", "--timeout", "20s")
    _read_until(proc, "] helm")
    time.sleep(1.5)
    os.kill(proc.pid, signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "stopping helm cleanly" in err and "Traceback" not in err
    _finish_claim_deletion(kube_cluster, namespace)
    rerun = apply_seed(kube_cluster, helm_binary, namespace)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert release_secrets(kube_cluster, namespace)[-1]["info"]["status"] == "deployed"
    managed = (
        core(kube_cluster)
        .list_namespaced_secret(namespace, label_selector="app.kubernetes.io/managed-by=registry-installer")
        .items
    )
    assert [s.metadata.name for s in managed] == ["docker-registry-basic-auth"]


def test_api_server_gone_mid_apply_then_rerun_converges(fresh_cluster, tmp_path):
    from tests.conftest import helm_path

    helm = helm_path("helm4")
    namespace = "apigone"
    proc = _start_apply(fresh_cluster, helm, namespace, "--no-wait")
    _read_until(proc, "[ ok ] secrets")
    os.killpg(proc.pid, signal.SIGSTOP)  # freeze the installer between the Secrets and helm
    fresh_cluster.stop()
    os.killpg(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err
    assert "connection refused" in err.lower() or "cluster is not reachable" in err or "cannot reach" in err
    fresh_cluster.restart()
    rerun = apply_seed(fresh_cluster, helm, namespace)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    releases = release_secrets(fresh_cluster, namespace)
    assert releases[-1]["info"]["status"] == "deployed"
    managed = (
        core(fresh_cluster)
        .list_namespaced_secret(namespace, label_selector="app.kubernetes.io/managed-by=registry-installer")
        .items
    )
    assert [s.metadata.name for s in managed] == ["docker-registry-basic-auth"]


def _lease(cluster, namespace, holder, renewed):
    from kubernetes import client

    api = client.CoordinationV1Api(cluster.api_client("admin"))
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="docker-registry-installer-lock", namespace=namespace),
        spec=client.V1LeaseSpec(
            holder_identity=holder, lease_duration_seconds=60, acquire_time=renewed, renew_time=renewed
        ),
    )
    api.create_namespaced_lease(namespace, body)
    return api


def test_second_installer_is_refused_while_the_lock_is_held(kube_cluster, helm_binary):
    namespace = f"lock-{helm_binary.name}"
    core(kube_cluster).create_namespace({"metadata": {"name": namespace}})
    api = _lease(kube_cluster, namespace, "other-host/4242/abc", dt.datetime.now(dt.timezone.utc))
    proc = apply_seed(kube_cluster, helm_binary, namespace)
    assert proc.returncode == 1
    assert "another registry-installer (other-host/4242/abc) is applying release docker-registry" in proc.stderr
    assert release_secrets(kube_cluster, namespace) == []
    # a holder that died: its lease expires and the next run takes over, then releases it
    lease = api.read_namespaced_lease("docker-registry-installer-lock", namespace)
    lease.spec.renew_time = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    api.replace_namespaced_lease("docker-registry-installer-lock", namespace, lease)
    proc = apply_seed(kube_cluster, helm_binary, namespace)
    assert proc.returncode == 0, proc.stderr
    assert api.list_namespaced_lease(namespace).items == []


def test_uninstall_keeps_the_data_and_a_new_install_reuses_it(kube_cluster, helm_binary, tmp_path):
    namespace = f"keep-{helm_binary.name}"
    assert apply_seed(kube_cluster, helm_binary, namespace).returncode == 0
    proc = cli(kube_cluster, "uninstall", "--namespace", namespace, "--yes", helm=helm_binary)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"PVC {namespace}/docker-registry (100Gi) holds the images" in proc.stdout
    pvc = core(kube_cluster).read_namespaced_persistent_volume_claim("docker-registry", namespace)
    assert pvc.metadata.deletion_timestamp is None
    assert release_secrets(kube_cluster, namespace) == []
    preset = tmp_path / "reuse.yaml"
    preset.write_text(
        (PRESETS / "rook-ceph-nginx.yaml")
        .read_text()
        .replace("    storage_class: rook-ceph-block\n", "    existing_claim: docker-registry\n")
    )
    proc = apply_seed(kube_cluster, helm_binary, namespace, preset=preset)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from kubernetes import client

    dep = client.AppsV1Api(kube_cluster.api_client("admin")).read_namespaced_deployment("docker-registry", namespace)
    claims = [v.persistent_volume_claim.claim_name for v in dep.spec.template.spec.volumes if v.persistent_volume_claim]
    assert claims == ["docker-registry"]
    proc = cli(kube_cluster, "uninstall", "--namespace", namespace, "--yes", "--delete-data", helm=helm_binary)
    assert proc.returncode == 0 and "the images are gone" in proc.stdout

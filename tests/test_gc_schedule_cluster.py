"""The scheduled collection's objects and its lock on the real API server (no kubelet: pods never run here)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.conftest import CHART, PRESETS, helm_path, run_helm
from tests.test_cluster_install import apply_seed, cli

pytestmark = [pytest.mark.cluster, pytest.mark.helm]
NAME = "docker-registry-installer-gc"
KINDS = ("cronjob", "serviceaccount", "role", "rolebinding")
READONLY_ENV = "REGISTRY_STORAGE_MAINTENANCE_READONLY"


def _preset(tmp_path):
    preset = tmp_path / "gc.yaml"
    text = (PRESETS / "rook-ceph-nginx.yaml").read_text()
    preset.write_text(text + "extras:\n  garbage_collect:\n    enabled: true\n    schedule: '15 3 * * *'\n")
    return preset


def test_uninstall_removes_the_schedule_and_keeps_the_record(kube_cluster, tmp_path):
    namespace = "gc-schedule-uninstall"
    helm = helm_path("helm3")
    proc = apply_seed(kube_cluster, helm, namespace, preset=_preset(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for kind in KINDS:
        kube_cluster.kubectl("-n", namespace, "get", kind, NAME)
    record = json.loads(kube_cluster.kubectl("-n", namespace, "get", "configmap", NAME, "-o", "json").stdout)
    assert record["data"] == {"history.json": "[]"}, "the CronJob may only patch its record: apply creates it"
    proc = cli(kube_cluster, "uninstall", "--namespace", namespace, "--yes", helm=helm)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for kind in KINDS:
        done = kube_cluster.kubectl("-n", namespace, "get", kind, NAME, check=False)
        assert "NotFound" in done.stderr, f"{kind} {NAME} survived the uninstall"
    kube_cluster.kubectl("-n", namespace, "get", "configmap", NAME)  # the history of collections stays


def _lease(holder: str) -> dict:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "docker-registry-installer-lock"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 3900, "acquireTime": now, "renewTime": now},
    }


def test_apply_waits_for_a_running_scheduled_collection_and_not_for_a_finished_one(kube_cluster, tmp_path):
    namespace = "gc-schedule-lock"
    helm = helm_path("helm3")
    assert apply_seed(kube_cluster, helm, namespace).returncode == 0
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "docker-registry-installer-gc-1-x"},
        "spec": {"containers": [{"name": "gc", "image": "registry.k8s.io/kubectl:v1.35.2"}]},
    }
    # no controller manager here to make the namespace's default ServiceAccount; the pod stays Pending: "running"
    kube_cluster.kubectl("-n", namespace, "create", "serviceaccount", "default", check=False)
    kube_cluster.kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(pod))
    kube_cluster.kubectl(
        "-n", namespace, "apply", "-f", "-", input=json.dumps(_lease("scheduled-gc/docker-registry-installer-gc-1-x"))
    )
    proc = apply_seed(kube_cluster, helm, namespace)
    assert proc.returncode == 1, proc.stdout
    assert "the scheduled garbage collection (pod docker-registry-installer-gc-1-x) is running" in proc.stderr
    assert "Traceback" not in proc.stderr
    kube_cluster.kubectl("-n", namespace, "delete", "pod", "docker-registry-installer-gc-1-x", "--grace-period=0")
    proc = apply_seed(kube_cluster, helm, namespace)  # the holder's pod is gone: its lock is stale
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _readonly_env(cluster, namespace) -> list[str]:
    deployment = json.loads(
        cluster.kubectl("-n", namespace, "get", "deployment", "docker-registry", "-o", "json").stdout
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return [e.get("value") for e in container.get("env") or [] if e["name"] == READONLY_ENV]


def test_a_helm_upgrade_keeps_the_read_only_switch_and_apply_removes_a_left_one(kube_cluster, helm_binary, tmp_path):
    """The switch is not in the chart's manifest: helm's three-way merge (helm 3) and server-side apply (helm 4)
    leave it alone during a run, so only the job's trap, or apply/gc after a killed job, take it away."""

    namespace = f"gc-switch-{helm_binary.name}"
    assert apply_seed(kube_cluster, helm_binary, namespace).returncode == 0
    kube_cluster.kubectl(
        "-n", namespace, "set", "env", "deployment/docker-registry", f'{READONLY_ENV}={{"enabled": true}}'
    )
    upgrade = run_helm(
        kube_cluster,
        "upgrade",
        "docker-registry",
        str(CHART),
        "--namespace",
        namespace,
        "--reuse-values",
        "--set",
        "podAnnotations.changed=yes",  # the pod template changes: helm patches the Deployment
        helm=helm_binary,
        timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert _readonly_env(kube_cluster, namespace) == ['{"enabled": true}'], "helm's upgrade kept the switch"
    proc = apply_seed(kube_cluster, helm_binary, namespace)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"removed {READONLY_ENV} from the registry" in proc.stdout, proc.stdout
    assert _readonly_env(kube_cluster, namespace) == []

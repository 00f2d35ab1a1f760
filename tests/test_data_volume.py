"""The registry's data survives whatever the user runs: the installer owns the PVC, helm never does.

Real kube-apiserver, real helm 3 and 4, the real chart (docker-registry 3.0.0). There is no PV
controller here: `bind_claim` plays it, so a claim's PV can be followed across a migration.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.conftest import CHART, PRESETS, ROOT, run_helm
from tests.test_cluster_install import PASSWORD, apply_seed, bind_claim, cli, core, release_secrets

pytestmark = [pytest.mark.cluster, pytest.mark.helm]
REAL_CHART = CHART  # the real chart 3.0.0 (tests/conftest.py finds it)
CLAIM = "docker-registry"


def apply_real(cluster, helm, namespace, *extra, preset=None):
    return apply_seed(cluster, helm, namespace, *extra, preset=preset)  # with the real chart


def helm_cli(cluster, helm, *args):
    return run_helm(cluster, *args, helm=helm, timeout=300)


def manifest_kinds(cluster, namespace):
    manifest = release_secrets(cluster, namespace)[-1]["manifest"]
    return {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(manifest) if d}


def read_claim(cluster, namespace):
    return core(cluster).read_namespaced_persistent_volume_claim(CLAIM, namespace)


def install_chart_owned(cluster, helm, namespace, tmp_path):
    """A release as earlier installer versions made it: the chart renders and owns the PVC."""
    import os
    import sys

    out = tmp_path / "old"
    rendered = subprocess.run(
        [
            sys.executable,
            "-m",
            "installer",
            "render",
            "--preset",
            str(PRESETS / "rook-ceph-nginx.yaml"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "REGISTRY_PASSWORD": PASSWORD},
        timeout=120,
    )
    assert rendered.returncode == 0, rendered.stderr
    values = yaml.safe_load((out / "values.yaml").read_text())
    del values["persistence"]["existingClaim"]
    (out / "values.yaml").write_text(yaml.safe_dump(values))
    old = helm_cli(
        cluster,
        helm,
        "install",
        "docker-registry",
        str(REAL_CHART),
        "--namespace",
        namespace,
        "--create-namespace",
        "-f",
        str(out / "values.yaml"),
        "-f",
        str(out / "secret-values.yaml"),
    )
    assert old.returncode == 0, old.stderr
    pvc = read_claim(cluster, namespace)
    assert pvc.metadata.annotations["meta.helm.sh/release-name"] == "docker-registry"
    return pvc


def assert_installers_own(pvc, release="docker-registry"):
    labels, annotations = pvc.metadata.labels or {}, pvc.metadata.annotations or {}
    assert (
        labels.get("app.kubernetes.io/managed-by") == "registry-installer"
        and labels.get("app.kubernetes.io/instance") == release
    )
    assert "meta.helm.sh/release-name" not in annotations, "helm must not own the data PVC"


def test_helm_uninstall_keeps_the_data_and_a_reinstall_reuses_and_grows_it(kube_cluster, helm_binary):
    namespace = f"pvc-{helm_binary.name}"
    proc = apply_real(kube_cluster, helm_binary, namespace)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "created PVC docker-registry (100Gi, the installer's own)" in proc.stdout
    pvc = read_claim(kube_cluster, namespace)
    assert_installers_own(pvc)
    assert pvc.spec.resources.requests["storage"] == "100Gi" and pvc.spec.storage_class_name == "rook-ceph-block"
    assert ("PersistentVolumeClaim", CLAIM) not in manifest_kinds(kube_cluster, namespace)
    from kubernetes import client

    dep = client.AppsV1Api(kube_cluster.api_client("admin")).read_namespaced_deployment("docker-registry", namespace)
    assert [
        v.persistent_volume_claim.claim_name for v in dep.spec.template.spec.volumes if v.persistent_volume_claim
    ] == [CLAIM]

    # the user runs helm directly: the images stay
    gone = helm_cli(kube_cluster, helm_binary, "uninstall", "docker-registry", "--namespace", namespace)
    assert gone.returncode == 0, gone.stderr
    kept = read_claim(kube_cluster, namespace)
    assert kept.metadata.uid == pvc.metadata.uid and kept.metadata.deletion_timestamp is None

    # the next install finds it and mounts the same claim
    again = apply_real(kube_cluster, helm_binary, namespace)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "PVC docker-registry (100Gi, the installer's own) reused" in again.stdout
    assert read_claim(kube_cluster, namespace).metadata.uid == pvc.metadata.uid

    # growing goes through the installer's PVC (the chart no longer renders one)
    bind_claim(kube_cluster, namespace, CLAIM, "100Gi")
    grown = apply_real(kube_cluster, helm_binary, namespace, preset=ROOT / "tests" / "presets" / "seed-200Gi.yaml")
    assert grown.returncode == 0, grown.stdout + grown.stderr
    assert "asked to grow from 100Gi to 200Gi" in grown.stdout
    pvc_after = read_claim(kube_cluster, namespace)
    assert pvc_after.metadata.uid == pvc.metadata.uid and pvc_after.spec.resources.requests["storage"] == "200Gi"

    # deleting the data needs a confirmation; --yes gives it
    refused = cli(kube_cluster, "uninstall", "--namespace", namespace, "--delete-data", helm=helm_binary)
    assert refused.returncode == 2 and "pass --yes with --delete-data" in refused.stderr
    assert read_claim(kube_cluster, namespace).metadata.deletion_timestamp is None
    deleted = cli(kube_cluster, "uninstall", "--namespace", namespace, "--delete-data", "--yes", helm=helm_binary)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert f"deleted the data volume PVC {namespace}/{CLAIM} (200Gi): the images are gone" in deleted.stdout
    from kubernetes.client.exceptions import ApiException

    try:
        assert read_claim(kube_cluster, namespace).metadata.deletion_timestamp is not None  # pvc-protection finalizer
    except ApiException as exc:
        assert exc.status == 404


def test_a_chart_made_pvc_is_migrated_in_place_and_then_survives_helm_uninstall(kube_cluster, helm_binary, tmp_path):
    namespace = f"mig-{helm_binary.name}"
    chart_pvc = install_chart_owned(kube_cluster, helm_binary, namespace, tmp_path)
    bind_claim(kube_cluster, namespace, CLAIM, "100Gi")
    volume = read_claim(kube_cluster, namespace).spec.volume_name

    proc = apply_real(kube_cluster, helm_binary, namespace)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "becomes the installer's own" in proc.stdout and "+  existingClaim: docker-registry" in proc.stdout
    migrated = read_claim(kube_cluster, namespace)
    assert migrated.metadata.uid == chart_pvc.metadata.uid and migrated.spec.volume_name == volume
    assert_installers_own(migrated)
    assert ("PersistentVolumeClaim", CLAIM) not in manifest_kinds(kube_cluster, namespace)

    gone = helm_cli(kube_cluster, helm_binary, "uninstall", "docker-registry", "--namespace", namespace)
    assert gone.returncode == 0, gone.stderr
    kept = read_claim(kube_cluster, namespace)
    assert (
        kept.metadata.uid == chart_pvc.metadata.uid
        and kept.spec.volume_name == volume
        and kept.metadata.deletion_timestamp is None
    )
    # after a plain helm uninstall the installer still knows where the data is
    again = cli(kube_cluster, "uninstall", "--namespace", namespace, "--yes", helm=helm_binary)
    assert again.returncode == 1 and f"its data is kept in PVC {namespace}/{CLAIM} (100Gi)" in again.stderr


def test_uninstall_of_a_release_whose_chart_owns_the_pvc_keeps_it(kube_cluster, helm_binary, tmp_path):
    namespace = f"olduninst-{helm_binary.name}"
    uid = install_chart_owned(kube_cluster, helm_binary, namespace, tmp_path).metadata.uid
    proc = cli(kube_cluster, "uninstall", "--namespace", namespace, "--yes", helm=helm_binary)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"kept the data volume: PVC {namespace}/{CLAIM} (100Gi) holds the images" in proc.stdout
    kept = read_claim(kube_cluster, namespace)
    assert kept.metadata.uid == uid and kept.metadata.deletion_timestamp is None
    assert_installers_own(kept)
    assert release_secrets(kube_cluster, namespace) == []


def claim_being_deleted(cluster, namespace):
    """The installer's data PVC, made by prepare_claim, then deleted while a finalizer holds it: Terminating, as
    after a cancelled install on a real cluster (there its pod's pvc-protection holds it a moment; here nothing
    removes the test's finalizer until the test does)."""
    from installer.engine import connect, prepare
    from installer.model import Choices, Exposure, Target
    from installer.volume import prepare_claim

    kube = connect(cluster.admin_context, str(cluster.kubeconfig))
    prepared = prepare(Choices(exposure=Exposure(hosts=["r.example.com"]), target=Target(namespace=namespace)), None)
    api = core(cluster)
    api.create_namespace({"metadata": {"name": namespace}})
    created, _ = prepare_claim(kube, prepared.plan, prepared.rendered)
    assert created
    old = read_claim(cluster, namespace)
    finalizers = [*(old.metadata.finalizers or []), "tests.example.com/hold"]
    api.patch_namespaced_persistent_volume_claim(CLAIM, namespace, {"metadata": {"finalizers": finalizers}})
    api.delete_namespaced_persistent_volume_claim(CLAIM, namespace)
    assert read_claim(cluster, namespace).metadata.deletion_timestamp is not None
    return kube, prepared, old


def release_claim(cluster, namespace):
    core(cluster).patch_namespaced_persistent_volume_claim(CLAIM, namespace, {"metadata": {"finalizers": None}})


def test_a_pvc_being_deleted_is_not_reused_and_the_wait_for_it_is_bounded(kube_cluster):
    """A cancelled install left its PVC Terminating; the next apply said 'PVC docker-registry (100Gi, the installer's
    own) reused', and on a real cluster that PVC vanished a moment later with the pod Pending. Now the volume step
    says it is being deleted, waits (bounded) and, when it is still there, stops with what holds it and the fix."""
    from installer.errors import InstallerError
    from installer.events import Note
    from installer.volume import prepare_claim

    namespace = "pvc-terminating-stuck"
    kube, prepared, old = claim_being_deleted(kube_cluster, namespace)
    events = []
    with pytest.raises(InstallerError) as failed:
        prepare_claim(kube, prepared.plan, prepared.rendered, on_event=events.append, wait_s=2)
    assert f"PVC {CLAIM} in namespace {namespace} is being deleted" in failed.value.message
    assert "still there after 2s" in failed.value.message and "cannot be reused" in failed.value.message
    assert "tests.example.com/hold" in failed.value.message or "pvc-protection" in failed.value.message
    assert f"kubectl get pvc {CLAIM} -n {namespace}" in failed.value.hint
    [note] = [e.text for e in events if isinstance(e, Note)]
    assert note.startswith(f"PVC {CLAIM} is being deleted (since ") and "tests.example.com/hold" in note, note
    assert note.endswith("waiting up to 2s for it to go, then creating it anew"), note
    assert read_claim(kube_cluster, namespace).metadata.uid == old.metadata.uid  # left as it was
    release_claim(kube_cluster, namespace)


def test_a_pvc_being_deleted_is_waited_for_then_made_anew(kube_cluster):
    import threading

    from installer.events import Note
    from installer.volume import prepare_claim

    namespace = "pvc-terminating-goes"
    kube, prepared, old = claim_being_deleted(kube_cluster, namespace)
    waiting = threading.Event()
    events = []

    def seen(event):
        events.append(event)
        if isinstance(event, Note):
            waiting.set()

    def finalizer_removed_once_waiting():
        assert waiting.wait(60)
        release_claim(kube_cluster, namespace)

    remover = threading.Thread(target=finalizer_removed_once_waiting)
    remover.start()
    created, words = prepare_claim(kube, prepared.plan, prepared.rendered, on_event=seen, wait_s=120)
    remover.join()
    assert created and words == f"created PVC {CLAIM} (100Gi, the installer's own)"
    new = read_claim(kube_cluster, namespace)
    assert new.metadata.uid != old.metadata.uid and new.metadata.deletion_timestamp is None

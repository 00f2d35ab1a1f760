"""Day two on the real node (kubelet, controllers, containerd): status, safe gc, its recovery, grow.

The registry runs for real (the chart's image holds Debian's distribution 2.8); images are
pushed to it through its Service's ClusterIP from the host (kube-proxy routes it).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import requests

from tests.conftest import CHART, ROOT, helm_path
from tests.fixtures.cluster import deny_in_namespace
from tests.fixtures.node import installer_argv

pytestmark = [pytest.mark.node, pytest.mark.helm]
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def preset(namespace: str, size: str = "1Gi", storage_class: str = "rook-ceph-block") -> str:
    return (
        f"version: 1\ntarget: {{namespace: {namespace}, release: docker-registry}}\n"
        f"exposure: {{hosts: [registry.daytwo.test], ingress_class: nginx, tls: {{mode: none}}}}\n"
        f"auth: {{mode: none}}\n"
        f"storage: {{kind: filesystem, filesystem: {{storage_class: {storage_class}, size: {size}}}}}\n"
    )


def run(node, *args, timeout=600):
    argv = installer_argv(node, *args)
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=dict(os.environ))


def popen(node, *args):
    argv = installer_argv(node, *args)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def apply_preset(node, file, helm: str = "helm3") -> None:
    """`apply --yes --skip-smoke` of a preset file with the real chart; fails the test with the output if it fails."""
    proc = run(
        node,
        "apply",
        "--preset",
        str(file),
        "--yes",
        "--skip-smoke",
        "--chart",
        str(CHART),
        "--timeout",
        "3m",
        "--helm",
        str(helm_path(helm)),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr + node.diagnose()


def service_base(node, namespace: str) -> str:
    """The registry Service's address inside the node's Service network."""
    ip = node.kubectl("-n", namespace, "get", "svc", "docker-registry", "-o", "jsonpath={.spec.clusterIP}").stdout
    return f"http://{ip.strip()}:5000"


@pytest.fixture
def installed(kube_node, tmp_path, request):
    """A registry installed by the installer (helm 3), in a namespace of this test's own; removed afterwards."""
    namespace = f"d2-{request.node.name[5:18].replace('_', '-').strip('-')}"
    file = tmp_path / "preset.yaml"
    file.write_text(preset(namespace))
    apply_preset(kube_node, file)
    yield namespace, service_base(kube_node, namespace)
    kube_node.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def push(base: str, repo: str, tag: str, size: int) -> str:
    """Push one image (a config and one random layer of `size` bytes); returns the manifest digest."""
    from installer.registry_client import Descriptor, RegistryClient, manifest_json, sha256_digest

    with RegistryClient(base) as client:
        config = client.push_blob(
            repo, json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode(), OCI_CONFIG
        )
        data = os.urandom(size)
        layer = Descriptor(OCI_LAYER, sha256_digest(data), len(data))
        client.upload_blob(repo, [data])
        return client.put_manifest(repo, tag, manifest_json(config, [layer]))


def delete(base: str, repo: str, digest: str) -> None:
    from installer.registry_client import RegistryClient

    with RegistryClient(base) as client:
        assert client.delete_manifest(repo, digest), "the registry refused to delete (storage.delete_enabled?)"


def status(node, namespace) -> dict:
    proc = run(node, "status", "--json", "--namespace", namespace)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def wait_usage(node, namespace, check, what, timeout=150):
    """The kubelet measures volumes about once a minute: wait for a measurement that passes `check`."""
    seen = {}

    def ok():
        seen.update(status(node, namespace))
        return seen.get("usage") is not None and check(seen["usage"])

    node.wait_for(ok, timeout, what)
    return seen


def test_status_gc_frees_space_and_refuses_pushes_only_during_the_window(kube_node, installed):
    import re

    namespace, base = installed
    keep = push(base, "vm/keep", "v1", 2 * 2**20)
    gone = push(base, "vm/gone", "v1", 24 * 2**20)
    delete(base, "vm/gone", gone)
    before = status(kube_node, namespace)
    assert before["pods_ready"] == 1 and before["pods_total"] == 1 and before["claim_owner"] == "installer"
    assert before["repositories"] == 2 and before["tags"] == 1  # vm/gone has no tag left
    # the test node's volumes are local PVs on their own filesystems: the kubelet measures them (stats summary)
    before = wait_usage(
        kube_node, namespace, lambda u: u["used_bytes"] > 24 * 2**20, "kubelet usage counting the pushed layers"
    )

    gc = popen(kube_node, "gc", "--yes", "--namespace", namespace, "--helm", str(helm_path("helm3")))
    answers = []
    while gc.poll() is None:
        try:
            # short timeouts: a connection to the replaced pod hangs, and the read-only pod serves only while the Job
            # runs
            answers.append(requests.post(f"{base}/v2/probe/blobs/uploads/", timeout=(1, 2)).status_code)
        except requests.RequestException:
            answers.append("down")  # the pod is recreated twice (Recreate strategy)
        time.sleep(0.1)
    output = gc.stdout.read()
    print(output)  # the measured window and counts, shown with -s
    assert gc.returncode == 0, output + kube_node.diagnose()
    assert 405 in answers, f"no push was refused during the read-only window: {answers}"
    assert answers[0] == 202 and answers[-1] in (202, "down"), answers
    deleted = re.search(r"garbage collected: (\d+) blobs", output)
    assert deleted and int(deleted.group(1)) >= 1, output
    assert re.search(r"the registry was read-only for \d+ s and is writable again", output), output
    assert requests.post(f"{base}/v2/probe/blobs/uploads/", timeout=5).status_code == 202, "writable again after gc"
    assert_collected(base, keep, gone)

    after = status(kube_node, namespace)
    assert after["last_gc"]["ok"] is True and after["last_gc"]["readonly_seconds"] > 0
    assert after["last_gc"]["blobs_deleted"] == int(deleted.group(1))
    wait_usage(
        kube_node,
        namespace,
        lambda u: u["used_bytes"] < before["usage"]["used_bytes"] - 20 * 2**20,
        "kubelet usage after gc below the usage before by the deleted layer",
    )


def assert_collected(base: str, keep: str, gone: str) -> None:
    """After a collection: the registry takes a push, still serves vm/keep:v1 (digest `keep`) and no longer has the
    deleted image's manifest blob `gone`."""
    push(base, "vm/after", "v1", 1024)
    with requests.get(
        f"{base}/v2/vm/keep/manifests/v1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10
    ) as r:
        assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == keep
    with requests.head(f"{base}/v2/vm/gone/blobs/{gone}", timeout=10) as r:
        assert r.status_code == 404, "the deleted image's manifest blob is collected"


def accepts_upload(base: str) -> bool:
    try:
        return requests.post(f"{base}/v2/probe/blobs/uploads/", timeout=10).status_code == 202
    except requests.ConnectionError:
        return False


def assert_writable_after_failed_gc(node, namespace: str, base: str, error: str) -> dict:
    """After a failed gc: the registry takes uploads, its config is not read-only, the release is deployed with its
    pod ready, and status records the failure with `error` in it; returns status."""
    # kube-proxy may take a moment to route the Service to the rolled-back pod: refused until then
    node.wait_for(lambda: accepts_upload(base), 30, "the registry accepts an upload after the failed gc")
    config = node.kubectl(
        "-n", namespace, "get", "configmap", "docker-registry-config", "-o", "jsonpath={.data.config\\.yml}"
    ).stdout
    assert "readonly" not in config
    record = status(node, namespace)
    assert record["last_gc"]["ok"] is False and error in record["last_gc"]["error"], record["last_gc"]
    assert record["release_status"] == "deployed" and record["pods_ready"] == 1
    return record


def test_a_failed_collection_leaves_the_registry_writable(kube_node, installed):
    namespace, base = installed
    remove_policy = deny_in_namespace(
        kube_node.cluster,
        f"deny-jobs-{namespace}",
        namespace,
        {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["jobs"]},
        {"expression": "false", "message": "jobs are not allowed here (test policy)"},
    )
    try:
        proc = run(kube_node, "gc", "--yes", "--namespace", namespace, "--helm", str(helm_path("helm3")))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "jobs are not allowed here" in proc.stderr and "The registry is writable again" in proc.stderr
        assert "Traceback" not in proc.stderr and "[ ok ] writable" in proc.stdout
        assert_writable_after_failed_gc(kube_node, namespace, base, "jobs are not allowed here")
    finally:
        remove_policy()


def test_a_read_only_rollout_that_fails_is_explained_and_rolled_back_writable(kube_node, installed):
    """gc's read-only switch rolls out like apply: helm without --wait, the installer's own wait. Here the API server
    refuses every registry pod but the running one's config (a test policy on the pods' checksum/config), so the
    read-only pod never comes: the wait ends at --timeout, the release goes back to its revision, writable."""
    namespace, base = installed
    (pod,) = json.loads(
        kube_node.kubectl("-n", namespace, "get", "pods", "-l", "app=docker-registry", "-o", "json").stdout
    )["items"]
    checksum = pod["metadata"]["annotations"]["checksum/config"]
    remove_policy = deny_in_namespace(
        kube_node.cluster,
        f"deny-readonly-{namespace}",
        namespace,
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]},
        {
            "expression": "!has(object.metadata.annotations) || !('checksum/config' in object.metadata.annotations)"
            f" || object.metadata.annotations['checksum/config'] == '{checksum}'",
            "message": "only the running registry's config may start here (test policy)",
        },
    )
    try:
        proc = run(
            kube_node, "gc", "--yes", "--timeout", "20s", "--namespace", namespace, "--helm", str(helm_path("helm4"))
        )
    finally:
        remove_policy()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "waiting up to 20s for the registry's pods" in proc.stdout, proc.stdout  # the installer's own wait
    # the watch explains it as it happens, from the ReplicaSet's FailedCreate event (no pod shows)
    assert "only the running registry's config may start here (test policy)" in proc.stdout, proc.stdout
    assert "the registry pods did not become ready in time (timeout 20s)" in proc.stderr, proc.stderr
    assert "Release docker-registry is back at revision 1, as it was before" in proc.stderr, proc.stderr
    assert "The registry is writable again (revision 3)" in proc.stderr and "Traceback" not in proc.stderr
    assert "[ ok ] rollback" in proc.stdout and "[ ok ] writable" in proc.stdout, proc.stdout
    record = assert_writable_after_failed_gc(kube_node, namespace, base, "did not become ready in time")
    assert record["revision"] == 3, "installed 1, read-only 2, rolled back to 1's values 3"


def test_grow_on_an_expandable_class_and_refusal_without_expansion(kube_node, installed, tmp_path):
    namespace, _base = installed
    proc = run(kube_node, "grow", "--size", "3Gi", "--yes", "--namespace", namespace, "--helm", str(helm_path("helm4")))
    assert proc.returncode == 0, proc.stdout + proc.stderr + kube_node.diagnose()
    pvc = json.loads(kube_node.kubectl("-n", namespace, "get", "pvc", "docker-registry", "-o", "json").stdout)
    assert pvc["spec"]["resources"]["requests"]["storage"] == "3Gi"
    assert "PVC docker-registry is 3Gi" in proc.stdout, proc.stdout  # the test node's provisioner grows it online
    kube_node.wait_for(
        lambda: (
            json.loads(kube_node.kubectl("-n", namespace, "get", "pvc", "docker-registry", "-o", "json").stdout)[
                "status"
            ]
            .get("capacity", {})
            .get("storage")
            == "3Gi"
        ),
        60,
        "PVC capacity 3Gi",
    )

    other = f"{namespace}-nx"
    file = tmp_path / "noexpand.yaml"
    file.write_text(preset(other, storage_class="local-path"))
    try:
        apply_preset(kube_node, file)
        refused = run(
            kube_node, "grow", "--size", "3Gi", "--yes", "--namespace", other, "--helm", str(helm_path("helm3"))
        )
        assert refused.returncode == 1 and "does not allow volume expansion" in refused.stderr, refused.stderr
        assert (
            json.loads(kube_node.kubectl("-n", other, "get", "pvc", "docker-registry", "-o", "json").stdout)["spec"][
                "resources"
            ]["requests"]["storage"]
            == "1Gi"
        )
    finally:
        kube_node.kubectl("delete", "namespace", other, "--wait=false", check=False)

"""The installer's scheduled garbage collection on the real node: its CronJob's script, RBAC and recovery for real.

The job runs kubectl inside the cluster with the ServiceAccount and Role the installer made, so
the pod must reach the API server: the test cluster's apiserver listens on 127.0.0.1 only and
its `kubernetes` Service has no endpoints (tests/cluster/main.go), so this module forwards the
node's bridge address to it (a TCP forwarder, `CutProxy` that never cuts) and gives the Service
an EndpointSlice there, as a cluster's apiserver reconciler would. The kubectl image is
`node_images.kubectl_image_spec`, a stand-in for registry.k8s.io/kubectl built from Debian's
bash/coreutils and the tests' kubectl binary, tagged as the installer's default for this cluster.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import requests
import yaml

from tests.conftest import helm_path
from tests.fixtures.cutproxy import CutProxy
from tests.fixtures.node import IMAGE_CACHE
from tests.fixtures.node_images import build_images, kubectl_image_spec
from tests.test_daytwo_node import (
    OCI_CONFIG,
    OCI_LAYER,
    accepts_upload,
    apply_preset,
    assert_collected,
    delete,
    push,
    service_base,
    status,
    wait_usage,
)

pytestmark = [pytest.mark.node, pytest.mark.helm]
NAMESPACE = "gc-schedule"
CRONJOB = "docker-registry-installer-gc"
READONLY_ENV = "REGISTRY_STORAGE_MAINTENANCE_READONLY"


@pytest.fixture(scope="module")
def in_cluster_api(kube_node):
    """Pods reach the API server at the `kubernetes` Service (198.18.128.1:443, in the serving certificate)."""
    forwarder = CutProxy(kube_node.cluster.port, listen=kube_node.host_ip)
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {
                "kubernetes.io/service-name": "kubernetes",
                "endpointslice.kubernetes.io/managed-by": "registry-installer-tests",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [kube_node.host_ip], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": forwarder.port, "protocol": "TCP"}],
    }
    kube_node.kubectl("apply", "-f", "-", input=json.dumps(slice_))
    try:
        # kube-proxy programs the Service; the host's traffic to a ClusterIP is routed like a pod's
        kube_node.wait_for(
            lambda: _answers("https://198.18.128.1/version", kube_node.cluster.ca_file),
            30,
            "the kubernetes Service routes to the API server",
        )
        yield
    finally:
        kube_node.kubectl("-n", "default", "delete", "endpointslice", "kubernetes", check=False)
        forwarder.stop()


def _answers(url: str, ca_file) -> bool:
    """The API server answers at `url` with its own certificate (its serving certificate names the Service IP)."""
    try:
        return requests.get(url, verify=str(ca_file), timeout=2).status_code in (200, 401, 403)
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def kubectl_image(kube_node):
    """The stand-in kubectl image under the name the installer picks for this cluster (its version)."""
    from installer.gcschedule import kubectl_image as default_image

    version = json.loads(kube_node.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    ref = default_image(version)
    (archive,) = build_images(IMAGE_CACHE, {"kubectl": kubectl_image_spec(ref, helm_path("kubectl"))}).values()
    kube_node.import_image(archive)
    return ref


@pytest.fixture(scope="module")
def scheduled(kube_node, in_cluster_api, kubectl_image, tmp_path_factory):
    """A registry with extras.garbage_collect on (a yearly schedule: the test starts its jobs itself)."""
    file = tmp_path_factory.mktemp("gc-schedule") / "preset.yaml"
    file.write_text(
        f"version: 1\ntarget: {{namespace: {NAMESPACE}, release: docker-registry}}\n"
        "exposure: {hosts: [registry.gcschedule.test], ingress_class: nginx, tls: {mode: none}}\n"
        "auth: {mode: none}\n"
        "storage: {kind: filesystem, filesystem: {storage_class: rook-ceph-block, size: 1Gi}}\n"
        "extras: {garbage_collect: {enabled: true, schedule: '0 0 1 1 *'}}\n"
    )
    apply_preset(kube_node, file)
    yield service_base(kube_node, NAMESPACE), file
    kube_node.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def _get(node, *args) -> dict:
    return json.loads(node.kubectl("-n", NAMESPACE, "get", *args, "-o", "json").stdout)


def _start_job(node, name: str, deadline: int | None = None, **env_values: str) -> None:
    """A Job from the CronJob now (`kubectl create job --from`), or from its template with other settings."""
    if not env_values and deadline is None:
        node.kubectl("-n", NAMESPACE, "create", "job", name, f"--from=cronjob/{CRONJOB}")
        return
    template = _get(node, "cronjob", CRONJOB)["spec"]["jobTemplate"]
    for env in template["spec"]["template"]["spec"]["containers"][0]["env"]:
        env["value"] = env_values.get(env["name"], env.get("value"))
    if deadline is not None:
        template["spec"]["activeDeadlineSeconds"] = deadline
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NAMESPACE}}
    job["metadata"]["labels"] = template["metadata"]["labels"]
    job["spec"] = template["spec"]
    node.kubectl("apply", "-f", "-", input=json.dumps(job))


def _job_state(node, name: str) -> str | None:
    """Complete or Failed once the job's pod has ended too (its trap may still run after a deadline)."""
    for cond in _get(node, "job", name).get("status", {}).get("conditions") or []:
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            pods = _get(node, "pods", "-l", f"job-name={name}")["items"]
            if all(p["status"].get("phase") in ("Succeeded", "Failed") for p in pods):
                return cond["type"]
    return None


def _probe_until_done(node, base: str, name: str, timeout: float = 300, logs: list | None = None) -> list:
    """POST an upload every 0.1 s until the job ends; what the registry answered, in order.

    `logs` gets the job's log as read every second (a Job stopped by its deadline has its pod deleted: read
    it while the pod is there)."""
    answers: list = []
    deadline = time.monotonic() + timeout
    read = 0.0
    while _job_state(node, name) is None:
        assert time.monotonic() < deadline, f"job {name} did not end in {timeout} s\n" + node.diagnose()
        if logs is not None and time.monotonic() - read > 1:
            text = node.kubectl("-n", NAMESPACE, "logs", "-l", f"job-name={name}", "--tail=-1", check=False).stdout
            # a pod being deleted answers "unable to retrieve container logs ...": keep the last real read
            if text.strip() and not text.startswith("unable to retrieve container logs"):
                logs[:] = [text]
            read = time.monotonic()
        try:
            answers.append(requests.post(f"{base}/v2/probe/blobs/uploads/", timeout=(1, 2)).status_code)
        except requests.RequestException:
            answers.append("down")  # the Recreate strategy replaces the pod twice
        time.sleep(0.1)
    return answers


def _job_log(node, name: str) -> str:
    return node.kubectl("-n", NAMESPACE, "logs", f"job/{name}", check=False).stdout


def _writable_again(node, base: str) -> None:
    deployment = _get(node, "deployment", "docker-registry")
    env = deployment["spec"]["template"]["spec"]["containers"][0].get("env") or []
    assert READONLY_ENV not in [e["name"] for e in env], "the read-only switch must be gone"
    node.wait_for(lambda: accepts_upload(base), 60, "the registry accepts an upload after the scheduled run")
    leases = node.kubectl("-n", NAMESPACE, "get", "lease", "-o", "name").stdout
    assert "docker-registry-installer-lock" not in leases, "the job releases the release's lock"


def test_the_installers_cronjob_replaces_the_charts(kube_node, scheduled):
    cron = _get(kube_node, "cronjob", CRONJOB)
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and cron["spec"]["schedule"] == "0 0 1 1 *"
    assert cron["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "registry-installer"
    names = kube_node.kubectl("-n", NAMESPACE, "get", "cronjob", "-o", "name").stdout.split()
    assert names == [f"cronjob.batch/{CRONJOB}"], "the chart's own garbage-collector CronJob stays off"
    for kind in ("serviceaccount", "role", "rolebinding"):
        assert _get(kube_node, kind, CRONJOB)["metadata"]["labels"]["app.kubernetes.io/instance"] == "docker-registry"
    sa = f"system:serviceaccount:{NAMESPACE}:{CRONJOB}"
    can = lambda *a: kube_node.kubectl("auth", "can-i", *a, "--as", sa, check=False).stdout.strip()  # noqa: E731
    assert can("patch", "deployment/docker-registry", "-n", NAMESPACE) == "yes"
    assert can("patch", "deployment/other", "-n", NAMESPACE) == "no", "only the registry's Deployment"
    assert can("delete", "pods", "-n", NAMESPACE) == "no" and can("get", "secrets", "-n", NAMESPACE) == "no"
    assert can("create", "pods/exec", "-n", "default") == "no", "nothing outside the release's namespace"


def test_a_scheduled_run_is_read_only_collects_and_ends_writable(kube_node, scheduled):
    base, _preset = scheduled
    keep = push(base, "vm/keep", "v1", 2 * 2**20)
    gone = push(base, "vm/gone", "v1", 24 * 2**20)
    delete(base, "vm/gone", gone)
    before = wait_usage(
        kube_node, NAMESPACE, lambda u: u["used_bytes"] > 24 * 2**20, "kubelet usage counting the pushed layers"
    )
    _start_job(kube_node, "gc-now")
    answers = _probe_until_done(kube_node, base, "gc-now")
    log = _job_log(kube_node, "gc-now")
    print(log)  # the script's steps and the collector's output, shown with -s
    assert _job_state(kube_node, "gc-now") == "Complete", log + kube_node.diagnose()
    assert 405 in answers, f"no push was refused during the read-only window: {answers}"
    assert answers[0] == 202, answers
    match = re.search(r"collected: (\d+) blobs and (\d+) manifests deleted", log)
    assert match and int(match.group(1)) >= 1, log
    assert re.search(r"the registry is writable again \(read-only for \d+ s\)", log), log
    _writable_again(kube_node, base)
    assert_collected(base, keep, gone)
    after = status(kube_node, NAMESPACE)
    last = after["last_gc"]
    assert last["scheduled"] is True and last["ok"] is True and last["job"] == "gc-now", last
    assert last["blobs_deleted"] == int(match.group(1)) and last["readonly_seconds"] > 0, last
    assert after["gc_schedule"] == "0 0 1 1 *" and after["read_only"] is False
    wait_usage(
        kube_node,
        NAMESPACE,
        lambda u: u["used_bytes"] < before["usage"]["used_bytes"] - 20 * 2**20,
        "kubelet usage after the scheduled gc below the usage before by the deleted layer",
    )


def test_a_failing_run_ends_writable_and_is_recorded(kube_node, scheduled):
    base, _preset = scheduled
    _start_job(kube_node, "gc-fails", GC_FLAGS="--no-such-flag")
    answers = _probe_until_done(kube_node, base, "gc-fails")
    log = _job_log(kube_node, "gc-fails")
    assert _job_state(kube_node, "gc-fails") == "Failed", log + kube_node.diagnose()
    assert 405 in answers, f"the run made the registry read-only before it failed: {answers}"
    assert "registry garbage-collect failed" in log and "the registry is writable again" in log, log
    _writable_again(kube_node, base)
    last = status(kube_node, NAMESPACE)["last_gc"]
    assert last["scheduled"] is True and last["ok"] is False and "garbage-collect failed" in last["error"], last


def test_a_run_that_finds_the_lock_held_changes_nothing_and_is_recorded(kube_node, scheduled):
    """An install, gc or grow holds the release's Lease: the run leaves the registry writable, fails its Job with the
    reason, and status shows it as skipped (who held the lock)."""
    from tests.test_gc_schedule_cluster import _lease

    base, _preset = scheduled
    kube_node.kubectl("-n", NAMESPACE, "apply", "-f", "-", input=json.dumps(_lease("other-host/4242/abc")))
    try:
        _start_job(kube_node, "gc-skipped")
        answers = _probe_until_done(kube_node, base, "gc-skipped")
        log = _job_log(kube_node, "gc-skipped")
        assert _job_state(kube_node, "gc-skipped") == "Failed", log + kube_node.diagnose()
        assert "skipped: the release's lock is held by other-host/4242/abc" in log, log
        assert set(answers) == {202}, f"the registry stayed writable: {answers}"
        last = status(kube_node, NAMESPACE)["last_gc"]
        assert last["scheduled"] is True and last["skipped"] is True and last["job"] == "gc-skipped", last
        assert "other-host/4242/abc" in last["error"], last
        holder = kube_node.kubectl(
            "-n", NAMESPACE, "get", "lease", "docker-registry-installer-lock", "-o", "jsonpath={.spec.holderIdentity}"
        ).stdout
        assert holder == "other-host/4242/abc", "the other run's lock is left alone"
    finally:
        kube_node.kubectl("-n", NAMESPACE, "delete", "lease", "docker-registry-installer-lock", check=False)


def test_a_run_stopped_by_its_deadline_ends_writable(kube_node, scheduled):
    """A read-only switch the registry cannot start with (distribution panics on `readonly: true`): the rollout
    never ends, the Job's deadline sends TERM, and the trap still takes the switch away."""
    base, _preset = scheduled
    _start_job(kube_node, "gc-stopped", deadline=25, READONLY_VALUE="true")
    logs: list = []
    answers = _probe_until_done(kube_node, base, "gc-stopped", logs=logs)
    log = logs[0] if logs else ""
    assert _job_state(kube_node, "gc-stopped") == "Failed", log + kube_node.diagnose()
    assert "down" in answers, "the broken switch took the registry down until the trap ran"
    assert "writable: removing" in log, log  # the trap started at the TERM (the pod is gone after it ends)
    _writable_again(kube_node, base)
    last = status(kube_node, NAMESPACE)["last_gc"]
    assert last["ok"] is False and "stopped (TERM)" in last["error"] and last["job"] == "gc-stopped", last


def test_turning_the_schedule_off_removes_the_installers_objects(kube_node, scheduled):
    _base, preset = scheduled
    text = preset.read_text().replace("enabled: true", "enabled: false")
    preset.write_text(text)
    assert yaml.safe_load(text)["extras"]["garbage_collect"]["enabled"] is False
    apply_preset(kube_node, preset)
    for kind in ("cronjob", "serviceaccount", "role", "rolebinding"):
        done = kube_node.kubectl("-n", NAMESPACE, "get", kind, CRONJOB, check=False)
        assert done.returncode != 0 and "NotFound" in done.stderr, f"{kind} {CRONJOB} is still there"
    assert status(kube_node, NAMESPACE)["gc_schedule"] is None


def test_status_reads_the_catalog_with_the_installers_credentials(kube_node, tmp_path):
    """With auth.mode registry the service proxy cannot pass a password: status port-forwards to the pod as the
    installer's own user (a generated password kept in <release>-installer)."""
    import base64

    from installer.registry_client import Descriptor, RegistryClient, manifest_json, sha256_digest
    from installer.secretstr import SecretStr

    namespace = "status-auth"
    file = tmp_path / "preset.yaml"
    file.write_text(
        f"version: 1\ntarget: {{namespace: {namespace}, release: docker-registry}}\n"
        "exposure: {hosts: [registry.statusauth.test], ingress_class: nginx, tls: {mode: none}}\n"
        "auth: {mode: registry, bcrypt_cost: 4, users: [{name: admin, password: generate}]}\n"
        "storage: {kind: filesystem, filesystem: {storage_class: rook-ceph-block, size: 1Gi}}\n"
    )
    apply_preset(kube_node, file, helm="helm4")
    try:
        secret = json.loads(
            kube_node.kubectl("-n", namespace, "get", "secret", "docker-registry-installer", "-o", "json").stdout
        )
        password = base64.b64decode(secret["data"]["password.admin"]).decode()
        ip = kube_node.kubectl(
            "-n", namespace, "get", "svc", "docker-registry", "-o", "jsonpath={.spec.clusterIP}"
        ).stdout.strip()
        with RegistryClient(f"http://{ip}:5000", username="admin", password=SecretStr(password)) as client:
            config = client.push_blob("apps/web", b'{"architecture": "amd64", "os": "linux"}', OCI_CONFIG)
            layer = b"layer"
            client.upload_blob("apps/web", [layer])
            client.put_manifest(
                "apps/web", "v1", manifest_json(config, [Descriptor(OCI_LAYER, sha256_digest(layer), len(layer))])
            )
        assert requests.get(f"http://{ip}:5000/v2/_catalog", timeout=10).status_code == 401
        seen = status(kube_node, namespace)
        assert (seen["repositories"], seen["tags"]) == (1, 1), seen["catalog_note"]
        assert seen["catalog_note"] == "read as admin"
        assert password not in json.dumps(seen)
    finally:
        kube_node.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

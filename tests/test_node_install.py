"""The installer on the real node (tests/fixtures/node.py) with the real chart: pods run, `--wait` waits for real,
the smoke push goes through the ingress stand-in to the registry pod, and the rollout watcher ends hopeless waits early.

Each test installs into a namespace of its own; the ingress-nginx stand-in (tests/fixtures/ingress.py) serves
the node cluster's `nginx` class on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import CHART, PRESETS, apply_args, helm_path, run_installer
from tests.fixtures.node import tls_secret
from tests.test_node_harness import apply, events_of

pytestmark = pytest.mark.node
PASSWORD = "node-Test-pw-42"
SEED = (PRESETS / "rook-ceph-nginx.yaml").read_text()
# the seed preset, also answering on `localhost`: the smoke push reaches the stand-in as localhost:PORT
SEED_LOCAL = SEED.replace("    - registry.example.com\n", "    - registry.example.com\n    - localhost\n", 1)


@pytest.fixture
def ingress(node_ingress):
    """The ingress-nginx stand-in on the node (tests/fixtures/ingress.py `node_ingress`), one per test."""
    return node_ingress


def cli(node, *args, helm="helm4", env=None, timeout=420):
    argv = list(args)
    if args[0] != "smoke":  # the smoke command talks to the registry only
        argv += ["--kubeconfig", str(node.kubeconfig), "--context", node.admin_context]
    if helm:
        argv += ["--helm", str(helm_path(helm))]
    full_env = {**os.environ, "REGISTRY_PASSWORD": PASSWORD, **(env or {})}
    return run_installer(*argv, env=full_env, timeout=timeout)


def write_preset(tmp_path: Path, text: str, name: str = "preset.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def apply_seed(node, namespace, ingress, ca, tmp_path, *extra, helm="helm4", preset_text=SEED_LOCAL, env=None):
    """apply of `preset_text` with the real chart, its smoke push through `ingress` trusting `ca`; `env` added."""
    preset = write_preset(tmp_path, preset_text, f"preset-{uuid.uuid4().hex[:6]}.yaml")
    return cli(
        node,
        *apply_args(preset, namespace),
        "--smoke-address",
        ingress.address("localhost"),
        "--timeout",
        "4m",
        *extra,
        helm=helm,
        env={**(env or {}), "SSL_CERT_FILE": str(ca.ca_file)},
    )


def get_json(node, namespace, what):
    return json.loads(node.kubectl("-n", namespace, "get", what, "-o", "json").stdout)


def failed(proc, node) -> str:
    return (
        f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-3000:]}\n--- "
        f"node\n{node.diagnose()}"
    )


def registry_client(ingress, ca):
    from installer.registry_client import RegistryClient
    from installer.secretstr import SecretStr

    return RegistryClient(
        ingress.address("localhost"), username="admin", password=SecretStr(PASSWORD), ca_file=ca.ca_file
    )


def smoke_kept(node, ingress, ca, repository: str, password_env: str = "REGISTRY_PASSWORD", env=None):
    """`registry-installer smoke --keep` as admin (password from $`password_env`) through `ingress` trusting `ca`:
    the test image stays as `repository`:v1; fails the test with the output if the push fails."""
    proc = cli(
        node,
        "smoke",
        "--registry",
        ingress.address("localhost"),
        "--username",
        "admin",
        "--password-env",
        password_env,
        "--ca-file",
        str(ca.ca_file),
        "--repository",
        repository,
        "--tag",
        "v1",
        "--keep",
        helm=None,
        env=env,
    )
    assert proc.returncode == 0, failed(proc, node)
    return proc


def push_kept(node, ingress, ca, repository: str) -> str:
    """Push an image through the installed registry and keep it; returns its manifest digest."""
    smoke_kept(node, ingress, ca, repository)
    client = registry_client(ingress, ca)
    try:
        return client.get_manifest(repository, "v1").digest
    finally:
        client.close()


def pull_back(ingress, ca, repository: str) -> str:
    """Read the kept image's manifest and every blob back (read_blob verifies each digest); returns the manifest
    digest."""
    client = registry_client(ingress, ca)
    try:
        manifest = client.get_manifest(repository, "v1")
        body = json.loads(manifest.body)
        for descriptor in [body["config"], *body["layers"]]:
            assert client.read_blob(repository, descriptor["digest"]) == descriptor["size"]
        return manifest.digest
    finally:
        client.close()


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
def test_seed_preset_installs_with_wait_and_the_smoke_push_goes_through_the_ingress(
    kube_node, ingress, test_ca, namespace, tmp_path, helm
):
    tls_secret(kube_node, namespace, test_ca)
    proc = apply_seed(kube_node, namespace, ingress, test_ca, tmp_path, helm=helm)
    assert proc.returncode == 0, failed(proc, kube_node)
    assert "rollout: PersistentVolumeClaim docker-registry: Bound" in proc.stdout
    assert "rollout: Pod docker-registry-" in proc.stdout and ": Ready  on ri-node" in proc.stdout
    deployment = get_json(kube_node, namespace, "deployment/docker-registry")
    assert deployment["status"].get("readyReplicas") == 1, failed(proc, kube_node)
    # available = ready for the chart's minReadySeconds (5); helm 3 does not wait for that part
    kube_node.wait_for(
        lambda: get_json(kube_node, namespace, "deployment/docker-registry")["status"].get("availableReplicas") == 1,
        60,
        "the Deployment available",
    )
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    pvc = get_json(kube_node, namespace, "pvc/docker-registry")
    assert pvc["status"]["phase"] == "Bound" and pvc["spec"]["storageClassName"] == "rook-ceph-block"
    assert pvc["status"]["capacity"]["storage"] == "100Gi"
    # the smoke push went through the stand-in with the preset's user: uploads answered 201, the manifest was read back
    log = ingress.access_log()
    assert '"PUT /v2/registry-installer/smoke/manifests/smoke HTTP/1.1" 201' in log, log[-3000:]
    assert "admin" in log and '"GET /v2/registry-installer/smoke/blobs/sha256:' in log
    assert PASSWORD not in proc.stdout + proc.stderr


def test_reconfigure_to_200Gi_recreates_the_pod_and_keeps_the_images_then_uninstall_and_reinstall_keep_them(
    kube_node, ingress, test_ca, namespace, tmp_path
):
    tls_secret(kube_node, namespace, test_ca)
    first = apply_seed(kube_node, namespace, ingress, test_ca, tmp_path)
    assert first.returncode == 0, failed(first, kube_node)
    digest = push_kept(kube_node, ingress, test_ca, "kept/before-upgrade")
    old_pods = {p["metadata"]["name"] for p in get_json(kube_node, namespace, "pods")["items"]}
    # 200Gi (the PVC grows in place) and new settings, one of which changes the pod: Recreate must replace it on the RWO
    # volume
    bigger = (
        SEED_LOCAL.replace("size: 100Gi", "size: 200Gi").replace(
            'max_body_size: "0"', 'max_body_size: "0"\n  read_timeout: 7200'
        )
        + "extras:\n  resources:\n    memory_request: 64Mi\n"
    )
    assert bigger != SEED_LOCAL
    second = apply_seed(kube_node, namespace, ingress, test_ca, tmp_path, preset_text=bigger)
    assert second.returncode == 0, failed(second, kube_node)
    pvc = get_json(kube_node, namespace, "pvc/docker-registry")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "200Gi"
    pods = get_json(kube_node, namespace, "pods")["items"]
    assert len(pods) == 1 and pods[0]["metadata"]["name"] not in old_pods, "Recreate replaced the pod"
    assert pods[0]["spec"]["containers"][0]["resources"]["requests"]["memory"] == "64Mi"
    annotations = get_json(kube_node, namespace, "ingress/docker-registry")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "7200"
    ingress.wait_served(namespace, "docker-registry")
    assert pull_back(ingress, test_ca, "kept/before-upgrade") == digest

    gone = cli(kube_node, "uninstall", "--namespace", namespace, "--yes")
    assert gone.returncode == 0, failed(gone, kube_node)
    assert "PVC" in gone.stdout and "docker-registry" in gone.stdout
    kube_node.wait_for(
        lambda: not get_json(kube_node, namespace, "pods")["items"], 120, "the registry pod gone after uninstall"
    )
    assert get_json(kube_node, namespace, "pvc/docker-registry")["status"]["phase"] == "Bound"
    again = apply_seed(kube_node, namespace, ingress, test_ca, tmp_path, preset_text=bigger)
    assert again.returncode == 0, failed(again, kube_node)
    ingress.wait_served(namespace, "docker-registry")
    assert pull_back(ingress, test_ca, "kept/before-upgrade") == digest


def test_the_kubelet_pulls_the_smoke_image_from_the_registry(kube_node, ingress, test_ca, namespace, tmp_path):
    """A Pod whose image is in the installed registry: containerd pulls it through the ingress with the CA and the
    preset's user."""
    tls_secret(kube_node, namespace, test_ca)
    proc = apply_seed(kube_node, namespace, ingress, test_ca, tmp_path)
    assert proc.returncode == 0, failed(proc, kube_node)
    push_kept(kube_node, ingress, test_ca, "kept/in-cluster")
    address = ingress.address(
        "localhost"
    )  # containerd runs in the host's network namespace: 127.0.0.1 reaches the stand-in
    kube_node.trust_registry(address, test_ca.ca_file)
    auth = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    docker_config = json.dumps({"auths": {address: {"auth": auth}}})
    apply(
        kube_node,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "pull"},
            "data": {".dockerconfigjson": base64.b64encode(docker_config.encode()).decode()},
        },
    )
    image = f"{address}/kept/in-cluster:v1"
    apply(
        kube_node,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "pulled"},
            "spec": {
                "restartPolicy": "Never",
                "imagePullSecrets": [{"name": "pull"}],
                "containers": [
                    {"name": "main", "image": image, "imagePullPolicy": "Always", "command": ["/nothing-to-run"]}
                ],
            },
        },
    )

    def pulled() -> bool:
        events = events_of(
            kube_node, namespace, "involvedObject.name=pulled", "{range .items[*]}{.reason} {.message}{'\\n'}{end}"
        )
        return "Pulled " in events

    kube_node.wait_for(pulled, 90, f"the kubelet pulling {image}")
    assert image in kube_node.images()
    assert '"GET /v2/kept/in-cluster/manifests/v1 HTTP/1.1" 200' in ingress.access_log()


def _early_failure(node, namespace, proc, reasons, *words):
    assert proc.returncode == 1, failed(proc, node)
    stops = [line for line in proc.stdout.splitlines() if line.strip().startswith("STOP: ")]
    assert len(stops) == 1 and stops[0].split(": ")[2] in reasons, failed(proc, node)
    for word in words:
        assert word in proc.stderr, failed(proc, node)
    helm_line = next(line for line in proc.stdout.splitlines() if "FAIL] helm" in line)
    assert float(helm_line.split()[2].rstrip("s")) < 120, helm_line  # the --timeout is 4m: the watcher ended it


@pytest.mark.parametrize("helm", ["helm3", "helm4"])
def test_a_class_without_provisioner_ends_in_seconds(kube_node, ingress, test_ca, namespace, tmp_path, helm):
    tls_secret(kube_node, namespace, test_ca)
    no_provisioner = kube_node.storage_classes["no_provisioner"]
    proc = apply_seed(
        kube_node,
        namespace,
        ingress,
        test_ca,
        tmp_path,
        helm=helm,
        preset_text=SEED_LOCAL.replace("rook-ceph-block", no_provisioner),
    )
    _early_failure(
        kube_node,
        namespace,
        proc,
        ("NoProvisioner",),
        f"StorageClass {no_provisioner} has no provisioner",
        "Nothing is left installed",
        "storage.filesystem.storage_class",
    )
    assert not get_json(kube_node, namespace, "deployments")["items"]


def test_an_image_the_node_cannot_pull_ends_the_wait_with_the_nodes_error(
    kube_node, ingress, test_ca, namespace, tmp_path
):
    tls_secret(kube_node, namespace, test_ca)
    preset = (
        SEED_LOCAL + "  image:\n    tag: 3.0.0-missing\n"
        if "extras:" in SEED_LOCAL
        else SEED_LOCAL + "extras:\n  image:\n    tag: 3.0.0-missing\n"
    )
    proc = apply_seed(kube_node, namespace, ingress, test_ca, tmp_path, preset_text=preset)
    # nothing resolves on the node: a network error, which may heal, so the wait ends after the 60 s grace, not at once
    _early_failure(
        kube_node,
        namespace,
        proc,
        ("ImagePullBackOff", "ErrImagePull"),
        "image registry:3.0.0-missing cannot be pulled",
        "lookup registry-1.docker.io",
        "image.tag",
    )


def test_a_missing_secret_key_ends_the_wait_and_names_the_key(kube_node, namespace, monkeypatch):
    """What the installer wrote before the S3 key fix (accessKey/secretKey): the pod cannot start; said within
    seconds."""
    from installer.apply import ApplyOptions, apply
    from installer.engine import connect, prepare
    from installer.errors import InstallerError
    from installer.helm import HelmRunner
    from installer.model import Choices
    from installer.render import Rendered

    monkeypatch.setenv("S3_ACCESS_KEY", "AKIA-node-test")
    monkeypatch.setenv("S3_SECRET_KEY", "node-test-secret")
    choices = Choices.parse(
        {
            "target": {"namespace": namespace},
            "chart": {"path": str(CHART)},
            "exposure": {"hosts": ["registry.example.com"], "tls": {"mode": "none"}},
            "auth": {"mode": "none"},
            "storage": {
                "kind": "s3",
                "s3": {
                    "bucket": "images",
                    "region": "us-east-1",
                    "endpoint": f"http://{kube_node.host_ip}:9",
                    "access_key": "env:S3_ACCESS_KEY",
                    "secret_key": "env:S3_SECRET_KEY",
                },
            },
        }
    )
    kube = connect(kube_node.admin_context, str(kube_node.kubeconfig))
    prepared = prepare(choices, kube)
    old_names = {"s3AccessKey": "accessKey", "s3SecretKey": "secretKey"}
    secrets = tuple(
        {**s, "data": {old_names.get(k, k): v for k, v in s["data"].items()}} for s in prepared.rendered.secrets
    )
    rendered = Rendered(prepared.rendered.values, prepared.rendered.secret_values, secrets, prepared.rendered.notes)
    events = []
    started = time.monotonic()
    with pytest.raises(InstallerError) as err:
        apply(
            prepared.plan,
            rendered,
            HelmRunner(str(helm_path("helm4")), str(kube_node.kubeconfig), kube_node.admin_context),
            kube,
            ApplyOptions(timeout="4m", smoke=False),
            on_event=events.append,
        )
    seconds = time.monotonic() - started
    assert "CreateContainerConfigError" in err.value.message and "s3AccessKey" in err.value.message, err.value
    assert f"Secret {namespace}/docker-registry-s3 has no key s3AccessKey" in err.value.hint
    fatal = [e for e in events if getattr(e, "fatal", False)]
    assert len(fatal) == 1 and fatal[0].reason == "CreateContainerConfigError"
    assert seconds < 120, seconds
    assert "AKIA-node-test" not in str(err.value)


@pytest.mark.s3
def test_s3_ha_preset_runs_two_replicas_that_write_the_push_into_the_bucket(
    kube_node, ingress, node_s3, namespace, tmp_path
):
    """presets/s3-ha.yaml on the S3 server: keys under the names the chart reads, two pods Ready, the pushed blobs in
    the bucket."""
    preset = yaml.safe_load((PRESETS / "s3-ha.yaml").read_text())
    preset["exposure"]["hosts"].append("localhost")
    preset["storage"] = node_s3.preset_storage()
    # cert-manager is not running here: the stand-in serves its fake certificate (localhost), as ingress-nginx does
    proc = apply_seed(
        kube_node,
        namespace,
        ingress,
        ingress.default_ca,
        tmp_path,
        preset_text=yaml.safe_dump(preset),
        env=node_s3.env(),
    )
    assert proc.returncode == 0, failed(proc, kube_node)
    deployment = get_json(kube_node, namespace, "deployment/docker-registry")
    assert deployment["spec"]["replicas"] == 2 and deployment["status"].get("readyReplicas") == 2, failed(
        proc, kube_node
    )
    assert "strategy" not in deployment["spec"] or deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert set(get_json(kube_node, namespace, "secret/docker-registry-s3")["data"]) == {"s3AccessKey", "s3SecretKey"}
    manifest = next(
        line.split()[-1] for line in proc.stdout.splitlines() if line.startswith("[ ok ] smoke: push manifest")
    )
    assert node_s3.has_blob(manifest), (manifest, node_s3.list_keys())
    # an image kept after the smoke: every blob of it is an object in the bucket
    password = base64.b64decode(
        get_json(kube_node, namespace, "secret/docker-registry-installer")["data"]["password.admin"]
    ).decode()
    proc = smoke_kept(
        kube_node, ingress, ingress.default_ca, "kept/on-s3", "ADMIN_PASSWORD", {"ADMIN_PASSWORD": password}
    )
    kept = next(line.split()[-1] for line in proc.stdout.splitlines() if line.startswith("[ ok ] smoke: push manifest"))
    assert node_s3.has_blob(kept)
    assert any(
        key.endswith("/kept/on-s3/_manifests/tags/v1/current/link")
        for key in node_s3.list_keys("docker/registry/v2/repositories/")
    )

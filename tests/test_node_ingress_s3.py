"""The ingress stand-in and the S3 server on the real node: the real chart's Ingress served through kube-proxy,
pods reaching the S3 server, and the chart's registry pods writing a push into the bucket."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import pytest
import yaml

from installer.events import discard
from installer.secretstr import SecretStr
from installer.smoke import SmokeResult, SmokeTarget, run_smoke
from installer.verify import ROUTE_SETTLE, wait_until_routed
from tests.fixtures.registry import make_ca, write_htpasswd
from tests.test_node_harness import apply, busybox_pod, install_chart, jsonpath, new_namespace, wait_pod_phase

pytestmark = pytest.mark.node

MiB = 1024 * 1024
USER = "admin"
AUTH_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/auth-type": "basic",
    "nginx.ingress.kubernetes.io/auth-secret": "registry-auth",
    "nginx.ingress.kubernetes.io/auth-realm": "Node Realm",
    "nginx.ingress.kubernetes.io/proxy-body-size": "0",
}


@pytest.fixture
def namespace(kube_node):
    """A namespace of this test's own, deleted afterwards."""
    yield from new_namespace(kube_node)


def secrets_for_ingress(node, namespace: str, tmp_path: Path) -> tuple[object, str]:
    """The TLS Secret (a CA-signed certificate for localhost) and the basic-auth Secret; returns (CA, password)."""
    ca = make_ca(tmp_path / "tls")
    password = secrets.token_urlsafe(12)
    htpasswd = write_htpasswd(tmp_path / "htpasswd", USER, password)
    node.kubectl(
        "-n", namespace, "create", "secret", "tls", "registry-tls", f"--cert={ca.cert_file}", f"--key={ca.key_file}"
    )
    node.kubectl("-n", namespace, "create", "secret", "generic", "registry-auth", f"--from-file=auth={htpasswd}")
    return ca, password


def helm_install(node, namespace: str, values: dict, tmp_path: Path) -> None:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    install_chart(node, namespace, "-f", str(values_file))


def smoke_through(node_ingress, ca, password: str, **options) -> tuple[SmokeTarget, SmokeResult]:
    """A smoke push (an 8 MiB blob) as the test user through the ingress stand-in on localhost, trusting `ca`, once
    kube-proxy routes to the pods: helm --wait returns when they are Ready, and the Service may route a moment later
    (a CI run got 502), as apply waits after an install. Returns the target and the result."""
    target = SmokeTarget(
        registry=node_ingress.address("localhost"),
        username=USER,
        password=SecretStr(password),
        ca_file=ca.ca_file,
        controller_family="ingress-nginx",
        blob_size=8 * MiB,
        timeout=30.0,
        **options,
    )
    wait_until_routed(target, discard, ROUTE_SETTLE)
    return target, run_smoke(target)


def ingress_values() -> dict:
    return {
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "hosts": ["localhost"],
            "path": "/",
            "annotations": AUTH_ANNOTATIONS,
            "tls": [{"secretName": "registry-tls", "hosts": ["localhost"]}],
        }
    }


@pytest.mark.registry
def test_the_real_charts_ingress_is_served_through_kube_proxy(kube_node, namespace, node_ingress, tmp_path):
    ca, password = secrets_for_ingress(kube_node, namespace, tmp_path)
    helm_install(kube_node, namespace, ingress_values(), tmp_path)
    node_ingress.wait_served(namespace, "reg-docker-registry")

    cluster_ip = jsonpath(kube_node, namespace, "svc/reg-docker-registry", "{.spec.clusterIP}")
    config = (node_ingress.directory / "nginx" / "nginx.conf").read_text()
    assert f"proxy_pass http://{cluster_ip}:5000;" in config  # the ClusterIP: kube-proxy carries it to the pod
    assert (
        jsonpath(kube_node, namespace, "ingress/reg-docker-registry", "{.status.loadBalancer.ingress[0].ip}")
        == "127.0.0.1"
    )

    target, result = smoke_through(node_ingress, ca, password)
    assert result.ok, f"{result.diagnosis}\n{node_ingress.error_log()[-2000:]}\n{kube_node.diagnose()}"
    wrong = run_smoke(dataclasses.replace(target, password=SecretStr("not-" + password), blob_size=MiB))
    assert not wrong.ok and '"Node Realm"' in wrong.diagnosis.cause
    pod = jsonpath(kube_node, namespace, "pods", "{.items[0].metadata.name}")
    pod_log = kube_node.kubectl("-n", namespace, "logs", pod).stdout
    assert "PUT /v2/registry-installer/smoke/manifests/smoke" in pod_log  # the push reached the pod


@pytest.mark.s3
def test_pods_and_the_host_reach_the_s3_server(kube_node, namespace, node_s3):
    assert node_s3.host == kube_node.host_ip
    token = secrets.token_hex(8)
    node_s3.client().put_object(Bucket=node_s3.bucket, Key="from-host.txt", Body=token.encode())
    url = node_s3.client().generate_presigned_url(
        "get_object", Params={"Bucket": node_s3.bucket, "Key": "from-host.txt"}, ExpiresIn=600
    )
    apply(kube_node, namespace, busybox_pod("fetch", f"wget -q -O - '{url}'"))
    wait_pod_phase(kube_node, namespace, "fetch")
    assert kube_node.kubectl("-n", namespace, "logs", "fetch").stdout.strip() == token


@pytest.mark.s3
@pytest.mark.registry
def test_two_chart_replicas_on_s3_write_the_pushed_blobs_into_the_bucket(
    kube_node, namespace, node_s3, node_ingress, tmp_path
):
    """The real chart with S3 storage and keys from a Secret (the s3-ha preset's shape), pushed to through the
    ingress."""
    ca, password = secrets_for_ingress(kube_node, namespace, tmp_path)
    kube_node.kubectl(
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        "registry-s3",
        f"--from-literal=s3AccessKey={node_s3.access_key}",
        f"--from-literal=s3SecretKey={node_s3.secret_key}",
    )
    values = {
        **ingress_values(),
        "replicaCount": 2,
        "storage": "s3",
        "s3": {
            "region": node_s3.region,
            "regionEndpoint": node_s3.endpoint,
            "bucket": node_s3.bucket,
            "forcepathstyle": True,
        },
        "secrets": {"s3": {"secretRef": "registry-s3"}, "haSharedSecret": secrets.token_hex(16)},
        "extraEnvVars": [{"name": "REGISTRY_STORAGE_S3_SECURE", "value": "false"}],
    }
    helm_install(kube_node, namespace, values, tmp_path)
    ready = jsonpath(kube_node, namespace, "pods", "{.items[*].status.conditions[?(@.type=='Ready')].status}")
    assert ready.split() == ["True", "True"]
    node_ingress.wait_served(namespace, "reg-docker-registry")

    _target, result = smoke_through(node_ingress, ca, password, keep=True)
    assert result.ok, f"{result.diagnosis}\n{kube_node.diagnose()}"
    assert node_s3.has_blob(result.digest), node_s3.list_keys()
    layers = [key for key in node_s3.list_keys("docker/registry/v2/blobs/") if key.endswith("/data")]
    assert len(layers) >= 3  # layer, config, manifest

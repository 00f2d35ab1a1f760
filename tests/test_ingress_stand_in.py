"""The ingress-nginx stand-in controller against the real API server: Ingress objects in, nginx behaviour out.

These need only the API server: the backends are ExternalName Services naming `localhost`
(a registry or a hung upstream on 127.0.0.1), which ingress-nginx proxies to by name too.
The ClusterIP path through kube-proxy is tested on the real node.
"""

from __future__ import annotations

import base64
import json
import secrets

import pytest
import requests
import yaml

from installer.secretstr import SecretStr
from installer.smoke import SmokeTarget, run_smoke
from tests.fixtures.ingress import IngressStandInError, start_ingress_stand_in
from tests.fixtures.registry import Blackhole, make_ca, start_registry, write_htpasswd

pytestmark = [pytest.mark.cluster, pytest.mark.registry]

MiB = 1024 * 1024
USER = "admin"


def b64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


@pytest.fixture
def namespace(kube_cluster):
    """A namespace of this test's own in the shared cluster, deleted afterwards."""
    name = f"ingress-{secrets.token_hex(4)}"
    kube_cluster.kubectl("create", "namespace", name)
    yield name
    # no controller-manager here to empty a deleted namespace: delete what the test made, so no
    # Ingress for localhost outlives it
    kube_cluster.kubectl("delete", "ingress,service,secret", "--all", "-n", name, "--wait=false")
    kube_cluster.kubectl("delete", "namespace", name, "--wait=false")


def apply(cluster, *objects: dict) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def tls_secret(namespace: str, name: str, ca) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace},
        "data": {
            "tls.crt": b64(ca.cert_file.read_bytes()),
            "tls.key": b64(ca.key_file.read_bytes()),
            "ca.crt": b64(ca.ca_file.read_bytes()),
        },
    }


def auth_secret(namespace: str, name: str, htpasswd) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"auth": b64(htpasswd.read_bytes())},
    }


def external_service(namespace: str, name: str, port: int, target: str = "localhost") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "ExternalName", "externalName": target, "ports": [{"name": "http", "port": port}]},
    }


def ingress(
    namespace: str,
    name: str,
    service: str,
    port: int,
    *,
    annotations: dict | None = None,
    host: str = "localhost",
    tls_secret_name: str | None = "registry-tls",
    class_name: str | None = "nginx",
    path: str = "/",
) -> dict:
    spec: dict = {
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": path,
                            "pathType": "Prefix",
                            "backend": {"service": {"name": service, "port": {"number": port}}},
                        }
                    ]
                },
            }
        ]
    }
    if class_name:
        spec["ingressClassName"] = class_name
    if tls_secret_name:
        spec["tls"] = [{"hosts": [host], "secretName": tls_secret_name}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": spec,
    }


def ingress_status(cluster, namespace: str, name: str) -> list:
    found = json.loads(cluster.kubectl("get", "ingress", name, "-n", namespace, "-o", "json").stdout)
    return ((found.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []


@pytest.fixture
def registry_behind(kube_cluster, namespace, tmp_path):
    """Debian's registry on 127.0.0.1, an ExternalName Service for it, a TLS Secret and a basic-auth Secret."""
    registry = start_registry(tmp_path / "registry")
    ca = make_ca(tmp_path / "tls")
    password = secrets.token_urlsafe(12)
    htpasswd = write_htpasswd(tmp_path / "htpasswd", USER, password)
    apply(
        kube_cluster,
        tls_secret(namespace, "registry-tls", ca),
        auth_secret(namespace, "registry-auth", htpasswd),
        external_service(namespace, "registry", registry.port),
    )
    yield registry, ca, password
    registry.stop()


BASIC_AUTH = {
    "nginx.ingress.kubernetes.io/auth-type": "basic",
    "nginx.ingress.kubernetes.io/auth-secret": "registry-auth",
    "nginx.ingress.kubernetes.io/auth-realm": "Stand-in Realm",
}


def smoke(stand_in, ca_file, password: str, blob_size: int = 8 * MiB):
    return run_smoke(
        SmokeTarget(
            registry=stand_in.address("localhost"),
            username=USER,
            password=SecretStr(password),
            ca_file=ca_file,
            controller_family="ingress-nginx",
            blob_size=blob_size,
            timeout=10.0,
        )
    )


@pytest.mark.timeout(180)
def test_serves_a_registry_ingress_with_its_tls_secret_and_basic_auth(
    kube_cluster, namespace, registry_behind, tmp_path
):
    registry, ca, password = registry_behind
    apply(
        kube_cluster,
        ingress(
            namespace,
            "registry",
            "registry",
            registry.port,
            annotations={**BASIC_AUTH, "nginx.ingress.kubernetes.io/proxy-body-size": "0"},
        ),
    )
    stand_in = start_ingress_stand_in(kube_cluster.kubeconfig, kube_cluster.admin_context, tmp_path / "stand-in")
    try:
        served = stand_in.wait_served(namespace, "registry")
        assert served.hosts == ("localhost",)
        assert ingress_status(kube_cluster, namespace, "registry") == [{"ip": "127.0.0.1"}]
        ca_file = stand_in.ca_file(namespace, "registry-tls")
        assert ca_file.read_bytes() == ca.ca_file.read_bytes()

        result = smoke(stand_in, ca_file, password)
        assert result.ok, result.diagnosis
        wrong = smoke(stand_in, ca_file, "not-" + password, blob_size=MiB)
        assert not wrong.ok and "401" in wrong.diagnosis.cause and '"Stand-in Realm"' in wrong.diagnosis.cause
        assert "/v2/" in stand_in.access_log()
    finally:
        stand_in.stop()
    assert ingress_status(kube_cluster, namespace, "registry") == []  # cleared on stop, as ingress-nginx does


@pytest.mark.timeout(180)
def test_default_body_limit_gives_the_413_diagnosis_until_the_annotation_lifts_it(
    kube_cluster, namespace, registry_behind, ingress_stand_in
):
    registry, ca, password = registry_behind
    apply(kube_cluster, ingress(namespace, "registry", "registry", registry.port, annotations=BASIC_AUTH))
    ingress_stand_in.wait_served(namespace, "registry")
    limited = smoke(ingress_stand_in, ca.ca_file, password)
    assert not limited.ok
    assert "413" in limited.diagnosis.cause and "proxy-body-size" in limited.diagnosis.fix, limited.diagnosis

    kube_cluster.kubectl(
        "annotate",
        "-n",
        namespace,
        "ingress",
        "registry",
        "nginx.ingress.kubernetes.io/proxy-body-size=0",
        "nginx.ingress.kubernetes.io/proxy-request-buffering=off",
    )
    ingress_stand_in.wait_served(namespace, "registry")  # the watch saw the change and nginx reloaded
    result = smoke(ingress_stand_in, ca.ca_file, password)
    assert result.ok, result.diagnosis
    config = (ingress_stand_in.directory / "nginx" / "nginx.conf").read_text()
    assert "client_max_body_size 0;" in config and "proxy_request_buffering off;" in config


@pytest.mark.timeout(180)
def test_secret_changes_are_served_after_a_reload(kube_cluster, namespace, registry_behind, ingress_stand_in, tmp_path):
    registry, ca, password = registry_behind
    apply(kube_cluster, ingress(namespace, "registry", "registry", registry.port, annotations=BASIC_AUTH))
    ingress_stand_in.wait_served(namespace, "registry")
    url = f"https://{ingress_stand_in.address('localhost')}/v2/"
    assert requests.get(url, auth=(USER, password), verify=ca.ca_file, timeout=10).status_code == 200

    new_password = secrets.token_urlsafe(12)
    new_ca = make_ca(tmp_path / "tls-2")
    apply(
        kube_cluster,
        auth_secret(namespace, "registry-auth", write_htpasswd(tmp_path / "htpasswd-2", USER, new_password)),
        tls_secret(namespace, "registry-tls", new_ca),
    )
    ingress_stand_in.wait_served(namespace, "registry")
    assert requests.get(url, auth=(USER, password), verify=new_ca.ca_file, timeout=10).status_code == 401
    assert requests.get(url, auth=(USER, new_password), verify=new_ca.ca_file, timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, auth=(USER, new_password), verify=ca.ca_file, timeout=10)  # the old certificate is gone


@pytest.mark.timeout(120)
def test_proxy_read_timeout_annotation_ends_a_hung_upstream_with_504(kube_cluster, namespace, ingress_stand_in):
    hung = Blackhole()
    try:
        apply(
            kube_cluster,
            external_service(namespace, "hung", hung.port),
            ingress(
                namespace,
                "hung",
                "hung",
                hung.port,
                tls_secret_name=None,
                annotations={
                    "nginx.ingress.kubernetes.io/proxy-read-timeout": "1",
                    "nginx.ingress.kubernetes.io/proxy-send-timeout": "1",
                },
            ),
        )
        ingress_stand_in.wait_served(namespace, "hung")
        # no TLS Secret: served on the HTTPS port with the controller's fake certificate
        answer = requests.get(
            f"https://{ingress_stand_in.address('localhost')}/v2/",
            verify=ingress_stand_in.default_ca.ca_file,
            timeout=60,
        )
        assert answer.status_code == 504
        assert hung.connections, "nginx never reached the upstream"
        config = (ingress_stand_in.directory / "nginx" / "nginx.conf").read_text()
        assert "proxy_read_timeout 1s;" in config and "proxy_send_timeout 1s;" in config
    finally:
        hung.stop()


@pytest.mark.timeout(120)
def test_only_its_class_is_served_and_broken_backends_answer_503(
    kube_cluster, namespace, registry_behind, ingress_stand_in
):
    registry, ca, password = registry_behind
    apply(
        kube_cluster,
        ingress(namespace, "other-class", "registry", registry.port, class_name="traefik", path="/traefik"),
        ingress(namespace, "no-service", "missing", 80, path="/missing"),
        external_service(namespace, "outside", 80, target="10.0.0.1"),
        ingress(namespace, "outside", "outside", 80, path="/outside"),
        ingress(namespace, "registry", "registry", registry.port, path="/v2", class_name=None),
    )  # nginx is the default
    for name in ("no-service", "outside", "registry"):
        ingress_stand_in.wait_served(namespace, name)
    base = f"https://{ingress_stand_in.address('localhost')}"
    assert requests.get(base + "/v2/", verify=ca.ca_file, timeout=10).status_code == 200
    assert requests.get(base + "/traefik", verify=ca.ca_file, timeout=10).status_code == 404
    assert (namespace, "other-class") not in ingress_stand_in.served
    assert ingress_status(kube_cluster, namespace, "other-class") == []
    assert ingress_status(kube_cluster, namespace, "registry") == [{"ip": "127.0.0.1"}]
    # a status someone else wrote (a test playing a controller) is left as it is
    apply(kube_cluster, ingress(namespace, "foreign-status", "registry", registry.port, path="/foreign"))
    kube_cluster.kubectl(
        "patch",
        "ingress",
        "foreign-status",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status": {"loadBalancer": {"ingress": [{"ip": "198.18.0.9"}]}}}',
    )
    ingress_stand_in.wait_served(namespace, "foreign-status")
    assert ingress_status(kube_cluster, namespace, "foreign-status") == [{"ip": "198.18.0.9"}]
    assert requests.get(base + "/missing", verify=ca.ca_file, timeout=10).status_code == 503
    assert requests.get(base + "/outside", verify=ca.ca_file, timeout=10).status_code == 503
    assert any(f"Service {namespace}/missing not found" in error for error in ingress_stand_in.errors)
    assert any("10.0.0.1, outside the test ranges" in error for error in ingress_stand_in.errors)
    # plain HTTP redirects a TLS host to the HTTPS port, as ingress-nginx's ssl-redirect does
    plain = requests.get(
        f"http://127.0.0.1:{ingress_stand_in.http_port}/v2/",
        headers={"Host": "localhost"},
        allow_redirects=False,
        timeout=10,
    )
    assert plain.status_code == 308 and plain.headers["Location"] == base + "/v2/"


@pytest.mark.timeout(120)
def test_a_config_nginx_refuses_keeps_the_old_one(kube_cluster, namespace, registry_behind, ingress_stand_in):
    registry, ca, password = registry_behind
    apply(kube_cluster, ingress(namespace, "registry", "registry", registry.port))
    ingress_stand_in.wait_served(namespace, "registry")
    generation = ingress_stand_in.nginx.generation
    kube_cluster.kubectl(
        "annotate", "-n", namespace, "ingress", "registry", "nginx.ingress.kubernetes.io/proxy-body-size=lots"
    )
    from tests.fixtures.procs import wait_for

    wait_for(lambda: any("nginx refused" in error for error in ingress_stand_in.errors), 30, "the refused reload")
    assert ingress_stand_in.nginx.generation == generation
    assert (
        requests.get(f"https://{ingress_stand_in.address('localhost')}/v2/", verify=ca.ca_file, timeout=10).status_code
        == 200
    )


def test_refuses_a_class_of_another_controller(kube_cluster, tmp_path):
    with pytest.raises(IngressStandInError, match="IngressClass traefik belongs to traefik.io/ingress-controller"):
        start_ingress_stand_in(kube_cluster.kubeconfig, kube_cluster.admin_context, tmp_path, class_name="traefik")

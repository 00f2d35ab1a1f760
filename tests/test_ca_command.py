"""`registry-installer ca` on day two, on the real API server: for a release whose certificate comes from a CA issuer
or a TLS Secret that carries `ca.crt` (node trust off), it prints the CA that signed the Secret's certificate, says
where it came from on stderr, and refuses a ca.crt that did not sign it or a Secret without one, naming the fix.

No chart is installed: each test makes the objects `ca` reads (the release's Ingress, as the chart labels it, its TLS
Secret, a namespaced CA Issuer) in a namespace of its own, with CAs made by tests/fixtures/tls.py, and deletes them
afterwards (the namespace stays: this API server has no controller to finish deleting one).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import run_installer
from tests.fixtures.tls import issue_leaf, make_ca

pytestmark = pytest.mark.cluster

RELEASE = "docker-registry"
HOST = "registry.ca-command.example"
SECRET = "reg-tls"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def ca(cluster, namespace: str, *more: str):
    target = ["--namespace", namespace, "--kubeconfig", str(cluster.kubeconfig), "--context", "admin"]
    return run_installer("ca", *target, *more, env=dict(os.environ))


class Objects:
    """What a test makes in its namespace, deleted again by `release_objects`."""

    def __init__(self, cluster, namespace: str) -> None:
        from kubernetes import client

        api = cluster.api_client("admin")
        self.namespace = namespace
        self.core, self.networking = client.CoreV1Api(api), client.NetworkingV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.made: list[tuple[object, str]] = []

    def secret(self, name: str, data: dict[str, str]) -> None:
        body = {"metadata": {"name": name}, "type": "kubernetes.io/tls", "data": {k: b64(v) for k, v in data.items()}}
        self.core.create_namespaced_secret(self.namespace, body)
        self.made.append((self.core.delete_namespaced_secret, name))

    def ingress(
        self, name: str, secret: str, labels: dict[str, str], annotations: dict[str, str] | None = None, host=HOST
    ) -> None:
        """An Ingress as the chart renders it for `host`, its TLS from `secret`."""
        backend = {"service": {"name": RELEASE, "port": {"number": 5000}}}
        body = {
            "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"secretName": secret, "hosts": [HOST]}],
                "rules": [{"host": HOST, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}],
            },
        }
        self.networking.create_namespaced_ingress(self.namespace, body)
        self.made.append((self.networking.delete_namespaced_ingress, name))

    def certificate(self, name: str, secret: str, issuer: str) -> None:
        """The installer's Certificate of a Gateway install (render.py's labels, secretName, issuerRef)."""
        labels = {"app.kubernetes.io/managed-by": "registry-installer", "app.kubernetes.io/instance": RELEASE}
        body = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "secretName": secret,
                "dnsNames": [HOST],
                "issuerRef": {"group": "cert-manager.io", "kind": "Issuer", "name": issuer},
            },
        }
        self.custom.create_namespaced_custom_object("cert-manager.io", "v1", self.namespace, "certificates", body)
        self.made.append(
            (
                lambda n, ns: self.custom.delete_namespaced_custom_object(
                    "cert-manager.io", "v1", ns, "certificates", n
                ),
                name,
            )
        )

    def ca_issuer(self, name: str, secret: str) -> None:
        body = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": name},
            "spec": {"ca": {"secretName": secret}},
        }
        self.custom.create_namespaced_custom_object("cert-manager.io", "v1", self.namespace, "issuers", body)
        self.made.append(
            (lambda n, ns: self.custom.delete_namespaced_custom_object("cert-manager.io", "v1", ns, "issuers", n), name)
        )


# the chart's Ingress labels (templates/ingress.yaml): how `ca` knows it is the release's
CHART_LABELS = {"app": "docker-registry", "release": RELEASE, "heritage": "Helm"}


@pytest.fixture
def objects(kube_cluster) -> Iterator[Objects]:
    from kubernetes.client.exceptions import ApiException

    made = Objects(kube_cluster, f"ca-command-{uuid.uuid4().hex[:6]}")
    made.core.create_namespace({"metadata": {"name": made.namespace}})
    try:
        yield made
    finally:
        for delete, name in reversed(made.made):
            try:
                delete(name, made.namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise


def no_key_in(text: str, *keys: str) -> None:
    assert "PRIVATE KEY" not in text
    for key in keys:
        body = [line for line in key.splitlines() if line and not line.startswith("-----")]
        assert b64(key) not in text and not any(line in text for line in body)


def printed_ca(cluster, namespace: str, pem: str, source: str, *keys: str) -> list[str]:
    """`ca` printed exactly `pem` on stdout (a valid CA file), named `source` on its first stderr line and showed no
    key; returns its stderr lines."""
    proc = ca(cluster, namespace)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == pem  # the PEM alone: `registry-installer ca > ca.crt` is a valid CA file
    lines = proc.stderr.splitlines()
    assert lines[0] == f"# CA: {source}", proc.stderr
    no_key_in(proc.stdout + proc.stderr, *keys)
    return lines


def test_the_ca_crt_that_signed_the_tls_secret_is_printed_and_named(kube_cluster, objects, tmp_path):
    root, root_key = make_ca("Day Two CA")
    leaf, leaf_key = issue_leaf([HOST], root, root_key)
    objects.secret(SECRET, {"tls.crt": leaf, "tls.key": leaf_key, "ca.crt": root})
    objects.ingress(RELEASE, SECRET, CHART_LABELS)
    # another application's Ingress in the namespace, its Secret's ca.crt a CA of its own: not the release's
    other, other_key = make_ca("Someone Else's CA")
    other_leaf, other_leaf_key = issue_leaf(["other.example"], other, other_key)
    objects.secret("another-tls", {"tls.crt": other_leaf, "tls.key": other_leaf_key, "ca.crt": other})
    objects.ingress("another-app", "another-tls", {"app": "other"}, host="other.example")

    source = f"ca.crt of Secret {objects.namespace}/{SECRET} (CN=Day Two CA)"
    lines = printed_ca(kube_cluster, objects.namespace, root, source, leaf_key, root_key)
    assert [line.split(":")[0] for line in lines[1:]] == [f"# {HOST}"], lines  # the release's host only

    out = tmp_path / "ca.crt"
    written = ca(kube_cluster, objects.namespace, "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert out.read_text() == root
    assert f"# CA: ca.crt of Secret {objects.namespace}/{SECRET} (CN=Day Two CA)" in written.stdout


def test_a_ca_crt_that_did_not_sign_the_certificate_is_not_printed(kube_cluster, objects):
    root, root_key = make_ca("Day Two CA")
    leaf, leaf_key = issue_leaf([HOST], root, root_key)
    stranger, _ = make_ca("Stranger CA")
    objects.secret(SECRET, {"tls.crt": leaf, "tls.key": leaf_key, "ca.crt": stranger})
    objects.ingress(RELEASE, SECRET, CHART_LABELS)

    proc = ca(kube_cluster, objects.namespace)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == "" and "BEGIN CERTIFICATE" not in proc.stderr
    assert (
        f"    - the ca.crt of Secret {objects.namespace}/{SECRET} did not sign Secret {objects.namespace}/{SECRET} "
        "(issued by CN=Day Two CA)\n" in proc.stderr
    ), proc.stderr
    assert "fix: give exposure.tls.ca_file" in proc.stderr and "Traceback" not in proc.stderr


def test_no_ca_crt_is_an_error_that_lists_what_was_tried_and_the_fix(kube_cluster, objects):
    root, root_key = make_ca("Day Two CA")
    leaf, leaf_key = issue_leaf([HOST], root, root_key)
    objects.secret(SECRET, {"tls.crt": leaf, "tls.key": leaf_key})
    objects.ingress(RELEASE, SECRET, CHART_LABELS)

    proc = ca(kube_cluster, objects.namespace)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == ""
    tried = [
        f"error: no CA for release {RELEASE} in namespace {objects.namespace}; tried:",
        f"    - Secret {RELEASE}-ca (the installer's CA, tls.mode self-signed): not there",
        f"    - ConfigMap {RELEASE}-node-trust (the CA node trust keeps): not there or holds no ca.crt",
        f"    - Secret {objects.namespace}/{SECRET} ends at a certificate issued by CN=Day Two CA, which it does not "
        "include",
    ]
    assert proc.stderr.splitlines()[: len(tried)] == tried, proc.stderr
    assert (
        "fix: give exposure.tls.ca_file (the CA that signed the registry's certificate) with clients.node_trust: "
        f"true and re-run apply (node trust keeps that CA in ConfigMap {RELEASE}-node-trust); a publicly trusted "
        "certificate needs no CA" in proc.stderr
    ), proc.stderr
    no_key_in(proc.stderr, leaf_key, root_key)


def test_the_ca_issuer_named_by_the_ingress_gives_its_ca(kube_cluster, objects):
    """A TLS Secret without ca.crt whose certificate the Ingress's cert-manager CA issuer signed: that issuer's CA
    (the tls.crt of its Secret, read as the probe reads it)."""
    root, root_key = make_ca("Issuer CA")
    leaf, leaf_key = issue_leaf([HOST], root, root_key)
    objects.secret("issuer-root", {"tls.crt": root, "tls.key": root_key})
    objects.ca_issuer("day-two", "issuer-root")
    objects.secret(SECRET, {"tls.crt": leaf, "tls.key": leaf_key})
    objects.ingress(RELEASE, SECRET, CHART_LABELS, {"cert-manager.io/issuer": "day-two"})

    source = f"the CA of Issuer day-two (Secret {objects.namespace}/issuer-root: CN=Issuer CA)"
    printed_ca(kube_cluster, objects.namespace, root, source, leaf_key, root_key)


def test_a_gateway_installs_certificate_names_the_ca_issuer_before_anything_is_issued(kube_cluster, objects):
    """A Gateway install (no Ingress): the installer's Certificate names the TLS Secret and its CA issuer; cert-manager
    has not issued the Secret yet, so the issuer's CA is the one that will sign it."""
    root, root_key = make_ca("Gateway Issuer CA")
    objects.secret("issuer-root", {"tls.crt": root, "tls.key": root_key})
    objects.ca_issuer("gateway-ca", "issuer-root")
    objects.certificate(SECRET, SECRET, "gateway-ca")

    source = f"the CA of Issuer gateway-ca (Secret {objects.namespace}/issuer-root: CN=Gateway Issuer CA)"
    printed_ca(kube_cluster, objects.namespace, root, source, root_key)


def test_no_tls_secret_at_all_is_said(kube_cluster, objects):
    proc = ca(kube_cluster, objects.namespace)
    assert proc.returncode == 1 and proc.stdout == "", proc.stderr
    assert "    - the release's TLS Secret: its Ingress names none (spec.tls), and it has no Certificate\n" in (
        proc.stderr
    ), proc.stderr
    assert "fix: give exposure.tls.ca_file" in proc.stderr

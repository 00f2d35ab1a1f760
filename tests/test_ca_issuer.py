"""A first cert-manager install whose issuer is a CA issuer, on the real API server: the probe reads the CA from the
issuer's Secret (tls.crt only), the plan uses it for node trust without exposure.tls.ca_file and says where it came
from, and a Secret that cannot be read (forbidden, missing, not a CA) is said so, with ca_file as the fix.

cert-manager's CRDs are seeded in the test cluster; cert-manager itself does not run (nothing issues): the
ClusterIssuers, Issuers, their Secrets and a controller Deployment (never started: no kubelet) are made here, with a
CA made by tests/fixtures/tls.py, and removed afterwards so other tests' probes see the seeded issuers only.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import yaml

from installer.errors import ValidationFailed
from installer.model import Choices
from tests.conftest import CHART, apply_args, helm_path, run_installer
from tests.fixtures.procs import wait_for
from tests.fixtures.tls import issue_leaf, make_ca

pytestmark = pytest.mark.cluster

NAMESPACE = "ca-issuer"  # the release's namespace: the Issuer and its Secret live here
CERT_MANAGER = "cert-manager"  # where the probe looks when it finds no controller Deployment
PKI = "ca-issuer-pki"  # the cluster resource namespace the test's controller Deployment names
HOST = "registry.ca-issuer.example"
PASSWORD = "ca-issuer-Test-pw-42"
CLUSTER_ISSUERS = ("ca-issuer-test", "ca-issuer-missing", "ca-issuer-leaf")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def tls_secret(name: str, cert: str, key: str) -> dict:
    """A Secret as cert-manager's CA issuer docs make it (kubectl create secret tls): the CA and its private key."""
    return {
        "metadata": {"name": name},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(cert), "tls.key": b64(key)},
    }


def issuer(kind: str, name: str, secret: str, namespace: str | None = None) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "cert-manager.io/v1", "kind": kind, "metadata": meta, "spec": {"ca": {"secretName": secret}}}


def ensure_namespace(core, name: str) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        core.create_namespace({"metadata": {"name": name}})
    except ApiException as exc:
        if exc.status != 409:
            raise


def quietly(fn, *args) -> None:
    """A clean-up call: what is already gone is fine."""
    from kubernetes.client.exceptions import ApiException

    try:
        fn(*args)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="module")
def ca_issuers(kube_cluster):
    """ClusterIssuers (a CA one, one whose Secret is missing, one whose Secret holds no CA) with their Secrets in
    cert-manager, and an Issuer with its CA in the release's namespace; the PEMs, and what removes them all."""
    from kubernetes import client

    api = kube_cluster.api_client("admin")
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    ca, ca_key = make_ca("Corp Issuing CA")
    ns_ca, ns_ca_key = make_ca("Namespace Issuing CA")
    leaf, leaf_key = issue_leaf(["not-a-ca.example"], ca, ca_key)
    for name in (CERT_MANAGER, NAMESPACE):
        ensure_namespace(core, name)
    core.create_namespaced_secret(CERT_MANAGER, tls_secret("ca-issuer-root", ca, ca_key))
    core.create_namespaced_secret(CERT_MANAGER, tls_secret("ca-issuer-leaf", leaf, leaf_key))
    core.create_namespaced_secret(NAMESPACE, tls_secret("ns-root", ns_ca, ns_ca_key))
    secrets = dict(zip(CLUSTER_ISSUERS, ("ca-issuer-root", "ca-issuer-absent", "ca-issuer-leaf")))
    for name, secret in secrets.items():
        custom.create_cluster_custom_object(
            "cert-manager.io", "v1", "clusterissuers", issuer("ClusterIssuer", name, secret)
        )
    custom.create_namespaced_custom_object(
        "cert-manager.io", "v1", NAMESPACE, "issuers", issuer("Issuer", "ns-ca", "ns-root", NAMESPACE)
    )
    try:
        yield {"ca": ca, "ca_key": ca_key, "ns_ca": ns_ca, "keys": (ca_key, ns_ca_key, leaf_key)}
    finally:
        for name in CLUSTER_ISSUERS:
            quietly(custom.delete_cluster_custom_object, "cert-manager.io", "v1", "clusterissuers", name)
        quietly(custom.delete_namespaced_custom_object, "cert-manager.io", "v1", NAMESPACE, "issuers", "ns-ca")
        for namespace, name in (
            (CERT_MANAGER, "ca-issuer-root"),
            (CERT_MANAGER, "ca-issuer-leaf"),
            (NAMESPACE, "ns-root"),
        ):
            quietly(core.delete_namespaced_secret, name, namespace)


def no_key_in(text: str, keys) -> None:
    """None of the CA's private keys (tls.key) in `text`: neither as PEM, nor its base64 lines, nor as the Secret
    holds it."""
    assert "PRIVATE KEY" not in text
    for key in keys:
        body = [line for line in key.splitlines() if line and not line.startswith("-----")]
        assert b64(key) not in text and not any(line in text for line in body)


def cli(cluster, *args: str, context: str = "admin"):
    argv = [*args, "--kubeconfig", str(cluster.kubeconfig), "--context", context]
    return run_installer(*argv, env={**os.environ, "REGISTRY_PASSWORD": PASSWORD})


def preset(issuer_name: str, kind: str = "ClusterIssuer", node_trust: bool = True) -> dict:
    return {
        "target": {"namespace": NAMESPACE},
        "exposure": {
            "hosts": [HOST],
            "ingress_class": "nginx",
            "tls": {"mode": "cert-manager", "issuer": issuer_name, "issuer_kind": kind},
        },
        "auth": {"mode": "registry", "users": [{"name": "admin", "password": "env:REGISTRY_PASSWORD"}]},
        "storage": {"filesystem": {"storage_class": "rook-ceph-block", "size": "1Gi"}},
        "clients": {"node_trust": node_trust},
    }


def choices(issuer_name: str, kind: str = "ClusterIssuer", node_trust: bool = True) -> Choices:
    return Choices.parse({**preset(issuer_name, kind, node_trust), "chart": {"path": str(CHART)}})


def test_the_probe_reads_a_ca_issuers_ca_and_says_why_when_it_cannot(kube_cluster, ca_issuers):
    proc = cli(kube_cluster, "probe", "--json", "--namespace", NAMESPACE)
    assert proc.returncode == 0, proc.stderr
    no_key_in(proc.stdout, ca_issuers["keys"])
    found = {f"{i['kind']}/{i['name']}": i for i in json.loads(proc.stdout)["issuers"]}
    assumed = "cluster resource namespace cert-manager assumed: cert-manager's controller Deployment was not found"
    assert found["ClusterIssuer/ca-issuer-test"] == {
        "kind": "ClusterIssuer",
        "name": "ca-issuer-test",
        "namespace": None,
        "ready": None,
        "ca_secret": "cert-manager/ca-issuer-root",
        "ca_pem": ca_issuers["ca"],
        "ca_note": f"CA CN=Corp Issuing CA read from the tls.crt of Secret cert-manager/ca-issuer-root; {assumed} or "
        "not readable",
    }
    issuer_ns = found["Issuer/ns-ca"]
    assert (issuer_ns["namespace"], issuer_ns["ca_secret"], issuer_ns["ca_pem"]) == (
        NAMESPACE,
        f"{NAMESPACE}/ns-root",
        ca_issuers["ns_ca"],
    )
    assert issuer_ns["ca_note"] == f"CA CN=Namespace Issuing CA read from the tls.crt of Secret {NAMESPACE}/ns-root"
    missing, leaf = found["ClusterIssuer/ca-issuer-missing"], found["ClusterIssuer/ca-issuer-leaf"]
    assert missing["ca_pem"] is None and missing["ca_note"].startswith(
        "its CA was not read: Secret cert-manager/ca-issuer-absent does not exist"
    )
    assert leaf["ca_pem"] is None and leaf["ca_note"].startswith(
        "its CA was not read: the tls.crt of Secret cert-manager/ca-issuer-leaf is not a CA certificate "
        "(CN=not-a-ca.example: no basicConstraints CA:TRUE)"
    )
    # an ACME issuer is what it was: no CA, no note
    acme = found["ClusterIssuer/letsencrypt-prod"]
    assert (acme["ca_secret"], acme["ca_pem"], acme["ca_note"]) == (None, None, "")

    text = cli(kube_cluster, "probe", "--namespace", NAMESPACE)
    assert text.returncode == 0, text.stderr
    no_key_in(text.stdout, ca_issuers["keys"])
    assert (
        "  ClusterIssuer/ca-issuer-test: CA issuer, CA CN=Corp Issuing CA read from the tls.crt of Secret "
        "cert-manager/ca-issuer-root;" in text.stdout
    ), text.stdout
    assert (
        "  ClusterIssuer/ca-issuer-missing: CA issuer, its CA was not read: Secret cert-manager/ca-issuer-absent "
        "does not exist;" in text.stdout
    ), text.stdout

    # in the process: the probe result's repr and rich's pretty print show neither the key nor the CA's PEM
    from rich.pretty import pretty_repr

    from installer.engine import connect
    from installer.probe import ClusterProbe

    result = ClusterProbe(connect("admin", str(kube_cluster.kubeconfig)), NAMESPACE).probe()
    for shown in (repr(result), pretty_repr(result)):
        no_key_in(shown, ca_issuers["keys"])
        assert "BEGIN CERTIFICATE" not in shown and "ca_secret='cert-manager/ca-issuer-root'" in shown


@pytest.mark.helm
def test_a_first_install_with_node_trust_needs_no_ca_file(kube_cluster, ca_issuers, tmp_path, monkeypatch):
    from installer.clients import node_trust_objects
    from installer.engine import connect, prepare
    from installer.session import WizardSession

    monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)
    kube = connect("admin", str(kube_cluster.kubeconfig))
    for chosen, kind, pem, source in (
        (
            "ca-issuer-test",
            "ClusterIssuer",
            ca_issuers["ca"],
            "the CA of ClusterIssuer ca-issuer-test (Secret cert-manager/ca-issuer-root: CN=Corp Issuing CA)",
        ),
        (
            "ns-ca",
            "Issuer",
            ca_issuers["ns_ca"],
            f"the CA of Issuer ns-ca (Secret {NAMESPACE}/ns-root: CN=Namespace Issuing CA)",
        ),
    ):
        wanted = choices(chosen, kind)
        prepared = prepare(wanted, kube)
        assert prepared.existing.tls_secret_chain is None  # a first install: cert-manager has issued nothing
        assert prepared.plan.ca_pem == pem and prepared.plan.client_ca.source == source
        assert f"CA for the nodes, the smoke push and CDI: {source}" in prepared.plan.notes
        # node trust writes exactly that CA, and the key is nowhere in what the installer would apply
        config_map, daemon_set = node_trust_objects(prepared.plan)
        assert config_map["data"] == {"ca.crt": pem} and daemon_set["kind"] == "DaemonSet"
        rendered = prepared.rendered
        applied = [rendered.values, rendered.secret_values, rendered.secrets, rendered.objects, config_map, daemon_set]
        no_key_in(repr(prepared.plan) + json.dumps(applied, default=str), ca_issuers["keys"])
        # the wizard's Clients step finds it the same way (the session reads the issuer itself)
        session = WizardSession()
        session.kube = kube
        assert session.client_ca(wanted) == prepared.plan.client_ca and session.clients_problems(wanted) == []

    # the headless dry run says the same, with no ca_file in the preset
    path = tmp_path / "preset.yaml"
    path.write_text(yaml.safe_dump({"version": 1, **preset("ca-issuer-test")}))
    proc = cli(kube_cluster, *apply_args(path, NAMESPACE, "--dry-run", "--helm", str(helm_path("helm3"))))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        "CA for the nodes, the smoke push and CDI: the CA of ClusterIssuer ca-issuer-test (Secret "
        "cert-manager/ca-issuer-root: CN=Corp Issuing CA)" in proc.stdout
    ), proc.stdout
    no_key_in(proc.stdout + proc.stderr, ca_issuers["keys"])


def test_a_ca_that_cannot_be_read_is_said_so_and_ca_file_is_the_fix(kube_cluster, ca_issuers, monkeypatch):
    from installer.engine import connect, prepare

    monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)
    kube = connect("admin", str(kube_cluster.kubeconfig))
    for chosen, why in (
        ("ca-issuer-missing", "its CA was not read: Secret cert-manager/ca-issuer-absent does not exist"),
        ("ca-issuer-leaf", "its CA was not read: the tls.crt of Secret cert-manager/ca-issuer-leaf is not a CA"),
    ):
        with pytest.raises(ValidationFailed) as info:
            prepare(choices(chosen), kube)
        ((problem),) = info.value.problems
        assert problem.path == "clients.node_trust"
        assert f"ClusterIssuer {chosen} is a CA issuer, but {why}" in problem.message, problem.message
        assert problem.fix.startswith("set exposure.tls.ca_file to the CA's PEM file")


def controller_deployment(args: list[str]) -> dict:
    """cert-manager's controller Deployment as its chart labels it, with these args (it never runs here)."""
    labels = {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"}
    container = {
        "name": "cert-manager-controller",
        "image": "quay.io/jetstack/cert-manager-controller:v1.19.1",
        "args": args,
        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
    }
    return {
        "metadata": {"name": "cert-manager", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def test_the_cluster_resource_namespace_is_the_controllers(kube_cluster, ca_issuers, monkeypatch):
    """The chart passes --cluster-resource-namespace=$(POD_NAMESPACE) (the Deployment's namespace); an extra arg after
    it moves the ClusterIssuers' Secrets elsewhere, and the probe and the plan follow."""
    from kubernetes import client

    from installer.engine import connect, prepare
    from installer.probe import ClusterProbe

    monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)
    api = kube_cluster.api_client("admin")
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    kube = connect("admin", str(kube_cluster.kubeconfig))
    chart_args = ["--v=2", "--cluster-resource-namespace=$(POD_NAMESPACE)"]
    moved, moved_key = make_ca("Moved Issuing CA")
    ensure_namespace(core, PKI)
    apps.create_namespaced_deployment(CERT_MANAGER, controller_deployment(chart_args))
    try:
        (test,) = [i for i in ClusterProbe(kube, NAMESPACE).probe().issuers if i.name == "ca-issuer-test"]
        assert (test.ca_secret, test.ca_pem) == ("cert-manager/ca-issuer-root", ca_issuers["ca"])
        assert test.ca_note.endswith(
            "; cluster resource namespace cert-manager: --cluster-resource-namespace=$(POD_NAMESPACE) of Deployment "
            "cert-manager/cert-manager"
        ), test.ca_note
        core.create_namespaced_secret(PKI, tls_secret("ca-issuer-root", moved, moved_key))
        apps.patch_namespaced_deployment(
            "cert-manager",
            CERT_MANAGER,
            [
                {
                    "op": "add",
                    "path": "/spec/template/spec/containers/0/args/-",
                    "value": f"--cluster-resource-namespace={PKI}",
                }
            ],
        )
        plan = prepare(choices("ca-issuer-test"), kube).plan
        assert plan.ca_pem == moved
        assert (
            plan.client_ca.source
            == f"the CA of ClusterIssuer ca-issuer-test (Secret {PKI}/ca-issuer-root: CN=Moved Issuing CA)"
        )
        no_key_in(repr(plan), (moved_key,))
    finally:
        quietly(apps.delete_namespaced_deployment, "cert-manager", CERT_MANAGER)
        quietly(core.delete_namespaced_secret, "ca-issuer-root", PKI)


READER = "ca-issuer-reader"


@pytest.fixture
def reader_kubeconfig(kube_cluster, ca_issuers, tmp_path):
    """A ServiceAccount's kubeconfig that may read what the probe reads and the Secrets of the release's namespace,
    but no Secret in cert-manager (as a namespaced installer identity); removed afterwards."""
    from kubernetes import client

    api = kube_cluster.api_client("admin")
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    groups = ["apiextensions.k8s.io", "cert-manager.io", "apps", "storage.k8s.io", "networking.k8s.io"]
    core_kinds = ["namespaces", "nodes", "configmaps", "persistentvolumeclaims", "services", "pods", "events"]
    read = ["get", "list", "watch"]
    rbac.create_cluster_role(
        {
            "metadata": {"name": READER},
            "rules": [
                {"apiGroups": groups + ["gateway.networking.k8s.io"], "resources": ["*"], "verbs": read},
                {"apiGroups": [""], "resources": core_kinds, "verbs": read},
            ],
        }
    )
    subject = [{"kind": "ServiceAccount", "name": READER, "namespace": NAMESPACE}]
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": READER}
    rbac.create_cluster_role_binding({"metadata": {"name": READER}, "roleRef": role_ref, "subjects": subject})
    rbac.create_namespaced_role(
        NAMESPACE,
        {"metadata": {"name": READER}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": read}]},
    )
    rbac.create_namespaced_role_binding(
        NAMESPACE, {"metadata": {"name": READER}, "roleRef": {**role_ref, "kind": "Role"}, "subjects": subject}
    )
    core.create_namespaced_service_account(NAMESPACE, {"metadata": {"name": READER}})
    try:
        # the RBAC authorizer learns of new bindings through its watch: wait until it applies them, not a guess
        wait_for(
            lambda: (
                may(api, "get", "secrets", NAMESPACE) and may(api, "list", "clusterissuers", group="cert-manager.io")
            ),
            30,
            "the reader's RBAC",
        )
        assert not may(api, "get", "secrets", CERT_MANAGER)
        token = core.create_namespaced_service_account_token(
            READER, NAMESPACE, {"spec": {"expirationSeconds": 3600}}
        ).status.token
        path = tmp_path / "reader.kubeconfig"
        ca_data = base64.b64encode(Path(kube_cluster.ca_file).read_bytes()).decode()
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {"server": kube_cluster.server, "certificate-authority-data": ca_data},
                        }
                    ],
                    "users": [{"name": READER, "user": {"token": token}}],
                    "contexts": [{"name": READER, "context": {"cluster": "test", "user": READER}}],
                    "current-context": READER,
                }
            )
        )
        path.chmod(0o600)
        yield path
    finally:
        quietly(rbac.delete_cluster_role_binding, READER)
        quietly(rbac.delete_cluster_role, READER)
        quietly(rbac.delete_namespaced_role_binding, READER, NAMESPACE)
        quietly(rbac.delete_namespaced_role, READER, NAMESPACE)
        quietly(core.delete_namespaced_service_account, READER, NAMESPACE)


def may(api, verb: str, resource: str, namespace: str | None = None, group: str = "") -> bool:
    """Whether the API server lets the reader ServiceAccount do this now (a SubjectAccessReview by the admin)."""
    from kubernetes import client

    attributes = {"verb": verb, "resource": resource, "group": group, **({"namespace": namespace} if namespace else {})}
    review = client.AuthorizationV1Api(api).create_subject_access_review(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": f"system:serviceaccount:{NAMESPACE}:{READER}", "resourceAttributes": attributes},
        }
    )
    return bool(review.status.allowed)


def test_a_secret_the_identity_may_not_read_is_said_so(kube_cluster, ca_issuers, reader_kubeconfig, monkeypatch):
    from installer.engine import connect, prepare
    from installer.session import WizardSession

    monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)
    forbidden = "its CA was not read: not allowed to read Secret cert-manager/ca-issuer-root"
    proc = run_installer("probe", "--json", "--namespace", NAMESPACE, "--kubeconfig", str(reader_kubeconfig))
    assert proc.returncode == 0, proc.stderr
    (test,) = [i for i in json.loads(proc.stdout)["issuers"] if i["name"] == "ca-issuer-test"]
    assert test["ca_pem"] is None and test["ca_note"].startswith(forbidden + "; cluster resource namespace"), test
    no_key_in(proc.stdout, ca_issuers["keys"])
    # the Issuer's Secret in the release's namespace is readable: its CA is found
    (own,) = [i for i in json.loads(proc.stdout)["issuers"] if i["name"] == "ns-ca"]
    assert own["ca_pem"] == ca_issuers["ns_ca"]

    kube = connect(READER, str(reader_kubeconfig))
    with pytest.raises(ValidationFailed) as info:
        prepare(choices("ca-issuer-test"), kube)
    ((problem),) = info.value.problems
    assert problem.path == "clients.node_trust"
    assert f"ClusterIssuer ca-issuer-test is a CA issuer, but {forbidden}" in problem.message, problem.message
    assert problem.fix.startswith("set exposure.tls.ca_file to the CA's PEM file")
    session = WizardSession()
    session.kube = kube
    assert session.clients_problems(choices("ca-issuer-test")) == [problem]
    assert prepare(choices("ns-ca", "Issuer"), kube).plan.ca_pem == ca_issuers["ns_ca"]

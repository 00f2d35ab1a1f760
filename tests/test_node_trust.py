"""Issue 14 on the real node: node trust (the DaemonSet writes the CA where the node's containerd reads it), the pull
Secret, and the in-cluster pull check after the smoke push, with its x509 and 401 diagnoses.

The registry host is a name only the node resolves (`kube_node.add_host`, to 127.0.0.1 where the ingress stand-in
listens: containerd runs in the host's network namespace); the smoke push from the test goes to `localhost:PORT`
(the self-signed certificate covers both names). A name other than localhost matters: containerd falls back to
plain HTTP for localhost, which would hide the x509 failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.conftest import CHART, ROOT, helm_path
from tests.fixtures.ingress import start_ingress_stand_in

pytestmark = pytest.mark.node
PASSWORD = "trust-Test-pw-42"


@pytest.fixture
def ingress(kube_node, tmp_path_factory):
    stand_in = start_ingress_stand_in(
        kube_node.kubeconfig, kube_node.admin_context, tmp_path_factory.mktemp("trust-ingress")
    )
    try:
        yield stand_in
    finally:
        stand_in.stop()


def _json(node, namespace, what):
    return json.loads(node.kubectl("-n", namespace, "get", what, "-o", "json").stdout)


def test_node_trust_and_pull_secret_make_the_in_cluster_pull_pass_and_each_missing_piece_is_diagnosed(
    kube_node, ingress, tmp_path, monkeypatch
):
    from installer.clients import node_report, remove_node_trust, run_pull_check
    from installer.engine import connect, prepare
    from installer.helm import HelmRunner
    from installer.model import Choices
    from installer.preset import dump_preset
    from installer.uninstall import uninstall
    from installer.verify import plan_pull_check, run_plan_smoke

    tag = uuid.uuid4().hex[:6]
    namespace, apps = f"ri-trust-{tag}", f"ri-apps-{tag}"
    host = f"reg-{tag}.ri.test"
    pull_address = f"{host}:{ingress.https_port}"
    kube_node.add_host(host, "127.0.0.1")
    monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)  # for the Plan this test builds after the CLI's apply
    other_certs = tmp_path / "node-etc"  # CRI-O's and Docker's folders: kept off the machine's real /etc
    choices = Choices.model_validate(
        {
            "target": {"namespace": namespace},
            "chart": {"path": str(CHART)},
            "exposure": {"hosts": [host, "localhost"], "ingress_class": "nginx", "tls": {"mode": "self-signed"}},
            "auth": {"users": [{"name": "admin", "password": "env:REGISTRY_PASSWORD"}]},
            "storage": {"filesystem": {"storage_class": kube_node.storage_classes["default"], "size": "1Gi"}},
            "clients": {
                "namespaces": [apps],
                "service_account": True,
                "node_trust": True,
                "node_trust_image": "docker.io/library/busybox:1.35",
                "containerd_certs_d": str(kube_node.certs_d),
                "containerd_config": str(kube_node.root / "containerd" / "config.toml"),
                "crio_certs_d": str(other_certs / "containers"),
                "docker_certs_d": str(other_certs / "docker"),
                "pull_address": pull_address,
            },
        }
    )
    kube = connect(kube_node.admin_context, str(kube_node.kubeconfig))
    helm = HelmRunner(str(helm_path("helm4")), str(kube_node.kubeconfig), kube_node.admin_context)
    preset = tmp_path / "preset.yaml"
    preset.write_text(dump_preset(choices))
    try:
        # the headless apply, as an operator runs it
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "installer",
                "apply",
                "--preset",
                str(preset),
                "--yes",
                "--timeout",
                "4m",
                "--smoke-address",
                ingress.address("localhost"),
                "--kubeconfig",
                str(kube_node.kubeconfig),
                "--context",
                kube_node.admin_context,
                "--helm",
                str(helm_path("helm4")),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=600,
            env={**os.environ, "REGISTRY_PASSWORD": PASSWORD},
        )
        output = f"exit {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
        assert proc.returncode == 0, f"{output}\n{kube_node.diagnose()}"
        assert (
            "in-cluster pull check passed: node ri-node pulled " + f"{pull_address}/registry-installer/smoke@sha256:"
            in proc.stdout
        ), output
        assert (
            f"{kube_node.node_name} (containerd://" in proc.stdout and "): trusted: containerd reads" in proc.stdout
        ), output
        assert PASSWORD not in proc.stdout + proc.stderr
        # a re-run's Plan: the same CA and pull user (kept in the cluster), for the checks below
        plan = prepare(choices, kube).plan
        # node trust: the verdict per node, from the runtime and the node's containerd config
        (verdict,) = node_report(kube, plan)
        assert verdict.node == kube_node.node_name and verdict.runtime.startswith("containerd://")
        assert verdict.state == "trusted", verdict
        hosts_toml = (kube_node.certs_d / pull_address / "hosts.toml").read_text()
        assert f'ca = "{kube_node.certs_d}/{pull_address}/ca.crt"' in hosts_toml
        assert (kube_node.certs_d / pull_address / "ca.crt").read_text().strip() == plan.ca_pem.strip()
        assert (other_certs / "docker" / host / "ca.crt").exists()
        # the kubelet pulled through the stand-in by the node-only name, with the pull user
        log = ingress.access_log()
        assert "puller" in log and '"GET /v2/registry-installer/smoke/manifests/sha256:' in log, log[-2000:]
        # the pull Secret and the default ServiceAccount of the client namespace (merged)
        secret = _json(kube_node, apps, "secret/docker-registry-pull")
        assert secret["type"] == "kubernetes.io/dockerconfigjson"
        account = _json(kube_node, apps, "serviceaccount/default")
        assert {"name": "docker-registry-pull"} in account.get("imagePullSecrets", [])
        # the pod is gone, the smoke image deleted after the check
        assert not _json(kube_node, apps, "pods")["items"]

        # reconfigure reads the clients section back from the installer's own objects
        from installer.clients import clients_from_cluster

        read_back = clients_from_cluster(kube, namespace, "docker-registry", [host, "localhost"])
        assert read_back == {k: v for k, v in choices.clients.model_dump().items() if k not in ("pull_check",)}, (
            read_back
        )

        # 401: the same pull without the pull Secret (in the release's namespace: the client namespace's default
        # ServiceAccount now brings the Secret by itself)
        smoke = run_plan_smoke(plan, lambda e: None, 64 * 1024, ingress.address("localhost"), keep=True)
        assert smoke.ok, smoke
        denied = plan_pull_check(plan, kube, smoke.digest, lambda e: None, pull_secret=None, namespace=namespace)
        assert not denied.ok and denied.kind == "auth", denied
        assert "401" in denied.cause and "imagePullSecrets" in denied.fix

        # x509: node trust removed (the DaemonSet takes its files away again), the same pull with the Secret
        remove_node_trust(kube, plan)
        assert not (kube_node.certs_d / pull_address).exists()
        assert not (other_certs / "docker" / host).exists()
        assert not _json(kube_node, namespace, "daemonsets")["items"]
        untrusted = plan_pull_check(plan, kube, smoke.digest, lambda e: None)
        assert not untrusted.ok and untrusted.kind == "x509", untrusted
        assert "x509" in untrusted.detail and "clients.node_trust" in untrusted.fix

        # a name the node cannot resolve: the diagnosis names the host the node tried
        nowhere = f"nowhere-{tag}.ri.test:5000"
        unresolved = run_pull_check(kube, apps, f"{nowhere}/x@sha256:{'0' * 64}", None, "docker-registry")
        assert not unresolved.ok and unresolved.kind == "dns", unresolved
        assert f"nowhere-{tag}.ri.test" in unresolved.cause and "resolve" in unresolved.fix
        assert not _json(kube_node, apps, "pods")["items"]

        lines = uninstall(helm, kube, namespace, "docker-registry", keep_data=False)
        assert any("docker-registry-pull" in line for line in lines), lines
        assert not _json(kube_node, apps, "secrets")["items"] or all(
            s["metadata"]["name"] != "docker-registry-pull" for s in _json(kube_node, apps, "secrets")["items"]
        )
        assert {"name": "docker-registry-pull"} not in _json(kube_node, apps, "serviceaccount/default").get(
            "imagePullSecrets", []
        )
    finally:
        # the Ingress (for localhost too) goes before the namespace: a terminating namespace's Ingress would be
        # served beside the next test's
        kube_node.kubectl("-n", namespace, "delete", "ingress", "--all", "--wait=true", check=False)
        for ns in (namespace, apps):
            kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        shutil.rmtree(kube_node.certs_d / pull_address, ignore_errors=True)
        shutil.rmtree(kube_node.certs_d / host, ignore_errors=True)
        shutil.rmtree(kube_node.certs_d / "localhost", ignore_errors=True)

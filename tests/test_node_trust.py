"""Issue 14 on the real node: node trust (the DaemonSet writes the CA where the node's containerd reads it), the pull
Secret, and the in-cluster pull check after the smoke push, with its x509 and 401 diagnoses.

The registry host is a name only the node resolves (`kube_node.add_host`, to 127.0.0.1 where the ingress stand-in
listens: containerd runs in the host's network namespace); the smoke push from the test goes to `localhost:PORT`
(the self-signed certificate covers both names). A name other than localhost matters: containerd falls back to
plain HTTP for localhost, which would hide the x509 failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.conftest import CHART, ROOT, helm_path
from tests.fixtures.ingress import start_ingress_stand_in
from tests.fixtures.node import installer_argv

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


def _choices(node, namespace: str, host: str, apps: str, pull_address: str, other_certs, tls: dict):
    """The release with node trust and one pull namespace; CRI-O's and Docker's folders under `other_certs`."""
    from installer.model import Choices

    return Choices.parse(
        {
            "target": {"namespace": namespace},
            "chart": {"path": str(CHART)},
            "exposure": {"hosts": [host, "localhost"], "ingress_class": "nginx", "tls": tls},
            "auth": {"users": [{"name": "admin", "password": "env:REGISTRY_PASSWORD"}]},
            "storage": {"filesystem": {"storage_class": node.storage_classes["default"], "size": "1Gi"}},
            "clients": {
                "namespaces": [apps],
                "service_account": True,
                "node_trust": True,
                "node_trust_image": "docker.io/library/busybox:1.35",
                "containerd_certs_d": str(node.certs_d),
                "containerd_config": str(node.root / "containerd" / "config.toml"),
                "crio_certs_d": str(other_certs / "containers"),
                "docker_certs_d": str(other_certs / "docker"),
                "pull_address": pull_address,
            },
        }
    )


def _apply(node, ingress, choices, tmp_path) -> tuple[subprocess.CompletedProcess[str], str]:
    """The headless apply of `choices` as an operator runs it (the smoke push through localhost); (process, words)."""
    from installer.preset import dump_preset

    preset = tmp_path / "preset.yaml"
    preset.write_text(dump_preset(choices))
    proc = subprocess.run(
        installer_argv(
            node,
            *("apply", "--preset", str(preset), "--yes", "--timeout", "4m"),
            *("--smoke-address", ingress.address("localhost"), "--helm", str(helm_path("helm4"))),
        ),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "REGISTRY_PASSWORD": PASSWORD},
    )
    return proc, f"exit {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"


def test_node_trust_and_pull_secret_make_the_in_cluster_pull_pass_and_each_missing_piece_is_diagnosed(
    kube_node, ingress, tmp_path, monkeypatch
):
    from installer.clients import node_report, remove_node_trust, run_pull_check
    from installer.engine import connect, prepare
    from installer.helm import HelmRunner
    from installer.uninstall import uninstall
    from installer.verify import plan_pull_check, run_plan_smoke

    tag = uuid.uuid4().hex[:6]
    namespace, apps = f"ri-trust-{tag}", f"ri-apps-{tag}"
    host = f"reg-{tag}.ri.test"
    pull_address = f"{host}:{ingress.https_port}"
    kube_node.add_host(host, "127.0.0.1")
    monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)  # for the Plan this test builds after the CLI's apply
    other_certs = tmp_path / "node-etc"  # CRI-O's and Docker's folders: kept off the machine's real /etc
    choices = _choices(kube_node, namespace, host, apps, pull_address, other_certs, {"mode": "self-signed"})
    kube = connect(kube_node.admin_context, str(kube_node.kubeconfig))
    helm = HelmRunner(str(helm_path("helm4")), str(kube_node.kubeconfig), kube_node.admin_context)
    try:
        proc, output = _apply(kube_node, ingress, choices, tmp_path)
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
        assert read_back == {k: v for k, v in choices.clients.to_dict().items() if k not in ("pull_check",)}, read_back

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


def _corporate_chain(folder, hosts: list[str], root_name: str = "Example Corp Root CA") -> tuple[str, str]:
    """A "corporate" PKI made with cryptography, as an operator's would be: an RSA root CA, an intermediate CA, and a
    serving certificate for `hosts` from the intermediate. Writes root.pem, chain.pem (leaf + intermediate) and
    key.pem to `folder`; returns (root PEM, leaf PEM)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def certificate(subject: str, key, issuer: x509.Certificate | None, issuer_key, ca: bool) -> x509.Certificate:
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
                x509.NameAttribute(NameOID.COMMON_NAME, subject),
            ]
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer is not None else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False
            ).add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = certificate(root_name, root_key, None, root_key, ca=True)
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = certificate("Example Corp Issuing CA 1", mid_key, root, root_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate(hosts[0], key, mid, mid_key, ca=False)

    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    (folder / "root.pem").write_text(pem(root))
    (folder / "chain.pem").write_text(pem(leaf) + pem(mid))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "key.pem").chmod(0o600)
    return pem(root), pem(leaf)


def test_a_corporate_ca_from_ca_file_reaches_every_node_and_the_pull_passes_through_containerd(
    kube_node, ingress, tmp_path, monkeypatch
):
    """tls.mode files with a certificate from a corporate intermediate, exposure.tls.ca_file the corporate root: the
    DaemonSet writes that root where containerd reads it, the smoke push trusts the same root, and the kubelet's pull
    by a name only the node resolves passes (no other trust: without the root containerd says x509)."""
    from installer.clients import node_trust_name, run_pull_check
    from installer.engine import connect, prepare
    from installer.helm import HelmRunner
    from installer.model import TLS
    from installer.session import WizardSession
    from installer.tlsfiles import generate_ca
    from installer.uninstall import uninstall

    tag = uuid.uuid4().hex[:6]
    namespace, apps = f"ri-corp-{tag}", f"ri-corp-apps-{tag}"
    host = f"corp-{tag}.ri.test"
    pull_address = f"{host}:{ingress.https_port}"
    kube_node.add_host(host, "127.0.0.1")
    root, _leaf = _corporate_chain(tmp_path, [host, "localhost"])
    tls = {
        "mode": "files",
        "cert_file": str(tmp_path / "chain.pem"),
        "key_file": str(tmp_path / "key.pem"),
        "ca_file": str(tmp_path / "root.pem"),
    }
    choices = _choices(kube_node, namespace, host, apps, pull_address, tmp_path / "node-etc", tls)
    kube = connect(kube_node.admin_context, str(kube_node.kubeconfig))
    helm = HelmRunner(str(helm_path("helm4")), str(kube_node.kubeconfig), kube_node.admin_context)
    try:
        proc, output = _apply(kube_node, ingress, choices, tmp_path)
        assert proc.returncode == 0, f"{output}\n{kube_node.diagnose()}"
        # the plan says where the CA came from; the pull check passed on the node
        assert f"CA for the nodes, the smoke push and CDI: exposure.tls.ca_file ({tmp_path / 'root.pem'}: " in (
            proc.stdout
        ), output
        assert (
            "in-cluster pull check passed: node ri-node pulled " + f"{pull_address}/registry-installer/smoke@sha256:"
            in proc.stdout
        ), output
        assert "): trusted: containerd reads" in proc.stdout, output
        # the ConfigMap holds the corporate root only; the node got exactly it, where hosts.toml points
        config_map = _json(kube_node, namespace, f"configmap/{node_trust_name('docker-registry')}")
        assert config_map["data"] == {"ca.crt": root}
        assert (kube_node.certs_d / pull_address / "ca.crt").read_text().strip() == root.strip()
        hosts_toml = (kube_node.certs_d / pull_address / "hosts.toml").read_text()
        assert f'ca = "{kube_node.certs_d}/{pull_address}/ca.crt"' in hosts_toml
        # the kubelet pulled through the stand-in (the certificate chain the chart's Secret serves) by the node-only
        # name: containerd verified leaf -> intermediate -> the root from hosts.toml
        log = ingress.access_log()
        assert "puller" in log and '"GET /v2/registry-installer/smoke/manifests/sha256:' in log, log[-2000:]
        # it is that file containerd trusts: another CA there gives x509; with the root back TLS passes and the
        # registry answers (no such manifest)
        node_ca = kube_node.certs_d / pull_address / "ca.crt"
        node_ca.write_text(generate_ca("Not Example Corp")[0])
        image = f"{pull_address}/registry-installer/smoke@sha256:{'0' * 64}"
        wrong = run_pull_check(kube, apps, image, None, "docker-registry")
        assert not wrong.ok and wrong.kind == "x509", wrong
        node_ca.write_text(root)
        right = run_pull_check(kube, apps, image, None, "docker-registry")
        assert not right.ok and right.kind in ("not-found", "auth") and "x509" not in right.detail, right

        # `registry-installer ca` prints the CA clients must trust: the corporate root on record in node trust
        target = ["--namespace", namespace, "--kubeconfig", str(kube_node.kubeconfig), "--context"]
        printed = subprocess.run(
            [sys.executable, "-m", "installer", "ca", *target, kube_node.admin_context],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert printed.returncode == 0 and printed.stdout == root, printed.stdout + printed.stderr

        # a re-run with a new corporate PKI: the plan says the CA changes, every node gets the new root, and the pull
        # passes with it
        renewed = tmp_path / "renewed"
        renewed.mkdir()
        new_root, _ = _corporate_chain(renewed, [host, "localhost"], "Example Corp Root CA 2")
        new_tls = {k: str(renewed / name) for k, name in (("cert_file", "chain.pem"), ("key_file", "key.pem"))}
        new_tls.update(mode="files", ca_file=str(renewed / "root.pem"))
        again = _choices(kube_node, namespace, host, apps, pull_address, tmp_path / "node-etc", new_tls)
        proc, output = _apply(kube_node, ingress, again, renewed)
        assert proc.returncode == 0, f"{output}\n{kube_node.diagnose()}"
        assert "~ node trust CA: CN=Example Corp Root CA -> CN=Example Corp Root CA 2 from exposure.tls.ca_file" in (
            proc.stdout
        ), output
        assert "in-cluster pull check passed" in proc.stdout, output
        assert (kube_node.certs_d / pull_address / "ca.crt").read_text().strip() == new_root.strip()
        root = new_root

        # the same root as the ca.crt of a TLS Secret (cert-manager's CA issuers write it): found without asking by
        # the engine (apply's prepare) and by the wizard's Clients step (the session), from the real API server
        def b64(text: str) -> str:
            return base64.b64encode(text.encode()).decode()

        files = {name: (renewed / f"{name}.pem").read_text() for name in ("chain", "key")}
        data = {"tls.crt": b64(files["chain"]), "tls.key": b64(files["key"]), "ca.crt": b64(root)}
        kube.core.create_namespaced_secret(
            namespace, {"metadata": {"name": "corp-tls"}, "type": "kubernetes.io/tls", "data": data}
        )
        from_secret = choices.replace(
            exposure=choices.exposure.replace(tls=TLS(mode="existing-secret", secret_name="corp-tls"))
        )
        monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)
        found = prepare(from_secret, kube).plan.client_ca
        assert found.pem.strip() == root.strip(), found
        assert found.source == "ca.crt of Secret corp-tls (CN=Example Corp Root CA 2)"
        session = WizardSession()
        session.kube = kube
        assert session.client_ca(from_secret) == found and session.clients_problems(from_secret) == []
        # uninstall removes the files the DaemonSet wrote, and only those
        lines = uninstall(helm, kube, namespace, "docker-registry", keep_data=False)
        assert any("docker-registry-pull" in line for line in lines), lines
        assert not (kube_node.certs_d / pull_address).exists()
        assert not (tmp_path / "node-etc" / "docker" / host).exists()
    finally:
        kube_node.kubectl("-n", namespace, "delete", "ingress", "--all", "--wait=true", check=False)
        for ns in (namespace, apps):
            kube_node.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        for name in (pull_address, host, "localhost"):
            shutil.rmtree(kube_node.certs_d / name, ignore_errors=True)

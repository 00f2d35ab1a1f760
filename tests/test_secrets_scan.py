"""Install with known passwords, then search everything the installer wrote or left for them."""

from __future__ import annotations

import base64
import json
import os

import pytest
import yaml

from installer.probe import decode_helm_release
from tests.conftest import apply_args, run_installer
from tests.test_cluster_install import core

pytestmark = [pytest.mark.faults, pytest.mark.cluster]
PASSWORDS = {"ADMIN_PW": "Admin-Known-Plaintext-1", "CI_PW": "Ci-Known-Plaintext-2"}


def _forms(value: str) -> list[str]:
    return [
        value,
        base64.b64encode(value.encode()).decode(),
        base64.b64encode(base64.b64encode(value.encode())).decode(),
    ]


def _kube_texts(cluster, namespace):
    from kubernetes import client

    api = core(cluster)
    texts = {}
    for secret in api.list_namespaced_secret(namespace).items:
        data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.data or {}).items()}
        if secret.type == "helm.sh/release.v1":
            release = decode_helm_release(secret.data["release"])
            texts[f"helm release {secret.metadata.name}"] = json.dumps(release)
        texts[f"Secret {secret.metadata.name}"] = json.dumps(data)
    for cm in api.list_namespaced_config_map(namespace).items:
        texts[f"ConfigMap {cm.metadata.name}"] = json.dumps(cm.data or {})
    apps = client.AppsV1Api(cluster.api_client("admin"))
    for dep in apps.list_namespaced_deployment(namespace).items:
        texts[f"Deployment {dep.metadata.name}"] = json.dumps(
            cluster.api_client("admin").sanitize_for_serialization(dep)
        )
    return texts


@pytest.mark.parametrize("mode", ["ingress", "registry"])
def test_no_plaintext_password_anywhere(kube_cluster, tmp_path, mode):
    from tests.conftest import helm_path

    helm = helm_path("helm4")
    namespace = f"scan-{mode}"
    preset = tmp_path / "preset.yaml"
    preset.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "exposure": {"hosts": ["registry.example.com"], "tls": {"mode": "self-signed"}},
                "auth": {
                    "mode": mode,
                    "bcrypt_cost": 5,
                    "users": [{"name": "admin", "password": "env:ADMIN_PW"}, {"name": "ci", "password": "env:CI_PW"}],
                },
                "storage": {"filesystem": {"size": "10Gi"}},
            }
        )
    )
    env = {**os.environ, **PASSWORDS, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    apply = [
        *apply_args(preset, namespace),
        "--no-wait",
        "--verbose",
        "--kubeconfig",
        str(kube_cluster.kubeconfig),
        "--context",
        "admin",
        "--helm",
        str(helm),
    ]
    outputs = {}
    for label, argv in {
        "apply": apply,
        "apply again": apply,  # the re-run (an upgrade) must leak nothing either
        "render": ["render", "--preset", str(preset), "--out", str(tmp_path / "out")],
        "probe": ["probe", "--json", "--kubeconfig", str(kube_cluster.kubeconfig)],
    }.items():
        proc = run_installer(*argv, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs[f"{label} stdout"] = proc.stdout
        outputs[f"{label} stderr"] = proc.stderr
    for path in (tmp_path / "out").iterdir():
        outputs[f"file {path.name}"] = path.read_text()
    leftovers = list((tmp_path / "tmp").iterdir())
    assert leftovers == [], f"temp files left behind: {leftovers}"
    outputs.update(_kube_texts(kube_cluster, namespace))
    assert any(k.startswith("helm release") for k in outputs) and any("$2y$" in v for v in outputs.values())
    kubeconfig = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    credentials = [u["user"][k] for u in kubeconfig["users"] for k in ("client-key-data", "token") if k in u["user"]]
    assert credentials
    for where, text in outputs.items():
        for secret in PASSWORDS.values():
            for form in _forms(secret):
                assert form not in text, f"a password ({'plain' if form == secret else 'base64'}) leaked into {where}"
        for credential in credentials:
            assert (
                credential not in text and base64.b64decode(credential).decode(errors="replace")[40:120] not in text
            ), f"kubeconfig credentials in {where}"

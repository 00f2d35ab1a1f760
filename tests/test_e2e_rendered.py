"""End to end through the rendered configuration: what the chart would run, run for real.

A preset is rendered, `helm template` turns it into objects with the stand-in chart, and the real
registry and nginx are started from exactly those objects: the registry from the chart's
ConfigMap, env and htpasswd Secret; nginx from the Ingress annotations, the basic-auth Secret and
the TLS Secret. Then the smoke push goes through nginx like a user's push through the ingress.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import subprocess

import pytest
import yaml
from pydantic import SecretStr

from installer.apply import run_plan_smoke
from installer.helm import HelmRunner
from installer.model import Choices
from installer.plan import ResolvedUser, build_plan
from installer.render import render, write_rendered
from tests.conftest import CHART, helm_path
from tests.fixtures.procs import free_port
from tests.fixtures.registry import TestCA, run_registry, start_nginx

pytestmark = [pytest.mark.registry, pytest.mark.helm]
NGINX = "nginx.ingress.kubernetes.io/"


def _objects(rendered, tmp_path):
    files = [str(p) for p in write_rendered(rendered, tmp_path / "render") if p.name != "secrets.yaml"]
    text = HelmRunner(str(helm_path("helm4"))).template("docker-registry", _local_chart(), "docker-registry", files)
    objs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(text) if d}
    for secret in rendered.secrets:
        objs[("Secret", secret["metadata"]["name"])] = secret
    return objs


def _local_chart():
    from installer.plan import ChartRef

    return ChartRef(str(CHART), None, None)


def _secret_value(objs, name, key):
    return base64.b64decode(objs[("Secret", name)]["data"][key]).decode()


def _env_value(objs, item):
    if "value" in item:
        return item["value"]
    ref = item["valueFrom"]["secretKeyRef"]
    return _secret_value(objs, ref["name"], ref["key"])


def start_from_objects(objs, tmp_path):
    """The registry as the chart's Deployment would run it, nginx as ingress-nginx would from the Ingress."""
    deployment = objs[("Deployment", "docker-registry")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: _env_value(objs, item) for item in container["env"]}
    reg_dir = tmp_path / "registry"
    reg_dir.mkdir()
    config = reg_dir / "config.yml"
    config.write_text(objs[("ConfigMap", "docker-registry-config")]["data"]["config.yml"])
    if env.get("REGISTRY_AUTH") == "htpasswd":
        (reg_dir / "htpasswd").write_text(_secret_value(objs, "docker-registry-secret", "htpasswd"))
        env["REGISTRY_AUTH_HTPASSWD_PATH"] = str(reg_dir / "htpasswd")
    port = free_port()
    # only where the pod's paths and ports cannot exist here
    env.update(REGISTRY_HTTP_ADDR=f"127.0.0.1:{port}", REGISTRY_HTTP_DEBUG_ADDR=f"127.0.0.1:{free_port()}",
               REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=str(reg_dir / "storage"))
    registry = run_registry(reg_dir, config, port, env=env)

    ingress = objs[("Ingress", "docker-registry")]
    notes = ingress["metadata"]["annotations"]
    tls_dir = tmp_path / "tls"
    (tls_dir / "trust").mkdir(parents=True)
    tls_secret = ingress["spec"]["tls"][0]["secretName"]
    ca = TestCA(tls_dir)
    ca.cert_file.write_text(_secret_value(objs, tls_secret, "tls.crt"))
    ca.key_file.write_text(_secret_value(objs, tls_secret, "tls.key"))
    ca.ca_file.write_text(_secret_value(objs, tls_secret, "ca.crt"))
    htpasswd = None
    if notes.get(NGINX + "auth-type") == "basic":
        htpasswd = tmp_path / "ingress-htpasswd"
        htpasswd.write_text(_secret_value(objs, notes[NGINX + "auth-secret"], "auth"))
    nginx = start_nginx(tmp_path / "nginx", upstream=f"127.0.0.1:{port}", ca=ca,
                        body_limit=notes[NGINX + "proxy-body-size"], read_timeout=notes[NGINX + "proxy-read-timeout"] + "s",
                        send_timeout=notes[NGINX + "proxy-send-timeout"] + "s", htpasswd=htpasswd,
                        realm=notes.get(NGINX + "auth-realm", ""), location=ingress["spec"]["rules"][0]["http"]["paths"][0]["path"],
                        request_buffering=notes[NGINX + "proxy-request-buffering"] == "on")
    return registry, nginx


def _plan(mode, body="0", password="e2e-Known-pw-7"):
    choices = Choices.model_validate({
        "exposure": {"hosts": ["localhost"], "tls": {"mode": "self-signed"}},
        "auth": {"mode": mode, "bcrypt_cost": 4, "users": [{"name": "pusher", "password": password}]},
        "uploads": {"max_body_size": body}}, context={"allow_literal_secrets": True})
    return build_plan(choices)


@pytest.mark.parametrize("mode", ["ingress", "registry"])
def test_rendered_settings_work_in_the_real_registry_and_proxy(tmp_path, mode):
    plan = _plan(mode)
    registry, nginx = start_from_objects(_objects(render(plan), tmp_path), tmp_path)
    try:
        result = run_plan_smoke(plan, on_event=lambda e: None, blob_size=8 * 2**20, address=f"localhost:{nginx.port}", keep=True)
        assert result.ok, result.diagnosis
        # the same image, read by a real client through the same proxy, trusting the installer's CA
        cert_dir = tmp_path / "tls" / "trust"
        proc = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", str(cert_dir), "--creds", "pusher:e2e-Known-pw-7",
                               f"docker://localhost:{nginx.port}/registry-installer/smoke:smoke"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "sha256:" + hashlib.sha256(proc.stdout.encode()).hexdigest() == result.digest
        wrong_user = ResolvedUser("pusher", SecretStr("not-the-password"))
        refused = run_plan_smoke(dataclasses.replace(plan, users=(wrong_user,)), on_event=lambda e: None, blob_size=1024,
                                 address=f"localhost:{nginx.port}")
        assert not refused.ok and "401" in refused.diagnosis.cause
    finally:
        nginx.stop()
        registry.stop()


def test_rendered_body_limit_is_met_for_real(tmp_path):
    plan = _plan("ingress", body="1m")
    registry, nginx = start_from_objects(_objects(render(plan), tmp_path), tmp_path)
    try:
        result = run_plan_smoke(plan, on_event=lambda e: None, blob_size=8 * 2**20, address=f"localhost:{nginx.port}")
        assert not result.ok
        assert "413" in result.diagnosis.cause and "nginx.ingress.kubernetes.io/proxy-body-size" in result.diagnosis.fix
        assert result.diagnosis.fix_screen == "uploads"
    finally:
        nginx.stop()
        registry.stop()

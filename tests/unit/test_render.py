"""Rendering: golden values files, only keys the chart reads, and no secret material in values.yaml."""

from __future__ import annotations

import base64
import os
import re
import stat
import tarfile
from pathlib import Path

import pytest

from installer.model import Choices
from installer.plan import ExistingState, build_plan
from installer.preset import load_preset
from installer.render import render, write_rendered
from installer.secretstr import SecretStr
from tests.conftest import CHART, PRESETS

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def _plan(name, **env):
    for key, value in env.items():
        os.environ[key] = value
    try:
        return build_plan(load_preset(PRESETS / name))
    finally:
        for key in env:
            os.environ.pop(key, None)


CASES = {
    "rook-ceph-nginx": ("rook-ceph-nginx.yaml", {"REGISTRY_PASSWORD": "pw-seed"}),
    "minimal": ("minimal.yaml", {}),
    "s3-ha": ("s3-ha.yaml", {"S3_ACCESS_KEY": "AKIA-test", "S3_SECRET_KEY": "s3-secret-test"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_match_golden_file(case):
    name, env = CASES[case]
    values = render(_plan(name, **env)).values_yaml()
    golden = GOLDEN / f"{case}.values.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(values)
    assert values == golden.read_text(), f"rendered values for {case} changed; review and run with UPDATE_GOLDEN=1"


def _key_paths(data, prefix=""):
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value and key != "annotations":
                yield from _key_paths(value, path)
            else:
                yield path


def _chart_keys() -> set[str]:
    """Every `.Values.x.y` the real chart's templates read (the chart has no values schema)."""
    keys = set()
    with tarfile.open(CHART) as tar:
        for member in tar.getmembers():
            if "/templates/" in member.name and member.isfile():
                text = tar.extractfile(member).read().decode()
                keys |= set(re.findall(r"\.Values\.([A-Za-z0-9_.]+[A-Za-z0-9_])", text))
    assert {"ingress.className", "secrets.s3.secretRef", "persistence.existingClaim"} <= keys, (
        "the chart's templates were not read"
    )
    return keys


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_emitted_key_is_read_by_the_chart(case):
    name, env = CASES[case]
    rendered = render(_plan(name, **env))
    known = _chart_keys()
    for source in (rendered.values, rendered.secret_values):
        for path in _key_paths(source):
            parts = path.split(".")
            assert any(".".join(parts[:i]) in known for i in range(len(parts), 0, -1)), (
                f"{path} is not a key the chart reads"
            )


def test_seed_values_are_what_the_seed_notes_ask_for():
    values = render(_plan("rook-ceph-nginx.yaml", REGISTRY_PASSWORD="pw")).values
    ingress = values["ingress"]
    assert ingress["className"] == "nginx" and ingress["hosts"] == ["registry.example.com"]
    assert ingress["tls"] == [{"secretName": "registry-tls", "hosts": ["registry.example.com"]}]
    notes = ingress["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    assert notes["nginx.ingress.kubernetes.io/auth-type"] == "basic"
    assert notes["nginx.ingress.kubernetes.io/auth-secret"] == "docker-registry-basic-auth"
    assert notes["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert "kubernetes.io/ingress.class" not in notes
    assert values["persistence"] == {
        "enabled": True,
        "accessMode": "ReadWriteOnce",
        "size": "100Gi",
        "deleteEnabled": True,
        "storageClass": "rook-ceph-block",
        "existingClaim": "docker-registry",
    }
    assert values["updateStrategy"] == {"type": "Recreate"}


def test_no_secret_material_in_values_and_secret_files_are_private(tmp_path):
    password = "seed-PLAINTEXT-pw"
    rendered = render(_plan("rook-ceph-nginx.yaml", REGISTRY_PASSWORD=password))
    written = write_rendered(rendered, tmp_path)
    names = sorted(p.name for p in written)
    assert names == ["pvc.yaml", "secret-values.yaml", "secrets.yaml", "values.yaml"]
    encoded = base64.b64encode(password.encode()).decode()
    for path in written:
        text = path.read_text()
        assert password not in text and encoded not in text, path.name
    values_text = (tmp_path / "values.yaml").read_text()
    assert "haSharedSecret" not in values_text and "$2y$" not in values_text
    for name in ("secrets.yaml", "secret-values.yaml"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    auth = next(s for s in rendered.secrets if s["metadata"]["name"] == "docker-registry-basic-auth")
    line = base64.b64decode(auth["data"]["auth"]).decode()
    assert line.startswith("admin:$2y$")
    assert auth["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "registry-installer"


def test_rendering_twice_is_identical_given_the_same_existing_state():
    choices = Choices.parse({"exposure": {"hosts": ["r.example.com"]}, "auth": {"bcrypt_cost": 4}})
    first = build_plan(choices)
    existing = ExistingState(
        ha_shared_secret=first.ha_shared_secret,
        registry_htpasswd={"admin": first.htpasswd.get_secret_value().split(":", 1)[1].strip()},
        passwords={"admin": first.users[0].password},
        tls=first.tls,
    )
    second = build_plan(choices, existing=existing)
    a, b = render(first), render(second)
    assert a.values_yaml() == b.values_yaml()
    assert a.secret_values_yaml() == b.secret_values_yaml()
    assert a.secrets_yaml() == b.secrets_yaml()


def test_changed_password_gets_a_new_hash():
    choices = Choices.parse({"exposure": {"hosts": ["r.example.com"]}, "auth": {"bcrypt_cost": 4}})
    first = build_plan(choices)
    old_hash = first.htpasswd.get_secret_value().split(":", 1)[1].strip()
    existing = ExistingState(registry_htpasswd={"admin": old_hash}, passwords={"admin": SecretStr("another-password")})
    second = build_plan(choices, existing=existing)
    assert old_hash not in second.htpasswd.get_secret_value()


def test_rwx_keeps_rolling_updates_and_s3_gets_empty_secret_map_for_instance_roles():
    rwx = Choices.parse(
        {
            "exposure": {"hosts": ["r.example.com"]},
            "extras": {"replicas": 2},
            "storage": {"filesystem": {"access_mode": "ReadWriteMany"}},
        }
    )
    assert "updateStrategy" not in render(build_plan(rwx)).values
    s3 = Choices.parse(
        {"exposure": {"hosts": ["r.example.com"]}, "storage": {"kind": "s3", "s3": {"bucket": "b", "region": "r"}}}
    )
    values = render(build_plan(s3)).values
    assert values["secrets"] == {"s3": {}}
    assert values["storage"] == "s3" and values["persistence"]["enabled"] is False


@pytest.mark.parametrize("family,body_key", [("nginx-inc", "nginx.org/client-max-body-size")])
def test_other_controller_families_get_their_own_annotations(family, body_key):
    from installer.probe import IngressClassInfo, ProbeResult, StorageClassInfo

    probe = ProbeResult(
        context="c",
        server="s",
        server_version="v1.34.0",
        user="u",
        storage_classes=(StorageClassInfo("sc", "p", True, "Immediate", True),),
        ingress_classes=(IngressClassInfo("nginx-plus", "nginx.org/ingress-controller", True, family),),
    )
    choices = Choices.parse({"exposure": {"hosts": ["r.example.com"]}, "auth": {"mode": "ingress", "bcrypt_cost": 4}})
    rendered = render(build_plan(choices, probe))
    notes = rendered.values["ingress"]["annotations"]
    assert notes[body_key] == "0"
    assert not any(k.startswith("nginx.ingress.kubernetes.io/") for k in notes)
    assert rendered.secrets[0]["type"] == "nginx.org/htpasswd"


def test_traefik_gets_a_note_not_annotations():
    from installer.probe import IngressClassInfo, ProbeResult

    probe = ProbeResult(
        context="c",
        server="s",
        server_version="v",
        user="u",
        ingress_classes=(IngressClassInfo("traefik", "traefik.io/ingress-controller", True, "traefik"),),
    )
    choices = Choices.parse(
        {"exposure": {"hosts": ["r.example.com"]}, "storage": {"filesystem": {"existing_claim": "data"}}}
    )
    rendered = render(build_plan(choices, probe))
    assert rendered.values["ingress"]["annotations"] == {}
    assert any("Traefik" in n for n in rendered.notes)
    assert rendered.values["persistence"]["existingClaim"] == "data"

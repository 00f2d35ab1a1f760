"""choices_from_release: rendered values map back to the Choices that made them."""

from __future__ import annotations

from pathlib import Path

import pytest

from installer.diff import merged_values
from installer.model import TLS, Choices, User
from installer.plan import build_plan
from installer.preset import load_preset
from installer.reconfigure import KEEP, choices_from_release
from installer.render import render

PRESETS = Path(__file__).resolve().parent.parent / "presets"


@pytest.fixture(autouse=True)
def secret_env(monkeypatch):
    for name in ("REGISTRY_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        monkeypatch.setenv(name, f"value-of-{name.lower()}")


def expected_after_install(choices: Choices, plan) -> Choices:
    """What a re-run should show: passwords kept, classes as resolved by the plan, secret keys kept."""
    users = [User(name=u.name, password=KEEP) for u in choices.auth.users] if choices.auth.mode != "none" else []
    exposure = choices.exposure.replace(ingress_class=plan.ingress_class)
    storage = choices.storage
    if storage.kind == "filesystem":
        fs = storage.filesystem.replace(storage_class=plan.storage_class)
        storage = storage.replace(filesystem=fs)
    elif storage.s3 is not None and storage.s3.access_key is not None:
        storage = storage.replace(s3=storage.s3.replace(access_key=KEEP, secret_key=KEEP))
    auth = choices.auth.replace(users=users)
    if auth.mode != "ingress":
        auth = auth.replace(realm="Registry Realm")  # the chart values only carry the ingress realm
    return choices.replace(exposure=exposure, auth=auth, storage=storage)


def round_trip(choices: Choices, **kwargs) -> tuple[Choices, Choices]:
    plan = build_plan(choices)
    rendered = render(plan)
    values = merged_values(rendered.values, rendered.secret_values)
    names = [u.name for u in choices.auth.users] if choices.auth.mode == "ingress" else None
    kwargs.setdefault("managed", rendered.objects)  # the installer's own objects: the GC schedule's CronJob
    back = choices_from_release(values, choices.target.namespace, choices.target.release, user_names=names, **kwargs)
    return back, expected_after_install(choices, plan)


@pytest.mark.parametrize("preset", ["rook-ceph-nginx.yaml", "minimal.yaml", "s3-ha.yaml"])
def test_presets_round_trip(preset):
    back, expected = round_trip(load_preset(PRESETS / preset))
    assert back == expected
    assert [u.password.kind for u in back.auth.users] == ["keep"] * len(back.auth.users)


def test_seed_preset_keeps_every_setting_that_matters():
    back, _ = round_trip(load_preset(PRESETS / "rook-ceph-nginx.yaml"))
    assert back.exposure.hosts == ["registry.example.com"]
    assert back.exposure.tls == TLS(mode="existing-secret", secret_name="registry-tls")
    assert back.auth.mode == "ingress" and back.auth.realm == "Authentication Required - ok"
    assert back.storage.filesystem.storage_class == "rook-ceph-block" and back.storage.filesystem.size == "100Gi"
    assert back.uploads.max_body_size == "0"


def test_changed_settings_come_back():
    base = load_preset(PRESETS / "minimal.yaml")
    changed = base.replace(
        uploads=base.uploads.replace(max_body_size="10g", read_timeout=600, request_buffering=True),
        auth=base.auth.replace(users=[User(name="admin"), User(name="ci")], bcrypt_cost=5),
        exposure=base.exposure.replace(hosts=["a.example.com", "b.example.com"], tls=TLS(mode="none")),
    )
    back, expected = round_trip(changed)
    assert back == expected
    assert back.auth.bcrypt_cost == 5 and back.uploads.max_body_size == "10g"


def test_self_signed_without_ca_secret_is_an_existing_secret():
    back, _ = round_trip(load_preset(PRESETS / "minimal.yaml"), secrets_present=["docker-registry-tls"])
    assert back.exposure.tls == TLS(mode="existing-secret", secret_name="docker-registry-tls")


def test_cert_manager_issuer_kind():
    base = load_preset(PRESETS / "minimal.yaml")
    changed = base.replace(
        exposure=base.exposure.replace(tls=TLS(mode="cert-manager", issuer="local", issuer_kind="Issuer"))
    )
    back, expected = round_trip(changed)
    assert back.exposure.tls == expected.exposure.tls


def test_s3_names_quoted_for_the_chart_come_back_as_typed():
    base = load_preset(PRESETS / "s3-ha.yaml")
    s3 = base.storage.s3.replace(bucket="12345", region="1", endpoint="http://127.0.0.1:9000", secure=False)
    changed = base.replace(storage=base.storage.replace(s3=s3))
    values = render(build_plan(changed)).values
    assert values["s3"]["bucket"] == '"12345"'  # what the chart's bare template needs (see render.chart_bare)
    back, expected = round_trip(changed)
    assert back == expected
    assert (back.storage.s3.bucket, back.storage.s3.region, back.storage.s3.secure) == ("12345", "1", False)

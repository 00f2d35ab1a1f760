"""build_plan: choices checked against a probe, secrets resolved, TLS files checked."""

from __future__ import annotations

import pytest

from installer.errors import ValidationFailed
from installer.model import Choices
from installer.plan import build_plan
from installer.probe import IngressClassInfo, IssuerInfo, ProbeResult, StorageClassInfo
from tests.fixtures.tls import write_cert_and_key

PROBE = ProbeResult(
    context="admin",
    server="https://127.0.0.1:6443",
    server_version="v1.34.2",
    user="admin",
    storage_classes=(
        StorageClassInfo("rook-ceph-block", "rook-ceph.rbd.csi.ceph.com", True, "Immediate", True),
        StorageClassInfo("standard-noexpand", "x", False, "Immediate", False),
    ),
    ingress_classes=(
        IngressClassInfo("nginx", "k8s.io/ingress-nginx", True, "ingress-nginx"),
        IngressClassInfo("traefik", "traefik.io/ingress-controller", False, "traefik"),
    ),
    cert_manager=True,
    issuers=(IssuerInfo("letsencrypt-prod", "ClusterIssuer"),),
)


def choices(**sections):
    data = {"exposure": {"hosts": ["registry.example.com"]}, "auth": {"bcrypt_cost": 4}}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return Choices.parse(data, literal_secrets=True)


def problems(c, probe=PROBE):
    with pytest.raises(ValidationFailed) as info:
        build_plan(c, probe)
    return info.value.problems


def test_defaults_come_from_the_probe():
    plan = build_plan(choices(), PROBE)
    assert (plan.ingress_class, plan.controller_family, plan.storage_class) == (
        "nginx",
        "ingress-nginx",
        "rook-ceph-block",
    )


def test_unknown_classes_are_refused_with_what_exists():
    found = problems(
        choices(
            exposure={"hosts": ["registry.example.com"], "ingress_class": "haproxy"},
            storage={"filesystem": {"storage_class": "gold"}},
        )
    )
    text = "\n".join(map(str, found))
    assert "IngressClass 'haproxy' does not exist" in text and "nginx, traefik" in text
    assert "StorageClass 'gold' does not exist" in text and "rook-ceph-block" in text


def test_ingress_basic_auth_on_traefik_is_refused():
    found = problems(
        choices(exposure={"hosts": ["registry.example.com"], "ingress_class": "traefik"}, auth={"mode": "ingress"})
    )
    assert found[0].path == "auth.mode" and "registry" in found[0].fix


def test_missing_issuer_is_refused():
    found = problems(
        choices(exposure={"hosts": ["registry.example.com"], "tls": {"mode": "cert-manager", "issuer": "nope"}})
    )
    assert found[0].path == "exposure.tls.issuer" and "letsencrypt-prod" in found[0].message


def test_no_expansion_is_a_note():
    plan = build_plan(choices(storage={"filesystem": {"storage_class": "standard-noexpand"}}), PROBE)
    assert any("does not allow volume expansion" in n for n in plan.notes)


def test_missing_env_var_names_the_variable(monkeypatch):
    monkeypatch.delenv("NOPE_PW", raising=False)
    found = problems(choices(auth={"users": [{"name": "admin", "password": "env:NOPE_PW"}]}))
    assert "NOPE_PW is not set" in found[0].message and found[0].path == "auth.users.0.password"


def test_password_file_and_too_long_password(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("from-a-file\n")
    plan = build_plan(choices(auth={"users": [{"name": "admin", "password": f"file:{secret}"}]}), PROBE)
    assert plan.users[0].password.get_secret_value() == "from-a-file"
    found = problems(choices(auth={"users": [{"name": "admin", "password": "é" * 40}]}))
    assert "longer than 72 bytes" in found[0].message


def test_secrets_never_show_in_repr():
    plan = build_plan(choices(auth={"users": [{"name": "admin", "password": "visible-if-leaked"}]}), PROBE)
    assert "visible-if-leaked" not in repr(plan) and "visible-if-leaked" not in str(plan.choices)


def test_secrets_and_hashes_never_show_in_rich_pretty_output():
    """rich's pretty printer (Textual's logs, rich tracebacks with locals) reads a Struct's __rich_repr__, which
    msgspec makes list every field: the plan, its users, the installed state and the render hide the same fields
    from it as from repr (secretstr.repr_without), plain-text hashes and secret values included."""
    from rich.pretty import pretty_repr

    from installer.engine import prepare
    from installer.plan import ExistingState, ResolvedUser

    kept = "$2y$08$kept-hash-visible-if-leaked-0123456789abcdefghijklmnopq"
    existing = ExistingState(registry_htpasswd={"admin": kept}, ingress_htpasswd={"admin": kept})
    prepared = prepare(
        choices(auth={"users": [{"name": "admin", "password": "visible-if-leaked"}]}), kube=None, existing=existing
    )
    plan, rendered = prepared.plan, prepared.rendered
    assert plan.htpasswd is not None
    hidden = {
        "visible-if-leaked",
        kept,
        plan.ha_shared_secret.get_secret_value(),
        *(line.split(":", 1)[1] for line in plan.htpasswd.get_secret_value().splitlines()),
    }
    user = ResolvedUser("admin", None, "kept", kept_hash=kept)
    for shown in (prepared, plan, rendered, existing, user, list(plan.users)):
        text = pretty_repr(shown)
        assert not {secret for secret in hidden if secret in text}, text
    assert "name='admin'" in pretty_repr(user)  # what is not secret still shows


def _tls_choices(cert, key):
    return choices(
        exposure={
            "hosts": ["registry.example.com"],
            "tls": {"mode": "files", "cert_file": str(cert), "key_file": str(key)},
        }
    )


def test_good_tls_files_become_a_tls_secret(tmp_path):
    cert, key = write_cert_and_key(tmp_path, ["registry.example.com"])
    plan = build_plan(_tls_choices(cert, key), PROBE)
    assert plan.tls is not None and plan.tls_secret_name == "docker-registry-tls"


@pytest.mark.parametrize(
    "make,words",
    [
        (lambda p: write_cert_and_key(p, ["other.example.com"]), "does not cover registry.example.com"),
        (lambda p: write_cert_and_key(p, ["registry.example.com"], days=-1, start_days=-10), "expired"),
        (lambda p: write_cert_and_key(p, ["registry.example.com"], start_days=5, days=50), "not valid before"),
        (
            lambda p: (
                write_cert_and_key(p, ["registry.example.com"])[0],
                write_cert_and_key(p / "..", ["x.example.com"])[1],
            ),
            "does not belong",
        ),
        (lambda p: (p / "missing.crt", p / "missing.key"), "does not exist"),
        (lambda p: (p, p), "is a directory"),
    ],
)
def test_bad_tls_files_are_refused(tmp_path, make, words):
    sub = tmp_path / "a"
    sub.mkdir()
    cert, key = make(sub)
    text = "\n".join(map(str, problems(_tls_choices(cert, key))))
    assert words in text


def test_not_pem_is_refused(tmp_path):
    cert, key = tmp_path / "c", tmp_path / "k"
    cert.write_bytes(b"\x00\x01 not a certificate")
    key.write_text("nope")
    text = "\n".join(map(str, problems(_tls_choices(cert, key))))
    assert "no PEM certificate" in text


def test_keep_reuses_the_installed_hash_when_the_password_was_never_stored():
    from installer.plan import ExistingState

    first = build_plan(choices(auth={"users": [{"name": "admin", "password": "typed-once"}]}), PROBE)
    installed = first.htpasswd.get_secret_value().strip().split(":", 1)[1]
    again = build_plan(
        choices(auth={"users": [{"name": "admin", "password": "keep"}]}),
        PROBE,
        ExistingState(registry_htpasswd={"admin": installed}),
    )
    assert again.htpasswd.get_secret_value() == first.htpasswd.get_secret_value()
    assert again.users[0].password is None and again.users[0].kept_hash == installed
    found = problems(choices(auth={"users": [{"name": "newcomer", "password": "keep"}]}))
    assert "'keep' was asked" in found[0].message


def test_s3_keys_are_kept_across_reruns():
    from installer.plan import ExistingState
    from installer.secretstr import SecretStr

    s3 = {"kind": "s3", "s3": {"bucket": "b", "region": "r", "access_key": "keep", "secret_key": "keep"}}
    plan = build_plan(choices(storage=s3), PROBE, ExistingState(s3_keys=(SecretStr("AK"), SecretStr("SK"))))
    assert [k.get_secret_value() for k in plan.s3_keys] == ["AK", "SK"]


# -- the data volume: the installer's own PVC, never helm's --------------------------------------


def _claim(owner, size="100Gi", storage_class="rook-ceph-block", modes=("ReadWriteOnce",)):
    from installer.plan import ClaimInfo

    return ClaimInfo("docker-registry", size, "Bound", storage_class, owner=owner, access_modes=modes)


def _plan_with_claim(claim, **sections):
    from installer.plan import ExistingState

    return build_plan(choices(**sections), PROBE, ExistingState(claim=claim))


def test_a_new_volume_is_the_installers_and_the_chart_only_mounts_it():
    from installer.render import render

    plan = _plan_with_claim(None)
    assert (plan.claim.name, plan.claim.action, plan.claim.size) == ("docker-registry", "create", "100Gi")
    rendered = render(plan)
    assert rendered.values["persistence"]["existingClaim"] == "docker-registry"
    labels = rendered.claim["metadata"]["labels"]
    assert (
        labels["app.kubernetes.io/managed-by"] == "registry-installer"
        and labels["app.kubernetes.io/instance"] == "docker-registry"
    )
    assert rendered.claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "100Gi"}},
        "storageClassName": "rook-ceph-block",
    }


def test_a_chart_made_volume_is_adopted_and_the_installers_is_reused():
    adopted = _plan_with_claim(_claim("chart"))
    assert adopted.claim.action == "adopt" and any("becomes the installer's own" in n for n in adopted.notes)
    assert _plan_with_claim(_claim("installer")).claim.action == "reuse"


def test_someone_elses_pvc_of_that_name_is_refused_not_taken():
    from installer.plan import ExistingState

    with pytest.raises(ValidationFailed) as info:
        build_plan(choices(), PROBE, ExistingState(claim=_claim("other")))
    assert "neither the installer nor this release's chart made it" in str(info.value)
    assert "existing_claim: docker-registry" in str(info.value)


def test_a_volume_keeps_its_class_and_access_mode():
    from installer.plan import ExistingState

    with pytest.raises(ValidationFailed) as info:
        build_plan(
            choices(storage={"filesystem": {"storage_class": "standard-noexpand", "access_mode": "ReadWriteMany"}}),
            PROBE,
            ExistingState(claim=_claim("installer")),
        )
    text = str(info.value)
    assert "a PVC's class cannot change" in text and "a PVC's access mode cannot change" in text


def test_the_users_own_claim_is_never_rendered_as_the_installers():
    from installer.render import render

    plan = build_plan(choices(storage={"filesystem": {"existing_claim": "mine"}}), PROBE)
    assert plan.claim.action == "user" and not plan.claim.installer_owned
    rendered = render(plan)
    assert rendered.claim is None and rendered.values["persistence"]["existingClaim"] == "mine"

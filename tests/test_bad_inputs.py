"""The bad-input catalogue: presets, CLI flags and wizard-field validators refuse bad input with
the field and the fix, never a traceback; and arbitrary YAML only ever raises our own error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from installer.errors import ValidationFailed
from installer.model import Auth, Exposure, FilesystemStorage, Uploads, User
from installer.preset import parse_preset, problems_from_validation
from tests.conftest import PRESETS, ROOT
from tests.unit.test_presets import BAD_PRESETS


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "installer", *args], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, **(env or {})})


CLI_CASES = [
    # (argv, exit code, words in stderr)
    (["apply", "--preset", str(PRESETS / "minimal.yaml"), "--timeout", "ten minutes"], 2, "is not a duration"),
    (["apply", "--preset", str(PRESETS / "minimal.yaml"), "--chart", "/no/such/chart"], 2, "no such chart"),
    (["apply", "--preset", str(PRESETS / "minimal.yaml"), "--smoke-address", "https://r.example.com/v2"], 2, "is not HOST or HOST:PORT"),
    (["apply", "--preset", str(PRESETS / "minimal.yaml"), "--namespace", "Bad_NS", "--kubeconfig", "/nonexistent"], 1, "target.namespace"),
    (["apply", "--preset", str(PRESETS / "minimal.yaml"), "--release", "x" * 70, "--kubeconfig", "/nonexistent"], 1, "target.release"),
    (["apply", "--preset", str(ROOT / "presets")], 1, "is a directory"),
    (["render", "--preset", str(PRESETS / "minimal.yaml")], 2, "--out"),
    (["uninstall", "--keep-data", "--delete-data"], 2, "contradict"),
    (["smoke"], 2, "--registry"),
    (["probe", "--kubeconfig", "/nonexistent/kubeconfig"], 1, "no kubeconfig at /nonexistent/kubeconfig"),
]


@pytest.mark.parametrize("argv,code,words", CLI_CASES, ids=[f"cli{i}" for i in range(len(CLI_CASES))])
def test_bad_cli_flags(argv, code, words):
    proc = run_cli(*argv)
    assert proc.returncode == code, proc.stderr
    assert words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


FIELD_CASES = [
    # (wizard section model, field values, path named, words) — the validators the wizard fields use
    (Exposure, {"hosts": ["registry.example.com:5000"]}, "hosts", "no scheme, port or path"),
    (Exposure, {"hosts": ["-bad.example.com"]}, "hosts", "not a valid hostname"),
    (Exposure, {"hosts": ["a" * 64 + ".example.com"]}, "hosts", "not a valid hostname"),
    (Exposure, {"hosts": ["r.example.com", "r.example.com"]}, "hosts", "listed twice"),
    (Exposure, {"hosts": ["r.example.com"], "path": "v2"}, "path", "served at path"),
    (FilesystemStorage, {"size": "-1Gi"}, "size", "larger than zero"),
    (FilesystemStorage, {"size": "1.5.2Gi"}, "size", "not a size"),
    (FilesystemStorage, {"size": True}, "size", "Kubernetes quantity"),
    (FilesystemStorage, {"access_mode": "ReadOnlyMany"}, "access_mode", "ReadWriteOnce"),
    (Uploads, {"max_body_size": "1 GB"}, "max_body_size", "nginx size"),
    (Uploads, {"read_timeout": 0}, "read_timeout", "greater than or equal to 1"),
    (User, {"name": "has space"}, "name", "invalid"),
    (User, {"name": ""}, "name", "invalid"),
    (Auth, {"users": [], "mode": "registry"}, "", "at least one user"),
    (Auth, {"bcrypt_cost": 31}, "bcrypt_cost", "less than or equal to 14"),
]


@pytest.mark.parametrize("model,data,path,words", FIELD_CASES, ids=[f"field{i}" for i in range(len(FIELD_CASES))])
def test_bad_wizard_fields(model, data, path, words):
    with pytest.raises(ValidationError) as info:
        model.model_validate(data, context={"allow_literal_secrets": True})
    problems = problems_from_validation(info.value)
    assert any(p.path.startswith(path) for p in problems)
    assert words in " ".join(p.message for p in problems)


def test_catalogue_is_big_enough():
    assert len(BAD_PRESETS) + len(CLI_CASES) + len(FIELD_CASES) >= 40


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
yaml_values = st.recursive(yaml_scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.sampled_from(["version", "exposure", "hosts", "auth", "users", "name", "password",
                                                                      "storage", "kind", "s3", "tls", "mode", "size", "x"]) | st.text(max_size=8),
                                                    children, max_size=4)), max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), yaml_values))
def test_arbitrary_input_only_raises_validation_failed(data):
    import yaml

    if not isinstance(data, (bytes, str)):
        data = yaml.safe_dump(data)
    try:
        parse_preset(data)
    except ValidationFailed as exc:
        assert exc.problems and all(p.message for p in exc.problems)

"""Offline render is stable: rendering twice gives identical files (GitOps commits no change, a sync
restarts nothing); the secrets come back from the previous render's 0600 files or from --state."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from installer.cli import main

PRESET = """version: 1
exposure: {hosts: [registry.example.com]}
auth: {bcrypt_cost: 4, users: [{name: admin}, {name: ci@example.com}]}
storage: {kind: s3, s3: {bucket: images, region: us-east-1, access_key: generate, secret_key: generate}}
"""
INGRESS_PRESET = """version: 1
exposure: {hosts: [registry.example.com]}
auth: {mode: ingress, bcrypt_cost: 4, users: [{name: admin}]}
"""
FILES = ("values.yaml", "secrets.yaml", "secret-values.yaml")


def render(folder: Path, capsys, monkeypatch, *extra: str, out: str = "out", preset: str = PRESET) -> str:
    monkeypatch.chdir(folder)
    (folder / "p.yaml").write_text(preset)
    code = main(["render", "--preset", "p.yaml", "--out", out, *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def contents(folder: Path) -> dict[str, bytes]:
    files = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert set(FILES) <= set(files)
    return files


@pytest.mark.parametrize("preset", [PRESET, INGRESS_PRESET], ids=["registry-auth-s3", "ingress-auth"])
def test_rendering_twice_into_the_same_folder_gives_identical_files(tmp_path, capsys, monkeypatch, preset):
    render(tmp_path, capsys, monkeypatch, preset=preset)
    first = contents(tmp_path / "out")
    output = render(tmp_path, capsys, monkeypatch, preset=preset)
    assert "kept the secrets of the previous render" in output
    assert contents(tmp_path / "out") == first
    for name in ("secrets.yaml", "secret-values.yaml"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o600


def test_state_file_keeps_secrets_across_output_folders(tmp_path, capsys, monkeypatch):
    render(tmp_path, capsys, monkeypatch, "--state", "state.yaml", out="a")
    assert stat.S_IMODE((tmp_path / "state.yaml").stat().st_mode) == 0o600
    render(tmp_path, capsys, monkeypatch, "--state", "state.yaml", out="b")
    assert contents(tmp_path / "a") == contents(tmp_path / "b")


def test_deleting_the_previous_secrets_rotates_them(tmp_path, capsys, monkeypatch):
    render(tmp_path, capsys, monkeypatch)
    first = yaml.safe_load((tmp_path / "out" / "secret-values.yaml").read_text())
    for name in ("secrets.yaml", "secret-values.yaml"):
        (tmp_path / "out" / name).unlink()
    render(tmp_path, capsys, monkeypatch)
    second = yaml.safe_load((tmp_path / "out" / "secret-values.yaml").read_text())
    assert first["secrets"]["haSharedSecret"] != second["secrets"]["haSharedSecret"]


def test_a_new_host_gets_a_new_certificate_from_the_same_ca(tmp_path, capsys, monkeypatch):
    render(tmp_path, capsys, monkeypatch)
    before = {s["metadata"]["name"]: s for s in yaml.safe_load_all((tmp_path / "out" / "secrets.yaml").read_text())}
    render(
        tmp_path,
        capsys,
        monkeypatch,
        preset=PRESET.replace("[registry.example.com]", "[registry.example.com, r2.example.com]"),
    )
    after = {s["metadata"]["name"]: s for s in yaml.safe_load_all((tmp_path / "out" / "secrets.yaml").read_text())}
    assert after["docker-registry-ca"] == before["docker-registry-ca"]
    assert after["docker-registry-tls"]["data"]["tls.crt"] != before["docker-registry-tls"]["data"]["tls.crt"]
    assert after["docker-registry-installer"] == before["docker-registry-installer"]


def test_read_write_once_pod_with_garbage_collection_is_fine_now(tmp_path, capsys, monkeypatch):
    """The installer's CronJob collects inside the registry pod (kubectl exec): no second pod mounts the volume,
    so ReadWriteOncePod no longer keeps it from starting (the chart's CronJob needed a second mount)."""
    preset = (
        "version: 1\nexposure: {hosts: [r.example.com]}\n"
        "storage: {filesystem: {access_mode: ReadWriteOncePod}}\nextras: {garbage_collect: {enabled: true}}\n"
    )
    output = render(tmp_path, capsys, monkeypatch, preset=preset)
    assert "CronJob can never start" not in output and "installer's CronJob docker-registry-installer-gc" in output

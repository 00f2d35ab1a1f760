"""The command line as a user runs it: exit codes, messages, files written, no tracebacks."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from tests.conftest import PRESETS, run_installer


def run(*args, env=None, stdin=None):
    full_env = {k: v for k, v in os.environ.items() if k != "REGISTRY_PASSWORD"}
    full_env.update(env or {})
    return run_installer(*args, env=full_env, stdin=stdin, timeout=120)


def test_help_for_every_command():
    for command in ("apply", "render", "probe", "uninstall", "smoke", "schema"):
        proc = run(command, "--help")
        assert proc.returncode == 0 and "usage: registry-installer" in proc.stdout, command


def test_bad_usage_exits_2():
    proc = run("apply")
    assert proc.returncode == 2 and "--preset" in proc.stderr
    proc = run("frobnicate")
    assert proc.returncode == 2


def test_render_seed_preset_writes_private_files_without_the_password(tmp_path):
    password = "Seed-Plaintext-123"
    proc = run(
        "render",
        "--preset",
        str(PRESETS / "rook-ceph-nginx.yaml"),
        "--out",
        str(tmp_path),
        env={"REGISTRY_PASSWORD": password},
    )
    assert proc.returncode == 0, proc.stderr
    assert "mode 600" in proc.stdout
    for name in ("values.yaml", "secrets.yaml", "secret-values.yaml"):
        text = (tmp_path / name).read_text()
        assert password not in text and base64.b64encode(password.encode()).decode() not in text
    assert stat.S_IMODE((tmp_path / "secrets.yaml").stat().st_mode) == 0o600
    assert password not in proc.stdout + proc.stderr


BROKEN = {
    "bad host": ("version: 1\nexposure: {hosts: [bad_host]}\n", "exposure.hosts"),
    "bad size": (
        "version: 1\nexposure: {hosts: [a.example.com]}\nstorage: {filesystem: {size: big}}\n",
        "storage.filesystem.size",
    ),
    "unknown key": ("version: 1\nexposure: {hosts: [a.example.com]}\nstorag: {}\n", "unknown key 'storag'"),
    "wrong version": ("version: 7\nexposure: {hosts: [a.example.com]}\n", "unsupported preset version 7"),
    "empty": ("", "empty"),
    "not a mapping": ("[1, 2]\n", "mapping"),
    "broken yaml": ("version: 1\nexposure: {hosts: [a\n", "not valid YAML"),
    "missing password env var": (
        "version: 1\nexposure: {hosts: [a.example.com]}\nauth: {users: [{name: admin, password: "
        "'env:MISSING_PW_VAR'}]}\n",
        "MISSING_PW_VAR is not set",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_presets_exit_1_with_a_message(tmp_path, case):
    text, words = BROKEN[case]
    preset = tmp_path / "p.yaml"
    preset.write_text(text)
    proc = run("render", "--preset", str(preset), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "out" / "values.yaml").exists()


def test_missing_preset_file():
    proc = run("render", "--preset", "/nonexistent/p.yaml", "--out", "/tmp/x")
    assert proc.returncode == 1 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_apply_without_a_cluster_is_a_clear_error(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\nusers: [{name: "
        "u, user: {token: t}}]\ncontexts: [{name: ctx, context: {cluster: c, user: u}}]\ncurrent-context: ctx\n"
    )
    proc = run(
        "apply", "--preset", str(PRESETS / "minimal.yaml"), "--kubeconfig", str(kubeconfig), "--yes", "--no-wait"
    )
    assert proc.returncode == 1
    assert "connection refused" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("probe", "--kubeconfig", str(kubeconfig), "--context", "nope")
    assert proc.returncode == 1 and "kube context 'nope' is not in" in proc.stderr and "ctx" in proc.stderr


def test_apply_refuses_without_yes_when_no_terminal(tmp_path):
    proc = run("apply", "--preset", str(PRESETS / "minimal.yaml"), "--kubeconfig", str(tmp_path / "none"))
    assert proc.returncode == 1 and "no kubeconfig" in proc.stderr


@pytest.mark.parametrize(
    "argv,word,guess",
    [
        (["rendr", "--preset", "p.yaml", "--out", "out"], "rendr", "render"),
        (["--verbose", "applly", "-y"], "applly", "apply"),
        (["--kubeconfig", "/k", "--kube=/k", "--cont", "c", "statsu"], "statsu", "status"),
        (["frobnicate"], "frobnicate", None),
    ],
)
def test_a_mistyped_command_is_named_with_the_closest_one(argv, word, guess):
    """The wizard is the command when none is named, and it takes no words: a word that names no command is a
    mistyped one, said as such (not as the wizard's "unrecognized arguments"), with the closest command."""
    proc = run(*argv)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("usage: registry-installer [-h] [--verbose] COMMAND ...\n"), proc.stderr
    assert f"registry-installer: error: unknown command {word!r}" in proc.stderr
    assert (f"did you mean {guess!r}?" in proc.stderr) == (guess is not None), proc.stderr
    assert "commands: wizard, apply, render," in proc.stderr and "Traceback" not in proc.stderr


def test_wizard_flags_work_without_the_wizard_word():
    proc = run("--chart", "/no/such/chart")
    assert proc.returncode == 2 and "no such chart" in proc.stderr

"""Lint as part of the suite: `ruff check`, `mypy` and `lint-imports` (configured in pyproject.toml) must pass."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT

SETUP = "install them with .ci/setup.sh (python3 -m pip install -e '.[test]')"


def _console_script(name: str) -> Path:
    """A tool's console script installed beside this interpreter (the `test` extra puts it there)."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.is_file():
        pytest.fail(f"{name} is not installed for {sys.executable} (looked for {path}): {SETUP}")
    return path


def _module(name: str) -> list[str]:
    """`python -m name` for a tool that runs as a module; fails with the reason when it is missing."""
    probe = subprocess.run([sys.executable, "-m", name, "--version"], capture_output=True, text=True, cwd=ROOT)
    if probe.returncode != 0:
        pytest.fail(f"{name} does not run for {sys.executable}: {probe.stderr.strip()[-500:]}; {SETUP}")
    return [sys.executable, "-m", name]


def _passes(argv: list[str | Path], what: str) -> None:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=ROOT, timeout=540)
    assert done.returncode == 0, (
        f"{what} failed (exit {done.returncode}); run it from the checkout to see the same:\n"
        f"{done.stdout[-12000:]}\n{done.stderr[-4000:]}"
    )


def test_ruff_check_passes():
    _passes([*_module("ruff"), "check", "--no-cache", "."], "ruff check")


def test_mypy_passes():
    # files, plugins and the modules without type information: [tool.mypy] in pyproject.toml
    _passes([*_module("mypy")], "mypy")


def test_import_contracts_are_kept():
    # the boundaries between installer/ and screens/: [tool.importlinter] in pyproject.toml
    _passes([_console_script("lint-imports"), "--no-cache"], "lint-imports")


def test_a_missing_tool_fails_with_the_reason_instead_of_skipping():
    with pytest.raises(pytest.fail.Exception, match="no_such_tool does not run.*No module named no_such_tool"):
        _module("no_such_tool")
    with pytest.raises(pytest.fail.Exception, match="no-such-script is not installed"):
        _console_script("no-such-script")

"""The wheel: installer/ and screens/ go under registry_installer/, so PyPA's `installer` (a dependency of build
tools, installed by the test extra) is never overwritten, and the installed `registry-installer` command runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CHART, PRESETS, ROOT

SETUP_HINT = ".ci/setup.sh installs it with the test extra"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from a copy of the sources (the checkout gets no build/ or egg-info)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("installer", "screens"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        # as `pip install .` builds it: in an isolated build environment with pyproject's build requirements
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", out, src],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("registry_installer-*.whl")
    return built


def test_the_wheel_puts_both_packages_under_registry_installer(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"registry_installer"}, tops
    assert "registry_installer/installer/cli.py" in names and "registry_installer/screens/app.py" in names
    assert "registry_installer/screens/app.tcss" in names  # the wizard's styles ship with it
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "registry-installer = registry_installer.installer.launcher:main" in text


def test_installed_beside_pypa_installer_both_import_and_the_command_runs(wheel, tmp_path):
    pypa = subprocess.run(
        [sys.executable, "-c", "import installer, installer.sources; print(installer.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: its own installer/ would come first
    )
    assert pypa.returncode == 0, f"PyPA's installer is not installed ({SETUP_HINT}): {pypa.stderr[-800:]}"
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}

    def run(*argv) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(a) for a in argv], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
        )

    theirs = run(python, "-c", "import installer, installer.sources; print(installer.__file__)")
    assert theirs.returncode == 0 and theirs.stdout.strip() == pypa.stdout.strip(), theirs.stdout + theirs.stderr
    ours = run(python, "-c", "import registry_installer.installer.launcher as m; print(m.__file__)")
    assert ours.returncode == 0 and ours.stdout.strip().startswith(str(env_dir)), ours.stdout + ours.stderr
    command = env_dir / "bin" / "registry-installer"
    shown = run(command, "--help")
    assert shown.returncode == 0 and "usage: registry-installer" in shown.stdout, shown.stdout + shown.stderr
    rendered = run(command, "render", "--preset", PRESETS / "minimal.yaml", "--out", tmp_path / "out", "--chart", CHART)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    assert "persistence:" in (tmp_path / "out" / "values.yaml").read_text()
    loaded = run(
        python,
        "-c",
        "from registry_installer.installer.launcher import use_installed_layout; use_installed_layout();"
        "import installer.cli, screens.app; print(installer.cli.__file__); print(screens.app.__file__)",
    )
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert all(line.startswith(str(env_dir)) for line in loaded.stdout.splitlines()[-2:]), loaded.stdout

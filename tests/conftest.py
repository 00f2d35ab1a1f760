"""Shared fixtures: the real helm binaries, presets, and the real docker-registry chart."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.fixtures.procs import TOOLS_CACHE

# the real-component fixtures (kube_cluster, fresh_cluster, registry_stack, ingress_stand_in, kube_node,
# s3_server), registered once for every test
pytest_plugins = [
    "tests.fixtures.cluster",
    "tests.fixtures.registry",
    "tests.fixtures.ingress",
    "tests.fixtures.node",
    "tests.fixtures.s3",
]

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "presets"
HELM_BIN = TOOLS_CACHE / "bin"


def run_installer(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m installer ARGS` as a process of its own in the repository root, its output captured as text.

    Args:
        env: the process's whole environment (None: this process's).
    """
    return subprocess.run(
        [sys.executable, "-m", "installer", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        input=stdin,
    )


def _real_chart() -> Path:
    """The upstream chart 3.0.0 (installer/chart.py decides where from); stops the run with the reason if it is
    nowhere."""
    from installer.chart import local_chart
    from installer.errors import InstallerError

    helm = HELM_BIN / "helm3"
    try:
        return local_chart(helm=str(helm) if helm.exists() else None).path
    except InstallerError as exc:
        raise pytest.UsageError(f"{exc}") from None


CHART = _real_chart()


def helm_path(name: str) -> Path:
    """A real helm binary installed by .ci/install-helm.sh; installs it when missing, fails with the reason
    otherwise."""
    path = HELM_BIN / name
    if not path.exists():
        proc = subprocess.run(["bash", str(ROOT / ".ci" / "install-helm.sh")], capture_output=True, text=True)
        if proc.returncode != 0 or not path.exists():
            pytest.fail(f"cannot install {name} with .ci/install-helm.sh: {proc.stderr[-2000:]}")
    return path


def apply_args(preset: str | Path, namespace: str, *extra: str) -> list[str]:
    """The installer's arguments for an unattended install of `preset` into `namespace` with the real chart (`apply
    --preset --namespace --chart --yes`), then `extra`; the connection and helm flags are the caller's."""
    return ["apply", "--preset", str(preset), "--namespace", namespace, "--chart", str(CHART), "--yes", *extra]


def template_rendered(directory: Path) -> subprocess.CompletedProcess[str]:
    """`helm template` (helm 3) of the real chart as release docker-registry in namespace docker-registry with the
    values.yaml and secret-values.yaml that render wrote into `directory`."""
    argv = [str(helm_path("helm3")), "template", "docker-registry", str(CHART), "--namespace", "docker-registry"]
    argv += ["-f", str(directory / "values.yaml"), "-f", str(directory / "secret-values.yaml")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def helm_argv(cluster, *args: str, helm: str | Path = "helm3") -> list[str]:
    """A helm command line against `cluster` (a ClusterHandle or a NodeHandle) as its admin; `helm` is a binary's
    name in the tools cache (helm3, helm4) or its path."""
    binary = helm_path(helm) if isinstance(helm, str) else helm
    return [str(binary), *args, "--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.admin_context]


def run_helm(
    cluster, *args: str, helm: str | Path = "helm3", check: bool = False, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run helm against `cluster` (helm_argv), its output captured as text."""
    return subprocess.run(
        helm_argv(cluster, *args, helm=helm), capture_output=True, text=True, check=check, timeout=timeout
    )


@pytest.fixture(params=["helm3", "helm4"])
def helm_binary(request) -> Path:
    """Each real helm major version in turn."""
    return helm_path(request.param)


@pytest.fixture
def seed_env(monkeypatch):
    """The seed preset's password env var, set to a known test value."""
    monkeypatch.setenv("REGISTRY_PASSWORD", "seed-password-Xy7")
    return "seed-password-Xy7"

"""Where the docker-registry chart comes from when a local copy is needed, decided in one place.

The installer normally lets helm fetch the pinned chart from its repository. A local chart is
needed for air-gapped clusters (`--chart`, or the environment variable below) and by the tests,
which install the real upstream chart. `local_chart()` looks, in order, at:

1. an explicit path (the `--chart` flag) or `$REGISTRY_INSTALLER_CHART`;
2. `../shared/charts/docker-registry-3.0.0.tgz` beside this checkout;
3. a copy pulled earlier into `~/.cache/registry-installer/charts`;
4. `helm pull` from the chart repository into that cache (needs the network);

and otherwise fails with a message that says where to put the chart.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import NamedTuple

from installer import logs
from installer.errors import InstallerError, UsageError

CHART_ENV = "REGISTRY_INSTALLER_CHART"
CHART_NAME = "docker-registry"
CHART_VERSION = "3.0.0"
CHART_REPO = "https://helm.twun.io"
CHART_FILE = f"{CHART_NAME}-{CHART_VERSION}.tgz"
SHARED_CHART = Path(__file__).resolve().parent.parent.parent / "shared" / "charts" / CHART_FILE
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "registry-installer" / "charts"


class ChartInfo(NamedTuple):  # not a dataclass: `dataclasses` imports `inspect` (render start-up)
    """A local chart: where it is and what its Chart.yaml says."""

    path: Path
    name: str
    version: str
    app_version: str


def read_chart(path: str | os.PathLike[str]) -> ChartInfo:
    """Read Chart.yaml from a chart directory or a packaged .tgz.

    Raises:
        InstallerError: the path is missing, not a chart, or not the docker-registry chart.
    """
    import tarfile  # here: the wizard's start (chart_option) reads no chart

    import yaml

    path = Path(path)
    if not path.exists():
        raise InstallerError(
            f"{path}: no such chart directory or .tgz", "give the path of an unpacked chart or a chart .tgz"
        )
    try:
        text = _chart_yaml(path)
        meta = yaml.safe_load(text) or {}
    except tarfile.TarError:
        raise InstallerError(
            f"{path} is neither a chart directory nor a chart .tgz (not a readable archive)",
            f"give a chart directory holding Chart.yaml or a .tgz made by `helm package`/`helm pull {CHART_NAME}`",
        ) from None
    except (OSError, yaml.YAMLError, KeyError) as exc:
        raise InstallerError(
            f"{path} is not a readable helm chart ({str(exc).splitlines()[0]})",
            f"give a chart directory holding Chart.yaml or a .tgz made by `helm package`/`helm pull {CHART_NAME}`",
        ) from None
    info = ChartInfo(path, str(meta.get("name", "")), str(meta.get("version", "")), str(meta.get("appVersion", "")))
    if info.name != CHART_NAME:
        raise InstallerError(
            f"{path} is the chart '{info.name or '(no name)'}', not the {CHART_NAME} chart",
            f"use the {CHART_NAME} chart {CHART_VERSION} from {CHART_REPO}",
        )
    if info.version != CHART_VERSION:
        logs.logger(__name__).warning(
            "chart %s is version %s; the installer is made for %s", path, info.version, CHART_VERSION
        )
    return info


def chart_option(given: str | None) -> str | None:
    """The local chart the commands install: `--chart`, else $REGISTRY_INSTALLER_CHART, else None (the repository).

    Raises:
        UsageError: the path is not the docker-registry chart (named after the flag or variable it came from).
    """
    source = "--chart" if given else f"${CHART_ENV}"
    value = given or os.environ.get(CHART_ENV)
    if not value:
        return None
    try:
        read_chart(value)
    except InstallerError as exc:
        raise UsageError(f"{source}: {exc.message}", exc.hint) from None
    return value


MAX_CHART_BYTES = 50 * 1024 * 1024


def _chart_yaml(path: Path) -> str:
    import tarfile

    from installer.files import FileProblem, read_user_file, read_user_text

    try:
        if path.is_dir():
            return read_user_text(path / "Chart.yaml", "", "Chart.yaml")
        # a regular file of bounded size only: /dev/zero or a FIFO named as the chart would be read forever
        data = read_user_file(path, "", "chart .tgz", MAX_CHART_BYTES)
    except FileProblem as exc:
        raise OSError(exc.reason) from None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        # lazily, and only the first thousand entries: a crafted archive cannot make us decompress it all
        member = next(
            (m for _, m in zip(range(1000), tar) if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")), None
        )
        if member is None:
            raise KeyError("no Chart.yaml at the top of the archive")
        extracted = tar.extractfile(member)
        assert extracted is not None
        return io.TextIOWrapper(extracted, encoding="utf-8").read()


def local_chart(
    explicit: str | os.PathLike[str] | None = None, helm: str | None = None, pull: bool = True
) -> ChartInfo:
    """The local docker-registry chart, found as the module docstring says.

    Args:
        explicit: a path given on the command line; wins over everything else.
        helm: the helm binary for `helm pull` (default: `helm` on PATH).
        pull: try `helm pull` when no local copy exists.

    Raises:
        InstallerError: no chart found; says where to put it.
    """
    given = explicit or os.environ.get(CHART_ENV)
    if given:
        return read_chart(given)
    for candidate in (SHARED_CHART, CACHE_DIR / CHART_FILE):
        if candidate.is_file():
            return read_chart(candidate)
    tried = [str(SHARED_CHART), str(CACHE_DIR / CHART_FILE)]
    if pull:
        pulled = _helm_pull(helm or "helm")
        if pulled is not None:
            return read_chart(pulled)
        tried.append(f"helm pull {CHART_NAME} --repo {CHART_REPO} --version {CHART_VERSION}")
    raise InstallerError(
        f"the {CHART_NAME} chart {CHART_VERSION} was not found (tried {', '.join(tried)})",
        f"download {CHART_FILE} (helm pull {CHART_NAME} --repo {CHART_REPO} --version {CHART_VERSION}) on a machine "
        f"with internet access and put it at {CACHE_DIR / CHART_FILE}, or point ${CHART_ENV} (or --chart) at it",
    )


def _helm_pull(helm: str) -> Path | None:
    import subprocess  # here: render and the wizard's start read no chart from helm (start-up)

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            [
                helm,
                "pull",
                CHART_NAME,
                "--repo",
                CHART_REPO,
                "--version",
                CHART_VERSION,
                "--destination",
                str(CACHE_DIR),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logs.logger(__name__).info("helm pull failed: %s", exc)
        return None
    if proc.returncode != 0:
        logs.logger(__name__).info("helm pull failed: %s", proc.stderr.strip()[-500:])
        return None
    path = CACHE_DIR / CHART_FILE
    return path if path.is_file() else None

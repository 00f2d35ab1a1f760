"""The helm binary behind one small class: version check, upgrade --install streamed, and queries."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

from installer.errors import InstallerError
from installer.plan import ChartRef

log = logging.getLogger(__name__)
MIN_VERSION = (3, 8)


@dataclass(frozen=True)
class HelmVersion:
    major: int
    minor: int
    patch: int
    text: str


class HelmFailed(InstallerError):
    """helm exited non-zero; `output` holds its last lines."""

    def __init__(self, message: str, hint: str = "", output: str = "", returncode: int = 1) -> None:
        super().__init__(message, hint)
        self.output = output
        self.returncode = returncode


def parse_version(text: str) -> HelmVersion:
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    if not match:
        raise InstallerError(
            f"cannot read helm's version from {text.strip()!r}",
            "install helm 3.8 or newer (https://helm.sh/docs/intro/install/)",
        )
    major, minor, patch = (int(g) for g in match.groups())
    return HelmVersion(major, minor, patch, match.group(0))


@dataclass(frozen=True)
class HelmCheck:
    """Whether the helm binary can run the install: its version and path, or what is wrong and the fix."""

    ok: bool
    words: str
    fix: str = ""


def check_helm(runner: HelmRunner) -> HelmCheck:
    """Find and run `helm version` once (no cluster needed): the Probe step and `probe` say it before the questions."""
    try:
        version = runner.version
    except InstallerError as exc:
        return HelmCheck(False, exc.message, exc.hint)
    except (OSError, subprocess.SubprocessError) as exc:  # found, but it does not run (not executable, hangs)
        return HelmCheck(
            False,
            f"the helm binary {runner.binary} does not run: {exc}",
            "install helm 3.8 or newer (https://helm.sh/docs/intro/install/) or pass --helm /path/to/helm",
        )
    return HelmCheck(True, f"helm {version.text} at {runner.path}")


class HelmRunner:
    """Runs one helm binary against one kubeconfig/context."""

    def __init__(self, binary: str = "helm", kubeconfig: str | None = None, context: str | None = None) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.context = context

    @cached_property
    def path(self) -> str:
        found = shutil.which(self.binary)
        if not found:
            raise InstallerError(
                f"the helm binary '{self.binary}' was not found on PATH",
                "install helm 3.8 or newer (https://helm.sh/docs/intro/install/) or pass --helm /path/to/helm",
            )
        return found

    @cached_property
    def version(self) -> HelmVersion:
        out = self._run(["version", "--short"], cluster=False).stdout
        version = parse_version(out)
        if (version.major, version.minor) < MIN_VERSION:
            raise InstallerError(
                f"helm {version.text} is too old: the installer needs helm 3.8 or newer",
                "upgrade helm (https://helm.sh/docs/intro/install/)",
            )
        return version

    def _global_args(self) -> list[str]:
        args = []
        if self.kubeconfig:
            args += ["--kubeconfig", self.kubeconfig]
        if self.context:
            args += ["--kube-context", self.context]
        return args

    def _run(
        self,
        args: Sequence[str],
        cluster: bool = True,
        check: bool = True,
        stdin: str | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess:
        argv = [self.path, *args, *(self._global_args() if cluster else [])]
        log.debug("running %s", " ".join(args[:2]))
        proc = subprocess.run(argv, capture_output=True, text=True, input=stdin, timeout=timeout)
        if check and proc.returncode != 0:
            raise HelmFailed(
                f"helm {args[0]} failed: {_last_error(proc.stderr)}",
                _hint(proc.stderr),
                proc.stderr[-4000:],
                proc.returncode,
            )
        return proc

    def upgrade_args(
        self,
        release: str,
        chart: ChartRef,
        namespace: str,
        values_files: Sequence[str],
        *,
        wait: bool,
        timeout: str,
        rollback: bool,
        dry_run: bool,
        create_namespace: bool = False,
    ) -> list[str]:
        """The argv (after the binary) of `helm upgrade --install`, right for this helm's major version."""
        args = ["upgrade", "--install", release, *chart.args(), "--namespace", namespace, "--timeout", timeout]
        for path in values_files:
            args += ["--values", path]
        if create_namespace:
            args.append("--create-namespace")
        if dry_run:
            args.append("--dry-run=server")
        elif self.version.major >= 4:
            args.append(f"--wait={'watcher' if wait else 'hookOnly'}")
            if rollback and wait:
                args.append("--rollback-on-failure")
        else:
            if wait:
                args.append("--wait")
            if rollback and wait:
                args.append("--atomic")  # helm 3 spelling; it implies --wait
        return args

    def upgrade_install(
        self, args: Sequence[str], on_line: Callable[[str], None], cancel: threading.Event | None = None
    ) -> str:
        """Run `helm upgrade --install` (argv from upgrade_args), streaming each output line; returns the output.

        Raises:
            HelmFailed: helm exited non-zero (also after a cancel).
        """
        argv = [self.path, *args, *self._global_args()]
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True
        )
        watcher = None
        if cancel is not None:
            watcher = threading.Thread(target=_interrupt_on, args=(cancel, proc), daemon=True)
            watcher.start()
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            on_line(line)
        proc.wait()
        output = "\n".join(lines)
        if proc.returncode != 0:
            if cancel is not None and cancel.is_set():
                raise HelmFailed("helm was cancelled", "re-run the same command to converge", output, proc.returncode)
            raise HelmFailed(
                f"helm upgrade failed: {_last_error(output)}", _hint(output), output[-4000:], proc.returncode
            )
        return output

    def template(self, release: str, chart: ChartRef, namespace: str, values_files: Sequence[str]) -> str:
        args = ["template", release, *chart.args(), "--namespace", namespace]
        for path in values_files:
            args += ["--values", path]
        return self._run(args, cluster=False).stdout

    def status(self, release: str, namespace: str) -> dict | None:
        proc = self._run(["status", release, "--namespace", namespace, "--output", "json"], check=False)
        if proc.returncode != 0:
            if "not found" in proc.stderr:
                return None
            raise HelmFailed(
                f"helm status failed: {_last_error(proc.stderr)}", _hint(proc.stderr), proc.stderr, proc.returncode
            )
        return json.loads(proc.stdout)

    def history(self, release: str, namespace: str) -> list[dict]:
        proc = self._run(["history", release, "--namespace", namespace, "--output", "json"], check=False)
        if proc.returncode != 0:
            return []
        return json.loads(proc.stdout)

    def get_values(self, release: str, namespace: str, revision: int | None = None) -> dict:
        args = ["get", "values", release, "--namespace", namespace, "--output", "json"]
        if revision:
            args += ["--revision", str(revision)]
        return json.loads(self._run(args).stdout) or {}

    def rollback(self, release: str, namespace: str, revision: int, timeout: str = "5m", wait: bool = False) -> None:
        args = ["rollback", release, str(revision), "--namespace", namespace, "--timeout", timeout]
        if wait:
            args.append("--wait=watcher" if self.version.major >= 4 else "--wait")
        self._run(args)

    def uninstall(self, release: str, namespace: str, timeout: str = "5m") -> str:
        return self._run(["uninstall", release, "--namespace", namespace, "--timeout", timeout]).stdout


def _interrupt_on(cancel: threading.Event, proc: subprocess.Popen) -> None:
    while proc.poll() is None:
        if cancel.wait(0.2):
            if proc.poll() is None:
                # SIGINT: helm's own handler stops and, with --atomic/--rollback-on-failure, rolls back.
                os.killpg(proc.pid, signal.SIGINT)
            return


def _last_error(text: str) -> str:
    """helm's last `Error:` message, with its indented continuation lines (helm 4 splits long errors)."""
    lines = text.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.lower().startswith("error")]
    if not starts:
        rest = [line.strip() for line in lines if line.strip()]
        return rest[-1] if rest else "no output"
    message = [lines[starts[-1]].strip()]
    for line in lines[starts[-1] + 1 :]:
        if not line.strip() or not line[:1].isspace():
            break
        message.append(line.strip())
    return " ".join(message).removeprefix("Error: ").removeprefix("error: ")


def _hint(text: str) -> str:
    lowered = text.lower()
    if "another operation" in lowered and "in progress" in lowered:
        return (
            "another helm operation is running on this release, or one was interrupted: if another installer or helm "
            "command is running, wait for it; if a run died, re-run registry-installer, which rolls the release back "
            "to its last good revision first"
        )
    if "forbidden" in lowered:
        return "the kube identity lacks a permission named above: ask a cluster admin or use another context"
    if "connection refused" in lowered or "no such host" in lowered or "i/o timeout" in lowered:
        return "the cluster is not reachable: check the kube context and that the API server is up"
    if "timed out waiting" in lowered or "context deadline exceeded" in lowered:
        return (
            "the registry pods did not become ready in time: check `kubectl get pods,pvc` in the namespace (pending "
            "volume? image pull?) or raise --timeout"
        )
    if "failed to download" in lowered or "could not find" in lowered or "repo" in lowered and "not found" in lowered:
        return "helm cannot fetch the chart: check chart.repo/chart.version, or use chart.path with a downloaded chart"
    return "see helm's message above"

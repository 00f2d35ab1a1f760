"""The `registry-installer push-disk` command: arguments, defaults from the installed release, progress, snippets."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from installer.console import EventPrinter, format_size
from installer.errors import InstallerError, UsageError
from installer.events import Event, Progress, StepFinished
from installer.registry_flags import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    _ca_file,
    _password,
    _timeout,
    add_connection_arguments,
)

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

    from installer.push_disk import PushDiskResult, PushDiskTarget

EXIT_INTERRUPTED = 130
IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$"
)


def add_push_disk_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the VM disk: qcow2, raw or ISO")
    parser.add_argument(
        "--image",
        required=True,
        metavar="REPOSITORY:TAG",
        help="where the containerDisk goes in the registry, e.g. vms/fedora:40",
    )
    parser.add_argument(
        "--compress",
        choices=("none", "gzip"),
        default="none",
        help="layer compression (default none: qcow2 is compressed already and raw disks push "
        "fastest as they are; gzip level 1 for sparse raw disks)",
    )
    parser.add_argument(
        "--format",
        choices=("auto", "qcow2", "raw", "iso"),
        default="auto",
        help="disk format (default: detected from the file's first bytes)",
    )
    parser.add_argument("--name", metavar="NAME", help="file name inside the image, under disk/ (default: FILE's name)")
    parser.add_argument(
        "--arch",
        default=None,
        metavar="ARCH",
        help="architecture of the nodes that will pull it (default: this machine's, e.g. amd64)",
    )
    parser.add_argument(
        "--chunk-size",
        default="64Mi",
        metavar="SIZE",
        help="bytes per PATCH request; a connection cut loses at most one (default 64Mi)",
    )
    add_connection_arguments(parser, registry_required=False, timeout="60")
    group = parser.add_argument_group("without --registry: the installed release's address, user and CA")
    group.add_argument("--context", help="kube context (default: the current one)")
    group.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    group.add_argument(
        "--namespace", default="docker-registry", help="namespace of the release (default docker-registry)"
    )
    group.add_argument("--release", default="docker-registry", help="helm release name (default docker-registry)")


def parse_image(value: str) -> tuple[str, str]:
    match = IMAGE_RE.match(value or "")
    if not match:
        raise UsageError(
            f"--image {value!r} is not REPOSITORY:TAG",
            "write it like vms/fedora:40 (lower-case repository path, then a tag; no registry host: "
            "that is --registry)",
        )
    return match.group("repo"), match.group("tag")


def _chunk_size(value: str) -> int:
    from installer.sizes import parse_size

    try:
        size = parse_size(value, example="64Mi")
    except ValueError as error:
        raise UsageError(f"--chunk-size: {error}") from None
    if size < 1024 * 1024:
        raise UsageError("--chunk-size must be at least 1Mi")
    return size


def target_from_args(args: argparse.Namespace, environ=os.environ, workdir: Path | None = None) -> "PushDiskTarget":
    """Validate the arguments into a PushDiskTarget; raises UsageError with what to fix."""
    from installer.disk import inspect_disk
    from installer.push_disk import PushDiskTarget
    from installer.registry_client import registry_base_url
    from installer.smoke_image import go_architecture

    repository, tag = parse_image(args.image)
    disk = inspect_disk(args.file, args.format, args.name)
    password = _password(args, environ)
    options = dict(username=args.username, password=password, ca_file=_ca_file(args.ca_file))
    if args.registry:
        try:
            registry_base_url(args.registry)
        except ValueError as error:
            raise UsageError(str(error)) from None
        registry = args.registry
    else:
        registry, installed = installed_connection(args, workdir or Path(tempfile.mkdtemp(prefix="push-disk-")))
        for key, value in installed.items():
            if options.get(key) is None:
                options[key] = value
    return PushDiskTarget(
        disk=disk,
        registry=registry,
        repository=repository,
        tag=tag,
        compress=args.compress,
        architecture=args.arch or go_architecture(),
        timeout=_timeout(args.timeout),
        chunk_size=_chunk_size(args.chunk_size),
        controller_family=args.controller_family,
        **options,
    )


def installed_connection(args: argparse.Namespace, workdir: Path) -> tuple[str, dict]:
    """The installed release's registry host, user (and the password when the installer generated it) and CA."""
    from installer.engine import connect, run_probe
    from installer.state import installed_ca, load_existing

    try:
        kube = connect(args.context, args.kubeconfig)
        probe = run_probe(kube, args.namespace, args.release)
    except InstallerError as error:
        raise UsageError(
            f"no --registry given and the cluster could not tell the installed one: {error.message}",
            "pass --registry HOST[:PORT] (and --username/--password-env, --ca-file)",
        ) from None
    if probe.release is None:
        raise UsageError(
            f"no --registry given and release {args.release} is not installed in namespace {args.namespace}",
            "pass --registry HOST[:PORT], or --release/--namespace of the install",
        )
    existing = load_existing(kube, probe, args.namespace, args.release)
    from installer.managed import release_hosts

    hosts = release_hosts(probe.release.values, existing.managed_objects)  # the Ingress's, or the HTTPRoute's
    if not hosts:
        raise UsageError(f"release {args.release} has no ingress or HTTPRoute host", "pass --registry HOST[:PORT]")
    found: dict = {}
    users = sorted(existing.ingress_htpasswd or existing.registry_htpasswd)
    if users and args.username is None:
        found["username"] = users[0]
        found["password"] = existing.passwords.get(users[0])
        if found["password"] is None:
            raise UsageError(
                f"the registry wants a password for {users[0]} and the installer does not keep it "
                f"(it was typed, not generated)",
                "pass --username and --password-env VAR",
            )
    # the CA `registry-installer ca` prints (the installer's own, node trust's, the TLS Secret's ca.crt or its CA
    # issuer's); none found: the certificate is publicly trusted, or the push's TLS failure says where to get the CA
    try:
        ca_pem: str | None = installed_ca(kube, args.namespace, args.release).pem
    except InstallerError:
        ca_pem = None
    if ca_pem:
        ca_file = workdir / "ca.crt"
        ca_file.write_text(ca_pem, encoding="utf-8")
        found["ca_file"] = ca_file
    return str(hosts[0]), found


class ProgressPrinter:
    """Steps as lines (EventPrinter); on a terminal the layer upload also gets a Rich bar with rate and ETA."""

    def __init__(self, out: TextIO) -> None:
        self.lines = EventPrinter(out, show_started=False)
        self.out = out
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._offset = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            if self.out.isatty():
                self._show(event)
            return
        if isinstance(event, StepFinished):
            self.close()
        self.lines(event) if self._bar is None else self._bar.console.print(self._line_for(event), highlight=False)

    @staticmethod
    def _line_for(event: Event) -> str:
        from io import StringIO

        buffer = StringIO()
        EventPrinter(buffer, show_started=False)(event)
        return buffer.getvalue().rstrip("\n")

    def _show(self, event: Progress) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        bar, task = self._bar, self._task
        if bar is None or task is None:
            bar = Bar(
                TextColumn("       {task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.out),
                transient=True,
            )
            bar.start()
            self._offset = event.done  # a resumed upload: rate and ETA count what moves now
            task = bar.add_task(event.step, total=event.total or None, completed=event.done)
            self._bar, self._task = bar, task
        bar.update(task, completed=event.done, total=event.total or None)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def print_result(result: "PushDiskResult", out: TextIO) -> None:
    if result.interrupted:
        out.write(
            f"push-disk stopped: the registry keeps {format_size(result.resumed_from + result.sent)} of the "
            f"upload; run the same command again to resume\n"
        )
        return
    if not result.ok:
        out.write("push-disk FAILED\n")
        if result.diagnosis is not None:
            out.write(result.diagnosis.lines())
        out.write("  the upload state is kept: the same command resumes once the cause is fixed\n")
        return
    out.write(
        f"pushed {result.pinned}\n  layer {result.layer_digest} ({format_size(result.layer_size)}), "
        f"{result.transfer}\n\n"
    )
    out.write(
        "# VirtualMachine booting from it (containerDisk; the imagePullSecret only when the registry wants a login):\n"
    )
    out.write(result.vm_snippet)
    out.write("---\n# or import it once into a PVC with CDI:\n")
    out.write(result.datavolume_snippet)


def push_disk_command(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run push-disk from parsed arguments: 0 pushed, 1 failed (diagnosis printed), 2 bad usage, 130 stopped."""
    out = out or sys.stdout
    err = err or sys.stderr
    workdir = Path(tempfile.mkdtemp(prefix="push-disk-"))
    try:
        try:
            target = target_from_args(args, workdir=workdir)
        except UsageError as error:
            err.write(f"registry-installer push-disk: error: {error}\n")
            return EXIT_USAGE
        from installer.push_disk import run_push_disk

        out.write(
            f"push-disk: {target.disk.format} {target.disk.path} ({format_size(target.disk.size)}) to "
            f"{target.reference} as a containerDisk (disk/{target.disk.name}, {target.compress})\n"
        )
        out.flush()
        printer = ProgressPrinter(out)
        stop = threading.Event()
        with _stop_on_signals(stop, err):
            result = run_push_disk(target, on_event=printer, stop=stop)
        printer.close()
        print_result(result, out)
        if result.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if result.ok else EXIT_FAILED
    finally:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


class _stop_on_signals:
    """The first Ctrl+C (or SIGTERM) ends the current request cleanly, so the registry keeps what it got."""

    def __init__(self, stop: threading.Event, err: TextIO) -> None:
        self.stop, self.err = stop, err
        self._saved: dict = {}

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self

        def handler(signum, _frame):
            if self.stop.is_set():  # a second Ctrl+C: stop now
                raise KeyboardInterrupt
            self.stop.set()
            self.err.write(
                f"\nsignal {signum}: finishing the current request so the upload can resume "
                f"(Ctrl+C again to quit at once)\n"
            )

        for signum in (signal.SIGINT, signal.SIGTERM):
            self._saved[signum] = signal.signal(signum, handler)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, previous in self._saved.items():
            signal.signal(signum, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="registry-installer push-disk", description=__doc__)
    add_push_disk_arguments(parser)
    return push_disk_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

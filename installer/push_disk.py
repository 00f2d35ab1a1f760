"""push-disk: a VM disk to the registry as a KubeVirt containerDisk, in one streamed pass, resumable."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from installer.console import format_size
from installer.diagnose import STEP_ERRORS, Diagnosis, as_registry_error, diagnose
from installer.disk import (
    Compression,
    DiskFile,
    DiskLayer,
    FileChanged,
    LayerStream,
    datavolume_snippet,
    disk_config,
    vm_snippet,
)
from installer.events import EventSink, Note, Progress, StepRun, discard, step
from installer.registry_client import OCI_CONFIG, OCI_MANIFEST, Descriptor, RegistryClient, RegistryError, manifest_json
from installer.secretstr import SecretStr
from installer.smoke import SmokeTarget
from installer.smoke_image import go_architecture

log = logging.getLogger(__name__)

MiB = 1024 * 1024
STEP_DISK_CONNECT = "push-disk: connect"
STEP_DISK_LAYER = "push-disk: upload layer"
STEP_DISK_MANIFEST = "push-disk: manifest"
DEFAULT_CHUNK = 64 * MiB
RECONNECTS = 3  # a cut upload is resumed this many times within one run before giving up
RETRY_PAUSE = 1.0
PROGRESS_INTERVAL = 0.25


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "registry-installer" / "push-disk"


@dataclass(frozen=True)
class PushDiskTarget:
    """Where to push which disk, and how."""

    disk: DiskFile
    registry: str  # host[:port]
    repository: str
    tag: str
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    ca_file: Path | None = None
    compress: Compression = "none"
    architecture: str = field(default_factory=go_architecture)
    timeout: float = 60.0
    chunk_size: int = DEFAULT_CHUNK
    controller_family: str | None = None
    state_dir: Path = field(default_factory=default_state_dir)

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


@dataclass(frozen=True)
class PushDiskResult:
    ok: bool
    reference: str
    digest: str | None = None  # the manifest digest
    layer_digest: str | None = None
    layer_size: int = 0
    sent: int = 0  # layer bytes sent over the network in this run (re-sent ones included)
    resumed_from: int = 0  # layer bytes the registry already held when this run started
    skipped: bool = False  # the registry had the layer already
    seconds: float = 0.0
    interrupted: bool = False
    diagnosis: Diagnosis | None = None
    vm_snippet: str = ""
    datavolume_snippet: str = ""

    @property
    def pinned(self) -> str:
        """repository:tag@digest: pulls exactly what was pushed."""
        return f"{self.reference}@{self.digest}" if self.digest else self.reference

    @property
    def transfer(self) -> str:
        """What this run sent, for the CLI and the wizard: nothing (the registry had the layer) or how much."""
        if self.skipped:
            return "the registry had the layer already: nothing sent"
        resumed = f", resumed at {format_size(self.resumed_from)}" if self.resumed_from else ""
        return f"{format_size(self.sent)} sent in {self.seconds:.1f} s{resumed}"


class PushInterrupted(Exception):
    """Stopped on request after the registry acknowledged what it got; the next run resumes."""


# -- the state file ------------------------------------------------------------------------------


class PushState:
    """A small 0600 JSON file per disk file and compression: the layer's digests once known, and
    per registry repository the open upload's location and how much the registry acknowledged.

    No credentials go in it (an upload location is a URL the registry hands out; using it still
    needs the credentials).
    """

    def __init__(self, directory: Path, target: PushDiskTarget) -> None:
        import hashlib

        key = hashlib.sha256(f"{target.disk.path.resolve()}|{target.disk.identity}|{target.compress}".encode())
        self.path = directory / f"{key.hexdigest()[:24]}.json"
        self.upload_key = f"{target.registry}/{target.repository}"
        self.data: dict = {}
        try:
            self.data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}
        if self.data.get("identity") != target.disk.identity:
            self.data = {
                "file": str(target.disk.path.resolve()),
                "identity": target.disk.identity,
                "compress": target.compress,
                "uploads": {},
            }

    @property
    def layer(self) -> Descriptor | None:
        known = self.data.get("layer")
        return Descriptor(known["mediaType"], known["digest"], known["size"]) if known else None

    @property
    def diff_id(self) -> str | None:
        return self.data.get("diff_id")

    def upload(self) -> dict | None:
        return self.data.get("uploads", {}).get(self.upload_key)

    def save_upload(self, location: str, offset: int) -> None:
        self.data.setdefault("uploads", {})[self.upload_key] = {
            "location": location,
            "offset": offset,
            "updated": int(time.time()),
        }
        self._write()

    def finished(self, layer: Descriptor, diff_id: str) -> None:
        self.data.get("uploads", {}).pop(self.upload_key, None)
        self.data["layer"] = layer.to_json()
        self.data["diff_id"] = diff_id
        self._write()

    def forget_upload(self) -> None:
        if self.data.get("uploads", {}).pop(self.upload_key, None) is not None:
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = self.path.with_suffix(".tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.data, handle)
        os.replace(partial, self.path)


# -- running it ----------------------------------------------------------------------------------


class _Run:
    """One push: the client, the events, what was sent."""

    def __init__(
        self, target: PushDiskTarget, client: RegistryClient, on_event: EventSink, stop: threading.Event
    ) -> None:
        self.target, self.client, self.on_event, self.stop = target, client, on_event, stop
        self.step_name = STEP_DISK_CONNECT
        self.sent = 0
        self.resumed_from = 0
        self.skipped = False
        self._last_progress = 0.0

    @contextmanager
    def run_step(self, name: str, detail: str = "") -> Iterator[StepRun]:
        """One step through events.step; what a step raises leaves it as a RegistryError diagnose() explains (a stop
        and a changed file as they are)."""
        self.step_name = name
        with step(self.on_event, name, detail) as run:
            try:
                yield run
            except (PushInterrupted, FileChanged):
                raise
            except STEP_ERRORS as error:
                raise as_registry_error(error) from None

    def progress(self, done: int, total: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self.on_event(Progress(self.step_name, done, total))


def run_push_disk(
    target: PushDiskTarget, on_event: EventSink = discard, stop: threading.Event | None = None
) -> PushDiskResult:
    """Push `target.disk` as a one-layer containerDisk image; never raises for registry trouble.

    `stop` set while the layer streams ends the current PATCH cleanly; the result says
    `interrupted` and the next run with the same file resumes where the registry stopped.
    """
    began = time.monotonic()
    stop = stop or threading.Event()
    smoke_view = SmokeTarget(
        registry=target.registry,
        username=target.username,
        password=target.password,
        ca_file=target.ca_file,
        controller_family=target.controller_family,
        repository=target.repository,
        tag=target.tag,
        blob_size=target.disk.size,
        timeout=target.timeout,
    )
    try:
        client = smoke_view.client()
    except (ValueError, RegistryError) as error:
        error = error if isinstance(error, RegistryError) else RegistryError("protocol", str(error))
        return PushDiskResult(False, target.reference, diagnosis=diagnose(error, STEP_DISK_CONNECT, smoke_view))
    client.session.headers["User-Agent"] = "registry-installer-push-disk/1"
    run = _Run(target, client, on_event, stop)

    def ended(**fields) -> PushDiskResult:
        """Not pushed: what this run sent, where it resumed, and why it ended (`fields`)."""
        return PushDiskResult(
            False,
            target.reference,
            sent=run.sent,
            resumed_from=run.resumed_from,
            seconds=time.monotonic() - began,
            **fields,
        )

    with client:
        try:
            digest, layer = _push(run)
        except PushInterrupted:
            return ended(interrupted=True)
        except FileChanged as error:
            fix = (
                "Push a disk file that nothing writes to (stop the VM or copy the file first), then run the command "
                "again."
            )
            return ended(diagnosis=Diagnosis(cause=str(error), fix=fix, fix_screen=None, detail=str(error)))
        except STEP_ERRORS as error:
            error = as_registry_error(error)
            log.info("push-disk failed in %s: %s", run.step_name, error)
            return ended(diagnosis=diagnose(error, run.step_name, smoke_view))
    image = f"{target.registry}/{target.repository}@{digest}"
    secret = "registry-credentials" if target.username else None
    return PushDiskResult(
        True,
        target.reference,
        digest=digest,
        layer_digest=layer.digest,
        layer_size=layer.size,
        sent=run.sent,
        resumed_from=run.resumed_from,
        skipped=run.skipped,
        seconds=time.monotonic() - began,
        vm_snippet=vm_snippet(image, target.disk, target.repository, secret),
        datavolume_snippet=datavolume_snippet(
            f"{target.reference}", target.disk, target.repository, secret, "registry-ca" if target.ca_file else None
        ),
    )


def _push(run: _Run) -> tuple[str, Descriptor]:
    target, client = run.target, run.client
    repo = target.repository
    with run.run_step(STEP_DISK_CONNECT, client.base_url) as timed:
        scheme = client.ping(scope=f"repository:{repo}:pull,push")
        timed.result = f"{client.base_url}/v2/ answered; auth: {scheme}"

    state = PushState(target.state_dir, target)
    layer_desc, diff_id = state.layer, state.diff_id
    with run.run_step(
        STEP_DISK_LAYER, f"{target.disk.format} {target.disk.name}, {format_size(target.disk.size)}"
    ) as timed:
        if layer_desc is not None and diff_id and client.blob_exists(repo, layer_desc.digest):
            run.skipped = True
            timed.result = f"the registry has this layer already ({layer_desc.digest}); nothing sent"
        else:
            layer_desc, diff_id = _upload_layer(run, state)
            seconds = timed.elapsed()
            rate = run.sent / MiB / seconds if seconds > 0 else 0.0
            resumed = f", resumed at {format_size(run.resumed_from)}" if run.resumed_from else ""
            timed.result = f"{format_size(run.sent)} sent in {seconds:.1f}s, {rate:.1f} MiB/s{resumed}"

    with run.run_step(STEP_DISK_MANIFEST, target.reference) as timed:
        config = client.push_blob(repo, disk_config(target.disk, diff_id, target.architecture), OCI_CONFIG)
        manifest = manifest_json(config, [layer_desc])
        digest = _put_manifest_once(client, repo, target.tag, manifest)
        timed.result = digest
    return digest, layer_desc


def _put_manifest_once(client: RegistryClient, repo: str, tag: str, manifest: bytes) -> str:
    from installer.registry_client import sha256_digest

    try:
        if client.get_manifest(repo, tag).digest == sha256_digest(manifest):
            return sha256_digest(manifest)
    except RegistryError as error:
        if error.status != 404:
            raise
    return client.put_manifest(repo, tag, manifest, OCI_MANIFEST)


def _upload_layer(run: _Run, state: PushState) -> tuple[Descriptor, str]:
    target, client = run.target, run.client
    repo = target.repository
    layer = DiskLayer(target.disk, target.compress)
    fd = os.open(target.disk.path, os.O_RDONLY)
    try:
        stream = LayerStream(layer, fd)
        location = _resume_or_start(run, state, stream)
        cuts = 0
        while not stream.finished:
            acked = stream.snapshot()
            try:
                location, held = client.patch_upload(repo, location, _chunk(run, stream), offset=stream.out_pos)
            except RegistryError as error:
                if error.kind not in ("connection", "timeout") or cuts >= RECONNECTS:
                    raise
                cuts += 1
                run.on_event(
                    Note(
                        run.step_name,
                        f"the connection dropped at {format_size(stream.out_pos)} ({error}); "
                        f"asking the registry how much it holds",
                        "warning",
                    )
                )
                time.sleep(RETRY_PAUSE)
                location, stream = _after_cut(run, state, layer, fd, location, acked)
                continue
            if held != stream.out_pos:
                raise RegistryError("protocol", f"registry holds {held} bytes, we sent {stream.out_pos}")
            state.save_upload(location, held)
            if run.stop.is_set():
                raise PushInterrupted("stopped; run the same command again to resume")
            if not target.disk.unchanged():
                raise FileChanged(f"{target.disk.path} changed while it was being pushed")
        run.progress(stream.tar_pos, stream.tar_size, force=True)
        descriptor = Descriptor(layer.media_type, stream.digest(), stream.out_pos)
        try:
            client.finish_upload(repo, location, descriptor.digest)
        except RegistryError as error:
            if "DIGEST_INVALID" in error.codes or "BLOB_UPLOAD_INVALID" in error.codes:
                state.forget_upload()  # what the registry holds is not this file's layer: start afresh next time
            raise
        state.finished(descriptor, stream.diff_id())
        return descriptor, stream.diff_id()
    finally:
        os.close(fd)


def _resume_or_start(run: _Run, state: PushState, stream: LayerStream) -> str:
    """The location to PATCH at: the upload a previous run left (moved to where the registry is), or a new one."""
    client, repo = run.client, run.target.repository
    previous = state.upload()
    if previous:
        status = client.upload_status(repo, previous["location"])
        if status is not None:
            location, held = status
            run.on_event(
                Note(
                    run.step_name,
                    f"resuming the upload a previous run left: the registry holds "
                    f"{format_size(held)}; reading the file up to there locally",
                )
            )
            stream.skip_to(held)
            run.resumed_from = held
            return location
        run.on_event(Note(run.step_name, "the registry no longer has the previous run's upload; starting afresh"))
        state.forget_upload()
    location = client.start_upload(repo)
    state.save_upload(location, 0)
    return location


def _after_cut(
    run: _Run, state: PushState, layer: DiskLayer, fd: int, location: str, acked: tuple
) -> tuple[str, LayerStream]:
    """After a dropped connection: continue from what the registry holds, or start a new upload."""
    client, repo = run.client, run.target.repository
    status = client.upload_status(repo, location)
    stream = LayerStream(layer, fd)
    if status is None:
        run.on_event(
            Note(
                run.step_name,
                "the registry discarded the cut upload (docker-distribution cancels an upload "
                "whose PATCH broke off mid-body unless a buffering proxy sits in front); "
                "starting a new upload",
                "warning",
            )
        )
        location = client.start_upload(repo)
        state.save_upload(location, 0)
        return location, stream
    location, held = status
    if held >= acked[1]:
        stream.restore(acked)  # it holds at least what it acknowledged: nothing before that to re-read
    stream.skip_to(held)
    state.save_upload(location, held)
    run.on_event(Note(run.step_name, f"the registry holds {format_size(held)}; continuing from there"))
    return location, stream


def _chunk(run: _Run, stream: LayerStream) -> Iterator[bytes]:
    """At most `chunk_size` layer bytes for one PATCH; ends early (cleanly) when asked to stop."""
    left = run.target.chunk_size
    while left > 0 and not run.stop.is_set():
        data = stream.read(min(left, 1024 * 1024))
        if not data:
            return
        left -= len(data)
        run.sent += len(data)
        yield data
        run.progress(stream.tar_pos, stream.tar_size)


def push_disk_for_plan(
    plan,
    file: str,
    image: str,
    compress: Compression = "none",
    on_event: EventSink = discard,
    stop: threading.Event | None = None,
    address: str | None = None,
) -> PushDiskResult:
    """push-disk to the registry a Plan installed: its address, first user with a known password, its CA.

    `address` (HOST[:PORT], like the smoke test's override) is where the push goes when the registry's name does not
    resolve from here; the reference and the snippets still name the registry's own host, which the nodes pull from.
    Raises UsageError (message and fix) for a file or image name that cannot be pushed.
    """
    from installer.disk import inspect_disk
    from installer.disk_cli import parse_image
    from installer.registry_client import ca_pem_file

    repository, tag = parse_image(image)
    disk = inspect_disk(Path(file).expanduser())
    user = next((u for u in plan.users if u.password is not None), None)
    with ca_pem_file(plan.ca_pem) as ca_file:
        target = PushDiskTarget(
            disk=disk,
            registry=address or plan.registry_host,
            repository=repository,
            tag=tag,
            username=user.name if user else None,
            password=user.password if user else None,
            ca_file=ca_file,
            compress=compress,
            controller_family=plan.controller_family,
        )
        result = run_push_disk(target, on_event, stop)
    if not address or address == plan.registry_host:
        return result
    through, public = f"{address}/", f"{plan.registry_host}/"
    return dataclasses.replace(
        result,
        reference=result.reference.replace(through, public, 1),
        vm_snippet=result.vm_snippet.replace(through, public),
        datavolume_snippet=result.datavolume_snippet.replace(through, public),
    )

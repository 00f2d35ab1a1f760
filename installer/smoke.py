"""The smoke test: push a real image through the registry's public address, read it back, verify it."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from installer.console import format_size
from installer.diagnose import (
    STEP_CONNECT,
    STEP_DELETE,
    STEP_ERRORS,
    STEP_LAYER,
    STEP_MANIFEST,
    STEP_VERIFY,
    Diagnosis,
    as_registry_error,
    diagnose,
)
from installer.events import EventSink, Note, Progress, StepRun, discard, step
from installer.registry_client import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Descriptor,
    RegistryClient,
    RegistryError,
    manifest_json,
)
from installer.secretstr import SecretStr
from installer.smoke_image import MiB, SmokeLayer, image_config

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.25  # seconds between Progress events


@dataclass(frozen=True)
class SmokeTarget:
    """Where and how to push the smoke image."""

    registry: str  # host[:port]
    username: str | None
    password: SecretStr | None
    ca_file: Path | None
    controller_family: str | None  # one of installer.probe.FAMILY_NAMES, or None when unknown
    repository: str = "registry-installer/smoke"
    tag: str = "smoke"
    blob_size: int = MiB
    keep: bool = False
    timeout: float = 30.0

    def client(self, timeout: float | None = None) -> RegistryClient:
        """A client for this address and login (ValueError for a bad address, RegistryError for an unusable CA)."""
        return RegistryClient(
            self.registry,
            username=self.username,
            password=self.password,
            ca_file=self.ca_file,
            timeout=self.timeout if timeout is None else timeout,
        )


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    digest: str | None  # the manifest digest
    bytes: int  # compressed layer bytes pushed
    seconds: float
    throughput_mib_s: float  # layer upload
    diagnosis: Diagnosis | None
    deleted: bool | None = None  # None when kept or never pushed


# -- running it ----------------------------------------------------------------------------------


class _Steps:
    """The smoke test's steps (each reported by events.step); remembers the one running, where a failure happened,
    and raises what a step raises as a RegistryError."""

    def __init__(self, on_event: EventSink) -> None:
        self.on_event = on_event
        self.current = STEP_CONNECT

    @contextmanager
    def run(self, name: str, detail: str = "") -> Iterator[StepRun]:
        self.current = name
        with step(self.on_event, name, detail) as run:
            try:
                yield run
            except STEP_ERRORS as error:
                raise as_registry_error(error) from None


def _progress(on_event: EventSink, step: str, total: int) -> Callable[[int], None]:
    last = 0.0

    def report(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL or done >= total:
            last = now
            on_event(Progress(step, done, total))

    return report


def _mib_s(size: int, seconds: float) -> float:
    return size / MiB / seconds if seconds > 0 else 0.0


@dataclass
class _Pushed:
    """What got pushed so far, for the result of a run that stops halfway."""

    bytes: int = 0
    digest: str | None = None
    throughput: float = 0.0


def run_smoke(target: SmokeTarget, on_event: EventSink = discard) -> SmokeResult:
    """Push a one-layer image to `target`, read it back and verify it, delete the tag unless `keep`."""
    started = time.monotonic()
    steps = _Steps(on_event)
    pushed = _Pushed()
    try:
        client = target.client()
    except ValueError as error:
        diagnosis = Diagnosis(
            cause=str(error), fix="Give the registry as HOST[:PORT].", fix_screen="address", detail=str(error)
        )
        return SmokeResult(False, None, 0, 0.0, 0.0, diagnosis)
    except RegistryError as error:  # an unusable CA file
        return SmokeResult(False, None, 0, 0.0, 0.0, diagnose(error, STEP_CONNECT, target))
    with client:
        try:
            deleted = _run_steps(client, target, steps, pushed)
        except STEP_ERRORS as error:
            error = as_registry_error(error)
            diagnosis = diagnose(error, steps.current, target)
            log.info("smoke test failed in %s: %s", steps.current, error)
            return SmokeResult(
                False, pushed.digest, pushed.bytes, time.monotonic() - started, pushed.throughput, diagnosis
            )
    return SmokeResult(True, pushed.digest, pushed.bytes, time.monotonic() - started, pushed.throughput, None, deleted)


def _run_steps(client: RegistryClient, target: SmokeTarget, steps: _Steps, pushed: _Pushed) -> bool | None:
    repo = target.repository
    with steps.run(STEP_CONNECT, client.base_url) as run:
        scheme = client.ping(scope=f"repository:{repo}:pull,push")
        run.result = f"{client.base_url}/v2/ answered; auth: {scheme}"

    layer = SmokeLayer(target.blob_size)
    with steps.run(STEP_LAYER, f"{format_size(target.blob_size)} to {repo}") as run:
        digest, size = client.upload_blob(
            repo, layer.chunks(), on_progress=_progress(steps.on_event, STEP_LAYER, target.blob_size)
        )
        seconds = run.elapsed()
        pushed.bytes, pushed.throughput = size, _mib_s(size, seconds)
        run.result = f"{format_size(size)} in {seconds:.2f}s, {pushed.throughput:.1f} MiB/s"

    with steps.run(STEP_MANIFEST, f"{repo}:{target.tag}") as run:
        diff_id = layer.diff_id or ""  # set once the layer was streamed
        config = client.push_blob(repo, image_config(diff_id), OCI_CONFIG)
        manifest = manifest_json(config, [Descriptor(OCI_LAYER_GZIP, digest, size)])
        pushed.digest = client.put_manifest(repo, target.tag, manifest, OCI_MANIFEST)
        run.result = pushed.digest

    with steps.run(STEP_VERIFY, f"{repo}:{target.tag}") as run:
        read_seconds = _verify(client, target, pushed.digest, diff_id)
        run.result = f"digests match; layer read at {_mib_s(size, read_seconds):.1f} MiB/s"

    if target.keep:
        steps.on_event(Note(STEP_VERIFY, f"kept {client.base_url.split('://')[1]}/{repo}:{target.tag}"))
        return None
    with steps.run(STEP_DELETE, pushed.digest) as run:
        deleted = _delete(client, target, steps, pushed.digest)
        run.result = "deleted" if deleted else "kept (see the note)"
    return deleted


def _verify(client: RegistryClient, target: SmokeTarget, manifest_digest: str, diff_id: str) -> float:
    """Read the image back by tag and check every digest, the layer's diff_id included; returns layer seconds."""
    repo = target.repository
    got = client.get_manifest(repo, target.tag)
    if got.digest != manifest_digest:
        raise RegistryError(
            "digest", f"manifest {repo}:{target.tag} read back as {got.digest}, pushed {manifest_digest}", method="GET"
        )
    manifest = json.loads(got.body)
    config_digest = manifest["config"]["digest"]
    config = bytearray()
    client.read_blob(repo, config_digest, on_chunk=config.extend)
    if json.loads(config)["rootfs"]["diff_ids"] != [diff_id]:
        raise RegistryError("digest", f"config {config_digest} names other layers than {diff_id}", method="GET")
    layer = manifest["layers"][0]
    unpacked = _DiffIdHasher()
    started = time.monotonic()
    # read_blob raises on a compressed-digest mismatch first; the diff_id check catches the rest.
    size = client.read_blob(repo, layer["digest"], on_chunk=unpacked.feed)
    seconds = time.monotonic() - started
    if size != layer["size"] or unpacked.diff_id() != diff_id:
        raise RegistryError(
            "digest",
            f"layer {layer['digest']} read back as {size} bytes with diff_id "
            f"{unpacked.diff_id()}, pushed {layer['size']} bytes with {diff_id}",
            method="GET",
        )
    return seconds


class _DiffIdHasher:
    """Gunzips a layer as it streams by and hashes the tar; a corrupt stream just yields no diff_id."""

    def __init__(self) -> None:
        self._gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._hash = hashlib.sha256()
        self.error: str | None = None

    def feed(self, chunk: bytes) -> None:
        if self.error is None:
            try:
                self._hash.update(self._gunzip.decompress(chunk))
            except zlib.error as error:
                self.error = str(error)

    def diff_id(self) -> str:
        if self.error is not None:
            return f"(not a valid gzip stream: {self.error})"
        return "sha256:" + self._hash.hexdigest()


def _delete(client: RegistryClient, target: SmokeTarget, steps: _Steps, digest: str) -> bool:
    try:
        deleted = client.delete_manifest(target.repository, digest)
    except RegistryError as error:
        steps.on_event(Note(STEP_DELETE, f"could not delete the test tag: {error}", "warning"))
        return False
    if not deleted:
        steps.on_event(
            Note(
                STEP_DELETE,
                "the registry has deletion disabled (persistence.deleteEnabled / "
                "REGISTRY_STORAGE_DELETE_ENABLED), so the test image stays; "
                "that is not an error.",
                "info",
            )
        )
    return deleted

"""The smoke test's image: a one-layer gzip'd tar of random-ish bytes, streamed, and its config."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import tarfile
import time
import zlib
from typing import Iterator

MiB = 1024 * 1024
LAYER_FILE = "registry-installer-smoke.bin"


class SmokeLayer:
    """A gzip'd tar with one file of `size` random-ish bytes, generated while it is streamed.

    Reading `chunks()` once yields the compressed layer and computes the diff_id (sha256 of the
    tar) on the way; memory stays at a few MiB whatever the size. The content comes from a
    fresh random block per run, rotated per MiB, so every run pushes a new blob (the upload is
    never skipped) without paying for 1 GiB of random numbers. gzip level 0 (stored blocks) is a
    valid layer every runtime accepts, and random bytes would not compress anyway.
    """

    def __init__(self, size: int, seed: bytes | None = None) -> None:
        self.size = size
        self._block = random.Random(seed or os.urandom(16)).randbytes(MiB)
        self.diff_id: str | None = None

    def tar_header(self) -> bytes:
        info = tarfile.TarInfo(LAYER_FILE)
        info.size = self.size
        info.mode = 0o644
        info.mtime = int(time.time())
        return info.tobuf(format=tarfile.USTAR_FORMAT)

    def _content(self) -> Iterator[bytes]:
        left, index = self.size, 0
        while left > 0:
            shift = (index * 4099) % MiB
            chunk = self._block[shift:] + self._block[:shift]
            yield chunk[:left] if left < MiB else chunk
            left -= MiB
            index += 1

    def _tar(self) -> Iterator[bytes]:
        yield self.tar_header()
        yield from self._content()
        padding = -self.size % tarfile.BLOCKSIZE
        yield b"\0" * (padding + 2 * tarfile.BLOCKSIZE)  # end-of-archive marker

    def chunks(self) -> Iterator[bytes]:
        tar_hash = hashlib.sha256()
        gzip = zlib.compressobj(0, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        for piece in self._tar():
            tar_hash.update(piece)
            out = gzip.compress(piece)
            if out:
                yield out
        yield gzip.flush()
        self.diff_id = "sha256:" + tar_hash.hexdigest()


def go_architecture() -> str:
    machine = platform.machine().lower()
    return {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "armv7l": "arm",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(machine, "amd64")


def image_config(diff_id: str) -> bytes:
    config = {
        "architecture": go_architecture(),
        "os": "linux",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {"Labels": {"org.opencontainers.image.title": "registry-installer smoke test"}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "registry-installer smoke", "comment": "one file of random bytes"}],
    }
    return json.dumps(config, separators=(",", ":"), sort_keys=True).encode()

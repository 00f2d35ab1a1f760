"""VM disks as KubeVirt containerDisks: format detection, the layer built while it streams, config and snippets."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tarfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from installer.errors import UsageError

MiB = 1024 * 1024
BLOCK = MiB  # bytes read from the disk file at a time
QEMU_UID = QEMU_GID = 107  # the qemu user KubeVirt runs the VM as; it must read the disk
# KubeVirt's own containerdisks builder writes `disk/` as 0555 and the disk as 0444, owner qemu (107).
DISK_DIR_MODE = 0o555
DISK_FILE_MODE = 0o444
GZIP_LEVEL = 1  # fixed: a resumed gzip layer is recomputed byte for byte, so level and library must not change
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DiskFormat = Literal["qcow2", "raw", "iso"]
FORMATS: tuple[DiskFormat, ...] = ("qcow2", "raw", "iso")


Compression = Literal["none", "gzip"]  # of the disk layer


@dataclass(frozen=True)
class DiskFile:
    """A disk image file that passed the checks: what it is and how to tell it has changed."""

    path: Path
    name: str  # the file name inside the image: disk/<name>
    format: DiskFormat
    size: int
    mtime: int  # seconds; goes into the tar header and the config, so the same file gives the same digests
    virtual_size: int  # what the guest sees (qcow2's virtual size; the file size otherwise)
    identity: str  # device, inode, size and mtime in ns: a changed file never resumes an old upload

    def unchanged(self) -> bool:
        try:
            return _identity(os.stat(self.path)) == self.identity
        except OSError:
            return False


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


# -- format detection ---------------------------------------------------------------------------

_COMPRESSED = [
    (b"\xfd7zXZ\x00", "xz", "xz -dk {file}"),
    (b"\x1f\x8b", "gzip", "gunzip -k {file}"),
    (b"\x28\xb5\x2f\xfd", "zstd", "zstd -d {file}"),
    (b"BZh", "bzip2", "bunzip2 -k {file}"),
]
_OTHER_DISKS = [
    (0, b"KDMV", "VMDK"),
    (0, b"vhdxfile", "VHDX"),
    (0, b"conectix", "VHD"),
    (64, b"\x7f\x10\xda\xbe", "VDI"),
]


def sniff_format(head: bytes) -> DiskFormat | None:
    """qcow2, iso or raw from the first 64 KiB of a file; None when nothing says what it is.

    raw is recognised by a partition table (an MBR boot signature or a GPT header) or a filesystem
    superblock (ext2/3/4, XFS); anything else needs `--format raw` to be pushed as a raw disk.
    """
    if head[:4] == b"QFI\xfb":
        return "qcow2"
    if head[0x8001:0x8006] == b"CD001":
        return "iso"
    if head[512:520] == b"EFI PART" or head[510:512] == b"\x55\xaa":
        return "raw"
    if head[1080:1082] == b"\x53\xef" or head[:4] == b"XFSB":
        return "raw"
    return None


def _qcow2_virtual_size(head: bytes) -> int:
    return int.from_bytes(head[24:32], "big")


def inspect_disk(path: str | Path, format: str = "auto", name: str | None = None) -> DiskFile:
    """Check FILE is a disk image we can push; raises UsageError naming the problem and the fix."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", "give the path of a qcow2, raw or ISO disk image") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read it ({error.strerror})", "check the path and its permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path} is a directory", "give the disk image file inside it (a .qcow2, .img/.raw or .iso)")
    if stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode):
        raise UsageError(
            f"{path} is a device, not a disk image file",
            f"copy it to a file first, e.g. qemu-img convert -O qcow2 {path} disk.qcow2",
        )
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is not a regular file (a pipe or socket)", "give a disk image file")
    if st.st_size == 0:
        raise UsageError(f"{path} is empty", "give a disk image with content (qemu-img info FILE shows what it holds)")
    try:
        with open(path, "rb") as handle:
            head = handle.read(64 * 1024)
    except OSError as error:
        raise UsageError(f"{path}: cannot read it ({error.strerror})", "check its permissions") from None
    detected = sniff_format(head)
    if detected is None:
        _refuse_known(path, head)
    if format == "auto":
        if detected is None:
            raise UsageError(
                f"{path}: not a qcow2, raw or ISO disk image (no partition table, filesystem or "
                f"qcow2/ISO signature in its first bytes)",
                "check it with `qemu-img info`; if it is a raw disk without a partition table, pass --format raw",
            )
        chosen = detected
    else:
        known = next((f for f in FORMATS if f == format), None)
        if known is None:
            raise UsageError(f"--format {format!r} is not one of auto, {', '.join(FORMATS)}", "pick one of them")
        if detected not in (None, known) and not (known == "raw" and detected == "iso"):
            raise UsageError(f"{path} is a {detected} image, not {known}", f"drop --format or pass --format {detected}")
        chosen = known
    disk_name = name or path.name
    if not disk_name or "/" in disk_name or disk_name in (".", ".."):
        raise UsageError(f"--name {disk_name!r} is not a file name", "give a plain name like disk.qcow2")
    virtual = _qcow2_virtual_size(head) if chosen == "qcow2" else st.st_size
    return DiskFile(
        path=path,
        name=disk_name,
        format=chosen,
        size=st.st_size,
        mtime=int(st.st_mtime),
        virtual_size=virtual,
        identity=_identity(st),
    )


def _refuse_known(path: Path, head: bytes) -> None:
    for magic, kind, command in _COMPRESSED:
        if head.startswith(magic):
            raise UsageError(
                f"{path} is {kind}-compressed",
                f"decompress it first: {command.format(file=path)}, "
                f"then push the result (qcow2 images can stay compressed inside: qemu-img convert -c)",
            )
    for offset, magic, kind in _OTHER_DISKS:
        if head[offset : offset + len(magic)] == magic:
            raise UsageError(
                f"{path} is a {kind} image; KubeVirt boots qcow2 or raw",
                f"convert it: qemu-img convert -O qcow2 {path} {path.with_suffix('.qcow2').name}",
            )


# -- the layer ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskLayer:
    """The containerDisk layer: a tar of `disk/` and `disk/<name>` (qemu-owned), optionally gzip'd.

    The tar is never written anywhere: `LayerStream` reads it straight from the disk file.
    """

    disk: DiskFile
    compress: Compression = "none"

    @property
    def media_type(self) -> str:
        return OCI_LAYER_GZIP if self.compress == "gzip" else OCI_LAYER_TAR

    def headers(self) -> bytes:
        entries = []
        for name, kind, mode, size in (
            ("disk", tarfile.DIRTYPE, DISK_DIR_MODE, 0),
            (f"disk/{self.disk.name}", tarfile.REGTYPE, DISK_FILE_MODE, self.disk.size),
        ):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.size, info.mtime = kind, mode, size, self.disk.mtime
            info.uid, info.gid, info.uname, info.gname = QEMU_UID, QEMU_GID, "qemu", "qemu"
            # PAX only where ustar cannot say it (names over 100 bytes, files of 8 GiB and more)
            entries.append(info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8"))
        return b"".join(entries)

    def trailer(self) -> bytes:
        return b"\0" * (-self.disk.size % tarfile.BLOCKSIZE + 2 * tarfile.BLOCKSIZE)

    @property
    def tar_size(self) -> int:
        return len(self.headers()) + self.disk.size + len(self.trailer())


class FileChanged(Exception):
    """The disk file changed while it was being pushed."""


class LayerStream:
    """The layer's bytes in order, hashed (digest, and diffID when gzip'd) as they go by.

    `snapshot()` and `restore()` copy the whole state (hashes, compressor, position), so an upload
    cut after a PATCH the registry acknowledged continues from there without re-reading the file.
    """

    def __init__(self, layer: DiskLayer, fd: int) -> None:
        self.layer = layer
        self._fd = fd
        self._head = layer.headers()
        self._tail = layer.trailer()
        self._file_end = len(self._head) + layer.disk.size
        self.tar_size = self._file_end + len(self._tail)
        self.tar_pos = 0  # tar bytes consumed
        self.out_pos = 0  # layer bytes produced
        self._tar_hash = hashlib.sha256()
        self._out_hash = hashlib.sha256() if layer.compress == "gzip" else self._tar_hash
        self._zip = (
            zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS) if layer.compress == "gzip" else None
        )
        self._pending = b""
        self._flushed = self._zip is None

    @property
    def finished(self) -> bool:
        return self.tar_pos >= self.tar_size and self._flushed and not self._pending

    def _tar_bytes(self, want: int) -> bytes:
        pos = self.tar_pos
        if pos < len(self._head):
            return self._head[pos : pos + want]
        if pos < self._file_end:
            offset = pos - len(self._head)
            data = os.pread(self._fd, min(want, self._file_end - pos), offset)
            if not data:
                raise FileChanged(f"{self.layer.disk.path} is shorter than when the push started")
            return data
        start = pos - self._file_end
        return self._tail[start : start + want]

    def _refill(self) -> None:
        if self.tar_pos < self.tar_size:
            data = self._tar_bytes(BLOCK)
            self.tar_pos += len(data)
            if self._zip is None:
                self._pending = data
                return
            self._tar_hash.update(data)
            self._pending = self._zip.compress(data)
        elif self._zip is not None and not self._flushed:
            self._pending = self._zip.flush()
            self._flushed = True

    def read(self, limit: int = BLOCK) -> bytes:
        """Up to `limit` next layer bytes; b"" at the end."""
        while not self._pending and not (self.tar_pos >= self.tar_size and self._flushed):
            self._refill()
        piece, self._pending = self._pending[:limit], self._pending[limit:]
        self._out_hash.update(piece)
        self.out_pos += len(piece)
        return piece

    def skip_to(self, offset: int) -> None:
        """Advance to layer byte `offset` without sending: the bytes are read and hashed locally."""
        while self.out_pos < offset:
            if not self.read(min(BLOCK, offset - self.out_pos)):
                raise FileChanged(
                    f"the registry holds {offset} bytes of a layer of {self.out_pos}: "
                    f"{self.layer.disk.path} changed since the upload started"
                )

    def snapshot(self) -> tuple:
        return (
            self.tar_pos,
            self.out_pos,
            self._tar_hash.copy(),
            self._out_hash.copy() if self._zip is not None else None,
            self._zip.copy() if self._zip is not None else None,
            self._pending,
            self._flushed,
        )

    def restore(self, saved: tuple) -> None:
        self.tar_pos, self.out_pos, tar_hash, out_hash, zip_, self._pending, self._flushed = saved
        self._tar_hash = tar_hash.copy()
        self._out_hash = out_hash.copy() if out_hash is not None else self._tar_hash
        self._zip = zip_.copy() if zip_ is not None else None

    def digest(self) -> str:
        return "sha256:" + self._out_hash.hexdigest()

    def diff_id(self) -> str:
        return "sha256:" + self._tar_hash.hexdigest()


# -- config, manifest, snippets -----------------------------------------------------------------


def disk_config(disk: DiskFile, diff_id: str, architecture: str) -> bytes:
    """An image config with no entrypoint (nothing runs from a containerDisk), deterministic per file."""
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(disk.mtime))
    config = {
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {
                "created": created,
                "created_by": "registry-installer push-disk",
                "comment": f"{disk.format} disk {disk.name} as a KubeVirt containerDisk",
            }
        ],
    }
    return json.dumps(config, separators=(",", ":"), sort_keys=True).encode()


def k8s_name(repository: str) -> str:
    """A DNS-1123 name from the repository's last part, for the snippets."""
    name = re.sub(r"[^a-z0-9-]+", "-", repository.rsplit("/", 1)[-1].lower()).strip("-")
    return (name or "vm")[:50].strip("-") or "vm"


def storage_request(virtual_size: int) -> str:
    """The PVC size a DataVolume needs for the disk: its virtual size rounded up to GiB."""
    return f"{max(1, -(-virtual_size // 2**30))}Gi"


@dataclass(frozen=True)
class ExampleDisk:
    """The disk the `clients` snippets show before any file is chosen: its format and the size the guest sees."""

    format: DiskFormat = "qcow2"
    virtual_size: int = 10 * 2**30


def vm_snippet(image: str, disk: DiskFile | ExampleDisk, repository: str, pull_secret: str | None) -> str:
    name = k8s_name(repository)
    device = "cdrom:\n              bus: sata" if disk.format == "iso" else "disk:\n              bus: virtio"
    secret = f"\n          imagePullSecret: {pull_secret}" if pull_secret else ""
    return f"""apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: {name}
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        devices:
          disks:
          - name: {name}-disk
            {device}
        resources:
          requests:
            memory: 2Gi
      volumes:
      - name: {name}-disk
        containerDisk:
          image: {image}{secret}
"""


def datavolume_snippet(
    image: str, disk: DiskFile | ExampleDisk, repository: str, secret: str | None, ca_config_map: str | None
) -> str:
    name = k8s_name(repository)
    extra = ""
    if secret:
        extra += f"\n      secretRef: {secret}        # keys accessKeyId (user) and secretKey (password)"
    if ca_config_map:
        extra += f"\n      certConfigMap: {ca_config_map}   # the registry's CA certificate"
    return f"""apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: {name}
spec:
  source:
    registry:
      url: "docker://{image}"{extra}
  storage:
    resources:
      requests:
        storage: {storage_request(disk.virtual_size)}
"""

"""Benchmark: push-disk (one streamed pass) against the peer pipeline (tar + OCI layout + skopeo copy), memory,
resume."""
# Run from the repository root: `nice -n 10 python bench/disk.py [--size 4Gi] [--small 1Gi] [--runs 1]`
# (about 10 minutes at 4 GiB; needs ~20 GiB free under $TMPDIR). Prints `name: value unit (peer: value, ratio: x)`.
#
# The disks are random bytes (compression cannot cheat) behind an MBR boot signature, and one
# qcow2 that qemu-img converts from the same bytes. Every push goes to a fresh registry (empty
# storage) behind nginx with TLS and basic auth, as in bench/push.py.

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.push import ceiling_curl, finish_oci_layout, skopeo_push, status_kib, with_stack  # noqa: E402
from bench.report import bench_root, line  # noqa: E402
from installer.console import format_size  # noqa: E402
from installer.disk import inspect_disk  # noqa: E402
from installer.push_disk import PushDiskTarget, run_push_disk  # noqa: E402
from installer.registry_client import Descriptor  # noqa: E402
from installer.sizes import parse_size  # noqa: E402
from tests.fixtures.cutproxy import CutProxy  # noqa: E402
from tests.fixtures.registry import RegistryStack  # noqa: E402

MiB = 1024 * 1024
REPO = "bench/push"  # bench.push.skopeo_push pushes here


def random_disk(path: Path, size: int) -> Path:
    """`size` random bytes with an MBR boot signature, written 16 MiB at a time."""
    block = 16 * MiB
    with open(path, "wb") as out:
        out.write(os.urandom(510) + b"\x55\xaa")
        left = size - 512
        while left > 0:
            out.write(os.urandom(min(block, left)))
            left -= block
    return path


def disk_target(stack: RegistryStack, disk: Path, state: Path, **options) -> PushDiskTarget:
    """push-disk of `disk` to REPO:bench on `stack` (or `registry=` another address), resume state in `state`."""
    return PushDiskTarget(
        disk=inspect_disk(disk),
        registry=options.pop("registry", stack.address),
        repository=REPO,
        tag="bench",
        **stack.client_options(),
        timeout=600.0,
        state_dir=state,
        **options,
    )


def our_push(stack: RegistryStack, disk: Path, state: Path, **options) -> tuple[float, int, object]:
    """push-disk end to end (connect, layer, config, manifest); (seconds, peak RSS growth, result)."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM so the peak is this push's
    rss_before = status_kib("VmRSS")
    target = disk_target(stack, disk, state, **options)
    started = time.monotonic()
    result = run_push_disk(target)
    seconds = time.monotonic() - started
    if not result.ok:
        raise RuntimeError(f"push-disk failed: {result.diagnosis}")
    return seconds, (status_kib("VmHWM") - rss_before) * 1024, result


def peer_pipeline(stack: RegistryStack, disk: Path, work: Path) -> float:
    """What a docker-less user does: tar the disk as disk/<name> (qemu-owned), hash it, write an OCI
    layout, then `skopeo copy` it to the registry. Returns the seconds of the whole pipeline."""
    started = time.monotonic()
    source = work / "src"
    (source / "disk").mkdir(parents=True)
    os.link(disk, source / "disk" / disk.name)  # no copy of the input: the peer's passes are tar, hash, copy
    layout = work / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layer = blobs / "layer.tar"
    subprocess.run(
        [
            "tar",
            "--numeric-owner",
            "--owner=107",
            "--group=107",
            "--mode=a-w",
            "-cf",
            str(layer),
            "-C",
            str(source),
            "disk",
        ],
        check=True,
    )
    hexdigest = subprocess.run(["sha256sum", str(layer)], check=True, capture_output=True, text=True).stdout.split()[0]
    size = layer.stat().st_size
    layer.rename(blobs / hexdigest)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hexdigest}"]},
        }
    ).encode()
    finish_oci_layout(layout, config, Descriptor("application/vnd.oci.image.layer.v1.tar", f"sha256:{hexdigest}", size))
    skopeo_push(stack, layout)
    seconds = time.monotonic() - started
    shutil.rmtree(work, ignore_errors=True)
    return seconds


def bench_disk(root: Path, disk: Path, label: str, runs: int) -> float:
    ours = [
        with_stack(root, "ours", lambda s: our_push(s, disk, Path(tempfile.mkdtemp(dir=root)))[0]) for _ in range(runs)
    ]
    theirs = [
        with_stack(root, "peer", lambda s: peer_pipeline(s, disk, Path(tempfile.mkdtemp(dir=root))))
        for _ in range(runs)
    ]
    size = disk.stat().st_size / MiB
    ours_rate, their_rate = size / statistics.median(ours), size / statistics.median(theirs)
    line(
        f"push-disk {label} end to end, median of {runs}",
        ours_rate,
        "MiB/s",
        "tar + sha256sum + OCI layout + skopeo copy",
        their_rate,
        digits=1,
    )
    return ours_rate


def bench_memory(root: Path, small: Path, large: Path) -> None:
    growth = {}
    for disk in (small, large):
        growth[disk] = with_stack(root, "rss", lambda s: our_push(s, disk, Path(tempfile.mkdtemp(dir=root)))[1])
    line(
        f"push-disk peak RSS growth, {format_size(large.stat().st_size)} disk",
        growth[large] / MiB,
        "MiB",
        f"{format_size(small.stat().st_size)} disk",
        growth[small] / MiB,
        digits=1,
    )


def bench_ceiling(root: Path, disk: Path, ours_rate: float) -> None:
    seconds = with_stack(root, "ceiling", lambda s: ceiling_curl(s, disk))
    line(
        f"push-disk {format_size(disk.stat().st_size)} against the loopback ceiling",
        ours_rate,
        "MiB/s",
        "curl -T of the same file to nginx discarding the body",
        disk.stat().st_size / MiB / seconds,
        digits=1,
    )


def resend_after_cut(root: Path, disk: Path, buffering: bool) -> float:
    """Cut the connection once at half the file; the share of the file sent more than once."""

    def once(stack: RegistryStack) -> float:
        proxy = CutProxy(stack.nginx.port, cut_at=disk.stat().st_size // 2)
        try:
            _, _, result = our_push(stack, disk, Path(tempfile.mkdtemp(dir=root)), registry=proxy.address)
        finally:
            proxy.stop()
        if proxy.cuts != 1:
            raise RuntimeError("the proxy never cut the connection")
        return max(0, proxy.sent_up - result.layer_size) / disk.stat().st_size * 100

    return with_stack(root, "cut", once, request_buffering=buffering)


def resend_after_stop(root: Path, disk: Path) -> float:
    """Stop (Ctrl+C) at half the file, run again; the share of the file sent twice."""

    def once(stack: RegistryStack) -> float:
        state = Path(tempfile.mkdtemp(dir=root))
        stop = threading.Event()
        half = disk.stat().st_size // 2
        target = disk_target(stack, disk, state)
        first = run_push_disk(
            target, on_event=lambda e: stop.set() if getattr(e, "done", 0) >= half else None, stop=stop
        )
        second = run_push_disk(target)
        if not (first.interrupted and second.ok):
            raise RuntimeError(f"stop and resume failed: {first}, {second}")
        return max(0, first.sent + second.sent - second.layer_size) / disk.stat().st_size * 100

    return with_stack(root, "stop", once)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="4Gi", help="the large disk (default 4Gi)")
    parser.add_argument("--small", default="1Gi", help="the small disk, for memory flatness (default 1Gi)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    size, small_size = parse_size(args.size), parse_size(args.small)
    with bench_root("registry-installer-bench-disk-") as root:
        large = random_disk(root / "random.img", size)
        small = random_disk(root / "small.img", small_size)
        qcow2 = root / "random.qcow2"
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(large), str(qcow2)], check=True)
        label = format_size(size)
        ours_rate = bench_disk(root, large, f"{label} random raw disk", args.runs)
        bench_disk(root, qcow2, f"{label} qcow2 (qemu-img) of it", args.runs)
        bench_ceiling(root, large, ours_rate)
        bench_memory(root, small, large)
        buffered = resend_after_cut(root, large, buffering=True)
        unbuffered = resend_after_cut(root, large, buffering=False)
        line(
            f"push-disk {label}: share re-sent after a cut at 50 % (nginx buffering requests, 64 MiB PATCHes)",
            buffered,
            "%",
            "the same cut, nginx passing bodies through (docker-distribution cancels the upload)",
            unbuffered,
            digits=2,
        )
        stopped = resend_after_stop(root, large)
        line(
            f"push-disk {label}: share re-sent after Ctrl+C at 50 % and a second run",
            stopped,
            "%",
            "a cut with a buffering proxy",
            buffered,
            digits=2,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: our streamed layer push through nginx (TLS, basic auth) against skopeo copy, memory, and the loopback
ceiling."""
# Run from the repository root: `python bench/push.py [--sizes 256Mi,1Gi] [--runs 3]` (about 3 minutes).
# Needs what .ci/setup-registry.sh installs. Prints `name: value unit (peer: value, ratio: x)` lines.

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from bench.report import bench_root, line  # noqa: E402
from installer.console import format_size  # noqa: E402
from installer.registry_client import (  # noqa: E402
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Descriptor,
    RegistryClient,
    manifest_json,
    sha256_digest,
)
from installer.sizes import parse_size  # noqa: E402
from installer.smoke_image import SmokeLayer, image_config  # noqa: E402
from tests.fixtures.registry import RegistryStack, start_stack  # noqa: E402

T = TypeVar("T")
log = logging.getLogger(__name__)
MiB = 1024 * 1024
REPO = "bench/push"


def status_kib(field: str) -> int:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def our_push(stack: RegistryStack, size: int) -> tuple[float, int, int]:
    """Push a fresh one-layer image of `size`; returns (seconds, layer bytes, peak RSS growth in bytes)."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM so the peak is this push's
    rss_before = status_kib("VmRSS")
    with RegistryClient(stack.address, **stack.client_options(), timeout=120.0) as client:
        started = time.monotonic()
        client.ping()
        layer = SmokeLayer(size)
        digest, sent = client.upload_blob(REPO, layer.chunks())
        config = client.push_blob(REPO, image_config(layer.diff_id), OCI_CONFIG)
        client.put_manifest(REPO, "bench", manifest_json(config, [Descriptor(OCI_LAYER_GZIP, digest, sent)]))
        seconds = time.monotonic() - started
    return seconds, sent, (status_kib("VmHWM") - rss_before) * 1024


def write_oci_layout(directory: Path, size: int) -> int:
    """An `oci:` layout with the same kind of layer we push, streamed to disk; returns the layer size."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layer = SmokeLayer(size)
    hasher, written = hashlib.sha256(), 0
    partial = blobs / "layer.partial"
    with open(partial, "wb") as out:
        for chunk in layer.chunks():
            hasher.update(chunk)
            written += len(chunk)
            out.write(chunk)
    partial.rename(blobs / hasher.hexdigest())
    finish_oci_layout(
        directory, image_config(layer.diff_id), Descriptor(OCI_LAYER_GZIP, "sha256:" + hasher.hexdigest(), written)
    )
    return written


def finish_oci_layout(directory: Path, config: bytes, layer: Descriptor) -> None:
    """Complete a one-layer `oci:` layout whose layer blob is in place: the config blob, the manifest, the index
    (tag `bench`) and the layout marker."""
    blobs = directory / "blobs" / "sha256"
    (blobs / sha256_digest(config).split(":")[1]).write_bytes(config)
    manifest = manifest_json(Descriptor(OCI_CONFIG, sha256_digest(config), len(config)), [layer])
    (blobs / sha256_digest(manifest).split(":")[1]).write_bytes(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256_digest(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "bench"},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')


def skopeo_push(stack: RegistryStack, layout: Path) -> tuple[float, int]:
    """skopeo copy oci:layout to the registry; returns (seconds, skopeo's max RSS in bytes)."""
    argv = [
        "skopeo",
        "copy",
        "--quiet",
        *stack.skopeo_login("dest"),
        f"oci:{layout}:bench",
        f"docker://{stack.address}/{REPO}:bench",
    ]
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"skopeo copy failed: {stderr}")
    return seconds, usage.ru_maxrss * 1024


def ceiling_python(stack: RegistryStack, size: int) -> float:
    """A plain chunked POST of `size` zero bytes to nginx's discarding location, with requests."""
    block = bytes(MiB)

    def body():
        for start in range(0, size, MiB):
            yield block[: min(MiB, size - start)]

    session = requests.Session()
    session.trust_env = False
    started = time.monotonic()
    response = session.post(f"https://{stack.address}/discard", data=body(), verify=str(stack.ca_file), timeout=120)
    seconds = time.monotonic() - started
    if response.status_code != 204:
        raise RuntimeError(f"discard location answered {response.status_code}")
    return seconds


def ceiling_curl(stack: RegistryStack, source: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "--cacert",
            str(stack.ca_file),
            "-o",
            "/dev/null",
            "-T",
            str(source),
            f"https://{stack.address}/discard",
        ],
        check=True,
    )
    return time.monotonic() - started


def fresh_stack(root: Path, name: str, **options) -> RegistryStack:
    """A new registry (empty storage) per run, so no blob is ever skipped or mounted; `options` go to start_stack."""
    return start_stack(
        Path(tempfile.mkdtemp(prefix=name + "-", dir=root)),
        auth="ingress",
        body_limit="0",
        read_timeout="600s",
        send_timeout="600s",
        **options,
    )


def with_stack(root: Path, name: str, once: Callable[[RegistryStack], T], **options) -> T:
    """`once(stack)` on a fresh_stack, stopped and removed afterwards."""
    stack = fresh_stack(root, name, **options)
    try:
        return once(stack)
    finally:
        stack.stop()
        shutil.rmtree(stack.directory, ignore_errors=True)


def repeat(runs: int, root: Path, name: str, once: Callable[[RegistryStack], tuple]) -> list[tuple]:
    return [with_stack(root, name, once) for _ in range(runs)]


def bench_size(root: Path, size: int, runs: int) -> dict:
    label = format_size(size)
    ours = repeat(runs, root, "ours", lambda stack: our_push(stack, size))
    layout = root / f"layout-{size}"
    layer_bytes = write_oci_layout(layout, size)
    theirs = repeat(runs, root, "skopeo", lambda stack: skopeo_push(stack, layout))
    our_rate = statistics.median(sent / MiB / seconds for seconds, sent, _ in ours)
    their_rate = statistics.median(layer_bytes / MiB / seconds for seconds, _ in theirs)
    our_rss = max(growth for _, _, growth in ours) / MiB
    their_rss = max(rss for _, rss in theirs) / MiB
    line(f"push {label} layer throughput, median of {runs}", our_rate, "MiB/s", "skopeo copy", their_rate, digits=1)
    line(
        f"push {label} peak RSS growth of our process, max of {runs}",
        our_rss,
        "MiB",
        "skopeo max RSS",
        their_rss,
        digits=1,
    )
    shutil.rmtree(layout, ignore_errors=True)
    return {"rate": our_rate, "rss": our_rss}


def bench_ceiling(root: Path, size: int, runs: int) -> None:
    stacks = repeat(
        1,
        root,
        "ceiling",
        lambda stack: ([ceiling_python(stack, size) for _ in range(runs)], _curl_runs(stack, root, size, runs)),
    )
    python_seconds, curl_seconds = stacks[0]
    line(
        f"loopback ceiling, {format_size(size)} POST to nginx discarding the body (python requests), median of {runs}",
        size / MiB / statistics.median(python_seconds),
        "MiB/s",
        "curl",
        size / MiB / statistics.median(curl_seconds),
        digits=1,
    )


def _curl_runs(stack: RegistryStack, root: Path, size: int, runs: int) -> list[float]:
    source = root / "zeros.bin"
    with open(source, "wb") as out:
        out.truncate(size)  # sparse: reading it costs no disk
    try:
        return [ceiling_curl(stack, source) for _ in range(runs)]
    finally:
        source.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="256Mi,1Gi", help="layer sizes, comma-separated (default 256Mi,1Gi)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [parse_size(size) for size in args.sizes.split(",")]
    with bench_root("registry-installer-bench-") as root:
        results = {size: bench_size(root, size, args.runs) for size in sizes}
        if len(sizes) >= 2:
            small, large = sizes[0], sizes[-1]
            line(
                f"peak RSS growth pushing {format_size(large)} vs {format_size(small)}",
                results[large]["rss"],
                "MiB",
                format_size(small),
                results[small]["rss"],
                digits=1,
            )
        bench_ceiling(root, max(sizes), args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

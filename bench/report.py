"""One way to print a benchmark figure: `name: value unit (peer: value, ratio: x)`."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence


def line(name: str, value: float, unit: str, peer_name: str, peer: float, digits: int = 3) -> None:
    ratio = value / peer if peer else float("nan")
    print(f"{name}: {value:.{digits}f} {unit} ({peer_name}: {peer:.{digits}f}, ratio: {ratio:.2f})", flush=True)


def median_seconds(run: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run_quiet(argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command; fail loudly (with its stderr) when it fails, since a failed peer is no figure."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


@contextmanager
def bench_root(prefix: str) -> Iterator[Path]:
    """A scratch folder for one benchmark, removed afterwards; then (when it ran through) the benchmark's wall time."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    started = time.monotonic()
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"bench time: {time.monotonic() - started:.0f} s", flush=True)

"""One way to print a benchmark figure: `name: value unit (peer: value, ratio: x)`."""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Callable, Sequence


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

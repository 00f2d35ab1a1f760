"""Runs every benchmark, prints each figure with its peer and ratio, and saves them under bench/results/.

Run from the repository root after the test set-up (`bash .ci/setup.sh`): `python bench/run.py`.
`--quick` uses smaller sizes and fewer runs (for a smoke check of the scripts themselves).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = re.compile(
    r"^(?P<name>.+?): (?P<value>[-0-9.]+) (?P<unit>\S+) "
    r"\((?P<peer>.+): (?P<peer_value>[-0-9.na]+), ratio: (?P<ratio>[-0-9.na]+)\)$"
)


def scripts(quick: bool) -> list[list[str]]:
    runs = ["--runs", "1" if quick else "3"]
    return [
        ["bench/push.py", "--sizes", "64Mi,256Mi" if quick else "256Mi,1Gi", *runs],
        ["bench/auth_cost.py", *runs],
        ["bench/probe_scale.py", "--runs", "2" if quick else "5"],
        ["bench/startup.py", "--runs", "3" if quick else "7"],
        ["bench/disk.py", "--size", "256Mi" if quick else "4Gi", "--small", "64Mi" if quick else "1Gi"],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here (default bench/results/<time>.json)")
    args = parser.parse_args()
    figures, failed = [], []
    for argv in scripts(args.quick):
        print(f"== {' '.join(argv)}", flush=True)
        proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for text in proc.stdout:
            print(text, end="", flush=True)
            match = FIGURE.match(text.strip())
            if match:
                figures.append({**match.groupdict(), "script": argv[0]})
        if proc.wait() != 0:
            failed.append(argv[0])
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    out = args.json or ROOT / "bench" / "results" / f"{stamp}{'-quick' if args.quick else ''}.json"
    out.write_text(
        json.dumps(
            {
                "when": stamp,
                "machine": platform.platform(),
                "cpus": __import__("os").cpu_count(),
                "quick": args.quick,
                "figures": figures,
                "failed": failed,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"{len(figures)} figures written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

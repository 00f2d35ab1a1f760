"""Benchmark: `registry-installer render` vs `helm template`, and the wizard's first screen vs a bare Textual app.

Run from the repository root: `python bench/startup.py [--runs 7]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import line, median_seconds, run_quiet  # noqa: E402
from installer.chart import local_chart  # noqa: E402

SEED = ROOT / "presets" / "rook-ceph-nginx.yaml"
CHART = local_chart().path  # the real chart, found as installer/chart.py says
HELM = Path.home() / ".cache" / "registry-installer-tests" / "bin" / "helm4"

# Launched in a fresh interpreter: exits from Textual's auto_pilot, which runs once the app is ready.
FIRST_SCREEN = """
import sys
from textual.app import App
from textual.widgets import Static
mode, kubeconfig = sys.argv[1], sys.argv[2]
if mode == "ours":
    from screens.app import make_app
    app = make_app(kubeconfig=kubeconfig)
else:
    class Bare(App):
        def compose(self):
            yield Static("hello")
    app = Bare()
import time
async def pilot(p):
    print("READY", time.time(), flush=True)  # auto_pilot runs once the first screen is up and taking keys
    p.app.exit()
app.run(headless=True, auto_pilot=pilot, size=(80, 24))
"""


def render_once(out: Path) -> None:
    run_quiet(
        [sys.executable, "-m", "installer", "render", "--preset", str(SEED), "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "REGISTRY_PASSWORD": "bench-password"},
    )


def render_imports(out: Path) -> set[str]:
    code = (
        "import sys, runpy; sys.argv=['registry-installer','render','--preset',sys.argv[1],'--out',sys.argv[2]]\n"
        "from installer.cli import main\nmain()\nprint('MODULES', ' '.join(sorted(sys.modules)))"
    )
    proc = run_quiet(
        [sys.executable, "-c", code, str(SEED), str(out)], cwd=ROOT, env={**os.environ, "REGISTRY_PASSWORD": "x"}
    )
    return set(proc.stdout.split("MODULES", 1)[1].split())


def first_screen_seconds(mode: str, kubeconfig: Path) -> float:
    """Wall time from starting the process to the app's first interactive frame (not to its exit)."""
    started = time.time()
    proc = run_quiet([sys.executable, "-c", FIRST_SCREEN, mode, str(kubeconfig)], cwd=ROOT, timeout=60)
    ready = next(float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("READY"))
    return ready - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        render_once(tmp / "warm")  # page cache and .pyc files
        ours = median_seconds(lambda: render_once(tmp / "out"), args.runs)
        files = ["-f", str(tmp / "out" / "values.yaml"), "-f", str(tmp / "out" / "secret-values.yaml")]
        helm = median_seconds(
            lambda: run_quiet([str(HELM), "template", "docker-registry", str(CHART), *files]), args.runs
        )
        line(
            f"render wall time (seed preset), median of {args.runs}",
            ours,
            "s",
            "helm template of the same values",
            helm,
        )
        loaded = render_imports(tmp / "imports")
        heavy = sorted(m for m in ("kubernetes", "textual") if m in loaded)
        print(f"render imports kubernetes or textual: {', '.join(heavy) if heavy else 'no'}", flush=True)
        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\nusers: "
            "[{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
        )
        first_screen_seconds("ours", kubeconfig)
        ours_ui = statistics.median(first_screen_seconds("ours", kubeconfig) for _ in range(args.runs))
        bare_ui = statistics.median(first_screen_seconds("bare", kubeconfig) for _ in range(args.runs))
        line(
            f"wizard launch to first interactive screen, median of {args.runs}",
            ours_ui,
            "s",
            "bare Textual app",
            bare_ui,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

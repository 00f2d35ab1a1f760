"""Boundaries at run time: the core never loads textual; render never loads the kubernetes client.

What each package may import is the import-linter contract in pyproject.toml (run by tests/test_lint.py).
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_core_modules_never_load_textual():
    modules = [p.stem for p in (ROOT / "installer").glob("*.py") if p.stem not in ("__main__",)]
    loaded = _loaded_after("\n".join(f"import installer.{m}" for m in modules))
    assert not any(m == "textual" or m.startswith("textual.") for m in loaded)


def test_render_path_loads_neither_kubernetes_nor_textual():
    loaded = _loaded_after(
        "from installer.cli import main\nimport installer.engine, installer.render, installer.preset, installer.plan"
    )
    assert "kubernetes" not in loaded and "textual" not in loaded

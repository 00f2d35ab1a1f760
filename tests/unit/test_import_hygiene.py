"""Boundaries: the core never imports textual; render never loads the kubernetes client; screens stay thin."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_screens_do_not_talk_to_the_cluster_or_helm_directly():
    forbidden = (
        "kubernetes",
        "subprocess",
        "installer.helm",
        "installer.kube",
        "installer.apply",
        "installer.state",
        "installer.uninstall",
        "installer.verify",
        "installer.secret_writes",
    )
    for path in (ROOT / "screens").rglob("*.py"):
        bad = [n for n in _imports(path) if n.startswith(forbidden)]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"

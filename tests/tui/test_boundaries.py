"""The wizard's import boundaries: screens reach the cluster only through installer.session; the core never imports
textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_SCREENS = (
    "kubernetes",
    "subprocess",
    "installer.kube",
    "installer.helm",
    "installer.apply",
    "installer.engine",
    "installer.state",
    "installer.smoke",
    "installer.probe",
    "installer.uninstall",
    "installer.verify",
    "installer.secret_writes",
)


def runtime_imports(path: Path) -> list[str]:
    """Modules imported at run time (imports under `if TYPE_CHECKING:` are for annotations only)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    names = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "screens").glob("*.py")), ids=lambda p: p.name)
def test_screens_do_not_import_cluster_code(path):
    bad = [name for name in runtime_imports(path) if name.startswith(FORBIDDEN_IN_SCREENS)]
    assert bad == [], f"{path.name} imports {bad}: go through installer.session"


def test_session_and_reconfigure_load_without_textual():
    code = "import sys, installer.session, installer.reconfigure; print('textual' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"

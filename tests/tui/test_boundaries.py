"""The wizard's import boundaries at run time: the session the screens use loads without textual.

What screens/ may import (the cluster, helm and the engine only through installer.session) is the import-linter
contract in pyproject.toml, run by tests/test_lint.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_session_and_reconfigure_load_without_textual():
    code = "import sys, installer.session, installer.reconfigure; print('textual' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"

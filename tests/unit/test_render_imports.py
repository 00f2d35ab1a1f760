"""Render start-up, part 1 (issue 13): msgspec loads through installer.structs with typing_extensions hidden, and
the render path's value classes are no dataclasses, so `python -m installer render` never imports typing_extensions,
inspect or dataclasses; what it writes is unchanged. Also: hiding typing_extensions leaves it importable later,
and SecretSpec's value stays out of its comparison and repr."""

from __future__ import annotations

import filecmp
import shutil

from installer.errors import Problem
from installer.secretref import SecretSpec
from installer.secretstr import SecretStr
from tests.conftest import PRESETS, ROOT
from tests.unit.test_startup_imports import run_python

SEED = PRESETS / "rook-ceph-nginx.yaml"
GOLDEN_VALUES = ROOT / "tests" / "golden" / "rook-ceph-nginx.values.yaml"
RENDER_FILES = {"values.yaml", "pvc.yaml", "secrets.yaml", "secret-values.yaml"}
NOT_FOR_RENDER = {"typing_extensions", "inspect", "dataclasses"}


def _render(out, before: str = "") -> set[str]:
    """`python -m installer render` of the seed preset into `out` (as `-m` runs it: runpy), after the code `before`;
    the modules loaded when the process ends."""
    code = (
        f"import atexit, runpy, sys\n{before}\n"
        "atexit.register(lambda: print('MODULES', ' '.join(sorted(sys.modules))))\n"
        f"sys.argv = ['installer', 'render', '--preset', {str(SEED)!r}, '--out', {str(out)!r}]\n"
        "runpy.run_module('installer', run_name='__main__', alter_sys=True)\n"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split("MODULES", 1)[1].split())


def test_render_loads_no_typing_extensions_inspect_or_dataclasses(tmp_path):
    out = tmp_path / "out"
    loaded = _render(out)
    assert "msgspec" in loaded and "installer.structs" in loaded  # the Structs did load, through installer.structs
    assert not loaded & NOT_FOR_RENDER, sorted(loaded & NOT_FOR_RENDER)
    assert {path.name for path in out.iterdir()} == RENDER_FILES
    assert (out / "values.yaml").read_text() == GOLDEN_VALUES.read_text()


def test_render_writes_the_same_files_with_typing_extensions_loaded(tmp_path):
    """The same render with typing_extensions loaded first (msgspec then takes get_type_hints from it, as before
    installer.structs hid it): the same files, byte for byte (the second run keeps the first one's secrets)."""
    out = tmp_path / "out"
    assert not _render(out) & NOT_FOR_RENDER
    hidden = tmp_path / "hidden"
    shutil.copytree(out, hidden)
    assert "typing_extensions" in _render(out, before="import typing_extensions")
    match, mismatch, errors = filecmp.cmpfiles(hidden, out, sorted(RENDER_FILES), shallow=False)
    assert (sorted(match), mismatch, errors) == (sorted(RENDER_FILES), [], [])


def test_structs_keeps_a_typing_extensions_loaded_before():
    code = (
        "import sys\nimport typing_extensions\n"
        "from installer.structs import msgspec\n"
        "from msgspec import _utils\n"
        "assert sys.modules['typing_extensions'] is typing_extensions\n"
        "print('HINTS FROM', _utils._get_type_hints.__module__)\n"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("HINTS FROM", 1)[1].split() == ["typing_extensions"], proc.stdout


def test_typing_extensions_imports_after_structs_hid_it():
    """Hidden only while msgspec loads: a later `import typing_extensions` (textual's, kubernetes') gets the real
    module; and typing's get_type_hints, which msgspec took instead, reads every annotation of the preset model (the
    schema it generates is the committed one)."""
    code = (
        "import sys\n"
        "from installer.structs import msgspec\n"
        "from msgspec import _utils\n"
        "assert 'typing_extensions' not in sys.modules\n"
        "import typing_extensions\n"
        "assert sys.modules['typing_extensions'] is typing_extensions and typing_extensions.get_type_hints\n"
        "from installer.preset import schema_text\n"
        "assert schema_text() == open('presets/schema.json').read()\n"
        "print('HINTS FROM', _utils._get_type_hints.__module__)\n"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("HINTS FROM", 1)[1].split() == ["typing"], proc.stdout  # not typing_extensions'


def test_secret_spec_value_out_of_comparison_hash_and_repr():
    from rich.pretty import pretty_repr

    typed = SecretSpec.literal("hunter2-secret")
    other = SecretSpec("literal", value=SecretStr("another-one"))
    assert typed == other and not typed != other and hash(typed) == hash(other) and len({typed, other}) == 1
    assert typed.value is not None and typed.value.get_secret_value() == "hunter2-secret"
    for text in (repr(typed), str(typed), pretty_repr(typed), f"{[typed]}"):
        assert "hunter2" not in text and "value" not in text, text
    assert repr(typed) == "SecretSpec(kind='literal', ref='')"
    assert repr(SecretSpec("env", "REGISTRY_PASSWORD")) == "SecretSpec(kind='env', ref='REGISTRY_PASSWORD')"
    assert SecretSpec("env", "A") != SecretSpec("env", "B") and SecretSpec("env", "A") != SecretSpec("file", "A")
    assert SecretSpec.parse("env:A") == SecretSpec(kind="env", ref="A")


def test_problem_keeps_its_value_class_behaviour():
    problem = Problem("auth.users", "no users", fix="add one")
    assert problem == Problem(path="auth.users", message="no users", fix="add one", line=None)
    assert repr(problem) == "Problem(path='auth.users', message='no users', fix='add one', line=None)"
    assert str(problem._replace(line=3)) == "auth.users (line 3): no users\n    fix: add one"
    assert len({problem, Problem("auth.users", "no users", "add one")}) == 1

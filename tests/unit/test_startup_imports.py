"""Start-up: what the commands load before they do their job (bench/startup.py measures the time; this keeps
the slow imports out of the paths that do not need them, without timing anything)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PRESETS, ROOT

RENDER_NEVER_LOADS = ("kubernetes", "textual", "passlib")
RENDER_LATER = {"installer.probe", "installer.registry_flags", "installer.disk_cli"}


def _render_modules(preset: str, out, *, again: bool = False) -> set[str]:
    code = (
        "import sys\nfrom installer.cli import main\n"
        f"assert main(['render', '--preset', {str(PRESETS / preset)!r}, '--out', {str(out)!r}]) == 0\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))"
    )
    env = {**os.environ, "REGISTRY_PASSWORD": "startup-test"}
    runs = 2 if again else 1
    for _ in range(runs):  # the second run reads the first one's secrets back (and checks the kept hash)
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split("MODULES", 1)[1].split())


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_seed_render_loads_no_cluster_client_no_ui_and_no_x509(tmp_path):
    """The seed preset uses a TLS Secret made by hand: nothing to parse or sign, so cryptography stays unloaded."""
    loaded = _render_modules("rook-ceph-nginx.yaml", tmp_path / "out", again=True)
    assert not _top(loaded) & {*RENDER_NEVER_LOADS, "cryptography"}, sorted(_top(loaded))
    assert "installer.tlsfiles" not in loaded
    # the commands that talk to a cluster or a registry: their flags and modules stay with those commands
    assert not loaded & RENDER_LATER, sorted(loaded & RENDER_LATER)
    assert "bcrypt" in loaded  # the one hash (or the check of the kept one) is still made


def test_render_starts_no_process_tools(tmp_path):
    """render asks helm for nothing: subprocess (with signal and fcntl) loads only with a command that runs helm or
    `helm pull`s the chart (installer/chart.py imports it there)."""
    loaded = _render_modules("rook-ceph-nginx.yaml", tmp_path / "out")
    assert not loaded & {"subprocess", "signal", "fcntl"}, sorted(loaded & {"subprocess", "signal", "fcntl"})


def test_filesystem_render_loads_no_json(tmp_path):
    """A render whose values need no quoting for the chart (render.chart_bare: S3 names) loads no json module; the
    preset's schema text (preset.schema_text) is not needed to load a preset."""
    loaded = _render_modules("rook-ceph-nginx.yaml", tmp_path / "out")
    assert not {m for m in loaded if m == "json" or m.startswith("json.")}, sorted(m for m in loaded if "json" in m)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """`python -c CODE` in the repository root, as a command runs there (a password for the seed preset set)."""
    env = {**os.environ, "REGISTRY_PASSWORD": "startup-test"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


@pytest.mark.parametrize("command", ["render", "clients", "schema"])
def test_short_commands_run_no_cycle_collection_and_leave_the_collector_on(tmp_path, command):
    """Importing and building the model would run cycle collections that free next to nothing: the commands
    that load the model and end pause the collector (cli.short_command) and turn it back on when they return."""
    seed = str(PRESETS / "rook-ceph-nginx.yaml")
    argv = {
        "render": ["render", "--preset", seed, "--out", str(tmp_path)],
        "clients": ["clients", "--preset", seed],
        "schema": ["schema", "--out", str(tmp_path / "schema.json")],
    }[command]
    code = (
        f"import gc\nfrom installer import cli\nstarted = []\nrun = cli.COMMANDS[{command!r}]\n"
        "def count(phase, info):\n"
        "    started.append(info['generation']) if phase == 'start' else None\n"
        "def counted(args):\n"
        "    gc.callbacks.append(count)\n"
        "    try:\n"
        "        return run(args)\n"
        "    finally:\n"
        "        gc.callbacks.remove(count)\n"
        f"cli.COMMANDS[{command!r}] = counted\n"
        f"assert cli.main({argv!r}) == 0\n"
        "print('COLLECTIONS', len(started), 'ENABLED', gc.isenabled())"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    collections, enabled = proc.stdout.split("COLLECTIONS", 1)[1].split()[::2]
    # at most the one collection the collector makes as it is turned back on (it counted the paused allocations)
    assert int(collections) <= 1 and enabled == "True", proc.stdout[-500:]


def test_the_process_ends_without_walking_its_objects(tmp_path):
    """`python -m installer` freezes the collector's objects once the command returned (cli.exit_soon): the tear-down
    then skips the cycle search over the loaded modules' objects. Seen from an atexit hook, which runs after."""
    code = (
        "import atexit, gc, runpy, sys\n"
        "atexit.register(lambda: print('FROZEN', gc.get_freeze_count()))\n"
        f"sys.argv = ['installer', 'render', '--preset', {str(PRESETS / 'rook-ceph-nginx.yaml')!r}, '--out', "
        f"{str(tmp_path)!r}]\n"
        "runpy.run_module('installer', run_name='__main__')\n"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "values.yaml").is_file()
    assert int(proc.stdout.split("FROZEN", 1)[1].split()[0]) > 10_000, proc.stdout[-300:]


def test_self_signed_render_still_loads_x509(tmp_path):
    """The other side of the lazy import: a mode that makes certificates does load cryptography."""
    loaded = _render_modules("minimal.yaml", tmp_path / "out")
    assert "cryptography.x509" in loaded and "installer.tlsfiles" in loaded
    assert not _top(loaded) & set(RENDER_NEVER_LOADS)


# two contexts as kubectl writes them (block style; kube._block_yaml reads it without PyYAML)
KUBECTL_STYLE = """apiVersion: v1
clusters:
- cluster:
    server: https://127.0.0.1:9
  name: c
contexts:
- context:
    cluster: c
  name: one
- context:
    cluster: c
  name: two
current-context: two
kind: Config
preferences: {}
users: []
"""


def test_wizard_first_frame_needs_no_cluster_client_helm_or_http(tmp_path):
    """What the Cluster step needs before it paints: the app, the session, the Cluster screen and the kubeconfig's
    contexts. The kubernetes client loads in the step's connect worker after the first frame; the later steps'
    screens, apply, helm, render and the registry client (requests) when a step uses them."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECTL_STYLE)
    code = (
        "import sys\nfrom screens.app import make_app\n"
        f"app = make_app(kubeconfig={str(kubeconfig)!r})\n"
        "print('CONTEXTS', app.session.contexts())\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "CONTEXTS (['one', 'two'], 'two')" in proc.stdout
    loaded = set(proc.stdout.split("MODULES", 1)[1].split())
    assert not _top(loaded) & FIRST_FRAME_NEVER_LOADS, sorted(_top(loaded) & FIRST_FRAME_NEVER_LOADS)
    assert not loaded & FIRST_FRAME_LATER, sorted(loaded & FIRST_FRAME_LATER)
    screens = {m for m in loaded if m.startswith("screens.")}
    assert screens == {"screens.app", "screens.base", "screens.cluster", "screens.state"}, sorted(screens)


# msgspec and the Choices model load in the Cluster step's connect worker, after the first frame; RichLog (rich.pretty
# and attrs) with the first step that shows a log; PyYAML only for a kubeconfig not written as kubectl writes it
FIRST_FRAME_NEVER_LOADS = {
    "kubernetes",
    "requests",
    "cryptography",
    "passlib",
    "msgspec",
    "attr",
    "yaml",
}
FIRST_FRAME_LATER = {
    "installer.engine",
    "installer.events",
    "installer.console",
    "installer.apply",
    "installer.helm",
    "installer.render",
    "installer.verify",
    "installer.probe",
    "installer.model",
    "installer.preset",
    "textual.widgets._rich_log",
}


def test_wizard_command_reaches_the_app_without_the_model(tmp_path):
    """`registry-installer` itself (the CLI's wizard command, not only make_app) starts the app before msgspec and
    the model load; App.run is replaced here by a report of what is loaded at that moment."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECTL_STYLE)
    code = (
        "import sys\nfrom textual.app import App\n"
        "App.run = lambda self, **kw: print('MODULES', ' '.join(sorted(sys.modules)))\n"
        "from installer.cli import main\n"
        f"main(['--kubeconfig', {str(kubeconfig)!r}])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split("MODULES", 1)[1].split())
    assert "screens.app" in loaded
    assert not _top(loaded) & FIRST_FRAME_NEVER_LOADS, sorted(_top(loaded) & FIRST_FRAME_NEVER_LOADS)
    assert not loaded & FIRST_FRAME_LATER, sorted(loaded & FIRST_FRAME_LATER)


# Each command with lines its parser takes or refuses (help and unknown flags are added below).
COMMAND_LINES = {
    "wizard": [
        [],
        ["--context", "a", "--kubeconfig=/k", "-v"],
        ["--verbose", "--helm", "helm4", "--chart", "c.tgz", "--context=b"],
        ["--kube", "/k"],  # an abbreviation, as argparse allows
        ["--context"],
        ["extra"],
    ],
    "apply": [["--preset", "p.yaml", "--dry-run", "--tim", "5m", "-v"], ["--dry-run"], ["--preset"]],
    "render": [["--preset", "p", "--out", "o", "--state", "s"], ["--preset", "p"], ["--out", "o", "apply"]],
    "probe": [["--json", "--namespace", "n", "--helm=h"], ["--json=yes"]],
    "uninstall": [["--delete-data", "-y", "--release", "r"], ["--delete"]],
    "status": [["--json", "--context", "c"], ["--size", "1Gi"]],
    "gc": [["--dry-run", "--keep-untagged", "--timeout", "1m"], ["--keep"]],
    "grow": [["--size", "2Gi", "-y"], [], ["--size"]],
    "smoke": [["--repository", "a/b", "--tag", "t", "--keep"], ["--tag"]],
    "push-disk": [["disk.qcow2", "--image", "vms/d:1", "--name", "d.img"], ["disk.qcow2"], []],
    "ca": [["--out", "ca.pem", "--namespace", "n"], ["--preset", "p"]],
    "clients": [["--preset", "p", "--image", "a:b"], []],
    "schema": [["--out", "s.json"], ["extra"]],
}
COMMAND_CASES = [
    (command, argv)
    for command, lines in COMMAND_LINES.items()
    for argv in [*lines, ["-h"], ["--he"], ["--bogus"], ["-v", "--bogus=1"]]
]


@pytest.mark.parametrize("command,argv", COMMAND_CASES)
def test_the_command_parser_alone_reads_the_line_as_the_whole_parser(command, argv, capsys):
    """A command line is read by its command's parser alone (cli.parse_command_line: the other twelve, with their
    help texts, are not built); the answer, the help, the usage and the errors are those of the whole parser."""
    from installer import cli

    def parsed(parse):
        try:
            answer = vars(parse())
        except SystemExit as exc:
            answer = {"exit": exc.code}
        return answer, capsys.readouterr()

    seen: dict = {}
    built: list[bool] = []
    real_build = cli.build_parser

    def build(name=None, lean=False):
        built.append(lean)
        return real_build(name, lean)

    cli.COMMANDS[command], real = (lambda args: seen.setdefault("args", vars(args)) and 0), cli.COMMANDS[command]
    cli.build_parser = build
    try:
        code = cli.main([command, *argv])
    finally:
        cli.COMMANDS[command] = real
        cli.build_parser = real_build
    ours = seen.get("args", {"exit": code}), capsys.readouterr()
    whole = parsed(lambda: real_build().parse_args([command, *argv]))
    assert ours == whole
    if "exit" not in whole[0]:  # a line the command takes: the whole parser was never built
        assert "args" in seen and built == [True], (seen, built)
    else:  # help or an error: the whole parser said it
        assert built == [True, False] and "args" not in seen, (seen, built)


def test_render_and_schema_set_up_logging_only_when_something_logs(tmp_path):
    """`logging` (with traceback) is ~3 ms of a render: render and schema log nothing on their usual path, so it is
    not loaded (installer/logs.py puts the set-up off); the modules they load log through logs.logger()."""
    loaded = _render_modules("rook-ceph-nginx.yaml", tmp_path / "out")
    assert not loaded & {"logging", "traceback"}, sorted(loaded & {"logging", "traceback"})
    code = (
        "import sys\nfrom installer.cli import main\n"
        f"assert main(['schema', '--out', {str(tmp_path / 'schema.json')!r}]) == 0\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    schema_loaded = set(proc.stdout.split("MODULES", 1)[1].split())
    assert "logging" not in schema_loaded
    assert (tmp_path / "schema.json").stat().st_size > 1000


def test_a_render_that_warns_logs_as_every_command_does(tmp_path):
    """The put-off set-up happens at the first message: render with a chart of another version warns in the
    command line's format (`LEVEL logger: message`), and --verbose still turns debug output on."""
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: docker-registry\nversion: 2.2.3\n")
    argv = ["-m", "installer", "render", "--preset", str(PRESETS / "rook-ceph-nginx.yaml"), "--chart", str(chart)]
    env = {**os.environ, "REGISTRY_PASSWORD": "startup-test"}
    proc = subprocess.run(
        [sys.executable, *argv, "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert f"WARNING installer.chart: chart {chart} is version 2.2.3; the installer is made for 3.0.0" in proc.stderr
    code = (
        "import logging, sys\nfrom installer.cli import main\n"
        f"assert main(['render', '-v', '--preset', {str(PRESETS / 'rook-ceph-nginx.yaml')!r}, "
        f"'--out', {str(tmp_path / 'out2')!r}]) == 0\n"
        "logging.getLogger('installer.test').debug('debug is on')"
    )
    verbose = run_python(code)
    assert verbose.returncode == 0, verbose.stderr
    assert "DEBUG installer.test: debug is on" in verbose.stderr

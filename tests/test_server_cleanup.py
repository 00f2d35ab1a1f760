"""Test servers die with a test run killed outright (SIGKILL: no fixture teardown runs), also when the thread that
started them has ended. The node's namespace holder is the exception: test_node_harness checks that it still
cleans up after such a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.procs import port_open, wait_for

pytestmark = pytest.mark.registry
ROOT = Path(__file__).resolve().parents[1]

KILLED_RUN = """
import os
import threading
import time
from pathlib import Path

from tests.fixtures.nginx import Server, render_config, start_nginx_config
from tests.fixtures.procs import free_port
from tests.fixtures.registry import start_registry


def test_serve_until_killed(tmp_path):
    registry = start_registry(tmp_path / "registry")  # from the main thread
    port, started = free_port(), []
    config = render_config(tmp_path / "nginx", [Server(port)])
    # from a thread that then ends: a parent-death signal follows the thread that forked, so this one would die now
    thread = threading.Thread(target=lambda: started.append(start_nginx_config(tmp_path / "nginx", config, port)))
    thread.start()
    thread.join()
    nginx = started[0]
    Path(os.environ["SERVER_PIDS"]).write_text(f"{registry.process.pid} {nginx.process.pid} {nginx.port}")
    time.sleep(600)
"""


def group(pgid: int) -> list[int]:
    """The live processes of process group `pgid` (a server and its workers: every start is a new session)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group_id = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except OSError:  # exited meanwhile
            continue
        if int(group_id) == pgid and state != "Z":  # a zombie has exited (its reaper may be slow to collect it)
            found.append(int(stat.parent.name))
    return found


def test_servers_die_with_a_test_run_killed_outright(tmp_path: Path):
    pids_file = tmp_path / "pids"
    inner = tmp_path / "killed_run" / "test_killed_run.py"
    inner.parent.mkdir()
    inner.write_text(KILLED_RUN)
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(inner.parent), str(inner)],
        cwd=ROOT,  # `python -m` puts the repository on sys.path: the inner test imports tests.fixtures
        env={**os.environ, "SERVER_PIDS": str(pids_file)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    groups: list[int] = []  # the servers' process groups
    try:
        wait_for(lambda: pids_file.exists() and pids_file.read_text().count(" ") == 2, 120, "the servers")
        registry, nginx, nginx_port = map(int, pids_file.read_text().split())
        groups = [registry, nginx]
        assert group(registry) == [registry] and nginx in group(nginx) and len(group(nginx)) >= 2  # and a worker
        assert port_open(nginx_port), "nginx died with the thread that started it"
        run.kill()  # SIGKILL: no teardown, no atexit
        run.wait()
        wait_for(lambda: not group(registry) and not group(nginx), 20, "the killed run's servers to exit")
    except RuntimeError as exc:
        out = run.stdout.read().decode(errors="replace") if run.poll() is not None and run.stdout else ""
        raise AssertionError(f"{exc}\nstill running: {[group(g) for g in groups]}\n{out}") from None
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pid in [pid for pgid in groups for pid in group(pgid)]:  # a failed test stops what is left
            os.kill(pid, signal.SIGKILL)

"""Every way out of the wizard while helm runs: one confirmation, the rollback shown, helm stopped, the lock
released, a one-paragraph summary (issue 12 item 2). Against the real test cluster and real helm 3."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from screens.app import make_app
from tests.conftest import run_helm
from tests.tui.conftest import (
    cluster_session,
    message_log,
    on_screen,
    running,
    to_running_install,
    type_text,
    wait_until,
)

pytestmark = [pytest.mark.tui, pytest.mark.cluster, pytest.mark.helm]


def helm_processes(namespace: str) -> list[str]:
    """Command lines of helm processes still working on `namespace` (there must be none after a quit)."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "upgrade --install" in line and f"--namespace {namespace}" in line]


def release_state(cluster, namespace: str) -> subprocess.CompletedProcess:
    return run_helm(cluster, "status", "docker-registry", "-n", namespace)


def lease_exists(cluster, namespace: str) -> bool:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    try:
        client.CoordinationV1Api(cluster.api_client("admin")).read_namespaced_lease(
            "docker-registry-installer-lock", namespace
        )
    except ApiException as exc:
        assert exc.status == 404, exc
        return False
    return True


def assert_cleaned_up(cluster, namespace: str) -> None:
    assert helm_processes(namespace) == []
    state = release_state(cluster, namespace)
    assert state.returncode != 0 and "not found" in state.stderr, state.stdout  # the failed first install is gone
    assert not lease_exists(cluster, namespace)


async def test_palette_quit_asks_once_shows_the_rollback_and_summarises(kube_cluster):
    namespace = "wizard-quit-palette"
    app = make_app(session=cluster_session(kube_cluster, wait=True, timeout="5m"))
    async with running(app) as pilot:
        log = message_log(app)
        await to_running_install(pilot, namespace, "quit.example.com")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: on_screen(app, "CommandPalette"), what="the command palette")
        await type_text(pilot, "quit")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: on_screen(app, "ConfirmQuit"), what="the quit confirmation")
        await pilot.press("ctrl+c")  # a second way to quit does not stack a second question
        await pilot.press("ctrl+q")
        assert sum(type(s).__name__ == "ConfirmQuit" for s in app.screen_stack) == 1
        await pilot.press("shift+tab", "enter")  # from Stay to Quit
        await wait_until(pilot, lambda: on_screen(app, "InstallScreen"), what="the Install step again")
        assert any("quit requested (you quit): stopping helm and rolling back" in line for line in app.screen.log_lines)
        await wait_until(pilot, lambda: not app.is_running, 180, what="the wizard to quit after the rollback")
    # the rollback ran while the wizard was up and was shown on the Install step (its worker's events, in order)
    shown = [
        (type(m.event).__name__, m.event.step, getattr(m.event, "detail", ""))
        for m in log.messages
        if type(m).__name__ == "EventReported"
        and type(getattr(m, "event", None)).__name__ in ("StepStarted", "StepFinished")
    ]
    assert ("StepStarted", "rollback", "removing the failed first install") in shown
    assert [s for s in shown if s[1] == "rollback" and s[0] == "StepFinished"], shown
    assert app.return_code == 1
    assert "Quit during the install (you quit)" in app.summary and "Nothing is left installed" in app.summary
    assert "\n" not in app.summary
    assert_cleaned_up(kube_cluster, namespace)


async def test_sigterm_during_install_rolls_back_without_asking(kube_cluster):
    namespace = "wizard-quit-sigterm"
    app = make_app(session=cluster_session(kube_cluster, wait=True, timeout="5m"))
    async with running(app) as pilot:
        await to_running_install(pilot, namespace, "term.example.com")
        os.kill(os.getpid(), signal.SIGTERM)  # what `kill` or a closing terminal (SIGHUP) does
        await wait_until(pilot, lambda: app.quitting is not None, 30, what="the signal to be handled")
        assert not any(type(s).__name__ == "ConfirmQuit" for s in app.screen_stack)
        await wait_until(pilot, lambda: not app.is_running, 180, what="the wizard to quit after the rollback")
    assert "(SIGTERM)" in app.summary and "rolled back" in app.summary
    assert_cleaned_up(kube_cluster, namespace)

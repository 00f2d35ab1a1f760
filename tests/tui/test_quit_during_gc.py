"""Quitting while the Status view collects garbage: the wizard asks, stops the collection (the registry writable
again) and says so; it used to quit at once without a word, the registry possibly left read-only."""

from __future__ import annotations

import threading

import pytest

from installer.errors import InstallerError
from installer.events import StepFinished, StepStarted
from installer.model import Target
from screens.app import make_app
from screens.state import WizardState
from tests.tui.conftest import (
    action_finished,
    cluster_session,
    message_log,
    on_screen,
    running,
    status_read,
    wait_for_message,
    wait_until,
)

pytestmark = [pytest.mark.tui, pytest.mark.cluster]


class ReadOnlyUntilCancelled:
    """Stands in for the session's garbage collection only (the real one needs a running registry: tested on the real
    node in test_node_features): read-only until cancelled, then writable again, as run_gc does on a cancel."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    def __call__(self, namespace, release, on_event, cancel, dry_run=False, delete_untagged=True):
        on_event(StepStarted("read-only", "pushes get 405"))
        on_event(StepFinished("read-only", True, 0.1, "registry read-only"))
        on_event(StepStarted("collect", "garbage-collect Job"))
        cancel.wait(120)
        self.cancelled.set()
        on_event(StepFinished("collect", False, 0.1, "cancelled"))
        on_event(StepFinished("writable", True, 0.1, "registry writable again"))
        raise InstallerError("garbage collection cancelled; the registry is writable again", "")


async def test_quit_during_gc_asks_stops_it_and_says_so(kube_cluster):
    session = cluster_session(kube_cluster)
    session.connect(kube_cluster.admin_context)
    session.gc = gc = ReadOnlyUntilCancelled()  # type: ignore[method-assign]
    app = make_app(session=session, start_at="status", state=WizardState(target=Target(namespace="wizard-gc-quit")))
    async with running(app) as pilot:
        await wait_for_message(pilot, status_read, 120, "the status")
        screen = app.screen
        screen.start_gc()  # the button is offered for an installed release; the collection itself is stood in for
        await wait_until(pilot, lambda: screen.readonly_since is not None, 30, what="the read-only window")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: on_screen(app, "Confirm"), 10, what="the quit question")
        assert "Garbage collection is running" in str(app.screen.query_one(".confirm-text").render())
        await pilot.press("escape")  # Stay: the collection goes on
        await wait_until(pilot, lambda: on_screen(app, "StatusScreen"), 10, what="Status again")
        assert not gc.cancelled.is_set() and screen.running == "gc"
        since = len(message_log(app).messages)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: on_screen(app, "Confirm"), 10, what="the quit question")
        await pilot.press("tab", "enter")  # from Stay to Quit
        await wait_for_message(pilot, action_finished("gc"), 60, "the collection to stop", since)
    assert gc.cancelled.is_set()
    summary = " ".join(app.summary.split())
    assert summary.startswith("Quit during the garbage collection (you quit): it stopped:"), summary
    assert "the registry is writable again" in summary

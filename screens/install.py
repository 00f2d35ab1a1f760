"""Step 8, Install: helm's output streamed, step progress, elapsed time, and cancel (helm rolls back)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Static

from installer.errors import Problem
from installer.events import Event, Note, StepFinished
from screens.base import EventLog, GoBack, InvalidStep, StepScreen

if TYPE_CHECKING:
    from installer.engine import Prepared

CANCEL_MEANS = "Cancel stops helm; the release is rolled back to what ran before and the Secrets are restored."
WAITING_MEANS = (
    "helm has deployed the release; the installer waits for the registry's pods. Continue without waiting: it "
    "stays installed, not verified. Cancel: it is rolled back."
)


class InstallScreen(StepScreen):
    step_key = "install"
    heading = "Install: helm upgrade --install"
    BINDINGS = [
        Binding("ctrl+x", "cancel_install", "Cancel install"),
        Binding("ctrl+d", "stop_waiting", "Continue without waiting"),
    ]
    next_label = "Continue ▸"
    FAILURE_WORDS = {"apply_worker": ("the install failed", "see helm's output above")}

    def __init__(self, session, prepared: Prepared) -> None:
        super().__init__()
        self.session, self.prepared = session, prepared
        self.cancel = threading.Event()
        self.detach = threading.Event()  # "continue without waiting": the engine stops watching the pods
        self.waiting = False  # the engine waits for the registry's pods (its "wait" step runs)
        self.started = time.monotonic()
        self.result: Any = None
        self.failure: Problem | None = None
        self.created_namespace = False  # the engine created the namespace (a rollback leaves it: the summary says so)

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="install-row"):
            yield Static("", id="install-status")
            yield Button("Continue without waiting (Ctrl+D)", id="detach", classes="hidden", compact=True)
            # short labels: status, both buttons and their margins fit in one row at 80 columns (the footer says
            # "Cancel install")
            yield Button("Cancel (Ctrl+X)", id="cancel", variant="error", compact=True)
        yield Static(CANCEL_MEANS, id="cancel-means", classes="hint")
        yield EventLog(lines=True, id="install-log")

    @property
    def steps(self) -> dict[str, str]:
        """The engine's steps as shown (… running, ✓ done, ✗ failed)."""
        return self.query_one(EventLog).steps

    @property
    def log_lines(self) -> list[str]:
        """helm's output and the rollout watch, as plain text."""
        return self.query_one(EventLog).log_lines

    def on_mount(self) -> None:
        self.wizard.installing = True
        self.watch(self.wizard, "quitting", self.stop_for_quit, init=False)
        self.timer = self.set_interval(1, self.show_elapsed)
        self.show_elapsed()
        self.apply_worker()

    def write_log(self, line: str, style: str = "") -> None:
        self.query_one(EventLog).write(line, style)

    def show_elapsed(self) -> None:
        state = (
            "running"
            if self.result is None and self.failure is None
            else ("done" if self.failure is None else "failed")
        )
        if state == "done" and getattr(self.result, "ready", None) is False:
            state = "installed, not verified yet (you continued without waiting)"
        if state == "running" and self.cancel.is_set():
            state = "stopping helm and rolling back"
        self.query_one("#install-status", Static).update(f"{state} — {time.monotonic() - self.started:.0f}s elapsed")

    @work(thread=True, exclusive=True, exit_on_error=False)
    def apply_worker(self) -> Any:
        return self.session.install(self.prepared, self.report, self.cancel, self.detach)

    def event_shown(self, event: Event) -> None:
        if isinstance(event, StepFinished) and event.step == "namespace" and event.ok:
            self.created_namespace = event.detail == "created"
        started = isinstance(event, Note) and event.step == "wait"
        if started or (isinstance(event, StepFinished) and event.step == "helm"):
            # helm is done (the release is deployed); while the installer waits for the pods, offer to stop waiting
            self.waiting = started
            self.query_one("#detach").set_class(not self.waiting, "hidden")
            self.query_one("#cancel-means", Static).update(WAITING_MEANS if self.waiting else CANCEL_MEANS)
            self.refresh_bindings()

    def worker_done(self, name: str, result: Any) -> None:
        self.result = result
        self.finish()
        self.query_one("#next").focus()

    def worker_failed(self, name: str, error: Exception, problem: Problem) -> None:
        self.failure = Problem("install", problem.message, f"{problem.fix} (Enter or Esc: back to Review)")
        self.add_class("failed")  # the error says what was stuck and the fix: it gets the helm log's room (app.tcss)
        self.finish()
        if not self.wizard.quitting:
            nxt = self.query_one("#next", Button)
            nxt.label = "◂ Back to Review"
            nxt.focus()
            self.query_one("#back").display = False  # the same way back, said once: both were cut at 80 columns

    def finish(self) -> None:
        self.timer.stop()
        self.show_elapsed()
        self.waiting = False
        self.query_one("#cancel").display = False
        self.query_one("#detach").display = False
        self.query_one("#cancel-means").display = False
        self.refresh_bindings()  # the footer no longer offers Cancel
        self.check()
        plan = self.prepared.plan
        self.wizard.install_ended(
            plan.release,
            plan.namespace,
            self.result,
            self.failure.message if self.failure else None,
            self.created_namespace,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_waiting":
            return self.waiting and not self.detach.is_set() and not self.cancel.is_set()
        if action == "cancel_install":
            return self.result is None and self.failure is None and not self.cancel.is_set()
        return super().check_action(action, parameters)

    def stop_for_quit(self, reason: str | None) -> None:
        """The wizard is quitting (the app's `quitting` changed): helm is being stopped through the session's cancel
        event; show the rollback as it happens. The app quits when the worker ends (`install_ended`)."""
        if not reason or self.result is not None or self.failure is not None:
            return
        self.cancel.set()
        self.refresh_bindings()
        self.query_one("#cancel").display = False
        self.query_one("#cancel-means", Static).update(
            f"Quitting ({reason}): stopping helm and rolling back; the wizard quits when that is done."
        )
        self.write_log(f"quit requested ({reason}): stopping helm and rolling back…", "bold")

    def action_next(self) -> None:
        if self.failure is not None:  # nothing to continue to: Review is where the fix starts
            self.action_back()
            return
        super().action_next()

    @on(Button.Pressed, "#detach")
    def detach_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_stop_waiting()

    def action_stop_waiting(self) -> None:
        """Stop waiting for the pods: helm has finished, the release is deployed; only the watch stops."""
        if not self.waiting or self.detach.is_set() or self.cancel.is_set():
            return
        self.detach.set()
        self.query_one("#detach").add_class("hidden")
        self.refresh_bindings()
        self.write_log("continuing without waiting: the release is deployed; the installer stops watching", "bold")

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel_install()

    def action_cancel_install(self) -> None:
        if self.result is not None or self.failure is not None or self.cancel.is_set():
            return
        self.cancel.set()
        self.refresh_bindings()
        self.query_one("#cancel").display = False  # nothing more to press: the status line says it is stopping
        self.query_one("#detach").display = False
        self.write_log("cancel requested: stopping helm and rolling back…", "bold")

    def build_section(self):
        if self.failure is not None:
            raise InvalidStep([self.failure])
        if self.result is None:
            raise InvalidStep([Problem("", "the install is still running", "wait, or cancel it")])
        return self.result

    def action_back(self) -> None:
        if self.wizard.installing:
            self.notify("The install is running: cancel it first.", severity="warning")
            return
        self.dismiss(GoBack(None))

"""Step 8, Install: helm's output streamed, step progress, elapsed time, and cancel (helm rolls back)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Button, RichLog, Static

from installer.errors import Problem
from installer.events import Event, HelmLine, Note, RolloutProblem, RolloutStatus, StepFinished, StepStarted
from screens.base import GoBack, InvalidStep, StepScreen, failure_words

if TYPE_CHECKING:
    from installer.engine import Prepared

CANCEL_MEANS = "Cancel stops helm; the release is rolled back to what ran before and the Secrets are restored."


class InstallScreen(StepScreen):
    step_key = "install"
    heading = "Install: helm upgrade --install"
    BINDINGS = [Binding("ctrl+x", "cancel_install", "Cancel install")]
    next_label = "Continue ▸"

    @dataclass
    class EventReported(Message):
        event: Event

    @dataclass
    class ApplyFinished(Message):
        result: Any

    @dataclass
    class ApplyFailed(Message):
        message: str
        hint: str

    def __init__(self, session, prepared: Prepared) -> None:
        super().__init__()
        self.session, self.prepared = session, prepared
        self.cancel = threading.Event()
        self.started = time.monotonic()
        self.result: Any = None
        self.failure: Problem | None = None
        self.steps: dict[str, str] = {}
        self.log_lines: list[str] = []  # what the log shows, as plain text

    def compose_body(self) -> ComposeResult:
        yield Static("", id="install-status")
        yield Static("", id="steps")
        yield Button("Cancel install (Ctrl+X)", id="cancel", variant="error", compact=True)
        yield Static(CANCEL_MEANS, id="cancel-means", classes="hint")
        yield RichLog(id="helm-log", max_lines=2000, wrap=True, markup=False)

    def on_mount(self) -> None:
        self.app.installing = True
        self.timer = self.set_interval(1, self.show_elapsed)
        self.show_elapsed()
        self.apply_worker()

    def write_log(self, line: str, style: str = "") -> None:
        """One line in the log; long lines wrap (and keep the screen's width)."""
        self.log_lines.append(line)
        self.query_one("#helm-log", RichLog).write(Text(line, style=style))

    def show_elapsed(self) -> None:
        state = (
            "running"
            if self.result is None and self.failure is None
            else ("done" if self.failure is None else "failed")
        )
        if state == "running" and self.cancel.is_set():
            state = "stopping helm and rolling back"
        self.query_one("#install-status", Static).update(f"{state} — {time.monotonic() - self.started:.0f}s elapsed")

    @work(thread=True, exclusive=True, exit_on_error=False)
    def apply_worker(self) -> None:
        report = lambda event: self.post_message(self.EventReported(event))  # noqa: E731
        try:
            result = self.session.apply(self.prepared, report, self.cancel)
        except Exception as exc:
            self.post_message(self.ApplyFailed(*failure_words(exc, "the install failed", "see helm's output above")))
            return
        self.post_message(self.ApplyFinished(result))

    def on_install_screen_event_reported(self, message: EventReported) -> None:
        event = message.event
        if isinstance(event, HelmLine):
            self.write_log(event.line)
            return
        if isinstance(event, RolloutStatus):  # while helm waits: what the cluster is doing
            self.write_log(
                f"rollout: {event.kind} {event.name}: {event.state}" + (f" ({event.detail})" if event.detail else ""),
                "dim",
            )
            return
        if isinstance(event, RolloutProblem):
            first, *rest = event.message.splitlines() or [""]
            self.write_log(
                f"{'stopping: ' if event.fatal else 'problem: '}{event.kind} {event.name}: {event.reason}: {first}",
                "bold red" if event.fatal else "yellow",
            )
            for line in rest:
                self.write_log(f"    {line}", "dim")
            self.write_log(f"    fix: {event.fix}", "red" if event.fatal else "yellow")
            return
        if isinstance(event, StepStarted):
            self.steps[event.step] = f"… {escape(event.step)}: {escape(event.detail)}"
        elif isinstance(event, StepFinished):
            mark = "[green]✓[/]" if event.ok else "[red]✗[/]"
            self.steps[event.step] = f"{mark} {escape(event.step)} ({event.seconds:.1f}s) {escape(event.detail)}"
        elif isinstance(event, Note):
            self.write_log(f"note: {event.text}", "yellow" if event.level == "warning" else "")
        self.query_one("#steps", Static).update("\n".join(self.steps.values()))

    def finish(self) -> None:
        self.timer.stop()
        self.show_elapsed()
        self.query_one("#cancel").display = False
        self.query_one("#cancel-means").display = False
        self.refresh_bindings()  # the footer no longer offers Cancel
        self.check()
        plan = self.prepared.plan
        self.app.install_ended(
            plan.release, plan.namespace, self.result, self.failure.message if self.failure else None
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_install":
            return self.result is None and self.failure is None and not self.cancel.is_set()
        return super().check_action(action, parameters)

    def stop_for_quit(self, reason: str) -> None:
        """The wizard is quitting: stop helm, show the rollback as it happens; the app quits when it ends."""
        if self.result is not None or self.failure is not None:
            return
        self.cancel.set()
        self.refresh_bindings()
        self.query_one("#cancel").display = False
        self.query_one("#cancel-means").update(
            f"Quitting ({reason}): stopping helm and rolling back; the wizard quits when that is done."
        )
        self.write_log(f"quit requested ({reason}): stopping helm and rolling back…", "bold")

    def on_install_screen_apply_finished(self, message: ApplyFinished) -> None:
        self.result = message.result
        self.finish()
        self.query_one("#next").focus()

    def on_install_screen_apply_failed(self, message: ApplyFailed) -> None:
        self.failure = Problem("install", message.message, f"{message.hint} (Enter or Esc: back to Review)")
        self.finish()
        if not self.app.quitting:
            nxt = self.query_one("#next", Button)
            nxt.label = "◂ Back to Review"
            nxt.focus()

    def action_next(self) -> None:
        if self.failure is not None:  # nothing to continue to: Review is where the fix starts
            self.action_back()
            return
        super().action_next()

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel_install()

    def action_cancel_install(self) -> None:
        if self.result is not None or self.failure is not None or self.cancel.is_set():
            return
        self.cancel.set()
        self.refresh_bindings()
        self.write_log("cancel requested: stopping helm and rolling back…", "bold")

    def build_section(self):
        if self.failure is not None:
            raise InvalidStep([self.failure])
        if self.result is None:
            raise InvalidStep([Problem("", "the install is still running", "wait, or cancel it")])
        return self.result

    def action_back(self) -> None:
        if self.app.installing:
            self.notify("The install is running: cancel it first.", severity="warning")
            return
        self.dismiss(GoBack(None))

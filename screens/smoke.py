"""Step 9, Smoke test: push a test image through the public address, read it back, explain failures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Button, Static

from installer.errors import Problem
from installer.events import Event, Progress, StepFinished, StepStarted
from screens.base import GoTo, InvalidStep, StepScreen

if TYPE_CHECKING:
    from installer.engine import Prepared

FIX_STEPS = {"uploads": "uploads", "access": "access", "address": "address", "tls": "address"}
SKIPPED = ("Skipped: the install did not wait for the registry pods, so the registry may not be up yet.\n"
           "Run `registry-installer smoke` later to push a test image.")


@dataclass(frozen=True)
class SmokeSkipped:
    reason: str


class SmokeScreen(StepScreen):
    step_key = "smoke"
    heading = "Smoke test: push an image and read it back"
    next_label = "Finish ▸"

    @dataclass
    class EventReported(Message):
        event: Event

    @dataclass
    class SmokeFinished(Message):
        result: Any

    def __init__(self, session, prepared: Prepared) -> None:
        super().__init__()
        self.session, self.prepared = session, prepared
        self.result: Any = None
        self.running = session.smoke_enabled

    def compose_body(self) -> ComposeResult:
        yield Static(f"Pushing to [b]{escape(self.prepared.plan.registry_host)}[/b]…" if self.running else SKIPPED, id="smoke-progress")
        yield Static("", id="smoke-result")
        yield Button("Go to the step that fixes it", id="fix", classes="hidden", compact=True)

    def on_mount(self) -> None:
        if self.running:
            self.smoke_worker()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def smoke_worker(self) -> None:
        try:
            result = self.session.smoke(self.prepared, lambda e: self.post_message(self.EventReported(e)))
        except Exception as exc:  # the smoke test explains its own failures; anything else is shown as it is
            result = exc
        self.post_message(self.SmokeFinished(result))

    def on_smoke_screen_event_reported(self, message: EventReported) -> None:
        event, progress = message.event, self.query_one("#smoke-progress", Static)
        if isinstance(event, StepStarted):
            progress.update(f"… {escape(event.step)} {escape(event.detail)}")
        elif isinstance(event, Progress):
            total = f" of {event.total / 2**20:.1f} MiB" if event.total else " MiB"
            progress.update(f"… {escape(event.step)}: {event.done / 2**20:.1f}{total}")
        elif isinstance(event, StepFinished):
            progress.update(f"{'[green]✓[/]' if event.ok else '[red]✗[/]'} {escape(event.step)} {escape(event.detail)}")

    def on_smoke_screen_smoke_finished(self, message: SmokeFinished) -> None:
        self.running = False
        self.result = result = message.result
        out = self.query_one("#smoke-result", Static)
        if isinstance(result, Exception):
            out.update(f"[red]✗ the smoke test could not run:[/] {escape(str(result))}")
        elif result.ok:
            out.update(f"[green]✓ pushed and read back[/] {result.bytes / 2**20:.1f} MiB at {result.throughput_mib_s:.1f} MiB/s")
        else:
            diagnosis = result.diagnosis
            out.update(f"[red]✗ {escape(diagnosis.cause)}[/]\n  fix: {escape(diagnosis.fix)}\n  [dim]{escape(diagnosis.detail)}[/]")
            if FIX_STEPS.get(diagnosis.fix_screen or ""):
                self.query_one("#fix").remove_class("hidden")
                self.query_one("#fix").focus()
                return
        self.query_one("#next").focus()

    @on(Button.Pressed, "#fix")
    def fix_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(GoTo(FIX_STEPS[self.result.diagnosis.fix_screen]))

    def build_section(self):
        if self.running:
            raise InvalidStep([Problem("", "the smoke push is still running", "wait a moment")])
        return self.result if self.result is not None else SmokeSkipped("no wait")

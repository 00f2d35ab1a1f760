"""Status (an installed release, before the reconfigure steps): health, disk usage, images, last GC; GC and grow."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from installer.console import format_size, gc_record_words
from installer.errors import Problem
from installer.events import Event, Note, StepFinished, StepStarted
from installer.sizes import parse_size
from screens.base import Confirm, InvalidStep, StepScreen, failure_words, hanging

USAGE_WARN = 0.8
BAR_WIDTH = 20
GC_CONFIRM = (
    "Collect garbage now? The registry turns read-only while the collection runs (pushes get "
    "405 Method Not Allowed; pulls keep working), then writable again, values as they were."
)


def usage_bar(fraction: float) -> str:
    """A text bar of how full the volume is, yellow above 80 %."""
    filled = round(min(max(fraction, 0.0), 1.0) * BAR_WIDTH)
    colour = "yellow" if fraction > USAGE_WARN else "green"
    return f"[{colour}]{'█' * filled}[/][dim]{'░' * (BAR_WIDTH - filled)}[/]"


def status_lines(st: Any, trust: list[Any] | None) -> list[str]:
    """Rich markup lines for a RegistryStatus (installer.status) and the node trust report (None: trust is off)."""
    if not st.installed:
        return [f"[yellow]![/] release {escape(st.release)} is not installed in namespace {escape(st.namespace)}"]
    lines = [
        f"[b]Release[/b]   revision {st.revision} ({escape(st.release_status)}), chart {escape(st.chart)}"
        + (f" (app {escape(st.app_version)})" if st.app_version else ""),
        f"[b]Pods[/b]      {st.pods_ready}/{st.pods_total} ready, {st.restarts} restarts",
        f"[b]Address[/b]   {escape(', '.join(st.hosts) or '-')} → "
        + escape(", ".join(st.ingress_address) or "(no address yet)"),
    ]
    if st.tls_secret:
        days = f"{st.tls_days_left} days left" if st.tls_days_left is not None else "certificate not readable"
        cert_manager = f"; cert-manager: {escape(st.cert_manager)}" if st.cert_manager else ""
        lines.append(f"[b]TLS[/b]       Secret {escape(st.tls_secret)}, {days}{cert_manager}")
    if st.storage == "s3":
        lines.append(f"[b]Storage[/b]   S3 ({escape(st.usage_note)})")
    elif st.claim:
        expand = ", expandable" if st.expandable else ", not expandable" if st.expandable is False else ""
        lines.append(
            f"[b]Volume[/b]    PVC {escape(st.claim)} {escape(st.claim_capacity or st.claim_requested or '?')} "
            f"({escape(st.claim_phase or '?')}, {escape(st.storage_class or 'no class')}{expand})"
        )
        if st.usage is not None:
            u = st.usage
            lines.append(
                f"[b]Usage[/b]     {usage_bar(u.fraction)} {u.fraction:.0%}: {format_size(u.used_bytes)} of "
                f"{format_size(u.capacity_bytes)}, {format_size(u.available_bytes)} free"
            )
        else:
            lines.append(f"[b]Usage[/b]     unknown: {escape(st.usage_note)}")
    if st.repositories is not None:
        lines.append(f"[b]Images[/b]    {st.repositories} repositories, {st.tags} tags")
    else:
        lines.append(f"[b]Images[/b]    unknown: {escape(st.catalog_note)}")
    gc = st.last_gc
    if gc:
        lines.append(f"[b]Last GC[/b]   {escape(gc_record_words(gc))}")
    else:
        lines.append("[b]Last GC[/b]   never (by this installer)")
    if trust is None:
        lines.append("[b]Node trust[/b] off (the Clients step turns it on)")
    else:
        lines.append("[b]Node trust[/b]" + ("" if trust else " no nodes"))
        lines += [
            f"  {'✓' if n.state == 'trusted' else '!'} {escape(n.words())}" for n in trust
        ]  # needs-config-path etc. say what to add
    lines += [f"! [yellow]{escape(w)}[/]" for w in st.warnings]
    return lines


def suggested_size(st: Any) -> str:
    """Twice the volume's size (what the usage warning suggests), else empty."""
    size = st.claim_requested or ""
    number = "".join(c for c in size if c.isdigit())
    unit = size[len(number) :]
    return f"{int(number) * 2}{unit}" if number and unit in ("Mi", "Gi", "Ti") else ""


@dataclass(frozen=True)
class StatusSeen:
    """What the Status view hands on: the release's status (None when it was not read yet) and, after Grow or Collect
    garbage changed the release, a fresh probe (its values are what the reconfigure steps must start from)."""

    status: Any
    probe: Any = None


class StatusScreen(StepScreen):
    """The installed release at a glance; Collect garbage and Grow volume; Reconfigure continues into the steps."""

    step_key = "status"
    heading = "Status: the installed registry"
    next_label = "Reconfigure ▸"

    @dataclass
    class StatusRead(Message):
        status: Any
        trust: list[Any] | None
        failure: str = ""
        probe: Any = None

    @dataclass
    class EventReported(Message):
        event: Event

    @dataclass
    class ActionFinished(Message):
        action: str  # "gc" | "grow"
        result: Any
        failure: tuple[str, str] | None = None

    def __init__(self, session, namespace: str, release: str) -> None:
        super().__init__()
        self.session, self.namespace, self.release = session, namespace, release
        self.status: Any = None
        self.trust: list[Any] | None = None
        self.running: str | None = None  # the action running: "gc" or "grow"
        self.cancel = threading.Event()
        self.readonly_since: float | None = None
        self.gc_steps: dict[str, str] = {}
        self.outcome = ""  # the last action's result, in words
        self.probe: Any = None  # the release probed again after an action changed it
        self.quit_reason: str | None = None  # the wizard quits once the running action has stopped

    def compose_body(self) -> ComposeResult:
        yield Static(f"Reading the status of {escape(self.release)} in {escape(self.namespace)}…", id="status-summary")
        with Horizontal(id="status-actions", classes="file-row"):
            yield Button("Collect garbage", id="gc", compact=True)
            yield Label("Grow volume to")
            yield Input(placeholder="e.g. 200Gi", id="grow-size")
            yield Button("Grow", id="grow", compact=True)
        yield Static("", id="action-progress")

    def on_mount(self) -> None:
        self.query_one("#status-actions").display = False
        self.read_status()
        self.set_interval(1, self.show_window)

    def quit_question(self) -> str | None:
        """What quitting now must ask (the app's Ctrl+Q, `busy_step`): None when nothing runs."""
        if self.running == "gc":
            return (
                "Garbage collection is running: the registry is read-only (pushes get 405). Quit anyway? The "
                "collection is stopped and the registry made writable again first; the wizard quits when that is done."
            )
        if self.running == "grow":
            return "The volume is being grown. Quit anyway? The wizard quits when the resize request has been made."
        return None

    def stop_for_quit(self, reason: str) -> None:
        """The wizard quits: stop the collection (it rolls back to writable) and quit when the worker has ended."""
        self.quit_reason = reason
        self.cancel.set()
        self.outcome = f"[b]Quitting ({escape(reason)})[/b]: stopping the {self.running}; the wizard quits when it ends"
        self.show_progress()

    def quit_summary(self, message: ActionFinished) -> str:
        doing = "garbage collection" if message.action == "gc" else "volume grow"
        if message.failure is not None:
            text, hint = message.failure
            return (
                f"Quit during the {doing} ({self.quit_reason}): it stopped: {text}"
                + (f" ({hint})" if hint else "")
                + f". `registry-installer status --namespace {self.namespace} --release {self.release}` shows the "
                "registry."
            )
        from rich.text import Text

        words = gc_words(message.result) if message.action == "gc" else message.result.message
        return f"Quit during the {doing} ({self.quit_reason}): it had finished: {Text.from_markup(words).plain}."

    def on_unmount(self) -> None:
        self.cancel.set()  # a collection still running switches the registry back to writable

    def focus_first_field(self) -> None:
        self.query_one("#next").focus()

    @work(thread=True, exclusive=True, exit_on_error=False, group="status")
    def read_status(self, reprobe: bool = False) -> None:
        try:
            st = self.session.status(self.namespace, self.release)
            probe = self.session.probe(self.namespace, self.release) if reprobe else None
        except Exception as exc:  # status never raises for missing parts; anything else is said as it is
            message, hint = failure_words(exc, "reading the status failed", "check the connection to the cluster")
            self.post_message(self.StatusRead(None, None, f"{message} ({hint})"))
            return
        try:
            trust = self.session.node_trust_status(self.namespace, self.release)
        except Exception as exc:
            message, _hint = failure_words(exc, "reading node trust failed", "")
            trust = None
            st.warnings.append(f"node trust could not be read: {message}")
        self.post_message(self.StatusRead(st, trust, probe=probe))

    def on_status_screen_status_read(self, message: StatusRead) -> None:
        summary = self.query_one("#status-summary", Static)
        if message.status is None:
            summary.update(hanging(f"[red]✗[/] {escape(message.failure)}"))
            return
        self.status, self.trust = message.status, message.trust
        self.probe = message.probe or self.probe
        summary.update(hanging("\n".join(status_lines(self.status, self.trust))))
        self.show_actions()

    def show_actions(self) -> None:
        st = self.status
        actions = self.query_one("#status-actions")
        actions.display = bool(st is not None and st.installed)
        filesystem = st is not None and st.storage == "filesystem" and bool(st.claim)
        for widget in ("#grow", "#grow-size"):
            self.query_one(widget).display = filesystem
        for label in actions.query(Label):
            label.display = filesystem
        size = self.query_one("#grow-size", Input)
        if filesystem and not size.value:
            size.value = suggested_size(st)
        for button in self.query("#status-actions Button"):
            button.disabled = self.running is not None
        full = st is not None and st.usage_fraction is not None and st.usage_fraction > USAGE_WARN
        if full and self.running is None:
            self.query_one("#gc").focus()

    def show_window(self) -> None:
        """While the registry is read-only: how long so far (pushes get 405 meanwhile)."""
        if self.readonly_since is None:
            return
        self.show_progress()

    def show_progress(self) -> None:
        lines = list(self.gc_steps.values())
        if self.readonly_since is not None:
            lines.append(
                f"[yellow]read-only for {time.monotonic() - self.readonly_since:.0f} s[/]: pushes get 405, pulls work"
            )
        if self.outcome:
            lines.append(self.outcome)
        self.query_one("#action-progress", Static).update(hanging("\n".join(lines)))

    # -- Collect garbage -------------------------------------------------------------------------

    @on(Button.Pressed, "#gc")
    def gc_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.running is not None:
            return
        self.app.push_screen(Confirm(GC_CONFIRM, "Collect"), lambda yes: self.start_gc() if yes else None)

    def start_gc(self) -> None:
        self.running, self.outcome, self.gc_steps = "gc", "", {}
        self.cancel.clear()
        self.show_actions()
        self.show_progress()
        self.gc_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def gc_worker(self) -> None:
        report = lambda event: self.post_message(self.EventReported(event))  # noqa: E731
        try:
            result = self.session.gc(self.namespace, self.release, report, self.cancel)
        except Exception as exc:
            failure = failure_words(exc, "garbage collection failed", "see the steps above")
            self.post_message(self.ActionFinished("gc", None, failure))
            return
        self.post_message(self.ActionFinished("gc", result))

    def on_status_screen_event_reported(self, message: EventReported) -> None:
        event = message.event
        if isinstance(event, StepStarted):
            self.gc_steps[event.step] = f"… {escape(event.step)} {escape(event.detail)}"
            if event.step == "read-only":
                self.readonly_since = time.monotonic()
        elif isinstance(event, StepFinished):
            mark = "[green]✓[/]" if event.ok else "[red]✗[/]"
            self.gc_steps[event.step] = f"{mark} {escape(event.step)} ({event.seconds:.1f}s) {escape(event.detail)}"
            if event.step == "writable":
                self.readonly_since = None
        elif isinstance(event, Note):
            self.gc_steps[f"note {len(self.gc_steps)}"] = (
                f"{'[yellow]![/]' if event.level == 'warning' else '•'} {escape(event.text)}"
            )
        else:
            return
        self.show_progress()

    # -- Grow volume -----------------------------------------------------------------------------

    @on(Button.Pressed, "#grow")
    def grow_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.ask_grow()

    def ask_grow(self) -> None:
        if self.running is not None or self.status is None:
            return
        size = self.query_one("#grow-size", Input).value.strip()
        try:
            wanted = parse_size(size, "volume size", "200Gi")
        except ValueError as exc:
            self.show_problems([Problem("Grow volume to", str(exc), "a Kubernetes quantity, e.g. 200Gi")])
            return
        st = self.status
        current = st.claim_capacity or st.claim_requested
        if current and wanted <= parse_size(current, "volume size", "200Gi"):
            self.show_problems(
                [
                    Problem(
                        "Grow volume to",
                        f"{size} is not larger than the volume's {current}",
                        "volumes only grow: give a larger size (to free space, collect garbage)",
                    )
                ]
            )
            return
        self.show_problems([])
        question = f"Grow PVC {st.claim} from {current} to {size}? Volumes cannot shrink back." + (
            "" if st.expandable else f" (StorageClass {st.storage_class} may refuse: it says what else to do.)"
        )
        self.app.push_screen(Confirm(question, "Grow"), lambda yes: self.start_grow(size) if yes else None)

    def start_grow(self, size: str) -> None:
        self.running, self.outcome, self.gc_steps = "grow", f"… growing PVC {escape(self.status.claim)} to {size}", {}
        self.show_actions()
        self.show_progress()
        self.grow_worker(size)

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def grow_worker(self, size: str) -> None:
        try:
            result = self.session.grow(self.namespace, self.release, size)
        except Exception as exc:
            self.post_message(self.ActionFinished("grow", None, failure_words(exc, "growing failed", "")))
            return
        self.post_message(self.ActionFinished("grow", result))

    # -- after an action ---------------------------------------------------------------------------

    def on_status_screen_action_finished(self, message: ActionFinished) -> None:
        self.running, self.readonly_since = None, None
        if message.failure is not None:
            text, hint = message.failure
            self.outcome = f"[red]✗ {escape(text)}[/]" + (f"\n  fix: {escape(hint)}" if hint else "")
        elif message.action == "gc":
            self.outcome = gc_words(message.result)
        else:
            self.outcome = f"[green]✓[/] {escape(message.result.message)}"
        if self.quit_reason is not None:
            self.wizard.action_quit_done(self.quit_summary(message))
            return
        self.show_progress()
        self.show_actions()
        self.read_status(reprobe=message.failure is None)  # the figures, and the release's values, after the action

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.prevent_default()  # Enter in the size asks to grow; it does not continue to the next step
        event.stop()
        if event.input.id == "grow-size":
            self.ask_grow()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.prevent_default()  # the size is checked when Grow is pressed

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("back", "next") and self.running is not None:
            return False  # the collection or the resize must end first
        return super().check_action(action, parameters)

    def build_section(self) -> StatusSeen:
        if self.running is not None:
            raise InvalidStep([Problem("", f"the {self.running} is still running", "wait until it ends")])
        return StatusSeen(self.status, self.probe)  # reading the status never holds up the reconfigure


def gc_words(result: Any) -> str:
    """One or two lines on a finished collection: the read-only window, what was deleted and freed."""
    if result.dry_run:
        return "[green]✓[/] dry run: nothing changed"
    freed = format_size(result.freed_bytes) if result.freed_bytes is not None else "not measured yet"
    deleted = (
        f"{result.blobs_deleted} blobs, {result.manifests_deleted} manifests deleted"
        if result.blobs_deleted is not None
        else "deleted: see the Job's log"
    )
    return (
        f"[green]✓ garbage collected[/]: {deleted}; freed {freed}; "
        f"read-only for {result.readonly_seconds or 0:.0f} s (pushes got 405 meanwhile), writable again"
    )

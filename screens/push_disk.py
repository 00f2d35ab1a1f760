"""Done's "Push a VM disk now": pick a disk, push it as a KubeVirt containerDisk, show the reference and snippets."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, ProgressBar, Select, Static

from installer.console import format_size
from installer.errors import InstallerError
from installer.events import Event, Note, Progress, StepFinished, StepStarted
from screens.base import hanging
from screens.file_picker import FilePicker

if TYPE_CHECKING:
    from installer.engine import Prepared

COMPRESS = [("none (fastest; qcow2 is compressed already)", "none"), ("gzip (level 1)", "gzip")]
RATE_WINDOW = 5.0  # seconds of progress the rate is measured over


def image_for(path: str) -> str:
    """A REPOSITORY:TAG suggestion from the file name: vms/<name>:latest."""
    stem = Path(path).name.split(".")[0].lower()
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-_") or "disk"
    return f"vms/{name}:latest"


class RateMeter:
    """Bytes per second over the last few seconds, and the time left at that rate."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self.samples: list[tuple[float, int]] = []

    def add(self, done: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.pop(0)

    def rate(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None

    def words(self, done: int, total: int) -> str:
        rate = self.rate()
        if not rate:
            return f"{format_size(done)} of {format_size(total)}"
        eta = max(total - done, 0) / rate
        return f"{format_size(done)} of {format_size(total)}, {format_size(int(rate))}/s, ETA {eta:.0f} s"


class PushDiskScreen(ModalScreen[Any]):
    """File, image name, compression; Push streams the disk with progress; the result has digest and snippets."""

    DEFAULT_CSS = """
    PushDiskScreen { align: center middle; }
    PushDiskScreen > #push-box { width: 100%; height: 1fr; border: round $accent; background: $surface; padding: 0 1; }
    PushDiskScreen Label { margin-top: 1; color: $text-muted; }
    PushDiskScreen .row { height: auto; }
    PushDiskScreen .row Input { width: 1fr; }
    PushDiskScreen .row Button { margin-left: 1; min-width: 0; width: auto; }
    PushDiskScreen ProgressBar { margin-top: 1; }
    PushDiskScreen #push-buttons { height: 1; align-horizontal: right; padding: 0 1; }
    PushDiskScreen #push-buttons Button { margin-left: 2; min-width: 0; width: auto; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+o", "browse", "Browse file"),
        Binding("ctrl+x", "stop", "Stop push"),
    ]

    @dataclass
    class EventReported(Message):
        event: Event

    @dataclass
    class PushFinished(Message):
        result: Any
        failure: tuple[str, str] | None = None

    def __init__(self, session, prepared: Prepared) -> None:
        super().__init__()
        self.session, self.prepared = session, prepared
        self.cancel = threading.Event()
        self.running = False
        self.result: Any = None
        self.failure: tuple[str, str] | None = None
        self.meter = RateMeter()
        self.progress_text = ""
        self.no_credentials: Any = None  # the session's Problem when no password is known for the registry's users

    def compose(self) -> ComposeResult:
        host = self.prepared.plan.registry_host
        through = self.session.push_disk_address
        with VerticalScroll(id="push-box"):
            yield Static(
                f"[b]Push a VM disk[/b] to {escape(host)}"
                + (f" (through {escape(through)}, as the smoke push went)" if through else "")
                + ": one streamed pass, resumable; qcow2, raw or ISO.",
                id="push-title",
            )
            yield Label("Disk file (Ctrl+O browses)")
            with Horizontal(classes="row"):
                yield Input(placeholder="/path/to/disk.qcow2", id="disk-file", compact=True)
                yield Button("Browse", id="browse", compact=True)
            yield Label("Image (REPOSITORY:TAG)")
            yield Input(placeholder="vms/fedora:40", id="disk-image", compact=True)
            yield Label("Layer compression")
            yield Select(COMPRESS, value="none", allow_blank=False, id="disk-compress", compact=True)
            yield ProgressBar(total=None, show_eta=False, id="disk-progress")
            yield Static("", id="disk-status")
            yield Static("", id="disk-result")
        with Horizontal(id="push-buttons"):
            yield Button("Push", id="push", variant="primary", compact=True)
            yield Button("Stop (Ctrl+X)", id="stop", variant="error", compact=True)
            yield Button("Close", id="close", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#disk-progress").display = False
        self.query_one("#stop").display = False
        self.query_one("#disk-file").focus()
        self.no_credentials = self.session.push_credentials_problem(self.prepared)
        if self.no_credentials is not None:  # said before a disk is chosen, not as a 401 after the upload starts
            self.say_problem(self.no_credentials.message, self.no_credentials.fix)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.running and not self.cancel.is_set()
        if action == "browse":
            return not self.running
        return True

    # -- fields ------------------------------------------------------------------------------------

    def action_browse(self) -> None:
        if self.running:
            return
        field = self.query_one("#disk-file", Input)

        def chosen(path: str | None) -> None:
            if path:
                field.value = path
                self.suggest_image(path)
                self.query_one("#disk-image").focus()

        self.app.push_screen(FilePicker("Choose the VM disk (qcow2, raw or ISO)", field.value or None), chosen)

    @on(Button.Pressed, "#browse")
    def browse_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_browse()

    def suggest_image(self, path: str) -> None:
        image = self.query_one("#disk-image", Input)
        if not image.value.strip():
            image.value = image_for(path)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "disk-file" and event.input.value.strip():
            self.suggest_image(event.input.value.strip())
            self.query_one("#disk-image").focus()
        elif event.input.id == "disk-image":
            self.start_push()

    # -- the push ----------------------------------------------------------------------------------

    @on(Button.Pressed, "#push")
    def push_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_push()

    def start_push(self) -> None:
        if self.running:
            return
        file = self.query_one("#disk-file", Input).value.strip()
        image = self.query_one("#disk-image", Input).value.strip()
        if self.no_credentials is not None:
            self.say_problem(self.no_credentials.message, self.no_credentials.fix)
            return
        if not file:
            self.say_problem("choose the disk file (Ctrl+O browses)", "")
            self.query_one("#disk-file").focus()
            return
        if not image:
            image = image_for(file)
            self.query_one("#disk-image", Input).value = image
        self.running, self.result, self.failure = True, None, None
        self.cancel.clear()
        self.meter = RateMeter()
        self.query_one("#disk-result", Static).update("")
        self.query_one("#disk-status", Static).update(f"… pushing {escape(file)} as {escape(image)}")
        bar = self.query_one("#disk-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.query_one("#push").display = False
        self.query_one("#stop").display = True
        self.query_one("#stop").focus()
        self.refresh_bindings()
        compress = str(self.query_one("#disk-compress", Select).value)
        self.push_worker(file, image, compress)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def push_worker(self, file: str, image: str, compress: str) -> None:
        report = lambda event: self.post_message(self.EventReported(event))  # noqa: E731
        try:
            result = self.session.push_disk(self.prepared, file, image, compress, report, self.cancel)
        except InstallerError as exc:  # UsageError: a file or name that cannot be pushed, with the fix
            self.post_message(self.PushFinished(None, (exc.message, exc.hint)))
            return
        except Exception as exc:  # anything else is said as it is
            self.post_message(self.PushFinished(None, (f"the push failed: {exc}", "")))
            return
        self.post_message(self.PushFinished(result))

    def on_push_disk_screen_event_reported(self, message: EventReported) -> None:
        event = message.event
        status = self.query_one("#disk-status", Static)
        if isinstance(event, Progress):
            bar = self.query_one("#disk-progress", ProgressBar)
            bar.update(total=event.total or None, progress=event.done)
            self.meter.add(event.done)
            self.progress_text = self.meter.words(event.done, event.total) if event.total else format_size(event.done)
            status.update(f"… {escape(event.step)}: {self.progress_text}")
        elif isinstance(event, StepStarted):
            status.update(f"… {escape(event.step)} {escape(event.detail)}")
        elif isinstance(event, StepFinished):
            mark = "[green]✓[/]" if event.ok else "[red]✗[/]"
            status.update(f"{mark} {escape(event.step)} ({event.seconds:.1f}s) {escape(event.detail)}")
        elif isinstance(event, Note):
            self.notify(event.text, severity="warning" if event.level == "warning" else "information")

    def on_push_disk_screen_push_finished(self, message: PushFinished) -> None:
        self.running = False
        self.result, self.failure = message.result, message.failure
        self.query_one("#stop").display = False
        self.query_one("#push").display = True
        self.refresh_bindings()
        out = self.query_one("#disk-result", Static)
        result = message.result
        if message.failure is not None:
            self.query_one("#disk-progress").display = False
            self.query_one("#disk-status", Static).update("")
            self.say_problem(*message.failure)
            self.query_one("#disk-file").focus()
            return
        if result.interrupted:
            out.update(
                hanging(f"[yellow]! stopped[/]: {format_size(result.sent)} sent; Push again to resume where it stopped")
            )
        elif not result.ok:
            d = result.diagnosis
            out.update(hanging(f"[red]✗ {escape(d.cause)}[/]\n  fix: {escape(d.fix)}\n  [dim]{escape(d.detail)}[/]"))
        else:
            self.query_one("#disk-progress", ProgressBar).update(total=100, progress=100)
            out.update(
                hanging(
                    f"[green]✓ pushed[/] {escape(result.pinned)}\n  ({escape(result.transfer)})\n"
                    "[b]KubeVirt VirtualMachine[/b] (containerDisk):\n"
                    + indented(result.vm_snippet)
                    + "\n[b]CDI DataVolume[/b] (imports the disk into a PVC):\n"
                    + indented(result.datavolume_snippet)
                )
            )
        self.query_one("#close").focus()

    def say_problem(self, message: str, hint: str) -> None:
        self.query_one("#disk-result", Static).update(
            hanging(f"[red]✗ {escape(message)}[/]" + (f"\n  fix: {escape(hint)}" if hint else ""))
        )

    def action_stop(self) -> None:
        if self.running and not self.cancel.is_set():
            self.cancel.set()
            self.query_one("#disk-status", Static).update("… stopping after the current request (resumable)")
            self.refresh_bindings()

    @on(Button.Pressed, "#stop")
    def stop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_stop()

    @on(Button.Pressed, "#close")
    def close_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()

    def action_close(self) -> None:
        if self.running:
            self.notify("The push is running: stop it first (Ctrl+X); the next push resumes it.", severity="warning")
            return
        self.dismiss(self.result)


def indented(text: str) -> str:
    return "\n".join("  " + escape(line) for line in text.rstrip("\n").splitlines())

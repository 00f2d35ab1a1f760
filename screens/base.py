"""What every wizard step shares: the step bar, Back/Next, the problems panel, inline validation, worker results
and the event log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, cast

from rich.markup import escape
from rich.text import Text
from textual import active_app
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from installer.errors import InstallerError, Problem, ValidationFailed

if TYPE_CHECKING:  # msgspec, the Choices model, preset's wording and the engine's events load after the first frame
    from installer.events import Event
    from installer.model import Section
    from screens.app import WizardApp


@dataclass(frozen=True)
class GoBack:
    """The user went back; `section` is what they had entered, when it was valid."""

    section: Any = None


@dataclass(frozen=True)
class GoTo:
    """Jump to another step (the smoke test's "fix it" button)."""

    step: str


class InvalidStep(Exception):
    """A step's fields do not make a valid section; `problems` says why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


# what a screen calls a preset setting, and the preset words that mean nothing on a screen
FIELD_WORDS = {
    "exposure.hosts": "Hostnames",
    "exposure.ingress_class": "Ingress class",
    "exposure.tls.secret_name": "Secret name",
    "exposure.tls.cert_file": "Certificate file",
    "exposure.tls.key_file": "Private key file",
    "exposure.tls.issuer": "cert-manager issuer",
    "exposure.tls.mode": "TLS certificate",
    "exposure.tls": "TLS certificate",
    "auth.users": "Users",
    "auth.users.name": "User name",
    "auth.realm": "Realm",
    "auth.mode": "Who checks the passwords",
    "storage.filesystem.size": "Size",
    "storage.filesystem.storage_class": "Storage class",
    "storage.filesystem.access_mode": "Access mode",
    "storage.s3.bucket": "Bucket",
    "storage.s3.region": "Region",
    "storage.s3.endpoint": "Endpoint",
    "uploads.max_body_size": "Largest request body",
    "uploads.read_timeout": "Read timeout",
    "uploads.send_timeout": "Send timeout",
    "target.namespace": "Namespace",
    "target.release": "Helm release name",
}
SCREEN_MESSAGES = [
    # (path prefix, preset words, screen words)
    ("exposure.hosts", "List should have at least 1 item", "enter at least one hostname"),
    ("auth.users", "List should have at least 1 item", "add at least one user (or choose 'none')"),
    (
        "exposure.tls",
        "tls.mode existing-secret needs tls.secret_name",
        "enter the name of the kubernetes.io/tls Secret",
    ),
    (
        "exposure.tls",
        "tls.mode files needs both tls.cert_file and tls.key_file",
        "choose both the certificate and the private key file (Ctrl+O)",
    ),
    ("", "Field required", "required"),
    ("", "Input should be a valid integer", "enter a whole number"),
]


def in_screen_words(path: str, message: str) -> tuple[str, str]:
    """A validation problem as a screen says it: the field's label, not the preset key, and plain words."""
    for prefix, preset_words, screen_words in SCREEN_MESSAGES:
        if path.startswith(prefix) and preset_words in message:
            message = screen_words
            break
    key = path
    while key and key not in FIELD_WORDS:
        key = key.rpartition(".")[0]
    return (FIELD_WORDS[key] if key else path), message


def load_validation() -> None:
    """Load what `validated` needs (msgspec, the Choices model, preset's wording): the first frame does not, so
    the first step loads it in a worker after painting."""
    import installer.model  # noqa: F401
    import installer.preset  # noqa: F401


def validated(section_type: type[Section], data: dict[str, Any], prefix: str = "") -> Any:
    """Build a section with the same validators presets use; InvalidStep with the problems (in the screen's words)
    otherwise."""
    from installer.model import Invalid
    from installer.preset import problems_from_validation

    try:
        return section_type.parse(data, literal_secrets=True)
    except Invalid as exc:
        problems = []
        for p in problems_from_validation(exc):
            path = f"{prefix}.{p.path}".strip(".") if p.path else prefix
            label, message = in_screen_words(path, p.message)
            problems.append(
                Problem(label, message, "" if p.fix.startswith("add ") or "value's type" in p.fix else p.fix)
            )
        raise InvalidStep(problems) from None


def class_choice(
    field_id: str,
    found: Iterable[Any],
    default: Any,
    chosen: str | None,
    detail: str,
    prompt: str,
    fallback: str = "",
    placeholder: str = "",
) -> ComposeResult:
    """A Select of the classes the probe found (the default preselected), or a free Input without a probe.

    Args:
        found: StorageClassInfo or IngressClassInfo items (`name`, `is_default`, and the `detail` attribute).
        detail: the attribute shown in brackets beside each name (provisioner, controller).
    """
    found = list(found)
    if not found:
        yield Input(chosen or fallback, placeholder=placeholder, id=field_id)
        return
    names = [item.name for item in found]
    options = [
        (f"{item.name} ({getattr(item, detail)}){' default' if item.is_default else ''}", item.name) for item in found
    ]
    value = chosen if chosen in names else (default.name if default else Select.NULL)
    yield Select(options, value=value, allow_blank=value is Select.NULL, prompt=prompt, id=field_id)


THEME_TAG = re.compile(r"(?<!\\)\[([^\[\]]*\$[^\[\]]*)\]")


def themed(markup: str) -> str:
    """Rich markup with the app theme's colours for `[$success]`, `[b $error]`... (Rich knows no theme variables;
    Textual's own markup, in a Static given a string, does)."""
    try:
        variables = active_app.get().theme_variables
    except LookupError:  # no app (unit tests): Rich's colour names of the same meaning
        variables = {"success": "green", "error": "red", "warning": "yellow", "accent": "blue"}

    def tag(match: re.Match[str]) -> str:
        return "[" + re.sub(r"\$([a-z][a-z0-9-]*)", lambda m: variables.get(m[1], m[1]), match[1]) + "]"

    return THEME_TAG.sub(tag, markup)


def hanging(markup: str) -> Any:
    """Rich markup lines as a renderable whose wrapped lines keep their indent ("  • item" hangs under "item").
    Colours are the theme's (`[$success]`, `[$error]`, `[$warning]`)."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table

    markup = themed(markup)
    rows: list[Any] = []
    for line in markup.split("\n"):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        for mark in ("• ", "✗ ", "✓ ", "! ", "… "):
            if stripped.startswith(mark):
                grid = Table.grid(padding=0)
                grid.add_column(width=indent + len(mark), no_wrap=True)
                grid.add_column(ratio=1)
                grid.add_row(" " * indent + mark, Text.from_markup(stripped[len(mark) :], overflow="fold"))
                rows.append(grid)
                break
        else:
            rows.append(
                Padding(Text.from_markup(stripped, overflow="fold"), (0, 0, 0, indent))
                if indent
                else Text.from_markup(line, overflow="fold")
            )
    return Group(*rows)


def problem_lines(problems: Iterable[Problem]) -> str:
    """Rich markup: one bullet per problem, with its fix."""
    lines = []
    for problem in problems:
        where = f"[b]{escape(problem.path)}[/b]: " if problem.path else ""
        fix = f"\n    [i]fix:[/i] {escape(problem.fix)}" if problem.fix else ""
        lines.append(f"✗ {where}{escape(problem.message)}{fix}")
    return "\n".join(lines)


def failure_words(exc: Exception, doing: str, hint: str) -> tuple[str, str]:
    """What a worker tells its screen when the engine raised: our own errors as they are; anything
    else (the kubernetes client raises many kinds) as `doing: what it said`, with a general `hint`."""
    if isinstance(exc, InstallerError):
        return exc.message, exc.hint
    return f"{doing}: {exc}", hint


def error_problems(exc: Exception) -> list[Problem]:
    if isinstance(exc, ValidationFailed):
        return exc.problems
    if isinstance(exc, InstallerError):
        return [Problem("", exc.message, exc.hint)]
    return [Problem("", str(exc))]


class Confirm(ModalScreen[bool]):
    """A yes/no question; the safe answer ("Stay") has the focus, Esc is "Stay"; the arrow keys move between the two
    answers as Tab does."""

    BINDINGS = [
        Binding("escape", "dismiss(False)", "Stay"),
        Binding("left", "app.focus_previous", show=False),
        Binding("right", "app.focus_next", show=False),
    ]

    def __init__(self, question: str, yes: str, no: str = "Stay") -> None:
        super().__init__(classes="confirm")
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Grid(classes="confirm-box"):
            yield Label(self.question, classes="confirm-text")
            yield Button(self.yes, id="yes", variant="warning", compact=True)
            yield Button(self.no, id="no", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")


class ProblemsPanel(VerticalScroll):
    """The step's problems, under its fields, a few lines high. When they do not fit, Tab reaches the panel, the
    arrow and page keys scroll it, and its top border says so; otherwise it is not in the focus order."""

    MORE = "more: Tab here, then ↑↓"

    def compose(self) -> ComposeResult:
        yield Static("", id="problems-text")

    def allow_focus(self) -> bool:
        return self.has_class("shown") and self.max_scroll_y > 0

    def show(self, problems: Any | None) -> None:
        """Show `problems` (a renderable), or hide the panel for None."""
        if problems is None and self.has_focus:
            self.screen.focus_next()
        self.query_one("#problems-text", Static).update("" if problems is None else problems)
        self.set_class(problems is not None, "shown")
        self.scroll_home(animate=False)
        self.call_after_refresh(self._say_if_more)

    def _say_if_more(self) -> None:
        self.border_title = self.MORE if self.max_scroll_y > 0 else ""


class EventLog(Vertical):
    """What the engine reports while a step's worker runs, shown one way on every step: a ✓/✗/… line per engine
    step (its time and detail) and, with `lines=True`, a log of helm's output and the rollout watch."""

    DEFAULT_CSS = """
    EventLog { height: auto; }
    EventLog.with-lines { height: 1fr; }
    EventLog #helm-log { height: 1fr; min-height: 6; border: round $panel; }
    """

    def __init__(self, waiting: str = "", lines: bool = False, last_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id, classes="with-lines" if lines else "")
        self.waiting, self.with_lines, self.last_only = waiting, lines, last_only
        self.steps: dict[str, str] = {}  # engine step → its line (Rich markup)
        self.log_lines: list[str] = []  # what the log shows, as plain text

    def compose(self) -> ComposeResult:
        yield Static(self.waiting, id="steps")
        if self.with_lines:
            from textual.widgets import RichLog  # loads rich.pretty and attrs: not for the first frame

            yield RichLog(id="helm-log", max_lines=2000, wrap=True, markup=False)

    def show(self, event: Event) -> None:
        """One engine event, as the step shows it."""
        from installer.events import HelmLine, Note, Progress, RolloutProblem, RolloutStatus, StepFinished, StepStarted

        if isinstance(event, HelmLine):
            self.write(event.line)
        elif isinstance(event, RolloutStatus):  # while helm waits: what the cluster is doing
            detail = f" ({event.detail})" if event.detail else ""
            self.write(f"rollout: {event.kind} {event.name}: {event.state}{detail}", "dim")
        elif isinstance(event, RolloutProblem):
            first, *rest = event.message.splitlines() or [""]
            lead = "stopping: " if event.fatal else "problem: "
            self.write(
                f"{lead}{event.kind} {event.name}: {event.reason}: {first}",
                "bold $error" if event.fatal else "$warning",
            )
            for line in rest:
                self.write(f"    {line}", "dim")
            self.write(f"    fix: {event.fix}", "$error" if event.fatal else "$warning")
        elif isinstance(event, Note):
            self.write(f"note: {event.text}", "$warning" if event.level == "warning" else "")
        elif isinstance(event, StepStarted):
            self.set_step(event.step, f"… {escape(event.step)}: {escape(event.detail)}")
        elif isinstance(event, Progress):
            total = f" of {event.total / 2**20:.1f} MiB" if event.total else " MiB"
            self.set_step(event.step, f"… {escape(event.step)}: {event.done / 2**20:.1f}{total}")
        elif isinstance(event, StepFinished):
            mark = "[$success]✓[/]" if event.ok else "[$error]✗[/]"
            self.set_step(event.step, f"{mark} {escape(event.step)} ({event.seconds:.1f}s) {escape(event.detail)}")

    def set_step(self, step: str, markup: str) -> None:
        if self.last_only:
            self.steps.clear()
        self.steps[step] = markup
        self.query_one("#steps", Static).update(hanging("\n".join(self.steps.values())))

    def write(self, line: str, style: str = "") -> None:
        """One line in the log; long lines wrap (and keep the screen's width). Not in a log: a note under the steps."""
        self.log_lines.append(line)
        if not self.with_lines:
            return
        from textual.widgets import RichLog

        self.query_one("#helm-log", RichLog).write(Text(line, style=themed(f"[{style}]")[1:-1] if style else ""))


class StepBar(Static):
    """Where the user is: the steps' names, done ones green, skipped ones struck through, the current one highlighted.
    Names are never cut: when they do not all fit, the bar shows the current step and as many of its neighbours as
    fit, and counts the hidden ones at either end ("◂+2", "+2▸")."""

    DEFAULT_CSS = """
    StepBar { height: 1; width: 100%; background: $panel; padding: 0 1; }
    """

    def __init__(self, labels: list[str], current: int, skipped: Iterable[int] = ()) -> None:
        self.labels, self.current, self.skipped = labels, current, set(skipped)
        super().__init__(self._markup(labels, current, self.skipped), id="step-bar")

    def on_resize(self) -> None:
        self.update(self._markup(self.labels, self.current, self.skipped, self.content_size.width))

    @staticmethod
    def window(labels: list[str], current: int, width: int | None) -> tuple[int, int, bool]:
        """Which names the bar shows in `width` columns: (first, last, whether the current one gets a space on either
        side). Every name when they fit (the spaces go first); else the current step, then its neighbours one at a
        time, the next step first, as long as they fit beside the hidden steps' counts."""

        def length(first: int, last: int) -> int:
            names = sum(len(label) for label in labels[first : last + 1]) + last - first
            hidden_before = len(f"◂+{first}·") if first > 0 else 0
            hidden_after = len(f"·+{len(labels) - 1 - last}▸") if last < len(labels) - 1 else 0
            return names + hidden_before + hidden_after

        everything = (0, len(labels) - 1)
        if width is None or length(*everything) + 2 <= width:
            return (*everything, True)
        first = last = current
        after = True  # the side to grow next: they take turns, the next step first
        for _ in range(2 * len(labels)):
            candidate = (first, last + 1) if after else (first - 1, last)
            after = not after
            if 0 <= candidate[0] and candidate[1] < len(labels) and length(*candidate) <= width:
                first, last = candidate
        return first, last, length(first, last) + 2 <= width

    @classmethod
    def _markup(cls, labels: list[str], current: int, skipped: set[int], width: int | None = None) -> str:
        first, last, pad = cls.window(labels, current, width)
        space = " " if pad else ""
        parts = []
        if first > 0:
            parts.append(f"[$success]◂+{first}[/]")
        for index in range(first, last + 1):
            label = labels[index]
            if index == current:
                parts.append(f"[reverse b]{space}{label}{space}[/]")
            elif index in skipped:
                parts.append(f"[strike dim]{label}[/]")
            elif index < current:
                parts.append(f"[$success]{label}[/]")
            else:
                parts.append(f"[dim]{label}[/]")
        if last < len(labels) - 1:
            parts.append(f"[dim]+{len(labels) - 1 - last}▸[/]")
        return "·".join(parts)


class StepScreen(Screen[Any]):
    """A wizard step: subclasses compose their fields and turn them into their section."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next"),
    ]
    # no auto-focus: focus_first_field() chooses (None would mean the app's "*": Textual focused the #body scroll box
    # at compose, and its scrollbar kept that focused background after focus_first_field moved on)
    AUTO_FOCUS: ClassVar[str | None] = ""
    step_key = ""
    heading = ""
    next_label = "Next ▸"
    can_go_back = True
    # a worker's failure in the step's words: worker name → (what it was doing, the general fix)
    FAILURE_WORDS: ClassVar[dict[str, tuple[str, str]]] = {}

    @dataclass
    class EventReported(Message):
        """The engine reported progress from a step's worker (thread-safe: posted, shown by the EventLog)."""

        event: Event

    def __init__(self) -> None:
        super().__init__(classes="step")
        self._armed = False
        self.attempted = False  # Next was pressed: show every problem, also for fields not typed in yet
        self.touched: set[str] = set()  # ids of the fields the user has edited
        self.workers_done: list[str] = []  # the workers whose result or error this step has handled, in order

    def compose(self) -> ComposeResult:
        labels, current, skipped = self.wizard.step_bar_state(self.step_key)
        yield StepBar(labels, current, skipped)
        yield Static(f"[b]{self.heading}[/b]", id="step-title")
        with VerticalScroll(id="body"):
            for widget in self.compose_body():
                if isinstance(widget, (Input, Select)):
                    widget.compact = True  # before mounting: no second style pass per field (start-up)
                yield widget
        yield ProblemsPanel(id="problems")
        with Horizontal(id="nav"):
            if self.can_go_back:
                yield Button("◂ Back", id="back", compact=True)
            yield Button(self.next_label, id="next", variant="primary", compact=True)
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        # borderless fields: a whole step must fit in 80x24
        for field in [*self.query(Input), *self.query(Select)]:
            field.compact = True
        self.call_after_refresh(self._arm)
        self.focus_first_field()

    def focus_first_field(self) -> None:
        body = self.query_one("#body")

        def shown(widget: Any) -> bool:  # its own display and that of every box up to the body (hidden rows)
            node = widget
            while node is not None and node is not body:
                if not node.display:
                    return False
                node = node.parent
            return True

        fields = [w for w in body.query("Input, Select, Button, DataTable, Switch") if w.focusable and shown(w)]
        (fields[0] if fields else self.query_one("#next")).focus()

    # -- workers: their results and errors handled here, once ------------------------------------------------

    def report(self, event: Event) -> None:
        """The engine's event sink for this step's workers (called in the worker's thread)."""
        self.post_message(self.EventReported(event))

    def on_step_screen_event_reported(self, message: EventReported) -> None:
        """Shown once: Textual calls this handler of every class in the MRO that defines it, so subclasses do not
        define it again (calling super() would show each event twice); they override `event_shown`."""
        logs = self.query(EventLog)
        if logs:
            logs.first().show(message.event)
        self.event_shown(message.event)

    def event_shown(self, event: Event) -> None:
        """An engine event this step's log has just shown (a step reacts to it here)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every step's slow work ends here: `worker_done` with the result, or `worker_failed` with the error in
        the step's words (our own errors as they are; anything else as `doing: what it said` and a general fix)."""
        worker = event.worker
        if event.state == WorkerState.SUCCESS:
            self.worker_done(worker.name, worker.result)
        elif event.state == WorkerState.ERROR:
            error = worker.error if isinstance(worker.error, Exception) else Exception(str(worker.error))
            doing, hint = self.FAILURE_WORDS.get(worker.name, ("it failed", ""))
            self.worker_failed(worker.name, error, Problem("", *failure_words(error, doing, hint)))
        else:
            return
        self.workers_done.append(worker.name)  # handled, in order: what tests wait on

    def worker_done(self, name: str, result: Any) -> None:
        """A worker of this step finished with `result`."""

    def worker_failed(self, name: str, error: Exception, problem: Problem) -> None:
        """A worker of this step raised `error`; `problem` says it in the step's words."""
        self.show_problems([problem])

    @property
    def wizard(self) -> WizardApp:
        """The app, as the wizard it is (its state, `installing`, the step table)."""
        return cast("WizardApp", self.app)

    @property
    def workdir(self) -> Path:
        """Where files are offered to be written (the folder the wizard was started in, unless make_app says)."""
        return Path(getattr(self.app, "workdir", None) or Path.cwd())

    def _arm(self) -> None:
        """From now on, edits are the user's: validate them as they happen."""
        self._armed = True

    def build_section(self) -> Any:
        """The step's section from its fields; raises InvalidStep with every problem."""
        return None

    def show_problems(self, problems: list[Problem]) -> None:
        self.problems_shown = problem_lines(problems)
        self.query_one("#problems", ProblemsPanel).show(hanging(self.problems_shown) if problems else None)

    def check(self) -> Any:
        """Validate now, show what is wrong; the section, or None when invalid."""
        try:
            section = self.build_section()
        except InvalidStep as exc:
            self.show_problems(exc.problems)
            return None
        self.show_problems([])
        return section

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._armed:
            if event.input.id:
                self.touched.add(event.input.id)
            self.check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            event.stop()
            self.action_next()
        elif event.button.id == "back":
            event.stop()
            self.action_back()

    def action_next(self) -> None:
        self.attempted = True
        section = self.check()
        if section is not None:
            self.dismiss(section)
        else:
            self.app.bell()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The first step has no Back: keep it out of the footer."""
        return self.can_go_back if action == "back" else True

    def action_back(self) -> None:
        if not self.can_go_back:
            return
        try:
            section = self.build_section()
        except InvalidStep:
            section = None
        self.dismiss(GoBack(section))

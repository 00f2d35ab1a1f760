"""Step 1, Cluster: which kube context to change, who we are there; offline rendering when none answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static
from textual.widgets.select import NoSelection

from installer import defaults
from installer.errors import Problem
from installer.session import ClusterIdentity
from screens.base import InvalidStep, StepScreen, load_validation, validated
from screens.state import ClusterChoice

if TYPE_CHECKING:  # msgspec and the Choices model load after the first frame (bench/startup.py)
    from installer.model import Target

__all__ = ["ClusterChoice", "ClusterScreen", "ContextField"]
NO_CONTEXT = "(current context)"


class ContextField(Horizontal, can_focus=True):
    """The kube context, drawn as the compact Select draws it, until its list is first opened (Enter, Space, Up, Down
    or a click, as on the Select): then the Select takes its place, open, and is used from there on. The first frame
    does without the Select's list, its five widgets and their styles (~10 ms of its CPU, bench/startup.py)."""

    DEFAULT_CSS = """
    ContextField {
        width: 100%;
        height: auto;
        padding: 0 1 0 0;
        color: $foreground;
        background: $surface;
        pointer: pointer;
        &:focus { background-tint: $foreground 5%; }
        & > Static { background: transparent; color: $foreground 50%; }
        & > #label { width: 1fr; height: auto; }
        &.-has-value > #label { color: $foreground; }
        & > .arrow { box-sizing: content-box; width: 1; height: 1; padding: 0 0 0 1; }
    }
    """
    BINDINGS = [Binding("enter,down,space,up", "open", "Show menu", show=False)]

    class Open(Message):
        """Show the list: the screen puts the Select in this field's place."""

    def __init__(
        self, options: list[tuple[str, str]], value: str | NoSelection, prompt: str, allow_blank: bool, id: str
    ) -> None:
        super().__init__(id=id)
        self.options, self.value, self.prompt, self.allow_blank = options, value, prompt, allow_blank
        self.set_class(value is not Select.NULL, "-has-value")

    def compose(self) -> ComposeResult:
        yield Static(self.prompt if self.value is Select.NULL else str(self.value), id="label", markup=False)
        yield Static("▼", classes="arrow")

    def action_open(self) -> None:
        self.post_message(self.Open())

    async def _on_click(self, event: events.Click) -> None:
        event.stop()
        self.action_open()


class ClusterScreen(StepScreen):
    step_key = "cluster"
    heading = "Cluster: which Kubernetes cluster gets the registry?"
    next_label = "Use this cluster ▸"
    can_go_back = False
    # the context list has the focus from the first frame on (StepScreen's default focuses the scrolling body first,
    # then focus_first_field moves it: two focus changes, each restyling and recomposing the footer)
    AUTO_FOCUS = "#context"
    BINDINGS = [Binding("escape", "first_step_back", show=False)]
    FAILURE_WORDS = {"connect_worker": ("cannot connect", "check the kubeconfig (kubectl cluster-info)")}

    def __init__(self, session, target: Target | None, offline: bool = False) -> None:
        super().__init__()
        self.session = session
        self.target = target
        self.identity: ClusterIdentity | None = None
        self.connecting: str | None = None  # the context being connected to
        self.offline = offline
        self.contexts, self.current = session.contexts()

    def compose_body(self) -> ComposeResult:
        options = [(name, name) for name in self.contexts]
        chosen = (self.target and self.target.context) or self.session.context or self.current
        yield Label("Kube context")
        yield ContextField(
            options,
            value=chosen if chosen in self.contexts else Select.NULL,
            prompt=NO_CONTEXT,
            allow_blank=not self.contexts or chosen not in self.contexts,
            id="context",
        )
        yield Static("Connecting…", id="identity")
        yield Button("Continue offline (render files for GitOps) ▸", id="offline", classes="hidden", compact=True)
        yield Button("Retry", id="retry", classes="hidden", compact=True)
        yield Label("Namespace")
        yield Input(self.target.namespace if self.target else defaults.NAMESPACE, id="namespace")
        yield Label("Helm release name")
        yield Input(self.target.release if self.target else defaults.RELEASE, id="release")

    def on_mount(self) -> None:
        # paint first: loading the kubernetes client in the worker competes with the first frame
        self.call_after_refresh(lambda: self.connect(self.chosen_context()))

    def action_first_step_back(self) -> None:
        """Esc on the first step: say so instead of doing nothing."""
        self.notify("This is the first step: there is nothing to go back to. Ctrl+Q quits.", timeout=4)

    def focus_first_field(self) -> None:
        self.query_one("#context").focus()

    def chosen_context(self) -> str | None:
        opened = self.query("#context-list")
        value = opened.first(Select).value if opened else self.query_one("#context", ContextField).value
        return None if value is Select.NULL or value == Select.BLANK else str(value)

    @on(ContextField.Open)
    async def open_contexts(self, event: ContextField.Open) -> None:
        """The Select below the field, in its place (the field hidden: the same options, value and look), open."""
        field = self.query_one("#context", ContextField)
        select: Select[str] = Select(
            field.options,
            value=field.value,
            prompt=field.prompt,
            allow_blank=field.allow_blank,
            compact=True,
            id="context-list",
        )
        with self.app.batch_update():  # no frame with both, or with neither
            await self.query_one("#body").mount(select, after=field)
            field.display = False
        select.focus()
        select.action_show_overlay()

    @on(Select.Changed, "#context-list")
    def context_changed(self, event: Select.Changed) -> None:
        if self._armed and self.chosen_context() != self.connecting:  # not the Select taking the field's place
            self.connect(self.chosen_context())

    def connect(self, context: str | None) -> None:
        self.identity, self.connecting = None, context
        self.query_one("#identity", Static).update(
            f"Connecting to context [b]{escape(context or self.current or NO_CONTEXT)}[/b]…"
        )
        self.connect_worker(context)

    @work(thread=True, exclusive=True, exit_on_error=False, group="connect")
    def connect_worker(self, context: str | None) -> ClusterIdentity:
        try:
            return self.session.connect(context)
        finally:
            load_validation()  # what Next checks with, loaded here rather than on the UI thread

    def worker_done(self, name: str, identity: ClusterIdentity) -> None:
        self.identity, self.offline = identity, False
        self.query_one("#identity", Static).update(
            f"[$success]✓ connected[/] to [b]{escape(identity.server or '?')}[/b]\n"
            f"  Kubernetes {escape(identity.server_version)}, you are [b]{escape(identity.user or 'unknown')}[/b]\n"
            "  This is the cluster the registry will be installed on."
        )
        self.query_one("#offline").add_class("hidden")
        self.query_one("#retry").add_class("hidden")
        self.check()

    def worker_failed(self, name: str, error: Exception, problem: Problem) -> None:
        self.query_one("#identity", Static).update(
            f"[$error]✗ No cluster is reachable[/]{self.context_words(self.connecting)}.\n"
            f"  Tried: {escape(problem.message)}\n"
            f"  Fix: {escape(problem.fix)}\n"
            "  You can retry, or continue offline and render files to apply later."
        )
        self.query_one("#offline").remove_class("hidden")
        self.query_one("#retry").remove_class("hidden")
        self.query_one("#offline", Button).focus()

    def context_words(self, context: str | None) -> str:
        name = context or self.current
        return f" (context {escape(name)})" if name else " (the kubeconfig names no context)"

    @on(Button.Pressed, "#offline")
    def offline_chosen(self, event: Button.Pressed) -> None:
        event.stop()
        self.offline = True
        self.session.go_offline()
        self.action_next()

    @on(Button.Pressed, "#retry")
    def retry(self, event: Button.Pressed) -> None:
        event.stop()
        self.connect(self.chosen_context())

    def build_section(self) -> ClusterChoice:
        from installer.model import Target

        target = validated(
            Target,
            {
                "context": self.chosen_context(),
                "namespace": self.query_one("#namespace", Input).value.strip(),
                "release": self.query_one("#release", Input).value.strip(),
            },
            "target",
        )
        if self.identity is None and not self.offline:
            raise InvalidStep(
                [
                    Problem(
                        "",
                        "not connected to a cluster yet",
                        "wait for the connection, pick another context, or continue offline",
                    )
                ]
            )
        return ClusterChoice(target, self.offline)

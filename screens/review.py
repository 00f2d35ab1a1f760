"""Step 7, Review: the values helm gets (secrets masked), the Secrets made beside them, the helm command, the diff."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Static, Switch

from installer.errors import Problem
from installer.model import Choices
from screens.base import Confirm, GoTo, InvalidStep, StepScreen, error_problems, hanging
from screens.state import RenderedFiles

if TYPE_CHECKING:
    from installer.engine import Prepared

STEP_OF_PATH = {
    "exposure": "Address",
    "auth": "Access",
    "storage": "Storage",
    "uploads": "Uploads",
    "target": "Cluster",
}

__all__ = ["RenderedFiles", "ReviewScreen"]


def with_step_names(problems: list[Problem]) -> list[Problem]:
    """Tell the user which step fixes each problem."""
    out = []
    for p in problems:
        step = STEP_OF_PATH.get(p.path.split(".")[0])
        out.append(Problem(p.path, p.message, f"{p.fix} (the {step} step: Go to step)" if step else p.fix))
    return out


def owning_step(problems: list[Problem]) -> str | None:
    """The step whose settings the first problem is about (its label), or None."""
    return next((STEP_OF_PATH[p.path.split(".")[0]] for p in problems if p.path.split(".")[0] in STEP_OF_PATH), None)


def diff_markup(lines: list[str]) -> str:
    colored = []
    for line in lines:
        text = escape(line)
        if line.startswith("+") and not line.startswith("+++"):
            colored.append(f"[$success]{text}[/]")
        elif line.startswith("-") and not line.startswith("---"):
            colored.append(f"[$error]{text}[/]")
        else:
            colored.append(text)
    return "\n".join(colored)


class ReviewScreen(StepScreen):
    step_key = "review"
    heading = "Review: what will be applied"

    def __init__(self, session, choices: Choices) -> None:
        super().__init__()
        self.session, self.choices = session, choices
        self.prepared: Prepared | None = None
        self.failure: list[Problem] = []
        self.options_problem: Problem | None = None
        self.next_label = "Write files ▸" if session.offline else "Install ▸"

    def compose_body(self) -> ComposeResult:
        if not self.session.offline:
            options = self.session.apply_options
            with Horizontal(classes="switch-row"):
                yield Switch(options.wait, id="wait")
                yield Label("Wait until the registry is ready (then the smoke test pushes an image)")
            with Horizontal(classes="file-row", id="timeout-row"):
                yield Label("Give up after (e.g. 10m, 1h)", id="timeout-label")
                yield Input(options.timeout, id="timeout")
        yield Static("Checking the choices against the cluster…", id="summary")
        if self.session.offline:
            yield Label("Write the files to this directory")
            yield Input(str(self.workdir / f"{self.choices.target.release}-rendered"), id="out-dir")
        yield Button("Go to step", id="goto", classes="hidden", compact=True)
        yield Static("", id="diff")
        yield Static("", id="values")

    def on_mount(self) -> None:
        self.prepare_worker()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def prepare_worker(self) -> Prepared:
        return self.session.prepare(self.choices)

    @on(Switch.Changed, "#wait")
    def wait_changed(self, event: Switch.Changed) -> None:
        self.query_one("#timeout-row").display = event.value
        self.options_changed()

    def options_changed(self) -> None:
        """Wait and timeout go to the session's apply options; the helm command shown follows them."""
        wait = self.query_one("#wait", Switch).value
        timeout = self.query_one("#timeout", Input).value.strip()
        if not self.session.is_duration(timeout):
            self.options_problem = Problem(
                "Give up after", f"'{timeout}' is not a duration", "write it like 10m, 600s or 1h30m"
            )
        else:
            self.options_problem = None
            self.session.apply_options = replace(self.session.apply_options, wait=wait, timeout=timeout)
        if self.prepared is not None:
            self.show_summary(self.prepared)
        self.check()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "timeout":
            self.options_changed()

    def worker_done(self, name: str, prepared: Prepared) -> None:
        self.prepared = prepared
        self.show_summary(prepared)
        release = prepared.probe.release if prepared.probe else None
        if release is not None:
            diff = self.session.values_diff(prepared)
            self.query_one("#diff", Static).update(
                "[b]Changes against the installed release[/b] (secrets masked):\n"
                + (diff_markup(diff) if diff else "  no changes")
            )
        self.query_one("#values", Static).update(
            "[b]values.yaml[/b] (no secrets in it):\n" + escape(prepared.rendered.values_yaml())
        )
        self.check()
        # read first: the focus is on the text (arrows scroll it); installing takes Ctrl+N or Tab to the button
        self.query_one("#body").focus()

    def show_summary(self, prepared: Prepared) -> None:
        lines = []
        release = prepared.probe.release if prepared.probe else None
        if release is not None:
            lines.append(
                f"Upgrading [b]{escape(release.name)}[/b] (revision {release.revision}) in "
                f"{escape(prepared.plan.namespace)}"
            )
        else:
            lines.append(
                f"Installing [b]{escape(prepared.plan.release)}[/b] in namespace {escape(prepared.plan.namespace)}"
                + (" (offline: files only)" if self.session.offline else "")
            )
        lines.append("[b]Secrets[/b] (created beside the release; values never shown):")
        lines += [f"  • {escape(s)}" for s in prepared.rendered.secret_summary()] or ["  none"]
        if prepared.rendered.review:
            lines.append("[b]Gateway[/b] (the installer's HTTPRoute and what limits large uploads):")
            lines += [f"  • {escape(line)}" for line in prepared.rendered.review]
        if not self.session.offline:
            lines.append("[b]Helm command[/b]:")
            lines.append(f"  {escape(self.session.helm_command(prepared))}")
            if self.session.apply_options.wait:
                lines.append(
                    f"  then the installer waits up to {escape(self.session.apply_options.timeout)} for the registry's "
                    "pods (Install offers Continue without waiting) and rolls back itself if they cannot start"
                )
        if prepared.rendered.notes:
            lines.append("[b]Notes[/b]:")
            lines += [f"  [$warning]![/] {escape(n)}" for n in prepared.rendered.notes]
        if not self.session.offline and not self.session.apply_options.wait:
            lines.append(
                "  [$warning]![/] without waiting, the smoke test is skipped: run `registry-installer smoke` when "
                "the pods are up"
            )
        self.query_one("#summary", Static).update(hanging("\n".join(lines)))

    def worker_failed(self, name: str, error: Exception, problem: Problem) -> None:
        # ValidationFailed, InstallerError, or a client error: all shown as problems, with the step that fixes each
        self.failure = with_step_names(error_problems(error))
        self.query_one("#summary", Static).update("[$error]These settings cannot be applied yet:[/]")
        self.check()
        step = owning_step(self.failure)
        if step:
            goto = self.query_one("#goto", Button)
            goto.label = f"Go to the {step} step"
            goto.remove_class("hidden")
            goto.focus()

    @on(Button.Pressed, "#goto")
    def goto_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        step = owning_step(self.failure)
        if step:
            self.dismiss(GoTo(step.lower()))

    def build_section(self):
        if self.options_problem is not None:
            raise InvalidStep([self.options_problem])
        if self.failure:
            raise InvalidStep(self.failure)
        if self.prepared is None:
            raise InvalidStep([Problem("", "still checking the choices", "wait a moment")])
        return self.prepared

    def action_next(self) -> None:
        prepared = self.check()
        if prepared is None:
            self.app.bell()
            return
        if not self.session.offline:
            release = prepared.probe.release if prepared.probe else None
            if release is None:
                self.dismiss(prepared)
                return
            changes = len(
                [
                    line
                    for line in self.session.values_diff(prepared)
                    if line[:1] in "+-" and line[:3] not in ("+++", "---")
                ]
            )
            question = (
                f"Upgrade the installed release {release.name} (revision {release.revision}) in namespace "
                f"{prepared.plan.namespace}? {changes} changed value line{'s' if changes != 1 else ''}; the registry's "
                "pods restart if their settings changed."
            )

            def answered(yes: bool | None) -> None:
                if yes:
                    self.dismiss(prepared)

            self.app.push_screen(Confirm(question, "Upgrade"), answered)
            return
        out_dir = self.query_one("#out-dir", Input).value.strip()
        try:
            paths = self.session.render_files(prepared, out_dir)
        except OSError as exc:
            self.show_problems(
                [Problem("directory", f"cannot write to {out_dir}: {exc.strerror}", "choose a writable directory")]
            )
            return
        self.dismiss(RenderedFiles(prepared, tuple(paths)))

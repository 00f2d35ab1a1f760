"""Step 10, Done: how to log in, how to trust the CA, where the data lives, and "Save as preset"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.widgets import Button, Input, Label, Static

from installer.model import Choices
from installer.session import ca_instructions, default_preset_path, typed_password_users, write_ca
from screens.base import StepScreen

if TYPE_CHECKING:
    from installer.engine import Prepared


def data_location(prepared: Prepared) -> str:
    storage = prepared.plan.choices.storage
    if storage.kind == "s3" and storage.s3 is not None:
        return f"S3 bucket {storage.s3.bucket} ({storage.s3.endpoint or 'AWS'}, {storage.s3.region})"
    fs = storage.filesystem
    if fs.existing_claim:
        return f"the existing PVC {prepared.plan.namespace}/{fs.existing_claim}"
    return (f"a {fs.size} {fs.access_mode} volume (StorageClass {prepared.plan.storage_class or 'default'}) in namespace "
            f"{prepared.plan.namespace}; `helm uninstall` keeps it")


class DoneScreen(StepScreen):
    step_key = "done"
    heading = "Done"
    next_label = "Quit"

    def __init__(self, session, prepared: Prepared, choices: Choices, written: tuple[Path, ...] = ()) -> None:
        super().__init__()
        self.session, self.prepared, self.choices, self.written = session, prepared, choices, written

    def compose_body(self) -> ComposeResult:
        plan = self.prepared.plan
        host = plan.registry_host
        lines = []
        if self.written:
            lines.append("Files written (secrets files are 0600):")
            lines += [f"  • {escape(str(p))}" for p in self.written]
            lines.append(f"Apply later: kubectl apply -f secrets.yaml, then helm upgrade --install {escape(plan.release)} … -f values.yaml -f secret-values.yaml")
        user = plan.users[0].name if plan.users else None
        lines.append(f"[b]Log in[/b]: docker login {escape(host)}" + (f" -u {escape(user)}" if user else ""))
        if any(u.password.kind == "generate" for u in plan.choices.auth.users):
            lines.append(f"  generated passwords are in Secret {escape(plan.names.state)}: kubectl -n {escape(plan.namespace)} get secret {escape(plan.names.state)} -o yaml")
        lines.append(f"[b]Data[/b]: {escape(data_location(self.prepared))}")
        yield Static("\n".join(lines), id="done-summary")
        if plan.ca_pem:
            places = "\n".join(f"  • {escape(part.strip())}" for part in ca_instructions(host).split(" | "))
            yield Static(f"[b]Trust the CA[/b] (self-signed):\n{places}", classes="hint")
            yield Input(str(Path.cwd() / "registry-ca.crt"), id="ca-path")
            yield Button("Save the CA certificate", id="save-ca", compact=True)
        yield Label("Save as preset (replay with `registry-installer apply --preset FILE`)")
        yield Input(default_preset_path(), id="preset-path")
        typed = typed_password_users(self.choices)
        if typed:
            yield Static(f"Typed-in passwords ({escape(', '.join(typed))}) never go into a preset: they are written to 0600 files "
                         "in this directory and referenced as file:PATH (or edit the preset to use env:VAR).", classes="hint")
            yield Input(str(Path.cwd()), id="secrets-dir")
        yield Button("Save preset", id="save-preset", compact=True)
        yield Static("", id="saved")

    def focus_first_field(self) -> None:
        # what to do next is at the top: keep it in view, with Quit one key away
        self.query_one("#next").focus()

    @on(Button.Pressed, "#save-ca")
    def save_ca(self, event: Button.Pressed) -> None:
        event.stop()
        path = write_ca(self.prepared.plan.ca_pem, self.query_one("#ca-path", Input).value.strip())
        self.query_one("#saved", Static).update(f"[green]✓[/] CA written to {escape(str(path))}")

    @on(Button.Pressed, "#save-preset")
    def save_preset(self, event: Button.Pressed) -> None:
        event.stop()
        self.save_preset_now()

    def save_preset_now(self) -> None:
        secrets_dir = self.query("#secrets-dir")
        try:
            saved = self.session.save_preset(self.choices, self.query_one("#preset-path", Input).value.strip(),
                                             secrets_dir.first(Input).value.strip() if secrets_dir else None)
        except (OSError, ValueError) as exc:
            self.query_one("#saved", Static).update(f"[red]✗ not saved:[/] {escape(str(exc))}")
            return
        text = f"[green]✓[/] preset saved to {escape(str(saved.path))}"
        if saved.secret_files:
            text += "\n  passwords in " + ", ".join(escape(str(p)) for p in saved.secret_files) + " (0600)"
        self.query_one("#saved", Static).update(text)

    def on_input_submitted(self, event) -> None:
        event.prevent_default()  # Enter saves; it does not quit
        event.stop()
        if event.input.id == "preset-path":
            self.save_preset_now()

    def build_section(self):
        return "quit"

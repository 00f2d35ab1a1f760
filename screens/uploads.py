"""Step 6, Large uploads: how big a layer the ingress accepts and how long it waits."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static, Switch

from installer.model import Uploads
from screens.base import StepScreen, validated

WHY = (
    "Ingress controllers refuse large request bodies by default (nginx: 1 MiB), so pushing a VM image "
    'fails with [b]413 Request Entity Too Large[/b]; "0" removes the limit.'
)


class UploadsScreen(StepScreen):
    step_key = "uploads"
    heading = "Large uploads: body size and timeouts"

    def __init__(self, uploads: Uploads | None) -> None:
        super().__init__()
        self.uploads = uploads or Uploads()

    def compose_body(self) -> ComposeResult:
        up = self.uploads
        yield Static(WHY, classes="hint")
        yield Label('Largest request body ("0" = unlimited; or e.g. 10g, 500m)')
        yield Input(up.max_body_size, id="max-body-size")
        yield Label("Read timeout (seconds the ingress waits for the registry)")
        yield Input(str(up.read_timeout), id="read-timeout", type="integer")
        yield Label("Send timeout (seconds)")
        yield Input(str(up.send_timeout), id="send-timeout", type="integer")
        with Horizontal(classes="switch-row"):
            yield Switch(up.request_buffering, id="request-buffering")
            yield Label("Buffer whole uploads at the ingress (off streams them: better for big layers)")

    def build_section(self) -> Uploads:
        return validated(
            Uploads,
            {
                "max_body_size": self.query_one("#max-body-size", Input).value.strip(),
                "read_timeout": self.query_one("#read-timeout", Input).value.strip() or None,
                "send_timeout": self.query_one("#send-timeout", Input).value.strip() or None,
                "request_buffering": self.query_one("#request-buffering", Switch).value,
            },
            "uploads",
        )

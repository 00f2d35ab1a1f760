"""Step 4, Access: who may push and pull, and whether the registry or the ingress checks passwords."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label, Select

from installer.errors import Problem
from installer.model import Auth, User, password_length_problem
from installer.secretref import SecretSpec, generate_password
from screens.base import InvalidStep, StepScreen, validated

AUTH_MODES = [
    ("registry: the registry checks passwords (any ingress controller)", "registry"),
    ("ingress: nginx checks passwords before the registry (nginx only)", "ingress"),
    ("none: anyone who reaches the registry can push and pull", "none"),
]


class AccessScreen(StepScreen):
    step_key = "access"
    heading = "Access: who may push and pull?"
    BINDINGS = [
        Binding("ctrl+r", "reveal", "Reveal"),
        Binding("ctrl+g", "generate", "Generate"),
    ]

    def __init__(
        self, auth: Auth | None, gateway: bool = False, session: Any = None, exposure: Any = None, probe: Any = None
    ) -> None:
        super().__init__()
        self.auth = auth or Auth()
        # to tell, here and not first at Review, whether the ingress controller can check passwords
        self.session, self.exposure, self.probe = session, exposure, probe
        # Gateway API has no standard basic auth: through a Gateway only the registry can check passwords
        self.modes = [m for m in AUTH_MODES if not (gateway and m[1] == "ingress")]
        if gateway and self.auth.mode == "ingress":
            self.auth = self.auth.replace(mode="registry")
        self.users: list[User] = list(self.auth.users)

    def compose_body(self) -> ComposeResult:
        yield Label("Who checks the passwords")
        yield Select(self.modes, value=self.auth.mode, allow_blank=False, id="auth-mode")
        yield Label("Realm (the name in the login prompt; ingress mode)")
        yield Input(self.auth.realm, id="realm")
        yield Label("Users (select a row to change or remove it)")
        yield DataTable(id="users", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="user-row"):
            yield Input(placeholder="user name", id="user-name")
            yield Input(placeholder="password (empty: generate)", password=True, id="user-password")
        with Horizontal(id="user-buttons"):
            yield Button("Add/update", id="add", compact=True)
            yield Button("Generate", id="generate", compact=True)
            yield Button("Reveal", id="reveal", compact=True)
            yield Button("Copy", id="copy", compact=True)
            yield Button("Remove", id="remove", compact=True)

    def refresh_users(self) -> None:
        table = self.query_one("#users", DataTable)
        table.clear()
        for user in self.users:
            table.add_row(user.name, user.password.describe(), key=user.name)

    def pending_user(self) -> User | None:
        """The user typed in the fields, not yet added (Next adds it too)."""
        name = self.query_one("#user-name", Input).value.strip()
        if not name:
            return None
        typed = self.query_one("#user-password", Input).value
        existing = next((u for u in self.users if u.name == name), None)
        password = SecretSpec.literal(typed) if typed else (existing.password if existing else SecretSpec("generate"))
        too_long = password_length_problem(typed, "password") if typed else None
        if too_long is not None:
            raise InvalidStep([too_long])
        return validated(User, {"name": name, "password": password}, "auth.users")

    def users_with_pending(self) -> list[User]:
        pending = self.pending_user()
        if pending is None:
            return list(self.users)
        return [pending if u.name == pending.name else u for u in self.users] + (
            [] if any(u.name == pending.name for u in self.users) else [pending]
        )

    def build_section(self) -> Auth:
        mode = self.query_one("#auth-mode", Select).value
        users = self.users_with_pending() if mode != "none" else []
        data = {
            "mode": mode,
            "realm": self.query_one("#realm", Input).value.strip() or self.auth.realm,
            "users": users,
            "bcrypt_cost": self.auth.bcrypt_cost,
        }
        auth = validated(Auth, data, "auth")
        problem = self.session.ingress_auth_problem(auth.mode, self.exposure, self.probe) if self.session else None
        if problem is not None:
            raise InvalidStep(
                [
                    Problem(
                        "Who checks the passwords",
                        problem.message,
                        "choose 'registry: the registry checks passwords', or go back to Address for an nginx class",
                    )
                ]
            )
        return auth

    def on_mount(self) -> None:
        table = self.query_one("#users", DataTable)
        table.add_columns("user", "password")
        self.refresh_users()
        if self.auth.mode == "ingress":  # e.g. kept from an install on another class: say so on arrival
            self.check()

    @on(Select.Changed, "#auth-mode")
    def mode_changed(self, event: Select.Changed) -> None:
        if self._armed:
            self.check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("user-name", "user-password"):
            event.prevent_default()  # Enter adds the user instead of going to the next step
            event.stop()
            self.add_user()

    @on(Button.Pressed, "#add")
    def add_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.add_user()

    def add_user(self) -> None:
        try:
            pending = self.pending_user()
        except InvalidStep as exc:
            self.show_problems(exc.problems)
            return
        if pending is None:
            self.show_problems([Problem("user name", "type a user name first", "letters, digits, '.', '_', '@', '-'")])
            return
        self.users = self.users_with_pending()
        self.query_one("#user-name", Input).value = ""
        self.query_one("#user-password", Input).value = ""
        self.refresh_users()
        self.check()
        self.query_one("#user-name", Input).focus()

    @on(Button.Pressed, "#remove")
    def remove_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        name = self.query_one("#user-name", Input).value.strip() or self.selected_user_name()
        self.users = [u for u in self.users if u.name != name]
        self.query_one("#user-name", Input).value = ""
        self.refresh_users()
        self.check()

    def selected_user_name(self) -> str | None:
        table = self.query_one("#users", DataTable)
        if not self.users or table.cursor_row is None or table.cursor_row >= len(self.users):
            return None
        return self.users[table.cursor_row].name

    @on(DataTable.RowSelected, "#users")
    def row_selected(self, event: DataTable.RowSelected) -> None:
        name = self.selected_user_name()
        if name:
            self.query_one("#user-name", Input).value = name
            self.query_one("#user-password", Input).value = ""
            self.query_one("#user-password", Input).focus()

    @on(Button.Pressed, "#generate")
    def generate_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_generate()

    def action_generate(self) -> None:
        """A strong password in the field: reveal or copy it before adding the user."""
        self.query_one("#user-password", Input).value = generate_password()
        self.notify("Generated a 32-character password: Reveal (ctrl+r) or Copy it, then Add/update.")

    @on(Button.Pressed, "#reveal")
    def reveal_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_reveal()

    def action_reveal(self) -> None:
        field = self.query_one("#user-password", Input)
        field.password = not field.password
        self.query_one("#reveal", Button).label = "Reveal" if field.password else "Hide"

    @on(Button.Pressed, "#copy")
    def copy_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        typed = self.query_one("#user-password", Input).value
        if not typed:
            self.notify("Nothing to copy: type or generate a password first.", severity="warning")
            return
        self.app.copy_to_clipboard(typed)
        self.notify("Password copied to the clipboard (terminals with OSC 52).")

"""Step 9, Smoke test: push a test image through the public address, read it back, explain failures, retry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Static

from installer.errors import Problem
from screens.base import EventLog, GoTo, InvalidStep, StepScreen, hanging
from screens.state import SmokeSkipped

if TYPE_CHECKING:
    from installer.engine import Prepared

FIX_STEPS = {"uploads": "uploads", "access": "access", "address": "address", "tls": "address"}
# failures no wizard step can fix: DNS, load balancers, firewalls, pods that are not ready yet
OUTSIDE_THE_WIZARD = ("does not resolve", "connection refused", "within", "could not get an answer")
SKIPPED = (
    "Skipped: the install did not wait for the registry pods, so the registry may not be up yet.\n"
    "Run `registry-installer smoke` later to push a test image."
)

__all__ = ["SmokeScreen", "SmokeSkipped", "fixing_step"]


def status_command(prepared: Prepared) -> str:
    """The command that shows whether the registry's pods are up (the CLI's `status`)."""
    plan = prepared.plan
    return f"registry-installer status --namespace {plan.namespace} --release {plan.release}"


def not_waited(prepared: Prepared) -> str:
    return (
        "Not run yet: you continued without waiting for the registry's pods, so the registry is installed but "
        f"not verified. `{escape(status_command(prepared))}` shows the pods; Retry (Ctrl+R) pushes once they are "
        "ready (or `registry-installer smoke` later)."
    )


def fixing_step(diagnosis: Any) -> str | None:
    """The wizard step whose settings cause this failure, or None when the fix is outside the wizard."""
    if diagnosis is None or any(words in diagnosis.cause for words in OUTSIDE_THE_WIZARD):
        return None
    return FIX_STEPS.get(diagnosis.fix_screen or "")


class SmokeScreen(StepScreen):
    step_key = "smoke"
    heading = "Smoke test: push an image and read it back"
    next_label = "Finish ▸"
    BINDINGS = [Binding("ctrl+r", "retry", "Retry")]

    def __init__(self, session, prepared: Prepared, waited: bool = True, pushed: Any = None) -> None:
        super().__init__()
        self.session, self.prepared = session, prepared
        self.result: Any = None
        # the install stopped waiting for the pods ("continue without waiting"): no push yet, Retry when ready
        self.waited = waited
        # the Install step's pipeline pushed already (engine.install: apply, then the smoke push): show that result
        self.pushed = pushed
        self.running = session.smoke_enabled and waited and pushed is None
        self.dns_target: str | None = None

    def compose_body(self) -> ComposeResult:
        host = escape(self.prepared.plan.registry_host)
        if self.running:
            first = f"Pushing to [b]{host}[/b]…"
        elif self.pushed is not None:
            first = f"The install pushed a test image to [b]{host}[/b] and read it back:"
        else:
            first = SKIPPED if self.waited else not_waited(self.prepared)
        yield EventLog(first, last_only=True, id="smoke-progress")
        yield Static("", id="smoke-result")
        yield Static("", id="dns-target")
        with Horizontal(id="override", classes="file-row hidden"):
            yield Label("Push through (HOST[:PORT])")
            yield Input(placeholder="(the ingress address)", id="smoke-address")
        with Horizontal(classes="file-row"):
            yield Button("Retry (Ctrl+R)", id="retry", classes="hidden", compact=True)
            yield Button("Go to the step that fixes it", id="fix", classes="hidden", compact=True)

    def on_mount(self) -> None:
        if not self.waited and self.session.smoke_enabled:  # Retry pushes once the pods are up
            self.query_one("#retry").remove_class("hidden")
        if self.pushed is not None:
            self.smoke_finished(self.pushed, focus=False)  # StepScreen's on_mount (after this one) focuses
            self.find_dns_target()
        if self.running:
            self.smoke_worker(None)
            self.find_dns_target()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return not self.running and self.session.smoke_enabled
        return super().check_action(action, parameters)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def smoke_worker(self, address: str | None) -> Any:
        return self.session.smoke(self.prepared, self.report, address)

    @work(thread=True, exclusive=True, exit_on_error=False, group="dns")
    def find_dns_target(self) -> str | None:
        return self.session.dns_target(self.prepared)

    def worker_done(self, name: str, result: Any) -> None:
        if name == "find_dns_target":
            self.show_dns_target(result)
        else:
            self.smoke_finished(result)

    def worker_failed(self, name: str, error: Exception, problem: Problem) -> None:
        if name == "find_dns_target":
            self.show_dns_target(None)  # not knowing the address is not an error: the screen says how to find it
        else:  # the smoke test explains its own failures; anything else is shown as it is
            self.smoke_finished(error)

    def show_dns_target(self, target: str | None) -> None:
        self.dns_target = target
        hosts = ", ".join(self.prepared.plan.choices.exposure.hosts)
        where = escape(target) if target else "the ingress controller's external address (the cluster shows none yet)"
        self.query_one("#dns-target", Static).update(hanging(f"[b]DNS[/b]: {escape(hosts)} must point at {where}"))
        field = self.query_one("#smoke-address", Input)
        if target and not field.value:
            field.value = target.split(",")[0].split(" ")[0]

    def smoke_finished(self, result: Any, focus: bool = True) -> None:
        self.running = False
        self.refresh_bindings()
        self.result = result
        out = self.query_one("#smoke-result", Static)
        self.query_one("#retry").remove_class("hidden")
        if isinstance(result, Exception):
            out.update(hanging(f"[$error]✗ the smoke test could not run:[/] {escape(str(result))}"))
        elif result.ok:
            out.update(
                f"[$success]✓ pushed and read back[/] {result.bytes / 2**20:.1f} MiB at {result.throughput_mib_s:.1f} "
                "MiB/s"
            )
            self.query_one("#retry").add_class("hidden")
            self.query_one("#fix").add_class("hidden")
        else:
            diagnosis = result.diagnosis
            out.update(
                hanging(
                    f"[$error]✗ {escape(diagnosis.cause)}[/]\n  fix: {escape(diagnosis.fix)}\n  "
                    f"[dim]{escape(diagnosis.detail)}[/]"
                )
            )
            if "does not resolve" in diagnosis.cause:
                self.query_one("#override").remove_class("hidden")
            else:
                self.query_one("#fix").set_class(fixing_step(diagnosis) is None, "hidden")
        if focus:
            self.focus_first_field()

    def focus_first_field(self) -> None:
        """Before a result: the first field; after one, what it asks for: the address to push through when the
        name does not resolve, the step that fixes it, Retry, or Finish."""
        if self.result is None:
            super().focus_first_field()
            return
        diagnosis = getattr(self.result, "diagnosis", None)
        if diagnosis is not None and "does not resolve" in diagnosis.cause:
            wanted = "#smoke-address"
        elif fixing_step(diagnosis):
            wanted = "#fix"
        else:
            wanted = "#retry" if not self.query_one("#retry").has_class("hidden") else "#next"
        self.query_one(wanted).focus()

    def action_retry(self) -> None:
        if self.running or not self.session.smoke_enabled:
            return
        address = None
        if not self.query_one("#override").has_class("hidden"):
            address = self.query_one("#smoke-address", Input).value.strip() or None
            wrong = self.session.check_smoke_address(address) if address else None
            if wrong:
                self.show_problems(
                    [Problem("Push through", wrong, "the ingress controller's external IP or name, optionally :443")]
                )
                return
        self.show_problems([])
        self.running = True
        self.refresh_bindings()
        self.result = None
        self.query_one("#smoke-result", Static).update("")
        self.query_one("#fix").add_class("hidden")
        self.query_one("#smoke-progress #steps", Static).update(
            f"Pushing to [b]{escape(address or self.prepared.plan.registry_host)}[/b]…"
        )
        self.smoke_worker(address)

    @on(Button.Pressed, "#retry")
    def retry_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_retry()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.prevent_default()  # Enter in the address retries: StepScreen's handler (Next) must not run too
        event.stop()
        self.action_retry()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.prevent_default()  # the address override is checked when Retry runs (not by StepScreen's check)

    @on(Button.Pressed, "#fix")
    def fix_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        step = fixing_step(getattr(self.result, "diagnosis", None))
        if step:
            self.dismiss(GoTo(step))

    def build_section(self):
        if self.running:
            raise InvalidStep([Problem("", "the smoke push is still running", "wait a moment")])
        return self.result if self.result is not None else SmokeSkipped("no wait")

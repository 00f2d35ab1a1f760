"""Step 2, Probe: live progress while the cluster is examined, then what was found, in words."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from installer.errors import Problem
from screens.base import EventLog, InvalidStep, StepScreen, hanging

if TYPE_CHECKING:
    from installer.probe import ProbeResult


def probe_summary(result: ProbeResult) -> str:
    """Rich markup describing what the probe found."""
    lines = [
        f"Kubernetes [b]{escape(result.server_version)}[/b] at {escape(result.server or '?')}, as "
        f"{escape(result.user or 'unknown')}"
    ]
    lines.append("[b]Storage classes[/b]")
    for sc in result.storage_classes:
        flags = ", ".join(
            f
            for f in ("default" if sc.is_default else "", "expandable" if sc.allow_expansion else "not expandable")
            if f
        )
        lines.append(f"  • {escape(sc.name)} ({escape(sc.provisioner)}; {flags})")
    if not result.storage_classes:
        lines.append("  none")
    lines.append("[b]Ingress classes[/b]")
    for ic in result.ingress_classes:
        lines.append(f"  • {escape(ic.name)} → {escape(ic.controller)}{' (default)' if ic.is_default else ''}")
    if not result.ingress_classes:
        lines.append("  none")
    if result.cert_manager:
        issuers = ", ".join(i.label() for i in result.issuers) or "no issuers yet"
        lines.append(f"[b]cert-manager[/b]: installed; {escape(issuers)}")
    else:
        lines.append("[b]cert-manager[/b]: not installed")
    if result.release is not None:
        rel = result.release
        lines.append(
            f"[b]Installed release[/b]: {escape(rel.name)} revision {rel.revision} ({escape(rel.status)}, "
            f"{escape(rel.chart)}) — the next steps show its settings; change what you need"
        )
    else:
        lines.append("[b]Installed release[/b]: none (first install)")
    warnings = result.warnings()
    if warnings:
        lines.append("[b $warning]Warnings[/]")
        lines += [f"  [$warning]![/] {escape(w)}" for w in warnings]
    return "\n".join(lines)


class ProbeScreen(StepScreen):
    step_key = "probe"
    heading = "Probe: what does the cluster offer?"
    FAILURE_WORDS = {
        "run_probe": ("the probe failed", "retry with Esc then Next, or check `kubectl cluster-info`"),
    }

    def __init__(self, session, namespace: str, release: str) -> None:
        super().__init__()
        self.session, self.namespace, self.release = session, namespace, release
        self.result: ProbeResult | None = None
        self.failure: Problem | None = None
        self.next_requested = False
        self.helm: Any = None  # the session's HelmCheck once check_helm has run

    def compose_body(self) -> ComposeResult:
        yield EventLog("Probing…", last_only=True, id="progress")
        yield Static("", id="helm")
        yield Static("", id="found")

    def on_mount(self) -> None:
        self.run_probe()
        self.check_helm()

    @work(thread=True, exclusive=True, group="helm", exit_on_error=False)
    def check_helm(self):
        """helm is needed only to install, but told here: before every question is answered, not at Review."""
        return self.session.check_helm()

    def show_helm(self, helm) -> None:
        line = (
            f"[b]helm[/b]: [$success]✓[/] {escape(helm.words)}"
            if helm.ok
            else f"[b]helm[/b]: [$error]✗[/] {escape(helm.words)}\n    [i]fix:[/i] {escape(helm.fix)} "
            "(needed to install; the other steps work without it)"
        )
        self.query_one("#helm", Static).update(hanging(line))

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_probe(self) -> ProbeResult:
        return self.session.probe(self.namespace, self.release, self.report)

    def worker_done(self, name: str, result: ProbeResult) -> None:
        if name == "check_helm":
            self.helm = result
            self.show_helm(result)
            return
        self.result = result
        self.query_one("#found", Static).update(hanging(probe_summary(result)))
        self.check()
        self.query_one("#next").focus()
        if self.next_requested:
            if result.warnings():
                self.notify("The probe found warnings: read them, then Ctrl+N.", severity="warning", timeout=6)
            else:
                self.action_next()

    def action_next(self) -> None:
        if self.result is None and self.failure is None:
            # pressed before the probe finished: not dropped, remembered
            self.next_requested = True
            self.show_problems(
                [Problem("", "the probe is still running", "the wizard goes on by itself when it is done")]
            )
            return
        super().action_next()

    def worker_failed(self, name: str, error: Exception, problem: Problem) -> None:
        if name == "check_helm":  # check_helm catches what helm does; anything else is said, not fatal
            self.query_one("#helm", Static).update(f"helm: could not be checked: {escape(problem.message)}")
            return
        self.failure = problem
        self.check()

    def build_section(self) -> ProbeResult:
        if self.failure is not None:
            raise InvalidStep([self.failure])
        if self.result is None:
            raise InvalidStep([Problem("", "the probe is still running", "wait a moment")])
        return self.result

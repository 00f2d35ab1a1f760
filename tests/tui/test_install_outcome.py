"""What the Install step shows of the engine's events, and what quitting says after a failed install: each event
once in the log; a rolled-back install is not "nothing was changed"."""

from __future__ import annotations

import threading

from installer.engine import prepare
from installer.errors import InstallerError
from installer.events import Note, RolloutStatus, StepFinished, StepStarted
from installer.model import Choices, Exposure
from screens.app import make_app
from screens.state import WizardState
from tests.tui.conftest import running, wait_until, worker_finished

WAIT_NOTE = "helm deployed revision 1; waiting up to 10m for the registry's pods"


class RolledBackInstallSession:
    """Stands in for the session's install only (the real one is tested against the test cluster in
    test_cluster_wizard): it reports what the engine reports for a first install into a namespace it creates that is
    cancelled while the pods are awaited, then raises the engine's rollback error."""

    offline = False
    smoke_enabled = True

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def install(self, prepared, on_event, cancel, detach):
        for event in (
            StepStarted("namespace", "registry"),
            StepFinished("namespace", True, 0.1, "created"),
            StepStarted("helm", "upgrade --install"),
            StepFinished("helm", True, 1.0, "revision 1"),
            Note("wait", WAIT_NOTE),
            RolloutStatus("PersistentVolumeClaim", "docker-registry", "Provisioning", "waiting for the provisioner"),
        ):
            on_event(event)
        cancel.wait(60)
        raise InstallerError(
            "the install was cancelled. Nothing is left installed. The Secrets are as they were.",
            "fix the cause above and re-run",
        )

    def stop_install(self, timeout: float | None = None) -> bool:
        return True


def install_app():
    prepared = prepare(Choices(exposure=Exposure(hosts=["registry.example.com"])), None)
    state = WizardState(exposure=prepared.plan.choices.exposure, prepared=prepared)
    return make_app(session=RolledBackInstallSession(), start_at="install", state=state)


async def test_each_engine_event_shows_once_in_the_install_log():
    """The coordinator's walk at 80x24: every `note:` and `rollout:` line showed twice (the Install step's handler
    called super(), and Textual calls the base class's handler as well)."""
    app = install_app()
    async with running(app) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: any(line.startswith("rollout:") for line in screen.log_lines), 30)
        await pilot.pause()
        assert screen.log_lines.count(f"note: {WAIT_NOTE}") == 1, screen.log_lines
        rollout = "rollout: PersistentVolumeClaim docker-registry: Provisioning (waiting for the provisioner)"
        assert screen.log_lines.count(rollout) == 1, screen.log_lines
        assert screen.waiting  # the Install step still reacts to the note (Continue without waiting is offered)
        await pilot.press("ctrl+x")
        await worker_finished(pilot, "apply_worker", 30)


async def test_quit_after_a_rolled_back_install_says_it_was_tried_and_what_is_left():
    """Install, Cancel (rolled back), then Quit: the summary said "Nothing was changed on the cluster." with exit code
    0, but the install ran, was rolled back, and left the namespace it created."""
    app = install_app()
    async with running(app) as pilot:
        await wait_until(pilot, lambda: app.screen.waiting, 30, what="the wait for the pods")
        await pilot.press("ctrl+x")
        await worker_finished(pilot, "apply_worker", 30)
        assert app.screen.failure is not None and not app.installing
        back_to_review = app.screen.query_one("#next")
        assert str(back_to_review.label) == "◂ Back to Review" and back_to_review.region.right <= 80
        assert not app.screen.query_one("#back").display  # one way back, not two cut at 80 columns
        await pilot.press("ctrl+q")
    summary = " ".join(app.summary.split())
    assert "Nothing was changed" not in summary
    assert "install of release docker-registry in namespace docker-registry was tried and failed" in summary, summary
    assert "rolled back" in summary and "Nothing is left installed" in summary
    assert "Namespace docker-registry, created by the install, is still there" in summary
    assert app.return_code == 1


async def test_install_status_line_fits_80_columns_while_waiting():
    """At 80x24, "running — 29s elapsed" and both buttons in one row: "elapsed" wrapped to the next line before."""
    app = install_app()
    async with running(app, size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.waiting, 30, what="the wait for the pods")
        await wait_until(pilot, lambda: screen.query_one("#detach").region.width > 0, 10, what="the detach button")
        status = screen.query_one("#install-status")
        text = str(status.render())
        assert text.startswith("running — ") and text.endswith("s elapsed"), text
        assert status.size.height == 1 and len(text) <= status.content_size.width, (text, status.content_size)
        for button in ("#detach", "#cancel"):
            region = screen.query_one(button).region
            assert region.height == 1 and region.right <= 80, (button, region)
        await pilot.press("ctrl+x")
        await worker_finished(pilot, "apply_worker", 30)

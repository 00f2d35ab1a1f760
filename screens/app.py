"""The wizard app: one list of steps, each screen returning its section, and make_app() to build it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from installer.model import Auth, Choices, Extras, Target
from installer.session import WizardSession
from screens.access import AccessScreen
from screens.address import AddressScreen
from screens.base import GoBack, GoTo
from screens.cluster import ClusterChoice, ClusterScreen
from screens.done import DoneScreen
from screens.install import InstallScreen
from screens.probe import ProbeScreen
from screens.review import RenderedFiles, ReviewScreen
from screens.smoke import SmokeScreen
from screens.storage import StorageChoice, StorageScreen
from screens.uploads import UploadsScreen

if TYPE_CHECKING:
    from installer.probe import ProbeResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    needs_cluster: bool = False


STEPS = (
    Step("cluster", "Cluster"),
    Step("probe", "Probe", needs_cluster=True),
    Step("address", "Address"),
    Step("access", "Access"),
    Step("storage", "Storage"),
    Step("uploads", "Uploads"),
    Step("review", "Review"),
    Step("install", "Install", needs_cluster=True),
    Step("smoke", "Smoke", needs_cluster=True),
    Step("done", "Done"),
)


class ConfirmQuit(ModalScreen[bool]):
    """Asked before quitting while helm is running."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Stay")]

    def compose(self) -> ComposeResult:
        with Grid(id="confirm"):
            yield Label("An install is running. Quit anyway? helm is stopped and the release rolled back.", id="confirm-text")
            yield Button("Quit", id="quit", variant="error", compact=True)
            yield Button("Stay", id="stay", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#stay").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit")


class WizardApp(App[int]):
    """Gathers Choices one step at a time and shows what the engine does with them."""

    CSS_PATH = "app.tcss"
    TITLE = "registry-installer"
    BINDINGS = [Binding("ctrl+q", "request_quit", "Quit", priority=True)]
    steps = STEPS

    def __init__(self, session: WizardSession) -> None:
        super().__init__()
        self.session = session
        self.step_index = 0
        self.sections: dict[str, Any] = {"target": Target(context=session.context), "extras": Extras()}
        self.probe_result: ProbeResult | None = None
        self.prepared = None
        self.written: tuple = ()
        self.results: dict[str, Any] = {}
        self.reconfiguring = False
        self.installing = False
        self.exit_code = 0

    # -- the step list ------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.show_step(0)

    def step_bar_state(self, key: str) -> tuple[list[str], int, list[int]]:
        skipped = [i for i, step in enumerate(self.steps) if self.skipped(step)]
        return [s.label for s in self.steps], self.index_of(key), skipped

    def index_of(self, key: str) -> int:
        return next(i for i, step in enumerate(self.steps) if step.key == key)

    def skipped(self, step: Step) -> bool:
        return step.needs_cluster and self.session.offline

    def show_step(self, index: int) -> None:
        self.step_index = index
        step = self.steps[index]
        self.push_screen(self.screen_for(step.key), self.step_finished)

    def screen_for(self, key: str):
        builders: dict[str, Callable[[], Any]] = {
            "cluster": lambda: ClusterScreen(self.session, self.sections["target"], self.session.offline),
            "probe": lambda: ProbeScreen(self.session, self.sections["target"].namespace, self.sections["target"].release),
            "address": lambda: AddressScreen(self.session, self.sections.get("exposure"), self.probe_result),
            "access": lambda: AccessScreen(self.sections.get("auth")),
            "storage": lambda: StorageScreen(self.sections.get("storage"), self.probe_result, self.sections["extras"]),
            "uploads": lambda: UploadsScreen(self.sections.get("uploads")),
            "review": lambda: ReviewScreen(self.session, self.choices()),
            "install": lambda: InstallScreen(self.session, self.prepared),
            "smoke": lambda: SmokeScreen(self.session, self.prepared),
            "done": lambda: DoneScreen(self.session, self.prepared, self.choices(), self.written),
        }
        return builders[key]()

    def step_finished(self, result: Any) -> None:
        key = self.steps[self.step_index].key
        if isinstance(result, GoBack):
            if result.section is not None:
                self.record(key, result.section)
            self.show_step(self.neighbour(-1))
        elif isinstance(result, GoTo):
            self.show_step(self.index_of(result.step))
        elif key == "done":
            self.exit(self.exit_code, return_code=self.exit_code)
        else:
            self.record(key, result)
            self.show_step(self.neighbour(+1))

    def neighbour(self, direction: int) -> int:
        index = self.step_index + direction
        while 0 < index < len(self.steps) - 1 and self.skipped(self.steps[index]):
            index += direction
        return max(0, min(index, len(self.steps) - 1))

    def record(self, key: str, section: Any) -> None:
        """Keep what a step returned, so going back and forth shows it again."""
        if key == "cluster":
            assert isinstance(section, ClusterChoice)
            self.sections["target"] = section.target
        elif key == "probe":
            self.probe_result = section
            self.prefill_from_release(section)
        elif key == "storage":
            assert isinstance(section, StorageChoice)
            self.sections["storage"], self.sections["extras"] = section.storage, section.extras
        elif key in ("address", "access", "uploads"):
            self.sections[{"address": "exposure", "access": "auth"}.get(key, key)] = section
        elif key == "review":
            if isinstance(section, RenderedFiles):
                self.prepared, self.written = section.prepared, section.paths
            else:
                self.prepared = section
        else:
            self.results[key] = section

    def prefill_from_release(self, probe: ProbeResult) -> None:
        """Reconfigure: the first time an installed release is seen, every step starts from its values."""
        if probe.release is None or self.reconfiguring:
            return
        target = self.sections["target"]
        try:
            existing = self.session.existing_setup(probe, target)
        except Exception as exc:  # a release we cannot read back is installed over like a first install
            log.warning("cannot read the installed release's settings: %s", exc)
            self.notify(f"The installed release's settings could not be read back ({exc}); starting from defaults.", severity="warning")
            return
        self.reconfiguring = True
        for name in ("exposure", "auth", "storage", "uploads", "extras"):
            self.sections[name] = getattr(existing, name)

    def choices(self) -> Choices:
        return Choices(target=self.sections["target"], chart=self.session.chart, exposure=self.sections["exposure"],
                       auth=self.sections.get("auth") or Auth(), storage=self.sections.get("storage") or Choices.model_fields["storage"].default,
                       uploads=self.sections.get("uploads") or Choices.model_fields["uploads"].default, extras=self.sections["extras"])

    # -- quitting -----------------------------------------------------------------------------

    def action_request_quit(self) -> None:
        if not self.installing:
            self.exit(self.exit_code)
            return

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                cancel = next((s.cancel for s in self.screen_stack if hasattr(s, "cancel")), None)
                if cancel is not None:
                    cancel.set()
                self.exit_code = 1
                self.exit(1, return_code=1)

        self.push_screen(ConfirmQuit(), answered)


def make_app(context: str | None = None, kubeconfig: str | None = None, helm: str = "helm",
             session: WizardSession | None = None) -> WizardApp:
    """The wizard, for the entry point and the tests alike."""
    return WizardApp(session or WizardSession(context, kubeconfig, helm))

"""The wizard app: one list of steps, each screen returning its section, and make_app() to build it."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen

from installer.model import Auth, Choices, Extras, Target
from installer.session import WizardSession
from screens.access import AccessScreen
from screens.address import AddressScreen
from screens.base import Confirm, GoBack, GoTo
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


FOCUS_MOVING_KEYS = frozenset({"tab", "shift+tab", "enter", "ctrl+n", "escape", "ctrl+o", "ctrl+p"})


async def settled(slice_s: float = 0.01, quiet_slices: int = 2, limit_s: float = 1.0) -> None:
    """Wait until the UI thread has had nothing to do for a few short slices (at most `limit_s`).

    The UI thread's own CPU time is measured, so workers busy in threads (a probe, helm) do not count."""
    started = time.monotonic()
    quiet = 0
    while quiet < quiet_slices and time.monotonic() - started < limit_s:
        before = time.thread_time()
        await asyncio.sleep(slice_s)
        quiet = quiet + 1 if time.thread_time() - before < slice_s / 20 else 0


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


class ConfirmQuit(Confirm):
    """Asked once before quitting while helm is running (Ctrl+Q, Ctrl+C, the command palette's Quit)."""

    def __init__(self) -> None:
        super().__init__(
            "An install is running. Quit anyway? helm is stopped and the release rolled back first; "
            "the wizard shows the rollback and quits when it is done.",
            "Quit",
        )


class WizardApp(App[int]):
    """Gathers Choices one step at a time and shows what the engine does with them."""

    CSS_PATH = "app.tcss"
    TITLE = "registry-installer"
    BINDINGS = [
        Binding("ctrl+q", "request_quit", "Quit", priority=True),
        Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True),
    ]
    QUIT_SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")
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
        self.quitting: str | None = None  # why the wizard is stopping an install to quit
        self.summary = ""  # one paragraph printed after the wizard's screen is gone
        self._signals: list[int] = []
        self._held_keys: list[events.Key] | None = None  # keys typed while focus may be moving
        self._settling: Any = None

    # -- typed-ahead keys -----------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        """Keys typed after one that moves focus (Tab, Enter, Ctrl+N, Esc...) wait until the focus has moved, then
        go to the widget that has it: a password manager's auto-type (`user`, Tab, `password`) fills both fields.
        Textual forwards each key to the widget focused when the key *arrives*, before the Tab has been handled."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self._held_keys is not None:
                self._held_keys.append(event)
                return
            await super().on_event(event)
            if event.key in FOCUS_MOVING_KEYS:
                self._held_keys = []
                self._settling = asyncio.get_running_loop().create_task(self._release_held_keys())
            return
        await super().on_event(event)

    async def _release_held_keys(self) -> None:
        await settled()
        held, self._held_keys = self._held_keys or [], None
        for key in held:  # back through on_event, in order: a held Tab holds the keys after it again
            self.post_message(events.Key(key.key, key.character))

    # -- the step list ------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.catch_signals()
        self.show_step(0)

    def catch_signals(self) -> None:
        """SIGTERM, SIGHUP (the terminal closed) and SIGINT stop an install cleanly instead of killing the
        wizard with helm left running: nobody is there to confirm, so they quit as a confirmed Quit does."""
        import asyncio
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for name in self.QUIT_SIGNALS:
            number = getattr(signal, name)
            try:
                loop.add_signal_handler(number, self.quit_now, name)
            except (ValueError, RuntimeError, NotImplementedError):
                continue
            self._signals.append(number)

    def on_unmount(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        for number in self._signals:
            loop.remove_signal_handler(number)
        self._signals.clear()

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

    def exposure_via_gateway(self) -> bool:
        exposure = self.sections.get("exposure")
        return exposure is not None and exposure.gateway is not None

    def screen_for(self, key: str):
        builders: dict[str, Callable[[], Any]] = {
            "cluster": lambda: ClusterScreen(self.session, self.sections["target"], self.session.offline),
            "probe": lambda: ProbeScreen(
                self.session, self.sections["target"].namespace, self.sections["target"].release
            ),
            "address": lambda: AddressScreen(self.session, self.sections.get("exposure"), self.probe_result),
            "access": lambda: AccessScreen(self.sections.get("auth"), gateway=self.exposure_via_gateway()),
            "storage": lambda: StorageScreen(self.sections.get("storage"), self.probe_result, self.sections["extras"]),
            "uploads": lambda: UploadsScreen(self.sections.get("uploads")),
            "review": lambda: ReviewScreen(self.session, self.choices()),
            "install": lambda: InstallScreen(self.session, self.prepared),
            "smoke": lambda: SmokeScreen(self.session, self.prepared),
            "done": lambda: DoneScreen(
                self.session,
                self.prepared,
                self.choices(),
                self.written,
                self.results.get("install"),
                self.results.get("smoke"),
            ),
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
            self.summary = self.summary_after_done()
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
            self.notify(
                f"The installed release's settings could not be read back ({exc}); starting from defaults.",
                severity="warning",
            )
            return
        self.reconfiguring = True
        for name in ("exposure", "auth", "storage", "uploads", "extras"):
            self.sections[name] = getattr(existing, name)

    def choices(self) -> Choices:
        return Choices(
            target=self.sections["target"],
            chart=self.session.chart,
            exposure=self.sections["exposure"],
            auth=self.sections.get("auth") or Auth(),
            storage=self.sections.get("storage") or Choices.model_fields["storage"].default,
            uploads=self.sections.get("uploads") or Choices.model_fields["uploads"].default,
            extras=self.sections["extras"],
        )

    # -- quitting -----------------------------------------------------------------------------

    def action_quit(self) -> None:
        """The command palette's Quit: the same path as Ctrl+Q."""
        self.action_request_quit()

    def action_help_quit(self) -> None:
        self.action_request_quit()

    def action_request_quit(self) -> None:
        if self.quitting:
            self.notify("Stopping helm and rolling back: the wizard quits when that is done.", severity="warning")
            return
        if not self.installing:
            self.quit_now("you quit")
            return
        if isinstance(self.screen, ConfirmQuit):
            return  # one confirmation is enough

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.quit_now("you quit")

        self.push_screen(ConfirmQuit(), answered)

    def quit_now(self, reason: str) -> None:
        """Quit; during an install, first stop helm and show the rollback until it is done."""
        if not self.installing:
            if not self.summary:
                self.summary = self.summary_before_install()
            self.exit(self.exit_code, return_code=self.exit_code)
            return
        if self.quitting:
            return
        self.quitting = reason
        while isinstance(self.screen, ModalScreen):
            self.pop_screen()
        install = next((s for s in self.screen_stack if isinstance(s, InstallScreen)), None)
        if install is not None:
            install.stop_for_quit(reason)
        else:  # no Install step to show the rollback on: wait for the engine here
            self.session.stop_install()
            self.install_ended(
                self.sections["target"].release, self.sections["target"].namespace, None, "The install was stopped."
            )

    def install_ended(self, release: str, namespace: str, result: Any, failure: str | None) -> None:
        """The Install step's worker finished; when a quit was waiting for it, quit now with a summary."""
        self.installing = False
        if not self.quitting:
            return
        if failure is not None:
            self.summary = (
                f"Quit during the install ({self.quitting}): helm was stopped and the release rolled back. "
                f"{failure} The installer's lock on release {release} in namespace {namespace} is released "
                "and no helm process is left running. Run registry-installer again to install."
            )
            self.exit_code = 1
        else:
            self.summary = (
                f"Quit ({self.quitting}), but the install had already finished: release {release} is at revision "
                f"{getattr(result, 'revision', '?')} in namespace {namespace}; the smoke test did not run "
                "(`registry-installer smoke` runs it)."
            )
        self.exit(self.exit_code, return_code=self.exit_code)

    def summary_after_done(self) -> str:
        if self.prepared is None:
            return self.summary_before_install()
        plan = self.prepared.plan
        install = self.results.get("install")
        if install is None:
            return self.summary_before_install()
        smoke = self.results.get("smoke")
        if getattr(smoke, "ok", None) is True:
            verified = "the smoke test pushed an image and read it back"
        elif getattr(smoke, "ok", None) is False or isinstance(smoke, Exception):
            verified = "installed, NOT verified: the smoke test failed (`registry-installer smoke` retries it)"
        else:
            verified = "not verified: the smoke test did not run (`registry-installer smoke` runs it)"
        scheme = "https" if plan.tls_secret_name else "http"
        return (
            f"Installed release {plan.release} (revision {getattr(install, 'revision', '?')}) in namespace "
            f"{plan.namespace}; the registry is at {scheme}://{plan.registry_host}; {verified}."
        )

    def summary_before_install(self) -> str:
        if self.results.get("install") is not None or self.summary:
            return self.summary
        if self.written:
            return (
                "Nothing was changed on any cluster; the files are written: "
                + ", ".join(str(p) for p in self.written)
                + "."
            )
        return "Nothing was changed on the cluster."


def make_app(
    context: str | None = None, kubeconfig: str | None = None, helm: str = "helm", session: WizardSession | None = None
) -> WizardApp:
    """The wizard, for the entry point and the tests alike."""
    return WizardApp(session or WizardSession(context, kubeconfig, helm))

"""The wizard app: the step table (one row per step), the typed WizardState the steps fill, and make_app()."""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen

from installer.session import WizardSession
from screens.base import Confirm, GoBack, GoTo
from screens.cluster import ClusterScreen
from screens.state import WizardState

if TYPE_CHECKING:  # msgspec and the Choices model load after the first frame (bench/startup.py)
    from installer.model import Choices
    from installer.probe import ProbeResult
    from screens.status import StatusSeen

log = logging.getLogger(__name__)


def _later(module: str, name: str) -> Callable[..., Screen[Any]]:
    """A later step's screen class, imported when the step is first shown: the first frame needs only the Cluster
    step's (importing every screen up front cost ~20 ms of CPU before it, and grows with each step added)."""
    return getattr(importlib.import_module(f"screens.{module}"), name)


STEPS_CSS = "steps.tcss"
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
    """One row of the step table: everything the wizard knows about a step is here.

    Attributes:
        key: how the code names it (GoTo(key), start_at=key).
        label: its name in the step bar.
        screen: builds its screen from the app (the session, and `app.state` for what earlier steps answered).
        section: the WizardState field its answer is kept in (None: nothing to keep; an answer with a
            `sections()` method fills several).
        needs_cluster: skipped offline (struck through in the step bar).
        shown: when given, the step exists only while this holds (hidden from the step bar otherwise),
            e.g. `lambda app: app.state.probe is not None and app.state.probe.release is not None`.
        then: called with the app and the answer after it is kept (Probe: start from an installed release).
    """

    key: str
    label: str
    screen: Callable[[WizardApp], Screen[Any]]
    section: str | None = None
    needs_cluster: bool = False
    shown: Callable[[WizardApp], bool] | None = None
    then: Callable[[WizardApp, Any], None] | None = None


STEPS: tuple[Step, ...] = (
    Step("cluster", "Cluster", lambda app: ClusterScreen(app.session, app.state.target, app.session.offline)),
    Step(
        "probe",
        "Probe",
        lambda app: _later("probe", "ProbeScreen")(
            app.session, app.state.chosen_target.namespace, app.state.chosen_target.release
        ),
        "probe",
        needs_cluster=True,
        then=lambda app, probe: app.prefill_from_release(probe),
    ),
    Step(
        "status",
        "Status",
        lambda app: _later("status", "StatusScreen")(
            app.session, app.state.chosen_target.namespace, app.state.chosen_target.release
        ),
        needs_cluster=True,
        shown=lambda app: app.state.probe is not None and app.state.probe.release is not None,
        then=lambda app, seen: app.start_after_status(seen),
    ),
    Step(
        "address",
        "Address",
        lambda app: _later("address", "AddressScreen")(app.session, app.state.exposure, app.state.probe),
        "exposure",
    ),
    Step(
        "access",
        "Access",
        lambda app: _later("access", "AccessScreen")(
            app.state.auth, app.state.via_gateway, app.session, app.state.exposure, app.state.probe
        ),
        "auth",
    ),
    Step(
        "storage",
        "Storage",
        lambda app: _later("storage", "StorageScreen")(
            app.state.storage, app.state.probe, app.state.extras, app.session, app.state.target
        ),
    ),
    Step(
        "clients",
        "Clients",
        lambda app: _later("clients", "ClientsScreen")(app.session, app.state.clients, app.choices(), app.state.probe),
        "clients",
    ),
    Step("uploads", "Uploads", lambda app: _later("uploads", "UploadsScreen")(app.state.uploads), "uploads"),
    Step("review", "Review", lambda app: _later("review", "ReviewScreen")(app.session, app.choices()), "prepared"),
    Step(
        "install",
        "Install",
        lambda app: _later("install", "InstallScreen")(app.session, app.state.reviewed),
        "install",
        needs_cluster=True,
    ),
    Step(
        "smoke",
        "Smoke",
        lambda app: _later("smoke", "SmokeScreen")(
            app.session,
            app.state.reviewed,
            waited=getattr(app.state.install, "ready", None) is not False,
            pushed=getattr(app.state.install, "smoke", None),
        ),
        "smoke",
        needs_cluster=True,
    ),
    Step(
        "done",
        "Done",
        lambda app: _later("done", "DoneScreen")(
            app.session, app.state.reviewed, app.choices(), app.state.written, app.state.install, app.state.smoke
        ),
    ),
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

    CSS_PATH = "app.tcss"  # and STEPS_CSS, from the second step on (add_steps_css)
    TITLE = "registry-installer"
    BINDINGS = [
        Binding("ctrl+q", "request_quit", "Quit", priority=True),
        Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True),
    ]
    QUIT_SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")
    steps = STEPS
    session: WizardSession
    state: WizardState
    installing: reactive[bool] = reactive(False)  # an install runs: quitting asks first and stops helm
    quitting: reactive[str | None] = reactive(None)  # why the wizard is stopping an install to quit

    def __init__(
        self,
        session: WizardSession,
        workdir: Path | None = None,
        start_at: str | None = None,
        state: WizardState | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.workdir = Path(workdir) if workdir is not None else None
        self.state = state or WizardState()  # the Cluster step starts from session.context
        self.start_at = start_at or self.steps[0].key
        self.index_of(self.start_at)  # an unknown step fails here, not later
        self.step_index = 0
        self.exit_code = 0
        self.summary = ""  # one paragraph printed after the wizard's screen is gone
        self.created_namespaces: set[str] = set()  # by an install of this run (a rollback leaves them)
        self.failed_install: str | None = None  # the last install failed and was rolled back: what the summary says
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
        self.show_step(self.index_of(self.start_at))

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
        """The labels the step bar shows (steps that do not apply are left out), the current one, the skipped ones."""
        present = [step for step in self.steps if self.applies(step)]
        skipped = [i for i, step in enumerate(present) if self.skipped(step)]
        current = next((i for i, step in enumerate(present) if step.key == key), 0)
        return [s.label for s in present], current, skipped

    def index_of(self, key: str) -> int:
        for i, step in enumerate(self.steps):
            if step.key == key:
                return i
        raise KeyError(f"no wizard step {key!r}; the steps are {', '.join(s.key for s in self.steps)}")

    def applies(self, step: Step) -> bool:
        return step.shown is None or step.shown(self)

    def skipped(self, step: Step) -> bool:
        return (step.needs_cluster and self.session.offline) or not self.applies(step)

    def show_step(self, index: int) -> None:
        self.step_index = index
        if index > 0:
            self.add_steps_css()
        self.push_screen(self.steps[index].screen(self), self.step_finished)

    def add_steps_css(self) -> None:
        """steps.tcss, the rules only the steps after Cluster use, added to the stylesheet before the first of them is
        shown (after app.tcss's rules, as if they ended it): the Cluster step's first frame does without them."""
        path = Path(__file__).with_name(STEPS_CSS)
        if not self.stylesheet.has_source(str(path)):
            self.stylesheet.add_source(path.read_text(encoding="utf-8"), read_from=(str(path), ""))

    def step_finished(self, result: Any) -> None:
        step = self.steps[self.step_index]
        if isinstance(result, GoBack):
            if result.section is not None:
                self.keep(step, result.section)
            self.show_step(self.neighbour(-1))
        elif isinstance(result, GoTo):
            self.show_step(self.index_of(result.step))
        elif step.key == self.steps[-1].key:
            self.summary = self.summary_after_done()
            self.exit(self.exit_code, return_code=self.exit_code)
        else:
            self.keep(step, result)
            self.show_step(self.neighbour(+1))

    def keep(self, step: Step, answer: Any) -> None:
        """Keep what a step returned, so going back and forth shows it again."""
        self.state.keep(step.section, answer)
        if step.then is not None:
            step.then(self, answer)

    def neighbour(self, direction: int) -> int:
        index = self.step_index + direction
        while 0 < index < len(self.steps) - 1 and self.skipped(self.steps[index]):
            index += direction
        return max(0, min(index, len(self.steps) - 1))

    def prefill_from_release(self, probe: ProbeResult) -> None:
        """Reconfigure: the first time an installed release is seen, every step starts from its values."""
        if probe.release is None or self.state.reconfiguring:
            return
        target = self.state.chosen_target
        try:
            existing = self.session.existing_setup(probe, target)
        except Exception as exc:  # a release we cannot read back is installed over like a first install
            log.warning("cannot read the installed release's settings: %s", exc)
            self.notify(
                f"The installed release's settings could not be read back ({exc}); starting from defaults.",
                severity="warning",
            )
            return
        self.state.start_from(existing)

    def start_after_status(self, seen: StatusSeen) -> None:
        """Grow or Collect garbage on the Status view made a new revision: the steps start from it instead."""
        if seen.probe is not None:
            self.state.probe, self.state.reconfiguring = seen.probe, False
            self.prefill_from_release(seen.probe)

    def choices(self) -> Choices:
        return self.state.choices(self.session.chart)

    # -- quitting -----------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """The command palette's Quit: the same path as Ctrl+Q."""
        self.action_request_quit()

    def action_help_quit(self) -> None:
        self.action_request_quit()

    def action_request_quit(self) -> None:
        if self.quitting:
            self.notify("Stopping what runs first: the wizard quits when that is done.", severity="warning")
            return
        busy = self.busy_step()
        if not self.installing and busy is None:
            self.quit_now("you quit")
            return
        if isinstance(self.screen, Confirm):
            return  # one question at a time: answer it first

        def answered(quit_now: bool | None) -> None:
            if quit_now:
                self.quit_now("you quit")

        self.push_screen(ConfirmQuit() if self.installing else Confirm(busy.quit_question(), "Quit"), answered)

    def busy_step(self) -> Any:
        """The step screen running something a quit must stop first (the Status view's garbage collection), or None:
        such a step has `quit_question()` (a question, or None when idle) and `stop_for_quit(reason)`, and calls
        `action_quit_done(summary)` when it has stopped."""
        for screen in reversed(self.screen_stack):
            question = getattr(screen, "quit_question", None)
            if question is not None and question():
                return screen
        return None

    def action_quit_done(self, summary: str) -> None:
        """A busy step stopped what it ran for a quit: quit with its summary."""
        self.summary = summary
        self.exit(self.exit_code, return_code=self.exit_code)

    def quit_now(self, reason: str) -> None:
        """Quit; during an install, first stop helm and show the rollback until it is done (and likewise a step's
        garbage collection: `busy_step`)."""
        busy = None if self.installing or self.quitting else self.busy_step()
        if busy is not None:
            while isinstance(self.screen, ModalScreen):
                self.pop_screen()
            self.quitting = reason
            busy.stop_for_quit(reason)
            return
        if not self.installing:
            if not self.summary:
                self.summary = self.summary_before_install()
            self.exit(self.exit_code, return_code=self.exit_code)
            return
        if self.quitting:
            return
        while isinstance(self.screen, ModalScreen):
            self.pop_screen()
        self.quitting = reason  # the Install step watches this: it shows the rollback and calls install_ended
        self.session.stop_install(timeout=0)  # the session's cancel event: helm stops, the release rolls back
        if self.steps[self.step_index].key != "install":  # no Install step to show the rollback on
            self.session.stop_install()
            target = self.state.chosen_target
            self.install_ended(target.release, target.namespace, None, "The install was stopped.")

    def install_ended(
        self, release: str, namespace: str, result: Any, failure: str | None, created_namespace: bool = False
    ) -> None:
        """The Install step's worker finished; when a quit was waiting for it, quit now with a summary. A failed
        install is remembered for the summary of a later quit (it changed the cluster: `created_namespace`)."""
        self.installing = False
        if created_namespace:
            self.created_namespaces.add(namespace)
        created_namespace = namespace in self.created_namespaces  # by this install or an earlier try
        self.failed_install = (
            None if failure is None else self.failed_install_words(release, namespace, failure, created_namespace)
        )
        if not self.quitting:
            return
        if failure is not None:
            self.summary = (
                f"Quit during the install ({self.quitting}): helm was stopped and the release rolled back. "
                f"{failure} The installer's lock on release {release} in namespace {namespace} is released "
                f"and no helm process is left running.{self.namespace_left(namespace, created_namespace)} "
                "Run registry-installer again to install."
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
        if self.state.prepared is None:
            return self.summary_before_install()
        plan = self.state.prepared.plan
        install = self.state.install
        if install is None:
            return self.summary_before_install()
        smoke = self.state.smoke
        if getattr(smoke, "ok", None) is None and getattr(install, "ready", None) is False:
            verified = (
                "installed, not verified yet: you continued without waiting for the pods "
                f"(`registry-installer status --namespace {plan.namespace} --release {plan.release}` shows them)"
            )
        elif getattr(smoke, "ok", None) is True:
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

    @staticmethod
    def namespace_left(namespace: str, created: bool) -> str:
        """What a rolled-back first install leaves: the namespace it created (the rollback does not delete it)."""
        if not created:
            return ""
        return (
            f" Namespace {namespace}, created by the install, is still there (`kubectl delete namespace {namespace}` "
            "removes it; a re-run uses it)."
        )

    def failed_install_words(self, release: str, namespace: str, failure: str, created_namespace: bool) -> str:
        failure = " ".join(failure.split())
        return (
            f"The install of release {release} in namespace {namespace} was tried and failed; it was rolled back: "
            f"{failure}{self.namespace_left(namespace, created_namespace)} The registry is not installed: "
            "run registry-installer again to install."
        )

    def summary_before_install(self) -> str:
        if self.state.install is not None or self.summary:
            return self.summary
        if self.failed_install:  # not "nothing was changed": an install ran and was rolled back
            self.exit_code = 1
            return self.failed_install
        if self.state.written:
            return (
                "Nothing was changed on any cluster; the files are written: "
                + ", ".join(str(p) for p in self.state.written)
                + "."
            )
        return "Nothing was changed on the cluster."


def make_app(
    context: str | None = None,
    kubeconfig: str | None = None,
    helm: str = "helm",
    session: WizardSession | None = None,
    workdir: str | Path | None = None,
    start_at: str | None = None,
    state: WizardState | None = None,
) -> WizardApp:
    """The wizard, for the entry point and the tests alike.

    Args:
        workdir: the folder files are offered to be written to (default: the current directory).
        start_at: the key of the first step shown (tests start at a later step with `state` filled in).
        state: what earlier steps answered (default: nothing yet).
    """
    return WizardApp(
        session or WizardSession(context, kubeconfig, helm),
        workdir=Path(workdir) if workdir is not None else None,
        start_at=start_at,
        state=state,
    )

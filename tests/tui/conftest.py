"""Helpers for the wizard's pilot tests: a kubeconfig no cluster answers, running the wizard with a record of its
messages, and waiting on them (a worker's end, an engine event) or on what the screen shows."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
import yaml
from textual import events
from textual.message import Message
from textual.pilot import Pilot
from textual.worker import Worker, WorkerState

from installer.apply import ApplyOptions
from installer.events import StepStarted
from installer.model import Chart
from installer.session import WizardSession
from screens.app import WizardApp, make_app
from tests.conftest import CHART as CHART_DIR  # the real chart (a .tgz helm installs as is)

ROOT = Path(__file__).resolve().parents[2]


def write_kubeconfig(path: Path, server: str, context: str = "closed") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": "nobody", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": "nobody"}}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def closed_kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig whose API server is 127.0.0.1:1, where nothing listens (connection refused)."""
    return write_kubeconfig(tmp_path / "closed.kubeconfig", "https://127.0.0.1:1")


class MessageLog:
    """The messages the wizard dispatched, in order (Textual's `message_hook`, called as each message is handed to
    its handler; input and timer events are left out), and waiting for one.

    A bubbling message is dispatched once per node on its way up: it is recorded once."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.worker_ends: list[Worker.StateChanged] = []  # of those, the ones that say a worker ended (or failed)
        self._ids: set[int] = set()
        self._arrived = asyncio.Event()

    def __call__(self, message: Message) -> None:
        if not isinstance(message, events.Event) and id(message) not in self._ids:
            self._ids.add(id(message))
            self.messages.append(message)
            if isinstance(message, Worker.StateChanged) and message.state in (WorkerState.SUCCESS, WorkerState.ERROR):
                self.worker_ends.append(message)
        self._arrived.set()  # every dispatch: what a waiter checks may have changed (the screen on top, say)

    def after(self, message: Message) -> int:
        """Where the messages dispatched after `message` start (a `since` for wait_for_message)."""
        return next(i for i, m in enumerate(self.messages) if m is message) + 1

    async def wait(self, check: Callable[[], bool], timeout: float, what: str, app) -> None:
        """Until `check()` holds; it is asked again whenever a message is dispatched. Fails after `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            self._arrived.clear()
            left = deadline - asyncio.get_running_loop().time()
            try:
                await asyncio.wait_for(self._arrived.wait(), max(left, 0))
            except asyncio.TimeoutError:
                if check():
                    break
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; screen is {type(app.screen).__name__}"
                ) from None


_LOGS: dict[int, MessageLog] = {}  # id(app) → its log, while it runs


@asynccontextmanager
async def running(app: WizardApp, size: tuple[int, int] = (80, 24)) -> AsyncIterator[Pilot]:
    """`app.run_test` with a MessageLog of what it dispatches (`message_log(app)` while it runs), for
    `wait_for_message` and `worker_finished`."""
    log = _LOGS[id(app)] = MessageLog()
    try:
        async with app.run_test(size=size, message_hook=log) as pilot:
            yield pilot
    finally:
        del _LOGS[id(app)]


def message_log(app: WizardApp) -> MessageLog:
    try:
        return _LOGS[id(app)]
    except KeyError:
        raise AssertionError("no message log: run the app with `async with running(app) as pilot`") from None


async def wait_for_message(
    pilot, where: Callable[[Message], bool], timeout: float = 120.0, what: str = "the message", since: int = 0
) -> Message:
    """The first message from the `since`-th on (`len(message_log(app).messages)` taken before the action that
    posts it) for which `where(message)` holds, once its handler has run; waits for it to be dispatched."""
    log = message_log(pilot.app)
    found: list[Message] = []
    scanned = since

    def arrived() -> bool:
        nonlocal scanned
        while not found and scanned < len(log.messages):
            if where(log.messages[scanned]):
                found.append(log.messages[scanned])
            scanned += 1
        return bool(found)

    await log.wait(arrived, timeout, what, pilot.app)
    await pilot.pause()  # the hook runs just before the handler: let it (and what it asked for next) run
    return found[0]


def worker_ended(name: str) -> Callable[[Message], bool]:
    """For wait_for_message: the worker `name` (of whichever screen) ended, with its result or an error."""
    return lambda m: (
        isinstance(m, Worker.StateChanged)
        and m.worker.name == name
        and m.state in (WorkerState.SUCCESS, WorkerState.ERROR)
    )


def status_read(message: Message) -> bool:
    """For wait_for_message: the Status view read the release's status (or failed to)."""
    from screens.status import StatusScreen

    return isinstance(message, StatusScreen.StatusRead)


def action_finished(action: str) -> Callable[[Message], bool]:
    """For wait_for_message: the Status view's `action` ("gc", "grow") ended."""
    from screens.status import StatusScreen

    return lambda m: isinstance(m, StatusScreen.ActionFinished) and m.action == action


def push_finished(message: Message) -> bool:
    """For wait_for_message: the VM-disk form's push ended (pushed, refused or failed)."""
    from screens.push_disk import PushDiskScreen

    return isinstance(message, PushDiskScreen.PushFinished)


def reported(kind: type, step: str) -> Callable[[Message], bool]:
    """For wait_for_message: a step's worker reported the engine event `kind` (StepStarted, ...) of `step`."""
    return lambda m: isinstance(getattr(m, "event", None), kind) and m.event.step == step  # type: ignore[attr-defined]


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 60.0, what: str = "the condition") -> None:
    """Let the app run until `condition()` holds: for what the screen shows (which step is on top, a field's state);
    a worker's end or an engine event is waited for as a message (`worker_finished`, `wait_for_message`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the screen may be mid-switch; ask again
            pass
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; screen is {type(pilot.app.screen).__name__}")


async def worker_finished(pilot, name: str, timeout: float = 120.0, screen: str | None = None, times: int = 1) -> None:
    """Wait until the current step (or the step class `screen`, once it is shown) has handled the end of its worker
    `name` (`times` times: a retry runs it again): the Worker.StateChanged message (SUCCESS or ERROR) that StepScreen
    turns into worker_done / worker_failed."""
    app = pilot.app
    log = message_log(app)

    def handled() -> bool:
        current = app.screen
        ends = [m for m in log.worker_ends if m.worker.name == name and m.worker.node is current]
        return (screen is None or on_screen(app, screen)) and len(ends) >= times

    await log.wait(handled, timeout, f"the {name} worker's result", app)
    await pilot.pause()  # the hook runs just before the handler: let it (and what it asked for next) run


def on_screen(app: WizardApp, name: str) -> bool:
    return type(app.screen).__name__ == name


async def go_offline(pilot) -> None:
    """From the Cluster step with no cluster: press "Continue offline", land on Address."""
    app = pilot.app
    await wait_until(
        pilot,
        lambda: on_screen(app, "ClusterScreen") and not app.screen.query_one("#offline").has_class("hidden"),
        what="the no-cluster explanation",
    )
    await pilot.press("enter")  # the offline button has the focus
    await wait_until(pilot, lambda: on_screen(app, "AddressScreen"), what="the Address step")


async def offline_to_access(pilot, hosts: str = "registry.example.com") -> None:
    """Offline from the Cluster step, type `hosts` on Address, land on Access."""
    await go_offline(pilot)
    await type_text(pilot, hosts)
    await pilot.press("enter")  # Address → Access
    await wait_until(pilot, lambda: on_screen(pilot.app, "AccessScreen"), what="the Access step")


async def offline_to_new_user(pilot, name: str, hosts: str = "registry.example.com") -> None:
    """Offline to the Access step (`hosts` on Address) and type `name` into the new user's name field."""
    await offline_to_access(pilot, hosts)
    pilot.app.screen.query_one("#user-name").focus()
    await type_text(pilot, name)


async def offline_to_storage(pilot) -> None:
    """Offline, with the default host and users, to the Storage step."""
    await offline_to_access(pilot)
    await pilot.press("ctrl+n")
    await wait_until(pilot, lambda: on_screen(pilot.app, "StorageScreen"), what="the Storage step")


async def pick_file(pilot, field_id: str, wanted: Path, back_to: str) -> None:
    """Pick `wanted` with the keyboard file browser (Ctrl+O) opened from the field `field_id` in its folder; the
    browser closes back to the screen `back_to`."""
    app = pilot.app
    field = app.screen.query_one(field_id)
    field.value = str(wanted.parent)  # the picker opens in this folder
    field.focus()
    await pilot.press("ctrl+o")
    await wait_until(pilot, lambda: on_screen(app, "FilePicker"), what="the file picker")
    names = sorted(p.name for p in wanted.parent.iterdir())
    await wait_until(
        pilot, lambda: len(app.screen.query_one("#tree").root.children) == len(names), what="the folder listing"
    )
    await pilot.press(*["down"] * (names.index(wanted.name) + 1), "enter")
    await wait_until(pilot, lambda: on_screen(app, back_to), what=f"{back_to} again")


async def type_text(pilot, text: str) -> None:
    await pilot.press(*text)


def problems_text(app: WizardApp) -> str:
    """The problems panel's words (the panel itself is a renderable that keeps wrapped lines indented)."""
    from rich.text import Text

    if not app.screen.query_one("#problems").has_class("shown"):
        return ""
    return Text.from_markup(getattr(app.screen, "problems_shown", "")).plain


def offline_app_with_chart(kubeconfig: Path, chart: Path, workdir: Path | None = None) -> WizardApp:
    return make_app(session=WizardSession(kubeconfig=str(kubeconfig), chart=Chart(path=str(chart))), workdir=workdir)


def offline_app(kubeconfig: Path, workdir: Path | None = None) -> WizardApp:
    """The wizard with a kubeconfig no cluster answers; files are offered in `workdir` (default: the current one)."""
    return offline_app_with_chart(kubeconfig, CHART_DIR, workdir)


# -- against the real test cluster -------------------------------------------------------------


def cluster_session(cluster, helm: str = "helm3", **options) -> WizardSession:
    """No kubelet in the test cluster: pods never run, so by default no waiting and no smoke push.
    With wait=True helm waits for pods that never come: an install that runs until it is stopped."""
    from tests.conftest import helm_path

    apply_options = ApplyOptions(**{"wait": False, "smoke": False, "timeout": "2m", **options})
    return WizardSession(
        context=cluster.admin_context,
        kubeconfig=str(cluster.kubeconfig),
        helm_binary=str(helm_path(helm)),
        chart=Chart(path=str(CHART_DIR)),
        apply_options=apply_options,
    )


def node_session(node, helm: str = "helm4", **options) -> WizardSession:
    """The real node runs the pods: by default the install waits for them and the smoke push runs."""
    return cluster_session(node, helm, **{"wait": True, "smoke": True, "timeout": "4m", **options})


async def choose(pilot, select_id: str, downs: int) -> None:
    """Open a Select with Enter and move `downs` options down (keyboard only)."""
    select = pilot.app.screen.query_one(select_id)
    select.focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: select.expanded, 30, what=f"{select_id} to open")
    await pilot.press(*(["down"] * downs), "enter")
    await wait_until(pilot, lambda: not select.expanded, 30, what=f"{select_id} to close")


async def replace_text(pilot, input_id: str, text: str) -> None:
    pilot.app.screen.query_one(input_id).focus()
    await pilot.press("ctrl+u", "ctrl+k")
    await type_text(pilot, text)


async def next_step(pilot, screen: str, timeout: float = 120) -> None:
    await pilot.press("ctrl+n")
    await wait_until(pilot, lambda: on_screen(pilot.app, screen), timeout, what=screen)


async def connect_and_probe(pilot, namespace: str, release: str | None = None) -> None:
    """On the Cluster step: wait for the connection, set the target, run the probe."""
    app = pilot.app
    await worker_finished(pilot, "connect_worker", 120)
    assert app.screen.identity is not None, shown_text(app.screen.query_one("#identity"))
    await replace_text(pilot, "#namespace", namespace)
    if release:
        await replace_text(pilot, "#release", release)
    await next_step(pilot, "ProbeScreen")
    await worker_finished(pilot, "run_probe", 120)
    assert app.screen.result is not None, app.screen.failure


async def install_from_review(pilot, explain: Callable[[], str] = lambda: "") -> None:
    """On the Review step: wait for the plan, start the install, wait for it to end; a failure of either fails the
    test with the problem (and `explain()`: the node's state, say)."""
    app = pilot.app
    await worker_finished(pilot, "prepare_worker", 120)
    assert not app.screen.failure, app.screen.failure
    await next_step(pilot, "InstallScreen")
    await worker_finished(pilot, "apply_worker", 300)
    assert app.screen.failure is None, f"{app.screen.failure}\n{explain()}"


def node_app(node, ca, namespace: str, monkeypatch, helm: str = "helm4", **options) -> WizardApp:
    """The wizard on the real node (node_session), its pushes trusting `ca` (the ingress stand-in serves the
    certificate it signed), with the TLS Secret `registry-tls` made from it in `namespace`."""
    from tests.fixtures.node import tls_secret

    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    tls_secret(node, namespace, ca)
    return make_app(session=node_session(node, helm, **options))


async def keyboard_install(
    pilot, namespace: str, hosts: str, password: str | None = None, explain: Callable[[], str] = lambda: ""
) -> None:
    """From the Cluster step, by keyboard: connect, probe; Address: `hosts` with the existing TLS Secret
    `registry-tls`; Access: ingress basic auth for admin with `password` (None: as it comes); every other step as it
    comes; install and wait for it (install_from_review)."""
    await connect_and_probe(pilot, namespace)
    await next_step(pilot, "AddressScreen")
    await type_text(pilot, hosts)
    await choose(pilot, "#tls-mode", 1)  # existing Secret
    await replace_text(pilot, "#secret-name", "registry-tls")
    await next_step(pilot, "AccessScreen")
    if password is not None:
        await choose(pilot, "#auth-mode", 1)  # ingress basic auth
        await replace_text(pilot, "#user-name", "admin")
        await pilot.press("tab")
        await type_text(pilot, password)
        await pilot.press("enter")
    for step in ("StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
        await next_step(pilot, step)
    await install_from_review(pilot, explain)


async def to_running_install(pilot, namespace: str, host: str) -> None:
    """Connect, probe, type a host, accept every default, start the install, wait for helm to run."""
    app = pilot.app
    await connect_and_probe(pilot, namespace)
    await next_step(pilot, "AddressScreen")
    await type_text(pilot, host)
    for screen in ("AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
        await next_step(pilot, screen)
    await worker_finished(pilot, "prepare_worker", 120)
    assert not app.screen.failure, app.screen.failure
    since = len(message_log(app).messages)
    await next_step(pilot, "InstallScreen")
    await wait_for_message(pilot, reported(StepStarted, "helm"), 120, "helm to start", since)
    assert "helm" in app.screen.steps


def shown_text(widget, width: int = 200) -> str:
    """A Static's words as the screen shows them (markup strings and rich renderables alike), at `width` columns."""
    from rich.console import Console
    from rich.text import Text
    from textual.content import Content

    content = widget.content
    if isinstance(content, str):  # Textual's markup (theme colours such as [$success] are Textual's, not Rich's)
        content = Text(Content.from_markup(content).plain)
    with open("/dev/null", "w") as sink:
        console = Console(width=width, record=True, file=sink)
        console.print(content)
    return console.export_text()

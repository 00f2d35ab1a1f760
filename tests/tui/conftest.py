"""Helpers for the wizard's pilot tests: a kubeconfig no cluster answers, and waiting for workers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest
import yaml

from installer.apply import ApplyOptions
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


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 60.0, what: str = "the condition") -> None:
    """Let workers run until `condition()` holds (the kubernetes client is slow to import on a busy machine)."""
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
    `name` (`times` times: a retry runs it again): the Worker.StateChanged message that StepScreen turns into
    worker_done / worker_failed."""
    app = pilot.app

    def handled() -> bool:
        done = getattr(app.screen, "workers_done", [])
        return (screen is None or on_screen(app, screen)) and done.count(name) >= times

    await wait_until(pilot, handled, timeout, what=f"the {name} worker's result")
    await pilot.pause()  # what the handler asked for next (a focus change is a call_later) happens too


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


async def offline_to_storage(pilot) -> None:
    """Offline, with the default host and users, to the Storage step."""
    await offline_to_access(pilot)
    await pilot.press("ctrl+n")
    await wait_until(pilot, lambda: on_screen(pilot.app, "StorageScreen"), what="the Storage step")


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


def cluster_session(cluster, **options) -> WizardSession:
    """No kubelet in the test cluster: pods never run, so by default no waiting and no smoke push.
    With wait=True helm waits for pods that never come: an install that runs until it is stopped."""
    from tests.conftest import helm_path

    apply_options = ApplyOptions(**{"wait": False, "smoke": False, "timeout": "2m", **options})
    return WizardSession(
        context=cluster.admin_context,
        kubeconfig=str(cluster.kubeconfig),
        helm_binary=str(helm_path("helm3")),
        chart=Chart(path=str(CHART_DIR)),
        apply_options=apply_options,
    )


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
    await wait_until(pilot, lambda: app.screen.identity is not None, 120, what="the connection")
    await replace_text(pilot, "#namespace", namespace)
    if release:
        await replace_text(pilot, "#release", release)
    await next_step(pilot, "ProbeScreen")
    await wait_until(pilot, lambda: app.screen.result is not None, 120, what="the probe")


async def to_running_install(pilot, namespace: str, host: str) -> None:
    """Connect, probe, type a host, accept every default, start the install, wait for helm to run."""
    app = pilot.app
    await connect_and_probe(pilot, namespace)
    await next_step(pilot, "AddressScreen")
    await type_text(pilot, host)
    for screen in ("AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
        await next_step(pilot, screen)
    await wait_until(pilot, lambda: app.screen.prepared is not None or app.screen.failure, 120, what="the review")
    assert not app.screen.failure, app.screen.failure
    await next_step(pilot, "InstallScreen")
    await wait_until(pilot, lambda: "helm" in app.screen.steps, 120, what="helm to start")


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

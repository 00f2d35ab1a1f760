"""Snapshots of every step reachable without a cluster, at 80x24 and 120x40 (review the SVGs before updating)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.tui.conftest import (
    CHART_DIR,
    go_offline,
    next_step,
    offline_app_with_chart,
    on_screen,
    type_text,
    wait_until,
    write_kubeconfig,
)

pytestmark = pytest.mark.tui
# fixed paths: the Review and Done steps show the working directory
SNAPSHOT_DIR = Path("/tmp/registry-installer-snapshots")


async def at_cluster(pilot) -> None:
    await wait_until(pilot, lambda: not pilot.app.screen.query_one("#offline").has_class("hidden"))


async def at_address(pilot) -> None:
    await go_offline(pilot)
    await type_text(pilot, "registry.example.com")


async def at_address_invalid(pilot) -> None:
    await go_offline(pilot)
    await type_text(pilot, "https://Registry")


async def forward(pilot, *screens: str) -> None:
    await at_address(pilot)
    for screen in screens:
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: on_screen(pilot.app, screen), what=screen)


async def at_access(pilot) -> None:
    await forward(pilot, "AccessScreen")


async def at_storage(pilot) -> None:
    await forward(pilot, "AccessScreen", "StorageScreen")


async def at_clients(pilot) -> None:
    await forward(pilot, "AccessScreen", "StorageScreen", "ClientsScreen")
    await type_text(pilot, "apps, vms")


async def at_uploads(pilot) -> None:
    await forward(pilot, "AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen")


async def at_review(pilot) -> None:
    await forward(pilot, "AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen")
    # snap_compare runs the app itself (no message log): the Review step's worker, started by its on_mount, ends
    await pilot.pause()
    await asyncio.wait_for(pilot.app.workers.wait_for_complete(), 120)
    await pilot.pause()  # its end handled
    assert pilot.app.screen.prepared is not None, pilot.app.screen.failure


async def at_done(pilot) -> None:
    await at_review(pilot)
    await next_step(pilot, "DoneScreen")


STEPS = {
    "cluster-no-cluster": at_cluster,
    "address": at_address,
    "address-invalid": at_address_invalid,
    "access": at_access,
    "storage": at_storage,
    "clients": at_clients,
    "uploads": at_uploads,
    "review-offline": at_review,
    "done-offline": at_done,
}


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("step", list(STEPS))
def test_step_snapshot(step, size, snap_compare):
    SNAPSHOT_DIR.mkdir(exist_ok=True)
    kubeconfig = write_kubeconfig(SNAPSHOT_DIR / "closed.kubeconfig", "https://127.0.0.1:1")
    # the Done step shows the helm command with the chart's path: one that is the same on every machine
    chart = SNAPSHOT_DIR / CHART_DIR.name
    if not (chart.is_symlink() and chart.resolve() == CHART_DIR.resolve()):
        # an earlier run from another checkout may have left a link to its own (maybe gone) chart
        staged = SNAPSHOT_DIR / f".{CHART_DIR.name}.{os.getpid()}"
        staged.unlink(missing_ok=True)
        staged.symlink_to(CHART_DIR)
        os.replace(staged, chart)
    app = offline_app_with_chart(kubeconfig, chart, workdir=SNAPSHOT_DIR)
    assert snap_compare(app, terminal_size=size, run_before=STEPS[step])

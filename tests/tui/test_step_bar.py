"""The step bar at 80x24 with all 12 steps (the Status step shown): no name cut, the current step and its
neighbours always shown, the hidden steps counted."""

from __future__ import annotations

import pytest

from installer.probe import ProbeResult, ReleaseInfo
from tests.tui.conftest import go_offline, next_step, offline_app, running, type_text, wait_until, worker_finished

pytestmark = pytest.mark.tui


def bar_names(plain: str) -> tuple[int, list[str], int]:
    """What the bar shows: (steps hidden before, the names shown, steps hidden after)."""
    parts = [part.strip() for part in plain.split("·")]
    before = int(parts.pop(0)[2:]) if parts[0].startswith("◂+") else 0
    after = int(parts.pop()[1:-1]) if parts[-1].endswith("▸") else 0
    return before, parts, after


async def test_every_step_shows_itself_and_its_neighbours_in_full_at_80_columns(closed_kubeconfig, tmp_path):
    app = offline_app(closed_kubeconfig, workdir=tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        # an installed release: the Status step is in the bar (struck through offline, where it cannot run)
        app.state.probe = ProbeResult(
            None, None, "v1.37.2", None, release=ReleaseInfo("docker-registry", "registry", 1, "deployed", "c", "a")
        )
        await go_offline(pilot)
        await type_text(pilot, "registry.example.com")
        labels = [step.label for step in app.steps]
        assert len(labels) == 12 and "Status" in labels
        seen = []
        for screen in ("AddressScreen", "AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen"):
            if screen != "AddressScreen":
                await next_step(pilot, screen)
            seen.append(await shown_bar(pilot, labels))
        await next_step(pilot, "ReviewScreen")
        seen.append(await shown_bar(pilot, labels))
        await worker_finished(pilot, "prepare_worker", screen="ReviewScreen")
        await next_step(pilot, "DoneScreen")
        seen.append(await shown_bar(pilot, labels))
    assert [current for current, _ in seen] == ["Address", "Access", "Storage", "Clients", "Uploads", "Review", "Done"]
    # Address, near the start: the first ten names and "+2▸"; Done: "◂+2" and the last ten
    assert seen[0][1] == "Cluster·Probe·Status·Address·Access·Storage·Clients·Uploads·Review·Install·+2▸"
    assert seen[-1][1] == "◂+2·Status·Address·Access·Storage·Clients·Uploads·Review·Install·Smoke· Done "


async def shown_bar(pilot, labels: list[str]) -> tuple[str, str]:
    """The current step's name and the bar's text, once checked: one line of at most 78 columns (80 minus the bar's
    padding), every name shown whole and in order, the current step and both its neighbours among them."""
    screen = pilot.app.screen
    bar = screen.query_one("#step-bar")
    await wait_until(pilot, lambda: bar.content_size.width == 78, what="the bar laid out")
    await pilot.pause()
    plain = str(bar.render())
    assert "\n" not in plain and len(plain) <= 78, plain
    before, names, after = bar_names(plain)
    assert names == labels[before : len(labels) - after], plain
    current = labels[bar.current]
    assert current == next(step.label for step in pilot.app.steps if step.key == screen.step_key)
    assert set(labels[max(bar.current - 1, 0) : bar.current + 2]) <= set(names), plain
    return current, plain

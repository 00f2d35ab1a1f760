"""The problems panel under a step's fields: a few lines high, so long problems must be reachable by keyboard."""

from __future__ import annotations

import pytest

from installer.errors import Problem
from screens.base import ProblemsPanel
from tests.tui.conftest import go_offline, offline_app, running, wait_until

pytestmark = pytest.mark.tui


async def test_problems_that_do_not_fit_are_reached_and_scrolled_by_keyboard(closed_kubeconfig, tmp_path):
    app = offline_app(closed_kubeconfig, workdir=tmp_path)
    async with running(app, size=(80, 24)) as pilot:
        await go_offline(pilot)
        screen = app.screen
        panel = screen.query_one("#problems", ProblemsPanel)

        screen.show_problems([Problem("setting.one", "one problem fits")])
        await pilot.pause()
        await pilot.pause()
        assert panel.has_class("shown") and panel.max_scroll_y == 0
        assert not panel.focusable and panel.border_title == ""

        many = [Problem(f"setting.{n}", f"problem {n} of 12", f"fix {n}") for n in range(12)]
        screen.show_problems(many)
        await pilot.pause()
        await pilot.pause()
        assert panel.max_scroll_y > 0, "12 problems with fixes should not fit the panel"
        assert panel.focusable and panel.border_title == ProblemsPanel.MORE
        for _ in range(10):  # Tab through the fields until the panel has the focus
            if app.focused is panel:
                break
            await pilot.press("tab")
        assert app.focused is panel, f"Tab never reached the problems panel (focus: {app.focused})"
        await pilot.press("end")  # the scroll may be animated: wait for it to arrive
        await wait_until(pilot, lambda: panel.scroll_y == panel.max_scroll_y, 10, what="the end of the problems")
        await pilot.press("home")
        await wait_until(pilot, lambda: panel.scroll_y == 0, 10, what="the first problem")

        screen.show_problems([])
        await pilot.pause()
        assert not panel.has_class("shown") and not panel.focusable

"""The Cluster step's first frame: the kube context drawn without the Select until its list is opened
(screens.cluster.ContextField), then chosen with the Select as before; the later steps' rules added with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Select

import screens.app
from screens.cluster import ContextField
from tests.tui.conftest import go_offline, offline_app, on_screen, running, wait_until

pytestmark = pytest.mark.tui

TWO_CONTEXTS = """apiVersion: v1
clusters:
- cluster:
    server: https://127.0.0.1:1
  name: closed
contexts:
- context:
    cluster: closed
    user: nobody
  name: one
- context:
    cluster: closed
    user: nobody
  name: two
current-context: one
kind: Config
users:
- name: nobody
  user:
    token: not-a-token
"""


async def test_the_list_opens_as_the_select_and_a_choice_reconnects(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(TWO_CONTEXTS)
    app = offline_app(kubeconfig)
    async with running(app) as pilot:
        await wait_until(pilot, lambda: on_screen(app, "ClusterScreen") and app.screen.connecting == "one")
        screen = app.screen
        field = screen.query_one("#context", ContextField)
        assert app.focused is field  # the first frame's focus, as the Select had it
        assert not screen.query(Select)  # no Select (and no list) before the list is opened
        assert str(field.query_one("#label").render()) == "one"
        await wait_until(pilot, lambda: app.focused is screen.query_one("#offline"), what="the connection's failure")
        connected_to: list[str | None] = []
        real_connect = screen.connect
        screen.connect = lambda context: (connected_to.append(context), real_connect(context))[-1]

        await pilot.press("shift+tab")
        assert app.focused is field
        await pilot.press("enter")  # as on the Select: Enter opens the list
        await wait_until(pilot, lambda: screen.query(Select), what="the Select")
        select = screen.query_one(Select)
        await wait_until(pilot, lambda: select.expanded, what="the open list")
        assert select.value == "one" and select.compact and not field.display  # in the field's place
        await pilot.pause()
        assert connected_to == []  # the Select taking the field's place is no new choice

        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: connected_to == ["two"], what="the connection to context two")
        assert screen.chosen_context() == "two" and not select.expanded


async def test_the_later_steps_rules_are_added_with_the_second_step(closed_kubeconfig):
    """steps.tcss (the rules only the steps after Cluster use) is not parsed for the first frame; it is in the
    stylesheet from the second step on, after app.tcss's rules."""
    app = offline_app(closed_kubeconfig)
    steps_css = str(Path(screens.app.__file__).with_name(screens.app.STEPS_CSS))
    async with running(app) as pilot:
        await wait_until(pilot, lambda: on_screen(app, "ClusterScreen"))
        assert not app.stylesheet.has_source(steps_css)
        await go_offline(pilot)
        sources = [path for path, _ in app.stylesheet.source]
        assert sources.index(steps_css) > sources.index(str(Path(steps_css).with_name("app.tcss")))
        cert_file = app.screen.query_one("#cert-file")  # in a .file-row: steps.tcss's width, not app.tcss's 100%
        assert str(cert_file.styles.width) == "1fr", cert_file.styles.width

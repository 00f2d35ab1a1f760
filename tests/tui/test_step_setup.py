"""Every step's set-up (StepScreen.on_mount: compact fields, arm validation, focus) runs once, and the focus goes
where the step puts it, never first to the scrolling body by Textual's auto-focus."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from textual.screen import Screen

from screens.base import StepScreen
from tests.tui.conftest import go_offline, next_step, offline_app, running, type_text, worker_finished

pytestmark = pytest.mark.tui
SCREENS = Path(__file__).resolve().parents[2] / "screens"


def test_no_handler_calls_super_for_the_message_it_handles():
    """Textual calls a message's handler on every class in the MRO that defines one (handlers are not overrides):
    a handler that also calls super() runs the base class's handler twice."""
    found = []
    for path in sorted(SCREENS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.name.startswith(
                ("on_", "_on_")
            ):
                continue
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == node.name
                    and isinstance(call.func.value, ast.Call)
                    and getattr(call.func.value.func, "id", "") == "super"
                    and node.name != "on_event"  # App.on_event is a plain method Textual calls once, not a handler
                ):
                    found.append(f"{path.name}:{call.lineno} {node.name}")
    assert found == []


async def test_each_step_sets_up_once_and_textual_does_not_focus_the_body(closed_kubeconfig, tmp_path, monkeypatch):
    """Offline through every step to Done: StepScreen.on_mount once per step (Clients and Done called it again via
    super()), and no step's #body took the focus except Review's, which puts it there itself (read first).

    With Textual's auto-focus (StepScreen.AUTO_FOCUS None means the app's "*"), #body was focused at compose, and its
    scrollbar kept that focused background after the step moved the focus on: what the old done-offline snapshot
    showed."""
    set_ups: dict[str, int] = {}
    body_focused: list[str] = []
    step_mount = StepScreen.on_mount
    set_focus = Screen.set_focus

    def counted(self) -> None:
        set_ups[type(self).__name__] = set_ups.get(type(self).__name__, 0) + 1
        step_mount(self)

    def recorded(self, widget, *args, **kwargs):
        if widget is not None and widget.id == "body":
            body_focused.append(type(self).__name__)
        return set_focus(self, widget, *args, **kwargs)

    monkeypatch.setattr(StepScreen, "on_mount", counted)
    monkeypatch.setattr(Screen, "set_focus", recorded)
    app = offline_app(closed_kubeconfig, workdir=tmp_path)
    async with running(app) as pilot:
        await go_offline(pilot)
        await type_text(pilot, "registry.example.com")
        for screen in ("AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, screen)
        await worker_finished(pilot, "prepare_worker", screen="ReviewScreen")
        await next_step(pilot, "DoneScreen")
        await pilot.pause()
        assert app.focused is app.screen.query_one("#next")
    steps = ["Cluster", "Address", "Access", "Storage", "Clients", "Uploads", "Review", "Done"]
    assert set_ups == {f"{step}Screen": 1 for step in steps}
    assert body_focused == ["ReviewScreen"]

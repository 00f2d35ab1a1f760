"""A modal file picker: browse the disk with the keyboard and return the chosen file's path."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Label


class FilePicker(ModalScreen[str | None]):
    """Arrows move, Enter opens a folder or picks a file, Esc cancels (returns None)."""

    DEFAULT_CSS = """
    FilePicker { align: center middle; }
    FilePicker > #picker { width: 90%; height: 80%; border: round $accent; background: $surface; padding: 0 1; }
    FilePicker DirectoryTree { height: 1fr; }
    FilePicker .hint { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"), Binding("backspace", "up", "Parent folder")]

    def __init__(self, title: str, start: str | Path | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.start = self._start_dir(start)

    @staticmethod
    def _start_dir(start: str | Path | None) -> Path:
        path = Path(start).expanduser() if start else Path.cwd()
        while not path.is_dir() and path != path.parent:
            path = path.parent
        return path if path.is_dir() else Path.cwd()

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label(self.title_text)
            yield Label(str(self.start), id="where", classes="hint")
            yield DirectoryTree(self.start, id="tree")
            yield Label("Enter: open or pick · Backspace: parent folder · Esc: cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one(DirectoryTree).focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(str(event.path))

    def action_up(self) -> None:
        tree = self.query_one(DirectoryTree)
        parent = Path(tree.path).resolve().parent
        tree.path = parent
        self.query_one("#where", Label).update(str(parent))

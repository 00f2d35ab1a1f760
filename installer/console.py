"""Prints engine events for the headless commands: one line per finished step, notes, live progress on a terminal."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from installer.events import Event, HelmLine, Note, Progress, RolloutProblem, RolloutStatus, StepFinished, StepStarted


def format_size(size: int) -> str:
    """1536 -> '1.5 KiB', 8 MiB -> '8 MiB'."""
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}".replace(".0 ", " ")
    return f"{size} B"


def gc_record_words(gc: dict[str, Any]) -> str:
    """One GC record as both front ends say it: when (scheduled or not), then ok/FAILED/skipped, what it freed and how
    long the registry was read-only."""
    when = f"{gc.get('time', '?')}{' (scheduled)' if gc.get('scheduled') else ''}"
    if gc.get("skipped"):
        return f"{when} {gc.get('error', 'skipped')}"
    if gc.get("freed_bytes") is not None:
        freed = f"freed {format_size(gc['freed_bytes'])}"
    elif gc.get("blobs_deleted") is not None:
        freed = f"{gc['blobs_deleted']} blobs deleted"
    else:
        freed = "freed unknown"
    outcome = "ok" if gc.get("ok") else "FAILED: " + str(gc.get("error", ""))
    return f"{when} {outcome}, {freed}, read-only {float(gc.get('readonly_seconds') or 0):.0f} s"


@dataclass
class EventPrinter:
    """`[ ok ] step  1.23s  detail` per finished step; helm's lines indented; a progress line on a terminal only."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    show_started: bool = True
    _progress_shown: bool = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._show_progress(event)
            return
        self._clear_progress()
        if isinstance(event, StepStarted) and self.show_started:
            self._line(f"[....] {event.step:<12} {event.detail}")
        elif isinstance(event, StepFinished):
            self._line(f"[{' ok ' if event.ok else 'FAIL'}] {event.step:<12} {event.seconds:6.2f}s  {event.detail}")
        elif isinstance(event, HelmLine) and event.line.strip():
            self._line(f"       helm: {event.line}")
        elif isinstance(event, RolloutStatus):
            self._line(
                f"       rollout: {event.kind} {event.name}: {event.state}{'  ' + event.detail if event.detail else ''}"
            )
        elif isinstance(event, RolloutProblem):
            first, *rest = event.message.splitlines() or [""]
            self._line(
                f"       {'STOP' if event.fatal else 'problem'}: {event.kind} {event.name}: {event.reason}: {first}"
            )
            for line in rest:
                self._line(f"         | {line}")
            self._line(f"         fix: {event.fix}")
        elif isinstance(event, Note):
            self._line(f"       {'warning' if event.level == 'warning' else 'note'}: {event.text}")

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _show_progress(self, event: Progress) -> None:
        if not self.out.isatty():
            return
        total = f" of {format_size(event.total)}" if event.total else ""
        self.out.write(f"\r       {event.step}: {format_size(event.done)}{total}\033[K")
        self.out.flush()
        self._progress_shown = True

    def _clear_progress(self) -> None:
        if self._progress_shown:
            self.out.write("\r\033[K")
            self._progress_shown = False

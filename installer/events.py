"""Events the engine emits while it works; the CLI prints them, the wizard shows them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union


@dataclass(frozen=True)
class StepStarted:
    step: str
    detail: str = ""


@dataclass(frozen=True)
class StepFinished:
    step: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class HelmLine:
    line: str


@dataclass(frozen=True)
class Progress:
    """Bytes moved in a long step (the smoke push): `total` 0 when unknown."""

    step: str
    done: int
    total: int = 0


@dataclass(frozen=True)
class Note:
    """Something the user should read (a warning or a hint), attached to a step."""

    step: str
    text: str
    level: str = "info"  # info | warning


Event = Union[StepStarted, StepFinished, HelmLine, Progress, Note]
EventSink = Callable[[Event], None]


def discard(_event: Event) -> None:
    """An EventSink that drops everything."""

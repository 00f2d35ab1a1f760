"""Events the engine emits while it works; the CLI prints them, the wizard shows them."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Literal, Union

from installer.structs import msgspec

WatchedKind = Literal["PersistentVolumeClaim", "Pod", "ReplicaSet"]  # what the rollout watcher reads


# msgspec Structs, not dataclasses: the same value classes (keyword or positional, compared by value, hashable, repr
# as a dataclass's), made in C where each frozen dataclass compiles six generated methods (~0.3 ms each class, at the
# start of every command)
class StepStarted(msgspec.Struct, frozen=True):
    step: str
    detail: str = ""


class StepFinished(msgspec.Struct, frozen=True):
    step: str
    ok: bool
    seconds: float
    detail: str = ""


class HelmLine(msgspec.Struct, frozen=True):
    line: str


class Progress(msgspec.Struct, frozen=True):
    """Bytes moved in a long step (the smoke push): `total` 0 when unknown."""

    step: str
    done: int
    total: int = 0


class Note(msgspec.Struct, frozen=True):
    """Something the user should read (a warning or a hint), attached to a step."""

    step: str
    text: str
    level: Literal["info", "warning"] = "info"


class RolloutStatus(msgspec.Struct, frozen=True):
    """While the pods are awaited: a registry PVC or Pod changed state (Bound, WaitForFirstConsumer,
    ContainerCreating, Ready, ...)."""

    kind: WatchedKind
    name: str
    state: str
    detail: str = ""


class RolloutProblem(msgspec.Struct, frozen=True):
    """While the pods are awaited: something stands in the rollout's way, in the cluster's words, with what to do.

    `fatal` problems cannot heal by waiting (no provisioner, an image that cannot be pulled, a
    missing Secret key, a crash loop): the engine stops helm, rolls back and raises them.
    `message` may hold a crashed container's last log lines after its first line.
    """

    kind: str
    name: str
    # NoProvisioner, ProvisioningFailed, Unschedulable, ErrImagePull, CreateContainerConfigError, CrashLoopBackOff, ...
    reason: str
    message: str
    fix: str
    fatal: bool = False


Event = Union[StepStarted, StepFinished, HelmLine, Progress, Note, RolloutStatus, RolloutProblem]
EventSink = Callable[[Event], None]


def discard(_event: Event) -> None:
    """An EventSink that drops everything."""


class StepRun:
    """The step `step()` is timing: set `result` (StepFinished's detail) and, for a step that fails without raising
    (a pull check that did not pull), `ok = False`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.result = ""
        self.ok = True
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


@contextmanager
def step(on_event: EventSink, name: str, detail: str = "", cancel: threading.Event | None = None) -> Iterator[StepRun]:
    """Report the block as one step: StepStarted, then StepFinished with its time and result (or the exception's first
    line, re-raised). With `cancel` set already the step does not start: Cancelled is raised instead."""
    if cancel is not None and cancel.is_set():
        from installer.errors import Cancelled

        raise Cancelled(f"cancelled before the {name} step", "re-run the same command to finish; it converges")
    run = StepRun(name)
    on_event(StepStarted(name, detail))
    try:
        yield run
    except BaseException as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        on_event(StepFinished(name, False, run.elapsed(), text))
        raise
    on_event(StepFinished(name, run.ok, run.elapsed(), run.result))

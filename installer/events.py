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


@dataclass(frozen=True)
class RolloutStatus:
    """While helm waits: a registry PVC or Pod changed state (Bound, WaitForFirstConsumer, ContainerCreating, Ready,
    ...)."""

    kind: str  # PersistentVolumeClaim | Pod
    name: str
    state: str
    detail: str = ""


@dataclass(frozen=True)
class RolloutProblem:
    """While helm waits: something stands in the rollout's way, in the cluster's words, with what to do.

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

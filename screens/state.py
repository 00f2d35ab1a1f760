"""WizardState: what the wizard's steps have gathered so far, typed, and without Textual (unit-tested alone)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # msgspec and the Choices model load after the first frame (bench/startup.py)
    from installer.engine import Prepared
    from installer.model import Auth, Choices, Clients, Exposure, Extras, Storage, Target, Uploads
    from installer.probe import ProbeResult


@dataclass(frozen=True)
class ClusterChoice:
    """The Cluster step's answer: the target and whether the wizard works offline (render files, no install)."""

    target: Target
    offline: bool

    def sections(self) -> dict[str, Any]:
        return {"target": self.target}


@dataclass(frozen=True)
class StorageChoice:
    """The Storage step's answer: where the images live, and how many registry pods share them."""

    storage: Storage
    extras: Extras

    def sections(self) -> dict[str, Any]:
        return {"storage": self.storage, "extras": self.extras}


@dataclass(frozen=True)
class RenderedFiles:
    """Offline Review's answer: the files written for a later `helm upgrade` or GitOps."""

    prepared: Prepared
    paths: tuple[Path, ...]

    def sections(self) -> dict[str, Any]:
        return {"prepared": self.prepared, "written": self.paths}


@dataclass(frozen=True)
class SmokeSkipped:
    """The Smoke step's answer when the install did not wait (no pods to push to yet)."""

    reason: str


# the sections of Choices a reconfigure starts from (the installed release's values)
CHOICE_SECTIONS = ("exposure", "auth", "storage", "uploads", "extras", "clients")


@dataclass
class WizardState:
    """Every step's answer, kept so that going back and forth shows it again.

    A step's answer is kept under its section (the step table names it); an answer that fills several
    sections says which with a `sections()` method (ClusterChoice, StorageChoice, RenderedFiles)."""

    target: Target | None = None  # the Cluster step's answer (the defaults before it answers: `chosen_target`)
    exposure: Exposure | None = None
    auth: Auth | None = None
    storage: Storage | None = None
    uploads: Uploads | None = None
    extras: Extras | None = None
    clients: Clients | None = None
    probe: ProbeResult | None = None
    prepared: Prepared | None = None
    written: tuple[Path, ...] = ()
    install: Any = None  # the engine's ApplyResult once the install finished
    smoke: Any = None  # SmokeResult, SmokeSkipped, or the exception the smoke test raised
    reconfiguring: bool = False  # the steps started from an installed release's values

    def keep(self, section: str | None, answer: Any) -> None:
        """Keep a step's answer under `section` (or the sections the answer names)."""
        parts = answer.sections() if hasattr(answer, "sections") else {section: answer} if section else {}
        names = {f.name for f in fields(self)}
        for name, value in parts.items():
            if name not in names:
                raise KeyError(f"WizardState has no section {name!r}")
            setattr(self, name, value)

    def start_from(self, installed: Choices) -> None:
        """Reconfigure: every step starts from the installed release's settings (once)."""
        for name in CHOICE_SECTIONS:
            setattr(self, name, getattr(installed, name))
        self.reconfiguring = True

    @property
    def chosen_target(self) -> Target:
        """Where the release goes: the Cluster step's answer, or the defaults before it answered."""
        if self.target is None:
            from installer.model import Target

            return Target()
        return self.target

    @property
    def reviewed(self) -> Prepared:
        """What Review prepared: the steps after Review work on it."""
        if self.prepared is None:
            raise ValueError("the Review step has not prepared the install yet")
        return self.prepared

    @property
    def via_gateway(self) -> bool:
        return self.exposure is not None and self.exposure.gateway is not None

    def choices(self, chart: Any = None) -> Choices:
        """The Choices the steps add up to (defaults for the sections not visited yet)."""
        from installer.model import Auth, Choices

        if self.exposure is None:
            raise ValueError("the Address step has not been answered yet")
        data: dict[str, Any] = {
            "target": self.chosen_target,
            "exposure": self.exposure,
            "auth": self.auth or Auth(),
            "storage": self.storage or Choices.field_default("storage"),
            "uploads": self.uploads or Choices.field_default("uploads"),
            "extras": self.extras or Choices.field_default("extras"),
            "clients": self.clients or Choices.field_default("clients"),
        }
        if chart is not None:
            data["chart"] = chart
        return Choices(**data)

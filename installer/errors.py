"""Errors the installer raises for the user: each says what went wrong and how to fix it."""

from __future__ import annotations

from typing import NamedTuple


class InstallerError(Exception):
    """A failure the user must fix (exit code 1). `hint` says how."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.hint}" if self.hint else self.message


class Cancelled(InstallerError):
    """The user asked to stop (Ctrl+C, SIGTERM, the wizard's cancel) before this step."""


class UsageError(InstallerError):
    """Bad command line usage (exit code 2)."""

    exit_code = 2


class Problem(NamedTuple):  # not a dataclass: `dataclasses` imports `inspect`, with ast, dis... (render start-up)
    """One invalid setting: where it is, what is wrong with it, how to fix it."""

    path: str
    message: str
    fix: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "(preset)"
        if self.line is not None:
            where += f" (line {self.line})"
        text = f"{where}: {self.message}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class ValidationFailed(InstallerError):
    """One or more settings are invalid; `problems` lists every one of them."""

    def __init__(self, problems: list[Problem], source: str = "settings") -> None:
        self.problems = list(problems)
        self.source = source
        lines = [f"invalid {source} ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))

    def __str__(self) -> str:
        return self.message

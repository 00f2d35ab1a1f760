"""The command line's logging: WARNING and up on stderr (DEBUG with --verbose), as `LEVEL logger: message`.

`render` and `schema` end within tens of milliseconds and log nothing on their usual path; `logging`, with the
traceback module it loads, is ~3 ms of render's start (bench/startup.py). For them the set-up waits for the first
`logger()` call: the modules those commands load log through `logger()`, not a module-level `logging.getLogger`
(tests/unit/test_startup_imports.py checks they never load `logging`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

_put_off: bool | None = None  # --verbose of a set-up put off until a logger is wanted


def setup(verbose: bool, now: bool = True) -> None:
    """Set up logging for the command that runs next; `now=False` puts it off until `logger()` is first called
    (unless --verbose asks for debug output, or something loaded `logging` already)."""
    global _put_off
    if now or verbose or "logging" in sys.modules:
        _configure(verbose)
    else:
        _put_off = verbose


def logger(name: str) -> logging.Logger:
    """`logging.getLogger(name)`, after the set-up `setup(now=False)` put off."""
    global _put_off
    import logging

    if _put_off is not None:
        verbose, _put_off = _put_off, None
        _configure(verbose)
    return logging.getLogger(name)


def _configure(verbose: bool) -> None:
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("urllib3", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

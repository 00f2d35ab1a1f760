"""msgspec, imported in this one place: with typing_extensions hidden while it loads (render start-up, issue 13).

msgspec._utils takes get_type_hints (and Required/NotRequired) from typing_extensions when it can import it, else from
typing. typing_extensions is installed here (other packages need it) and imports inspect (and with it ast, dis, ...):
~5 ms of `registry-installer render`'s ~75. typing's get_type_hints handles every annotation our Structs use
(typing.Annotated, Literal, Self, unions). It is hidden only while msgspec loads and only when nothing loaded either
before; the entry is removed again, so a later `import typing_extensions` (textual's, kubernetes') works as usual.
Every other module imports msgspec from here (`from installer.structs import msgspec`; ruff's TID251 enforces it).
"""

from __future__ import annotations

import sys

_HIDE = "msgspec" not in sys.modules and "typing_extensions" not in sys.modules
if _HIDE:
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]  # None: `import` raises ImportError
try:
    import msgspec as msgspec  # noqa: TID251  # the one import of msgspec
finally:
    if _HIDE:
        del sys.modules["typing_extensions"]

__all__ = ["msgspec"]

"""SecretStr: a secret value typed so it cannot print (masked repr and str; get_secret_value() for the real use)."""

from __future__ import annotations

from typing import Any, Callable

MASK = "**********"


class SecretStr:
    """A string that shows as ********** in str(), repr(), f-strings and logs; `get_secret_value()` reads it."""

    __slots__ = ("_secret_value",)

    def __init__(self, secret_value: str) -> None:
        self._secret_value = secret_value

    def get_secret_value(self) -> str:
        return self._secret_value

    def __str__(self) -> str:
        return MASK if self._secret_value else ""

    def __repr__(self) -> str:
        return f"SecretStr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and self._secret_value == other._secret_value

    def __hash__(self) -> int:
        return hash(self._secret_value)

    def __len__(self) -> int:
        return len(self._secret_value)


def repr_without(*hidden: str) -> Callable[[Any], str]:
    """A __repr__ for a msgspec Struct that leaves the `hidden` fields out (secrets, TLS material): what
    dataclasses' field(repr=False) did."""

    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__struct_fields__ if name not in hidden)
        return f"{type(self).__name__}({shown})"

    return __repr__

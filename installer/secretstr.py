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


def repr_without(*hidden: str) -> tuple[Callable[[Any], str], Callable[[Any], list[tuple[str, Any]]]]:
    """__repr__ and __rich_repr__ for a msgspec Struct that leave the `hidden` fields out (secrets, TLS material,
    password hashes): what dataclasses' field(repr=False) did. A Struct's own __rich_repr__ lists every field, and
    rich's pretty printer (Textual's logs, rich tracebacks with locals) uses it instead of __repr__, so both are
    replaced: `__repr__, __rich_repr__ = repr_without("password")`."""

    def shown(self: Any) -> list[tuple[str, Any]]:
        return [(name, getattr(self, name)) for name in self.__struct_fields__ if name not in hidden]

    def __repr__(self: Any) -> str:
        return f"{type(self).__name__}({', '.join(f'{name}={value!r}' for name, value in shown(self))})"

    return __repr__, shown

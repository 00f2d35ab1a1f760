"""Where a secret comes from: an env var, a file, generated, kept from the cluster, or typed in the wizard."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from installer.errors import InstallerError
from installer.secretstr import SecretStr, repr_without
from installer.structs import msgspec

REFERENCE_SYNTAX = "env:VAR_NAME, file:/path/to/file, generate, or keep"
REFERENCE_PREFIXES: tuple[tuple[str, Literal["env", "file"]], ...] = (("env:", "env"), ("file:", "file"))
GENERATED_LENGTH = 32
MAX_SECRET_FILE_BYTES = 64 * 1024


class SecretSpec(msgspec.Struct, frozen=True):
    """A reference to a secret value, never the value itself (except `literal`, wizard-only)."""

    # A msgspec Struct, not a dataclass (`dataclasses` imports `inspect`: render start-up) nor a NamedTuple (msgspec
    # would see an array: the preset schema, presets/schema.json, describes a secret from this class's object form).
    # `value` stays out of comparison, hashing and repr, as dataclasses' field(compare=False, repr=False) kept it.
    kind: Literal["env", "file", "generate", "keep", "literal"]
    ref: str = ""
    value: SecretStr | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretSpec):
            return NotImplemented
        return (self.kind, self.ref) == (other.kind, other.ref)

    def __hash__(self) -> int:
        return hash((self.kind, self.ref))

    __repr__, __rich_repr__ = repr_without("value")

    @classmethod
    def parse(cls, text: Any, allow_literal: bool = False) -> "SecretSpec":
        """Parse `env:NAME`, `file:PATH`, `generate` or `keep`; anything else is a plaintext value."""
        if isinstance(text, SecretSpec):
            return text
        if isinstance(text, SecretStr):
            text_value = text.get_secret_value()
            if allow_literal:
                return cls("literal", value=text)
            text = text_value
        if not isinstance(text, str):
            raise ValueError(f"expected a secret reference ({REFERENCE_SYNTAX}), got {type(text).__name__}")
        stripped = text.strip()
        if stripped == "generate":
            return cls("generate")
        if stripped == "keep":
            return cls("keep")
        for prefix, kind in REFERENCE_PREFIXES:
            if stripped.startswith(prefix):
                ref = stripped[len(prefix) :].strip()
                if not ref:
                    raise ValueError(
                        f"'{prefix}' needs a name after the colon, e.g. "
                        f"{prefix}{'REGISTRY_PASSWORD' if prefix == 'env:' else '/run/secrets/registry-password'}"
                    )
                return cls(kind, ref)
        if allow_literal:
            return cls("literal", value=SecretStr(text))
        raise ValueError(
            f"plaintext secrets are not allowed here; write a reference instead: {REFERENCE_SYNTAX} "
            "(e.g. password: env:REGISTRY_PASSWORD)"
        )

    @classmethod
    def literal(cls, value: str | SecretStr) -> "SecretSpec":
        return cls("literal", value=value if isinstance(value, SecretStr) else SecretStr(value))

    def to_reference(self) -> str:
        """The preset form of this spec; a literal has none (the caller must choose a reference)."""
        if self.kind in ("generate", "keep"):
            return self.kind
        if self.kind in ("env", "file"):
            return f"{self.kind}:{self.ref}"
        raise ValueError("a typed-in secret has no reference form: save it to a file or an env var first")

    def describe(self) -> str:
        """Words for the screen and logs; never the value."""
        return {
            "env": f"from environment variable {self.ref}",
            "file": f"from file {self.ref}",
            "generate": "generated (kept across re-runs)",
            "keep": "kept from the installed release",
            "literal": "typed in (hidden)",
        }[self.kind]

    def resolve(self, what: str, existing: SecretStr | None = None) -> SecretStr:
        """The secret value. `what` names the setting in errors; `existing` is the value already installed."""
        if self.kind == "literal":
            assert self.value is not None
            return self.value
        if self.kind == "env":
            if self.ref not in os.environ:
                raise InstallerError(
                    f"{what}: environment variable {self.ref} is not set",
                    f"export {self.ref}=... before running, or point {what} at a file with file:/path",
                )
            value = os.environ[self.ref]
            if not value:
                raise InstallerError(
                    f"{what}: environment variable {self.ref} is empty", f"set {self.ref} to the secret value"
                )
            return SecretStr(value)
        if self.kind == "file":
            return SecretStr(_read_secret_file(Path(self.ref).expanduser(), what))
        if self.kind == "keep":
            if existing is None:
                raise InstallerError(
                    f"{what}: 'keep' was asked but the installed release has no such secret",
                    "use generate, env:VAR or file:/path for a first install",
                )
            return existing
        # generate: reuse what a previous run generated, so re-runs do not change anything
        return existing if existing is not None else SecretStr(generate_password())


def generate_password(length: int = GENERATED_LENGTH) -> str:
    """A strong password of URL-safe characters (no shell or YAML specials)."""
    import secrets  # here: a render that keeps its generated secrets needs no hmac/OpenSSL import (start-up)

    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _read_secret_file(path: Path, what: str) -> str:
    from installer.files import FileProblem, read_user_text

    try:
        text = read_user_text(path, what, "secret file", MAX_SECRET_FILE_BYTES)
    except FileProblem as exc:
        hint = "create it (mode 0600) or fix the path" if "does not exist" in exc.reason else exc.hint
        raise InstallerError(exc.message, hint) from None
    value = text.rstrip("\r\n")
    if "\n" in value or "\r" in value:
        raise InstallerError(
            f"{what}: secret file {path} holds more than one line", "write the secret alone on the first line"
        )
    if not value:
        raise InstallerError(f"{what}: secret file {path} is empty", "write the secret into the file")
    return value

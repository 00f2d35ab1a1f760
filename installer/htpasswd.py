"""bcrypt htpasswd lines for the registry and for ingress basic auth, reusing hashes that still match."""

from __future__ import annotations

from installer.secretstr import SecretStr


def parse_htpasswd(text: str) -> dict[str, str]:
    """user -> hash from htpasswd content (blank lines and comments ignored)."""
    entries = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            user, digest = line.split(":", 1)
            entries[user] = digest
    return entries


def hash_password(password: SecretStr, cost: int) -> str:
    """A bcrypt hash ($2y$, which both the registry and nginx accept)."""
    # bcrypt itself, not passlib's wrapper: passlib's first hash runs a backend self-test that costs more than
    # the hash (~17 ms at start-up); the 72-byte limit is checked (model.password_length_problem) before this
    import bcrypt

    salt = bcrypt.gensalt(cost)  # b"$2b$08$<22 characters>": the same salt, with the $2y$ prefix
    return bcrypt.hashpw(password.get_secret_value().encode("utf-8"), b"$2y$" + salt[4:]).decode("ascii")


def matches(password: SecretStr, digest: str) -> bool:
    import bcrypt

    try:
        return digest.startswith("$2") and bcrypt.checkpw(password.get_secret_value().encode("utf-8"), digest.encode())
    except ValueError:
        return False


def build_htpasswd(
    users: dict[str, SecretStr], cost: int, existing: dict[str, str] | None = None, kept: dict[str, str] | None = None
) -> str:
    """htpasswd content for `users` (then the `kept` users, whose installed hash is copied as is); an
    existing hash is kept when the password still matches it and its cost is the requested one, so
    re-runs produce the same bytes and restart nothing."""
    existing = existing or {}
    lines = [f"{user}:{digest}" for user, digest in (kept or {}).items()]
    for user, password in users.items():
        old = existing.get(user)
        if old and _cost(old) == cost and matches(password, old):
            lines.append(f"{user}:{old}")
        else:
            lines.append(f"{user}:{hash_password(password, cost)}")
    return "\n".join(lines) + "\n"


def _cost(digest: str) -> int | None:
    parts = digest.split("$")
    try:
        return int(parts[2])
    except (IndexError, ValueError):
        return None

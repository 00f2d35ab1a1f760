"""Differences between the installed release's values and the new ones, secrets masked."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

SECRET_KEYS = {
    "haSharedSecret",
    "htpasswd",
    "accessKey",
    "secretKey",
    "s3AccessKey",
    "s3SecretKey",
    "password",
    "accountKey",
}
MASK = "********"


def mask_secrets(values: Any) -> Any:
    """A copy of `values` with every secret-bearing key's value replaced by a mask."""
    if isinstance(values, dict):
        return {
            k: (MASK if k in SECRET_KEYS and v not in (None, "", {}) and not isinstance(v, dict) else mask_secrets(v))
            for k, v in values.items()
        }
    if isinstance(values, list):
        return [mask_secrets(v) for v in values]
    return values


def values_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Unified diff lines of the masked YAML (empty when nothing the user set changes)."""
    old_text = yaml.safe_dump(mask_secrets(old or {}), sort_keys=True).splitlines()
    new_text = yaml.safe_dump(mask_secrets(new or {}), sort_keys=True).splitlines()
    return list(difflib.unified_diff(old_text, new_text, "installed", "new", lineterm="", n=2))


def merged_values(values: dict[str, Any], secret_values: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of the two values files, as helm merges repeated --values."""
    out = dict(values)
    for key, val in secret_values.items():
        if isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = merged_values(out[key], val)
        else:
            out[key] = val
    return out

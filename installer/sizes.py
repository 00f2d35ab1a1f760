"""Sizes typed by users: parse "8Mi", "1GiB", "512MB" into bytes."""

from __future__ import annotations

import re

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "ki": 2**10,
    "kib": 2**10,
    "m": 10**6,
    "mb": 10**6,
    "mi": 2**20,
    "mib": 2**20,
    "g": 10**9,
    "gb": 10**9,
    "gi": 2**30,
    "gib": 2**30,
    "t": 10**12,
    "tb": 10**12,
    "ti": 2**40,
    "tib": 2**40,
}


def parse_size(text: str | int) -> int:
    """Parse "8Mi", "1GiB", "512MB", "1.5G" or plain bytes into bytes (Ki/KiB are 1024, K/KB are 1000)."""
    if isinstance(text, int):
        value = text
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(f"{text!r} is not a size; write bytes or a number with a unit, e.g. 8Mi, 1GiB, 512MB")
        value = int(float(match.group(1)) * _UNITS[unit])
    if value < 0:
        raise ValueError(f"size {text!r} is negative")
    return value

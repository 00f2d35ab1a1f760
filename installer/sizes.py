"""Sizes, in one syntax everywhere: a Kubernetes quantity of whole bytes.

Presets (`storage.filesystem.size`), the cluster (a PVC's request and capacity) and every flag that takes a size
(`--blob-size`, `--chunk-size`, `grow --size`, the benchmarks) use it: a number with an optional suffix, binary
`Ki Mi Gi Ti Pi Ei` (powers of 1024) or decimal `k M G T P E` (powers of 1000), e.g. `8Mi`, `100Gi`, `1G`,
`1048576`; a decimal point is fine when the result is whole bytes (`1.5Ki`). Surrounding spaces are dropped.
`1GiB` or `512MB` are refused with the spelling to use (`1Gi`, `512M`): Kubernetes would refuse them too.
"""

from __future__ import annotations

from installer import checks


def parse_size(text: str | int, what: str = "size", example: str = "8Mi") -> int:
    """Bytes in `text` (see the module's docstring); ValueError naming `what`, the accepted form and `example`."""
    try:
        return int(checks.quantity_value(checks.quantity(text, what, example)))
    except ValueError:
        spelled = str(text).strip()
        if spelled[-1:] in ("B", "b") and spelled[-2:-1].isalpha():
            try:
                checks.quantity(spelled[:-1], what, example)
            except ValueError:
                pass
            else:  # 1GiB, 512MB: the unit is right, the B is not Kubernetes' spelling
                raise ValueError(
                    f"{spelled!r} is not a {what}: sizes are Kubernetes quantities, write {spelled[:-1]!r} "
                    f"(e.g. {example}, 500Mi or 1Ti)"
                ) from None
        raise

"""Default names the Choices model and the wizard's first screen share (no msgspec: the first frame reads them)."""

from __future__ import annotations

NAMESPACE = "docker-registry"  # target.namespace
RELEASE = "docker-registry"  # target.release

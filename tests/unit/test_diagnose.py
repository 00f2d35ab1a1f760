"""diagnose(): whichever explanation it finds, the failure's detail is the error's own words."""

from __future__ import annotations

import pytest

from installer.diagnose import STEP_CONNECT, STEP_LAYER, STEP_MANIFEST, diagnose
from installer.registry_client import RegistryError
from installer.smoke import SmokeTarget

TARGET = SmokeTarget(
    registry="registry.example.com", username="ci", password=None, ca_file=None, controller_family="ingress-nginx"
)


@pytest.mark.parametrize(
    "error,step,fix_screen",
    [
        (RegistryError("refused", "connection refused", server="nginx/1.26"), STEP_CONNECT, "address"),
        (RegistryError("tls", "certificate verify failed", reason="unknown_authority"), STEP_CONNECT, "tls"),
        (
            RegistryError("http", "401 Unauthorized", status=401, challenge='Basic realm="registry"', server="nginx"),
            STEP_LAYER,
            "access",
        ),
        (RegistryError("http", "413 Request Entity Too Large", status=413), STEP_LAYER, "uploads"),
        (RegistryError("protocol", "an answer the distribution API does not allow"), STEP_MANIFEST, None),
    ],
)
def test_every_diagnosis_carries_the_errors_own_words(error, step, fix_screen):
    found = diagnose(error, step, TARGET)
    assert found.cause and found.fix and found.fix_screen == fix_screen, found
    assert found.detail.split("; ")[0] == str(error), found.detail
    for part in (error.server, error.challenge):
        assert not part or part in found.detail, found.detail

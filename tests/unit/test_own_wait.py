"""The installer's own wait (apply._own_wait, CLI and wizard alike): when a Deployment counts as rolled out."""

from __future__ import annotations

import pytest

from installer.watch import deployment_ready


def deployment(generation=2, observed=2, replicas=1, updated=1, available=1, total=1) -> dict:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "replicas": total,
        },
    }


def test_a_rolled_out_deployment_is_ready():
    assert deployment_ready(deployment())
    assert deployment_ready(deployment(replicas=2, updated=2, available=2, total=2))


@pytest.mark.parametrize(
    "why, fields",
    [
        ("the controller has not seen the new spec", {"observed": 1}),
        ("the new pod is not available yet", {"available": 0}),
        ("an old pod still runs beside the new one", {"total": 2}),
        ("the pod runs the old spec", {"updated": 0}),
        ("one of two replicas is missing", {"replicas": 2, "updated": 1, "available": 1, "total": 1}),
    ],
)
def test_a_deployment_still_rolling_out_is_not_ready(why, fields):
    assert not deployment_ready(deployment(**fields)), why


def test_a_new_deployment_without_status_is_not_ready():
    assert not deployment_ready({"metadata": {"generation": 1}, "spec": {"replicas": 1}})

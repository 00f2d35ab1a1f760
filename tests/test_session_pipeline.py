"""The wizard probes the cluster once: its Review step (WizardSession.prepare) reuses the Probe step's probe, on the
real API server (tests/cluster), and probes again when that probe cannot describe the target any more."""

from __future__ import annotations

import argparse
import uuid

import pytest

from installer.events import Event, StepStarted
from tests.conftest import CHART, PRESETS

pytestmark = pytest.mark.cluster


def started(events: list[Event]) -> list[str]:
    return [e.step for e in events if isinstance(e, StepStarted)]


def choices_for(cluster, namespace: str):
    from installer.cli import _load_choices

    return _load_choices(
        argparse.Namespace(
            preset=str(PRESETS / "minimal.yaml"),
            context=cluster.admin_context,
            namespace=namespace,
            release=None,
            chart=str(CHART),
        )
    )


def test_review_reuses_the_probe_steps_probe_once_then_probes_afresh(kube_cluster):
    from installer.session import WizardSession

    namespace = f"ri-probe-{uuid.uuid4().hex[:6]}"  # never created: nothing to clean up
    session = WizardSession(context=kube_cluster.admin_context, kubeconfig=str(kube_cluster.kubeconfig))
    session.connect(kube_cluster.admin_context)
    choices = choices_for(kube_cluster, namespace)
    probe_events: list[Event] = []
    probed = session.probe(namespace, choices.target.release, probe_events.append)
    assert started(probe_events) == ["probe"]

    review: list[Event] = []
    prepared = session.prepare(choices, review.append)
    assert started(review) == ["validate"]  # no second probe
    assert prepared.probe is probed

    again: list[Event] = []  # Back to Review (or after an install): the cluster may have changed, probe afresh
    assert session.prepare(choices, again.append).probe is not probed
    assert started(again) == ["probe", "validate"]

    other: list[Event] = []  # the Probe step probed another namespace: its probe is not this target's
    session.probe(f"{namespace}-x", choices.target.release)
    session.prepare(choices, other.append)
    assert started(other) == ["probe", "validate"]

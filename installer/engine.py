"""The steps both front ends run in the same order: connect, probe, plan, render."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from installer.events import EventSink, StepFinished, StepStarted, discard
from installer.kube import KubeClient
from installer.probe import ClusterProbe, ProbeResult

if TYPE_CHECKING:  # pydantic and the model load only for commands that plan (probe does not)
    from installer.model import Choices
    from installer.plan import ExistingState, Plan
    from installer.render import Rendered


@dataclass(frozen=True)
class Prepared:
    """A probe (None when offline), what is installed, the Plan and its rendering."""

    probe: ProbeResult | None
    existing: "ExistingState"
    plan: "Plan"
    rendered: "Rendered" = field(repr=False)


def connect(context: str | None = None, kubeconfig: str | None = None) -> KubeClient:
    return KubeClient(context=context, kubeconfig=kubeconfig)


def run_probe(kube: KubeClient, namespace: str, release: str, on_event: EventSink = discard) -> ProbeResult:
    started = time.monotonic()
    on_event(StepStarted("probe", f"context {kube.context or '(current)'} at {kube.server}"))
    try:
        result = ClusterProbe(kube, namespace, release).probe()
    except Exception as exc:
        on_event(StepFinished("probe", False, time.monotonic() - started, str(exc).splitlines()[0]))
        raise
    summary = (
        f"{result.server_version}; {len(result.storage_classes)} storage classes, {len(result.ingress_classes)} "
        "ingress classes"
    )
    if result.release is not None:
        summary += f"; release {result.release.name} revision {result.release.revision} ({result.release.status})"
    on_event(StepFinished("probe", True, time.monotonic() - started, summary))
    return result


def prepare(
    choices: "Choices", kube: KubeClient | None, on_event: EventSink = discard, existing: "ExistingState | None" = None
) -> Prepared:
    """Probe (when a cluster is given), read what is installed, build and render the Plan.

    Offline, `existing` is what an earlier render left (so a re-render keeps its secrets)."""
    from installer.plan import ExistingState, build_plan
    from installer.render import render
    from installer.state import load_existing

    probe = None
    existing = existing or ExistingState()
    if kube is not None:
        probe = run_probe(kube, choices.target.namespace, choices.target.release, on_event)
        tls = choices.exposure.tls
        extra = tls.secret_name if tls.mode == "existing-secret" else None
        fs = choices.storage.filesystem
        claim = fs.existing_claim if choices.storage.kind == "filesystem" else None
        existing = load_existing(kube, probe, choices.target.namespace, choices.target.release, extra, claim)
        if choices.exposure.gateway is not None:
            from dataclasses import replace

            from installer.managed import listener_certificates

            ref = choices.exposure.gateway
            gateway = probe.gateway(ref.name, ref.namespace or choices.target.namespace)
            if gateway is not None:
                existing = replace(existing, listener_certs=listener_certificates(kube, gateway))
    started = time.monotonic()
    on_event(
        StepStarted(
            "validate", "checking the choices against the cluster" if probe else "checking the choices (offline)"
        )
    )
    try:
        plan = build_plan(choices, probe, existing)
    except Exception as exc:
        on_event(StepFinished("validate", False, time.monotonic() - started, str(exc).splitlines()[0]))
        raise
    rendered = render(plan)
    on_event(
        StepFinished(
            "validate", True, time.monotonic() - started, f"{len(rendered.secrets)} Secrets, chart {plan.chart.ref}"
        )
    )
    return Prepared(probe, existing, plan, rendered)

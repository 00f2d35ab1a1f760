"""The one pipeline both front ends run, in this order: connect, probe, plan and render (prepare), install."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from installer.events import EventSink, discard, step
from installer.secretstr import repr_without
from installer.structs import msgspec

if TYPE_CHECKING:  # msgspec and the model load only for commands that plan (probe does not)
    import threading

    from installer.apply import ApplyOptions, ApplyResult
    from installer.helm import HelmRunner
    from installer.kube import KubeClient  # the cluster modules: not for an offline render (start-up)
    from installer.model import Choices
    from installer.plan import ExistingState, Plan
    from installer.probe import ProbeResult
    from installer.render import Rendered


class Prepared(msgspec.Struct, frozen=True):
    """A probe (None when offline), what is installed, the Plan and its rendering."""

    probe: ProbeResult | None
    existing: "ExistingState"
    plan: "Plan"
    rendered: "Rendered"

    __repr__, __rich_repr__ = repr_without("rendered")


def connect(context: str | None = None, kubeconfig: str | None = None) -> KubeClient:
    from installer.kube import KubeClient

    return KubeClient(context=context, kubeconfig=kubeconfig)


def run_probe(kube: KubeClient, namespace: str, release: str, on_event: EventSink = discard) -> ProbeResult:
    from installer.probe import ClusterProbe

    with step(on_event, "probe", f"context {kube.context or '(current)'} at {kube.server}") as run:
        result = ClusterProbe(kube, namespace, release).probe()
        run.result = probe_summary(result)
    return result


def probe_summary(result: ProbeResult) -> str:
    summary = (
        f"{result.server_version}; {len(result.storage_classes)} storage classes, {len(result.ingress_classes)} "
        "ingress classes"
    )
    if result.release is not None:
        summary += f"; release {result.release.name} revision {result.release.revision} ({result.release.status})"
    return summary


def prepare(
    choices: "Choices",
    kube: KubeClient | None,
    on_event: EventSink = discard,
    existing: "ExistingState | None" = None,
    probe: ProbeResult | None = None,
) -> Prepared:
    """Probe (when a cluster is given), read what is installed, build and render the Plan.

    `probe`: a probe of this cluster for `choices.target` made earlier (the wizard's Probe step): used as it is, so
    the cluster is probed once per run. Offline, `existing` is what an earlier render left (so a re-render keeps its
    secrets)."""
    from installer.plan import ExistingState, SecretNames, build_plan
    from installer.render import render
    from installer.state import load_existing

    existing = existing or ExistingState()
    if kube is None:
        probe = None
    else:
        if probe is None or not _probed(probe, choices):
            probe = run_probe(kube, choices.target.namespace, choices.target.release, on_event)
        tls = choices.exposure.tls
        tls_modes = ("existing-secret", "cert-manager")  # their Secret may hold the CA (ca.crt)
        extra = (tls.secret_name or SecretNames(choices.target.release).tls) if tls.mode in tls_modes else None
        fs = choices.storage.filesystem
        claim = fs.existing_claim if choices.storage.kind == "filesystem" else None
        existing = load_existing(kube, probe, choices.target.namespace, choices.target.release, extra, claim)
        if choices.exposure.gateway is not None:
            from installer.managed import listener_certificates

            ref = choices.exposure.gateway
            gateway = probe.gateway(ref.name, ref.namespace or choices.target.namespace)
            if gateway is not None:
                existing = msgspec.structs.replace(existing, listener_certs=listener_certificates(kube, gateway))
    detail = "checking the choices against the cluster" if probe else "checking the choices (offline)"
    with step(on_event, "validate", detail) as run:
        plan = build_plan(choices, probe, existing)
        rendered = render(plan)
        run.result = f"{len(rendered.secrets)} Secrets, chart {plan.chart.ref}"
    return Prepared(probe, existing, plan, rendered)


def _probed(probe: ProbeResult, choices: "Choices") -> bool:
    """Whether `probe` can describe `choices.target` (a release it found is the target's)."""
    found = probe.release
    return found is None or (found.name, found.namespace) == (choices.target.release, choices.target.namespace)


def install(
    prepared: Prepared,
    helm: "HelmRunner",
    kube: KubeClient,
    options: "ApplyOptions",
    on_event: EventSink = discard,
    cancel: "threading.Event | None" = None,
    detach: "threading.Event | None" = None,
) -> "ApplyResult":
    """Apply the Plan, then (with waiting, unless a dry run) the smoke push and the in-cluster pull check.

    Setting `detach` while the pods are awaited (options.wait) stops waiting: the release stays deployed,
    `result.ready` is False and nothing is pushed (not verified yet).

    The CLI's `apply` and the wizard's Install step both call this: the same steps in the same order.
    Raises InstallerError when the install fails (rolled back); a failed smoke push or pull check is
    `result.ok` False with `result.smoke` / `result.pull_check` saying why.
    """
    from installer.apply import apply
    from installer.verify import verify_install

    started = time.monotonic()
    result = apply(prepared.plan, prepared.rendered, helm, kube, options, on_event, cancel, detach)
    if not options.dry_run and result.ready is not False:
        verify_install(prepared.plan, kube, options, result, on_event)
    result.seconds = time.monotonic() - started
    return result

"""One pipeline for both front ends (issue 13): the headless `apply` and the wizard session's install of the same
preset on the real node report the same steps in the same order (names and outcomes; never timings or details)."""

from __future__ import annotations

import argparse
import signal
import threading

import pytest

from installer.apply import ApplyOptions
from installer.events import Event, StepFinished, StepStarted
from tests.conftest import CHART, apply_args, helm_path
from tests.fixtures.node import node_flags, tls_secret
from tests.test_node_install import (
    PASSWORD,
    SEED_LOCAL,
    cli,
    failed,
    write_preset,
)

pytestmark = [pytest.mark.node, pytest.mark.helm]


def step_sequence(events: list[Event]) -> list[tuple[str, str, bool | None]]:
    """(kind, step, ok) of every step event, in order."""
    return [
        (type(e).__name__, e.step, e.ok if isinstance(e, StepFinished) else None)
        for e in events
        if isinstance(e, (StepStarted, StepFinished))
    ]


def headless_apply(node, preset, namespace, address, monkeypatch) -> tuple[int, list[Event]]:
    """`registry-installer apply --preset ... --yes` through installer.cli.main in this process, recording the
    events its printer is given."""
    import installer.cli
    import installer.console
    from installer.console import EventPrinter

    recorded: list[Event] = []

    class RecordingPrinter(EventPrinter):
        def __call__(self, event: Event) -> None:
            recorded.append(event)
            super().__call__(event)

    # apply imports its printer from installer.console when it runs (since 7268145): patch it there
    monkeypatch.setattr(installer.console, "EventPrinter", RecordingPrinter)
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:  # apply stops helm cleanly on SIGINT/SIGTERM: it installs its handlers; put pytest's back after
        code = installer.cli.main(
            [
                *apply_args(preset, namespace),
                "--smoke-address",
                address,
                "--timeout",
                "4m",
                *node_flags(node),
                "--helm",
                str(helm_path("helm4")),
            ]
        )
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    return code, recorded


def wizard_install(node, preset, namespace, address):
    """What the wizard does from its Cluster step to Install: connect, probe, prepare (Review), install."""
    from installer.cli import _load_choices
    from installer.model import Chart
    from installer.session import WizardSession

    choices = _load_choices(
        argparse.Namespace(
            preset=str(preset), context=node.admin_context, namespace=namespace, release=None, chart=str(CHART)
        )
    )
    session = WizardSession(
        context=node.admin_context,
        kubeconfig=str(node.kubeconfig),
        helm_binary=str(helm_path("helm4")),
        chart=Chart(path=str(CHART)),
        apply_options=ApplyOptions(wait=True, timeout="4m", smoke_address=address),
    )
    recorded: list[Event] = []
    session.connect(node.admin_context)
    session.probe(namespace, choices.target.release, recorded.append)
    prepared = session.prepare(choices, recorded.append)
    result = session.install(prepared, recorded.append, threading.Event())
    return result, recorded


def test_headless_apply_and_the_wizard_install_run_the_same_steps_in_the_same_order(
    kube_node,
    node_ingress,
    test_ca,
    namespace,
    tmp_path,
    monkeypatch,
):
    monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca.ca_file))  # the smoke push trusts the stand-in's certificate
    tls_secret(kube_node, namespace, test_ca)
    preset = write_preset(tmp_path, SEED_LOCAL)
    address = node_ingress.address("localhost")

    code, headless = headless_apply(kube_node, preset, namespace, address, monkeypatch)
    assert code == 0, f"apply exited {code}:\n{kube_node.diagnose()}"
    # the same state for the second front end: the release gone, its data volume kept (as between two users' runs)
    removed = cli(kube_node, "uninstall", "--namespace", namespace, "--yes", helm="helm4")
    assert removed.returncode == 0, failed(removed, kube_node)

    result, wizard = wizard_install(kube_node, preset, namespace, address)
    assert result.ok and result.smoke is not None and result.smoke.ok, result.smoke

    sequence = step_sequence(headless)
    steps = [step for _, step, _ in sequence]
    # every stage of the pipeline is there, once, in order: probe -> plan -> apply -> smoke
    landmarks = ["probe", "validate", "secrets", "helm", "smoke: connect", "smoke: read back", "smoke: delete tag"]
    assert all(steps.count(name) == 2 for name in landmarks), steps  # started and finished
    assert [steps.index(name) for name in landmarks] == sorted(steps.index(name) for name in landmarks), steps
    assert all(ok is not False for _, _, ok in sequence), sequence
    assert step_sequence(wizard) == sequence

"""The wizard by keyboard on the real node: Install waits for the registry's pod for real, Smoke pushes through the
ingress stand-in (tests/fixtures/ingress.py) and reads the image back, Done follows."""

from __future__ import annotations

import json

import pytest

from tests.tui.conftest import (
    keyboard_install,
    message_log,
    next_step,
    node_app,
    replace_text,
    running,
    shown_text,
    wait_for_message,
    wait_until,
    worker_ended,
)

pytestmark = [pytest.mark.tui, pytest.mark.node, pytest.mark.helm]
PASSWORD = "wizard-node-Pw-4821"


async def test_keyboard_install_waits_for_the_pod_and_the_smoke_push_passes(
    kube_node,
    node_ingress,
    test_ca,
    namespace,
    monkeypatch,
):
    app = node_app(kube_node, test_ca, namespace, monkeypatch, "helm4", smoke_address=node_ingress.address("localhost"))
    async with running(app) as pilot:
        await keyboard_install(pilot, namespace, "localhost", PASSWORD, kube_node.diagnose)  # ingress auth, as the seed
        deployment = json.loads(
            kube_node.kubectl("-n", namespace, "get", "deployment", "docker-registry", "-o", "json").stdout
        )
        assert deployment["status"].get("readyReplicas") == 1, "Install returned before the registry's pod was ready"
        await next_step(pilot, "SmokeScreen")
        await wait_until(pilot, lambda: app.screen.result is not None, 180, what="the smoke push")
        result = app.screen.result
        assert result.ok, f"{result.diagnosis}\n{node_ingress.error_log()[-2000:]}"
        assert PASSWORD not in shown_text(app.screen.query_one("#smoke-result"))
        await next_step(pilot, "DoneScreen")
        done = " ".join(shown_text(app.screen.query_one("#done-summary"), 400).split())
        assert "docker login localhost -u admin" in done and "not verified" not in done, done
        assert PASSWORD not in done
    claim = json.loads(kube_node.kubectl("-n", namespace, "get", "pvc", "docker-registry", "-o", "json").stdout)
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == "rook-ceph-block"


async def test_a_name_that_does_not_resolve_fails_smoke_then_retry_through_an_address_override_passes(
    kube_node, node_ingress, test_ca, namespace, monkeypatch
):
    """Issue 12's end-to-end case: install, a failed smoke (the name has no DNS yet), Retry through the address the
    operator types, Done says verified."""
    app = node_app(kube_node, test_ca, namespace, monkeypatch, "helm3")  # no smoke address: the push goes to the name
    async with running(app) as pilot:
        hosts = "registry.example.test, localhost"  # .test never resolves
        await keyboard_install(pilot, namespace, hosts, explain=kube_node.diagnose)
        await next_step(pilot, "SmokeScreen")
        screen = app.screen
        await wait_until(pilot, lambda: screen.result is not None, 180, what="the first smoke push")
        assert not screen.result.ok and "does not resolve" in screen.result.diagnosis.cause
        assert not screen.query_one("#override").has_class("hidden") and screen.query_one("#smoke-address").has_focus
        await replace_text(pilot, "#smoke-address", node_ingress.address("localhost"))
        first = screen.result
        since = len(message_log(app).messages)
        await pilot.press("ctrl+r")
        await wait_for_message(pilot, worker_ended("smoke_worker"), 180, "the retried push", since)
        assert screen.result is not first and screen.result is not None, screen.result
        assert screen.result.ok, f"{screen.result.diagnosis}\n{node_ingress.error_log()[-2000:]}"
        await next_step(pilot, "DoneScreen")
        done = " ".join(shown_text(app.screen.query_one("#done-summary"), 400).split())
        assert "not verified" not in done and "docker login registry.example.test" in done, done

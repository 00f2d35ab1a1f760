"""The wizard by keyboard on the real node: Install waits for the registry's pod for real, Smoke pushes through the
ingress stand-in (tests/fixtures/ingress.py) and reads the image back, Done follows."""

from __future__ import annotations

import json

import pytest

from installer.apply import ApplyOptions
from installer.model import Chart
from installer.session import WizardSession
from screens.app import make_app
from tests.conftest import helm_path
from tests.fixtures.node import tls_secret
from tests.tui.conftest import (
    CHART_DIR,
    choose,
    connect_and_probe,
    next_step,
    replace_text,
    shown_text,
    type_text,
    wait_until,
)

pytestmark = [pytest.mark.tui, pytest.mark.node, pytest.mark.helm]
PASSWORD = "wizard-node-Pw-4821"


def node_app(kube_node, test_ca, namespace, monkeypatch, helm: str, **options):
    """The wizard on the real node, waiting and smoke-testing; the TLS Secret `registry-tls` from the test CA."""
    monkeypatch.setenv(
        "SSL_CERT_FILE", str(test_ca.ca_file)
    )  # the smoke push trusts the test CA (the stand-in serves its cert)
    tls_secret(kube_node, namespace, test_ca)
    apply_options = ApplyOptions(wait=True, smoke=True, timeout="4m", **options)
    session = WizardSession(
        context=kube_node.admin_context,
        kubeconfig=str(kube_node.kubeconfig),
        helm_binary=str(helm_path(helm)),
        chart=Chart(path=str(CHART_DIR)),
        apply_options=apply_options,
    )
    return make_app(session=session)


async def test_keyboard_install_waits_for_the_pod_and_the_smoke_push_passes(
    kube_node,
    node_ingress,
    test_ca,
    namespace,
    monkeypatch,
):
    app = node_app(kube_node, test_ca, namespace, monkeypatch, "helm4", smoke_address=node_ingress.address("localhost"))
    async with app.run_test(size=(80, 24)) as pilot:
        await connect_and_probe(pilot, namespace)
        await next_step(pilot, "AddressScreen")
        await type_text(pilot, "localhost")
        await choose(pilot, "#tls-mode", 1)  # existing Secret
        await replace_text(pilot, "#secret-name", "registry-tls")
        await next_step(pilot, "AccessScreen")
        await choose(pilot, "#auth-mode", 1)  # ingress basic auth, as the seed
        await replace_text(pilot, "#user-name", "admin")
        await pilot.press("tab")
        await type_text(pilot, PASSWORD)
        await pilot.press("enter")
        for step in ("StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, step)
        await wait_until(pilot, lambda: app.screen.prepared is not None or app.screen.failure, 120, what="the review")
        assert not app.screen.failure, app.screen.failure
        await next_step(pilot, "InstallScreen")
        await wait_until(pilot, lambda: app.screen.result is not None or app.screen.failure, 300, what="helm --wait")
        assert app.screen.failure is None, f"{app.screen.failure}\n{kube_node.diagnose()}"
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
    app = node_app(
        kube_node, test_ca, namespace, monkeypatch, "helm3"
    )  # no smoke address: the first push goes to the name
    async with app.run_test(size=(80, 24)) as pilot:
        await connect_and_probe(pilot, namespace)
        await next_step(pilot, "AddressScreen")
        await type_text(pilot, "registry.example.test, localhost")  # .test never resolves
        await choose(pilot, "#tls-mode", 1)
        await replace_text(pilot, "#secret-name", "registry-tls")
        for step in ("AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, step)
        await wait_until(pilot, lambda: app.screen.prepared is not None or app.screen.failure, 120, what="the review")
        assert not app.screen.failure, app.screen.failure
        await next_step(pilot, "InstallScreen")
        await wait_until(pilot, lambda: app.screen.result is not None or app.screen.failure, 300, what="helm --wait")
        assert app.screen.failure is None, f"{app.screen.failure}\n{kube_node.diagnose()}"
        await next_step(pilot, "SmokeScreen")
        screen = app.screen
        await wait_until(pilot, lambda: screen.result is not None, 180, what="the first smoke push")
        assert not screen.result.ok and "does not resolve" in screen.result.diagnosis.cause
        assert not screen.query_one("#override").has_class("hidden") and screen.query_one("#smoke-address").has_focus
        await replace_text(pilot, "#smoke-address", node_ingress.address("localhost"))
        first = screen.result
        await pilot.press("ctrl+r")
        await wait_until(
            pilot, lambda: screen.result is not first and screen.result is not None, 180, what="the retried push"
        )
        assert screen.result.ok, f"{screen.result.diagnosis}\n{node_ingress.error_log()[-2000:]}"
        await next_step(pilot, "DoneScreen")
        done = " ".join(shown_text(app.screen.query_one("#done-summary"), 400).split())
        assert "not verified" not in done and "docker login registry.example.test" in done, done

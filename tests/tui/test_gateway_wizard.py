"""The wizard's Gateway path on the real test cluster: Address offers Ingress or Gateway from the probe, the install
creates the HTTPRoute on the chosen listener."""

from __future__ import annotations

import json

import pytest

from screens.app import make_app
from tests.tui.conftest import (
    choose,
    cluster_session,
    connect_and_probe,
    next_step,
    running,
    shown_text,
    type_text,
    worker_finished,
)

pytestmark = [pytest.mark.tui, pytest.mark.cluster, pytest.mark.helm]
NAMESPACE = "wizard-gateway"


async def test_address_offers_a_gateway_and_the_install_creates_the_route(kube_cluster):
    app = make_app(session=cluster_session(kube_cluster))
    async with running(app) as pilot:
        await connect_and_probe(pilot, NAMESPACE)
        found = " ".join(shown_text(app.screen.query_one("#found"), 400).split())
        assert "ingress-nginx (IngressClass nginx) was retired" in found and "March 2026" in found  # the probe's notice
        await next_step(pilot, "AddressScreen")
        screen = app.screen
        assert screen.query_one("#exposure-kind").value == "ingress"  # Traefik is there too: Ingress stays the default
        assert "retired" in shown_text(screen.query_one("#retired"))
        await type_text(pilot, "registry.example.com")
        await choose(pilot, "#exposure-kind", 1)
        assert screen.query_one("#gateway-fields").display and not screen.query_one("#ingress-fields").display
        assert screen.query_one("#gateway-listener").value == "envoy-gateway-system/eg/https"
        await choose(pilot, "#gateway-listener", 2)  # nginx-gateway/shared, listener https
        assert screen.query_one("#gateway-listener").value == "nginx-gateway/shared/https"
        await next_step(pilot, "AccessScreen")
        modes = [value for _label, value in app.screen.modes]
        assert (
            "ingress" not in modes and app.screen.query_one("#auth-mode").value != "ingress"
        )  # no basic auth at a Gateway
        for step in ("StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, step)
        await worker_finished(pilot, "prepare_worker", 120)
        assert not app.screen.failure, app.screen.failure
        review = app.screen.prepared.rendered.review
        assert any("ClientSettingsPolicy" in line for line in review)
        summary = " ".join(shown_text(app.screen.query_one("#summary"), 400).split())
        assert "Gateway" in summary and "ClientSettingsPolicy" in summary  # shown on the step, not only computed
        await next_step(pilot, "InstallScreen")
        await worker_finished(pilot, "apply_worker", 300)
        assert app.screen.failure is None, app.screen.failure
        await pilot.press("ctrl+q")
    route = json.loads(
        kube_cluster.kubectl("get", "httproute", "docker-registry", "-n", NAMESPACE, "-o", "json").stdout
    )
    assert (
        route["spec"]["parentRefs"][0]["name"] == "shared" and route["spec"]["parentRefs"][0]["sectionName"] == "https"
    )
    assert route["spec"]["hostnames"] == ["registry.example.com"]
    assert kube_cluster.kubectl("get", "ingress", "-n", NAMESPACE, "-o", "name").stdout.strip() == ""

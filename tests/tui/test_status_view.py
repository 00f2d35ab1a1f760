"""The Status view (issue 16) and the Clients step's reconfigure (issue 14) against the real API server and real helm.

No kubelet here: pods never run, so Collect garbage is refused (the read-only window needs a running registry, tested
on the real node in test_node_features.py) and this test plays the volume resize controller for Grow.
"""

from __future__ import annotations

import threading
import time

import pytest

from screens.app import make_app
from tests.conftest import PRESETS, helm_path
from tests.test_cluster_install import apply_seed, bind_claim, core, release_secrets
from tests.test_daytwo_cluster import record_a_collection
from tests.tui.conftest import (
    action_finished,
    cluster_session,
    connect_and_probe,
    message_log,
    next_step,
    on_screen,
    replace_text,
    running,
    shown_text,
    status_read,
    wait_for_message,
    wait_until,
    worker_finished,
)

pytestmark = [pytest.mark.tui, pytest.mark.cluster, pytest.mark.helm]
NAMESPACE = "wizard-status"


def play_resize_controller(cluster, size: str, stop: threading.Event) -> None:
    """Once the PVC asks for `size`, report it as the capacity (what the resize controller and kubelet would do)."""
    api = core(cluster)
    while not stop.is_set():
        pvc = api.read_namespaced_persistent_volume_claim("docker-registry", NAMESPACE)
        if pvc.spec.resources.requests["storage"] == size:
            api.patch_namespaced_persistent_volume_claim_status(
                "docker-registry", NAMESPACE, {"status": {"capacity": {"storage": size}}}
            )
            return
        time.sleep(0.2)


def summary(app) -> str:
    return " ".join(shown_text(app.screen.query_one("#status-summary"), 300).split())


def progress(app) -> str:
    return " ".join(shown_text(app.screen.query_one("#action-progress"), 300).split())


async def test_status_view_grows_the_volume_refuses_gc_without_a_pod_then_reconfigure_adds_a_pull_namespace(
    kube_cluster,
):
    helm = helm_path("helm3")
    proc = apply_seed(kube_cluster, helm, NAMESPACE, preset=PRESETS / "minimal.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bind_claim(kube_cluster, NAMESPACE, "docker-registry", "100Gi")
    record_a_collection(kube_cluster, NAMESPACE)

    app = make_app(session=cluster_session(kube_cluster))
    async with running(app) as pilot:
        await connect_and_probe(pilot, NAMESPACE)
        await next_step(pilot, "StatusScreen")  # the release is installed: its status before the reconfigure steps
        assert "Status" in str(app.screen.query_one("#step-bar").render())
        await wait_for_message(pilot, status_read, 120, "the status")
        assert app.screen.status is not None, summary(app)
        text = summary(app)
        for words in (
            "Release revision 1 (deployed), chart docker-registry-3.0.0",
            "Pods 0/0 ready, 0 restarts",
            "Address registry.example.com → (no address yet)",
            "TLS Secret docker-registry-tls,",
            "Volume PVC docker-registry 100Gi (Bound, rook-ceph-block, expandable)",
            "Last GC 2026-11-01T01:00:00Z ok, freed 3 MiB, read-only 41 s",
            "Node trust off",
            "! 0/0 registry pods ready",
        ):
            assert words in text, f"{words!r} not in {text!r}"
        assert "days left" in text
        screen = app.screen

        # Grow: the size suggested is twice the volume; a smaller one is refused on the spot
        assert screen.query_one("#grow-size").value == "200Gi"
        await replace_text(pilot, "#grow-size", "50Gi")
        await pilot.press("enter")
        assert "50Gi is not larger than the volume's 100Gi" in " ".join(
            shown_text(screen.query_one("#problems-text"), 300).split()
        )
        await replace_text(pilot, "#grow-size", "200Gi")
        await pilot.press("enter")
        await wait_until(pilot, lambda: on_screen(app, "Confirm"), what="the grow confirmation")
        assert "cannot shrink back" in str(app.screen.query_one(".confirm-text").render())
        stop = threading.Event()
        controller = threading.Thread(target=play_resize_controller, args=(kube_cluster, "200Gi", stop))
        controller.start()
        log = message_log(app)
        try:
            since = len(log.messages)
            await pilot.press("shift+tab", "enter")  # from Stay to Grow
            await wait_until(pilot, lambda: on_screen(app, "StatusScreen"), what="Status again")
            grown = await wait_for_message(pilot, action_finished("grow"), 120, "the grow", since)
        finally:
            stop.set()
            controller.join()
        assert screen.running is None
        assert "✓ PVC docker-registry is 200Gi" in progress(app)
        await wait_for_message(pilot, status_read, 60, "the status after grow", log.after(grown))
        assert "docker-registry 200Gi" in summary(app)
        assert [r["version"] for r in release_secrets(kube_cluster, NAMESPACE)] == [1, 2]  # the size is recorded

        # Collect garbage: confirmed, refused (no registry pod runs here), nothing changed
        screen.query_one("#gc").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: on_screen(app, "Confirm"), what="the gc confirmation")
        assert "405 Method Not Allowed" in str(app.screen.query_one(".confirm-text").render())
        since = len(log.messages)
        await pilot.press("shift+tab", "enter")
        await wait_until(pilot, lambda: on_screen(app, "StatusScreen"), what="Status again")
        await wait_for_message(pilot, action_finished("gc"), 120, "the gc refusal", since)
        assert screen.running is None and "✗" in progress(app)
        assert "no registry pod of release docker-registry is ready" in progress(app)
        assert [r["version"] for r in release_secrets(kube_cluster, NAMESPACE)] == [1, 2], "no read-only revision"

        # Reconfigure ▸ continues into the steps, which start from the installed values
        await next_step(pilot, "AddressScreen")
        assert app.screen.query_one("#hosts").value == "registry.example.com"
        for step in ("AccessScreen", "StorageScreen", "ClientsScreen"):
            await next_step(pilot, step)
        assert app.screen.query_one("#namespaces").value == ""
        await replace_text(pilot, "#namespaces", "apps")
        for step in ("UploadsScreen", "ReviewScreen"):
            await next_step(pilot, step)
        await worker_finished(pilot, "prepare_worker", 120)
        assert not app.screen.failure, app.screen.failure
        assert "+ pull Secret in namespace apps (created)" in shown_text(app.screen.query_one("#diff"), 300)
        await next_step(pilot, "Confirm")  # an upgrade asks first
        await pilot.press("shift+tab", "enter")
        await wait_until(pilot, lambda: on_screen(app, "InstallScreen"), 120, what="the Install step")
        await worker_finished(pilot, "apply_worker", 300)
        assert app.screen.failure is None, app.screen.failure
        await pilot.press("ctrl+q")
    pull = core(kube_cluster).read_namespaced_secret("docker-registry-pull", "apps")
    assert pull.type == "kubernetes.io/dockerconfigjson"

    # the next run starts the Clients step from what is installed, and the Status view shows the new revision
    app = make_app(session=cluster_session(kube_cluster))
    async with running(app) as pilot:
        await connect_and_probe(pilot, NAMESPACE)
        await next_step(pilot, "StatusScreen")
        await wait_for_message(pilot, status_read, 120, "the status")
        assert app.screen.status is not None, summary(app)
        assert "Release revision 3 (deployed)" in summary(app)
        for step in ("AddressScreen", "AccessScreen", "StorageScreen", "ClientsScreen"):
            await next_step(pilot, step)
        assert app.screen.query_one("#namespaces").value == "apps"
        await pilot.press("ctrl+q")

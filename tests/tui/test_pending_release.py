"""A release left pending-upgrade by a run that died (issue 12 item 4): the wizard says what is happening and
recovers it as promised; a dry run while another installer holds the lock says to wait. Real helm 3, real cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from installer.apply import ApplyOptions, apply
from installer.engine import connect, prepare
from installer.helm import HelmRunner
from installer.lock import LockHeld, ReleaseLock
from installer.model import Chart, Choices
from screens.app import make_app
from tests.conftest import helm_argv, helm_path, run_helm
from tests.tui.conftest import (
    CHART_DIR,
    cluster_session,
    connect_and_probe,
    next_step,
    on_screen,
    running,
    shown_text,
    wait_until,
    worker_finished,
)

pytestmark = [pytest.mark.tui, pytest.mark.cluster, pytest.mark.helm]
RELEASE = "docker-registry"


def helm(cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_helm(cluster, *args, check=check)


def status(cluster, namespace: str) -> dict:
    return json.loads(helm(cluster, "status", RELEASE, "-n", namespace, "-o", "json").stdout)


def leave_pending_upgrade(cluster, namespace: str) -> None:
    """Install revision 1, then start an upgrade that waits for pods (which never run here) and kill -9 helm:
    what a crashed installer or a closed laptop leaves behind."""
    helm(cluster, "upgrade", "--install", RELEASE, str(CHART_DIR), "-n", namespace, "--create-namespace")
    proc = subprocess.Popen(
        helm_argv(
            cluster,
            "upgrade",
            RELEASE,
            str(CHART_DIR),
            "-n",
            namespace,
            "--wait",
            "--timeout",
            "10m",
            "--set",
            "replicaCount=2",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while status(cluster, namespace)["info"]["status"] != "pending-upgrade":
            assert time.monotonic() < deadline, "helm never reached pending-upgrade"
            time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert status(cluster, namespace)["info"]["status"] == "pending-upgrade"


async def test_wizard_says_what_pending_upgrade_means_and_recovers_it(kube_cluster):
    namespace = "wizard-pending"
    leave_pending_upgrade(kube_cluster, namespace)
    app = make_app(session=cluster_session(kube_cluster))
    async with running(app) as pilot:
        await connect_and_probe(pilot, namespace)
        found = " ".join(shown_text(app.screen.query_one("#found")).split())
        assert "pending-upgrade: an install was interrupted or is running now" in found
        assert "rolls the release back to its last good revision" in found
        await next_step(pilot, "StatusScreen")  # a release is there: its status comes first
        await next_step(pilot, "AddressScreen")
        if not app.screen.query_one("#hosts").value:
            app.screen.query_one("#hosts").value = "pending.example.com"
        for screen in ("AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, screen)
        await worker_finished(pilot, "prepare_worker", 120)
        assert not app.screen.failure, app.screen.failure
        await next_step(pilot, "Confirm")  # an upgrade asks first
        await pilot.press("shift+tab", "enter")
        await wait_until(pilot, lambda: on_screen(app, "InstallScreen"), 60, what="the Install step")
        await worker_finished(pilot, "apply_worker", 300)
        assert app.screen.failure is None, app.screen.failure  # no "another operation in progress"
        steps = " ".join(app.screen.steps.values())
        assert "recover" in steps and "rolled back to revision 1, the last good one" in steps
        await pilot.press("ctrl+q")
    assert status(kube_cluster, namespace)["info"]["status"] == "deployed"


def test_dry_run_says_wait_while_another_installer_holds_the_lock_and_what_a_real_run_does(kube_cluster):
    namespace = "dry-run-pending"
    leave_pending_upgrade(kube_cluster, namespace)
    kube = connect(kube_cluster.admin_context, str(kube_cluster.kubeconfig))
    choices = Choices.parse(
        {
            "target": {"namespace": namespace, "release": RELEASE, "context": kube_cluster.admin_context},
            "chart": Chart(path=str(CHART_DIR)),
            "exposure": {"hosts": ["dry.example.com"]},
        },
        literal_secrets=True,
    )
    prepared = prepare(choices, kube)
    runner = HelmRunner(str(helm_path("helm3")), str(kube_cluster.kubeconfig), kube_cluster.admin_context)
    options = ApplyOptions(dry_run=True, wait=False, smoke=False)
    other = ReleaseLock(kube, namespace, RELEASE)
    other.acquire()  # another installer (alive: this process) is applying
    try:
        with pytest.raises(LockHeld) as caught:
            apply(prepared.plan, prepared.rendered, runner, kube, options)
        assert "another registry-installer" in caught.value.message and "wait for it to finish" in caught.value.hint
        assert "helm rollback" not in str(caught.value)
    finally:
        other.release_lock()
    events = []
    result = apply(prepared.plan, prepared.rendered, runner, kube, options, on_event=events.append)
    assert result.ok
    words = [e.detail for e in events if type(e).__name__ == "StepFinished" and e.step == "recover"]
    assert words == ["a real apply rolls it back to revision 1 first, then upgrades"]
    assert status(kube_cluster, namespace)["info"]["status"] == "pending-upgrade"  # a dry run changes nothing


def test_helm_hint_for_another_operation_does_not_send_users_to_helm_rollback():
    from installer.helm import _hint

    hint = _hint("Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress")
    assert "helm rollback" not in hint and "re-run registry-installer" in hint and "wait" in hint

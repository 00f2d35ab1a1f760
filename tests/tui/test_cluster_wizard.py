"""The whole wizard against the real test cluster and real helm: install the seed setup, then reconfigure."""

from __future__ import annotations

import json

import pytest

from installer.apply import ApplyOptions
from installer.events import Note, StepStarted
from screens.app import make_app
from tests.conftest import run_helm
from tests.tui.conftest import (
    choose,
    cluster_session,
    connect_and_probe,
    message_log,
    next_step,
    on_screen,
    problems_text,
    replace_text,
    reported,
    running,
    shown_text,
    to_running_install,
    type_text,
    wait_for_message,
    wait_until,
    worker_ended,
    worker_finished,
)

pytestmark = [pytest.mark.tui, pytest.mark.cluster, pytest.mark.helm]
NAMESPACE = "wizard-e2e"
RELEASE = "registry"


def helm_status(cluster, release: str = RELEASE, namespace: str = NAMESPACE) -> dict:
    return json.loads(run_helm(cluster, "status", release, "-n", namespace, "-o", "json", check=True).stdout)


async def test_keyboard_install_of_the_seed_setup_then_reconfigure_to_revision_2(kube_cluster):
    app = make_app(session=cluster_session(kube_cluster))
    async with running(app) as pilot:
        await connect_and_probe(pilot, NAMESPACE, RELEASE)
        assert "rook-ceph-block" in shown_text(app.screen.query_one("#found"))
        await next_step(pilot, "AddressScreen")
        assert app.screen.query_one("#ingress-class").value == "nginx"  # the default, preselected
        await type_text(pilot, "registry.example.com")
        await choose(pilot, "#tls-mode", 1)  # existing Secret
        await replace_text(pilot, "#secret-name", "registry-tls")
        await next_step(pilot, "AccessScreen")
        await choose(pilot, "#auth-mode", 1)  # ingress basic auth
        await replace_text(pilot, "#realm", "Authentication Required - ok")
        await replace_text(pilot, "#user-name", "admin")
        await pilot.press("tab")
        await type_text(pilot, "seed-password-Xy7")
        await pilot.press("enter")
        await next_step(pilot, "StorageScreen")
        assert app.screen.query_one("#storage-class").value == "rook-ceph-block"
        await next_step(pilot, "ClientsScreen")
        await next_step(pilot, "UploadsScreen")
        await next_step(pilot, "ReviewScreen")
        await worker_finished(pilot, "prepare_worker", 120)
        assert not app.screen.failure, app.screen.failure
        assert "upgrade --install registry" in shown_text(app.screen.query_one("#summary"))
        await next_step(pilot, "InstallScreen")
        await worker_finished(pilot, "apply_worker", 300)
        assert app.screen.failure is None, app.screen.failure
        await next_step(pilot, "SmokeScreen")
        await next_step(pilot, "DoneScreen")
        await pilot.press("ctrl+n")
    status = helm_status(kube_cluster)
    assert status["info"]["status"] == "deployed" and status["version"] == 1
    htpasswd_after_install = basic_auth(kube_cluster)
    assert htpasswd_after_install.startswith("admin:$2y$")

    app = make_app(session=cluster_session(kube_cluster))
    async with running(app) as pilot:
        await connect_and_probe(pilot, NAMESPACE, RELEASE)
        assert "revision 1" in shown_text(app.screen.query_one("#found"))
        await next_step(pilot, "StatusScreen")  # an installed release: its status before the reconfigure steps
        await next_step(pilot, "AddressScreen")
        assert app.screen.query_one("#hosts").value == "registry.example.com"
        assert app.screen.query_one("#secret-name").value == "registry-tls"
        await next_step(pilot, "AccessScreen")
        assert app.screen.query_one("#auth-mode").value == "ingress"
        assert [(u.name, u.password.kind) for u in app.screen.users] == [("admin", "keep")]
        # the typed password was never stored: "keep" copies the installed hash, so nothing is retyped
        await next_step(pilot, "StorageScreen")
        assert app.screen.query_one("#size").value == "100Gi"
        # the installed volume cannot shrink: said here, where the size is typed, not first at Review
        await worker_finished(pilot, "read_claim")
        await replace_text(pilot, "#size", "50Gi")
        assert "the data volume registry-docker-registry is 100Gi; Kubernetes volumes cannot shrink" in problems_text(
            app
        )
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert on_screen(app, "StorageScreen")
        await replace_text(pilot, "#size", "100Gi")
        assert problems_text(app) == ""
        await next_step(pilot, "ClientsScreen")
        await next_step(pilot, "UploadsScreen")
        await replace_text(pilot, "#max-body-size", "10g")
        await next_step(pilot, "ReviewScreen")
        await worker_finished(pilot, "prepare_worker", 120)
        assert not app.screen.failure, app.screen.failure
        diff = str(app.screen.query_one("#diff").render())
        assert "proxy-body-size: '0'" in diff and "proxy-body-size: 10g" in diff
        await next_step(pilot, "Confirm")  # an upgrade of an installed release asks first (Stay has the focus)
        assert "Upgrade the installed release registry (revision 1)" in str(
            app.screen.query_one(".confirm-text").render()
        )
        await pilot.press("escape")
        await wait_until(pilot, lambda: on_screen(app, "ReviewScreen"), what="Review again")
        await next_step(pilot, "Confirm")
        await pilot.press("shift+tab", "enter")
        await wait_until(pilot, lambda: on_screen(app, "InstallScreen"), 120, what="the Install step")
        await worker_finished(pilot, "apply_worker", 300)
        assert app.screen.failure is None, app.screen.failure
        await pilot.press("ctrl+q")
    status = helm_status(kube_cluster)
    assert status["info"]["status"] == "deployed" and status["version"] == 2
    assert basic_auth(kube_cluster) == htpasswd_after_install, "the kept password's hash must not change"


def basic_auth(cluster) -> str:
    """The ingress basic-auth Secret's htpasswd content, as the cluster holds it."""
    import base64

    from kubernetes import client

    secret = client.CoreV1Api(cluster.api_client("admin")).read_namespaced_secret(f"{RELEASE}-basic-auth", NAMESPACE)
    return base64.b64decode(secret.data["auth"]).decode()


async def test_cancel_during_helm_rolls_back_and_says_so(kube_cluster):
    # waiting for pods that never run keeps helm busy until the cancel
    session = cluster_session(kube_cluster)
    session.apply_options = ApplyOptions(wait=True, smoke=False, timeout="5m")
    app = make_app(session=session)
    async with running(app) as pilot:
        await worker_finished(pilot, "connect_worker", 120)
        assert app.screen.identity is not None, shown_text(app.screen.query_one("#identity"))
        await replace_text(pilot, "#namespace", "wizard-cancel")
        await pilot.press("ctrl+n", "ctrl+n")  # the second one arrives while the probe runs: remembered, not dropped
        await wait_for_message(pilot, worker_ended("run_probe"), 120, what="the probe")
        await wait_until(  # the probe's result moves on by itself, or stays for its warnings
            pilot,
            lambda: (
                on_screen(app, "AddressScreen") or (on_screen(app, "ProbeScreen") and app.screen.result is not None)
            ),
            120,
            what="the step after the probe",
        )
        if on_screen(app, "ProbeScreen"):  # warnings keep the user on the probe's findings
            assert app.screen.result.warnings() and any("read them" in str(n.message) for n in app._notifications)
            await next_step(pilot, "AddressScreen")
        await wait_until(pilot, lambda: on_screen(app, "AddressScreen"), what="the Address step")
        await type_text(pilot, "cancel.example.com")
        for screen in ("AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, screen)
        await worker_finished(pilot, "prepare_worker", 120)
        since = len(message_log(app).messages)
        await next_step(pilot, "InstallScreen")
        await wait_for_message(pilot, reported(StepStarted, "helm"), 120, "helm to start", since)
        assert "helm" in app.screen.steps
        await pilot.press("ctrl+q")  # asks first while helm runs
        await wait_until(pilot, lambda: on_screen(app, "ConfirmQuit"))
        await pilot.press("escape")
        await wait_until(pilot, lambda: on_screen(app, "InstallScreen"))
        await pilot.press("ctrl+x")  # keyboard only: the Install step's cancel key
        await worker_finished(pilot, "apply_worker", 180)  # the cancelled install ends
        assert app.screen.failure is not None, app.screen.result
        assert "Nothing is left installed" in app.screen.failure.message
        assert app.installing is False
        assert app.screen.check_action("cancel_install", ()) is False  # the footer stops offering ^x Cancel
        await pilot.press("ctrl+n")  # Continue after a failure goes back to Review, where the fix starts
        await wait_until(pilot, lambda: on_screen(app, "ReviewScreen"), what="Review after the failure")
        await pilot.press("ctrl+q")
    out = run_helm(kube_cluster, "status", "docker-registry", "-n", "wizard-cancel")
    assert out.returncode != 0 and "not found" in out.stderr


async def test_review_sets_waiting_and_timeout_and_install_shows_rollout_events(kube_cluster):
    from installer.events import RolloutProblem, RolloutStatus
    from screens.install import InstallScreen

    app = make_app(session=cluster_session(kube_cluster, wait=True, timeout="10m"))
    async with running(app) as pilot:
        await connect_and_probe(pilot, "wizard-wait")
        await next_step(pilot, "AddressScreen")
        await type_text(pilot, "wait.example.com")
        for screen in ("AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, screen)
        await worker_finished(pilot, "prepare_worker", 120)
        summary = lambda: " ".join(shown_text(app.screen.query_one("#summary")).split())  # noqa: E731
        # the wizard's helm does not wait (no --wait, no --atomic): the installer waits and rolls back itself, so the
        # Install step can stop waiting without leaving helm running (issue 12 item 5)
        assert "--timeout 10m" in summary() and "--atomic" not in summary() and "--wait" not in summary()
        assert "then the installer waits up to 10m for the registry's pods" in summary()
        await replace_text(pilot, "#timeout", "soon")
        assert "'soon' is not a duration" in problems_text(app)
        await replace_text(pilot, "#timeout", "3m")
        assert problems_text(app) == "" and "--timeout 3m" in summary()
        app.screen.query_one("#wait").focus()
        await pilot.press("space")  # keyboard: waiting off
        await wait_until(pilot, lambda: "the installer waits" not in summary(), 10, what="the summary without waiting")
        assert "--wait" not in summary() and "smoke test is skipped" in summary()
        assert not app.screen.query_one("#timeout-row").display
        await next_step(pilot, "InstallScreen")
        assert app.session.apply_options.wait is False and app.session.apply_options.timeout == "3m"
        await worker_finished(pilot, "apply_worker", 300)
        assert app.screen.failure is None, app.screen.failure
        # what the engine's rollout watch emits while helm waits, as the Install step shows it
        screen = app.screen
        problem = RolloutProblem(
            "PersistentVolumeClaim",
            "docker-registry",
            "NoProvisioner",
            "no provisioner for class standard-noexpand",
            "choose a StorageClass with a provisioner",
            fatal=True,
        )
        since = len(message_log(app).messages)
        for event in (RolloutStatus("Pod", "registry-abc", "ContainerCreating"), problem):
            screen.post_message(InstallScreen.EventReported(event))
        await wait_for_message(pilot, lambda m: getattr(m, "event", None) is problem, 10, "the problem", since)
        assert any("fix: choose a StorageClass" in line for line in screen.log_lines)
        assert "rollout: Pod registry-abc: ContainerCreating" in screen.log_lines
        assert any(
            line.startswith("stopping: PersistentVolumeClaim docker-registry: NoProvisioner")
            for line in screen.log_lines
        )
        await pilot.press("ctrl+q")


def helm_processes_for(namespace: str) -> list[str]:
    """Command lines of helm processes working on `namespace` (any helm left running would show here)."""
    from pathlib import Path

    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        text = " ".join(a.decode(errors="replace") for a in args if a)
        if args and args[0].endswith(b"helm") and namespace in text:
            found.append(text)
    return found


async def test_continue_without_waiting_leaves_the_release_deployed_and_no_helm_running(kube_cluster):
    """Issue 12 item 5: while the registry's pods are awaited (they never run here: no kubelet), Ctrl+D stops
    waiting. helm has already returned (the wizard never runs helm --wait), the release is deployed, not
    pending, and Done says "installed, not verified yet" with the status command."""
    namespace = "wizard-nowait"
    app = make_app(session=cluster_session(kube_cluster, wait=True, timeout="5m"))
    async with running(app) as pilot:
        await to_running_install(pilot, namespace, "nowait.example.com")
        screen = app.screen
        await wait_for_message(pilot, reported(Note, "wait"), 120, "the installer's wait for the pods")
        assert screen.waiting
        # helm has finished (the wizard runs it without --wait): the release is deployed, not pending
        assert any("helm deployed revision 1; waiting up to 5m" in line for line in screen.log_lines)
        assert helm_processes_for(namespace) == []
        assert not screen.query_one("#detach").has_class("hidden")
        assert screen.check_action("stop_waiting", ()) is True  # the footer offers ^d
        await pilot.press("ctrl+d")
        await worker_finished(pilot, "apply_worker")
        assert screen.failure is None, screen.failure
        assert screen.result.ready is False and app.installing is False
        assert "installed, not verified yet" in shown_text(screen.query_one("#install-status"))
        assert any("continuing without waiting" in line for line in screen.log_lines)
        await next_step(pilot, "SmokeScreen")
        assert not app.screen.running  # nothing pushed to pods that may not be up
        assert "continued without waiting" in shown_text(app.screen.query_one("#smoke-progress #steps"))
        await next_step(pilot, "DoneScreen")
        done = " ".join(shown_text(app.screen.query_one("#done-summary")).split())
        assert "Installed, not verified yet" in done
        assert f"registry-installer status --namespace {namespace} --release docker-registry" in done
        await pilot.press("ctrl+n")  # Quit
    assert "not verified yet" in app.summary
    status = helm_status(kube_cluster, "docker-registry", namespace)
    assert status["info"]["status"] == "deployed" and status["version"] == 1
    assert helm_processes_for(namespace) == []


async def test_install_timeout_names_the_claim_no_provisioner_answers(kube_cluster):
    """The Install step's error after the wait's timeout is the engine's, as `apply` prints it: the claim of class
    rook-ceph-block (no provisioner runs here), what it waited for and the Rook check; no "see the lines above"."""
    namespace = "wizard-silent"
    app = make_app(session=cluster_session(kube_cluster, wait=True, timeout="5s"))
    async with running(app) as pilot:
        await to_running_install(pilot, namespace, "silent.example.com")
        await worker_finished(pilot, "apply_worker", 180)
        screen = app.screen
        assert screen.failure is not None, screen.result
        shown = " ".join(problems_text(app).split())
        assert (
            "PersistentVolumeClaim docker-registry was still waiting for rook-ceph.rbd.csi.ceph.com to make a 100Gi "
            "volume of class rook-ceph-block after " in shown
        ), shown
        assert "(no answer from that provisioner)" in shown and "Nothing is left installed" in shown
        assert "kubectl -n rook-ceph get pods -l app=csi-rbdplugin-provisioner" in shown
        assert "see the rollout lines above" not in shown
        await pilot.press("ctrl+q")
    out = run_helm(kube_cluster, "status", "docker-registry", "-n", namespace)
    assert out.returncode != 0 and "not found" in out.stderr

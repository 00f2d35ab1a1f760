"""The Probe step says whether helm can install (version and path, or ✗ with the fix) before the questions: without
helm the wizard used to walk every step and say so only at Review."""

from __future__ import annotations

from installer.session import WizardSession
from screens.app import make_app
from tests.conftest import helm_path
from tests.tui.conftest import connect_and_probe, running, shown_text, worker_finished


async def probe_helm_line(cluster, helm: str) -> str:
    app = make_app(
        session=WizardSession(context=cluster.admin_context, kubeconfig=str(cluster.kubeconfig), helm_binary=helm)
    )
    async with running(app) as pilot:
        await connect_and_probe(pilot, "probe-helm")
        await worker_finished(pilot, "check_helm", 60)
        line = " ".join(shown_text(app.screen.query_one("#helm")).split())
        await pilot.press("ctrl+q")
    return line


async def test_probe_step_says_helm_is_missing_and_the_fix(kube_cluster):
    line = await probe_helm_line(kube_cluster, "no-such-helm-here")
    assert "helm: ✗ the helm binary 'no-such-helm-here' was not found on PATH" in line, line
    assert "fix: install helm 3.8 or newer" in line and "pass --helm /path/to/helm" in line, line


async def test_probe_step_says_which_helm_installs(kube_cluster):
    helm = helm_path("helm4")
    line = await probe_helm_line(kube_cluster, str(helm))
    assert line.startswith("helm: ✓ helm v4.") and line.endswith(f"at {helm}"), line

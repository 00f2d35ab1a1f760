"""The wizard's day-two and VM-disk parts on the real node: Done's "Push a VM disk now" pushes a qcow2 through the
address the smoke push used (the ingress stand-in's localhost:PORT), then a second run shows the Status view with the
kubelet's figures and collects garbage with its read-only window, before Reconfigure continues into the steps."""

from __future__ import annotations

import re
import subprocess

import pytest

from installer.registry_client import RegistryClient
from installer.secretstr import SecretStr
from screens.app import make_app
from tests.tui.conftest import (
    action_finished,
    connect_and_probe,
    keyboard_install,
    message_log,
    next_step,
    node_app,
    node_session,
    on_screen,
    push_finished,
    replace_text,
    running,
    shown_text,
    status_read,
    type_text,
    wait_for_message,
    wait_until,
)

pytestmark = [pytest.mark.tui, pytest.mark.node, pytest.mark.helm]
PASSWORD = "features-node-Pw-3310"


def words(widget, width: int = 300) -> str:
    return " ".join(shown_text(widget, width).split())


async def test_done_pushes_a_vm_disk_then_status_collects_garbage_with_its_read_only_window(
    kube_node, node_ingress, test_ca, namespace, monkeypatch, tmp_path
):
    address = node_ingress.address("localhost")
    disk = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)

    # the pushes trust the test CA the stand-in serves
    app = node_app(kube_node, test_ca, namespace, monkeypatch, "helm4", smoke_address=address)
    async with running(app) as pilot:
        # the public name resolves nowhere here
        await keyboard_install(pilot, namespace, "registry.example.test, localhost", PASSWORD, kube_node.diagnose)
        await next_step(pilot, "SmokeScreen")
        await wait_until(pilot, lambda: app.screen.result is not None, 180, what="the smoke push")
        assert app.screen.result.ok, f"{app.screen.result.diagnosis}\n{node_ingress.error_log()[-2000:]}"
        await next_step(pilot, "DoneScreen")

        app.screen.query_one("#push-disk").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: on_screen(app, "PushDiskScreen"), what="the push-disk form")
        modal = app.screen
        assert f"through {address}" in words(modal.query_one("#push-title"))
        await type_text(pilot, str(tmp_path / "missing.qcow2"))
        log = message_log(app)
        since = len(log.messages)
        await pilot.press("enter", "enter")  # file, then image (suggested from the name): push
        await wait_for_message(pilot, push_finished, 60, "the refusal", since)
        assert not modal.running and modal.failure is not None
        assert "missing.qcow2" in words(modal.query_one("#disk-result"))
        await replace_text(pilot, "#disk-file", str(disk))
        await replace_text(pilot, "#disk-image", "vms/tiny:1")
        since = len(log.messages)
        await pilot.press("enter")
        await wait_for_message(pilot, push_finished, 300, "the disk push", since)
        assert not modal.running and modal.result is not None, modal.failure
        result = modal.result
        assert result.ok, f"{result.diagnosis}\n{node_ingress.error_log()[-2000:]}"
        assert result.pinned.startswith("registry.example.test/vms/tiny:1@sha256:"), result.pinned
        shown = words(modal.query_one("#disk-result"))
        assert f"✓ pushed {result.pinned}" in shown
        assert "containerDisk:" in shown and "kind: DataVolume" in shown and "docker://registry.example.test/" in shown
        assert address not in shown, "the snippets name the registry, not the address the push went through"
        assert "sent in" in shown and PASSWORD not in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: on_screen(app, "DoneScreen"), what="Done again")
        await pilot.press("ctrl+q")
    client = RegistryClient(address, username="admin", password=SecretStr(PASSWORD), ca_file=test_ca.ca_file)
    try:
        assert client.get_manifest("vms/tiny", "1").digest == result.digest  # the registry holds what was shown
    finally:
        client.close()

    app = make_app(session=node_session(kube_node, "helm4", smoke_address=address))
    async with running(app) as pilot:
        await connect_and_probe(pilot, namespace)
        await next_step(pilot, "StatusScreen")
        screen = app.screen
        await wait_for_message(pilot, status_read, 120, "the status")
        assert screen.status is not None, words(screen.query_one("#status-summary"))
        text = words(screen.query_one("#status-summary"))
        for part in (
            "Release revision 1 (deployed), chart docker-registry-3.0.0",
            "Pods 1/1 ready",
            "TLS Secret registry-tls,",
            "Volume PVC docker-registry 100Gi (Bound, rook-ceph-block",
            "Last GC never (by this installer)",
            "Node trust off",
        ):
            assert part in text, f"{part!r} not in {text!r}"
        images = re.search(r"Images (\d+) repositories, (\d+) tags", text)
        assert images and int(images.group(1)) >= 1 and int(images.group(2)) >= 1, text  # vms/tiny:1 at least

        screen.query_one("#gc").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: on_screen(app, "Confirm"), what="the gc confirmation")
        log = message_log(app)
        since = len(log.messages)
        await pilot.press("shift+tab", "enter")  # from Stay to Collect
        await wait_until(pilot, lambda: on_screen(app, "StatusScreen"), what="Status again")
        await wait_until(
            pilot, lambda: "read-only for" in words(screen.query_one("#action-progress")), 120, what="read-only"
        )
        assert "pushes get 405" in words(screen.query_one("#action-progress"))
        await pilot.press("ctrl+n")  # Reconfigure is held while the collection runs
        assert on_screen(app, "StatusScreen")
        collected = await wait_for_message(pilot, action_finished("gc"), 400, "the collection", since)
        assert screen.running is None
        progress = words(screen.query_one("#action-progress"))
        assert "✓ garbage collected" in progress, f"{progress}\n{kube_node.diagnose()}"
        assert "✓ read-only" in progress and "✓ collect" in progress and "✓ writable" in progress
        await wait_for_message(pilot, status_read, 60, "the status after the collection", log.after(collected))
        text = words(screen.query_one("#status-summary"))
        assert "Last GC never" not in text, text
        assert "Last GC" in text and " ok, freed " in text and "Usage" in text

        await next_step(pilot, "AddressScreen")  # Reconfigure ▸: the steps start from the installed values
        assert app.screen.query_one("#hosts").value == "registry.example.test, localhost"
        await pilot.press("ctrl+q")

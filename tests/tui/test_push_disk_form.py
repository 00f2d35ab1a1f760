"""Done's "Push a VM disk now" form without a cluster: the disk is picked with the keyboard, the image name suggested,
a refused connection explained; the rate and ETA figures. The push to a real registry is in test_node_features.py."""

from __future__ import annotations

import subprocess

import pytest

from installer.preset import load_preset
from screens.push_disk import PushDiskScreen, RateMeter, image_for
from tests.conftest import PRESETS
from tests.tui.conftest import (
    go_offline,
    message_log,
    offline_app,
    on_screen,
    pick_file,
    push_finished,
    running,
    shown_text,
    wait_for_message,
    wait_until,
)

pytestmark = [pytest.mark.tui]


def test_rate_and_eta_come_from_the_last_seconds_of_progress():
    meter = RateMeter(window=5.0)
    assert meter.words(0, 4 * 2**30) == "0 B of 4 GiB"  # no rate before two samples
    meter.add(0, now=100.0)
    meter.add(200 * 2**20, now=102.0)
    assert meter.words(200 * 2**20, 4 * 2**30) == "200 MiB of 4 GiB, 100 MiB/s, ETA 39 s"
    meter.add(210 * 2**20, now=110.0)  # a stall: the window forgets the fast start
    assert meter.rate() == pytest.approx(10 * 2**20 / 8.0)
    assert image_for("/srv/Fedora-Cloud 40.x86_64.qcow2") == "vms/fedora-cloud-40:latest"


async def test_the_disk_is_picked_with_the_keyboard_and_a_refused_connection_is_explained(closed_kubeconfig, tmp_path):
    folder = tmp_path / "disks"
    folder.mkdir()
    disk = folder / "debian-12.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    (folder / "notes.txt").write_text("not a disk\n")
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await go_offline(pilot)
        prepared = app.session.prepare(load_preset(PRESETS / "minimal.yaml"))
        app.session.push_address = "127.0.0.1:1"  # as if the smoke push had gone through an address: nothing listens
        app.push_screen(PushDiskScreen(app.session, prepared))
        form = app.screen
        await wait_until(pilot, lambda: bool(form.query("#push-title")), what="the push-disk form")
        assert "through 127.0.0.1:1" in shown_text(form.query_one("#push-title"))
        await pick_file(pilot, "#disk-file", disk, "PushDiskScreen")
        assert form.query_one("#disk-file").value == str(disk)
        assert form.query_one("#disk-image").value == "vms/debian-12:latest" and form.query_one("#disk-image").has_focus
        since = len(message_log(app).messages)
        await pilot.press("enter")  # push
        await wait_for_message(pilot, push_finished, 120, "the push", since)
        assert not form.running and form.result is not None, form.failure
        assert not form.result.ok
        shown = " ".join(shown_text(form.query_one("#disk-result"), 300).split())
        assert shown.startswith("✗ ") and "127.0.0.1:1" in shown and "fix:" in shown, shown
        assert form.query_one("#push").display and not form.query_one("#stop").display  # ready to try again
        await pilot.press("escape")
        await wait_until(pilot, lambda: on_screen(app, "AddressScreen"), what="the step under the form")


async def test_the_form_says_at_once_when_no_password_is_known_and_does_not_push(closed_kubeconfig, tmp_path):
    """Every password kept from the installed release (the installer never saw them): the push went anonymous and
    failed with the 401 diagnosis. The form says so when it opens, with the fix, and Push does not start."""
    import bcrypt

    from installer.engine import prepare
    from installer.model import Auth, Choices, Exposure
    from installer.plan import ExistingState

    installed = bcrypt.hashpw(b"typed-at-install", bcrypt.gensalt(4)).decode()
    choices = Choices(
        exposure=Exposure(hosts=["registry.example.com"]),
        auth=Auth.parse({"users": [{"name": "admin", "password": "keep"}]}),
    )
    prepared = prepare(choices, None, existing=ExistingState(registry_htpasswd={"admin": installed}))
    disk = tmp_path / "debian-12.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await go_offline(pilot)
        app.push_screen(PushDiskScreen(app.session, prepared))
        form = app.screen
        await wait_until(pilot, lambda: bool(form.query("#push-title")), what="the push-disk form")
        shown = lambda: " ".join(shown_text(form.query_one("#disk-result"), 400).split())  # noqa: E731
        await wait_until(pilot, lambda: "no password is known" in shown(), 10, what="the warning")
        assert "no password is known here for admin" in shown() and "401 Unauthorized" in shown(), shown()
        assert "--username admin --password-env VAR" in shown(), shown()
        form.query_one("#disk-file").value = str(disk)
        form.query_one("#disk-image").value = "vms/debian-12:latest"
        await pilot.click("#push")
        await pilot.pause()
        assert not form.running and form.result is None and "no password is known" in shown()

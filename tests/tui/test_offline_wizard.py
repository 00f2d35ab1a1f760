"""Pilot tests of every step that works without a cluster: validation, back and forth, keyboard only."""

from __future__ import annotations

import pytest

from installer.engine import prepare
from installer.preset import load_preset
from installer.session import WizardSession
from screens.app import make_app
from screens.state import WizardState
from tests.fixtures.tls import write_cert_and_key
from tests.tui.conftest import (
    choose,
    go_offline,
    next_step,
    offline_app,
    offline_to_access,
    offline_to_new_user,
    offline_to_storage,
    on_screen,
    pick_file,
    problems_text,
    replace_text,
    running,
    shown_text,
    type_text,
    wait_until,
    worker_finished,
)

pytestmark = pytest.mark.tui


async def test_no_cluster_explains_and_quits_with_ctrl_q(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await worker_finished(pilot, "connect_worker")  # it fails: the explanation
        assert not app.screen.query_one("#offline").has_class("hidden")
        text = str(app.screen.query_one("#identity").render())
        assert "No cluster is reachable" in text
        assert "127.0.0.1:1" in text and "connection refused" in text
        # Widget.focus() takes effect on the next turn of the loop
        await wait_until(
            pilot, lambda: app.focused is app.screen.query_one("#offline"), 10, what="the offline button's focus"
        )
        await pilot.press("ctrl+n")  # not connected: the next step stays blocked
        assert on_screen(app, "ClusterScreen")
        assert "not connected" in problems_text(app)
        await pilot.press("ctrl+q")
    assert app.return_code == 0


async def test_bad_hostname_is_refused_inline(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await go_offline(pilot)
        await type_text(pilot, "Bad_Host")
        assert "is not a valid hostname" in problems_text(app)
        await pilot.press("ctrl+n")
        assert on_screen(app, "AddressScreen")


async def offline_with_tls_files(pilot) -> None:
    """Offline to the Address step, host registry.example.com, TLS from files."""
    await go_offline(pilot)
    await type_text(pilot, "registry.example.com")
    pilot.app.screen.query_one("#tls-mode").value = "files"
    await pilot.pause()


async def test_tls_files_missing_then_mismatched(closed_kubeconfig, tmp_path):
    cert_a, _key_a = write_cert_and_key(tmp_path, ["registry.example.com"], "a")
    _cert_b, key_b = write_cert_and_key(tmp_path, ["registry.example.com"], "b")
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_with_tls_files(pilot)
        app.screen.query_one("#cert-file").value = str(tmp_path / "missing.crt")
        app.screen.query_one("#key-file").value = str(key_b)
        await pilot.pause()
        assert "missing.crt does not exist" in problems_text(app)
        app.screen.query_one("#cert-file").value = str(cert_a)
        await pilot.pause()
        assert "does not belong to the certificate" in problems_text(app)
        await pilot.press("ctrl+n")
        assert on_screen(app, "AddressScreen")


async def test_tls_files_are_picked_with_the_keyboard(closed_kubeconfig, tmp_path):
    folder = tmp_path / "certs"
    folder.mkdir()
    cert, key = write_cert_and_key(folder, ["registry.example.com"], "a")
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_with_tls_files(pilot)
        for field, wanted in (("#cert-file", cert), ("#key-file", key)):
            await pick_file(pilot, field, wanted, "AddressScreen")
            assert app.screen.query_one(field).value == str(wanted)
        await pilot.pause()
        assert problems_text(app) == ""
        await next_step(pilot, "AccessScreen")


async def test_password_over_72_bytes_is_refused(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_to_new_user(pilot, "ci")
        await pilot.press("tab")
        await type_text(pilot, "é" * 37)  # 74 bytes
        assert "74 bytes" in problems_text(app)
        await pilot.press("ctrl+n")
        assert on_screen(app, "AccessScreen")
        password = app.screen.query_one("#user-password")
        assert password.password is True  # masked until revealed
        await pilot.press("ctrl+r")
        assert password.password is False


async def typed_and_refused(pilot, field_id: str, text: str, problem: str, screen: str):
    """Type `text` into the emptied field `field_id`: the step shows `problem` and Next stays on `screen`."""
    app = pilot.app
    field = app.screen.query_one(field_id)
    field.focus()
    field.value = ""
    await type_text(pilot, text)
    assert problem in problems_text(app)
    await pilot.press("ctrl+n")
    assert on_screen(app, screen)
    return field


async def test_bad_size_and_body_size(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_to_storage(pilot)
        size = await typed_and_refused(pilot, "#size", "100GB", "'100GB' is not a size", "StorageScreen")
        size.value = "200Gi"
        await next_step(pilot, "ClientsScreen")
        await next_step(pilot, "UploadsScreen")
        body = app.screen.query_one("#max-body-size")
        body.focus()
        body.value = "lots"
        await pilot.pause()
        assert "is not an nginx size" in problems_text(app)


async def test_replicas_need_shared_storage_and_gc_is_kept(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_to_storage(pilot)
        problem = "2 replicas cannot share a ReadWriteOnce volume"
        await typed_and_refused(pilot, "#replicas", "2", problem, "StorageScreen")
        app.screen.query_one("#access-mode").value = "ReadWriteMany"
        app.screen.query_one("#gc-enabled").value = True
        await pilot.pause()
        assert problems_text(app) == ""
        await next_step(pilot, "ClientsScreen")
        await next_step(pilot, "UploadsScreen")
        extras = app.state.extras
        assert extras.replicas == 2 and extras.garbage_collect.enabled
        assert app.state.storage.filesystem.access_mode == "ReadWriteMany"


async def test_back_and_forth_keeps_values(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_to_new_user(pilot, "ci", "registry.example.com, mirror.example.com")
        await pilot.press("enter")  # adds the user
        await next_step(pilot, "StorageScreen")
        await pilot.press("escape")
        await wait_until(pilot, lambda: on_screen(app, "AccessScreen"))
        assert [u.name for u in app.screen.users] == ["admin", "ci"]
        await pilot.press("escape")
        await wait_until(pilot, lambda: on_screen(app, "AddressScreen"))
        assert app.screen.query_one("#hosts").value == "registry.example.com, mirror.example.com"
        bar = str(app.screen.query_one("#step-bar").render())
        # the 11 steps of an offline run, every name whole at 80 columns
        parts = [part.strip() for part in bar.split("·")]
        assert parts == [step.label for step in app.steps if step.key != "status"], bar


async def test_keyboard_only_offline_run_renders_files_and_the_preset_replays_identically(
    closed_kubeconfig, tmp_path, monkeypatch
):
    app = offline_app(closed_kubeconfig, workdir=tmp_path)
    async with running(app) as pilot:
        await offline_to_access(pilot, "registry.example.com")
        await pilot.press("ctrl+n")  # admin, generated password
        await wait_until(pilot, lambda: on_screen(app, "StorageScreen"))
        await next_step(pilot, "ClientsScreen")
        await next_step(pilot, "UploadsScreen")
        await next_step(pilot, "ReviewScreen")
        await worker_finished(pilot, "prepare_worker")
        assert not app.screen.failure
        assert "values.yaml" in str(app.screen.query_one("#values").render())
        await pilot.press("ctrl+n")  # offline: write the files
        await wait_until(pilot, lambda: on_screen(app, "DoneScreen"))
        assert "docker login registry.example.com -u admin" in shown_text(app.screen.query_one("#done-summary"))
        app.screen.query_one("#preset-path").focus()
        await pilot.press("enter")  # save the preset
        await wait_until(pilot, lambda: "preset saved" in str(app.screen.query_one("#saved").render()))
        await pilot.press("ctrl+n")  # Quit
    assert app.return_code == 0
    rendered_values = (tmp_path / "docker-registry-rendered" / "values.yaml").read_text()
    replayed = prepare(load_preset(tmp_path / "registry-preset.yaml"), None)
    assert replayed.rendered.values_yaml() == rendered_values


async def test_typed_password_goes_to_a_private_file_not_the_preset(closed_kubeconfig, tmp_path, monkeypatch):
    app = offline_app(closed_kubeconfig, workdir=tmp_path)
    async with running(app) as pilot:
        await offline_to_new_user(pilot, "admin")
        await pilot.press("tab")
        await type_text(pilot, "s3cret-typed")
        await pilot.press("enter")
        for step in ("StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, step)
        await worker_finished(pilot, "prepare_worker")
        assert app.screen.prepared is not None, app.screen.failure
        await next_step(pilot, "DoneScreen")
        app.screen.save_preset_now()
        await pilot.pause()
    preset = (tmp_path / "registry-preset.yaml").read_text()
    assert "s3cret-typed" not in preset
    secret_file = tmp_path / "docker-registry-admin.password"
    assert f"file:{secret_file}" in preset
    assert secret_file.read_text() == "s3cret-typed\n"
    assert secret_file.stat().st_mode & 0o777 == 0o600


async def asked_to_quit_mid_install(pilot) -> None:
    """Offline on the Address step, as if an install ran: Ctrl+Q asks first (the ConfirmQuit question shows)."""
    await go_offline(pilot)
    pilot.app.installing = True
    await pilot.press("ctrl+q")
    await wait_until(pilot, lambda: on_screen(pilot.app, "ConfirmQuit"))


async def test_ctrl_q_asks_first_while_installing(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await asked_to_quit_mid_install(pilot)
        await pilot.press("escape")
        await wait_until(pilot, lambda: on_screen(app, "AddressScreen"))
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: on_screen(app, "ConfirmQuit"))
        await pilot.press("tab", "enter")  # from Stay to Quit
    assert app.return_code == 1 and app.exit_code == 1


async def test_arrow_keys_move_between_a_questions_answers(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await asked_to_quit_mid_install(pilot)
        assert app.focused is not None and app.focused.id == "no"  # the safe answer first
        await pilot.press("left")
        assert app.focused.id == "yes"
        await pilot.press("right")
        assert app.focused.id == "no"
        await pilot.press("left", "enter")
    assert app.return_code == 1 and app.exit_code == 1


def failed_smoke(*diagnosis: str):
    """A failed smoke push as the engine reports it: `diagnosis` is Diagnosis(cause, fix, fix_screen, detail)."""
    from installer.diagnose import Diagnosis
    from installer.smoke import SmokeResult

    return SmokeResult(
        ok=False, digest=None, bytes=0, seconds=0.1, throughput_mib_s=0.0, diagnosis=Diagnosis(*diagnosis)
    )


class FailingSmokeSession:
    """Stands in for the session's smoke push only: the registry answered 413 (the push itself is tested in
    test_smoke)."""

    smoke_enabled = True
    offline = False

    def smoke(self, prepared, on_event, address=None):
        return failed_smoke(
            "the ingress refused the layer: 413 Request Entity Too Large",
            "set the body size to 0 (unlimited)",
            "uploads",
            "PATCH /v2/... 413",
        )


async def test_smoke_failure_offers_the_step_that_fixes_it(closed_kubeconfig):
    from installer.model import Choices, Exposure

    prepared = prepare(Choices(exposure=Exposure(hosts=["registry.example.com"])), None)
    state = WizardState(exposure=prepared.plan.choices.exposure, prepared=prepared, install=object())
    app = make_app(session=FailingSmokeSession(), start_at="smoke", state=state)
    async with running(app) as pilot:
        await worker_finished(pilot, "smoke_worker", screen="SmokeScreen")
        assert "413" in shown_text(app.screen.query_one("#smoke-result"))
        assert app.focused is app.screen.query_one("#fix")
        await pilot.press("enter")
        await wait_until(pilot, lambda: on_screen(app, "UploadsScreen"), what="the Uploads step")


async def burst(app, keys: str) -> None:
    """Keys as a password manager's auto-type sends them: all at once, before the UI has handled any ("\t" is Tab)."""
    from textual import events

    for ch in keys:
        app.post_message(
            events.Key("tab", None)
            if ch == "\t"
            else events.Key(
                ch if ch.isalnum() else {"-": "minus", "!": "exclamation_mark", " ": "space"}.get(ch, ch), ch
            )
        )


async def test_typed_ahead_keys_land_in_the_field_focused_when_they_are_handled(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_to_access(pilot, "registry.example.com")
        app.screen.query_one("#user-name").focus()
        await pilot.pause()
        await burst(app, "bob\tpw123456")
        await wait_until(
            pilot, lambda: len(app.screen.query_one("#user-password").value) == 8, 10, what="the password field to fill"
        )
        assert app.screen.query_one("#user-name").value == "bob"
        assert app.screen.query_one("#user-password").value == "pw123456"


async def test_an_invalid_user_name_is_never_echoed(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_to_new_user(pilot, "adminS3cret-Passw0rd!")  # a password typed into the name field
        await pilot.press("enter")
        shown = problems_text(app)
        assert "user name is invalid" in shown
        assert "S3cret" not in shown and "Passw0rd" not in shown


async def test_address_is_quiet_until_typed_and_speaks_in_the_screens_words(closed_kubeconfig):
    from installer.model import is_hostname

    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await go_offline(pilot)
        hosts = app.screen.query_one("#hosts")
        assert not is_hostname(hosts.placeholder.strip("()")), "the placeholder must not look like a value"
        app.screen.query_one("#tls-mode").value = "existing-secret"  # switching mode: nothing typed yet, no red
        await pilot.pause()
        assert problems_text(app) == ""
        await pilot.press("ctrl+n")  # Next shows every problem, in the screen's words
        shown = problems_text(app)
        assert (
            "Hostnames: enter at least one hostname" in shown
            and "enter the name of the kubernetes.io/tls Secret" in shown
        )
        assert "exposure." not in shown and "List should have" not in shown
        app.screen.query_one("#tls-mode").value = "self-signed"
        hosts.focus()
        await type_text(pilot, "a" * 64 + ".example.com")
        assert "is 64 characters, and a DNS label (the part between dots) has at most 63" in problems_text(app)
        await pilot.press("ctrl+u", "ctrl+k")
        await type_text(pilot, "Registry.Example.COM")
        assert problems_text(app) == ""
        await next_step(pilot, "AccessScreen")
        assert app.state.exposure.hosts == ["registry.example.com"]  # lowercased, not refused


async def test_unlimited_is_a_body_size(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_to_storage(pilot)
        await next_step(pilot, "ClientsScreen")
        await next_step(pilot, "UploadsScreen")
        await replace_text(pilot, "#max-body-size", "unlimited")
        assert problems_text(app) == ""
        await next_step(pilot, "ReviewScreen")
        assert app.state.uploads.max_body_size == "0"


async def test_done_gives_what_an_operator_needs_next(closed_kubeconfig, tmp_path, monkeypatch):
    app = offline_app(closed_kubeconfig, workdir=tmp_path)
    async with running(app) as pilot:
        await offline_to_new_user(pilot, "ci", "registry.example.com, mirror.example.com")
        await pilot.press("enter")  # a second user, password generated
        for step in ("StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, step)
        await worker_finished(pilot, "prepare_worker")
        assert app.screen.prepared is not None, app.screen.failure
        await next_step(pilot, "DoneScreen")
        shown = shown_text(app.screen.query_one("#done-summary"), 76)
        text = " ".join(shown.split())
        for host in ("registry.example.com", "mirror.example.com"):
            for user in ("admin", "ci"):
                assert f"docker login {host} -u {user}" in text
        assert "-o jsonpath='{.data.password\\.ci}' | base64 -d" in text  # a command that prints the password itself
        assert "create secret docker-registry regcred --docker-server=registry.example.com" in text
        assert "PVC docker-registry/docker-registry" in text and "--delete-data" in text
        # offline: commands that work as written, in order, uncut
        assert text.index("kubectl create namespace docker-registry") < text.index(
            "kubectl -n docker-registry apply -f secrets.yaml"
        )
        assert "--namespace docker-registry -f values.yaml -f secret-values.yaml" in text and "…" not in shown
        # wrapped lines keep their indent
        lines = shown.splitlines()
        wrapped = [b for a, b in zip(lines, lines[1:]) if a.startswith("  kubectl -n APP_NS create secret")]
        assert wrapped and wrapped[0].startswith("  ") and wrapped[0].strip()
        all_text = " ".join(shown_text(w) for w in app.screen.query("Static"))
        assert "For this check" not in all_text
        app.screen.query_one("#save-ca").press()
        await wait_until(pilot, lambda: (tmp_path / "hosts.toml").exists(), 10, what="hosts.toml")
        toml = (tmp_path / "hosts.toml").read_text()
        assert (
            'server = "https://registry.example.com"' in toml
            and 'ca = "/etc/containerd/certs.d/registry.example.com/ca.crt"' in toml
        )
        assert (tmp_path / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")


async def test_esc_on_the_first_step_says_why_nothing_happens(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await worker_finished(pilot, "connect_worker")  # it fails: the explanation
        assert not app.screen.query_one("#offline").has_class("hidden")
        await pilot.press("escape")
        await wait_until(
            pilot, lambda: any("first step" in str(n.message) for n in app._notifications), 10, what="a notice"
        )
        assert on_screen(app, "ClusterScreen")


async def test_focus_is_clearly_visible_and_review_does_not_focus_the_action(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await go_offline(pilot)
        await type_text(pilot, "registry.example.com")
        focused, other = app.screen.query_one("#hosts"), app.screen.query_one("#secret-name")
        assert app.focused is focused
        a, b = focused.background_colors[1], other.background_colors[1]
        assert max(abs(a.r - b.r), abs(a.g - b.g), abs(a.b - b.b)) >= 40, (a, b)  # was 234 vs 235 (one step of grey)
        for step in ("AccessScreen", "StorageScreen", "ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, step)
        await worker_finished(pilot, "prepare_worker")
        assert app.screen.prepared is not None, app.screen.failure
        await pilot.pause()
        assert app.focused is not app.screen.query_one("#next")  # Enter does not write or install by accident
        assert app.focused is app.screen.query_one("#body")


async def test_save_preset_asks_before_replacing_a_file(closed_kubeconfig, tmp_path, monkeypatch):
    existing = tmp_path / "registry-preset.yaml"
    existing.write_text("# someone's preset\n")
    app = offline_app(closed_kubeconfig, workdir=tmp_path)
    async with running(app) as pilot:
        await offline_to_storage(pilot)
        for step in ("ClientsScreen", "UploadsScreen", "ReviewScreen"):
            await next_step(pilot, step)
        await worker_finished(pilot, "prepare_worker")
        assert app.screen.prepared is not None, app.screen.failure
        await next_step(pilot, "DoneScreen")
        app.screen.query_one("#save-preset").press()
        await wait_until(pilot, lambda: on_screen(app, "Confirm"), 10, what="the replace question")
        assert "registry-preset.yaml exists. Replace it?" in str(app.screen.query_one(".confirm-text").render())
        await pilot.press("escape")  # Stay: the file is untouched
        await wait_until(pilot, lambda: on_screen(app, "DoneScreen"))
        assert existing.read_text() == "# someone's preset\n"
        app.screen.query_one("#save-preset").press()
        await wait_until(pilot, lambda: on_screen(app, "Confirm"), 10, what="the replace question")
        await pilot.press("shift+tab", "enter")  # Replace
        await wait_until(pilot, lambda: "version: 1" in existing.read_text(), 10, what="the preset")


def test_a_preset_with_kept_passwords_can_replay_elsewhere(tmp_path, monkeypatch):
    from installer.model import Choices
    from installer.preset import load_preset

    choices = Choices.parse(
        {
            "exposure": {"hosts": ["r.example.com"]},
            "auth": {"users": [{"name": "admin", "password": "keep"}, {"name": "ci@corp", "password": "keep"}]},
        }
    )
    saved = WizardSession.save_preset(choices, str(tmp_path / "p.yaml"), kept_as="env")
    text = saved.path.read_text()
    assert "keep" not in text and "env:REGISTRY_PASSWORD_ADMIN" in text and "env:REGISTRY_PASSWORD_CI_CORP" in text
    monkeypatch.setenv("REGISTRY_PASSWORD_ADMIN", "pw-admin-123")
    monkeypatch.setenv("REGISTRY_PASSWORD_CI_CORP", "pw-ci-123")
    replayed = load_preset(str(saved.path))
    assert [u.password.kind for u in replayed.auth.users] == ["env", "env"]


class UnresolvedNameSession(WizardSession):
    """Stands in for the session's smoke push and ingress lookup only (the push itself is tested in test_smoke): the
    registry's name does not resolve; through the ingress address 203.0.113.7 the push succeeds."""

    smoke_enabled = True

    def __init__(self) -> None:
        super().__init__()
        self.addresses = []

    def dns_target(self, prepared):
        return "203.0.113.7"

    def smoke(self, prepared, on_event, address=None):
        from installer.smoke import SmokeResult

        self.addresses.append(address)
        if address == "203.0.113.7":
            return SmokeResult(
                ok=True, digest="sha256:" + "0" * 64, bytes=2**20, seconds=0.5, throughput_mib_s=2.0, diagnosis=None
            )
        return failed_smoke(
            "The name registry.example.com does not resolve (DNS lookup failed).",
            "Create a DNS record for registry.example.com pointing at the ingress controller's external address",
            "address",
            "GET https://registry.example.com/v2/: dns",
        )


def unresolved_name_smoke_app():
    """The wizard at its Smoke step after an install of registry.example.com, whose name does not resolve."""
    from installer.model import Choices, Exposure

    prepared = prepare(Choices(exposure=Exposure(hosts=["registry.example.com"])), None)
    state = WizardState(exposure=prepared.plan.choices.exposure, prepared=prepared, install=object())
    return make_app(session=UnresolvedNameSession(), start_at="smoke", state=state)


async def test_smoke_name_not_resolving_offers_the_ingress_address_and_retry(closed_kubeconfig):
    app = unresolved_name_smoke_app()
    async with running(app) as pilot:
        await worker_finished(pilot, "smoke_worker", screen="SmokeScreen")
        screen = app.screen
        assert screen.query_one("#fix").has_class("hidden")  # no wizard step fixes DNS
        await worker_finished(pilot, "find_dns_target")
        assert "registry.example.com must point at 203.0.113.7" in shown_text(screen.query_one("#dns-target"))
        assert (
            app.focused is screen.query_one("#smoke-address")
            and screen.query_one("#smoke-address").value == "203.0.113.7"
        )
        await pilot.press("enter")  # Retry through the ingress address
        await worker_finished(pilot, "smoke_worker", times=2)
        assert not screen.running and screen.result.ok
        assert app.session.addresses == [None, "203.0.113.7"]
        # Enter retried only: StepScreen's Enter (Next) did not run too and say "the smoke push is still running"
        assert on_screen(app, "SmokeScreen") and problems_text(app) == ""
        assert app.focused is screen.query_one("#next")  # pushed: Finish, not the address field still shown
        await next_step(pilot, "DoneScreen")
        assert "Installed and verified" in shown_text(app.screen.query_one("#done-summary"))


async def test_switches_sit_on_their_labels_line_and_the_gc_schedule_shows_only_when_on(closed_kubeconfig):
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_to_storage(pilot)
        switch = app.screen.query_one("#gc-enabled")
        label = switch.parent.query_one("Label")
        assert switch.region.y == label.region.y or switch.virtual_region.y == label.virtual_region.y
        box = app.screen.query_one("#gc-schedule-box")
        assert box.display is switch.value
        switch.focus()
        await pilot.press("space")
        await pilot.pause()
        assert box.display is switch.value
        await pilot.press("space")
        await pilot.pause()
        assert box.display is switch.value


async def test_access_says_at_once_that_the_ingress_controller_cannot_check_passwords(closed_kubeconfig):
    """Issue 12 item 10: the ingress-auth check shows on the Access step, not first at Review."""
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await go_offline(pilot)
        await type_text(pilot, "registry.example.com")
        await replace_text(pilot, "#ingress-class", "traefik")
        await next_step(pilot, "AccessScreen")
        assert problems_text(app) == ""
        await choose(pilot, "#auth-mode", 1)  # ingress: the controller checks passwords
        assert "ingress basic auth is not supported on the other controller that serves class traefik" in (
            problems_text(app)
        )
        assert "choose 'registry: the registry checks passwords'" in problems_text(app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert on_screen(app, "AccessScreen")  # refused here, with the fix
        app.screen.query_one("#auth-mode").focus()
        await pilot.press("enter", "up", "enter")  # back to registry: the registry checks passwords
        await wait_until(pilot, lambda: app.screen.query_one("#auth-mode").value == "registry", what="registry")
        assert problems_text(app) == ""
        await next_step(pilot, "StorageScreen")


async def test_review_problem_offers_to_go_to_the_step_that_owns_it(closed_kubeconfig):
    """A preset-like state the steps would have refused (ingress auth on Traefik) still meets Review's check, and
    "Go to the Access step" lands where the problem shows again."""
    from installer.model import Auth, Exposure

    state = WizardState(
        exposure=Exposure(hosts=["registry.example.com"], ingress_class="traefik"), auth=Auth(mode="ingress")
    )
    session = offline_app(closed_kubeconfig).session
    session.go_offline()  # as "Continue offline" on the Cluster step does
    app = make_app(session=session, start_at="review", state=state)
    async with running(app) as pilot:
        await worker_finished(pilot, "prepare_worker", screen="ReviewScreen")
        assert app.screen.failure
        goto = app.screen.query_one("#goto")
        assert not goto.has_class("hidden") and str(goto.label) == "Go to the Access step" and app.focused is goto
        assert "ingress basic auth is not supported" in problems_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: on_screen(app, "AccessScreen"), what="the Access step")
        assert "ingress basic auth is not supported" in problems_text(app)


async def test_enter_on_a_wrong_push_through_address_stays_on_the_smoke_step(closed_kubeconfig):
    """Enter in the address field retries; a wrong address is named there, and the step does not move on."""
    app = unresolved_name_smoke_app()
    async with running(app) as pilot:
        await worker_finished(pilot, "smoke_worker", screen="SmokeScreen")
        await worker_finished(pilot, "find_dns_target")
        await replace_text(pilot, "#smoke-address", "https://203.0.113.7/v2")
        await pilot.press("enter")
        await pilot.pause()
        assert on_screen(app, "SmokeScreen"), "Enter on a wrong address left the Smoke step"
        assert problems_text(app).startswith("✗ Push through:")
        assert app.session.addresses == [None] and app.focused is app.screen.query_one("#smoke-address")


class SlowSmokeSession(FailingSmokeSession):
    """The 413 stand-in, answering only when the test lets it (the push itself is tested in test_smoke)."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.answer = threading.Event()

    def smoke(self, prepared, on_event, address=None):
        self.answer.wait(30)
        return super().smoke(prepared, on_event, address)


async def test_while_the_smoke_push_runs_no_hidden_field_has_the_focus():
    """Keys typed while the push runs must not land in the hidden "push through" address field."""
    from installer.model import Choices, Exposure

    prepared = prepare(Choices(exposure=Exposure(hosts=["registry.example.com"])), None)
    session = SlowSmokeSession()
    state = WizardState(exposure=prepared.plan.choices.exposure, prepared=prepared, install=object())
    app = make_app(session=session, start_at="smoke", state=state)
    async with running(app) as pilot:
        await wait_until(pilot, lambda: on_screen(app, "SmokeScreen") and app.focused is not None, what="Smoke")
        await pilot.pause()
        assert app.focused is not app.screen.query_one("#smoke-address")
        assert app.screen.query_one("#override").has_class("hidden")
        session.answer.set()
        await worker_finished(pilot, "smoke_worker")
        assert app.focused is app.screen.query_one("#fix")

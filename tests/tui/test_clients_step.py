"""The Clients step (issue 14) by keyboard, offline: the same validators as presets, node trust offered whenever the
certificate is not publicly trusted (your own CA: its file asked when not found), CDI forms only when the probe found
KubeVirt/CDI, and Done's client snippets."""

from __future__ import annotations

import pytest
from textual.widgets import Label

from installer.preset import load_preset
from installer.probe import ProbeResult
from tests.tui.conftest import (
    choose,
    next_step,
    offline_app,
    offline_to_access,
    offline_to_storage,
    on_screen,
    problems_text,
    replace_text,
    running,
    shown_text,
    wait_until,
    worker_finished,
)

pytestmark = [pytest.mark.tui]


async def to_clients(pilot) -> None:
    await offline_to_storage(pilot)
    await next_step(pilot, "ClientsScreen")


async def test_clients_step_validates_like_presets_and_done_shows_the_snippets(closed_kubeconfig, tmp_path):
    app = offline_app(closed_kubeconfig, workdir=tmp_path)
    async with running(app) as pilot:
        await to_clients(pilot)
        screen = app.screen
        assert "Clients" in str(screen.query_one("#step-bar").render())
        assert screen.query("#node-trust") and not screen.query("#cdi")  # self-signed: offered; no probe: no CDI
        assert not screen.query_one("#pull-fields").display  # nothing pulls yet: no pull user to ask about
        assert screen.query_one("#namespaces").has_focus
        await replace_text(pilot, "#namespaces", "apps, Bad_ns")
        assert "Namespaces that pull: 'Bad_ns' is not a valid namespace name" in problems_text(app)
        await pilot.press("ctrl+n")
        assert on_screen(app, "ClientsScreen")
        await replace_text(pilot, "#namespaces", "apps, apps")
        assert "lists 'apps' twice" in problems_text(app)
        await replace_text(pilot, "#namespaces", "apps, vms")
        assert screen.query_one("#pull-fields").display and problems_text(app) == ""
        await replace_text(pilot, "#pull-user", "admin")  # the Access step's user
        await pilot.press("ctrl+n")
        assert on_screen(app, "ClientsScreen")
        assert "Pull user: 'admin' is also a registry user on the Access step" in problems_text(app)
        await replace_text(pilot, "#pull-user", "puller")
        screen.query_one("#node-trust").focus()
        await pilot.press("space")
        await next_step(pilot, "UploadsScreen")
        clients = app.state.clients
        assert (clients.namespaces, clients.pull_user, clients.node_trust) == (["apps", "vms"], "puller", True)

        await pilot.press("escape")  # back: the step shows what was chosen
        await wait_until(pilot, lambda: on_screen(app, "ClientsScreen"), what="the Clients step again")
        assert app.screen.query_one("#namespaces").value == "apps, vms" and app.screen.query_one("#node-trust").value

        for step in ("UploadsScreen", "ReviewScreen"):
            await next_step(pilot, step)
        await worker_finished(pilot, "prepare_worker")
        assert not app.screen.failure, app.screen.failure
        await pilot.press("ctrl+n")  # offline: write the files
        await wait_until(pilot, lambda: on_screen(app, "DoneScreen"), what="Done")
        assert not app.screen.query("#push-disk")  # offline nothing is installed to push to
        app.screen.query_one("#snippets").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: on_screen(app, "ClientSnippets"), what="the snippets")
        text = shown_text(app.screen.query_one("#snippets-text"), 120)
        for words in (
            "docker pull registry.example.com/vms/fedora:40",
            "podman login registry.example.com --username puller",
            'server = "https://registry.example.com"',
            "/etc/containerd/certs.d/registry.example.com/ca.crt",
            "kind: VirtualMachine",
            "containerDisk:",
            "kind: DataVolume",
            'url: "docker://registry.example.com/vms/fedora:40"',
            "name: docker-registry-pull      # in apps, vms",
        ):
            assert words in text, f"{words!r} not in the snippets:\n{text}"
        await pilot.press("escape")
        await wait_until(pilot, lambda: on_screen(app, "DoneScreen"), what="Done again")
        app.screen.query_one("#preset-path").focus()
        await pilot.press("enter")  # save the preset: the clients section goes with it
        await wait_until(pilot, lambda: "preset saved" in str(app.screen.query_one("#saved").render()))
    replayed = load_preset(tmp_path / "registry-preset.yaml")
    assert replayed.clients.namespaces == ["apps", "vms"] and replayed.clients.node_trust


async def test_node_trust_with_your_own_ca_asks_for_its_file_and_cdi_only_when_the_probe_found_it(
    closed_kubeconfig, tmp_path
):
    from installer.tlsfiles import generate_ca

    (tmp_path / "corp-root.pem").write_text(generate_ca("Example Corp Root CA")[0])
    (tmp_path / "not-pem.txt").write_text("hello\n")
    app = offline_app(closed_kubeconfig)
    async with running(app) as pilot:
        await offline_to_access(pilot, "registry.example.com")
        await pilot.press("escape")
        await wait_until(pilot, lambda: on_screen(app, "AddressScreen"), what="the Address step")
        await choose(pilot, "#tls-mode", 1)  # an existing Secret: a CA the installer does not know
        await replace_text(pilot, "#secret-name", "registry-tls")
        await next_step(pilot, "AccessScreen")
        # as if the probe had found KubeVirt's CDI (offline there is no probe: the screen reads only these fields)
        app.state.probe = ProbeResult(
            None, None, "v1.37.2", None, cdi=True, node_runtimes=(("n1", "containerd://1.7.24"),)
        )
        await next_step(pilot, "StorageScreen")
        await next_step(pilot, "ClientsScreen")
        screen = app.screen
        assert screen.query("#node-trust") and screen.query("#ca-file")  # offered; offline the CA is not found
        assert "CA: not known: Secret registry-tls holds no ca.crt" in shown_text(screen.query_one("#ca-source"), 200)
        assert "n1 (containerd://1.7.24)" in shown_text(screen.query_one("#runtimes"))
        await replace_text(pilot, "#namespaces", "vms")
        screen.query_one("#node-trust").focus()
        await pilot.press("space")
        await pilot.pause()
        labels = [label for label in screen.query(Label) if label.region.width]  # shown ones (a Label does not wrap)
        assert any("CA file" in str(label.content) for label in labels)
        cut = [str(label.content) for label in labels if len(str(label.content)) > label.region.width]
        assert not cut, f"labels cut at 80 columns: {cut}"
        await pilot.press("ctrl+n")  # node trust without a CA: the Plan's rule, naming the field that fixes it
        assert on_screen(app, "ClientsScreen")
        assert "Node trust: node trust needs the CA that signed" in problems_text(app)
        assert "exposure.tls.ca_file" in problems_text(app)
        await replace_text(pilot, "#ca-file", str(tmp_path / "not-pem.txt"))
        assert "CA file: " in problems_text(app) and "holds no PEM certificate" in problems_text(app)
        await replace_text(pilot, "#ca-file", str(tmp_path))  # Ctrl+O browses from there
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: on_screen(app, "FilePicker"), what="the file picker")
        names = sorted(p.name for p in tmp_path.iterdir())
        await wait_until(
            pilot, lambda: len(app.screen.query_one("#tree").root.children) == len(names), what="the folder listing"
        )
        await pilot.press(*["down"] * (names.index("corp-root.pem") + 1), "enter")
        await wait_until(pilot, lambda: on_screen(app, "ClientsScreen"), what="the Clients step again")
        assert screen.query_one("#ca-file").value == str(tmp_path / "corp-root.pem")
        await pilot.pause()
        assert problems_text(app) == ""
        screen.query_one("#cdi").focus()
        await pilot.press("space")
        await next_step(pilot, "UploadsScreen")
        clients = app.state.clients
        assert clients.cdi and clients.node_trust and clients.namespaces == ["vms"]
        assert app.state.exposure.tls.ca_file == str(tmp_path / "corp-root.pem")  # kept with the TLS settings
        await pilot.press("escape")  # back: the step shows the file again and says where the CA comes from
        await wait_until(pilot, lambda: on_screen(app, "ClientsScreen"), what="the Clients step again")
        assert app.screen.query_one("#ca-file").value == str(tmp_path / "corp-root.pem")
        assert "exposure.tls.ca_file" in shown_text(app.screen.query_one("#ca-source"), 200)
        assert "CN=Example Corp Root CA" in shown_text(app.screen.query_one("#ca-source"), 200)

"""Step 10, Done: what an operator needs next: logins, passwords, pull Secret, DNS, CA files, data, and "Save as
preset"."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Select, Static

from installer.errors import Problem
from installer.model import Choices
from installer.session import (
    containerd_hosts_toml,
    data_claim_words,
    default_preset_path,
    kept_password_users,
    password_command,
    password_env_var,
    typed_password_users,
    write_ca,
)
from screens.base import Confirm, StepScreen, hanging
from screens.clients import ClientSnippets
from screens.push_disk import PushDiskScreen
from screens.smoke import status_command

if TYPE_CHECKING:
    from installer.engine import Prepared


def data_location(prepared: Prepared) -> str:
    return data_claim_words(prepared.plan)[1]


def verdict(install: Any, smoke: Any, prepared: Prepared) -> str:
    """The first line: installed and verified, installed but not verified, or files only."""
    if install is None:
        return ""
    ok = getattr(smoke, "ok", None)
    if ok is True:
        return "[$success]✓ Installed and verified[/]: a test image was pushed and read back."
    if ok is None and getattr(install, "ready", None) is False:
        return (
            "[$warning]! Installed, not verified yet[/]: you continued without waiting for the pods. "
            f"`{escape(status_command(prepared))}` shows them; `registry-installer smoke` pushes a test image."
        )
    if ok is False or isinstance(smoke, Exception):
        return (
            "[$warning]! Installed, not verified[/]: the smoke test failed (see the Smoke step; `registry-installer "
            "smoke` retries it)."
        )
    return "[$warning]! Installed, not verified[/]: the smoke test did not run (`registry-installer smoke` runs it)."


class DoneScreen(StepScreen):
    step_key = "done"
    heading = "Done: what to do next"
    next_label = "Quit"

    def __init__(
        self,
        session,
        prepared: Prepared,
        choices: Choices,
        written: tuple[Path, ...] = (),
        install: Any = None,
        smoke: Any = None,
    ) -> None:
        super().__init__()
        self.session, self.prepared, self.choices, self.written = session, prepared, choices, written
        self.install, self.smoke = install, smoke

    def compose_body(self) -> ComposeResult:
        plan = self.prepared.plan
        hosts = plan.choices.exposure.hosts
        lines = []
        if self.install is not None:
            lines.append(verdict(self.install, self.smoke, self.prepared))
        if self.written:
            ns = escape(plan.namespace)
            lines.append("Files written (secrets files are 0600):")
            lines += [f"  • {escape(str(p))}" for p in self.written]
            lines.append("[b]Apply them later[/b] (kubectl and helm on a machine that reaches the cluster):")
            lines.append(f"  kubectl create namespace {ns}")
            lines.append(f"  kubectl -n {ns} apply -f secrets.yaml")
            if any(p.name == "pvc.yaml" for p in self.written):
                lines.append(f"  kubectl -n {ns} apply -f pvc.yaml")
            lines.append(f"  {escape(self.session.offline_helm_command(self.prepared))}")
        lines.append(
            "[b]Log in[/b]" + (" (every user on every host)" if len(hosts) > 1 or len(plan.users) > 1 else "") + ":"
        )
        users: list[str | None] = [u.name for u in plan.users] or [None]  # None: a login without a user name
        for host in hosts:
            for user in users:
                lines.append(f"  docker login {escape(host)}" + (f" -u {escape(user)}" if user else ""))
        generated = [u.name for u in plan.choices.auth.users if u.password.kind == "generate"]
        if generated and plan.choices.auth.mode != "none":
            lines.append("[b]Generated passwords[/b] (kept in Secret " + escape(plan.names.state) + "):")
            lines += [
                f"  {escape(u)}: {escape(password_command(plan.namespace, plan.names.state, u))}" for u in generated
            ]
        if plan.users and plan.choices.auth.mode != "none":
            user = plan.users[0].name
            lines.append("[b]Pull Secret[/b] for pods in namespace APP_NS (replace APP_NS and the password):")
            lines.append(
                f"  kubectl -n APP_NS create secret docker-registry regcred --docker-server={escape(hosts[0])} "
                f"--docker-username={escape(user)} --docker-password='PASSWORD'"
            )
            lines.append("  then imagePullSecrets: [{name: regcred}] in the pod spec")
        if not self.session.offline:
            lines.append(f"[b]DNS[/b]: point {escape(', '.join(hosts))} at the ingress address (looking it up…)")
        lines.append(f"[b]Data[/b]: {escape(data_location(self.prepared))}")
        self.lines = lines
        with Horizontal(id="done-actions", classes="file-row"):
            if self.install is not None and not self.session.offline:
                yield Button("Push a VM disk now", id="push-disk", compact=True)
            yield Button("Client snippets (docker, podman, containerd, KubeVirt)", id="snippets", compact=True)
        yield Static(hanging("\n".join(lines)), id="done-summary")
        if plan.ca_pem:
            own_ca = plan.choices.exposure.tls.mode == "self-signed"
            host = hosts[0]
            h = escape(host)
            yield Static(
                hanging(
                    f"[b]Trust the CA[/b] ({'self-signed' if own_ca else 'your private CA'}) on every machine that "
                    "pushes or pulls, and on "
                    "every node:\n"
                    f"  • containerd (nodes): ca.crt and hosts.toml (saved below) into /etc/containerd/certs.d/{h}/\n"
                    f"  • docker: ca.crt into /etc/docker/certs.d/{h}/\n"
                    f"  • podman, CRI-O: ca.crt into /etc/containers/certs.d/{h}/\n"
                    "  • system store: /usr/local/share/ca-certificates/ + update-ca-certificates (Debian, Ubuntu); "
                    "/etc/pki/ca-trust/source/anchors/ + update-ca-trust (RHEL, Fedora)"
                ),
                classes="hint",
            )
            yield Label("Save the CA certificate and containerd's hosts.toml to this folder")
            yield Input(str(self.workdir), id="ca-dir")
            yield Button("Save ca.crt and hosts.toml", id="save-ca", compact=True)
        yield Label("Save as preset (replay with `registry-installer apply --preset FILE`)")
        yield Input(default_preset_path(str(self.workdir)), id="preset-path")
        typed = typed_password_users(self.choices)
        if typed:
            yield Static(
                f"Typed-in passwords ({escape(', '.join(typed))}) never go into a preset: they are written to 0600 "
                "files in this directory and referenced as file:PATH (or edit the preset to use env:VAR).",
                classes="hint",
            )
            yield Input(str(self.workdir), id="secrets-dir")
        kept = kept_password_users(self.choices)
        if kept:
            yield Static(
                f"Kept passwords ({escape(', '.join(kept))}) are `keep` in a preset: it replays only on this cluster, "
                "where the installed hash is. To replay elsewhere, save them as environment variables instead.",
                classes="hint",
            )
            yield Select(
                [
                    ("keep (replays on this cluster only)", "keep"),
                    (
                        f"env: {password_env_var(kept[0])}{', …' if len(kept) > 1 else ''} (set it before replaying)",
                        "env",
                    ),
                ],
                value="keep",
                allow_blank=False,
                id="kept-as",
            )
        yield Button("Save preset", id="save-preset", compact=True)
        yield Static("", id="saved")

    def on_mount(self) -> None:
        if not self.session.offline:
            self.find_dns_target()

    @work(thread=True, exclusive=True, exit_on_error=False, group="dns")
    def find_dns_target(self) -> str | None:
        return self.session.dns_target(self.prepared)

    def worker_failed(self, name: str, error: Exception, problem: Problem) -> None:
        self.worker_done(name, None)  # the screen says how to find the address

    def worker_done(self, name: str, target: str | None) -> None:
        hosts = ", ".join(self.prepared.plan.choices.exposure.hosts)
        old = f"[b]DNS[/b]: point {escape(hosts)} at the ingress address (looking it up…)"
        if target:
            new = f"[b]DNS[/b]: point {escape(hosts)} at {escape(target)} (A record for an IP, CNAME for a name)"
        else:
            new = (
                f"[b]DNS[/b]: point {escape(hosts)} at your ingress controller's external address; the cluster shows "
                "none yet (kubectl get ingress -A; kubectl get svc -A | grep LoadBalancer)"
            )
        self.lines = [new if line == old else line for line in self.lines]
        self.query_one("#done-summary", Static).update(hanging("\n".join(self.lines)))

    def focus_first_field(self) -> None:
        # what to do next is at the top: keep it in view, with Quit one key away
        self.query_one("#next").focus()

    @on(Button.Pressed, "#push-disk")
    def push_disk_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.app.push_screen(PushDiskScreen(self.session, self.prepared))

    @on(Button.Pressed, "#snippets")
    def snippets_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.app.push_screen(ClientSnippets(self.session.client_snippets(self.prepared)))

    @on(Button.Pressed, "#save-ca")
    def save_ca(self, event: Button.Pressed) -> None:
        event.stop()
        folder = Path(self.query_one("#ca-dir", Input).value.strip() or ".").expanduser()
        host, ca_pem = self.prepared.plan.registry_host, self.prepared.plan.ca_pem
        if ca_pem is None:  # the button is there only when the installer made the CA
            return
        try:
            ca = write_ca(ca_pem, str(folder / "ca.crt"))
            toml = folder / "hosts.toml"
            toml.write_text(containerd_hosts_toml(host), encoding="utf-8")
        except OSError as exc:
            self.query_one("#saved", Static).update(f"[$error]✗ not saved:[/] {escape(str(exc))}")
            return
        self.query_one("#saved", Static).update(
            f"[$success]✓[/] {escape(str(ca))} and {escape(str(toml))} written: copy both to "
            f"/etc/containerd/certs.d/{escape(host)}/ on every node (docker: ca.crt to "
            f"/etc/docker/certs.d/{escape(host)}/)"
        )

    @on(Button.Pressed, "#save-preset")
    def save_preset(self, event: Button.Pressed) -> None:
        event.stop()
        self.save_preset_now()

    def save_preset_now(self, overwrite: bool = False) -> None:
        path = self.query_one("#preset-path", Input).value.strip()
        if not overwrite and Path(path).expanduser().exists():
            self.app.push_screen(
                Confirm(f"{path} exists. Replace it?", "Replace"),
                lambda yes: self.save_preset_now(overwrite=True) if yes else None,
            )
            return
        secrets_dir = self.query("#secrets-dir")
        kept_as = self.query("#kept-as")
        try:
            saved = self.session.save_preset(
                self.choices,
                path,
                secrets_dir.first(Input).value.strip() if secrets_dir else None,
                str(kept_as.first(Select).value) if kept_as else "keep",
            )
        except (OSError, ValueError) as exc:
            self.query_one("#saved", Static).update(f"[$error]✗ not saved:[/] {escape(str(exc))}")
            return
        text = f"[$success]✓[/] preset saved to {escape(str(saved.path))}"
        if saved.secret_files:
            text += "\n  passwords in " + ", ".join(escape(str(p)) for p in saved.secret_files) + " (0600)"
        self.query_one("#saved", Static).update(text)

    def on_input_submitted(self, event) -> None:
        event.prevent_default()  # Enter saves; it does not quit
        event.stop()
        if event.input.id == "preset-path":
            self.save_preset_now()

    def build_section(self):
        return "quit"

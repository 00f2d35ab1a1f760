"""Step after Storage, Clients: which namespaces pull (pull Secrets), node trust for the CA, KubeVirt/CDI forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static, Switch

from installer.errors import Problem
from installer.model import TLS, Clients, Exposure
from screens.base import FIELD_WORDS, InvalidStep, StepScreen, validated
from screens.file_picker import FilePicker

if TYPE_CHECKING:
    from installer.model import Choices
    from installer.probe import ProbeResult
    from installer.tlsfiles import ClientCA

# what the Clients step calls its preset settings (the problems panel names the field, not the key)
FIELD_WORDS.update(
    {
        "clients.namespaces": "Namespaces that pull",
        "clients.pull_user": "Pull user",
        "clients.node_trust": "Node trust",
        "clients.cdi": "CDI forms",
        "clients.service_account": "Default ServiceAccount",
        "exposure.tls.ca_file": "CA file",
    }
)
WHY = (
    "Pods pull through each node's container runtime: it needs a pull Secret in the pod's namespace and, "
    "unless the certificate is publicly trusted, its CA on every node."
)
NOT_OFFERED = "Node trust needs TLS: without it there is no CA to put on the nodes."
PUBLIC = "Node trust is not needed: "


@dataclass(frozen=True)
class ClientsChoice:
    """The Clients step's answer when it asked for the CA file: the clients section and the exposure with
    tls.ca_file."""

    clients: Clients
    exposure: Exposure

    def sections(self) -> dict[str, Any]:
        return {"clients": self.clients, "exposure": self.exposure}


def split_names(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", " ").split() if part.strip()]


class ClientsScreen(StepScreen):
    step_key = "clients"
    heading = "Clients: who pulls from the registry inside the cluster?"
    BINDINGS = [Binding("ctrl+o", "browse", "Browse CA file")]

    def __init__(self, session, clients: Clients | None, choices: Choices | None, probe: ProbeResult | None) -> None:
        super().__init__()
        self.session, self.probe = session, probe
        self.clients = clients or Clients()
        self.choices = choices
        self.checked: dict[tuple[bool, str | None], list[Problem]] = {}
        self.user_names = [u.name for u in choices.auth.users] if choices is not None else []
        self.ca: ClientCA | None = session.client_ca(choices) if choices is not None else None
        self.trust_offered = choices is not None and session.node_trust_offered(choices, self.ca)
        tls = choices.exposure.tls if choices is not None else None
        # your own CA: say where it was found, and ask for its file when it was not (or was given before)
        self.ask_ca_file = (
            self.trust_offered
            and tls is not None
            and tls.mode != "self-signed"
            and (tls.ca_file is not None or self.ca is None or self.ca.pem is None)
        )
        self.cdi_offered = probe is not None and (probe.cdi or probe.kubevirt)

    def compose_body(self) -> ComposeResult:
        c = self.clients
        yield Static(WHY, classes="hint")
        yield Label("Namespaces that pull (comma separated; each gets a pull Secret; empty: none)")
        yield Input(", ".join(c.namespaces), placeholder="e.g. apps, vms", id="namespaces")
        with Vertical(id="pull-fields", classes="kind-fields"):
            with Horizontal(classes="switch-row"):
                yield Switch(c.service_account, id="service-account")
                yield Label("Also add it to each namespace's default ServiceAccount (merged)")
            with Horizontal(classes="switch-row"):
                yield Switch(c.pull_check, id="pull-check")
                yield Label("Pull check: after the smoke push, a Pod there pulls the image")
            yield Label("Pull user (its password is generated and kept)")
            yield Input(c.pull_user, id="pull-user")
        if self.trust_offered:
            with Horizontal(classes="switch-row"):
                yield Switch(c.node_trust, id="node-trust")
                yield Label("Node trust: a DaemonSet puts the CA on every node (certs.d folders)")
            if self.choices is not None and self.choices.exposure.tls.mode != "self-signed":
                found = self.ca.source if self.ca is not None else "not found yet"
                yield Static(f"CA: {escape(found)}", classes="hint", id="ca-source")
            if self.ask_ca_file and self.choices is not None:
                yield Label("CA file: the PEM of the CA that signed the registry's certificate")
                yield Input(
                    self.choices.exposure.tls.ca_file or "", placeholder="e.g. /etc/pki/corp-root.pem", id="ca-file"
                )
        elif self.ca is not None and self.ca.public:
            yield Static(PUBLIC + escape(self.ca.source), classes="hint", id="trust-not-offered")
        else:
            yield Static(NOT_OFFERED, classes="hint", id="trust-not-offered")
        if self.cdi_offered:
            with Horizontal(classes="switch-row"):
                yield Switch(c.cdi, id="cdi")
                yield Label("CDI forms: a CA ConfigMap and a key Secret for DataVolume imports")
        runtimes = self.probe.node_runtimes if self.probe is not None else ()
        if runtimes:
            found = ", ".join(f"{node} ({runtime})" for node, runtime in runtimes[:4])
            more = f" and {len(runtimes) - 4} more" if len(runtimes) > 4 else ""
            yield Static(f"Nodes: {escape(found)}{more}", classes="hint", id="runtimes")

    def on_mount(self) -> None:
        self.show_pull_fields()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_pull_fields()  # then StepScreen's handler validates

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if self._armed:
            self.check()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "browse":
            return self.ask_ca_file
        return super().check_action(action, parameters)

    def action_browse(self) -> None:
        field = self.query_one("#ca-file", Input)

        def chosen(path: str | None) -> None:
            if path:
                field.value = path  # Input.Changed checks it on the spot
                field.focus()

        self.app.push_screen(FilePicker("Choose the CA file (PEM)", field.value or None), chosen)

    def action_next(self) -> None:
        self.checked.clear()  # the files may have changed since the last keystroke: check them again
        super().action_next()

    def show_pull_fields(self) -> None:
        """The ServiceAccount, pull check and pull user matter only when some namespace pulls."""
        self.query_one("#pull-fields").display = bool(split_names(self.query_one("#namespaces", Input).value))

    def switch(self, selector: str, default: bool) -> bool:
        found = self.query(selector)
        return found.first(Switch).value if found else default

    def build_section(self) -> Clients | ClientsChoice:
        data = self.clients.to_dict()
        data.update(
            namespaces=split_names(self.query_one("#namespaces", Input).value),
            service_account=self.query_one("#service-account", Switch).value,
            pull_check=self.query_one("#pull-check", Switch).value,
            pull_user=self.query_one("#pull-user", Input).value.strip(),
            node_trust=self.switch("#node-trust", False) if self.trust_offered else False,
            cdi=self.switch("#cdi", self.clients.cdi) if self.cdi_offered else self.clients.cdi,
        )
        clients: Clients = validated(Clients, data, "clients")
        if clients.namespaces and clients.pull_user in self.user_names:
            raise InvalidStep(
                [
                    Problem(
                        "Pull user",
                        f"'{clients.pull_user}' is also a registry user on the Access step",
                        "the pull user is the installer's own: choose another name, e.g. puller",
                    )
                ]
            )
        if self.choices is None or not self.trust_offered or self.choices.exposure.tls.mode == "self-signed":
            return clients
        exposure = self.choices.exposure
        if self.ask_ca_file:
            path = self.query_one("#ca-file", Input).value.strip() or None
            tls = validated(TLS, {**exposure.tls.to_dict(), "ca_file": path}, "exposure.tls")
            exposure = exposure.replace(tls=tls)
        # the Plan's own rules: the CA file is a CA and signed the certificate; node trust has a CA to write
        key = (clients.node_trust, exposure.tls.ca_file)
        if key not in self.checked:  # once per answer: it reads the file (and the TLS Secret), not per keystroke
            self.checked[key] = self.session.clients_problems(self.choices.replace(clients=clients, exposure=exposure))
        problems = self.checked[key]
        if problems:
            raise InvalidStep([Problem(FIELD_WORDS.get(p.path, p.path), p.message, p.fix) for p in problems])
        return ClientsChoice(clients, exposure) if self.ask_ca_file else clients


class ClientSnippets(ModalScreen[None]):
    """Done's client snippets: docker, podman, containerd, a Pod, a KubeVirt VirtualMachine and a CDI DataVolume."""

    DEFAULT_CSS = """
    ClientSnippets { align: center middle; }
    ClientSnippets > #snippets { width: 100%; height: 1fr; border: round $accent; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, snippets: list[tuple[str, str]]) -> None:
        super().__init__()
        self.snippets = snippets

    def compose(self) -> ComposeResult:
        lines = []
        for title, text in self.snippets:
            lines.append(f"[b]{escape(title)}[/b]")
            lines += [escape(line) for line in text.rstrip("\n").splitlines()]
        self.text = "\n".join(lines)
        with VerticalScroll(id="snippets"):
            yield Static(self.text, id="snippets-text")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#snippets").focus()  # arrows and PgUp/PgDn scroll

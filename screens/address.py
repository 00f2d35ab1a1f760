"""Step 3, Address: the registry's hostnames, Ingress or Gateway, and TLS, checked as you type."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select

from installer.model import Exposure
from screens.base import InvalidStep, StepScreen, class_choice, validated
from screens.file_picker import FilePicker

if TYPE_CHECKING:
    from installer.probe import ProbeResult

TLS_MODES = [
    ("self-signed: the installer makes a CA (clients must trust it)", "self-signed"),
    ("existing Secret: a kubernetes.io/tls Secret you created", "existing-secret"),
    ("certificate and key files (PEM)", "files"),
    ("cert-manager issues it", "cert-manager"),
    ("none: plain HTTP (docker refuses it by default)", "none"),
]
TLS_INPUTS = {"secret-name", "cert-file", "key-file", "issuer-name"}
TLS_LABELS = {"TLS certificate", "Secret name", "Certificate file", "Private key file", "cert-manager issuer"}
TLS_FIELDS = {"existing-secret": ["secret"], "files": ["files"], "cert-manager": ["issuer"]}
LISTENER_TLS = ("listener: the Gateway listener's own certificate", "listener")
EXPOSURES = [
    ("Ingress: the chart's Ingress on an IngressClass", "ingress"),
    ("Gateway: an HTTPRoute on a Gateway (Gateway API)", "gateway"),
]


def split_hosts(text: str) -> list[str]:
    return [h for h in re.split(r"[\s,]+", text.strip()) if h]


class AddressScreen(StepScreen):
    step_key = "address"
    heading = "Address: where will users reach the registry?"
    BINDINGS = [Binding("ctrl+o", "browse", "Browse file")]

    def __init__(self, session, exposure: Exposure | None, probe: ProbeResult | None) -> None:
        super().__init__()
        self.session, self.exposure, self.probe = session, exposure, probe

    def compose_body(self) -> ComposeResult:
        exposure = self.exposure
        tls = exposure.tls if exposure else None
        yield Label("Hostnames (comma separated), e.g. registry.example.com")
        yield Input(
            ", ".join(exposure.hosts) if exposure else "", placeholder="(type the registry's hostname)", id="hosts"
        )
        gateways = self.gateway_options()
        if (
            gateways and self.probe is not None
        ):  # the cluster has Gateways: offer the choice (and say so when ingress-nginx is the retired one)
            retired = [w for w in self.probe.warnings() if w.startswith("ingress-nginx") and "retired" in w]
            if retired:
                yield Label(
                    retired[0].split(";")[0] + ": a Gateway is the maintained choice", id="retired", classes="hint"
                )
            yield Label("Expose through")
            yield Select(EXPOSURES, value=self.default_exposure(), allow_blank=False, id="exposure-kind")
            with Vertical(id="gateway-fields", classes="exposure-fields"):
                yield Label("Gateway and listener (the HTTPRoute attaches there)")
                yield Select(gateways, value=self.default_gateway(gateways), allow_blank=False, id="gateway-listener")
            with Vertical(id="ingress-fields", classes="exposure-fields"):
                yield Label("Ingress class")
                yield from self.compose_ingress_class(exposure.ingress_class if exposure else None)
        else:  # no Gateway in the cluster (or offline): an Ingress, as before
            yield Label("Ingress class")
            yield from self.compose_ingress_class(exposure.ingress_class if exposure else None)
        yield Label("TLS certificate")
        modes = TLS_MODES[:-1] + [LISTENER_TLS, TLS_MODES[-1]] if gateways else TLS_MODES
        yield Select(modes, value=tls.mode if tls else "self-signed", allow_blank=False, id="tls-mode")
        with Vertical(id="secret", classes="tls-fields"):
            yield Label("Secret name (kubernetes.io/tls, in the release namespace)")
            yield Input(tls.secret_name or "" if tls else "", placeholder="registry-tls", id="secret-name")
        with Vertical(id="files", classes="tls-fields"):
            yield Label("Certificate file (PEM chain); Ctrl+O or Browse picks a file")
            with Horizontal(classes="file-row"):
                yield Input(tls.cert_file or "" if tls else "", placeholder="/path/to/fullchain.pem", id="cert-file")
                yield Button("Browse…", id="browse-cert-file", compact=True)
            yield Label("Private key file (PEM)")
            with Horizontal(classes="file-row"):
                yield Input(tls.key_file or "" if tls else "", placeholder="/path/to/privkey.pem", id="key-file")
                yield Button("Browse…", id="browse-key-file", compact=True)
        with Vertical(id="issuer", classes="tls-fields"):
            yield Label("cert-manager issuer")
            yield from self.compose_issuer(tls)

    def gateway_options(self) -> list[tuple[str, str]]:
        """(label, "namespace/name/listener") for every HTTP(S) listener of the Gateways the probe found."""
        if self.probe is None:
            return []
        return [
            (f"{g.ref} ({g.family}): {li.words()}", f"{g.ref}/{li.name}")
            for g in self.probe.gateways
            for li in g.listeners
            if li.protocol in ("HTTP", "HTTPS")
        ]

    def default_exposure(self) -> str:
        if self.exposure is not None:
            return "gateway" if self.exposure.gateway is not None else "ingress"
        classes = self.probe.ingress_classes if self.probe else ()
        return "gateway" if classes and all(ic.family == "ingress-nginx" for ic in classes) else "ingress"

    def default_gateway(self, options: list[tuple[str, str]]) -> str:
        values = [value for _label, value in options]
        ref = self.exposure.gateway if self.exposure is not None else None
        if ref is not None:
            wanted = f"{ref.namespace}/{ref.name}/{ref.listener}"
            if wanted in values:
                return wanted
        https = [value for label, value in options if "HTTPS" in label]
        return (https or values)[0]

    def compose_ingress_class(self, chosen: str | None) -> ComposeResult:
        probe = self.probe
        yield from class_choice(
            "ingress-class",
            probe.ingress_classes if probe else (),
            probe.default_ingress_class() if probe else None,
            chosen,
            "controller",
            "choose an ingress class",
            fallback="nginx",
            placeholder="nginx",
        )

    def compose_issuer(self, tls) -> ComposeResult:
        issuers = self.probe.issuers if self.probe else ()
        current = f"{tls.issuer_kind}/{tls.issuer}" if tls and tls.issuer else None
        if not issuers:
            yield Input(current or "", placeholder="ClusterIssuer/letsencrypt-prod", id="issuer-name")
            return
        options = [(i.label(), f"{i.kind}/{i.name}") for i in issuers]
        known = [value for _label, value in options]
        yield Select(options, value=current if current in known else known[0], allow_blank=False, id="issuer-name")

    def on_mount(self) -> None:
        self.show_tls_fields()
        self.show_exposure_fields()

    @on(Select.Changed, "#exposure-kind")
    def exposure_kind_changed(self, event: Select.Changed) -> None:
        self.show_exposure_fields()
        if self._armed:
            self.check()

    def show_exposure_fields(self) -> None:
        gateway = bool(self.query("#exposure-kind")) and self.value_of("#exposure-kind") == "gateway"
        for box in self.query(".exposure-fields"):
            box.styles.height = "auto"
            box.display = (box.id == "gateway-fields") == gateway

    @on(Select.Changed, "#tls-mode")
    def tls_mode_changed(self, event: Select.Changed) -> None:
        self.show_tls_fields()
        self.refresh_bindings()  # Ctrl+O shows in the footer only for TLS files
        if self._armed:
            self.check()

    @on(Button.Pressed, "#browse-cert-file, #browse-key-file")
    def browse_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.browse(str(event.button.id).removeprefix("browse-"))

    def action_browse(self) -> None:
        """Ctrl+O: pick a file for the focused file field (the certificate when neither has focus)."""
        focused = self.focused.id if self.focused is not None else None
        self.browse("key-file" if focused in ("key-file", "browse-key-file") else "cert-file")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "browse":
            return str(self.query_one("#tls-mode", Select).value) == "files"
        return super().check_action(action, parameters)

    def browse(self, field_id: str) -> None:
        field = self.query_one(f"#{field_id}", Input)
        what = "private key" if field_id == "key-file" else "certificate"

        def chosen(path: str | None) -> None:
            if path:
                field.value = path  # Input.Changed re-checks the files on the spot
                field.focus()

        self.app.push_screen(FilePicker(f"Choose the {what} file (PEM)", field.value or None), chosen)

    def show_tls_fields(self) -> None:
        mode = self.query_one("#tls-mode", Select).value
        shown = TLS_FIELDS.get(str(mode), [])
        for box in self.query(".tls-fields"):
            box.display = box.id in shown

    def show_problems(self, problems) -> None:
        """No red before the user has typed: a field's problems wait until it is edited (or Next is pressed)."""
        if not self.attempted:
            problems = [p for p in problems if not self._untouched(p.path)]
        super().show_problems(problems)

    def _untouched(self, path: str) -> bool:
        if path in ("Hostnames", "exposure.hosts"):
            return "hosts" not in self.touched
        if path in TLS_LABELS or path.startswith("exposure.tls"):
            return not self.touched & TLS_INPUTS
        return False

    def value_of(self, selector: str) -> str:
        widget = self.query_one(selector)
        assert isinstance(widget, (Input, Select)), selector
        value = widget.value
        return "" if value is Select.NULL or value is None else str(value).strip()

    def build_section(self) -> Exposure:
        mode = self.value_of("#tls-mode")
        tls: dict = {"mode": mode}
        if mode == "existing-secret":
            tls["secret_name"] = self.value_of("#secret-name") or None
        elif mode == "files":
            tls["cert_file"] = self.value_of("#cert-file") or None
            tls["key_file"] = self.value_of("#key-file") or None
        elif mode == "cert-manager":
            kind, _, name = self.value_of("#issuer-name").rpartition("/")
            tls["issuer"] = name or None
            tls["issuer_kind"] = kind or "ClusterIssuer"
        data: dict[str, Any] = {"hosts": split_hosts(self.value_of("#hosts")), "tls": tls}
        if self.query("#exposure-kind") and self.value_of("#exposure-kind") == "gateway":
            namespace, name, listener = self.value_of("#gateway-listener").split("/", 2)
            data["gateway"] = {"name": name, "namespace": namespace, "listener": listener}
        else:
            data["ingress_class"] = self.value_of("#ingress-class") or None
        exposure = validated(Exposure, data, "exposure")
        if mode == "files":
            problems = self.session.check_tls_files(exposure.tls.cert_file, exposure.tls.key_file, exposure.hosts)
            if problems:
                raise InvalidStep(problems)
        return exposure

"""WizardSession: the engine calls the wizard makes, so screens never touch kubernetes, helm or subprocess."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from installer.errors import InstallerError, Problem
from installer.kube import KubeClient, list_contexts

# The wizard's first frame needs only the contexts: the engine and its events, apply, helm, render, verify
# (requests), diff and probe load when a step uses them, and so do msgspec and the Choices model
# (bench/startup.py), so their imports sit in the methods below.
if TYPE_CHECKING:
    from installer.apply import ApplyOptions, ApplyResult
    from installer.disk import Compression
    from installer.engine import Prepared
    from installer.events import EventSink
    from installer.helm import HelmCheck, HelmRunner
    from installer.model import Chart, Choices, Exposure, Storage, Target
    from installer.plan import ClaimInfo
    from installer.probe import ProbeResult
    from installer.tlsfiles import ClientCA

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterIdentity:
    """Which cluster a context reaches and who we are there."""

    context: str | None
    server: str | None
    server_version: str
    user: str | None


@dataclass(frozen=True)
class SavedPreset:
    """Where the preset went and which password files were written beside it (0600)."""

    path: Path
    secret_files: tuple[Path, ...] = ()


def _sink(on_event: EventSink | None) -> EventSink:
    """The caller's event sink, or the engine's `discard` (imported here: the engine's events are not for the first
    frame)."""
    if on_event is not None:
        return on_event
    from installer.events import discard

    return discard


class WizardSession:
    """One wizard run: the kubeconfig, the chosen context and its client, the helm binary."""

    def __init__(
        self,
        context: str | None = None,
        kubeconfig: str | None = None,
        helm_binary: str = "helm",
        chart: Chart | None = None,
        apply_options: ApplyOptions | None = None,
    ) -> None:
        self.context = context
        self.kubeconfig = kubeconfig
        self.helm_binary = helm_binary
        self._chart = chart
        # install() pushes the smoke image after the install, as the CLI does
        self._apply_options = apply_options
        self.kube: KubeClient | None = None
        self.offline = False
        self._cancel: threading.Event | None = None  # the running install's, while one runs
        self._idle = threading.Event()
        self._just_installed = False
        self._idle.set()
        self._probed: tuple[str, str, ProbeResult] | None = None  # the Probe step's, reused once by prepare()
        self.push_address: str | None = None  # HOST[:PORT] the last passing smoke push went through, when not the name

    @property
    def chart(self) -> Chart:
        """The chart to install (the preset's default unless given; made when first asked for, not for the first
        frame)."""
        if self._chart is None:
            from installer.model import Chart

            self._chart = Chart()
        return self._chart

    @property
    def apply_options(self) -> ApplyOptions:
        """How the install runs (made when first asked for: installer.apply is not loaded for the first frame)."""
        if self._apply_options is None:
            from installer.apply import ApplyOptions

            self._apply_options = ApplyOptions()
        return self._apply_options

    @apply_options.setter
    def apply_options(self, options: ApplyOptions) -> None:
        self._apply_options = options

    @property
    def smoke_enabled(self) -> bool:
        """A smoke push only makes sense when the install waited for the registry pods."""
        return self.apply_options.wait and not self.offline

    def contexts(self) -> tuple[list[str], str | None]:
        """Context names in the kubeconfig and the current one."""
        return list_contexts(self.kubeconfig)

    def connect(self, context: str | None) -> ClusterIdentity:
        """Connect to `context` and ask who we are; raises InstallerError when the cluster is unreachable."""
        from installer import engine
        from installer.probe import ClusterProbe

        kube = engine.connect(context, self.kubeconfig)
        version = kube.get_json("read the server version", "/version")
        user = ClusterProbe(kube).whoami()
        self.kube, self.context, self.offline = kube, context or kube.context, False
        return ClusterIdentity(kube.context, kube.server, version.get("gitVersion", "unknown"), user)

    def go_offline(self) -> None:
        """No cluster: the wizard renders files instead of installing."""
        self.kube, self.offline = None, True

    def probe(self, namespace: str, release: str, on_event: EventSink | None = None) -> ProbeResult:
        if self.kube is None:
            raise InstallerError("no cluster is connected", "go back to the Cluster step and pick a reachable context")
        from installer import engine

        result = engine.run_probe(self.kube, namespace, release, _sink(on_event))
        self._probed = (namespace, release, result)
        return result

    def prepare(self, choices: Choices, on_event: EventSink | None = None) -> Prepared:
        """Read the installed state and render (raises ValidationFailed with every problem).

        The Probe step's probe is used when it was of the same namespace and release and nothing was installed since
        (the cluster is probed once); otherwise this probes again."""
        probe = None
        if self._probed is not None and self._probed[:2] == (choices.target.namespace, choices.target.release):
            probe = self._probed[2]
        self._probed = None  # once only: a later prepare (after Back, after an install) probes afresh
        from installer import engine

        return engine.prepare(choices, None if self.offline else self.kube, _sink(on_event), probe=probe)

    def helm(self) -> HelmRunner:
        from installer.helm import HelmRunner

        return HelmRunner(self.helm_binary, self.kubeconfig, self.context)

    def check_helm(self) -> HelmCheck:
        """Whether the session's helm binary can run the install (its version and path, or the problem and fix)."""
        from installer.helm import check_helm

        return check_helm(self.helm())

    def helm_command(self, prepared: Prepared) -> str:
        """The exact helm command the install runs (values file names, never their content)."""
        from installer.apply import helm_command_text

        try:
            return helm_command_text(prepared.plan, self.helm(), self.apply_options)
        except InstallerError as exc:
            return f"(helm is not usable: {exc.message})"

    @staticmethod
    def offline_helm_command(prepared: Prepared) -> str:
        """The whole helm command for files written offline (run in the folder that holds them)."""
        import shlex

        plan = prepared.plan
        args = [
            "helm",
            "upgrade",
            "--install",
            plan.release,
            *plan.chart.args(),
            "--namespace",
            plan.namespace,
            "-f",
            "values.yaml",
        ]
        if prepared.rendered.secret_values:
            args += ["-f", "secret-values.yaml"]
        return " ".join(shlex.quote(a) for a in args)

    def values_diff(self, prepared: Prepared) -> list[str]:
        """The installed release's values against the new ones, secrets masked; [] on a first install."""
        if prepared.probe is None or prepared.probe.release is None:
            return []
        from installer.diff import merged_values, values_diff
        from installer.managed import object_changes

        new = merged_values(prepared.rendered.values, prepared.rendered.secret_values)
        lines = values_diff(prepared.probe.release.values, new) + object_changes(
            prepared.existing.managed_objects,
            prepared.rendered.objects,
            prepared.probe.release.values,
            prepared.rendered.values,
        )
        if self.kube is not None:  # pull Secrets and node trust (issue 14) live beside the release
            from installer.clients import ca_change, clients_changes, installed_clients

            lines += clients_changes(installed_clients(self.kube, prepared.plan), prepared.plan.choices.clients)
            lines += ca_change(prepared.existing.node_trust_ca, prepared.plan)
        return lines

    def install(
        self,
        prepared: Prepared,
        on_event: EventSink,
        cancel: threading.Event,
        detach: threading.Event | None = None,
    ) -> ApplyResult:
        """The Install step (in a worker thread): engine.install, the same sequence as the CLI's `apply`: apply, then
        (when waiting) the smoke push and the in-cluster pull check. `result.smoke` is the SmokeResult (None when
        not waiting); `stop_install()` from any thread stops helm and waits for the rollback."""
        if self.kube is None:
            raise InstallerError("no cluster is connected", "go back to the Cluster step")
        from installer import engine

        self._cancel = cancel
        self._idle.clear()
        try:
            result = engine.install(prepared, self.helm(), self.kube, self.apply_options, on_event, cancel, detach)
            # no smoke push ran (not waited for, or the user stopped waiting): the Smoke step's first push waits for
            # the ingress to load the new route, as install's own does
            self._just_installed = result.smoke is None
            return result
        finally:
            self._cancel = None
            self._idle.set()

    @property
    def installing(self) -> bool:
        return not self._idle.is_set()

    def stop_install(self, timeout: float | None = None) -> bool:
        """Stop a running install (helm gets SIGINT, the release is rolled back, the Secrets restored, the lock
        released) and wait for that to finish; True when nothing runs any more."""
        cancel = self._cancel
        if cancel is not None:
            cancel.set()
        return self._idle.wait(timeout)

    def smoke(self, prepared: Prepared, on_event: EventSink | None = None, address: str | None = None):
        """Push a test image through the public address, or `address` (HOST[:PORT], the CLI's --smoke-address, for a
        name that does not resolve yet), and read it back (a SmokeResult)."""
        from installer.verify import ROUTE_SETTLE, run_plan_smoke

        settle, self._just_installed = (ROUTE_SETTLE if self._just_installed else 0.0), False
        address = address or self.apply_options.smoke_address
        result = run_plan_smoke(
            prepared.plan, _sink(on_event), self.apply_options.smoke_blob_size, address, settle=settle
        )
        if getattr(result, "ok", False):  # Done's push-disk goes the way the smoke push went
            self.push_address = address
        return result

    @staticmethod
    def is_duration(text: str) -> bool:
        """A helm --timeout: Go's duration syntax (10m, 600s, 1h30m)."""
        import re

        from installer.cli import GO_DURATION

        return re.fullmatch(GO_DURATION, text) is not None

    @staticmethod
    def check_smoke_address(text: str) -> str | None:
        """None when `text` is HOST or HOST:PORT (as --smoke-address takes it), else what is wrong."""
        from installer.model import is_hostname

        host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
        import ipaddress

        try:
            ipaddress.ip_address(host)
            ok_host = True
        except ValueError:
            ok_host = is_hostname(host)
        if not ok_host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            return f"'{text}' is not HOST or HOST:PORT, e.g. 203.0.113.10 or 203.0.113.10:443"
        return None

    def push_disk(
        self,
        prepared: Prepared,
        file: str,
        image: str,
        compress: Compression = "none",
        on_event: EventSink | None = None,
        cancel: threading.Event | None = None,
    ):
        """Done step, "Push a VM disk now": FILE to the installed registry as a KubeVirt containerDisk.

        Returns a PushDiskResult (its `vm_snippet` and `datavolume_snippet` to show); progress comes as
        Progress events; setting `cancel` stops cleanly and a later push of the same file resumes.
        Raises UsageError for a file or REPOSITORY:TAG that cannot be pushed (message and fix).
        """
        from installer.push_disk import push_disk_for_plan

        return push_disk_for_plan(
            prepared.plan, file, image, compress, _sink(on_event), cancel, address=self.push_disk_address
        )

    @staticmethod
    def push_credentials_problem(prepared: Prepared) -> Problem | None:
        """Done's push form: the registry asks for a password and the wizard knows none (each was kept from the
        installed release: the installer never saw it), so a push from here would be refused with 401."""
        users = prepared.plan.users
        if not users or any(u.password is not None for u in users):
            return None
        first = users[0].name
        return Problem(
            "",
            f"no password is known here for {', '.join(u.name for u in users)}: each was kept from the installed "
            "release (the installer never saw it), so a push from here would be refused (401 Unauthorized)",
            f"push from a shell with the password: `registry-installer push-disk FILE --image REPOSITORY:TAG "
            f"--namespace {prepared.plan.namespace} --release {prepared.plan.release} --username {first} "
            f"--password-env VAR`; or set a new password for {first} on the Access step and install again",
        )

    @property
    def push_disk_address(self) -> str | None:
        """Where Done's push-disk connects: the way the smoke push went (its address override), else the name."""
        return self.push_address or self.apply_options.smoke_address

    def render_files(self, prepared: Prepared, out_dir: str) -> list[Path]:
        """Offline: values.yaml, and secrets files (0600), for GitOps or a later `helm upgrade`."""
        from installer.render import write_rendered

        return write_rendered(prepared.rendered, Path(out_dir).expanduser())

    def dns_target(self, prepared: Prepared) -> str | None:
        """Where the registry's hostnames must point: the Ingress's address, else the ingress controller's
        LoadBalancer Service address; None when the cluster shows neither yet."""
        if self.kube is None:
            return None
        from installer.state import chart_fullname

        plan = prepared.plan
        try:
            ingress = self.kube.get_json(
                "read the Ingress",
                f"/apis/networking.k8s.io/v1/namespaces/{plan.namespace}/ingresses/{chart_fullname(plan.release)}",
            )
            found = _lb_addresses(ingress)
            if found:
                return found
            services = self.kube.get_json("list Services", "/api/v1/services")
        except Exception as exc:  # not knowing the address is not an error: the screen says how to find it
            log.debug("no DNS target: %s", exc)
            return None
        family = plan.controller_family.split("-")[0] if plan.controller_family not in ("", "other") else ""
        for item in services.get("items", []):
            labels = " ".join(f"{k}={v}" for k, v in (item.get("metadata", {}).get("labels") or {}).items())
            if item.get("spec", {}).get("type") == "LoadBalancer" and (
                not family or family in labels or family in item["metadata"]["name"]
            ):
                found = _lb_addresses(item)
                if found:
                    return f"{found} (Service {item['metadata']['namespace']}/{item['metadata']['name']})"
        return None

    @staticmethod
    def ingress_auth_problem(mode: str, exposure: Exposure | None, probe: ProbeResult | None) -> Problem | None:
        """The Access step: ingress basic auth on a controller that cannot do it (build_plan's own rule)."""
        from installer.plan import ingress_auth_problem, ingress_controller

        if exposure is None or exposure.gateway is not None:  # through a Gateway the step offers no ingress auth
            return None
        ingress_class, family = ingress_controller(exposure.ingress_class, probe)
        return ingress_auth_problem(mode, ingress_class, family)

    def installed_claim(self, probe: ProbeResult | None, target: Target) -> ClaimInfo | None:
        """The installed release's data volume (a ClaimInfo: name, size, class, phase), or None (first install,
        offline, S3)."""
        if self.kube is None or probe is None or probe.release is None:
            return None
        from installer.state import load_existing

        return load_existing(self.kube, probe, target.namespace, target.release).claim

    @staticmethod
    def volume_problems(
        storage: Storage, namespace: str, probe: ProbeResult | None, claim: ClaimInfo | None
    ) -> list[Problem]:
        """The Storage step: shrinking the installed volume, or growing one that cannot grow (build_plan's rule)."""
        from installer.plan import volume_change_problems

        return volume_change_problems(storage, namespace, probe, claim)

    def existing_setup(self, probe: ProbeResult, target) -> Choices:
        """The installed release's settings as Choices (passwords `keep`), for reconfigure."""
        from installer.reconfigure import choices_from_release
        from installer.state import load_existing

        assert probe.release is not None
        existing = load_existing(self.kube, probe, target.namespace, target.release) if self.kube is not None else None
        values = probe.release.values
        ingress_users = sorted(existing.ingress_htpasswd) if existing and existing.ingress_htpasswd else None
        present = existing.secrets_present if existing else None
        choices = choices_from_release(
            values,
            target.namespace,
            target.release,
            context=target.context,
            chart=self.chart,
            user_names=ingress_users,
            secrets_present=present,
            managed=existing.managed_objects if existing else (),
        )
        if self.kube is not None:  # the pull Secrets and node trust live beside the release, not in its values
            from installer.clients import clients_from_cluster

            clients = clients_from_cluster(self.kube, target.namespace, target.release, list(choices.exposure.hosts))
            if clients:
                from installer.model import Clients

                section = Clients.parse(clients)
                # the pull user's hash sits in the registry's htpasswd beside the users': it is not one of them
                users = [u for u in choices.auth.users if not (section.namespaces and u.name == section.pull_user)]
                auth = choices.auth.replace(users=users)
                choices = choices.replace(clients=section, auth=auth)
        return choices

    # -- day two (issue 16): the Status view and its actions --------------------------------------

    def status(self, namespace: str, release: str):
        """Health, usage and last GC of the installed release (installer.status.RegistryStatus); never raises for
        missing parts."""
        from installer.status import collect_status

        return collect_status(self._connected(), namespace, release)

    def gc(
        self,
        namespace: str,
        release: str,
        on_event: EventSink,
        cancel: threading.Event,
        dry_run: bool = False,
        delete_untagged: bool = True,
    ):
        """Safe garbage collection (read-only, collect, writable again); an installer.maintenance.GCResult.

        Raises InstallerError on failure; the registry is writable again by then.
        """
        from installer.maintenance import GCOptions, run_gc

        return run_gc(
            self._connected(),
            self.helm(),
            namespace,
            release,
            GCOptions(dry_run=dry_run, delete_untagged=delete_untagged),
            on_event,
            cancel,
        )

    def grow(
        self, namespace: str, release: str, size: str, on_event: EventSink | None = None, wait_seconds: float = 120.0
    ):
        """Expand the data PVC to `size`; an installer.maintenance.GrowResult (its .message says what happened)."""
        from installer.maintenance import run_grow

        return run_grow(self._connected(), self.helm(), namespace, release, size, _sink(on_event), wait_seconds)

    def node_trust_status(self, namespace: str, release: str):
        """Per node, whether it trusts the registry's CA (installer.clients.NodeTrust); None when node trust is off."""
        from installer.clients import node_trust_status

        return node_trust_status(self._connected(), namespace, release)

    def _connected(self) -> KubeClient:
        if self.kube is None:
            raise InstallerError("no cluster is connected", "go back to the Cluster step and pick a reachable context")
        return self.kube

    @staticmethod
    def client_snippets(prepared: Prepared, image: str = "vms/fedora:40") -> list[tuple[str, str]]:
        """Clients step / Done: (title, text) for docker, podman, containerd, a Pod, a KubeVirt VM and a CDI
        DataVolume."""
        from installer.clients import client_snippets

        return client_snippets(prepared.plan, image)

    def client_ca(self, choices: Choices) -> ClientCA | None:
        """The CA clients must trust for these choices and where it came from (build_plan's rule): exposure.tls.ca_file,
        the system trust store, the TLS Secret's ca.crt (read from the cluster when connected), the end of a files
        chain, the CA of a cert-manager CA issuer (its Secret's tls.crt). None without TLS."""
        asking = choices.replace(clients=choices.clients.replace(node_trust=True))
        return self._client_ca(asking)[0]  # as if node trust were on: look even where nothing is known yet

    def clients_problems(self, choices: Choices) -> list[Problem]:
        """The Plan's problems of exposure.tls.ca_file (unreadable, not a CA, did not sign the certificate) and of
        clients.node_trust (no CA known, or a publicly trusted certificate)."""
        from installer.plan import node_trust_problem

        ca, problems = self._client_ca(choices)
        trust = node_trust_problem(choices, ca) if not problems else None
        return problems + ([trust] if trust is not None else [])

    def _client_ca(self, choices: Choices) -> tuple[ClientCA | None, list[Problem]]:
        from installer.plan import ExistingState, SecretNames, client_ca

        existing, issuer = ExistingState(), None
        tls, target = choices.exposure.tls, choices.target
        if self.kube is not None and tls.mode == "cert-manager" and tls.issuer:
            from installer.probe import issuer_of

            try:  # a CA issuer's CA, as build_plan finds it in the probe
                issuer = issuer_of(self.kube, tls.issuer_kind, tls.issuer, target.namespace)
            except InstallerError as exc:
                log.debug("cert-manager issuer not read: %s", exc)
        if self.kube is not None and tls.mode not in ("self-signed", "none"):
            from installer.state import node_trust_ca, tls_secret_pems

            try:
                chain, ca = (
                    tls_secret_pems(self.kube, target.namespace, tls.secret_name or SecretNames(target.release).tls)
                    if tls.mode in ("existing-secret", "cert-manager")
                    else (None, None)
                )
                installed = node_trust_ca(self.kube, target.namespace, target.release)
                existing = ExistingState(tls_secret_chain=chain, tls_secret_ca=ca, node_trust_ca=installed)
            except InstallerError as exc:  # not allowed to read them: the CA is not found then, and the step asks
                log.debug("TLS Secret not read: %s", exc)
        return client_ca(choices, existing, issuer=issuer)

    @staticmethod
    def node_trust_offered(choices: Choices, ca: ClientCA | None) -> bool:
        """Whether the Clients step should offer node trust: TLS on and the certificate not publicly trusted."""
        from installer.plan import node_trust_offered

        return node_trust_offered(choices.exposure.tls.mode, ca)

    @staticmethod
    def check_tls_files(cert_file: str, key_file: str, hosts: list[str]) -> list[Problem]:
        """Parse, match, hosts-covered and expiry checks of a certificate and key, as the Plan does."""
        from installer.tlsfiles import check_cert_and_key

        _material, problems = check_cert_and_key(cert_file, key_file, hosts)
        return problems

    @staticmethod
    def save_preset(choices: Choices, path: str, secrets_dir: str | None = None, kept_as: str = "keep") -> SavedPreset:
        """Write the preset; typed-in passwords go to 0600 files in `secrets_dir` and are referenced as file:PATH.

        `kept_as`: "keep" leaves kept passwords as `keep` (replays only where the release is installed); "env"
        writes env:REGISTRY_PASSWORD_<USER> for them, so the preset replays on any cluster."""
        target = Path(path).expanduser()
        choices, files = _store_typed_passwords(
            choices, Path(secrets_dir).expanduser() if secrets_dir else target.parent
        )
        if kept_as == "env":
            choices = _kept_as_env(choices)
        from installer.preset import dump_preset

        text = dump_preset(choices)
        target.parent.mkdir(parents=True, exist_ok=True)
        from installer.files import FileProblem, write_file

        try:
            write_file(target, text, 0o644, "preset")  # never through a link planted at the path
        except FileProblem as exc:  # the Done screen shows OSErrors in words
            raise OSError(f"{exc.message}; {exc.hint}") from None
        return SavedPreset(target, tuple(files))


def _lb_addresses(obj: dict) -> str:
    entries = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ", ".join(e.get("ip") or e.get("hostname") for e in entries if e.get("ip") or e.get("hostname"))


def typed_password_users(choices: Choices) -> list[str]:
    """Users whose password was typed in the wizard (they need a file or env var before a preset)."""
    return [u.name for u in choices.auth.users if u.password.kind == "literal"]


def kept_password_users(choices: Choices) -> list[str]:
    """Users whose password is `keep` (the installed hash): a preset with them replays only on this cluster."""
    return [u.name for u in choices.auth.users if u.password.kind == "keep"]


def password_env_var(user: str) -> str:
    import re

    return "REGISTRY_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", user).upper()


def _kept_as_env(choices: Choices) -> Choices:
    from installer.model import User
    from installer.secretref import SecretSpec

    users = [
        User(name=u.name, password=SecretSpec("env", password_env_var(u.name))) if u.password.kind == "keep" else u
        for u in choices.auth.users
    ]
    return choices.replace(auth=choices.auth.replace(users=users))


def _store_typed_passwords(choices: Choices, secrets_dir: Path) -> tuple[Choices, list[Path]]:
    from installer.model import User
    from installer.render import write_private
    from installer.secretref import SecretSpec

    if not typed_password_users(choices):
        return choices, []
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    users, files = [], []
    for user in choices.auth.users:
        if user.password.kind == "literal" and user.password.value is not None:
            secret_file = secrets_dir / f"{choices.target.release}-{user.name}.password"
            write_private(secret_file, user.password.value.get_secret_value() + "\n")
            files.append(secret_file)
            user = User(name=user.name, password=SecretSpec("file", str(secret_file.resolve())))
        users.append(user)
    auth = choices.auth.replace(users=users)
    return choices.replace(auth=auth), files


def default_preset_path(folder: str | None = None) -> str:
    """Where Done offers to save the preset: `folder` (the wizard's working folder), else the current directory."""
    return os.path.join(folder or os.getcwd(), "registry-preset.yaml")


def ca_instructions(host: str) -> str:
    """Where docker, containerd, podman and the OS look for the registry's CA."""
    from installer.diagnose import ca_placement

    return ca_placement(host, for_check=False)


def containerd_hosts_toml(host: str) -> str:
    """containerd's per-registry file: /etc/containerd/certs.d/HOST/hosts.toml, with ca.crt beside it."""
    return (
        f"# /etc/containerd/certs.d/{host}/hosts.toml  (put the CA beside it as ca.crt;\n"
        f'# containerd reads certs.d when its CRI registry config_path = "/etc/containerd/certs.d")\n'
        f'server = "https://{host}"\n\n[host."https://{host}"]\n  capabilities = ["pull", "resolve", "push"]\n'
        f'  ca = "/etc/containerd/certs.d/{host}/ca.crt"\n'
    )


def password_command(namespace: str, state_secret: str, user: str) -> str:
    """The kubectl line that prints a generated password (decoded)."""
    from installer.checks import secret_key_for_user

    key = secret_key_for_user(user).replace(".", "\\.")
    return f"kubectl -n {namespace} get secret {state_secret} -o jsonpath='{{.data.{key}}}' | base64 -d; echo"


def data_claim_words(plan) -> tuple[str | None, str]:
    """The PVC that holds the images and what keeps or deletes it (None on S3 storage)."""
    from installer.state import chart_fullname

    storage = plan.choices.storage
    if storage.kind == "s3" and storage.s3 is not None:
        return (
            None,
            f"S3 bucket {storage.s3.bucket} ({storage.s3.endpoint or 'AWS'}, {storage.s3.region}); uninstalling never "
            "touches it",
        )
    fs = storage.filesystem
    if fs.existing_claim:
        return fs.existing_claim, (
            f"your PVC {plan.namespace}/{fs.existing_claim}: the installer never changes or deletes it"
        )
    claim = getattr(plan, "claim", None)
    name = getattr(claim, "name", None) or chart_fullname(plan.release)
    size = getattr(claim, "size", None) or fs.size
    storage_class = getattr(claim, "storage_class", None) or plan.storage_class or "default"
    where = f"images live in PVC {plan.namespace}/{name} ({size}, StorageClass {storage_class})"
    if claim is not None and getattr(claim, "installer_owned", False):
        return name, (
            f"{where}. `registry-installer uninstall` keeps it, and so does a plain `helm uninstall`; only "
            "`registry-installer uninstall --delete-data` (or deleting the PVC or the namespace) deletes the images"
        )
    return name, (
        f"{where}. `registry-installer uninstall` keeps it (it detaches the PVC first); "
        "`registry-installer uninstall --delete-data` deletes it; a plain `helm uninstall` deletes it too"
    )


def write_ca(ca_pem: str, path: str) -> Path:
    """The self-signed CA certificate (public) to copy to every client."""
    from installer.files import FileProblem, write_file

    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        return write_file(target, ca_pem, 0o644, "CA file")  # never through a link planted at the path
    except FileProblem as exc:  # the Done screen shows OSErrors in words
        raise OSError(f"{exc.message}; {exc.hint}") from None

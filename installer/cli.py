"""Command line: `registry-installer` (the wizard) and its headless subcommands."""

from __future__ import annotations

import argparse
import functools
import gc
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Sequence, TextIO

from installer import logs
from installer.errors import InstallerError, UsageError

if TYPE_CHECKING:
    from installer.kube import KubeClient
    from installer.smoke import SmokeResult

DEFAULT_HELM = os.environ.get("REGISTRY_INSTALLER_HELM", "helm")


def _add_target_flags(parser: argparse.ArgumentParser, release: bool = True) -> None:
    parser.add_argument("--context", help="kube context to use (default: the current one)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--namespace", help="namespace of the release (overrides the preset)")
    if release:
        parser.add_argument("--release", help="helm release name (overrides the preset)")


def _common_flags() -> argparse.ArgumentParser:
    """The options every command takes after its name too (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        default=argparse.SUPPRESS,
        help="debug logging on stderr (never secrets)",
    )
    return common


def _add_wizard_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--context")
    parser.add_argument("--kubeconfig")
    parser.add_argument("--helm", default=DEFAULT_HELM)
    parser.add_argument(
        "--chart", help="a local chart directory or .tgz instead of the chart repository (air-gapped clusters)"
    )


def _add_apply_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", required=True, help="preset YAML file (see presets/)")
    parser.add_argument("--dry-run", action="store_true", help="change nothing: server-side dry run of every object")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask before changing the cluster")
    parser.add_argument(
        "--timeout", default="10m", help="how long to wait for the registry pods, e.g. 10m or 600s (default 10m)"
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="do not wait for the registry pods (also skips the smoke push)"
    )
    parser.add_argument("--skip-smoke", action="store_true", help="do not push a test image after installing")
    parser.add_argument(
        "--smoke-address",
        metavar="HOST[:PORT]",
        help="push the test image through this address (e.g. before DNS points at the ingress)",
    )
    parser.add_argument("--helm", default=DEFAULT_HELM, help="helm binary (default: helm on PATH)")
    parser.add_argument(
        "--chart", help="a local chart directory or .tgz instead of the preset's chart (air-gapped clusters)"
    )
    _add_target_flags(parser)


def _add_render_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", required=True)
    parser.add_argument("--out", required=True, help="directory for values.yaml, secrets.yaml, secret-values.yaml")
    parser.add_argument("--chart", help="a local chart directory or .tgz instead of the preset's chart")
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="keep the generated secrets (haSharedSecret, CA, certificate, passwords) in this "
        "0600 file and reuse them on the next render (default: read back --out's previous secrets.yaml)",
    )


def _add_probe_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--helm", default=DEFAULT_HELM, help="helm binary to check (default: helm on PATH)")
    _add_target_flags(parser)


def _add_uninstall_flags(parser: argparse.ArgumentParser) -> None:
    _add_target_flags(parser)
    parser.add_argument("--delete-data", action="store_true", help="also delete the data volume (the images are lost)")
    parser.add_argument("--keep-data", action="store_true", help="keep the data volume (the default)")
    parser.add_argument("--yes", "-y", action="store_true")
    parser.add_argument("--helm", default=DEFAULT_HELM)


def _add_status_flags(parser: argparse.ArgumentParser) -> None:
    _add_target_flags(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _add_gc_flags(parser: argparse.ArgumentParser) -> None:
    _add_target_flags(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="only list what would be deleted (the registry stays writable)"
    )
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask before making the registry read-only")
    parser.add_argument(
        "--keep-untagged", action="store_true", help="keep manifests no tag points at (default: delete them)"
    )
    parser.add_argument(
        "--timeout", default="10m", help="limit for each rollout and for the collection Job (default 10m)"
    )
    parser.add_argument("--helm", default=DEFAULT_HELM)


def _add_grow_flags(parser: argparse.ArgumentParser) -> None:
    _add_target_flags(parser)
    parser.add_argument("--size", required=True, help="the new size, larger than now, e.g. 200Gi")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask (volumes cannot shrink back)")
    parser.add_argument("--timeout", default="2m", help="how long to wait for the resize to finish (default 2m)")
    parser.add_argument("--helm", default=DEFAULT_HELM)


def _add_smoke_flags(parser: argparse.ArgumentParser) -> None:
    from installer.registry_flags import add_smoke_arguments  # the probe's controller families and their imports

    add_smoke_arguments(parser)


def _add_push_disk_flags(parser: argparse.ArgumentParser) -> None:
    from installer.disk_cli import add_push_disk_arguments  # the disk pusher and its imports

    add_push_disk_arguments(parser)


def _add_ca_flags(parser: argparse.ArgumentParser) -> None:
    _add_target_flags(parser)
    parser.add_argument("--out", help="write the CA certificate to this file")


def _add_clients_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", required=True)
    parser.add_argument(
        "--image", default="vms/fedora:40", metavar="REPOSITORY:TAG", help="the image the snippets name"
    )


def _add_schema_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="write it to this file instead")


# Each command, in the order `registry-installer --help` lists them: its one-line help and what adds its flags.
PARSERS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "wizard": ("the guided installer (the default with no command)", _add_wizard_flags),
    "apply": ("install or upgrade from a preset, headless", _add_apply_flags),
    "render": ("write values.yaml and Secret manifests, no cluster needed", _add_render_flags),
    "probe": ("show what the cluster offers", _add_probe_flags),
    "uninstall": ("remove the release (the data volume is kept; --delete-data deletes it)", _add_uninstall_flags),
    "status": (
        "health, disk usage, images and last garbage collection of the installed registry",
        _add_status_flags,
    ),
    "gc": ("safe garbage collection: read-only, collect, writable again", _add_gc_flags),
    "grow": ("expand the data volume (when its StorageClass allows it)", _add_grow_flags),
    "smoke": ("push and pull a test image through the registry's address", _add_smoke_flags),
    "push-disk": ("push a VM disk (qcow2, raw, ISO) as a KubeVirt containerDisk, resumable", _add_push_disk_flags),
    "ca": ("print the CA clients must trust for the installed release, and where they put it", _add_ca_flags),
    "clients": (
        "print what docker, podman, containerd, Pods and KubeVirt need to pull (no cluster needed)",
        _add_clients_flags,
    ),
    "schema": ("print the preset JSON Schema", _add_schema_flags),
}


class _Unsure(Exception):
    """A lean parse (the named command's parser alone) met a help flag or an error: the whole parser reads the line
    again, to print the help, usage or error it always has."""


class _LeanParser(argparse.ArgumentParser):
    """A parser that hands help and errors over (_Unsure) instead of printing them."""

    def error(self, message: str) -> NoReturn:
        raise _Unsure(message)

    def print_help(self, file: Any = None) -> None:
        raise _Unsure("help")


def build_parser(command: str | None = None, lean: bool = False) -> argparse.ArgumentParser:
    """The whole command line. Given the `command` about to run, the commands that talk to a registry (smoke,
    push-disk) get their flags only when they are that command: those flags import the probe's controller families,
    the disk pusher and their dependencies. `lean` builds that command's parser alone, and raises _Unsure for help
    and errors (`parse_command_line`): building all thirteen, with their help texts, is ~2.5 ms of a render."""
    base = _LeanParser if lean else argparse.ArgumentParser
    parser = base(
        prog="registry-installer",
        description="Install a private Docker registry on Kubernetes with Helm, then prove it works.",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging on stderr (never secrets)")
    common = _common_flags()

    class CommandParser(base):  # type: ignore[valid-type,misc]
        """A command's parser: it takes the common options too (--verbose after the command)."""

        def __init__(self, **kw) -> None:
            super().__init__(parents=[common], **kw)

    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name, (help_text, add_flags) in PARSERS.items():
        if lean and name != command:
            continue
        command_parser = sub.add_parser(name, help=help_text)
        if command in (None, name) or name not in ("smoke", "push-disk"):
            add_flags(command_parser)
    return parser


def parse_command_line(argv: list[str]) -> argparse.Namespace:
    """The parsed command line (`argv` names its command). The command's parser alone reads it first; help and
    errors come from the whole parser, so they read as they always have (SystemExit, as argparse's)."""
    command = next((arg for arg in argv if arg in COMMANDS), None)  # --verbose, before it, takes no value
    if command is not None:
        try:
            return build_parser(command, lean=True).parse_args(argv)
        except _Unsure:
            pass
    return build_parser(command).parse_args(argv)


def _first_word(argv: list[str]) -> str | None:
    """The first word of a command line that is neither an option nor the value of a wizard option (the wizard is
    the command when none is named: `registry-installer --kubeconfig FILE`)."""
    takes_value = ("--context", "--kubeconfig", "--helm", "--chart")
    words = iter(argv)
    for word in words:
        if not word.startswith("-"):
            return word
        if "=" not in word and len(word) > 2 and any(option.startswith(word) for option in takes_value):
            next(words, None)  # its value (argparse takes an unambiguous prefix of an option too)
    return None


def unknown_command_error(word: str) -> str:
    """The words for a command line whose first word names no command (a typo: `registry-installer rendr ...`)."""
    import difflib

    close = difflib.get_close_matches(word, COMMANDS, n=1)
    guess = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"unknown command {word!r}{guess} (commands: {', '.join(PARSERS)}; `registry-installer -h` says what each does)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(arg in COMMANDS for arg in argv) and not any(arg in ("-h", "--help") for arg in argv):
        word = _first_word(argv)
        if word is not None:  # not a command, and the wizard takes no words: most likely a mistyped command
            try:
                build_parser().error(unknown_command_error(word))
            except SystemExit as exc:
                return int(exc.code or 0)
        argv = ["wizard", *argv]  # `registry-installer --kubeconfig X` starts the wizard with those flags
    try:
        args = parse_command_line(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    command = args.command or "wizard"
    logs.setup(args.verbose, now=command not in QUIET_START)
    from installer.files import forget_inputs

    forget_inputs()
    try:
        return COMMANDS[command](args)
    except InstallerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: nothing more was changed; re-run the same command to converge", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `registry-installer probe | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _load_choices(args):
    from installer.model import Choices
    from installer.preset import load_preset

    choices = load_preset(args.preset)
    overrides = {k: getattr(args, k, None) for k in ("context", "namespace", "release")}
    overrides = {k: v for k, v in overrides.items() if v}
    from installer.chart import chart_option

    chart = chart_option(getattr(args, "chart", None))
    if overrides or chart:
        data = choices.to_dict()
        data["target"].update(overrides)
        if chart:
            data["chart"].update({"path": chart, "oci": None})
        from installer.errors import ValidationFailed
        from installer.model import Invalid
        from installer.preset import problems_from_validation

        try:
            choices = Choices.parse(data)
        except Invalid as exc:
            raise ValidationFailed(problems_from_validation(exc), "the command line flags") from None
    return choices


def short_command(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """For a command that loads the model and ends (render, clients, schema): the cycle collector is off while it
    runs, on again after as it was. Importing and building a validation model allocates many container objects (with
    pydantic: ~50 collections that freed ~750 objects, ~4.6 ms of render's CPU); a short command frees them at exit."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        was_on = gc.isenabled()
        gc.disable()
        try:
            return command(args)
        finally:
            if was_on:
                gc.enable()

    return run


def exit_soon() -> None:
    """For a process that ends right after the command (the entry points call it): move every object to the
    collector's permanent generation, so the interpreter's tear-down does not walk them all to find cycles the exit
    frees anyway (~40 M instructions, ~4% of a render)."""
    gc.freeze()


@short_command
def cmd_render(args) -> int:
    from installer.engine import prepare
    from installer.render import read_previous_render, write_rendered

    choices = _load_choices(args)
    tls = choices.exposure.tls
    existing, kept_from = read_previous_render(
        args.out, args.state, choices.target.release, tls.secret_name if tls.mode in ("self-signed", "files") else None
    )
    prepared = prepare(choices, kube=None, existing=existing)
    written = write_rendered(prepared.rendered, args.out, state_file=args.state)
    if existing is not None:
        print(
            f"kept the secrets of {kept_from} (haSharedSecret, CA, certificate, generated passwords); delete it to "
            "rotate them"
        )
    for path in written:
        mode = oct(path.stat().st_mode & 0o777)[2:]
        print(f"wrote {path} (mode {mode})")
    for note in prepared.rendered.notes:
        print(f"note: {note}")
    return 0


def _target_flags(args) -> tuple[str, str]:
    """--namespace and --release (their defaults when unset), checked like the preset's target section."""
    from installer import checks

    namespace = args.namespace if args.namespace is not None else "docker-registry"
    release = getattr(args, "release", None)
    release = release if release is not None else "docker-registry"
    try:
        checks.dns_label(namespace, "namespace name")
    except ValueError as exc:
        raise UsageError(f"--namespace: {exc}") from None
    try:
        checks.dns_label(release, "release name", start_letter=True)
        if len(release) > checks.HELM_RELEASE_MAX:
            raise ValueError(f"release name {release!r} is longer than helm's {checks.HELM_RELEASE_MAX} characters")
    except ValueError as exc:
        raise UsageError(f"--release: {exc}") from None
    if args.context is not None:
        try:
            checks.no_option(args.context, "--context", "kind-registry")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return namespace, release


def _connect_target(args) -> tuple[KubeClient, str, str]:
    """The day-two commands' start: --namespace/--release checked (`_target_flags`), then connected (--context)."""
    from installer.engine import connect

    namespace, release = _target_flags(args)
    return connect(args.context, args.kubeconfig), namespace, release


def cmd_probe(args) -> int:
    from installer.engine import run_probe
    from installer.helm import HelmRunner, check_helm

    kube, namespace, release = _connect_target(args)
    result = run_probe(kube, namespace, release)
    if args.json:
        print(result.to_json())
        return 0
    print(f"cluster:   {result.server} (context {result.context or '-'}, Kubernetes {result.server_version})")
    print(f"identity:  {result.user or 'unknown'}")
    print("storage classes:")
    for sc in result.storage_classes:
        flags = ", ".join(
            f
            for f in (
                "default" if sc.is_default else "",
                "expandable" if sc.allow_expansion else "not expandable",
                sc.binding_mode,
            )
            if f
        )
        print(f"  {sc.name:<24} {sc.provisioner}  ({flags})")
    print("ingress classes:")
    for ic in result.ingress_classes:
        print(f"  {ic.name:<24} {ic.controller}  ({ic.family}{', default' if ic.is_default else ''})")
    if result.ingress_nginx_body_size is not None:
        print(f"ingress-nginx global proxy-body-size: {result.ingress_nginx_body_size}")
    if result.gateway_api is None:
        print("Gateway API: not installed")
    else:
        api = result.gateway_api
        print(f"Gateway API: {api.version} ({api.channel} channel; serves {', '.join(api.served)})")
        for gc in result.gateway_classes:
            print(f"  GatewayClass {gc.name:<18} {gc.controller}  ({gc.family})")
        for gw in result.gateways:
            print(f"  Gateway {gw.ref} (class {gw.class_name}, {gw.family})")
            for listener in gw.listeners:
                certs = f"; certificates {', '.join(listener.certificate_refs)}" if listener.certificate_refs else ""
                print(f"    listener {listener.words()}; routes from {listener.allowed_from}{certs}")
    print(f"cert-manager: {'installed' if result.cert_manager else 'not found'}")
    print(
        f"KubeVirt: {'installed' if result.kubevirt else 'not found'}; CDI: "
        f"{'installed' if result.cdi else 'not found'}"
    )
    if result.node_runtimes:
        print("nodes:")
        for node, runtime in result.node_runtimes:
            print(f"  {node:<24} {runtime or 'runtime unknown'}")
    for issuer in result.issuers:
        where = f" ({issuer.namespace})" if issuer.namespace else ""
        print(f"  {issuer.kind}/{issuer.name}{where}{': CA issuer, ' + issuer.ca_note if issuer.ca_issuer else ''}")
    if result.release is not None:
        r = result.release
        print(f"release:   {r.name} in {r.namespace}: revision {r.revision}, {r.status}, chart {r.chart}")
    else:
        print("release:   none installed")
    helm = check_helm(HelmRunner(args.helm, kubeconfig=args.kubeconfig, context=args.context))
    print(f"helm:      {helm.words}" if helm.ok else f"helm:      ✗ {helm.words}\n  fix: {helm.fix}")
    for warning in result.warnings():
        print(f"warning: {warning}")
    return 0


GO_DURATION = r"([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+"


def _check_apply_flags(args) -> None:
    import re

    if not re.fullmatch(GO_DURATION, args.timeout, re.ASCII):
        raise UsageError(f"--timeout {args.timeout!r} is not a duration", "write it like 10m, 600s or 1h30m")
    if args.smoke_address and "@" in args.smoke_address:
        # never echo it: user:password@host would print the password
        raise UsageError(
            "--smoke-address holds credentials (user:password@); give only HOST[:PORT]",
            "the smoke push logs in with the preset's users; e.g. --smoke-address 10.0.0.5:443",
        )
    if args.smoke_address:
        host, _, port = (
            args.smoke_address.rpartition(":") if ":" in args.smoke_address else (args.smoke_address, "", "")
        )
        if not _address_host(host) or (port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536)):
            raise UsageError(
                f"--smoke-address {args.smoke_address!r} is not HOST or HOST:PORT",
                "e.g. --smoke-address 10.0.0.5:443 or registry.internal",
            )


def _address_host(host: str) -> bool:
    """A hostname or an IP address (the smoke push may go straight to the ingress's address)."""
    import ipaddress

    from installer.model import is_hostname

    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
        return True
    except ValueError:
        return is_hostname(host)


def cmd_apply(args) -> int:
    from installer.apply import ApplyOptions
    from installer.console import EventPrinter
    from installer.diff import merged_values, values_diff
    from installer.engine import connect, install, prepare
    from installer.events import Note
    from installer.helm import HelmRunner

    _check_apply_flags(args)
    printer = EventPrinter()
    choices = _load_choices(args)
    kube = connect(choices.target.context, args.kubeconfig)
    prepared = prepare(choices, kube, on_event=printer)
    plan, rendered = prepared.plan, prepared.rendered
    for note in rendered.notes:
        printer(Note("plan", note))
    for line in rendered.review:
        printer(Note("gateway", line))
    if prepared.existing.revision:
        from installer.managed import object_changes

        diff = values_diff(prepared.existing.values, merged_values(rendered.values, rendered.secret_values))
        print(
            f"changes to release {plan.release} (revision {prepared.existing.revision}):"
            if diff
            else f"release {plan.release}: no value changes"
        )
        for line in diff:
            print(f"  {line}")
        changes = object_changes(
            prepared.existing.managed_objects, rendered.objects, prepared.existing.values, rendered.values
        )
        if changes:
            print("exposure objects:")
            for line in changes:
                print(f"  {line}")
        from installer.clients import ca_change, clients_changes, installed_clients

        client_lines = clients_changes(installed_clients(kube, plan), plan.choices.clients)
        client_lines += ca_change(prepared.existing.node_trust_ca, plan)
        if client_lines:
            print("clients:")
            for line in client_lines:
                print(f"  {line}")
    if not args.dry_run and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                "apply changes the cluster and no terminal is attached to confirm",
                "pass --yes to apply without asking, or --dry-run to only check",
            )
        answer = input(f"Apply to {kube.server} (context {kube.context}), namespace {plan.namespace}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 1
    helm = HelmRunner(args.helm, kubeconfig=args.kubeconfig, context=choices.target.context)
    options = ApplyOptions(
        dry_run=args.dry_run,
        wait=not args.no_wait,
        timeout=args.timeout,
        smoke=not args.skip_smoke,
        smoke_address=args.smoke_address,
    )
    # from here on a signal stops helm cleanly (and we roll back) instead of killing us mid-change
    result = install(prepared, helm, kube, options, on_event=printer, cancel=_cancel_on_signals())
    if args.dry_run:
        print("dry run: nothing was changed")
        return 0
    if result.smoke is not None and not result.smoke.ok:
        print(
            f"release {plan.release} is installed (revision {result.revision}), "
            "but the registry failed the smoke test:",
            file=sys.stderr,
        )
        print_smoke_result(result.smoke, sys.stderr)
        return 1
    check = result.pull_check
    if check is not None and not check.ok:
        print(
            f"release {plan.release} is installed (revision {result.revision}) and the smoke push passed, but the "
            "in-cluster pull check FAILED in namespace "
            f"{check.namespace}{f' on node {check.node}' if check.node else ''}:",
            file=sys.stderr,
        )
        from installer.diagnose import failure_lines

        sys.stderr.write(failure_lines(check.cause, check.fix, check.detail))
        for verdict in check.nodes:
            print(f"  node:   {verdict.words()}", file=sys.stderr)
        return 1
    if check is not None:
        print(f"in-cluster pull check passed: node {check.node} pulled {check.image}")
    print(
        f"installed: release {plan.release} revision {result.revision} in namespace {plan.namespace}; "
        f"registry at https://{plan.registry_host}"
        if plan.tls_secret_name
        else f"http://{plan.registry_host}"
    )
    if plan.ca_pem and plan.choices.exposure.tls.mode == "self-signed":
        print(
            f"clients must trust the installer's CA: kubectl -n {plan.namespace} get secret {plan.names.ca} -o "
            "jsonpath='{.data.tls\\.crt}' | base64 -d > ca.crt"
        )
    elif plan.ca_pem and plan.client_ca is not None:
        print(f"clients must trust the CA from {plan.client_ca.source}")
    return 0


def _cancel_on_signals() -> threading.Event:
    """SIGTERM (and SIGINT) set an Event that stops helm or the wait cleanly (and the installer rolls back) instead
    of killing us mid-upgrade."""
    import signal

    cancel = threading.Event()
    if threading.current_thread() is threading.main_thread():

        def handler(signum, frame):
            cancel.set()
            print(f"signal {signum}: stopping helm cleanly and rolling back...", file=sys.stderr)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    return cancel


def cmd_uninstall(args) -> int:
    from installer.console import EventPrinter
    from installer.engine import connect
    from installer.helm import HelmRunner
    from installer.uninstall import uninstall

    if args.delete_data and args.keep_data:
        raise UsageError("--delete-data and --keep-data contradict each other", "pass one of them")
    namespace, release = _target_flags(args)
    if args.delete_data and not args.yes and not sys.stdin.isatty():
        raise UsageError(
            "--delete-data deletes the registry's images and no terminal is attached to confirm",
            "pass --yes with --delete-data to delete them without asking",
        )
    kube = connect(args.context, args.kubeconfig)
    if args.delete_data and not args.yes:
        from installer.plan import chart_fullname

        claim = chart_fullname(release)
        answer = input(
            f"Uninstall release {release} from namespace {namespace} AND delete its data volume (PVC {claim}): every "
            "image is lost. Type the PVC name to confirm: "
        )
        if answer.strip() != claim:
            print("nothing changed")
            return 1
    elif not args.yes and sys.stdin.isatty():
        if input(
            f"Uninstall release {release} from namespace {namespace} (the data volume is kept)? [y/N] "
        ).strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 1
    helm = HelmRunner(args.helm, kubeconfig=args.kubeconfig, context=args.context)
    for line in uninstall(helm, kube, namespace, release, keep_data=not args.delete_data, on_event=EventPrinter()):
        print(line)
    return 0


def _confirm(args, question: str, flag_hint: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')} needs a confirmation and no terminal is attached", flag_hint)
    if input(f"{question} [y/N] ").strip().lower() in ("y", "yes"):
        return True
    print("nothing changed")
    return False


def _check_duration(flag: str, value: str) -> None:
    import re

    if not re.match(GO_DURATION, value):
        raise UsageError(f"{flag} {value!r} is not a duration", "write it like 10m, 600s or 1h30m")


def cmd_status(args) -> int:
    from installer.console import format_size, gc_record_words
    from installer.status import collect_status

    kube, namespace, release = _connect_target(args)
    status = collect_status(kube, namespace, release)
    if args.json:
        print(status.to_json())
        return 0 if status.installed else 1
    if not status.installed:
        print(f"release {release} is not installed in namespace {namespace}")
        return 1
    print(
        f"release:   {release} in {namespace}: revision {status.revision}, {status.release_status}, chart "
        f"{status.chart} (app {status.app_version})"
    )
    print(
        f"pods:      {status.pods_ready}/{status.pods_total} ready, {status.restarts} restarts"
        + (f" (node {', '.join(sorted({p['node'] for p in status.pods if p['node']}))})" if status.pods else "")
    )
    print(
        f"address:   {', '.join(status.hosts) or '-'} -> ingress "
        f"{', '.join(status.ingress_address) or '(no address yet)'}"
    )
    if status.tls_secret:
        expiry = (
            f"expires in {status.tls_days_left} days"
            if status.tls_days_left is not None
            else "certificate not readable"
        )
        print(
            f"tls:       Secret {status.tls_secret}, {expiry}"
            + (f"; cert-manager: {status.cert_manager}" if status.cert_manager else "")
        )
    if status.storage == "s3":
        print(f"storage:   S3 ({status.usage_note})")
    elif status.claim:
        print(
            f"volume:    PVC {status.claim} {status.claim_requested} ({status.claim_phase}, StorageClass "
            f"{status.storage_class or '-'}"
            f"{', expandable' if status.expandable else ', not expandable' if status.expandable is False else ''})"
        )
        if status.usage is not None:
            u = status.usage
            print(
                f"usage:     {format_size(u.used_bytes)} of {format_size(u.capacity_bytes)} ({u.fraction:.0%}), "
                f"{format_size(u.available_bytes)} free (kubelet, {u.time or 'now'})"
            )
        else:
            print(f"usage:     unknown: {status.usage_note}")
    if status.repositories is not None:
        print(
            f"images:    {status.repositories} repositories, {status.tags} tags"
            + (f" ({status.catalog_note})" if status.catalog_note else "")
        )
    else:
        print(f"images:    {status.catalog_note}")
    gc = status.last_gc
    if gc:
        print(f"last gc:   {gc_record_words(gc)}")
    else:
        print("last gc:   never (by this installer)")
    if status.gc_schedule:
        print(f"gc plan:   {status.gc_schedule} (CronJob {release}-installer-gc: read-only, collect, writable)")
    for warning in status.warnings:
        print(f"warning: {warning}")
    return 0


def cmd_gc(args) -> int:
    from installer.console import EventPrinter, format_size
    from installer.helm import HelmRunner
    from installer.maintenance import GCOptions, run_gc

    _check_duration("--timeout", args.timeout)
    kube, namespace, release = _connect_target(args)
    if not args.dry_run and not _confirm(
        args,
        f"Make registry {release} in {namespace} read-only (pushes refused) while it collects garbage?",
        "pass --yes to run without asking, or --dry-run to only see what would be deleted",
    ):
        return 1
    helm = HelmRunner(args.helm, kubeconfig=args.kubeconfig, context=args.context)
    options = GCOptions(dry_run=args.dry_run, delete_untagged=not args.keep_untagged, timeout=args.timeout)
    result = run_gc(kube, helm, namespace, release, options, on_event=EventPrinter(), cancel=_cancel_on_signals())
    if result.dry_run:
        print(
            f"dry run: {result.blobs_deleted if result.blobs_deleted is not None else '?'} blobs and "
            f"{result.manifests_deleted if result.manifests_deleted is not None else '?'} manifests would be deleted; "
            "nothing changed"
        )
        return 0
    before, after, freed_bytes = result.used_before, result.used_after, result.freed_bytes
    if freed_bytes is not None and before is not None and after is not None:
        freed = f"freed {format_size(freed_bytes)} ({format_size(before)} -> {format_size(after)} used)"
    elif result.used_before is None:
        freed = (
            "bytes freed not measured (the kubelet gives no usage for this volume: `registry-installer status` says "
            "why)"
        )
    else:
        freed = (
            "bytes freed not measured yet (the kubelet measures about once a minute: `registry-installer status` shows "
            "it later)"
        )
    print(
        f"garbage collected: {result.blobs_deleted} blobs and {result.manifests_deleted} manifests deleted; {freed}; "
        f"the registry was read-only for {result.readonly_seconds:.0f} s and is writable again (revision "
        f"{result.revision_after})"
    )
    return 0


def cmd_grow(args) -> int:
    from installer.console import EventPrinter
    from installer.helm import HelmRunner
    from installer.maintenance import run_grow
    from installer.sizes import parse_size

    _check_duration("--timeout", args.timeout)
    try:
        parse_size(args.size, example="200Gi")
    except ValueError as exc:
        raise UsageError(f"--size {args.size!r}: {exc}", "e.g. --size 200Gi") from None
    kube, namespace, release = _connect_target(args)
    if not _confirm(
        args,
        f"Grow the data volume of {release} in {namespace} to {args.size} (volumes cannot shrink back)?",
        "pass --yes to grow without asking",
    ):
        return 1
    from installer.maintenance import duration_seconds

    helm = HelmRunner(args.helm, kubeconfig=args.kubeconfig, context=args.context)
    result = run_grow(
        kube,
        helm,
        namespace,
        release,
        args.size,
        on_event=EventPrinter(),
        wait_seconds=duration_seconds(args.timeout),
        cancel=_cancel_on_signals(),  # a signal stops helm; the record is rolled back like apply's
    )
    print(result.message)
    return 0


def cmd_smoke(args) -> int:
    """Push a test image through --registry and read it back: 0 passed, 1 failed (the diagnosis printed)."""
    from installer.console import EventPrinter, format_size
    from installer.registry_flags import target_from_args
    from installer.smoke import run_smoke

    target = target_from_args(args)
    print(
        f"smoke test: pushing a {format_size(target.blob_size)} layer to {target.registry}/"
        f"{target.repository}:{target.tag}"
    )
    result = run_smoke(target, on_event=EventPrinter(sys.stdout, show_started=False))
    print_smoke_result(result, sys.stdout)
    return 0 if result.ok else 1


def print_smoke_result(result: "SmokeResult", out: TextIO) -> None:
    """The smoke test's verdict: what passed, or the cause, the fix and the detail of the failure."""
    from installer.console import format_size

    if result.ok:
        out.write(
            f"smoke test passed: {format_size(result.bytes)} layer pushed at {result.throughput_mib_s:.1f} MiB/s, "
            f"image {result.digest} read back and verified, {result.seconds:.2f}s in all\n"
        )
        return
    diagnosis = result.diagnosis
    out.write("smoke test FAILED\n")
    if diagnosis is not None:
        out.write(diagnosis.lines())


def cmd_push_disk(args) -> int:
    from installer.disk_cli import push_disk_command

    return push_disk_command(args)


def cmd_ca(args) -> int:
    from installer.state import installed_ca

    pem, hosts, source = installed_ca(*_connect_target(args))
    hosts = hosts or ["REGISTRY_HOST"]
    if args.out:
        from installer.files import write_file

        write_file(args.out, pem, 0o644, "--out")
        print(f"wrote the CA certificate to {args.out}")
    else:
        print(pem, end="")  # stdout holds the PEM alone: `registry-installer ca > ca.crt`
    from installer.diagnose import ca_placement

    notes = sys.stderr if not args.out else sys.stdout
    print(f"# CA: {source}", file=notes)
    for host in hosts:
        print(f"# {host}: {ca_placement(host, for_check=False)}", file=notes)
    return 0


@short_command
def cmd_clients(args) -> int:
    from installer.checks import IMAGE_TAG, REPOSITORY_PATH
    from installer.clients import client_snippets
    from installer.plan import build_plan

    repository, _, tag = args.image.rpartition(":")
    if not repository or not REPOSITORY_PATH.fullmatch(repository) or not IMAGE_TAG.fullmatch(tag):
        raise UsageError(f"--image {args.image!r} is not REPOSITORY:TAG, e.g. vms/fedora:40")
    plan = build_plan(_load_choices(args))
    for title, text in client_snippets(plan, args.image):
        print(f"# --- {title}")
        print(text.rstrip("\n"))
        print()
    return 0


@short_command
def cmd_schema(args) -> int:
    from installer.preset import schema_text

    if args.out:
        from installer.files import write_file

        write_file(args.out, schema_text(), 0o644, "--out")
    else:
        print(schema_text(), end="")
    return 0


def cmd_wizard(args) -> int:
    from installer.chart import chart_option
    from installer.session import WizardSession
    from screens.app import make_app

    chart = chart_option(args.chart)
    if chart:  # msgspec and the model load after the first frame otherwise (bench/startup.py)
        from installer.model import Chart

        session = WizardSession(args.context, args.kubeconfig, args.helm, chart=Chart(path=chart))
    else:
        session = WizardSession(args.context, args.kubeconfig, args.helm)
    app = make_app(session=session)
    try:
        app.run()
    finally:
        _finish_wizard_install(session)
    summary = getattr(app, "summary", "")
    if summary:
        try:
            print(summary)
        except OSError:  # the terminal is gone (SIGHUP)
            pass
    return getattr(app, "exit_code", 0) or 0


def _finish_wizard_install(session) -> None:
    """Never leave helm running: if the wizard ended while an install ran (it should not), stop helm, wait for
    the rollback and the lock's release, whatever signals arrive meanwhile."""
    import signal

    if not session.installing:
        return
    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name)
        previous[number] = signal.signal(number, lambda *_: None)
    try:
        try:
            print("stopping helm and rolling back the release; please wait...", file=sys.stderr)
        except OSError:
            pass
        session.stop_install()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


# Commands whose logging is set up only when something logs (installer/logs.py): they end quickly, log nothing on
# their usual path, and their modules take their logger from logs.logger().
QUIET_START = {"render", "schema"}
COMMANDS = {
    "wizard": cmd_wizard,
    "apply": cmd_apply,
    "render": cmd_render,
    "probe": cmd_probe,
    "uninstall": cmd_uninstall,
    "smoke": cmd_smoke,
    "schema": cmd_schema,
    "ca": cmd_ca,
    "push-disk": cmd_push_disk,
    "status": cmd_status,
    "gc": cmd_gc,
    "grow": cmd_grow,
    "clients": cmd_clients,
}

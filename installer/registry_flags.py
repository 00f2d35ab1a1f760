"""The flags of the commands that talk to a registry (smoke, push-disk) and their validation into a SmokeTarget."""

from __future__ import annotations

import argparse
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from installer.errors import UsageError
from installer.probe import FAMILY_NAMES

if TYPE_CHECKING:  # requests and the registry client load only when the smoke test runs
    from installer.secretstr import SecretStr
    from installer.smoke import SmokeTarget

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_connection_arguments(
    parser: argparse.ArgumentParser, *, registry_required: bool = True, timeout: str = "30"
) -> None:
    """The flags every command that talks to the registry shares (smoke, push-disk)."""
    parser.add_argument(
        "--registry",
        required=registry_required,
        metavar="HOST[:PORT]",
        help="the registry's public address (HTTPS), e.g. registry.example.com",
    )
    parser.add_argument("--username", help="registry user (with --password-env)")
    parser.add_argument("--password-env", metavar="VAR", help="name of the environment variable holding the password")
    parser.add_argument("--ca-file", metavar="FILE", help="PEM CA to trust instead of the system store")
    parser.add_argument(
        "--timeout", default=timeout, metavar="S", help=f"seconds to wait for each answer (default {timeout})"
    )
    parser.add_argument(
        "--controller-family",
        choices=FAMILY_NAMES,
        help="ingress controller in front of the registry, to name its exact settings on failure",
    )


def add_smoke_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument(
        "--blob-size",
        default="1Mi",
        metavar="SIZE",
        help="layer size to push, a Kubernetes quantity, e.g. 8Mi, 1Gi, 512M (default 1Mi)",
    )
    parser.add_argument("--repository", default="registry-installer/smoke", metavar="NAME")
    parser.add_argument("--tag", default="smoke")
    parser.add_argument("--keep", action="store_true", help="keep the test image instead of deleting it")


def target_from_args(args: argparse.Namespace, environ: dict[str, str] | os._Environ = os.environ) -> "SmokeTarget":
    """Validate the arguments into a SmokeTarget; raises UsageError with what to fix."""
    from installer.registry_client import registry_base_url
    from installer.smoke import SmokeTarget

    if "@" in args.registry:
        # never echo the value: it may hold a password
        raise UsageError(
            "--registry holds credentials (user:password@host); give the user with --username and the password "
            "in an environment variable named by --password-env"
        )
    try:
        registry_base_url(args.registry)
    except ValueError as error:
        raise UsageError(f"--registry: {error}") from None
    _registry(args.registry)
    _repository(args.repository)
    _tag(args.tag)
    return SmokeTarget(
        registry=args.registry,
        username=args.username,
        password=_password(args, environ),
        ca_file=_ca_file(args.ca_file),
        controller_family=args.controller_family,
        repository=args.repository,
        tag=args.tag,
        blob_size=_blob_size(args.blob_size),
        keep=args.keep,
        timeout=_timeout(args.timeout),
    )


def _registry(value: str) -> None:
    """--registry is HOST[:PORT] (or an https:// URL): no credentials, a real port, a valid host."""
    import ipaddress
    from urllib.parse import urlsplit

    from installer.checks import CONTROL
    from installer.model import is_hostname

    if CONTROL.search(value) or any(c.isspace() for c in value):
        raise UsageError("--registry has spaces or line breaks; give HOST[:PORT], e.g. registry.example.com")
    parts = urlsplit(value if "://" in value else f"//{value}")
    if "@" in parts.netloc:
        # never echo the value: it holds a password
        raise UsageError(
            "--registry holds credentials (user:password@host); give the user with --username and the password "
            "in an environment variable named by --password-env"
        )
    if "://" in value and parts.scheme not in ("http", "https"):
        raise UsageError(f"--registry {value!r}: only https:// (or http://) addresses; e.g. registry.example.com")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(
            f"--registry {value!r}: the port must be a number from 1 to 65535, e.g. registry.example.com:8443"
        ) from None
    if port == 0:
        raise UsageError(
            f"--registry {value!r}: the port must be a number from 1 to 65535, e.g. registry.example.com:8443"
        )
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost" and not is_hostname(host.lower()):
            raise UsageError(
                f"--registry {value!r}: {host!r} is not a hostname or IP address; e.g. registry.example.com"
            ) from None
    if parts.path.strip("/") not in ("", "v2") or parts.query or parts.fragment:
        raise UsageError(
            f"--registry {value!r}: give the address without a path; the registry answers at /v2/ of the host"
        )


def _repository(value: str) -> None:
    from installer.checks import REPOSITORY_PATH

    if not value or len(value) > 255 or not REPOSITORY_PATH.fullmatch(value):
        raise UsageError(
            f"--repository {value!r} is not a repository name: lowercase letters, digits, '.', '_', '-' "
            "in parts separated by '/', e.g. registry-installer/smoke"
        )


def _tag(value: str) -> None:
    from installer.checks import IMAGE_TAG

    if not IMAGE_TAG.fullmatch(value):
        raise UsageError(
            f"--tag {value!r} is not a tag: letters, digits, '_', '.', '-', starting with a letter, digit or '_', "
            "at most 128 characters, e.g. smoke"
        )


def _password(args: argparse.Namespace, environ: dict[str, str] | os._Environ) -> "SecretStr | None":
    if args.password_env and not args.username:
        raise UsageError("--password-env needs --username too")
    if args.username and not args.password_env:
        raise UsageError("--username needs --password-env VAR, the environment variable holding the password")
    if not args.password_env:
        return None
    from installer.checks import user_name

    try:
        user_name(args.username)
    except ValueError as error:
        raise UsageError(f"--username: {error}") from None
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args.password_env):
        raise UsageError(
            f"--password-env {args.password_env!r} is not an environment variable name; e.g. --password-env "
            "REGISTRY_PASSWORD"
        )
    value = environ.get(args.password_env)
    if value is None:
        raise UsageError(
            f"environment variable {args.password_env} is not set; export it with the password, "
            f"or name another variable with --password-env"
        )
    from installer.secretstr import SecretStr

    return SecretStr(value)


def _ca_file(value: str | None) -> Path | None:
    if value is None:
        return None
    from cryptography import x509

    from installer.files import FileProblem, read_user_file

    path = Path(value)
    try:
        certificates = x509.load_pem_x509_certificates(read_user_file(path, "--ca-file", "PEM CA certificate"))
    except FileProblem as error:
        raise UsageError(f"--ca-file: cannot read the CA file {path}: {error.reason}", error.hint) from None
    except ValueError:
        raise UsageError(
            f"--ca-file: {path} holds no PEM certificate; give the CA certificate (-----BEGIN CERTIFICATE-----)"
        ) from None
    if not certificates:
        raise UsageError(f"--ca-file: {path} holds no certificate")
    return path


def _blob_size(value: str) -> int:
    from installer.sizes import parse_size

    try:
        size = parse_size(value)
    except ValueError as error:
        raise UsageError(f"--blob-size: {error}") from None
    if size <= 0:
        raise UsageError("--blob-size must be more than 0 bytes")
    return size


def _timeout(value: str) -> float:
    import math

    try:
        seconds = float(value)
    except ValueError:
        raise UsageError(f"--timeout {value!r} is not a number of seconds; e.g. --timeout 30") from None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 86400:
        raise UsageError(
            f"--timeout {value!r} must be a number of seconds from more than 0 to 86400; e.g. --timeout 30"
        )
    return seconds

"""Why a push through the registry's address failed, in the user's terms, and the exact setting to change."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import requests

from installer.console import format_size
from installer.registry_client import RegistryError, classify_transport_error, registry_base_url

if TYPE_CHECKING:
    from installer.smoke import SmokeTarget

log = logging.getLogger(__name__)

STEP_CONNECT = "smoke: connect"
STEP_LAYER = "smoke: push layer"
# steps of other pushes (push-disk) that diagnose() explains like the smoke test's own
UPLOAD_STEPS = frozenset({STEP_LAYER, "push-disk: upload layer"})
CONNECT_STEPS = frozenset({STEP_CONNECT, "push-disk: connect"})
STEP_MANIFEST = "smoke: push manifest"
STEP_VERIFY = "smoke: read back"
STEP_DELETE = "smoke: delete tag"


@dataclass(frozen=True)
class Diagnosis:
    """Why the smoke test failed and what to change; `fix_screen` names the wizard screen to revisit."""

    cause: str
    fix: str
    fix_screen: Literal["uploads", "access", "address", "tls"] | None
    detail: str = ""  # the error's own words; diagnose() adds them to what its matchers find

    def lines(self) -> str:
        return failure_lines(self.cause, self.fix, self.detail)


def failure_lines(cause: str, fix: str, detail: str) -> str:
    """The cause, the fix and the detail, one indented line each: how the headless commands print a failure."""
    return f"  cause:  {cause}\n  fix:    {fix}\n  detail: {detail}\n"


BODY_LIMIT_FIXES = {
    "ingress-nginx": 'Set the Ingress annotation nginx.ingress.kubernetes.io/proxy-body-size: "0" (no limit; '
    "ingress-nginx allows 1m by default). For multi-GB layers also set "
    'nginx.ingress.kubernetes.io/proxy-request-buffering: "off".',
    "nginx-inc": 'Set the Ingress annotation nginx.org/client-max-body-size: "0" (no limit; NGINX Inc\'s '
    "controller allows 1m by default).",
    "traefik": "Traefik sets no body limit by default: look for a Buffering middleware with maxRequestBodyBytes "
    "on this router, or for a proxy or load balancer in front of Traefik that limits bodies.",
    "haproxy": "HAProxy controllers set no body limit by default: remove haproxy.org/client-max-body-size "
    "(HAProxy Technologies) or haproxy-ingress.github.io/proxy-body-size (haproxy-ingress), or set "
    "it above your largest layer.",
}

TIMEOUT_FIXES = {
    "ingress-nginx": 'nginx.ingress.kubernetes.io/proxy-read-timeout: "3600" and '
    'nginx.ingress.kubernetes.io/proxy-send-timeout: "3600"',
    "nginx-inc": 'nginx.org/proxy-read-timeout: "3600s" and nginx.org/proxy-send-timeout: "3600s"',
    "traefik": "the entry point's transport.respondingTimeouts.readTimeout (60s by default since Traefik v3; "
    "0 disables it)",
    "haproxy": "timeout-server and timeout-client (haproxy.org/timeout-server, or the haproxy-ingress "
    "timeout-server/timeout-client keys)",
}


def _gateway_fixes() -> None:
    """Gateway API families: the 413 and timeout fixes come from the one table in installer/gateway.py."""
    from installer.gateway import GATEWAY_FAMILIES

    for (
        family
    ) in GATEWAY_FAMILIES:  # Traefik's row exists already: the same proxy whether it reads Ingresses or HTTPRoutes
        BODY_LIMIT_FIXES.setdefault(
            family.name,
            f"The Gateway is served by {family.name}; its body limit: {family.bodies}. Lift it with the {family.lift}.",
        )
        TIMEOUT_FIXES.setdefault(family.name, f"{family.timeouts} (on {family.name}: {family.lift})")


_gateway_fixes()


def _for_family(table: dict[str, str], family: str | None, joiner: str) -> str:
    if family in table:
        return table[family]
    return joiner.join(f"{name}: {text}" for name, text in table.items())


def body_limit_fix(family: str | None) -> str:
    if family in BODY_LIMIT_FIXES:
        return BODY_LIMIT_FIXES[family]
    return "The ingress controller was not identified; the setting per controller is -- " + _for_family(
        BODY_LIMIT_FIXES, None, " | "
    )


def timeout_fix(family: str | None) -> str:
    if family in TIMEOUT_FIXES:
        return f"Raise the proxy timeouts for large layers: {TIMEOUT_FIXES[family]}."
    return (
        "Raise the proxy timeouts for large layers (proxy-read-timeout / proxy-send-timeout); per controller -- "
        + _for_family(TIMEOUT_FIXES, None, " | ")
        + "."
    )


def ca_placement(host: str, for_check: bool = True) -> str:
    """Where each container runtime and the OS look for a registry CA, for `host` (host[:port]); `for_check`
    adds how to pass the CA to the smoke check itself."""
    return (
        f"Trust the CA that signed the registry's certificate on every machine that pushes or pulls, "
        f"including every cluster node: "
        f"docker: /etc/docker/certs.d/{host}/ca.crt | "
        f"containerd: /etc/containerd/certs.d/{host}/hosts.toml with "
        f'server = "https://{host}" and [host."https://{host}"] ca = "/etc/containerd/certs.d/{host}/ca.crt", '
        f'the CA beside it, and config_path = "/etc/containerd/certs.d" in containerd\'s registry config | '
        f"podman/CRI-O: /etc/containers/certs.d/{host}/ca.crt | "
        f"system store: Debian/Ubuntu /usr/local/share/ca-certificates/registry-ca.crt then update-ca-certificates; "
        f"RHEL/Fedora /etc/pki/ca-trust/source/anchors/registry-ca.crt then update-ca-trust."
        + (" For this check, pass the CA with --ca-file." if for_check else "")
    )


def _host_port(registry: str) -> tuple[str, str]:
    url = urlsplit(registry_base_url(registry))
    host = url.hostname or registry
    return host, url.netloc


def _detail(error: RegistryError) -> str:
    parts = [str(error)]
    if error.server:
        parts.append(f"server: {error.server}")
    if error.challenge:
        parts.append(f"WWW-Authenticate: {error.challenge}")
    return "; ".join(parts)


def diagnose(error: RegistryError, step: str, target: SmokeTarget) -> Diagnosis:
    """Explain a failed smoke step: the cause in the user's terms and the exact setting to change."""
    for matcher in (_diagnose_transport, _diagnose_tls, _diagnose_auth, _diagnose_status, _diagnose_digest):
        found = matcher(error, step, target)
        if found is not None:
            return replace(found, detail=_detail(error))
    return Diagnosis(
        cause=f"The registry gave an unexpected answer during '{step}'.",
        fix="Read the detail below and the registry's log (kubectl logs) for the same time.",
        fix_screen=None,
        detail=_detail(error),
    )


def _diagnose_transport(error: RegistryError, step: str, target: SmokeTarget) -> Diagnosis | None:
    host, netloc = _host_port(target.registry)
    if error.kind == "dns":
        return Diagnosis(
            cause=f"The name {host} does not resolve (DNS lookup failed).",
            fix=f"Create a DNS record for {host} pointing at the ingress controller's external address "
            f"(or an /etc/hosts entry for a test), or correct the registry host name.",
            fix_screen="address",
        )
    if error.kind == "refused":
        return Diagnosis(
            cause=f"Nothing accepts connections on {netloc} (connection refused).",
            fix="Check the port (443 for an Ingress with TLS) and that the ingress controller's Service is "
            "exposed there (LoadBalancer or NodePort), and that the address points at it.",
            fix_screen="address",
        )
    if error.kind == "timeout":
        if error.reason == "connect":
            return Diagnosis(
                cause=f"No connection to {netloc} within {target.timeout:g}s (timed out).",
                fix="A firewall drops the traffic or the address points at nothing: check the DNS record, the "
                "load balancer and security groups for port 443.",
                fix_screen="address",
            )
        return Diagnosis(
            cause=f"The registry stopped answering for {target.timeout:g}s during '{step}' (timed out).",
            fix="Check the registry pod and its storage; for big layers raise --timeout. "
            + timeout_fix(target.controller_family),
            fix_screen="uploads" if step in UPLOAD_STEPS else "address",
        )
    if error.kind == "connection":
        during_upload = step in UPLOAD_STEPS
        return Diagnosis(
            cause=f"The connection to {netloc} was closed during '{step}'."
            + (" A proxy cut the upload short: a body-size limit or a proxy timeout." if during_upload else ""),
            fix=(
                f"{body_limit_fix(target.controller_family)} {timeout_fix(target.controller_family)}"
                if during_upload
                else "Check that the address reaches the ingress controller and the registry."
            ),
            fix_screen="uploads" if during_upload else "address",
        )
    return None


def _diagnose_tls(error: RegistryError, step: str, target: SmokeTarget) -> Diagnosis | None:
    if error.kind != "tls":
        return None
    host, netloc = _host_port(target.registry)
    if error.reason == "hostname":
        cause, fix = (
            f"The registry's certificate is not valid for the name {host}.",
            f"Issue the certificate (the Ingress TLS secret) with {host} in its subjectAltName, "
            f"or use the name the certificate was issued for.",
        )
    elif error.reason == "expired":
        cause, fix = (
            "The registry's certificate has expired (or is not valid yet: check the clock).",
            "Renew the certificate in the Ingress TLS secret.",
        )
    elif error.reason == "ca_file":
        cause, fix = (
            f"{error.message}.",
            "Give the PEM file of the CA that signed the registry's certificate "
            "(the installer's ca.crt in self-signed mode).",
        )
    elif error.reason == "not_tls":
        cause, fix = (
            f"{netloc} does not speak HTTPS (the TLS handshake got a plain HTTP answer).",
            "Enable TLS on the Ingress (ingress.tls with a secret), or use the HTTPS port.",
        )
    elif target.ca_file is not None:
        cause, fix = (
            f"x509: certificate signed by unknown authority: the CA in {target.ca_file} did not sign "
            f"the certificate {netloc} presents.",
            "Pass the CA that signed the Ingress TLS certificate (the installer's ca.crt in self-signed "
            "mode). " + ca_placement(netloc),
        )
    else:
        cause, fix = (
            f"x509: certificate signed by unknown authority: {netloc} presents a certificate this "
            f"machine does not trust (self-signed or a private CA).",
            ca_placement(netloc),
        )
    return Diagnosis(cause=cause, fix=fix, fix_screen="tls")


def _diagnose_auth(error: RegistryError, step: str, target: SmokeTarget) -> Diagnosis | None:
    if error.kind == "auth":
        return Diagnosis(
            cause="The registry requires a user name and password, and none were given.",
            fix="Pass --username and --password-env VAR (the variable holding the password), or set the user "
            "on the access screen.",
            fix_screen="access",
        )
    if error.status == 401:
        realm = re.search(r'realm="([^"]*)"', error.challenge or "")
        where = f' (the challenge came from realm "{realm.group(1)}")' if realm else ""
        token = "token server" in error.message
        return Diagnosis(
            cause=(
                "The token server rejected the user name and password (401)."
                if token
                else f"The registry or the ingress in front of it rejected the user name and password (401){where}."
            ),
            fix="Check the user and password. If both ingress basic auth (nginx.ingress.kubernetes.io/auth-type, "
            "auth-secret) and the registry's own htpasswd are on, the same user and password must be in both "
            "Secrets (they disagree now); better keep only one of them. The registry accepts bcrypt "
            "htpasswd entries only.",
            fix_screen="access",
        )
    if error.status == 403:
        return Diagnosis(
            cause="The credentials were accepted but the user may not push to this repository (403 Forbidden).",
            fix=f"Grant push (and delete) on {target.repository} to the user, or use another --repository.",
            fix_screen="access",
        )
    return None


def _diagnose_status(error: RegistryError, step: str, target: SmokeTarget) -> Diagnosis | None:
    status = error.status
    family = target.controller_family
    if status == 413:
        return Diagnosis(
            cause=f"The proxy in front of the registry refused the layer upload as too large (413 Request Entity "
            f"Too Large): its body-size limit is below the {format_size(target.blob_size)} layer. A docker "
            f"push of any bigger layer fails the same way.",
            fix=body_limit_fix(family),
            fix_screen="uploads",
        )
    if status == 404 and step in CONNECT_STEPS:
        return Diagnosis(
            cause=f"{error.url} answered 404: the address reaches a web server, but not the registry's API.",
            fix="Route the path / (pathType Prefix), or at least /v2/, of this host to the registry Service on port "
            "5000: check the Ingress host name, ingress.path and the IngressClass, and that no other Ingress "
            "claims this host.",
            fix_screen="address",
        )
    if status in (502, 503):
        return Diagnosis(
            cause=f"The proxy could not get an answer from the registry ({status}): the registry pod is not ready, "
            f"or the Ingress points at a wrong Service or port"
            + (", or the registry dropped the upload." if step in UPLOAD_STEPS else "."),
            fix="Check the registry pod and its endpoints (kubectl get pods,endpoints in the release namespace) "
            "and wait for it to be Ready; the Ingress backend must be the registry Service, port 5000. "
            + (timeout_fix(family) if step in UPLOAD_STEPS else ""),
            fix_screen="address",
        )
    if status == 504:
        return Diagnosis(
            cause=f"The proxy timed out waiting for the registry during '{step}' (504 Gateway Timeout): the "
            f"registry is hung or slow, or the proxy timeouts are too short for large layers.",
            fix=f"{timeout_fix(family)} Also check the registry pod and its storage.",
            fix_screen="uploads",
        )
    return None


def _diagnose_digest(error: RegistryError, step: str, target: SmokeTarget) -> Diagnosis | None:
    if error.kind != "digest":
        return None
    return Diagnosis(
        cause="The image read back does not match what was pushed (digest mismatch): something between this "
        "machine and the registry's storage alters or truncates data.",
        fix="Check the registry's storage (a full or failing volume, an S3-compatible store that changes objects) "
        "and any proxy that rewrites bodies; run again with --keep and inspect the blob.",
        fix_screen=None,
    )


# anything a step can raise that diagnose() explains (a malformed answer too)
STEP_ERRORS = (
    RegistryError,
    requests.exceptions.RequestException,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
)


def as_registry_error(error: Exception) -> RegistryError:
    """Anything a step can raise, as a RegistryError that diagnose() understands."""
    if isinstance(error, RegistryError):
        return error
    if isinstance(error, (requests.exceptions.RequestException, OSError)):  # a body read cut short
        return classify_transport_error(error, "", "")
    log.debug("unexpected answer", exc_info=True)  # a malformed answer: bad JSON, missing keys
    return RegistryError("protocol", f"unexpected answer from the registry: {type(error).__name__}: {error}")

"""The smoke test: push a real image through the registry's public address, read it back, explain failures."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import random
import re
import tarfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr

from installer.console import format_size  # noqa: F401  (re-exported: smoke callers format sizes)
from installer.events import EventSink, Note, Progress, StepFinished, StepStarted, discard
from installer.probe import FAMILY_NAMES
from installer.registry_client import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Descriptor,
    RegistryClient,
    RegistryError,
    classify_transport_error,
    manifest_json,
    registry_base_url,
)

log = logging.getLogger(__name__)

MiB = 1024 * 1024
CONTROLLER_FAMILIES = FAMILY_NAMES
STEP_CONNECT = "smoke: connect"
STEP_LAYER = "smoke: push layer"
# steps of other pushes (push-disk) that diagnose() explains like the smoke test's own
UPLOAD_STEPS = frozenset({STEP_LAYER, "push-disk: upload layer"})
CONNECT_STEPS = frozenset({STEP_CONNECT, "push-disk: connect"})
STEP_MANIFEST = "smoke: push manifest"
STEP_VERIFY = "smoke: read back"
STEP_DELETE = "smoke: delete tag"
LAYER_FILE = "registry-installer-smoke.bin"
PROGRESS_INTERVAL = 0.25  # seconds between Progress events


@dataclass(frozen=True)
class SmokeTarget:
    """Where and how to push the smoke image."""

    registry: str  # host[:port]
    username: str | None
    password: SecretStr | None
    ca_file: Path | None
    controller_family: str | None  # one of CONTROLLER_FAMILIES, or None when unknown
    repository: str = "registry-installer/smoke"
    tag: str = "smoke"
    blob_size: int = MiB
    keep: bool = False
    timeout: float = 30.0


@dataclass(frozen=True)
class Diagnosis:
    """Why the smoke test failed and what to change; `fix_screen` names the wizard screen to revisit."""

    cause: str
    fix: str
    fix_screen: str | None  # "uploads" | "access" | "address" | "tls" | None
    detail: str


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    digest: str | None  # the manifest digest
    bytes: int  # compressed layer bytes pushed
    seconds: float
    throughput_mib_s: float  # layer upload
    diagnosis: Diagnosis | None
    deleted: bool | None = None  # None when kept or never pushed


# -- sizes -------------------------------------------------------------------------------------

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "ki": 2**10,
    "kib": 2**10,
    "m": 10**6,
    "mb": 10**6,
    "mi": 2**20,
    "mib": 2**20,
    "g": 10**9,
    "gb": 10**9,
    "gi": 2**30,
    "gib": 2**30,
    "t": 10**12,
    "tb": 10**12,
    "ti": 2**40,
    "tib": 2**40,
}


def parse_size(text: str | int) -> int:
    """Parse "8Mi", "1GiB", "512MB", "1.5G" or plain bytes into bytes (Ki/KiB are 1024, K/KB are 1000)."""
    if isinstance(text, int):
        value = text
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(f"{text!r} is not a size; write bytes or a number with a unit, e.g. 8Mi, 1GiB, 512MB")
        value = int(float(match.group(1)) * _UNITS[unit])
    if value < 0:
        raise ValueError(f"size {text!r} is negative")
    return value


# -- the image ---------------------------------------------------------------------------------


class SmokeLayer:
    """A gzip'd tar with one file of `size` random-ish bytes, generated while it is streamed.

    Reading `chunks()` once yields the compressed layer and computes the diff_id (sha256 of the
    tar) on the way; memory stays at a few MiB whatever the size. The content comes from a
    fresh random block per run, rotated per MiB, so every run pushes a new blob (the upload is
    never skipped) without paying for 1 GiB of random numbers. gzip level 0 (stored blocks) is a
    valid layer every runtime accepts, and random bytes would not compress anyway.
    """

    def __init__(self, size: int, seed: bytes | None = None) -> None:
        self.size = size
        self._block = random.Random(seed or os.urandom(16)).randbytes(MiB)
        self.diff_id: str | None = None

    def tar_header(self) -> bytes:
        info = tarfile.TarInfo(LAYER_FILE)
        info.size = self.size
        info.mode = 0o644
        info.mtime = int(time.time())
        return info.tobuf(format=tarfile.USTAR_FORMAT)

    def _content(self) -> Iterator[bytes]:
        left, index = self.size, 0
        while left > 0:
            shift = (index * 4099) % MiB
            chunk = self._block[shift:] + self._block[:shift]
            yield chunk[:left] if left < MiB else chunk
            left -= MiB
            index += 1

    def _tar(self) -> Iterator[bytes]:
        yield self.tar_header()
        yield from self._content()
        padding = -self.size % tarfile.BLOCKSIZE
        yield b"\0" * (padding + 2 * tarfile.BLOCKSIZE)  # end-of-archive marker

    def chunks(self) -> Iterator[bytes]:
        tar_hash = hashlib.sha256()
        gzip = zlib.compressobj(0, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        for piece in self._tar():
            tar_hash.update(piece)
            out = gzip.compress(piece)
            if out:
                yield out
        yield gzip.flush()
        self.diff_id = "sha256:" + tar_hash.hexdigest()


def go_architecture() -> str:
    machine = platform.machine().lower()
    return {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "armv7l": "arm",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(machine, "amd64")


def image_config(diff_id: str) -> bytes:
    config = {
        "architecture": go_architecture(),
        "os": "linux",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {"Labels": {"org.opencontainers.image.title": "registry-installer smoke test"}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "registry-installer smoke", "comment": "one file of random bytes"}],
    }
    return json.dumps(config, separators=(",", ":"), sort_keys=True).encode()


# -- diagnoses -----------------------------------------------------------------------------------

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
            return found
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
            detail=_detail(error),
        )
    if error.kind == "refused":
        return Diagnosis(
            cause=f"Nothing accepts connections on {netloc} (connection refused).",
            fix="Check the port (443 for an Ingress with TLS) and that the ingress controller's Service is "
            "exposed there (LoadBalancer or NodePort), and that the address points at it.",
            fix_screen="address",
            detail=_detail(error),
        )
    if error.kind == "timeout":
        if error.reason == "connect":
            return Diagnosis(
                cause=f"No connection to {netloc} within {target.timeout:g}s (timed out).",
                fix="A firewall drops the traffic or the address points at nothing: check the DNS record, the "
                "load balancer and security groups for port 443.",
                fix_screen="address",
                detail=_detail(error),
            )
        return Diagnosis(
            cause=f"The registry stopped answering for {target.timeout:g}s during '{step}' (timed out).",
            fix=(
                "Check the registry pod and its storage; for big layers raise --timeout. "
                f"{timeout_fix(target.controller_family)}"
            ),
            fix_screen="uploads" if step in UPLOAD_STEPS else "address",
            detail=_detail(error),
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
            detail=_detail(error),
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
    return Diagnosis(cause=cause, fix=fix, fix_screen="tls", detail=_detail(error))


def _diagnose_auth(error: RegistryError, step: str, target: SmokeTarget) -> Diagnosis | None:
    if error.kind == "auth":
        return Diagnosis(
            cause="The registry requires a user name and password, and none were given.",
            fix="Pass --username and --password-env VAR (the variable holding the password), or set the user "
            "on the access screen.",
            fix_screen="access",
            detail=_detail(error),
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
            detail=_detail(error),
        )
    if error.status == 403:
        return Diagnosis(
            cause="The credentials were accepted but the user may not push to this repository (403 Forbidden).",
            fix=f"Grant push (and delete) on {target.repository} to the user, or use another --repository.",
            fix_screen="access",
            detail=_detail(error),
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
            detail=_detail(error),
        )
    if status == 404 and step in CONNECT_STEPS:
        return Diagnosis(
            cause=f"{error.url} answered 404: the address reaches a web server, but not the registry's API.",
            fix="Route the path / (pathType Prefix), or at least /v2/, of this host to the registry Service on port "
            "5000: check the Ingress host name, ingress.path and the IngressClass, and that no other Ingress "
            "claims this host.",
            fix_screen="address",
            detail=_detail(error),
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
            detail=_detail(error),
        )
    if status == 504:
        return Diagnosis(
            cause=f"The proxy timed out waiting for the registry during '{step}' (504 Gateway Timeout): the "
            f"registry is hung or slow, or the proxy timeouts are too short for large layers.",
            fix=f"{timeout_fix(family)} Also check the registry pod and its storage.",
            fix_screen="uploads",
            detail=_detail(error),
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
        detail=_detail(error),
    )


# -- running it ----------------------------------------------------------------------------------


class _Steps:
    """Emits StepStarted/StepFinished around each step and remembers which one is running."""

    def __init__(self, on_event: EventSink) -> None:
        self.on_event = on_event
        self.current = STEP_CONNECT
        self._started = 0.0

    def start(self, step: str, detail: str = "") -> None:
        self.current = step
        self._started = time.monotonic()
        self.on_event(StepStarted(step, detail))

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def finish(self, ok: bool = True, detail: str = "") -> float:
        seconds = self.elapsed()
        self.on_event(StepFinished(self.current, ok, seconds, detail))
        return seconds


def _progress(on_event: EventSink, step: str, total: int) -> Callable[[int], None]:
    last = 0.0

    def report(done: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL or done >= total:
            last = now
            on_event(Progress(step, done, total))

    return report


def _mib_s(size: int, seconds: float) -> float:
    return size / MiB / seconds if seconds > 0 else 0.0


@dataclass
class _Pushed:
    """What got pushed so far, for the result of a run that stops halfway."""

    bytes: int = 0
    digest: str | None = None
    throughput: float = 0.0


def run_smoke(target: SmokeTarget, on_event: EventSink = discard) -> SmokeResult:
    """Push a one-layer image to `target`, read it back and verify it, delete the tag unless `keep`."""
    started = time.monotonic()
    steps = _Steps(on_event)
    pushed = _Pushed()
    try:
        client = RegistryClient(
            target.registry,
            username=target.username,
            password=target.password,
            ca_file=target.ca_file,
            timeout=target.timeout,
        )
    except ValueError as error:
        diagnosis = Diagnosis(
            cause=str(error), fix="Give the registry as HOST[:PORT].", fix_screen="address", detail=str(error)
        )
        return SmokeResult(False, None, 0, 0.0, 0.0, diagnosis)
    except RegistryError as error:  # an unusable CA file
        return SmokeResult(False, None, 0, 0.0, 0.0, diagnose(error, STEP_CONNECT, target))
    with client:
        try:
            deleted = _run_steps(client, target, steps, pushed)
        except (
            RegistryError,
            requests.exceptions.RequestException,
            OSError,
            ValueError,
            KeyError,
            TypeError,
            IndexError,
        ) as error:
            error = _as_registry_error(error)
            steps.finish(False, str(error))
            diagnosis = diagnose(error, steps.current, target)
            log.info("smoke test failed in %s: %s", steps.current, error)
            return SmokeResult(
                False, pushed.digest, pushed.bytes, time.monotonic() - started, pushed.throughput, diagnosis
            )
    return SmokeResult(True, pushed.digest, pushed.bytes, time.monotonic() - started, pushed.throughput, None, deleted)


def _as_registry_error(error: Exception) -> RegistryError:
    """Anything a step can raise, as a RegistryError that diagnose() understands."""
    if isinstance(error, RegistryError):
        return error
    if isinstance(error, (requests.exceptions.RequestException, OSError)):  # a body read cut short
        return classify_transport_error(error, "", "")
    log.debug("unexpected answer", exc_info=True)  # a malformed answer: bad JSON, missing keys
    return RegistryError("protocol", f"unexpected answer from the registry: {type(error).__name__}: {error}")


def _run_steps(client: RegistryClient, target: SmokeTarget, steps: _Steps, pushed: _Pushed) -> bool | None:
    repo = target.repository
    steps.start(STEP_CONNECT, client.base_url)
    scheme = client.ping(scope=f"repository:{repo}:pull,push")
    steps.finish(detail=f"{client.base_url}/v2/ answered; auth: {scheme}")

    layer = SmokeLayer(target.blob_size)
    steps.start(STEP_LAYER, f"{format_size(target.blob_size)} to {repo}")
    digest, size = client.upload_blob(
        repo, layer.chunks(), on_progress=_progress(steps.on_event, STEP_LAYER, target.blob_size)
    )
    seconds = steps.elapsed()
    pushed.bytes, pushed.throughput = size, _mib_s(size, seconds)
    steps.finish(detail=f"{format_size(size)} in {seconds:.2f}s, {pushed.throughput:.1f} MiB/s")

    steps.start(STEP_MANIFEST, f"{repo}:{target.tag}")
    diff_id = layer.diff_id or ""  # set once the layer was streamed
    config = client.push_blob(repo, image_config(diff_id), OCI_CONFIG)
    manifest = manifest_json(config, [Descriptor(OCI_LAYER_GZIP, digest, size)])
    pushed.digest = client.put_manifest(repo, target.tag, manifest, OCI_MANIFEST)
    steps.finish(detail=pushed.digest)

    steps.start(STEP_VERIFY, f"{repo}:{target.tag}")
    read_seconds = _verify(client, target, pushed.digest, diff_id)
    steps.finish(detail=f"digests match; layer read at {_mib_s(size, read_seconds):.1f} MiB/s")

    if target.keep:
        steps.on_event(Note(STEP_VERIFY, f"kept {client.base_url.split('://')[1]}/{repo}:{target.tag}"))
        return None
    steps.start(STEP_DELETE, pushed.digest)
    deleted = _delete(client, target, steps, pushed.digest)
    steps.finish(detail="deleted" if deleted else "kept (see the note)")
    return deleted


def _verify(client: RegistryClient, target: SmokeTarget, manifest_digest: str, diff_id: str) -> float:
    """Read the image back by tag and check every digest, the layer's diff_id included; returns layer seconds."""
    repo = target.repository
    got = client.get_manifest(repo, target.tag)
    if got.digest != manifest_digest:
        raise RegistryError(
            "digest", f"manifest {repo}:{target.tag} read back as {got.digest}, pushed {manifest_digest}", method="GET"
        )
    manifest = json.loads(got.body)
    config_digest = manifest["config"]["digest"]
    config = bytearray()
    client.read_blob(repo, config_digest, on_chunk=config.extend)
    if json.loads(config)["rootfs"]["diff_ids"] != [diff_id]:
        raise RegistryError("digest", f"config {config_digest} names other layers than {diff_id}", method="GET")
    layer = manifest["layers"][0]
    unpacked = _DiffIdHasher()
    started = time.monotonic()
    # read_blob raises on a compressed-digest mismatch first; the diff_id check catches the rest.
    size = client.read_blob(repo, layer["digest"], on_chunk=unpacked.feed)
    seconds = time.monotonic() - started
    if size != layer["size"] or unpacked.diff_id() != diff_id:
        raise RegistryError(
            "digest",
            f"layer {layer['digest']} read back as {size} bytes with diff_id "
            f"{unpacked.diff_id()}, pushed {layer['size']} bytes with {diff_id}",
            method="GET",
        )
    return seconds


class _DiffIdHasher:
    """Gunzips a layer as it streams by and hashes the tar; a corrupt stream just yields no diff_id."""

    def __init__(self) -> None:
        self._gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._hash = hashlib.sha256()
        self.error: str | None = None

    def feed(self, chunk: bytes) -> None:
        if self.error is None:
            try:
                self._hash.update(self._gunzip.decompress(chunk))
            except zlib.error as error:
                self.error = str(error)

    def diff_id(self) -> str:
        if self.error is not None:
            return f"(not a valid gzip stream: {self.error})"
        return "sha256:" + self._hash.hexdigest()


def _delete(client: RegistryClient, target: SmokeTarget, steps: _Steps, digest: str) -> bool:
    try:
        deleted = client.delete_manifest(target.repository, digest)
    except RegistryError as error:
        steps.on_event(Note(STEP_DELETE, f"could not delete the test tag: {error}", "warning"))
        return False
    if not deleted:
        steps.on_event(
            Note(
                STEP_DELETE,
                "the registry has deletion disabled (persistence.deleteEnabled / "
                "REGISTRY_STORAGE_DELETE_ENABLED), so the test image stays; "
                "that is not an error.",
                "info",
            )
        )
    return deleted

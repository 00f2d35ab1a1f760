"""A small client for the OCI distribution API: auth challenges, streamed blob uploads, manifests, read-back."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import shutil
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from installer.secretstr import SecretStr

log = logging.getLogger(__name__)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, DOCKER_MANIFEST])
READ_CHUNK = 256 * 1024

ProgressCallback = Callable[[int], None]


class RegistryError(Exception):
    """A registry call that failed, classified so a caller can explain it.

    `kind` is one of: http (the server answered with an error status), tls, dns, refused,
    timeout, connection (reset or closed), digest (read-back mismatch), protocol (an answer
    that breaks the distribution API), auth (credentials needed but not given).
    `reason` refines tls errors: unknown_authority, hostname, expired, not_tls, other.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        method: str = "",
        url: str = "",
        status: int | None = None,
        codes: tuple[str, ...] = (),
        challenge: str = "",
        reason: str = "",
        server: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.method = method
        self.url = url
        self.status = status
        self.codes = codes
        self.challenge = challenge
        self.reason = reason
        self.server = server

    def __str__(self) -> str:
        where = f" ({self.method} {_without_query(self.url)})" if self.method else ""
        return f"{self.message}{where}"


def _without_query(url: str) -> str:
    """Upload URLs carry a long opaque _state query; it only clutters messages."""
    return url.split("?", 1)[0]


@dataclass(frozen=True)
class Descriptor:
    """What a manifest says about a blob."""

    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Challenge:
    """A parsed WWW-Authenticate header."""

    scheme: str  # "basic" | "bearer" | other, lower case
    params: dict[str, str]
    raw: str


@dataclass(frozen=True)
class ManifestResponse:
    body: bytes
    media_type: str
    digest: str


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_challenge(header: str) -> Challenge | None:
    """Parse `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`."""
    match = re.match(r"\s*([A-Za-z]+)\s*(.*)", header or "")
    if not match:
        return None
    params = {key.lower(): value for key, value in re.findall(r'([A-Za-z_]+)="([^"]*)"', match.group(2))}
    return Challenge(scheme=match.group(1).lower(), params=params, raw=header)


def registry_base_url(registry: str) -> str:
    """`host[:port]` (or a full URL) to the registry's base URL; HTTPS unless `http://` is explicit."""
    match = re.fullmatch(r"\s*(?:(https?)://)?([^/\s]*)(?:/v2)?/*\s*", registry)
    host = urlsplit(f"//{match.group(2)}").hostname if match else None
    if not match or not host:
        raise ValueError(
            f"registry address {registry!r} is not HOST[:PORT]; give e.g. registry.example.com "
            f"or registry.example.com:8443"
        )
    return f"{match.group(1) or 'https'}://{match.group(2)}"


def system_trust() -> str | bool:
    """The operating system's CA store (not certifi's copy), or True for requests' default."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.capath):
        if candidate and Path(candidate).exists():
            return candidate
    return True


def _readable_ca(ca_file: Path) -> str:
    """The CA file's path, or a tls RegistryError saying why it cannot be used."""
    from installer.files import FileProblem, read_user_file

    try:
        text = read_user_file(ca_file, "", "CA file").decode("utf-8", errors="replace")
    except FileProblem as error:
        raise RegistryError("tls", f"cannot read the CA file {ca_file}: {error.reason}", reason="ca_file") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise RegistryError("tls", f"the CA file {ca_file} holds no PEM certificate", reason="ca_file")
    return str(ca_file)


@contextlib.contextmanager
def ca_pem_file(pem: str | None) -> Iterator[Path | None]:
    """A CA held as PEM text (a Plan's) as the file the client trusts, removed afterwards; None without one."""
    if not pem:
        yield None
        return
    workdir = Path(tempfile.mkdtemp(prefix="registry-installer-ca-"))
    try:
        ca_file = workdir / "ca.crt"
        ca_file.write_text(pem, encoding="utf-8")
        yield ca_file
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _error_codes(response: requests.Response) -> tuple[str, ...]:
    try:
        errors = response.json().get("errors") or []
        return tuple(str(err.get("code", "")) for err in errors if isinstance(err, dict))
    except (ValueError, AttributeError):
        return ()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """Every exception wrapped inside `exc` (requests wraps urllib3 wraps socket errors)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        todo.extend(getattr(current, "args", ()))


def _tls_reason(text: str) -> str:
    lowered = text.lower()
    if "wrong version number" in lowered or "record layer failure" in lowered or "http request" in lowered:
        return "not_tls"
    if "hostname mismatch" in lowered or "doesn't match" in lowered or "not valid for" in lowered:
        return "hostname"
    if "expired" in lowered:
        return "expired"
    if (
        "certificate_verify_failed" in lowered
        or "unable to get local issuer" in lowered
        or "self-signed" in lowered
        or "self signed" in lowered
    ):
        return "unknown_authority"
    return "other"


_TLS_EOF = re.compile(r"eof occurred in violation of protocol|unexpected_eof|unexpected eof", re.IGNORECASE)

_KINDS: list[tuple[str, tuple[type, ...]]] = [
    ("tls", (ssl.SSLError, requests.exceptions.SSLError, urllib3.exceptions.SSLError)),
    ("dns", (socket.gaierror, urllib3.exceptions.NameResolutionError)),
    ("refused", (ConnectionRefusedError,)),
    ("timeout", (socket.timeout, TimeoutError, urllib3.exceptions.TimeoutError, requests.exceptions.Timeout)),
]


def classify_transport_error(exc: Exception, method: str, url: str) -> RegistryError:
    """Turn a requests/urllib3/socket exception into a RegistryError with a kind the user can act on."""
    parts = list(_chain(exc))
    for kind, types in _KINDS:
        matching = [part for part in parts if isinstance(part, types)]
        if matching:
            # The innermost match (socket/ssl level) has the plainest text.
            cause = matching[-1]
            break
    else:
        kind, cause = "connection", parts[-1]
    reason = ""
    if kind == "tls" and _TLS_EOF.search(" | ".join(str(part) for part in parts)):
        kind = "connection"  # the link dropped under TLS (a cut upload), not a certificate problem
    if kind == "tls":
        reason = _tls_reason(" | ".join(str(part) for part in parts))
    elif kind == "timeout":
        reason = "connect" if any(isinstance(p, requests.exceptions.ConnectTimeout) for p in parts) else "read"
    text = str(cause) or type(cause).__name__
    return RegistryError(kind, f"{kind} error: {text}", method=method, url=url, reason=reason)


class RegistryClient:
    """One registry, one set of credentials and trust; speaks the distribution API v2 over `requests`.

    Args:
        registry: HOST[:PORT] of the registry's public address (HTTPS), or an explicit URL.
        username: user for Basic auth or for the token server; None for anonymous.
        password: the password, kept as a SecretStr so it never shows in logs or reprs.
        ca_file: PEM file of the CA to trust; None trusts the operating system's store.
        timeout: seconds to wait for a connection, and between bytes of an answer.
    """

    def __init__(
        self,
        registry: str,
        *,
        username: str | None = None,
        password: SecretStr | None = None,
        ca_file: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = registry_base_url(registry)
        self.username = username
        self._password = password
        self.timeout = timeout
        self.verify: str | bool = _readable_ca(ca_file) if ca_file is not None else system_trust()
        # trust_env=False: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE would otherwise replace our `verify`
        # (and ~/.netrc would replace our credentials). Proxies are still taken from the environment.
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = self.verify
        self.session.headers["User-Agent"] = "registry-installer-smoke/1"
        self._challenge: Challenge | None = None
        self._bearer: dict[str, str] = {}  # scope -> token

    def __repr__(self) -> str:
        return f"RegistryClient({self.base_url!r}, username={self.username!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path.lstrip("/"))

    def _send(self, method: str, url: str, *, scope: str = "", **kwargs) -> requests.Response:
        """One HTTP exchange with the registry: our auth, no redirects followed (see `_exchange`)."""
        headers = dict(kwargs.pop("headers", {}) or {})
        headers.update(self._auth_headers(scope))
        return self._exchange(method, url, headers=headers, allow_redirects=False, **kwargs)

    def _exchange(self, method: str, url: str, **kwargs) -> requests.Response:
        """One HTTP exchange with our trust, proxies and timeout (no auth of ours); transport errors classified."""
        try:
            return self.session.request(
                method,
                url,
                proxies=requests.utils.get_environ_proxies(url),
                verify=self.verify,
                timeout=(self.timeout, self.timeout),
                **kwargs,
            )
        except requests.exceptions.RequestException as exc:
            raise classify_transport_error(exc, method, url) from None

    def _auth_headers(self, scope: str) -> dict[str, str]:
        if self._challenge is None:
            return {}
        if self._challenge.scheme == "bearer":
            token = self._bearer.get(scope) or self._bearer.get("")
            return {"Authorization": f"Bearer {token}"} if token else {}
        if self._challenge.scheme == "basic" and self.username is not None:
            pair = f"{self.username}:{self._secret()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    def _secret(self) -> str:
        return self._password.get_secret_value() if self._password is not None else ""

    def _request(
        self, method: str, url: str, *, scope: str = "", ok: tuple[int, ...] = (200,), retry_auth: bool = True, **kwargs
    ) -> requests.Response:
        """Send, answer one auth challenge (token scope upgrades) if allowed, check the status."""
        response = self._send(method, url, scope=scope, **kwargs)
        if response.status_code == 401 and retry_auth:
            challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if challenge is not None and self._answer(challenge, scope):
                response.close()
                response = self._send(method, url, scope=scope, **kwargs)
        if response.status_code not in ok:
            raise self._http_error(response)
        return response

    def _http_error(self, response: requests.Response) -> RegistryError:
        request = response.request
        codes = _error_codes(response)
        try:
            body = response.text[:300].strip()
        except requests.exceptions.RequestException:
            body = ""
        message = f"HTTP {response.status_code} {response.reason}"
        if codes:
            message += f" [{', '.join(codes)}]"
        elif body and "json" in response.headers.get("Content-Type", ""):
            message += f": {body}"
        response.close()
        return RegistryError(
            "http",
            message,
            method=request.method or "",
            url=request.url or "",
            status=response.status_code,
            codes=codes,
            challenge=response.headers.get("WWW-Authenticate", ""),
            server=response.headers.get("Server", ""),
        )

    # -- auth ------------------------------------------------------------------------------------

    def _answer(self, challenge: Challenge, scope: str) -> bool:
        """Prepare credentials for a challenge; False when there is nothing new to try."""
        previous = self._challenge
        self._challenge = challenge
        if challenge.scheme == "basic":
            if self.username is None:
                raise RegistryError(
                    "auth", "the registry asks for a user name and password; none were given", challenge=challenge.raw
                )
            return previous is None or previous.scheme != "basic"
        if challenge.scheme == "bearer":
            wanted = challenge.params.get("scope", "") or scope
            token = self._fetch_token(challenge, wanted)
            self._bearer[scope] = token
            return True
        raise RegistryError(
            "protocol", f"unsupported auth scheme in WWW-Authenticate: {challenge.raw}", challenge=challenge.raw
        )

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError(
                "protocol", f"Bearer challenge without a realm: {challenge.raw}", challenge=challenge.raw
            )
        params = {"service": challenge.params.get("service", "")}
        if scope:
            params["scope"] = scope
        auth = (self.username, self._secret()) if self.username is not None else None
        log.debug("fetching a token from %s for scope %r", realm, scope)
        response = self._exchange("GET", realm, params=params, auth=auth)
        if response.status_code != 200:
            error = self._http_error(response)
            error.message = f"token server {realm} answered {error.status}: {error.message}"
            raise error
        try:
            payload = response.json()
            return str(payload.get("token") or payload["access_token"])
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(
                "protocol", f"token server {realm} did not answer with a token", method="GET", url=realm
            ) from None

    def ping(self, scope: str = "") -> str:
        """GET /v2/ and log in; returns the auth scheme in use ("none", "basic" or "bearer")."""
        url = self.url("/v2/")
        response = self._request("GET", url, scope=scope)
        response.close()
        return self._challenge.scheme if self._challenge else "none"

    # -- blobs -----------------------------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self._request(
            "HEAD", self.url(f"/v2/{repository}/blobs/{digest}"), scope=_push(repository), ok=(200, 404)
        )
        response.close()
        return response.status_code == 200

    def push_blob(self, repository: str, data: bytes, media_type: str) -> Descriptor:
        """Push a small blob held in memory (a config), skipping it when the registry has it."""
        descriptor = Descriptor(media_type, sha256_digest(data), len(data))
        if not self.blob_exists(repository, descriptor.digest):
            uploaded = self.upload_blob(repository, [data])
            if uploaded != (descriptor.digest, descriptor.size):
                raise RegistryError("digest", f"registry stored {uploaded} for a blob of {descriptor}")
        return descriptor

    def start_upload(self, repository: str) -> str:
        response = self._request(
            "POST", self.url(f"/v2/{repository}/blobs/uploads/"), scope=_push(repository), ok=(202,)
        )
        response.close()
        return self._location(response)

    def _location(self, response: requests.Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(
                "protocol",
                f"no Location header in the {response.status_code} answer",
                method=response.request.method or "",
                url=response.request.url or "",
            )
        return urljoin(response.url, location)

    def upload_blob(
        self, repository: str, chunks: Iterable[bytes], on_progress: ProgressCallback | None = None
    ) -> tuple[str, int]:
        """Upload a blob as ONE chunked PATCH streamed from `chunks`, then PUT ?digest=.

        The digest is computed while streaming, so memory stays flat whatever the size. One
        PATCH (not many small ones) meets the same proxy body limits a docker push meets.

        Returns:
            (digest, size) of what was sent.
        """
        location = self.start_upload(repository)
        hasher = hashlib.sha256()

        def hashed() -> Iterator[bytes]:
            for chunk in chunks:
                hasher.update(chunk)
                yield chunk

        location, sent = self.patch_upload(repository, location, hashed(), on_progress=on_progress)
        digest = "sha256:" + hasher.hexdigest()
        self.finish_upload(repository, location, digest)
        return digest, sent

    def patch_upload(
        self,
        repository: str,
        location: str,
        chunks: Iterable[bytes],
        *,
        offset: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> tuple[str, int]:
        """Append `chunks` to an upload as one streamed (chunked) PATCH.

        Args:
            offset: bytes the registry already holds; progress counts from there.

        Returns:
            (the location to continue at, bytes the upload holds now).
        """
        sent = offset

        def body() -> Iterator[bytes]:
            nonlocal sent
            for chunk in chunks:
                if not chunk:
                    continue
                sent += len(chunk)
                yield chunk
                if on_progress is not None:
                    on_progress(sent)

        response = self._request(
            "PATCH",
            location,
            scope=_push(repository),
            ok=(202, 204),
            retry_auth=False,
            data=body(),
            headers={"Content-Type": "application/octet-stream"},
        )
        response.close()
        self._check_range(response, sent)
        return self._location(response), sent

    def finish_upload(self, repository: str, location: str, digest: str) -> None:
        """PUT ?digest= on an upload: the registry checks the digest and stores the blob."""
        put = self._request(
            "PUT",
            location,
            scope=_push(repository),
            ok=(201,),
            retry_auth=False,
            params={"digest": digest},
            headers={"Content-Length": "0"},
        )
        put.close()
        stored = put.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise RegistryError(
                "digest", f"registry stored the blob as {stored}, we sent {digest}", method="PUT", url=put.url
            )

    def upload_status(self, repository: str, location: str) -> tuple[str, int] | None:
        """Ask the registry how much of an upload it holds (GET on its location, `Range` answer).

        Returns:
            (the location to continue at, bytes held), or None when the registry no longer has the
            upload (it expired, was finished, or was cancelled: docker-distribution cancels an
            upload whose last PATCH was cut mid-body).
        """
        response = self._request("GET", location, scope=_push(repository), ok=(204, 200, 404))
        response.close()
        if response.status_code == 404:
            log.info(
                "registry no longer has the upload %s: %s",
                _without_query(location),
                ", ".join(_error_codes(response)) or response.status_code,
            )
            return None
        match = re.match(r"^(?:bytes=)?(\d+)-(\d+)$", response.headers.get("Range", ""))
        end = int(match.group(2)) if match else -1
        # distribution answers "0-0" for an empty upload too; one held byte is not worth the ambiguity
        held = end + 1 if end > 0 else 0
        next_location = (
            urljoin(response.url, response.headers["Location"]) if response.headers.get("Location") else location
        )
        return next_location, held

    @staticmethod
    def _check_range(response: requests.Response, sent: int) -> None:
        match = re.match(r"^(\d+)-(\d+)$", response.headers.get("Range", ""))
        if match and sent and int(match.group(2)) + 1 != sent:
            raise RegistryError(
                "protocol",
                f"registry received {int(match.group(2)) + 1} bytes of {sent}",
                method="PATCH",
                url=response.url,
            )

    def read_blob(
        self,
        repository: str,
        digest: str,
        *,
        on_chunk: Callable[[bytes], None] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """GET a blob and verify its digest while streaming; returns its size."""
        response = self._get_following(self.url(f"/v2/{repository}/blobs/{digest}"), _pull(repository))
        algorithm, _, expected = digest.partition(":")
        hasher = hashlib.new(algorithm)
        size = 0
        try:
            for chunk in response.iter_content(READ_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
                if on_chunk is not None:
                    on_chunk(chunk)
                if on_progress is not None:
                    on_progress(size)
        except requests.exceptions.RequestException as exc:
            raise classify_transport_error(exc, "GET", response.url) from None
        finally:
            response.close()
        if hasher.hexdigest() != expected:
            raise RegistryError(
                "digest",
                f"blob read back as {algorithm}:{hasher.hexdigest()}, expected {digest}",
                method="GET",
                url=response.url,
            )
        return size

    def _get_following(self, url: str, scope: str, hops: int = 5) -> requests.Response:
        """GET with redirects followed by hand: storage redirects (S3) must not get our Authorization."""
        response = self._request("GET", url, scope=scope, ok=(200, 307, 302, 301, 303, 308), stream=True)
        while response.is_redirect and hops > 0:
            target = urljoin(response.url, response.headers["Location"])
            response.close()
            response = self._exchange("GET", target, stream=True)
            hops -= 1
        if response.status_code != 200:
            raise self._http_error(response)
        return response

    # -- manifests -------------------------------------------------------------------------------

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST) -> str:
        """PUT a manifest under a tag (or digest); returns its digest."""
        digest = sha256_digest(body)
        response = self._request(
            "PUT",
            self.url(f"/v2/{repository}/manifests/{reference}"),
            scope=_push(repository),
            ok=(201,),
            data=body,
            headers={"Content-Type": media_type},
        )
        response.close()
        stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise RegistryError(
                "digest", f"registry stored the manifest as {stored}, we sent {digest}", method="PUT", url=response.url
            )
        return digest

    def get_manifest(self, repository: str, reference: str) -> ManifestResponse:
        response = self._request(
            "GET",
            self.url(f"/v2/{repository}/manifests/{reference}"),
            scope=_pull(repository),
            headers={"Accept": MANIFEST_ACCEPT},
        )
        body = response.content
        response.close()
        return ManifestResponse(body, response.headers.get("Content-Type", ""), sha256_digest(body))

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """DELETE a manifest by digest; False when the registry has deletion disabled (405/UNSUPPORTED)."""
        try:
            response = self._request(
                "DELETE",
                self.url(f"/v2/{repository}/manifests/{digest}"),
                scope=_delete(repository),
                ok=(202, 200, 204),
            )
        except RegistryError as error:
            if error.status == 405 or "UNSUPPORTED" in error.codes:
                log.info("registry has deletion disabled; %s stays", digest)
                return False
            raise
        response.close()
        return True


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _delete(repository: str) -> str:
    return f"repository:{repository}:delete"


def manifest_json(config: Descriptor, layers: list[Descriptor]) -> bytes:
    """Serialize an OCI image manifest exactly once: the digest is over these bytes."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    return json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()

"""Tests of the OCI distribution client: unit tests, then the real registry behind real nginx on 127.0.0.1."""

from __future__ import annotations

import json
import ssl
import time
import tracemalloc
from pathlib import Path

import pytest
import requests

from installer.registry_client import (
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    Descriptor,
    RegistryClient,
    RegistryError,
    manifest_json,
    parse_challenge,
    registry_base_url,
    sha256_digest,
)
from installer.secretstr import SecretStr
from tests.fixtures.procs import free_port, wait_for
from tests.fixtures.registry import Blackhole

MiB = 1024 * 1024
REPO = "tests/client"


def zero_chunks(size: int, chunk: int = MiB):
    block = bytes(chunk)
    for start in range(0, size, chunk):
        yield block[: min(chunk, size - start)]


def client_for(stack, **overrides) -> RegistryClient:
    options = dict(**stack.client_options(), timeout=10.0)
    options.update(overrides)
    return RegistryClient(stack.address, **options)


def ping_refused(stack, **overrides) -> RegistryError:
    """The error the client raises when it pings `stack` with `overrides` (a wrong password, no credentials, ...)."""
    with client_for(stack, **overrides) as client:
        with pytest.raises(RegistryError) as caught:
            client.ping()
    return caught.value


def assert_pushes_a_blob(stack, scheme: str) -> None:
    """The client authenticates with `scheme` ("basic", "bearer") and uploads a blob the registry then has."""
    with client_for(stack) as client:
        assert client.ping() == scheme
        digest, _ = client.upload_blob(REPO, zero_chunks(MiB))
        assert client.blob_exists(REPO, digest)


# -- unit tests --------------------------------------------------------------------------------


def test_parse_challenge_bearer_and_basic():
    bearer = parse_challenge('Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"')
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.example/token",
        "service": "registry",
        "scope": "repository:a/b:pull",
    }
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert (basic.scheme, basic.params["realm"]) == ("basic", "Registry Realm")
    assert parse_challenge("") is None


def test_registry_base_url_forms():
    assert registry_base_url("registry.example.com") == "https://registry.example.com"
    assert registry_base_url("registry.example.com:8443/") == "https://registry.example.com:8443"
    assert registry_base_url("http://127.0.0.1:5000/v2") == "http://127.0.0.1:5000"
    with pytest.raises(ValueError, match="HOST"):
        registry_base_url("https://")


def test_password_never_in_repr_or_errors():
    client = RegistryClient("registry.example.com", username="alice", password=SecretStr("hunter2-secret"))
    assert "hunter2" not in repr(client)
    assert "hunter2" not in repr(client.__dict__)
    error = RegistryError("http", "HTTP 401", method="GET", url="https://registry.example.com/v2/", status=401)
    assert "hunter2" not in str(error)


def test_manifest_json_is_an_oci_manifest():
    config = Descriptor(OCI_CONFIG, sha256_digest(b"{}"), 2)
    layer = Descriptor(OCI_LAYER_GZIP, "sha256:" + "a" * 64, 10)
    manifest = json.loads(manifest_json(config, [layer]))
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["layers"] == [{"mediaType": OCI_LAYER_GZIP, "digest": layer.digest, "size": 10}]


def test_system_trust_is_the_os_store_not_certifi():
    client = RegistryClient("registry.example.com")
    paths = ssl.get_default_verify_paths()
    assert client.verify in (paths.cafile, paths.capath)


# -- against the real registry -------------------------------------------------------------------


@pytest.mark.registry
@pytest.mark.timeout(60)
def test_push_blob_manifest_read_back_and_delete(registry_stack):
    stack = registry_stack()
    with client_for(stack) as client:
        assert client.ping() == "basic"
        digest, size = client.upload_blob(REPO, zero_chunks(3 * MiB + 17))
        assert size == 3 * MiB + 17
        assert digest == sha256_digest(bytes(3 * MiB + 17))
        assert client.blob_exists(REPO, digest)
        assert not client.blob_exists(REPO, "sha256:" + "0" * 64)
        config = client.push_blob(
            REPO, b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}', OCI_CONFIG
        )
        manifest = manifest_json(config, [Descriptor(OCI_LAYER_GZIP, digest, size)])
        manifest_digest = client.put_manifest(REPO, "t1", manifest)
        got = client.get_manifest(REPO, "t1")
        assert got.body == manifest and got.digest == manifest_digest
        assert client.read_blob(REPO, digest) == size
        assert client.delete_manifest(REPO, manifest_digest) is True
        with pytest.raises(RegistryError) as missing:
            client.get_manifest(REPO, "t1")
        assert missing.value.status == 404


def access_log_requests(stack) -> list[str]:
    """`METHOD /path` of each request nginx logged so far."""
    lines = (stack.nginx.directory / "access.log").read_text().splitlines()
    return [line.split('"')[1].rsplit(" ", 1)[0].split("?")[0] for line in lines if line.count('"') >= 2]


def logged_requests_after(stack, before: int, expected: int) -> list[str]:
    """nginx writes a log line just after answering: wait until `expected` new lines are there."""
    wait_for(lambda: len(access_log_requests(stack)) >= before + expected, 5, "nginx access log lines")
    time.sleep(0.2)  # and let any unexpected extra line arrive too
    return access_log_requests(stack)[before:]


@pytest.mark.registry
def test_push_blob_skips_a_blob_the_registry_has(registry_stack):
    stack = registry_stack()
    with client_for(stack) as client:
        client.ping()
        data = b"config bytes"
        client.push_blob(REPO, data, OCI_CONFIG)
        before = len(logged_requests_after(stack, 0, 6))  # GET 401, GET, HEAD, POST, PATCH, PUT
        client.push_blob(REPO, data, OCI_CONFIG)
        new = logged_requests_after(stack, before, 1)
    assert new == [f"HEAD /v2/{REPO}/blobs/{sha256_digest(data)}"]


@pytest.mark.registry
def test_layer_goes_up_as_one_chunked_patch(registry_stack):
    stack = registry_stack()
    with client_for(stack) as client:
        client.ping()
        client.upload_blob(REPO, zero_chunks(5 * MiB, chunk=64 * 1024))
    methods = [request.split(" ")[0] for request in logged_requests_after(stack, 0, 5) if "/blobs/uploads/" in request]
    assert methods == ["POST", "PATCH", "PUT"]


@pytest.mark.registry
def test_bearer_token_realm_is_used(registry_stack):
    stack = registry_stack(auth="token")
    assert_pushes_a_blob(stack, "bearer")
    seen = stack.token_server.requests_seen
    assert seen and all(request["authorized"] for request in seen)
    # The registry's challenge lists the actions in no fixed order (push,pull or pull,push).
    granted = [
        set(scope.rsplit(":", 1)[1].split(","))
        for request in seen
        for scope in request["query"].get("scope", [])
        if scope.startswith(f"repository:{REPO}:")
    ]
    assert any({"pull", "push"} <= actions for actions in granted)


@pytest.mark.registry
def test_bearer_token_server_rejects_wrong_password(registry_stack):
    stack = registry_stack(auth="token")
    error = ping_refused(stack, password=SecretStr("not-the-password"))
    assert error.status == 401
    assert "token server" in str(error)
    assert "not-the-password" not in str(error)


@pytest.mark.registry
def test_registry_native_htpasswd(registry_stack):
    stack = registry_stack(auth="registry")
    assert_pushes_a_blob(stack, "basic")
    error = ping_refused(stack, password=SecretStr("wrong"))
    assert error.status == 401
    assert 'realm="Registry Realm"' in error.challenge  # the registry's challenge, not nginx's


@pytest.mark.registry
def test_no_credentials_for_a_protected_registry(registry_stack):
    stack = registry_stack()
    assert ping_refused(stack, username=None, password=None).kind == "auth"


@pytest.mark.registry
def test_ca_file_beats_requests_ca_bundle(registry_stack, monkeypatch):
    stack = registry_stack()
    system_bundle = ssl.get_default_verify_paths().cafile
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", system_bundle)
    monkeypatch.setenv("CURL_CA_BUNDLE", system_bundle)
    # The trap is real: a plain Session's `verify` is silently replaced by the environment.
    session = requests.Session()
    session.verify = str(stack.ca_file)
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"https://{stack.address}/v2/", timeout=5)
    with client_for(stack) as client:
        assert client.ping() == "basic"


@pytest.mark.registry
def test_environment_bundle_does_not_sneak_in_trust(registry_stack, monkeypatch):
    stack = registry_stack()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stack.ca_file))
    error = ping_refused(stack, ca_file=None)
    assert error.kind == "tls" and error.reason == "unknown_authority"


@pytest.mark.registry
def test_delete_disabled_is_reported_not_raised(registry_stack):
    stack = registry_stack(delete_enabled=False)
    with client_for(stack) as client:
        client.ping()
        config = client.push_blob(REPO, b"{}", OCI_CONFIG)
        digest = client.put_manifest(REPO, "kept", manifest_json(config, []))
        assert client.delete_manifest(REPO, digest) is False
        assert client.get_manifest(REPO, "kept").digest == digest


@pytest.mark.registry
def test_corrupted_blob_is_caught_while_reading(registry_stack):
    stack = registry_stack()
    with client_for(stack) as client:
        client.ping()
        digest, size = client.upload_blob(REPO, zero_chunks(2 * MiB))
        data = stack.registry.blob_data(digest)
        with open(data, "r+b") as handle:  # flip one byte in the registry's storage, same size
            handle.seek(MiB)
            handle.write(b"\x01")
        with pytest.raises(RegistryError) as caught:
            client.read_blob(REPO, digest)
    assert caught.value.kind == "digest"


@pytest.mark.registry
def test_transport_errors_are_classified():
    blackhole = Blackhole()
    try:
        with pytest.raises(RegistryError) as timed_out:
            RegistryClient(f"127.0.0.1:{blackhole.port}", timeout=1.0).ping()
    finally:
        blackhole.stop()
    assert timed_out.value.kind == "timeout"
    with pytest.raises(RegistryError) as refused:
        RegistryClient(f"127.0.0.1:{free_port()}", timeout=5.0).ping()
    assert refused.value.kind == "refused"
    with pytest.raises(RegistryError) as unresolved:
        RegistryClient("registry.smoke-test.invalid", timeout=5.0).ping()
    assert unresolved.value.kind == "dns"


def _rss_high_water_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/self/status")


@pytest.mark.registry
@pytest.mark.timeout(180)
def test_memory_stays_flat_while_pushing_256_mib(registry_stack):
    from installer.smoke_image import SmokeLayer

    stack = registry_stack()
    size = 256 * MiB
    with client_for(stack, timeout=60.0) as client:
        client.ping()
        layer = SmokeLayer(size)
        _rss_high_water_reset()
        rss_before = _status_kib("VmRSS")
        tracemalloc.start()
        started = time.monotonic()
        digest, sent = client.upload_blob(REPO, layer.chunks())
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_growth = (_status_kib("VmHWM") - rss_before) * 1024
        assert client.blob_exists(REPO, digest)
    print(
        f"pushed {sent / MiB:.0f} MiB in {seconds:.1f}s; tracemalloc peak {peak / MiB:.1f} MiB; "
        f"RSS growth {rss_growth / MiB:.1f} MiB"
    )
    assert sent > size
    assert peak < 48 * MiB, f"traced peak {peak / MiB:.1f} MiB while pushing {size / MiB:.0f} MiB"
    assert rss_growth < 48 * MiB, f"RSS grew {rss_growth / MiB:.1f} MiB while pushing {size / MiB:.0f} MiB"

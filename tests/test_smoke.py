"""Tests of the smoke test and its command: sizes and diagnoses, then each failure reproduced for real on 127.0.0.1."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from installer.cli import main as cli_main
from installer.diagnose import STEP_CONNECT, STEP_LAYER, STEP_VERIFY, diagnose
from installer.events import Note, Progress, StepFinished, StepStarted
from installer.registry_client import RegistryError
from installer.secretstr import SecretStr
from installer.sizes import parse_size
from installer.smoke import SmokeTarget, run_smoke
from installer.smoke_image import SmokeLayer, image_config
from tests.fixtures.procs import free_port
from tests.fixtures.registry import Blackhole

MiB = 1024 * 1024


def target_for(stack, **overrides) -> SmokeTarget:
    options = dict(
        registry=stack.address,
        **stack.client_options(),
        controller_family="ingress-nginx",
        blob_size=8 * MiB,
        timeout=10.0,
    )
    options.update(overrides)
    return SmokeTarget(**options)


def run_cli(argv: list[str], monkeypatch=None, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`registry-installer smoke ARGV` in this process: (exit code, stdout, stderr)."""
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["smoke", *argv])
    return code, out.getvalue(), err.getvalue()


def cli_args(stack, *extra: str) -> list[str]:
    return [
        "--registry",
        stack.address,
        "--username",
        stack.username,
        "--password-env",
        "SMOKE_TEST_PASSWORD",
        "--ca-file",
        str(stack.ca_file),
        "--timeout",
        "10",
        *extra,
    ]


# -- unit tests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8Mi", 8 * MiB),
        ("1Gi", 1 << 30),
        ("512M", 512 * 10**6),
        ("1048576", MiB),
        ("1.5Ki", 1536),
        ("10k", 10_000),
        (" 2Mi ", 2 * MiB),
        (4096, 4096),
        ("1Ti", 1 << 40),
    ],
)
def test_parse_size(text, expected):
    """Sizes are Kubernetes quantities everywhere (installer/sizes.py): flags, presets and the cluster alike."""
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "8Q", "MiB", "-1", "0", "1.2.3Mi", "eight", "0.5", "2 Mi"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


@pytest.mark.parametrize("text, spelling", [("1GiB", "'1Gi'"), ("512MB", "'512M'")])
def test_parse_size_names_the_kubernetes_spelling_of_a_unit_with_b(text, spelling):
    """1GiB was accepted before the size syntaxes became one; now it is refused with the spelling to use."""
    with pytest.raises(ValueError, match=spelling) as refused:
        parse_size(text)
    assert "Kubernetes quantities" in str(refused.value)


def test_smoke_layer_is_a_valid_gzip_tar_with_its_diff_id():
    layer = SmokeLayer(3 * MiB + 5)
    compressed = b"".join(layer.chunks())
    tar_bytes = gzip.decompress(compressed)
    assert "sha256:" + hashlib.sha256(tar_bytes).hexdigest() == layer.diff_id
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as archive:
        (member,) = archive.getmembers()
        assert member.size == 3 * MiB + 5
        content = archive.extractfile(member).read()
    assert content[:MiB] != content[MiB : 2 * MiB]  # not one block repeated
    assert SmokeLayer(MiB).diff_id is None  # only known once streamed
    assert b"".join(SmokeLayer(MiB).chunks()) != b"".join(SmokeLayer(MiB).chunks())  # a new blob every run


def test_image_config_names_the_layer():
    config = json.loads(image_config("sha256:" + "b" * 64))
    assert config["os"] == "linux" and config["architecture"]
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "b" * 64]}


def _target(family: str | None, **overrides) -> SmokeTarget:
    options = dict(
        registry="registry.example.com", username="u", password=SecretStr("p"), ca_file=None, controller_family=family
    )
    options.update(overrides)
    return SmokeTarget(**options)


def _http(status: int, **extra) -> RegistryError:
    return RegistryError(
        "http", f"HTTP {status}", method="PATCH", url="https://registry.example.com/v2/x", status=status, **extra
    )


@pytest.mark.parametrize(
    "family, expected",
    [
        ("ingress-nginx", 'nginx.ingress.kubernetes.io/proxy-body-size: "0"'),
        ("nginx-inc", 'nginx.org/client-max-body-size: "0"'),
        ("traefik", "no body limit by default"),
        ("haproxy", "haproxy.org/client-max-body-size"),
    ],
)
def test_413_names_the_controllers_annotation(family, expected):
    diagnosis = diagnose(_http(413), STEP_LAYER, _target(family))
    assert expected in diagnosis.fix
    assert diagnosis.fix_screen == "uploads"
    assert "413" in diagnosis.cause


@pytest.mark.parametrize("family", [None, "other"])
def test_413_for_an_unknown_controller_lists_them_all(family):
    fix = diagnose(_http(413), STEP_LAYER, _target(family)).fix
    for annotation in (
        "nginx.ingress.kubernetes.io/proxy-body-size",
        "nginx.org/client-max-body-size",
        "Traefik",
        "haproxy.org/client-max-body-size",
    ):
        assert annotation in fix


def test_x509_says_where_each_runtime_wants_the_ca():
    error = RegistryError("tls", "tls error", reason="unknown_authority")
    diagnosis = diagnose(error, STEP_CONNECT, _target(None, registry="registry.example.com:8443"))
    for path in (
        "/etc/docker/certs.d/registry.example.com:8443/ca.crt",
        "/etc/containerd/certs.d/registry.example.com:8443/hosts.toml",
        "/etc/containers/certs.d/registry.example.com:8443/ca.crt",
        "/usr/local/share/ca-certificates/",
        "update-ca-certificates",
    ):
        assert path in diagnosis.fix
    assert diagnosis.fix_screen == "tls" and "unknown authority" in diagnosis.cause


@pytest.mark.parametrize(
    "status, words, screen",
    [
        (401, ["user name and password", "auth-secret", "htpasswd"], "access"),
        (404, ["404", "/v2/", "ingress.path"], "address"),
        (502, ["registry pod is not ready", "port 5000"], "address"),
        (503, ["registry pod is not ready"], "address"),
        (504, ["proxy-read-timeout", "proxy-send-timeout"], "uploads"),
    ],
)
def test_http_diagnoses(status, words, screen):
    step = STEP_CONNECT if status == 404 else STEP_LAYER
    diagnosis = diagnose(_http(status), step, _target("ingress-nginx"))
    text = diagnosis.cause + " " + diagnosis.fix
    for word in words:
        assert word in text
    assert diagnosis.fix_screen == screen


@pytest.mark.parametrize(
    "kind, words",
    [
        ("dns", ["does not resolve", "DNS record"]),
        ("refused", ["connection refused", "443"]),
        ("digest", ["digest mismatch", "storage"]),
    ],
)
def test_transport_and_digest_diagnoses(kind, words):
    diagnosis = diagnose(RegistryError(kind, kind), STEP_VERIFY, _target(None))
    for word in words:
        assert word in diagnosis.cause + " " + diagnosis.fix


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_step_printer_shows_progress_only_on_a_terminal():
    from installer.console import EventPrinter

    events = [
        StepStarted(STEP_LAYER),
        Progress(STEP_LAYER, 4 * MiB, 8 * MiB),
        StepFinished(STEP_LAYER, True, 0.5, "8 MiB in 0.50s, 16.0 MiB/s"),
    ]
    plain, terminal = io.StringIO(), _Terminal()
    for out in (plain, terminal):
        printer = EventPrinter(out, show_started=False)
        for event in events:
            printer(event)
    assert plain.getvalue() == f"[ ok ] {STEP_LAYER:<12}   0.50s  8 MiB in 0.50s, 16.0 MiB/s\n"
    assert "4 MiB of 8 MiB" in terminal.getvalue()
    assert terminal.getvalue().endswith(plain.getvalue())


def test_usage_errors_exit_2_without_traceback(monkeypatch, tmp_path):
    monkeypatch.delenv("SMOKE_MISSING_VAR", raising=False)
    code, _, err = run_cli(["--registry", "r.example.com", "--username", "u", "--password-env", "SMOKE_MISSING_VAR"])
    assert code == 2 and "SMOKE_MISSING_VAR is not set" in err
    code, _, err = run_cli(["--registry", "r.example.com", "--ca-file", str(tmp_path / "absent.crt")])
    assert code == 2 and "cannot read the CA file" in err
    (tmp_path / "junk.crt").write_text("not a certificate")
    code, _, err = run_cli(["--registry", "r.example.com", "--ca-file", str(tmp_path / "junk.crt")])
    assert code == 2 and "no PEM certificate" in err
    code, _, err = run_cli(["--registry", "r.example.com", "--blob-size", "lots"])
    assert code == 2 and "--blob-size" in err and "8Mi" in err
    code, _, err = run_cli(["--registry", "r.example.com", "--username", "u"])
    assert code == 2 and "--password-env" in err
    code, _, err = run_cli(["--registry", "https://", "--timeout", "5"])
    assert code == 2 and "HOST[:PORT]" in err
    assert "Traceback" not in err


# -- against the real registry behind nginx --------------------------------------------------------


@pytest.mark.registry
@pytest.mark.timeout(120)
def test_smoke_passes_and_skopeo_reads_the_image(registry_stack, tmp_path):
    stack = registry_stack(body_limit="0")
    events = []
    result = run_smoke(target_for(stack, keep=True), on_event=events.append)
    assert result.ok, result.diagnosis
    assert result.bytes > 8 * MiB and result.throughput_mib_s > 0 and result.deleted is None
    finished = [event.step for event in events if isinstance(event, StepFinished) and event.ok]
    assert finished == ["smoke: connect", "smoke: push layer", "smoke: push manifest", "smoke: read back"]
    assert any(isinstance(event, Progress) and event.done >= 8 * MiB for event in events)

    image = f"docker://{stack.address}/registry-installer/smoke:smoke"
    inspect = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=true", *stack.skopeo_login(), image],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert inspect.returncode == 0, inspect.stderr
    info = json.loads(inspect.stdout)
    assert info["Digest"] == result.digest
    assert info["Os"] == "linux"
    manifest = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--raw", *stack.skopeo_login(), image],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    assert info["Layers"] == [manifest["layers"][0]["digest"]]
    # A full pull: skopeo verifies every blob digest and the layer's diff_id on the way.
    copy = subprocess.run(
        ["skopeo", "copy", *stack.skopeo_login("src"), image, f"oci:{tmp_path / 'pulled'}:smoke"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert copy.returncode == 0, copy.stderr
    layer_file = tmp_path / "pulled" / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    assert layer_file.stat().st_size == result.bytes


@pytest.mark.registry
def test_smoke_deletes_the_tag_unless_kept(registry_stack):
    stack = registry_stack()
    result = run_smoke(target_for(stack, blob_size=MiB))
    assert result.ok and result.deleted is True
    from installer.registry_client import RegistryClient

    with RegistryClient(stack.address, **stack.client_options()) as client:
        client.ping()
        with pytest.raises(RegistryError) as gone:
            client.get_manifest("registry-installer/smoke", "smoke")
    assert gone.value.status == 404


@pytest.mark.registry
def test_command_passes_and_prints_each_step(registry_stack, monkeypatch):
    stack = registry_stack()
    code, out, _ = run_cli(
        cli_args(stack, "--blob-size", "8Mi"), monkeypatch, {"SMOKE_TEST_PASSWORD": stack.password.get_secret_value()}
    )
    assert code == 0, out
    for step in (
        "smoke: connect",
        "smoke: push layer",
        "smoke: push manifest",
        "smoke: read back",
        "smoke: delete tag",
    ):
        assert f"[ ok ] {step}" in out
    assert "MiB/s" in out and "smoke test passed" in out
    assert stack.password.get_secret_value() not in out


@pytest.mark.registry
def test_body_limit_gives_413_naming_proxy_body_size(registry_stack, monkeypatch):
    stack = registry_stack(body_limit="1m")
    result = run_smoke(target_for(stack))
    assert not result.ok
    assert "413" in result.diagnosis.cause
    assert 'nginx.ingress.kubernetes.io/proxy-body-size: "0"' in result.diagnosis.fix
    code, out, _ = run_cli(
        cli_args(stack, "--blob-size", "8Mi", "--controller-family", "ingress-nginx"),
        monkeypatch,
        {"SMOKE_TEST_PASSWORD": stack.password.get_secret_value()},
    )
    assert code == 1
    assert "proxy-body-size" in out and "[FAIL] smoke: push layer" in out


@pytest.mark.registry
def test_small_layer_passes_a_1m_limit(registry_stack):
    stack = registry_stack(body_limit="1m")
    result = run_smoke(target_for(stack, blob_size=256 * 1024))
    assert result.ok, result.diagnosis  # the limit bites only layers above it, like a real push


@pytest.mark.registry
def test_wrong_password_gives_401(registry_stack, monkeypatch):
    stack = registry_stack()
    result = run_smoke(target_for(stack, password=SecretStr("wrong-password")))
    assert not result.ok
    assert "401" in result.diagnosis.cause and result.diagnosis.fix_screen == "access"
    assert "registry-installer test ingress" in result.diagnosis.cause  # names which layer challenged
    code, out, _ = run_cli(cli_args(stack), monkeypatch, {"SMOKE_TEST_PASSWORD": "wrong-password"})
    assert code == 1 and "401" in out and "wrong-password" not in out


@pytest.mark.registry
def test_registry_native_htpasswd_passes_and_rejects(registry_stack):
    stack = registry_stack(auth="registry")
    assert run_smoke(target_for(stack, blob_size=MiB)).ok
    failed = run_smoke(target_for(stack, password=SecretStr("nope")))
    assert not failed.ok and '"Registry Realm"' in failed.diagnosis.cause


@pytest.mark.registry
def test_bearer_token_realm_through_the_smoke_test(registry_stack):
    stack = registry_stack(auth="token")
    result = run_smoke(target_for(stack, blob_size=2 * MiB))
    assert result.ok, result.diagnosis
    assert result.deleted is True
    scopes = [scope for request in stack.token_server.requests_seen for scope in request["query"].get("scope", [])]
    assert "repository:registry-installer/smoke:pull,push" in scopes
    assert "repository:registry-installer/smoke:delete" in scopes


@pytest.mark.registry
def test_missing_ca_gives_x509_diagnosis(registry_stack, monkeypatch):
    stack = registry_stack()
    result = run_smoke(target_for(stack, ca_file=None))
    assert not result.ok
    assert "unknown authority" in result.diagnosis.cause
    assert f"/etc/docker/certs.d/{stack.address}/ca.crt" in result.diagnosis.fix
    monkeypatch.setenv("SMOKE_TEST_PASSWORD", stack.password.get_secret_value())
    args = cli_args(stack)
    args = args[: args.index("--ca-file")] + args[args.index("--ca-file") + 2 :]
    code, out, _ = run_cli(args)
    assert code == 1 and "x509" in out


@pytest.mark.registry
def test_wrong_ca_file_is_named(registry_stack, tmp_path):
    from tests.fixtures.registry import make_ca

    stack = registry_stack()
    other = make_ca(tmp_path / "other-ca", common_name="some other CA")
    result = run_smoke(target_for(stack, ca_file=other.ca_file))
    assert not result.ok
    assert str(other.ca_file) in result.diagnosis.cause and "did not sign" in result.diagnosis.cause


def test_unusable_ca_file_is_a_diagnosis_not_a_traceback(tmp_path):
    (tmp_path / "empty.crt").write_text("")
    for ca_file, words in (
        (tmp_path / "absent.crt", "cannot read the CA file"),
        (tmp_path / "empty.crt", "holds no PEM certificate"),
    ):
        result = run_smoke(_target(None, ca_file=ca_file))
        assert not result.ok and words in result.diagnosis.cause
        assert result.diagnosis.fix_screen == "tls"


@pytest.mark.registry
def test_plain_http_port_is_not_tls(registry_stack):
    stack = registry_stack(auth="none")
    result = run_smoke(target_for(stack, registry=f"127.0.0.1:{stack.registry.port}", username=None, password=None))
    assert not result.ok
    assert "does not speak HTTPS" in result.diagnosis.cause and result.diagnosis.fix_screen == "tls"


@pytest.mark.registry
def test_ingress_path_not_routing_v2_gives_404(registry_stack):
    stack = registry_stack(location="/registry/")
    result = run_smoke(target_for(stack))
    assert not result.ok
    assert "404" in result.diagnosis.cause and "ingress.path" in result.diagnosis.fix
    assert result.diagnosis.fix_screen == "address"


@pytest.mark.registry
def test_ca_file_wins_over_requests_ca_bundle(registry_stack, monkeypatch):
    stack = registry_stack()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    result = run_smoke(target_for(stack, blob_size=MiB))
    assert result.ok, result.diagnosis


@pytest.mark.registry
def test_stopped_registry_gives_502(registry_stack):
    stack = registry_stack()
    stack.stop_registry()
    result = run_smoke(target_for(stack))
    assert not result.ok
    assert "502" in result.diagnosis.cause and "not ready" in result.diagnosis.cause


@pytest.mark.registry
@pytest.mark.timeout(60)
def test_hung_upload_behind_short_proxy_timeouts_gives_504(registry_stack):
    # The registry answers /v2/ and starts uploads, but the layer PATCH goes to an upstream that
    # never reads or answers, so nginx's 1s proxy timeouts expire mid-upload, as with a slow registry.
    stack = registry_stack(upstream="hung-uploads", read_timeout="1s", send_timeout="1s")
    result = run_smoke(target_for(stack))
    assert not result.ok
    assert "504" in result.diagnosis.cause and STEP_LAYER in result.diagnosis.cause
    assert "proxy-read-timeout" in result.diagnosis.fix and "proxy-send-timeout" in result.diagnosis.fix


@pytest.mark.registry
@pytest.mark.timeout(60)
def test_hung_registry_gives_504_at_connect(registry_stack):
    stack = registry_stack(upstream="blackhole", read_timeout="1s")
    result = run_smoke(target_for(stack))
    assert not result.ok and "504" in result.diagnosis.cause
    assert "proxy-read-timeout" in result.diagnosis.fix


@pytest.mark.registry
@pytest.mark.timeout(60)
def test_silent_server_gives_timed_out(tmp_path):
    blackhole = Blackhole()
    try:
        result = run_smoke(SmokeTarget(f"127.0.0.1:{blackhole.port}", None, None, None, None, timeout=1.0))
    finally:
        blackhole.stop()
    assert not result.ok
    assert "timed out" in result.diagnosis.cause
    assert result.seconds < 10


@pytest.mark.registry
def test_connection_refused():
    result = run_smoke(SmokeTarget(f"127.0.0.1:{free_port()}", None, None, None, None, timeout=5.0))
    assert not result.ok and "connection refused" in result.diagnosis.cause
    assert result.diagnosis.fix_screen == "address"


@pytest.mark.registry
def test_name_resolution_failure():
    result = run_smoke(SmokeTarget("registry.smoke-test.invalid", None, None, None, None, timeout=5.0))
    assert not result.ok
    assert "registry.smoke-test.invalid does not resolve" in result.diagnosis.cause


@pytest.mark.registry
def test_corrupted_storage_gives_digest_mismatch(registry_stack):
    stack = registry_stack()
    layer_digest = {}

    def corrupt_after_push(event) -> None:
        # Once the layer is stored, flip one of its bytes in the registry's storage (same size).
        if isinstance(event, StepStarted) and event.step == STEP_VERIFY:
            blobs = sorted(
                stack.registry.storage.glob("docker/registry/v2/blobs/sha256/*/*/data"),
                key=lambda path: path.stat().st_size,
            )
            data = blobs[-1]
            layer_digest["path"] = data
            with open(data, "r+b") as handle:
                handle.seek(4 * MiB)
                original = handle.read(1)
                handle.seek(4 * MiB)
                handle.write(bytes([original[0] ^ 0xFF]))

    result = run_smoke(target_for(stack), on_event=corrupt_after_push)
    assert layer_digest, "the verify step never started"
    assert not result.ok
    assert "digest mismatch" in result.diagnosis.cause


@pytest.mark.registry
def test_delete_disabled_is_a_note_not_a_failure(registry_stack):
    stack = registry_stack(delete_enabled=False)
    events = []
    result = run_smoke(target_for(stack, blob_size=MiB), on_event=events.append)
    assert result.ok and result.deleted is False
    notes = [event.text for event in events if isinstance(event, Note)]
    assert any("deletion disabled" in text for text in notes)


# -- end to end through the rendered configuration ------------------------------------------------

E2E_PASSWORD = "e2e-Password-41"


def render_objects(tmp_path: Path, preset: str):
    """`registry-installer render` a preset, then `helm template` the chart with its values, as apply would."""
    import os

    from tests.conftest import run_installer, template_rendered
    from tests.fixtures.registry import RenderedObjects

    preset_file = tmp_path / "preset.yaml"
    preset_file.write_text(preset)
    out = tmp_path / "rendered"
    env = {**os.environ, "SMOKE_E2E_PASSWORD": E2E_PASSWORD}
    render = run_installer("render", "--preset", str(preset_file), "--out", str(out), env=env, timeout=120)
    assert render.returncode == 0, render.stderr
    template = template_rendered(out)
    assert template.returncode == 0, template.stderr
    return RenderedObjects(template.stdout, (out / "secrets.yaml").read_text())


def e2e_preset(auth: str, body: str) -> str:
    return (
        f"version: 1\nexposure:\n  hosts: [localhost]\n  tls: {{mode: self-signed}}\n"
        f"auth:\n  mode: {auth}\n  users: [{{name: admin, password: 'env:SMOKE_E2E_PASSWORD'}}]\n"
        f"uploads:\n  max_body_size: '{body}'\n"
    )


@pytest.fixture
def rendered_stack(tmp_path):
    from tests.fixtures.registry import start_rendered_stack

    stacks = []

    def make(preset: str):
        objects = render_objects(tmp_path, preset)
        stack = start_rendered_stack(tmp_path / "stack", objects, username="admin", password=E2E_PASSWORD)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


@pytest.mark.registry
@pytest.mark.helm
@pytest.mark.timeout(180)
@pytest.mark.parametrize("auth, realm", [("ingress", None), ("registry", "Registry Realm")])
def test_rendered_configuration_passes_the_smoke_test(rendered_stack, auth, realm):
    stack = rendered_stack(e2e_preset(auth, "0"))
    assert stack.address.startswith("localhost:")  # the certificate is the installer's, for the preset's host
    result = run_smoke(target_for(stack, blob_size=8 * MiB))
    assert result.ok, result.diagnosis
    wrong = run_smoke(target_for(stack, password=SecretStr("not-" + E2E_PASSWORD), blob_size=MiB))
    assert not wrong.ok and "401" in wrong.diagnosis.cause  # the rendered auth is really on
    if realm:
        assert f'"{realm}"' in wrong.diagnosis.cause


@pytest.mark.registry
@pytest.mark.helm
@pytest.mark.timeout(180)
def test_rendered_1m_body_limit_is_diagnosed(rendered_stack):
    stack = rendered_stack(e2e_preset("ingress", "1m"))
    result = run_smoke(target_for(stack, blob_size=8 * MiB))
    assert not result.ok
    assert "413" in result.diagnosis.cause and "proxy-body-size" in result.diagnosis.fix

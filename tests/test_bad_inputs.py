"""The bad-input catalogue: presets, files, CLI flags and wizard-field validators refuse bad input with
the setting or flag and the fix, never a traceback, and write or overwrite nothing; arbitrary text
only ever raises our own error or renders objects that are valid.

Every case runs the real command line (`installer.cli.main`, in-process so a hundred cases stay quick;
a few run as a subprocess too) in an empty folder, and checks: the exit code, the setting or flag
named on stderr, no traceback, and that the folder is byte-for-byte what it was.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installer import checks
from installer.cli import main
from installer.errors import ValidationFailed
from installer.model import Auth, Choices, Exposure, FilesystemStorage, Invalid, Resources, Uploads, User
from installer.preset import parse_preset, problems_from_validation
from tests.conftest import PRESETS, ROOT, run_installer
from tests.unit.test_presets import BAD_PRESETS

HOST = "version: 1\nexposure: {hosts: [r.example.com]}\n"


def run_cli(*args, env=None):
    """The CLI as a separate process (for what only a real process shows: the traceback on stderr)."""
    return run_installer(*args, env={**os.environ, **(env or {})}, timeout=60)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder`: kind, mode and content hash (links by their target, never followed)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            out[str(path)] = ("link", os.readlink(path))
        elif stat.S_ISREG(info.st_mode):
            out[str(path)] = ("file", stat.S_IMODE(info.st_mode), hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            out[str(path)] = ("other", stat.S_IFMT(info.st_mode))
    return out


def run_in(folder: Path, argv: list[str], capsys, monkeypatch, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the CLI in `folder`; return (exit code, stdout+stderr). Any exception escaping main is a traceback."""
    monkeypatch.chdir(folder)
    for key in ("REGISTRY_PASSWORD", "KUBECONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(folder))  # no ~/.kube/config of the machine running the tests
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# -- presets rendered by `render --preset p.yaml --out out` ----------------------------------------------
# (id, preset text, the setting the message must name, words it must contain); `{d}` is the test's folder.


def s3(extra: str) -> str:
    return HOST + "storage: {kind: s3, s3: {bucket: b, region: r, " + extra + "}}\n"


def gc(schedule: str) -> str:
    return HOST + "extras: {garbage_collect: {enabled: true, schedule: " + schedule + "}}\n"


def users(name: str) -> str:
    return HOST + "auth: {users: [{name: " + name + "}]}\n"


def password_file(path: str) -> str:
    """User admin, whose password the installer reads from the file `path`."""
    return users("admin, password: 'file:" + path + "'")


def tls(extra: str) -> str:
    return "version: 1\nexposure: {hosts: [r.example.com], tls: {" + extra + "}}\n"


def host(name: str) -> str:
    return "version: 1\nexposure: {hosts: [" + name + "]}\n"


PRESET_CASES = [
    # names that become object names, labels, Secret keys, htpasswd lines: full match, no trailing newline
    ("user-newline", users('"admin\\n"'), "auth.users.0.name", "line break"),
    ("user-space", users('"ad min"'), "auth.users.0.name", "invalid"),
    ("user-leading-dash", users('"-admin"'), "auth.users.0.name", "invalid"),
    ("user-too-long", users("a" * 65), "auth.users.0.name", "it has 65 characters"),
    ("user-colon", users('"a:b"'), "auth.users.0.name", "contains ':'"),
    ("user-number", users("12345678901234567890123"), "auth.users.0.name", "must be text"),
    ("host-newline", host('"r.example.com\\n"'), "exposure.hosts", "not a valid hostname"),
    ("host-ipv4", host("10.0.0.1"), "exposure.hosts", "IP address"),
    ("host-ipv6", host('"::1"'), "exposure.hosts", "IP address"),
    ("host-trailing-dot", host("r.example.com."), "exposure.hosts", "not a valid hostname"),
    ("host-wildcard", host('"*.example.com"'), "exposure.hosts", "not a valid hostname"),
    ("host-empty-label", host("a..example.com"), "exposure.hosts", "not a valid hostname"),
    ("host-long-label", host("a" * 64 + ".example.com"), "exposure.hosts", "not a valid hostname"),
    ("host-numeric-tld", host("r.example.123"), "exposure.hosts", "all digits"),
    ("host-space", host('"r example.com"'), "exposure.hosts", "not a valid hostname"),
    ("host-port", host('"r.example.com:5000"'), "exposure.hosts", "no scheme, port or path"),
    ("host-twice-case", host("r.example.com, R.example.com"), "exposure.hosts", "listed twice"),
    ("namespace-float", HOST + "target: {namespace: '1e3'}\n", "target.namespace", "number or boolean"),
    ("namespace-octal", HOST + "target: {namespace: '0o10'}\n", "target.namespace", "number or boolean"),
    ("release-yes", HOST + "target: {release: 'yes'}\n", "target.release", "number or boolean"),
    ("host-float", host("'1e3'"), "exposure.hosts", "number or boolean"),
    ("host-bool-word", host("'on'"), "exposure.hosts", "number or boolean"),
    (
        "ingress-class-number",
        "version: 1\nexposure: {hosts: [r.example.com], ingress_class: '0'}\n",
        "exposure.ingress_class",
        "number or boolean",
    ),
    (
        "claim-number",
        HOST + "storage: {filesystem: {existing_claim: '0x10'}}\n",
        "storage.filesystem.existing_claim",
        "number or boolean",
    ),
    (
        "namespace-newline",
        HOST + 'target: {namespace: "docker-registry\\n"}\n',
        "target.namespace",
        "not a valid namespace name",
    ),
    ("namespace-64", HOST + "target: {namespace: " + "n" * 64 + "}\n", "target.namespace", "63 characters"),
    (
        "namespace-underscore",
        HOST + "target: {namespace: kube_system}\n",
        "target.namespace",
        "not a valid namespace name",
    ),
    ("release-54", HOST + "target: {release: " + "r" * 54 + "}\n", "target.release", "at most 53"),
    ("release-digit-first", HOST + "target: {release: 1registry}\n", "target.release", "starting with a letter"),
    ("release-upper", HOST + "target: {release: Registry}\n", "target.release", "not a valid release name"),
    ("release-dot", HOST + "target: {release: reg.istry}\n", "target.release", "not a valid release name"),
    ("release-newline", HOST + 'target: {release: "registry\\n"}\n', "target.release", "not a valid release name"),
    (
        "release-gc-cronjob",
        HOST + "target: {release: " + "a" * 40 + "}\nextras: {garbage_collect: {enabled: true}}\n",
        "target.release",
        "CronJob",
    ),
    ("context-option", HOST + "target: {context: --insecure-skip-tls-verify}\n", "target.context", "starts with '-'"),
    ("context-newline", HOST + 'target: {context: "ctx\\n"}\n', "target.context", "line breaks"),
    # clashes with the installer's and the chart's own Secrets
    (
        "clash-ca",
        tls("mode: self-signed, secret_name: docker-registry-ca"),
        "exposure.tls.secret_name",
        "installer's CA",
    ),
    (
        "clash-state",
        tls("mode: self-signed, secret_name: docker-registry-installer"),
        "exposure.tls.secret_name",
        "state Secret",
    ),
    (
        "clash-basic-auth",
        tls("mode: existing-secret, secret_name: docker-registry-basic-auth"),
        "exposure.tls.secret_name",
        "basic-auth",
    ),
    (
        "clash-s3",
        tls("mode: cert-manager, issuer: le, secret_name: docker-registry-s3"),
        "exposure.tls.secret_name",
        "S3 keys",
    ),
    (
        "clash-chart",
        HOST.replace(
            "r.example.com]", "r.example.com], tls: {mode: self-signed, secret_name: reg-docker-registry-secret}"
        )
        + "target: {release: reg}\n",
        "exposure.tls.secret_name",
        "chart's own Secret",
    ),
    (
        "secret-name-upper",
        tls("mode: existing-secret, secret_name: Registry_TLS"),
        "exposure.tls",
        "not a valid Secret name",
    ),
    (
        "secret-name-newline",
        tls('mode: existing-secret, secret_name: "registry-tls\\n"'),
        "exposure.tls",
        "not a valid Secret name",
    ),
    ("issuer-space", tls('mode: cert-manager, issuer: "Lets Encrypt"'), "exposure.tls", "issuer name"),
    (
        "ingress-class-upper",
        "version: 1\nexposure: {hosts: [r.example.com], ingress_class: Nginx}\n",
        "exposure.ingress_class",
        "IngressClass name",
    ),
    (
        "ingress-class-newline",
        'version: 1\nexposure: {hosts: [r.example.com], ingress_class: "nginx\\n"}\n',
        "exposure.ingress_class",
        "IngressClass name",
    ),
    (
        "storage-class-underscore",
        HOST + "storage: {filesystem: {storage_class: rook_ceph}}\n",
        "storage.filesystem.storage_class",
        "StorageClass name",
    ),
    (
        "claim-upper",
        HOST + "storage: {filesystem: {existing_claim: Data}}\n",
        "storage.filesystem.existing_claim",
        "PersistentVolumeClaim name",
    ),
    # S3: what the chart writes unquoted, URLs, credentials
    (
        "bucket-dots",
        HOST + "storage: {kind: s3, s3: {bucket: a..b, region: r}}\n",
        "storage.s3.bucket",
        "not a bucket name",
    ),
    (
        "region-upper",
        HOST + "storage: {kind: s3, s3: {bucket: b, region: US-EAST-1}}\n",
        "storage.s3.region",
        "not a region name",
    ),
    (
        "bucket-upper",
        HOST + "storage: {kind: s3, s3: {bucket: My-Bucket, region: r}}\n",
        "storage.s3.bucket",
        "not a bucket name",
    ),
    (
        "region-space",
        HOST + 'storage: {kind: s3, s3: {bucket: b, region: "us east"}}\n',
        "storage.s3.region",
        "not a region name",
    ),
    (
        "endpoint-credentials",
        s3('endpoint: "https://AKIDEXAMPLE:SECRETEXAMPLE@s3.example.com"'),
        "storage.s3.endpoint",
        "access_key: env:",
    ),
    ("endpoint-ftp", s3('endpoint: "ftp://s3.example.com"'), "storage.s3.endpoint", "https://"),
    ("endpoint-bad-port", s3('endpoint: "https://s3.example.com:99999"'), "storage.s3.endpoint", "not a URL"),
    ("endpoint-query", s3('endpoint: "https://s3.example.com/?x=1"'), "storage.s3.endpoint", "query"),
    ("endpoint-no-scheme", s3("endpoint: s3.example.com"), "storage.s3.endpoint", "https://"),
    ("endpoint-newline", s3('endpoint: "https://s3.example.com\\n"'), "storage.s3.endpoint", "line breaks"),
    ("root-relative", s3("root_directory: registry"), "storage.s3.root_directory", "starting with '/'"),
    # free text: the realm goes into an nginx annotation
    ("realm-quote", HOST + "auth: {mode: ingress, realm: 'Registry \"Realm\"'}\n", "auth.realm", "no quotes"),
    ("realm-newline", HOST + 'auth: {mode: ingress, realm: "a\\nb"}\n', "auth.realm", "line breaks"),
    ("realm-dollar", HOST + "auth: {mode: ingress, realm: '$(reboot)'}\n", "auth.realm", "not allowed"),
    ("realm-long", HOST + "auth: {mode: ingress, realm: " + "r" * 65 + "}\n", "auth.realm", "1 to 64"),
    ("realm-empty", HOST + "auth: {mode: ingress, realm: ''}\n", "auth.realm", "not allowed"),
    (
        "path-prefix",
        "version: 1\nexposure: {hosts: [r.example.com], path: /registry}\n",
        "exposure.path",
        "root of the host",
    ),
    (
        "path-newline",
        'version: 1\nexposure: {hosts: [r.example.com], path: "/\\nx"}\n',
        "exposure.path",
        "not supported",
    ),
    # wrong meaning: booleans, fractions and words where numbers belong
    ("read-timeout-yes", HOST + "uploads: {read_timeout: yes}\n", "uploads.read_timeout", "boolean"),
    ("read-timeout-unit", HOST + "uploads: {read_timeout: 1h}\n", "uploads.read_timeout", "whole number"),
    ("read-timeout-fraction", HOST + "uploads: {read_timeout: 1.5}\n", "uploads.read_timeout", "whole number"),
    ("send-timeout-huge", HOST + "uploads: {send_timeout: 86401}\n", "uploads.send_timeout", "less than or equal"),
    ("replicas-word", HOST + "extras: {replicas: two}\n", "extras.replicas", "whole number"),
    ("replicas-bool", HOST + "extras: {replicas: true}\n", "extras.replicas", "boolean"),
    ("bcrypt-word", HOST + "auth: {bcrypt_cost: high}\n", "auth.bcrypt_cost", "whole number"),
    ("cpu-lots", HOST + "extras: {resources: {cpu_request: lots}}\n", "extras.resources.cpu_request", "CPU amount"),
    (
        "cpu-negative",
        HOST + "extras: {resources: {cpu_limit: '-1'}}\n",
        "extras.resources.cpu_limit",
        "larger than zero",
    ),
    (
        "memory-space",
        HOST + "extras: {resources: {memory_limit: 1 Gi}}\n",
        "extras.resources.memory_limit",
        "memory amount",
    ),
    (
        "memory-fraction",
        HOST + "extras: {resources: {memory_request: '0.5'}}\n",
        "extras.resources.memory_request",
        "fraction of a byte",
    ),
    (
        "request-over-limit",
        HOST + "extras: {resources: {memory_request: 2Gi, memory_limit: 1Gi}}\n",
        "extras.resources",
        "more than memory_limit",
    ),
    (
        "size-inner-space",
        HOST + "storage: {filesystem: {size: 100 Gi}}\n",
        "storage.filesystem.size",
        "Kubernetes quantity",
    ),
    ("size-huge-exponent", HOST + "storage: {filesystem: {size: 1e400}}\n", "storage.filesystem.size", "out of range"),
    ("size-fraction", HOST + "storage: {filesystem: {size: '0.5'}}\n", "storage.filesystem.size", "fraction of a byte"),
    ("size-list", HOST + "storage: {filesystem: {size: [100Gi]}}\n", "storage.filesystem.size", "Kubernetes quantity"),
    ("body-gb", HOST + "uploads: {max_body_size: 10gb}\n", "uploads.max_body_size", "nginx size"),
    ("body-negative", HOST + "uploads: {max_body_size: '-1'}\n", "uploads.max_body_size", "nginx size"),
    ("body-bool", HOST + "uploads: {max_body_size: false}\n", "uploads.max_body_size", "nginx size"),
    # a real cron check (robfig/cron's standard grammar, which Kubernetes uses)
    ("cron-words", gc('"x x x x x"'), "extras.garbage_collect.schedule", "minute field"),
    ("cron-minute-61", gc('"61 * * * *"'), "extras.garbage_collect.schedule", "minute field"),
    ("cron-six-fields", gc('"0 * * * * *"'), "extras.garbage_collect.schedule", "five fields"),
    ("cron-weekday-7", gc('"0 1 * * 7"'), "extras.garbage_collect.schedule", "day of week"),
    ("cron-reboot", gc("'@reboot'"), "extras.garbage_collect.schedule", "descriptor"),
    ("cron-newline", gc('"0 1 * * *\\n"'), "extras.garbage_collect.schedule", "line breaks"),
    ("cron-step-0", gc('"*/0 * * * *"'), "extras.garbage_collect.schedule", "minute field"),
    ("cron-tz", gc('"CRON_TZ=UTC 0 1 * * *"'), "extras.garbage_collect.schedule", "time zone"),
    ("cron-backwards-range", gc('"0 5-1 * * *"'), "extras.garbage_collect.schedule", "hour field"),
    # image and chart fields that reach the pod spec or helm's command line
    ("tag-newline", HOST + 'extras: {image: {tag: "2.8.3\\n"}}\n', "extras.image.tag", "not an image tag"),
    ("tag-colon", HOST + "extras: {image: {tag: ':x'}}\n", "extras.image.tag", "not an image tag"),
    ("tag-number", HOST + "extras: {image: {tag: 2.8}}\n", "extras.image.tag", "quote it"),
    (
        "repository-upper",
        HOST + "extras: {image: {repository: Registry}}\n",
        "extras.image.repository",
        "not an image repository",
    ),
    (
        "repository-with-tag",
        HOST + "extras: {image: {repository: 'mirror.example.com/registry:2'}}\n",
        "extras.image.repository",
        "not an image repository",
    ),
    ("chart-name-option", HOST + "chart: {name: --post-renderer}\n", "chart.name", "not a chart name"),
    ("chart-path-option", HOST + "chart: {path: --post-renderer=/bin/sh}\n", "chart.path", "starts with '-'"),
    ("chart-repo-credentials", HOST + "chart: {repo: 'https://u:p@charts.example.com'}\n", "chart.repo", "credentials"),
    ("chart-repo-file", HOST + "chart: {repo: 'file:///etc'}\n", "chart.repo", "https://"),
    ("chart-version-space", HOST + "chart: {version: '3.0.0 --debug'}\n", "chart.version", "not a version"),
    ("chart-oci-option", HOST + "chart: {oci: 'oci://-x'}\n", "chart", "oci:// chart reference"),
    # the YAML loader's own failures are the installer's errors, with the line
    ("version-true", "version: true\nexposure: {hosts: [r.example.com]}\n", "version", "unsupported preset version"),
    ("yaml-two-documents", HOST + "---\nversion: 1\n", "", "one YAML document"),
    ("yaml-5000-digits", HOST + "extras: {replicas: " + "9" * 5000 + "}\n", "extras.replicas", "cannot be read as int"),
    ("yaml-int-abc", "version: !!int abc\n", "version", "cannot be read as int"),
    ("yaml-bool-maybe", HOST + "metrics: !!bool maybe\n", "metrics", "cannot be read as bool"),
    ("yaml-float-key", HOST + "? !!float x\n: 1\n", "", "plain names"),
    ("yaml-set", HOST + "extras: !!set {a}\n", "extras", "unsupported YAML value"),
    # files named by the preset: regular files only, bounded, text
    (
        "password-dev-zero",
        password_file("/dev/zero"),
        "auth.users.0.password",
        "a device",
    ),
    (
        "password-directory",
        password_file("{d}"),
        "auth.users.0.password",
        "is a directory",
    ),
    (
        "password-fifo",
        password_file("{d}/fifo"),
        "auth.users.0.password",
        "named pipe",
    ),
    (
        "password-nul",
        password_file("{d}/nul.txt"),
        "auth.users.0.password",
        "NUL byte",
    ),
    (
        "password-huge",
        password_file("{d}/huge.txt"),
        "auth.users.0.password",
        "at most 64 KiB",
    ),
    (
        "password-missing",
        password_file("{d}/none"),
        "auth.users.0.password",
        "does not exist",
    ),
    (
        "password-two-lines",
        password_file("{d}/two.txt"),
        "auth.users.0.password",
        "more than one line",
    ),
    (
        "s3-key-dev-urandom",
        s3("access_key: 'file:/dev/urandom', secret_key: generate"),
        "storage.s3.access_key",
        "a device",
    ),
    (
        "cert-dev-zero",
        tls("mode: files, cert_file: /dev/zero, key_file: '{d}/nul.txt'"),
        "exposure.tls.cert_file",
        "a device",
    ),
    (
        "cert-link-to-dev-zero",
        tls("mode: files, cert_file: '{d}/zero-link', key_file: '{d}/nul.txt'"),
        "exposure.tls.cert_file",
        "a device",
    ),
    (
        "key-directory",
        tls("mode: files, cert_file: '{d}/nul.txt', key_file: '{d}'"),
        "exposure.tls.key_file",
        "is a directory",
    ),
    # clients (issue 14): namespaces, the pull user, node trust's image and host paths, the pull address
    (
        "clients-namespace-upper",
        HOST + "clients: {namespaces: [Apps]}\n",
        "clients.namespaces",
        "not a valid namespace name",
    ),
    ("clients-namespace-twice", HOST + "clients: {namespaces: [apps, apps]}\n", "clients.namespaces", "twice"),
    ("clients-namespace-number", HOST + "clients: {namespaces: [12]}\n", "clients.namespaces", "text"),
    (
        "clients-pull-user-colon",
        HOST + "clients: {namespaces: [apps], pull_user: 'a:b'}\n",
        "clients.pull_user",
        "contains ':'",
    ),
    (
        "clients-pull-user-is-admin",
        HOST + "clients: {namespaces: [apps], pull_user: admin}\n",
        "clients.pull_user",
        "also in auth.users",
    ),
    (
        "clients-image-space",
        HOST + "clients: {node_trust_image: 'busy box'}\n",
        "clients.node_trust_image",
        "not an image reference",
    ),
    (
        "clients-certs-d-relative",
        HOST + "clients: {containerd_certs_d: etc/containerd}\n",
        "clients.containerd_certs_d",
        "absolute path",
    ),
    (
        "clients-certs-d-dotdot",
        HOST + "clients: {containerd_certs_d: /etc/../root}\n",
        "clients.containerd_certs_d",
        "'..'",
    ),
    ("clients-certs-d-etc", HOST + "clients: {docker_certs_d: /etc}\n", "clients.docker_certs_d", "absolute path"),
    (
        "clients-config-quote",
        HOST + "clients: {containerd_config: '/etc/c\"x'}\n",
        "clients.containerd_config",
        "quotes",
    ),
    (
        "clients-pull-address-port",
        HOST + "clients: {pull_address: 'r.example.com:99999'}\n",
        "clients.pull_address",
        "HOST[:PORT]",
    ),
    (
        "clients-pull-address-url",
        HOST + "clients: {pull_address: 'https://r.example.com'}\n",
        "clients.pull_address",
        "HOST[:PORT]",
    ),
    ("clients-node-trust-yes-text", HOST + "clients: {node_trust: maybe}\n", "clients.node_trust", "bool"),
    (
        "clients-node-trust-own-ca",
        "version: 1\nexposure: {hosts: [r.example.com], tls: {mode: none}}\nclients: {node_trust: true}\n",
        "clients.node_trust",
        "tls.mode self-signed",
    ),
    ("clients-unknown-key", HOST + "clients: {namespace: apps}\n", "clients.namespace", ""),
    # exposure.tls.ca_file: the CA that signed the registry's certificate (node trust for a private CA)
    (
        "ca-file-self-signed",
        tls("mode: self-signed, ca_file: /etc/ssl/ca.pem"),
        "exposure.tls.ca_file",
        "tls.mode is self-signed",
    ),
    ("ca-file-dev-zero", tls("mode: existing-secret, secret_name: reg-tls, ca_file: /dev/zero"), "ca_file", "a device"),
    (
        "ca-file-not-pem",
        tls("mode: cert-manager, issuer: corp, ca_file: '{d}/two.txt'"),
        "exposure.tls.ca_file",
        "holds no PEM certificate",
    ),
    (
        "node-trust-ca-unknown",
        tls("mode: cert-manager, issuer: corp") + "clients: {node_trust: true}\n",
        "clients.node_trust",
        "exposure.tls.ca_file",
    ),
]


def make_inputs(folder: Path) -> None:
    """The odd files the preset cases name: a FIFO, a NUL byte, 100 KiB, two lines, a link to /dev/zero."""
    os.mkfifo(folder / "fifo")
    (folder / "nul.txt").write_bytes(b"pass\x00word\n")
    (folder / "huge.txt").write_bytes(b"x" * 100_000)
    (folder / "two.txt").write_text("first\nsecond\n")
    (folder / "zero-link").symlink_to("/dev/zero")


@pytest.mark.parametrize("text,path,words", [c[1:] for c in PRESET_CASES], ids=[c[0] for c in PRESET_CASES])
def test_bad_preset_is_refused_by_render(tmp_path, capsys, monkeypatch, text, path, words):
    make_inputs(tmp_path)
    (tmp_path / "p.yaml").write_text(text.replace("{d}", str(tmp_path)))
    before = snapshot(tmp_path)
    code, output = run_in(tmp_path, ["render", "--preset", "p.yaml", "--out", "out"], capsys, monkeypatch)
    assert code == 1, output
    assert path in output, output
    assert words.lower() in output.lower(), output
    assert "Traceback" not in output
    assert snapshot(tmp_path) == before, "a refused render wrote or changed files"


def test_credentials_in_s3_endpoint_are_never_echoed(tmp_path, capsys, monkeypatch):
    (tmp_path / "p.yaml").write_text(s3('endpoint: "https://AKIDEXAMPLE:SECRETEXAMPLE@s3.example.com"'))
    code, output = run_in(tmp_path, ["render", "--preset", "p.yaml", "--out", "out"], capsys, monkeypatch)
    assert code == 1 and "SECRETEXAMPLE" not in output and "AKIDEXAMPLE" not in output


# -- inputs that render, normalised: each case's objects go to the real API server in test_render_dry_run.py
ACCEPTED_CASES = {
    "uppercase-host": (host("Registry.Example.COM"), lambda v: v["ingress"]["hosts"] == ["registry.example.com"]),
    "size-with-spaces": (
        HOST + "storage: {filesystem: {size: ' 100Gi '}}\n",
        lambda v: v["persistence"]["size"] == "100Gi",
    ),
    "number-size": (
        HOST + "storage: {filesystem: {size: 1073741824}}\n",
        lambda v: v["persistence"]["size"] == "1073741824",
    ),
    "email-user": (users("ci@example.com"), lambda v: True),
    "long-host-self-signed": (
        host("a" * 63 + ".registry-installer.example.com"),
        lambda v: len(v["ingress"]["hosts"][0]) > 64,
    ),
    # the schedule goes to the installer's CronJob (objects.yaml), never to the chart's garbageCollect
    "cron-names": (
        gc('"0 3 * jan-jun mon-fri"'),
        lambda v: "garbageCollect" not in v and _cron_schedule(v) == "0 3 * jan-jun mon-fri",
    ),
    "cron-descriptor": (gc("'@weekly'"), lambda v: "garbageCollect" not in v and _cron_schedule(v) == "@weekly"),
    "milli-cpu": (
        HOST + "extras: {resources: {cpu_request: 250m, cpu_limit: '2', memory_request: 256Mi, memory_limit: 1Gi}}\n",
        lambda v: v["resources"]["requests"]["cpu"] == "250m",
    ),
    "quoted-timeout": (
        HOST + "uploads: {read_timeout: '600'}\n",
        lambda v: v["ingress"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "600",
    ),
    "ingress-realm": (
        HOST + "auth: {mode: ingress, realm: 'Registry (lab) - ok'}\n",
        lambda v: v["ingress"]["annotations"]["nginx.ingress.kubernetes.io/auth-realm"] == "Registry (lab) - ok",
    ),
    "s3-letters-bucket": (
        HOST
        + "storage: {kind: s3, s3: {bucket: images-2024, region: us-east-1, endpoint: 'https://s3.example.com:9000'}}\n",
        lambda v: v["s3"]["bucket"] == "images-2024",
    ),
    "digits-bucket": (
        HOST + "storage: {kind: s3, s3: {bucket: '12345', region: '1'}}\n",
        lambda v: v["s3"]["bucket"] == '"12345"',
    ),
    "release-with-chart-name": (
        HOST + "target: {release: docker-registry-lab}\nextras: {garbage_collect: {enabled: true}}\n",
        lambda v: True,
    ),
}


def _cron_schedule(values: dict) -> str | None:
    cronjob = next((o for o in values["_objects"] if o["kind"] == "CronJob"), None)
    return cronjob["spec"]["schedule"] if cronjob else None


@pytest.mark.parametrize("case", sorted(ACCEPTED_CASES))
def test_accepted_inputs_render_normalised(tmp_path, capsys, monkeypatch, case):
    import yaml

    text, check = ACCEPTED_CASES[case]
    (tmp_path / "p.yaml").write_text(text)
    code, output = run_in(tmp_path, ["render", "--preset", "p.yaml", "--out", "out"], capsys, monkeypatch)
    assert code == 0, output
    values = yaml.safe_load((tmp_path / "out" / "values.yaml").read_text())
    objects = tmp_path / "out" / "objects.yaml"
    # the installer's own objects (a CronJob, an HTTPRoute) ride along under a key the chart has not
    values["_objects"] = [o for o in yaml.safe_load_all(objects.read_text()) if o] if objects.exists() else []
    assert check(values), values


# -- the files render writes: no links followed, no input overwritten, --out must be a folder ------------


def _render_first(folder: Path, capsys, monkeypatch) -> None:
    (folder / "p.yaml").write_text(HOST)
    code, output = run_in(folder, ["render", "--preset", "p.yaml", "--out", "out"], capsys, monkeypatch)
    assert code == 0, output


def setup_preset_in_out(folder: Path, capsys, monkeypatch) -> list[str]:
    _render_first(folder, capsys, monkeypatch)
    (folder / "out" / "values.yaml").write_text(HOST)  # the user keeps the preset in the output folder
    return ["render", "--preset", "out/values.yaml", "--out", "out"]


def setup_link_at_secrets(folder: Path, capsys, monkeypatch) -> list[str]:
    _render_first(folder, capsys, monkeypatch)
    (folder / "victim").write_text("do not overwrite\n")
    (folder / "out" / "secrets.yaml").unlink()
    (folder / "out" / "secrets.yaml").symlink_to(folder / "victim")
    return ["render", "--preset", "p.yaml", "--out", "out"]


def setup_dangling_link(folder: Path, capsys, monkeypatch) -> list[str]:
    (folder / "p.yaml").write_text(HOST)
    (folder / "out").mkdir()
    (folder / "out" / "secret-values.yaml").symlink_to(folder / "created-through-link")
    return ["render", "--preset", "p.yaml", "--out", "out"]


def setup_out_is_file(folder: Path, capsys, monkeypatch) -> list[str]:
    (folder / "p.yaml").write_text(HOST)
    return ["render", "--preset", "p.yaml", "--out", "p.yaml"]


def setup_out_under_file(folder: Path, capsys, monkeypatch) -> list[str]:
    (folder / "p.yaml").write_text(HOST)
    return ["render", "--preset", "p.yaml", "--out", "p.yaml/out"]


def setup_preset_fifo(folder: Path, capsys, monkeypatch) -> list[str]:
    os.mkfifo(folder / "fifo.yaml")
    return ["render", "--preset", "fifo.yaml", "--out", "out"]


def setup_preset_dev_zero(folder: Path, capsys, monkeypatch) -> list[str]:
    return ["render", "--preset", "/dev/zero", "--out", "out"]


def setup_state_dev_zero(folder: Path, capsys, monkeypatch) -> list[str]:
    (folder / "p.yaml").write_text(HOST)
    return ["render", "--preset", "p.yaml", "--out", "out", "--state", "/dev/zero"]


def setup_state_not_ours(folder: Path, capsys, monkeypatch) -> list[str]:
    (folder / "p.yaml").write_text(HOST)
    (folder / "state.yaml").write_text("just: a mapping\n")
    return ["render", "--preset", "p.yaml", "--out", "out", "--state", "state.yaml"]


def setup_state_is_preset(folder: Path, capsys, monkeypatch) -> list[str]:
    (folder / "p.yaml").write_text(HOST)
    return ["render", "--preset", "p.yaml", "--out", "out", "--state", "p.yaml"]


def setup_previous_render_corrupt(folder: Path, capsys, monkeypatch) -> list[str]:
    _render_first(folder, capsys, monkeypatch)
    (folder / "out" / "secrets.yaml").write_text("data: [unclosed\n")
    return ["render", "--preset", "p.yaml", "--out", "out"]


def setup_schema_link(folder: Path, capsys, monkeypatch) -> list[str]:
    (folder / "victim").write_text("keep\n")
    (folder / "schema.json").symlink_to(folder / "victim")
    return ["schema", "--out", "schema.json"]


FILE_CASES = [
    # (setup, exit code, words)
    (setup_preset_in_out, 1, "input files"),
    (setup_link_at_secrets, 1, "symbolic link"),
    (setup_dangling_link, 1, "symbolic link"),
    (setup_out_is_file, 1, "not a folder"),
    (setup_out_under_file, 1, "part of the path is a file"),
    (setup_preset_fifo, 1, "named pipe"),
    (setup_preset_dev_zero, 1, "a device"),
    (setup_state_dev_zero, 1, "--state"),
    (setup_state_not_ours, 1, "--state"),
    (setup_state_is_preset, 1, "--state"),
    (setup_previous_render_corrupt, 1, "--out"),
    (setup_schema_link, 1, "symbolic link"),
]


@pytest.mark.parametrize("setup,code,words", FILE_CASES, ids=[c[0].__name__.removeprefix("setup_") for c in FILE_CASES])
def test_unsafe_files_are_refused_and_nothing_is_written(tmp_path, capsys, monkeypatch, setup, code, words):
    argv = setup(tmp_path, capsys, monkeypatch)
    before = snapshot(tmp_path)
    got, output = run_in(tmp_path, argv, capsys, monkeypatch)
    assert got == code, output
    assert words in output, output
    assert "Traceback" not in output
    assert snapshot(tmp_path) == before, "a refused command wrote or changed files"
    assert not (tmp_path / "created-through-link").exists()


# -- command line flags and kubeconfigs ---------------------------------------------------------------


def kubeconfig_files(folder: Path) -> dict[str, Path]:
    (folder / "list.kubeconfig").write_text("- a\n- b\n")
    (folder / "broken.kubeconfig").write_text("clusters: [\n")
    (folder / "binary.kubeconfig").write_bytes(bytes(range(256)) * 4)
    (folder / "bad-ca.kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', "
        "certificate-authority-data: '!!not base64'}\ncontexts:\n- name: c\n  context: {cluster: c, user: "
        "u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n"
    )
    (folder / "bad-entry.kubeconfig").write_text("apiVersion: v1\nclusters: [oops]\n")
    (folder / "ca-device.kubeconfig").write_text(
        "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', certificate-authority: /dev/zero}\n"
    )
    (folder / "missing-cert.kubeconfig").write_text(
        "users:\n- name: u\n  user: {client-certificate: nowhere.crt, client-key: nowhere.key}\n"
    )
    (folder / "kube-dir").mkdir()
    names = ("list", "broken", "binary", "bad-ca", "bad-entry", "ca-device", "missing-cert")
    return {name: folder / f"{name}.kubeconfig" for name in names} | {"dir": folder / "kube-dir"}


KUBECONFIG_WORDS = {
    "list": "is a YAML list",
    "broken": "not valid YAML",
    "binary": "not UTF-8",
    "bad-ca": "not base64",
    "bad-entry": "no name",
    "dir": "is a directory",
    "ca-device": "/dev/zero is a device",
    "missing-cert": "does not exist",
}
KUBECONFIG_COMMANDS = {
    "probe": ["probe"],
    "uninstall": ["uninstall", "--yes"],
    "ca": ["ca"],
    "apply": ["apply", "--preset", str(PRESETS / "minimal.yaml"), "--dry-run"],
}


@pytest.mark.parametrize("command", sorted(KUBECONFIG_COMMANDS))
@pytest.mark.parametrize("problem", sorted(KUBECONFIG_WORDS))
def test_malformed_kubeconfig_is_named(tmp_path, capsys, monkeypatch, command, problem):
    files = kubeconfig_files(tmp_path)
    before = snapshot(tmp_path)
    code, output = run_in(
        tmp_path, [*KUBECONFIG_COMMANDS[command], "--kubeconfig", str(files[problem])], capsys, monkeypatch
    )
    assert code == 1, output
    assert str(files[problem]) in output and KUBECONFIG_WORDS[problem] in output, output
    assert snapshot(tmp_path) == before


MINIMAL = str(PRESETS / "minimal.yaml")
CLI_CASES = [
    # (argv, exit code, words in the output: the flag or setting named)
    (["apply", "--preset", MINIMAL, "--timeout", "ten minutes"], 2, "--timeout"),
    (["apply", "--preset", MINIMAL, "--timeout", "10m\n"], 2, "--timeout"),
    (["apply", "--preset", MINIMAL, "--timeout", "inf"], 2, "--timeout"),
    (["apply", "--preset", MINIMAL, "--chart", "/no/such/chart"], 2, "--chart"),
    (["apply", "--preset", MINIMAL, "--smoke-address", "https://r.example.com/v2"], 2, "--smoke-address"),
    (["apply", "--preset", MINIMAL, "--smoke-address", "r.example.com:0"], 2, "--smoke-address"),
    (["apply", "--preset", MINIMAL, "--smoke-address", "r.example.com:99999"], 2, "--smoke-address"),
    (["apply", "--preset", MINIMAL, "--smoke-address", "r.example.com\n"], 2, "--smoke-address"),
    (["apply", "--preset", MINIMAL, "--smoke-address", "admin:hunter2@r.example.com:443"], 2, "--smoke-address"),
    (["apply", "--preset", MINIMAL, "--namespace", "Bad_NS", "--kubeconfig", "/nonexistent"], 1, "target.namespace"),
    (["apply", "--preset", MINIMAL, "--namespace", "ns\n", "--kubeconfig", "/nonexistent"], 1, "target.namespace"),
    (["apply", "--preset", MINIMAL, "--release", "x" * 70, "--kubeconfig", "/nonexistent"], 1, "target.release"),
    (["apply", "--preset", MINIMAL, "--release", "x" * 54, "--kubeconfig", "/nonexistent"], 1, "target.release"),
    (["apply", "--preset", str(ROOT / "presets")], 1, "is a directory"),
    (["render", "--preset", MINIMAL, "--chart=-evil", "--out", "out"], 2, "--chart"),
    (["uninstall", "--keep-data", "--delete-data"], 2, "contradict"),
    (["probe", "--kubeconfig", "/nonexistent/kubeconfig"], 1, "no kubeconfig at /nonexistent/kubeconfig"),
    (["probe", "--namespace", "Bad\n"], 2, "--namespace"),
    (["probe", "--release", "r" * 54], 2, "--release"),
    (["uninstall", "--yes", "--release", "-x"], 2, "--release"),
    (["ca", "--namespace", ""], 2, "--namespace"),
    (["probe", "--context", "-x"], 2, "--context"),
    (["smoke", "--registry", "admin:hunter2@r.example.com"], 2, "--registry"),
    (["smoke", "--registry", "https://admin:hunter2@r.example.com"], 2, "--registry"),
    (["smoke", "--registry", "r.example.com:99999"], 2, "--registry"),
    (["smoke", "--registry", "r.example.com:0"], 2, "--registry"),
    (["smoke", "--registry", "r.example.com/some/path"], 2, "--registry"),
    (["smoke", "--registry", "r_x.example.com"], 2, "--registry"),
    (["smoke", "--registry", "r.example.com", "--timeout", "nan"], 2, "--timeout"),
    (["smoke", "--registry", "r.example.com", "--timeout", "inf"], 2, "--timeout"),
    (["smoke", "--registry", "r.example.com", "--timeout", "-5"], 2, "--timeout"),
    (["smoke", "--registry", "r.example.com", "--repository", "Upper/Case"], 2, "--repository"),
    (["smoke", "--registry", "r.example.com", "--repository", ""], 2, "--repository"),
    (["smoke", "--registry", "r.example.com", "--repository", "a//b"], 2, "--repository"),
    (["smoke", "--registry", "r.example.com", "--tag", "bad:tag"], 2, "--tag"),
    (["smoke", "--registry", "r.example.com", "--tag", "-x"], 2, "--tag"),
    (["smoke", "--registry", "r.example.com", "--tag", "t" * 129], 2, "--tag"),
    (["smoke", "--registry", "r.example.com", "--ca-file", "/dev/zero"], 2, "--ca-file"),
    (["smoke", "--registry", "r.example.com", "--ca-file", "/"], 2, "--ca-file"),
    (["smoke"], 2, "--registry"),
    (["smoke", "--registry", "r.example.com", "--username", "ad:min", "--password-env", "PW"], 2, "--username"),
    (["smoke", "--registry", "r.example.com", "--username", "admin", "--password-env", "PW;rm"], 2, "--password-env"),
]


@pytest.mark.parametrize("argv,code,words", CLI_CASES, ids=[f"cli{i}-{c[0][0]}" for i, c in enumerate(CLI_CASES)])
def test_bad_cli_flags(tmp_path, capsys, monkeypatch, argv, code, words):
    before = snapshot(tmp_path)
    try:
        got, output = run_in(tmp_path, argv, capsys, monkeypatch)
    except SystemExit as exc:  # argparse's own usage errors
        got, output = exc.code, capsys.readouterr().err
    assert got == code, output
    assert words in output, output
    assert "Traceback" not in output and "hunter2" not in output
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "argv,env,code,words",
    [
        (["render", "--preset", "{d}/p.yaml", "--out", "{d}/out"], {}, 1, "auth.users.0.name"),
        (["smoke", "--registry", "r.example.com", "--timeout", "inf"], {}, 2, "--timeout"),
        (["probe", "--kubeconfig", "{d}/binary.kubeconfig"], {}, 1, "not UTF-8"),
        (["probe"], {"KUBECONFIG": "/missing:{d}/list.kubeconfig"}, 1, "list.kubeconfig"),
    ],
    ids=["preset", "smoke-timeout", "kubeconfig", "kubeconfig-list"],
)
def test_as_a_real_process_no_traceback(tmp_path, argv, env, code, words):
    kubeconfig_files(tmp_path)
    (tmp_path / "p.yaml").write_text(users('"admin\\n"'))
    proc = run_cli(
        *[a.replace("{d}", str(tmp_path)) for a in argv],
        env={k: v.replace("{d}", str(tmp_path)) for k, v in env.items()},
    )
    assert proc.returncode == code, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


FIELD_CASES = [
    # (wizard section model, field values, path named, words) — the validators the wizard fields use
    (Exposure, {"hosts": ["registry.example.com:5000"]}, "hosts", "no scheme, port or path"),
    (Exposure, {"hosts": ["-bad.example.com"]}, "hosts", "not a valid hostname"),
    (Exposure, {"hosts": ["a" * 64 + ".example.com"]}, "hosts", "not a valid hostname"),
    (Exposure, {"hosts": ["r.example.com", "r.example.com"]}, "hosts", "listed twice"),
    (Exposure, {"hosts": ["192.168.1.10"]}, "hosts", "IP address"),
    (Exposure, {"hosts": ["r.example.com"], "path": "v2"}, "path", "served at path"),
    (FilesystemStorage, {"size": "-1Gi"}, "size", "larger than zero"),
    (FilesystemStorage, {"size": "1.5.2Gi"}, "size", "not a size"),
    (FilesystemStorage, {"size": True}, "size", "Kubernetes quantity"),
    (FilesystemStorage, {"access_mode": "ReadOnlyMany"}, "access_mode", "ReadWriteOnce"),
    (Uploads, {"max_body_size": "1 GB"}, "max_body_size", "nginx size"),
    (Uploads, {"read_timeout": 0}, "read_timeout", "greater than or equal to 1"),
    (Uploads, {"read_timeout": "12s"}, "read_timeout", "whole number"),
    (User, {"name": "has space"}, "name", "invalid"),
    (User, {"name": ""}, "name", "invalid"),
    (Auth, {"users": [], "mode": "registry"}, "", "at least one user"),
    (Auth, {"bcrypt_cost": 31}, "bcrypt_cost", "less than or equal to 14"),
    (Auth, {"realm": "Realm\r\nX-Injected: 1"}, "realm", "not allowed"),
    (Resources, {"cpu_request": "2", "cpu_limit": "500m"}, "", "more than cpu_limit"),
]


@pytest.mark.parametrize("model,data,path,words", FIELD_CASES, ids=[f"field{i}" for i in range(len(FIELD_CASES))])
def test_bad_wizard_fields(model, data, path, words):
    with pytest.raises(Invalid) as info:
        model.parse(data, literal_secrets=True)
    problems = problems_from_validation(info.value)
    assert any(p.path.startswith(path) for p in problems)
    assert words in " ".join(p.message for p in problems)


def test_catalogue_is_big_enough():
    kubeconfig_cases = len(KUBECONFIG_WORDS) * len(KUBECONFIG_COMMANDS)
    total = (
        len(BAD_PRESETS) + len(PRESET_CASES) + len(FILE_CASES) + len(CLI_CASES) + len(FIELD_CASES) + kubeconfig_cases
    )
    assert total >= 200, total


def test_user_names_become_valid_distinct_secret_keys():
    names = ["admin", "ci@example.com", "ci.example.com", "a_b", "a-b", "A", "a", "x" * 64]
    keys = [checks.secret_key_for_user(n) for n in names]
    assert len(set(keys)) == len(keys)
    for name, key in zip(names, keys):
        assert re.fullmatch(r"[-._a-zA-Z0-9]+", key) and len(key) <= 253
        assert checks.user_from_secret_key(key) == name


# -- properties: arbitrary text never yields exit 0 with an invalid object ------------------------------

yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "version",
                    "exposure",
                    "hosts",
                    "auth",
                    "users",
                    "name",
                    "password",
                    "storage",
                    "kind",
                    "s3",
                    "tls",
                    "mode",
                    "size",
                    "x",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), yaml_values))
def test_arbitrary_input_only_raises_validation_failed(data):
    import yaml

    if not isinstance(data, (bytes, str)):
        data = yaml.safe_dump(data)
    try:
        parse_preset(data)
    except ValidationFailed as exc:
        assert exc.problems and all(p.message for p in exc.problems)


# Independent oracles, written from Kubernetes' and htpasswd's rules (not from installer.checks)
K8S_SUBDOMAIN = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
K8S_QUANTITY = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?\Z")
SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+\Z")
hostish = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"\A[A-Za-z0-9.\-:_*\[\] \n]{1,70}\Z"),
    st.builds(lambda a, b: f"{a}.{b}", st.text(min_size=1, max_size=64), st.sampled_from(["com", "1", "", "io\n"])),
)


def _valid_ingress_host(h: str) -> bool:
    labels = h.split(".")
    try:
        import ipaddress

        ipaddress.ip_address(h)
        return False
    except ValueError:
        pass
    import yaml

    stays_text = isinstance(yaml.safe_load(h), str) and h not in (
        "y",
        "n",
    )  # the chart writes `host: {{ $host }}` unquoted
    return (
        bool(K8S_SUBDOMAIN.match(h))
        and all(len(label) <= 63 for label in labels)
        and not labels[-1].isdigit()
        and stays_text
    )


@settings(max_examples=400, deadline=None)
@given(hostish)
def test_any_accepted_hostname_is_a_valid_ingress_host(text):
    try:
        exposure = Exposure.parse({"hosts": [text]})
    except Invalid:
        return
    accepted = exposure.hosts[0]
    assert accepted == text.lower() and _valid_ingress_host(accepted), repr(text)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=70), st.from_regex(r"\A[A-Za-z0-9@._:\- \n]{1,70}\Z")))
def test_any_accepted_user_name_is_one_htpasswd_line_and_a_valid_secret_key(text):
    from installer.htpasswd import parse_htpasswd

    try:
        user = User.parse({"name": text})
    except Invalid:
        return
    assert not re.search(r"[:\s\x00-\x1f\x7f]", user.name), repr(text)
    assert parse_htpasswd(f"{user.name}:$2y$04$x\n") == {user.name: "$2y$04$x"}
    assert SECRET_KEY.match(checks.secret_key_for_user(user.name))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.from_regex(r"\A[A-Za-z0-9 \"'\\$;{}\n.-]{1,70}\Z")))
def test_any_accepted_realm_is_a_safe_annotation_value(text):
    try:
        auth = Auth.parse({"mode": "ingress", "realm": text})
    except Invalid:
        return
    assert auth.realm.isascii() and auth.realm.isprintable() and len(auth.realm) <= 64, repr(text)
    assert not set(auth.realm) & set("\"'\\$;{}`"), repr(text)
    assert auth.realm == auth.realm.strip()


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=20), st.from_regex(r"\A[0-9.+\-eE ]{1,8}(Ki|Mi|Gi|m|k|M|G|E|e3|)\Z"), st.integers()))
def test_any_accepted_quantity_is_a_kubernetes_quantity(text):
    try:
        fs = FilesystemStorage.parse({"size": text})
        resources = Resources.parse({"cpu_request": text})
    except Invalid:
        return
    for value in (fs.size, resources.cpu_request):
        assert K8S_QUANTITY.match(value) and not value.startswith("-"), repr(text)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    host=hostish,
    user=st.text(max_size=20),
    realm=st.text(max_size=20),
    size=st.text(max_size=10),
    name=st.one_of(
        st.text(max_size=12),
        st.from_regex(r"\A[a-z0-9.\-]{1,12}\Z"),
        st.sampled_from(["yes", "1e3", "0o7", "on", "null"]),
    ),
)
def test_arbitrary_text_never_renders_an_invalid_object(host, user, realm, size, name):
    """Whatever lands in a preset, either the model refuses it or every object render makes is valid."""
    import yaml

    from installer.plan import build_plan
    from installer.render import render

    data = {
        "version": 1,
        "exposure": {"hosts": [host], "ingress_class": name},
        "target": {"namespace": name, "release": name},
        "auth": {"mode": "ingress", "realm": realm, "bcrypt_cost": 4, "users": [{"name": user}]},
        "storage": {"filesystem": {"size": size}},
    }
    try:
        choices = Choices.parse(data)
    except Invalid:
        return
    rendered = render(build_plan(choices))
    values = rendered.values
    assert all(_valid_ingress_host(h) for h in values["ingress"]["hosts"])
    assert K8S_QUANTITY.match(values["persistence"]["size"])
    for secret in rendered.secrets:
        assert K8S_SUBDOMAIN.match(secret["metadata"]["name"])
        assert all(SECRET_KEY.match(key) for key in secret["data"])
    for value in values["ingress"]["annotations"].values():
        assert isinstance(value, str) and "\n" not in value and '"' not in value
    # written unquoted by the chart: must stay text (PyYAML here; go-yaml's extra words and Go number forms too)
    for bare in (values["ingress"]["className"], choices.target.namespace, choices.target.release):
        assert (
            isinstance(yaml.safe_load(bare), str)
            and bare not in ("y", "n")
            and bare[:2].lower() not in ("0o", "0x", "0b")
        )
        assert K8S_SUBDOMAIN.match(bare) and len(bare) <= 63

"""Preset loading: the shipped presets load, broken ones are refused with the key, line and fix."""

from __future__ import annotations

import json

import pytest
import yaml

from installer.errors import ValidationFailed
from installer.preset import _Composer, dump_preset, load_preset, parse_preset, preset_schema, schema_text
from tests.conftest import PRESETS


@pytest.mark.parametrize("name", ["rook-ceph-nginx.yaml", "minimal.yaml", "s3-ha.yaml"])
def test_shipped_presets_load(name):
    choices = load_preset(PRESETS / name)
    assert choices.version == 1
    assert choices.exposure.hosts == ["registry.example.com"]


def test_seed_preset_is_the_seed_deployment():
    c = load_preset(PRESETS / "rook-ceph-nginx.yaml")
    assert c.exposure.ingress_class == "nginx"
    assert (c.exposure.tls.mode, c.exposure.tls.secret_name) == ("existing-secret", "registry-tls")
    assert c.auth.mode == "ingress"
    assert [(u.name, u.password.kind, u.password.ref) for u in c.auth.users] == [("admin", "env", "REGISTRY_PASSWORD")]
    fs = c.storage.filesystem
    assert (c.storage.kind, fs.storage_class, fs.size, fs.access_mode) == (
        "filesystem",
        "rook-ceph-block",
        "100Gi",
        "ReadWriteOnce",
    )
    assert c.uploads.max_body_size == "0"


def test_committed_schema_matches_the_model():
    committed = (PRESETS / "schema.json").read_text()
    assert committed == schema_text(), (
        "presets/schema.json drifted from the model: run `registry-installer schema --out presets/schema.json`"
    )
    assert json.loads(committed)["properties"]["version"]["const"] == 1


def test_schema_forbids_unknown_keys_everywhere():
    schema = preset_schema()
    for name, definition in schema["$defs"].items():
        if definition.get("type") == "object":
            assert definition.get("additionalProperties") is False, name


def test_dump_preset_round_trips_and_holds_references_only():
    choices = load_preset(PRESETS / "rook-ceph-nginx.yaml")
    text = dump_preset(choices)
    assert "env:REGISTRY_PASSWORD" in text
    assert parse_preset(text.encode()) == choices


BAD_PRESETS = [
    # (preset text, key path named, words the message must contain)
    (b"", "", "empty"),
    (b"- a\n- b\n", "", "mapping"),
    (b"just text\n", "", "mapping"),
    (b"version: 2\nexposure: {hosts: [a.example.com]}\n", "version", "version 2"),
    (b"exposure: {hosts: [a.example.com]}\n", "version", "version: 1"),
    (b"version: 1\nexposure:\n  hosts: [Registry_Example]\n", "exposure.hosts", "not a valid hostname"),
    (b"version: 1\nexposure:\n  hosts: ['https://registry.example.com']\n", "exposure.hosts", "no scheme"),
    (b"version: 1\nexposure:\n  hosts: []\n", "exposure.hosts", "at least 1"),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\nstorage:\n  filesystem:\n    size: 100GB\n",
        "storage.filesystem.size",
        "Kubernetes quantity",
    ),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\nstorage:\n  filesystem:\n    size: 0Gi\n",
        "storage.filesystem.size",
        "larger than zero",
    ),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\nstorage:\n  filesystem:\n    accessModes: [ReadWriteOnce]\n",
        "storage.filesystem.accessModes",
        "unknown key",
    ),
    (
        b"version: 1\nexposure: {hosts: [a.example.com], ingressClassName: nginx}\n",
        "exposure.ingressClassName",
        "unknown key",
    ),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\n"
        b"auth:\n  users:\n    - name: admin\n      password: hunter2\n",
        "auth.users.0.password",
        "env:VAR_NAME",
    ),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\nauth:\n  users:\n    - name: 'ad:min'\n",
        "auth.users.0.name",
        "invalid",
    ),
    (b"version: 1\nexposure: {hosts: [a.example.com]}\nauth:\n  users: [{name: a}, {name: a}]\n", "auth", "unique"),
    (b"version: 1\nexposure: {hosts: [a.example.com]}\nauth: {mode: ldap}\n", "auth.mode", "registry"),
    (b"version: 1\nexposure: {hosts: [a.example.com]}\nextras: {replicas: 2}\n", "", "ReadWriteMany"),
    (b"version: 1\nexposure: {hosts: [a.example.com]}\nstorage: {kind: s3}\n", "storage", "storage.s3 section"),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\nstorage: {kind: s3, s3: {bucket: b}}\n",
        "storage.s3",
        "s3.region",
    ),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\nstorage: {kind: s3, s3: {bucket: b, region: r, access_key: "
        b"env:A}}\n",
        "storage.s3",
        "both",
    ),
    (
        b"version: 1\nexposure:\n  hosts: [a.example.com]\n  tls: {mode: files, cert_file: /x.pem}\n",
        "exposure.tls",
        "key_file",
    ),
    (
        b"version: 1\nexposure:\n  hosts: [a.example.com]\n  tls: {mode: existing-secret}\n",
        "exposure.tls",
        "secret_name",
    ),
    (b"version: 1\nexposure:\n  hosts: [a.example.com]\n  tls: {mode: cert-manager}\n", "exposure.tls", "issuer"),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\nuploads: {max_body_size: lots}\n",
        "uploads.max_body_size",
        "unlimited",
    ),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\nuploads: {read_timeout: -1}\n",
        "uploads.read_timeout",
        "greater than",
    ),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\ntarget: {namespace: Docker_Registry}\n",
        "target.namespace",
        "not a valid name",
    ),
    (b"version: 1\nexposure: {hosts: [a.example.com]\n", "", "not valid YAML"),
    (b"version: 1\n\xff\xfe bad bytes\n", "", "UTF-8"),
    (b"version: 1\nbase: &b {hosts: [a.example.com]}\nexposure: *b\n", "", "anchors"),
    (b"version: 1\nexposure: {hosts: [a.example.com]}\nexposure: {hosts: [b.example.com]}\n", "exposure", "twice"),
    (b"version: 1\n" + b"x: " + b"[" * 40 + b"]" * 40 + b"\n", "", "deeper"),
    (b"version: 1\nexposure: {hosts: [a.example.com]}\n# " + b"x" * 300_000 + b"\n", "", "larger"),
    (
        b"version: 1\nexposure: {hosts: [a.example.com]}\n"
        b"extras: {garbage_collect: {enabled: true, schedule: daily}}\n",
        "extras.garbage_collect.schedule",
        "cron",
    ),
    (b"version: 1\nexposure: !!python/object:os.system {hosts: [a.example.com]}\n", "", "unsupported YAML value"),
    (b"=\n", "", "unsupported YAML value"),
]


@pytest.mark.parametrize("text,path,words", BAD_PRESETS, ids=[f"bad{i}" for i in range(len(BAD_PRESETS))])
def test_bad_preset_is_refused_with_path_and_fix(text, path, words):
    with pytest.raises(ValidationFailed) as info:
        parse_preset(text, "preset test.yaml")
    problems = info.value.problems
    assert any(p.path == path or p.path.startswith(path) for p in problems), [str(p) for p in problems]
    message = str(info.value)
    assert words.lower() in message.lower(), message
    assert "Traceback" not in message


def test_line_numbers_point_at_the_bad_key():
    text = b"version: 1\nexposure:\n  hosts: [a.example.com]\nstorage:\n  filesystem:\n    size: lots\n"
    with pytest.raises(ValidationFailed) as info:
        parse_preset(text)
    assert info.value.problems[0].line == 6


def test_missing_file_and_directory_are_clear(tmp_path):
    with pytest.raises(ValidationFailed, match="does not exist"):
        load_preset(tmp_path / "nope.yaml")
    with pytest.raises(ValidationFailed, match="is a directory"):
        load_preset(tmp_path)


@pytest.mark.parametrize(
    "text,path,starts",
    [
        (b"version: 1\nexposure: {hosts: [a.example.com]}\nextras: {replicas: 2}\n", "extras.replicas", "2 replicas"),
        (
            b"version: 1\nexposure: {hosts: [a.example.com]}\nauth: {users: [{name: puller}]}\n"
            b"clients: {namespaces: [apps]}\n",
            "clients.pull_user",
            "'puller' is also in auth.users",
        ),
    ],
    ids=["replicas-rwo", "pull-user-in-users"],
)
def test_a_check_across_settings_names_its_setting_once(text, path, starts):
    """A check across sections is reported at the setting it is about, and the line says that setting once."""
    with pytest.raises(ValidationFailed) as info:
        parse_preset(text, "preset test.yaml")
    (problem,) = info.value.problems
    assert problem.path == path and problem.line == text.count(b"\n", 0, text.index(path.split(".")[0].encode())) + 1
    assert problem.message.startswith(starts), str(problem)
    assert str(problem).count(path) == 1, str(problem)


def _nodes(node):
    """A composed YAML node as plain data: kind, tag, value and start line, recursively."""
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style, node.start_mark.line)
    items = [(_nodes(k), _nodes(v)) for k, v in node.value] if isinstance(node, yaml.MappingNode) else None
    items = items if items is not None else [_nodes(item) for item in node.value]
    return (type(node).__name__, node.tag, node.start_mark.line, node.flow_style, items)


@pytest.mark.parametrize(
    "text",
    [
        *(path.read_text() for path in sorted(PRESETS.glob("*.yaml"))),
        "version: 1\nexposure: {hosts: [a.example.com], tls: {mode: files}}\nextras: !!map {replicas: 2}\n",
        "- 1\n- [a, {b: c}]\n- ''\n- |\n  text\n",
        "",
    ],
    ids=lambda text: text.splitlines()[0][:30] if text else "empty",
)
def test_preset_nodes_are_composed_from_the_checked_events_as_pyyaml_composes_them(text):
    """The preset is parsed once: its nodes come from the events the anchor/depth checks read, and are the nodes
    yaml.compose makes from the text (tags, values, styles, lines); a second document is the same composer error."""
    events = list(yaml.parse(text, Loader=yaml.SafeLoader))
    composed = _Composer(events).get_single_node()
    expected = yaml.compose(text, Loader=yaml.SafeLoader)
    assert (_nodes(composed) if composed else None) == (_nodes(expected) if expected else None)
    two = text + "\n---\nversion: 1\n---\nversion: 1\n"  # at least two documents, also after an empty text
    with pytest.raises(yaml.composer.ComposerError) as ours:
        _Composer(list(yaml.parse(two, Loader=yaml.SafeLoader))).get_single_node()
    with pytest.raises(yaml.composer.ComposerError) as pyyaml:
        yaml.compose(two, Loader=yaml.SafeLoader)
    assert str(ours.value) == str(pyyaml.value)


def test_a_preset_is_parsed_once(monkeypatch):
    """yaml.compose (a second parse of the text) is not used: a preset loads with it broken."""

    def second_parse(*_args, **_kwargs):
        raise AssertionError("the preset text was parsed a second time")

    monkeypatch.setattr(yaml, "compose", second_parse)
    assert load_preset(PRESETS / "rook-ceph-nginx.yaml").exposure.ingress_class == "nginx"

"""Pull credentials, node trust manifests, per-node verdicts and pull-error diagnoses (issue 14), without a cluster."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from installer import clients as cl
from installer.checks import secret_key_for_user
from installer.htpasswd import matches, parse_htpasswd
from installer.model import Choices
from installer.plan import ExistingState, build_plan
from installer.render import render
from installer.secretstr import SecretStr

HOST = "registry.example.com"


def _choices(**clients) -> Choices:
    return Choices.parse({"exposure": {"hosts": [HOST, "alias.example.com"]}, "clients": clients})


def _plan(existing: ExistingState | None = None, **clients):
    return build_plan(_choices(**clients), None, existing)


def test_pull_user_is_in_the_htpasswd_and_its_password_kept_in_the_state_secret():
    plan = _plan(namespaces=["apps", "vms"])
    assert plan.pull_user is not None and plan.pull_user.name == "puller"
    htpasswd = parse_htpasswd(plan.htpasswd.get_secret_value())
    assert set(htpasswd) == {"admin", "puller"}
    assert matches(plan.pull_user.password, htpasswd["puller"])
    state = next(s for s in render(plan).secrets if s["metadata"]["name"] == plan.names.state)
    kept = base64.b64decode(state["data"][secret_key_for_user("puller")]).decode()
    assert kept == plan.pull_user.password.get_secret_value()
    again = _plan(ExistingState(passwords={"puller": SecretStr(kept)}), namespaces=["apps", "vms"])
    assert again.pull_user.password.get_secret_value() == kept  # a re-run keeps it


def test_no_namespaces_no_pull_user():
    plan = _plan()
    assert plan.pull_user is None
    assert set(parse_htpasswd(plan.htpasswd.get_secret_value())) == {"admin"}
    assert cl.client_secrets(plan) == []


def test_pull_secret_per_namespace_is_dockerconfigjson_for_every_host():
    plan = _plan(namespaces=["apps", "vms"], pull_address=f"{HOST}:30443")
    secrets = cl.client_secrets(plan)
    assert [(s["metadata"]["namespace"], s["metadata"]["name"], s["type"]) for s in secrets] == [
        ("apps", "docker-registry-pull", "kubernetes.io/dockerconfigjson"),
        ("vms", "docker-registry-pull", "kubernetes.io/dockerconfigjson"),
    ]
    config = json.loads(base64.b64decode(secrets[0]["data"][".dockerconfigjson"]))
    assert set(config["auths"]) == {HOST, "alias.example.com", f"{HOST}:30443"}
    entry = config["auths"][HOST]
    assert entry["username"] == "puller"
    assert base64.b64decode(entry["auth"]).decode() == f"puller:{plan.pull_user.password.get_secret_value()}"
    assert secrets[0]["metadata"]["labels"][cl.REGISTRY_LABEL] == "docker-registry.docker-registry"


def test_cdi_forms_hold_the_ca_and_the_pull_login():
    plan = _plan(namespaces=["vms"], cdi=True)
    secret = next(s for s in cl.client_secrets(plan) if s["metadata"]["name"] == "docker-registry-cdi")
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "accessKeyId": "puller",
        "secretKey": plan.pull_user.password.get_secret_value(),
    }
    (config_map,) = cl.client_config_maps(plan)
    assert config_map["data"] == {"ca.crt": plan.ca_pem} and config_map["metadata"]["namespace"] == "vms"


def test_node_trust_manifests_are_small_unprivileged_and_limited_to_certs_d():
    plan = _plan(
        namespaces=["apps"],
        node_trust=True,
        node_trust_image="docker.io/library/busybox:1.35",
        containerd_certs_d="/var/lib/ri/certs.d",
        pull_address=f"{HOST}:30443",
    )
    config_map, daemon_set = cl.node_trust_objects(plan)
    assert config_map["data"] == {"ca.crt": plan.ca_pem}  # the CA only: never a key
    assert "PRIVATE KEY" not in json.dumps([config_map, daemon_set])
    pod = daemon_set["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"operator": "Exists"}]
    (container,) = pod["containers"]
    assert container["image"] == "docker.io/library/busybox:1.35"
    assert container["securityContext"]["privileged"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] == {"cpu": "5m", "memory": "8Mi"}
    host_paths = {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    assert host_paths == {"/var/lib/ri/certs.d", "/etc/containers/certs.d", "/etc/docker/certs.d", "/etc/containerd"}
    config_mount = next(m for m in container["volumeMounts"] if m["name"] == "containerd-config")
    assert config_mount["readOnly"] is True
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HOSTS"].split() == [HOST, "alias.example.com", f"{HOST}:30443"]
    assert daemon_set["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "registry-installer"
    assert _plan(node_trust=False).choices.clients.node_trust is False and cl.node_trust_objects(_plan()) == []


def test_a_new_ca_rolls_the_daemon_set():
    plan = _plan(node_trust=True)
    other = build_plan(_choices(node_trust=True), None, None)  # a fresh CA

    def checksum(p):
        return cl.node_trust_objects(p)[1]["spec"]["template"]["metadata"]["annotations"]

    assert checksum(plan) != checksum(other)
    assert checksum(plan) == checksum(plan)


def test_node_script_writes_hosts_toml_and_removes_only_its_files(tmp_path):
    """The DaemonSet's script, run by the local sh against folders standing in for the node's."""
    for d in ("trust", "certs/containerd", "certs/containers", "certs/docker", "containerd-config", "run"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "trust/ca.crt").write_text("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n")
    (tmp_path / "containerd-config/config.toml").write_text(
        '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n'
    )
    (tmp_path / "certs/containerd/other.example.com").mkdir()  # someone else's: must stay
    script = (
        cl.NODE_SCRIPT.replace("/trust/", f"{tmp_path}/trust/")
        .replace("/certs/", f"{tmp_path}/certs/")
        .replace("/containerd-config/", f"{tmp_path}/containerd-config/")
        .replace("/run/ri", f"{tmp_path}/run/ri")
        .replace("while :; do sleep 3600 & wait $!; done", "")
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOSTS": f"{HOST} {HOST}:30443",
        "CERTS_D": "/etc/containerd/certs.d",
        "CONFIG_FILE": "config.toml",
    }
    done = subprocess.run(
        ["sh", "-c", script], env={**env, "MODE": "write"}, capture_output=True, text=True, check=True
    )
    assert "config=set" in done.stdout
    hosts_toml = (tmp_path / f"certs/containerd/{HOST}:30443/hosts.toml").read_text()
    assert f'server = "https://{HOST}:30443"' in hosts_toml
    assert f'ca = "/etc/containerd/certs.d/{HOST}:30443/ca.crt"' in hosts_toml
    for folder in ("containerd", "containers", "docker"):
        assert (tmp_path / f"certs/{folder}/{HOST}/ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    subprocess.run(["sh", "-c", script], env={**env, "MODE": "remove"}, capture_output=True, text=True, check=True)
    assert sorted(p.name for p in (tmp_path / "certs/containerd").iterdir()) == ["other.example.com"]
    assert list((tmp_path / "certs/docker").iterdir()) == []
    (tmp_path / "containerd-config/config.toml").write_text("version = 2\n")
    done = subprocess.run(
        ["sh", "-c", script], env={**env, "MODE": "write"}, capture_output=True, text=True, check=True
    )
    assert "config=unset" in done.stdout


@pytest.mark.parametrize(
    "runtime,report,state,words",
    [
        (
            "containerd://1.7.24",
            'x: mode=write config=set line=config_path = "/etc/containerd/certs.d"',
            "trusted",
            "reads",
        ),
        (
            "containerd://1.7.24",
            "x: mode=write config=unset line=",
            "needs-config-path",
            'plugins."io.containerd.grpc.v1.cri".registry',
        ),
        ("containerd://2.0.1", "x: mode=write config=unset line=", "trusted", "by default"),
        (
            "containerd://1.6.2",
            'x: mode=write config=other line=config_path = "/etc/other"',
            "needs-config-path",
            "/etc/other",
        ),
        ("cri-o://1.30.0", "x: mode=write config=none line=", "trusted", "/etc/containers/certs.d"),
        ("docker://24.0.7", "x: mode=write config=none line=", "trusted", "/etc/docker/certs.d"),
        ("rkt://1.0", "x: mode=write config=none line=", "unknown-runtime", "by hand"),
        ("containerd://1.7.24", None, "not-written", "did not report"),
    ],
)
def test_node_verdicts(runtime, report, state, words):
    verdict = cl.node_verdict("n1", runtime, report, "/etc/containerd/certs.d")
    assert verdict.state == state and words in verdict.detail, verdict


@pytest.mark.parametrize(
    "message,kind,words",
    [
        (
            'failed to pull and unpack image "r.example:443/x@sha256:1": failed to resolve reference: failed to do '
            "request: Head "
            '"https://r.example:443/v2/x/manifests/sha256:1": tls: failed to verify certificate: x509: certificate '
            "signed by unknown authority",
            "x509",
            "node trust",
        ),
        (
            'failed to resolve reference "r.example/x@sha256:1": pulling from host r.example failed with status code '
            "[manifests sha256:1]: 401 Unauthorized",
            "auth",
            "imagePullSecrets",
        ),
        (
            'failed to do request: Head "https://r.example/v2/": dial tcp: lookup r.example on 10.0.0.10:53: no such '
            "host",
            "dns",
            "r.example",
        ),
        (
            'failed to do request: Head "https://r.example/v2/": dial tcp 10.1.2.3:443: connect: connection refused',
            "connection",
            "10.1.2.3:443",
        ),
    ],
)
def test_pull_errors_are_diagnosed(message, kind, words):
    found, cause, fix = cl.classify_pull_error(message, "r.example/x@sha256:1")
    assert found == kind
    assert words in cause + fix


def test_pull_check_pod_never_needs_to_run():
    pod = cl.pull_check_pod("p", "apps", "r.example/x@sha256:1", "docker-registry-pull", {})
    (container,) = pod["spec"]["containers"]
    assert container["imagePullPolicy"] == "Always" and container["command"] == ["/registry-installer-pull-check"]
    assert pod["spec"]["imagePullSecrets"] == [{"name": "docker-registry-pull"}]
    assert "imagePullSecrets" not in cl.pull_check_pod("p", "apps", "i", None, {})["spec"]


def test_clients_command_prints_every_snippet_offline(tmp_path, capsys):
    from installer.cli import main

    preset = tmp_path / "p.yaml"
    preset.write_text(
        "version: 1\nexposure: {hosts: [registry.example.com]}\n"
        "clients: {namespaces: [vms], cdi: true, pull_address: 'registry.example.com:30443'}\n"
    )
    assert main(["clients", "--preset", str(preset), "--image", "vms/fedora:40"]) == 0
    out = capsys.readouterr().out
    host = "registry.example.com:30443"
    assert f"/etc/docker/certs.d/{host}/ca.crt" in out and f"/etc/containers/certs.d/{host}/ca.crt" in out
    assert f'server = "https://{host}"' in out
    assert "get secret docker-registry-installer -o jsonpath='{.data.password\\.puller}'" in out
    assert f"image: {host}/vms/fedora:40\n          imagePullSecret: docker-registry-pull" in out
    assert f'url: "docker://{host}/vms/fedora:40"' in out
    assert "secretRef: docker-registry-cdi" in out and "certConfigMap: docker-registry-ca" in out
    assert main(["clients", "--preset", str(preset), "--image", "no-tag"]) == 2
    assert "--image" in capsys.readouterr().err


def test_reconfigure_lines_for_the_clients_section():
    from installer.model import Clients

    before = {
        "namespaces": ["apps", "old"],
        "node_trust": True,
        "service_account": False,
        "node_trust_image": "busybox:1.35",
    }
    lines = cl.clients_changes(before, Clients(namespaces=["apps", "vms"], service_account=True))
    assert lines == [
        "+ pull Secret in namespace vms (created)",
        "- pull Secret in namespace old (removed)",
        "- node trust DaemonSet (removed, with the CA files it wrote on every node)",
        "~ default ServiceAccount imagePullSecrets: False -> True",
    ]
    assert cl.clients_changes(None, Clients()) == []
    assert cl.clients_changes(None, Clients(node_trust=True)) == [
        "+ node trust DaemonSet (writes the CA on every node)"
    ]


# -- a private (corporate) CA: exposure.tls.ca_file and where the CA is found without asking ----------------------


@pytest.fixture
def corporate(tmp_path):
    """A corporate root CA and a serving certificate it signed for HOST, as files (made with cryptography)."""
    from installer.tlsfiles import generate_ca, issue_serving_cert

    ca_pem, ca_key = generate_ca("Example Corp Root CA")
    leaf = issue_serving_cert([HOST], ca_pem, ca_key)
    files = {
        "ca": ca_pem,
        "cert": leaf.cert_pem,
        "key": leaf.key_pem.get_secret_value(),
        "chain": leaf.cert_pem + ca_pem,  # the leaf with its root after it
        "other-ca": generate_ca("Someone Else's CA")[0],
    }
    for name, text in files.items():
        (tmp_path / f"{name}.pem").write_text(text)
    return tmp_path, ca_pem, leaf.cert_pem


def _files(folder, cert="cert", ca=None, **clients) -> Choices:
    tls = {"mode": "files", "cert_file": str(folder / f"{cert}.pem"), "key_file": str(folder / "key.pem")}
    if ca:
        tls["ca_file"] = str(folder / f"{ca}.pem")
    return Choices.parse({"exposure": {"hosts": [HOST], "tls": tls}, "clients": clients})


def _problems(choices, existing=None):
    from installer.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as info:
        build_plan(choices, None, existing)
    return [(p.path, p.message, p.fix) for p in info.value.problems]


def test_ca_file_is_what_nodes_smoke_and_cdi_trust(corporate):
    folder, ca_pem, _leaf = corporate
    plan = build_plan(_files(folder, ca="ca", namespaces=["vms"], node_trust=True, cdi=True))
    assert plan.ca_pem == ca_pem
    assert plan.client_ca.source == f"exposure.tls.ca_file ({folder / 'ca.pem'}: CN=Example Corp Root CA)"
    assert any("CA for the nodes" in n and "ca.pem" in n for n in plan.notes)  # the plan says where it came from
    config_map, daemon_set = cl.node_trust_objects(plan)
    assert config_map["data"] == {"ca.crt": ca_pem}  # the CA only, never the serving key
    assert daemon_set["kind"] == "DaemonSet"
    assert cl.client_config_maps(plan)[0]["data"] == {"ca.crt": ca_pem}
    containerd = next(text for title, text in cl.client_snippets(plan) if title.startswith("containerd"))
    assert containerd.startswith(f"# ca.crt: exposure.tls.ca_file ({folder / 'ca.pem'}")  # where to get ca.crt
    tls_secret = next(s for s in render(plan).secrets if s["metadata"]["name"] == plan.tls_secret_name)
    assert "ca.crt" not in tls_secret["data"]  # the Secret holds what the user gave for the ingress, as before


def test_the_root_at_the_end_of_a_files_chain_is_found(corporate):
    folder, ca_pem, _leaf = corporate
    plan = build_plan(_files(folder, cert="chain", node_trust=True))
    assert plan.ca_pem.strip() == ca_pem.strip()
    assert "the last certificate of exposure.tls.cert_file" in plan.client_ca.source
    assert "CN=Example Corp Root CA, a self-signed root" in plan.client_ca.source


def test_node_trust_without_a_known_ca_names_ca_file(corporate):
    folder, _ca, _leaf = corporate
    ((path, message, fix),) = _problems(_files(folder, node_trust=True))
    assert path == "clients.node_trust"
    assert "not known" in message and "CN=Example Corp Root CA, which it does not include" in message
    assert "exposure.tls.ca_file" in fix
    assert build_plan(_files(folder)).ca_pem is None  # without node trust the same choices plan fine


@pytest.mark.parametrize(
    "ca,words,fix",
    [
        ("cert", "is not a CA (CN=registry.example.com", "not the registry's own certificate"),
        ("other-ca", "(CN=Someone Else's CA) did not sign the certificate in", "openssl x509 -noout -issuer"),
        ("key", "holds no PEM certificate", "-----BEGIN CERTIFICATE-----"),
        ("missing", "does not exist", ""),
    ],
)
def test_a_bad_ca_file_is_refused_with_the_setting_and_the_fix(corporate, ca, words, fix):
    folder, _ca, _leaf = corporate
    problems = _problems(_files(folder, ca=ca, node_trust=True))
    assert [p for p, _, _ in problems] == ["exposure.tls.ca_file"]  # one problem: node trust does not add a second
    assert words in problems[0][1] and fix in problems[0][2]


@pytest.mark.parametrize("mode", ["self-signed", "none"])
def test_ca_file_makes_no_sense_without_a_certificate_of_yours(mode):
    from installer.model import Invalid

    with pytest.raises(Invalid, match=f"exposure.tls.ca_file is set but tls.mode is {mode}"):
        Choices.parse({"exposure": {"hosts": [HOST], "tls": {"mode": mode, "ca_file": "/ca.pem"}}})


def test_the_tls_secrets_ca_crt_is_found_for_cert_manager_and_existing_secrets(corporate):
    _folder, ca_pem, leaf = corporate
    found = ExistingState(tls_secret_chain=leaf, tls_secret_ca=ca_pem)
    for tls in ({"mode": "cert-manager", "issuer": "corp-ca"}, {"mode": "existing-secret", "secret_name": "reg-tls"}):
        choices = Choices.parse(
            {"exposure": {"hosts": [HOST], "tls": tls}, "clients": {"node_trust": True, "namespaces": ["apps"]}}
        )
        plan = build_plan(choices, None, found)
        secret = tls.get("secret_name", "docker-registry-tls")
        assert plan.ca_pem.strip() == ca_pem.strip()
        assert plan.client_ca.source == f"ca.crt of Secret {secret} (CN=Example Corp Root CA)"
        assert cl.node_trust_objects(plan)[0]["data"] == {"ca.crt": plan.ca_pem}
        # cert-manager before it issued (no Secret yet): ca_file is the way
        ((path, message, fix),) = _problems(choices, ExistingState())
        assert path == "clients.node_trust" and f"Secret {secret} holds no ca.crt" in message
        assert "exposure.tls.ca_file" in fix


def test_a_ca_crt_that_did_not_sign_the_secrets_certificate_is_not_used(corporate):
    folder, _ca, leaf = corporate
    choices = Choices.parse(
        {"exposure": {"hosts": [HOST], "tls": {"mode": "existing-secret", "secret_name": "reg-tls"}}}
    )
    other = (folder / "other-ca.pem").read_text()
    plan = build_plan(choices, None, ExistingState(tls_secret_chain=leaf, tls_secret_ca=other))
    assert plan.ca_pem is None
    assert "the ca.crt of Secret reg-tls did not sign the certificate in Secret reg-tls" in plan.client_ca.source


def test_a_publicly_trusted_certificate_needs_no_node_trust(corporate, monkeypatch):
    """The system trust store is read where OpenSSL reads it (SSL_CERT_FILE here names a store holding the root)."""
    folder, _ca, _leaf = corporate
    monkeypatch.setenv("SSL_CERT_FILE", str(folder / "ca.pem"))
    plan = build_plan(_files(folder))
    assert plan.ca_pem is None and plan.client_ca.public
    assert "publicly trusted" in plan.client_ca.source and "nodes and clients need no CA" in plan.client_ca.source
    ((path, message, fix),) = _problems(_files(folder, node_trust=True))
    assert path == "clients.node_trust" and "verifies against the system trust store" in message
    assert "clients.node_trust: false" in fix
    from installer.plan import node_trust_offered

    assert not node_trust_offered("files", plan.client_ca)
    snippets = dict(cl.client_snippets(plan))
    assert "publicly trusted" in snippets["CA"] and not any(t.startswith("containerd") for t in snippets)
    # an explicit ca_file still wins (a private root that is also in this machine's store)
    assert build_plan(_files(folder, ca="ca", node_trust=True)).client_ca.public is False


def test_the_ca_node_trust_installed_before_is_found_on_a_reconfigure(corporate):
    """A reconfigure reads exposure back without ca_file: the CA node trust wrote (its ConfigMap) is used, when it
    signed the certificate (or the certificate is not known yet); a CA that did not is ignored."""
    folder, ca_pem, leaf = corporate
    choices = Choices.parse(
        {
            "exposure": {"hosts": [HOST], "tls": {"mode": "cert-manager", "issuer": "corp-ca"}},
            "clients": {"node_trust": True},
        }
    )
    plan = build_plan(choices, None, ExistingState(node_trust_ca=ca_pem))
    assert plan.ca_pem.strip() == ca_pem.strip()
    assert plan.client_ca.source == (
        "the CA node trust put on the nodes before (ConfigMap docker-registry-node-trust: CN=Example Corp Root CA)"
    )
    other = (folder / "other-ca.pem").read_text()
    ((path, message, _fix),) = _problems(choices, ExistingState(tls_secret_chain=leaf, node_trust_ca=other))
    assert path == "clients.node_trust" and "not known" in message
    assert build_plan(_files(folder, node_trust=True), None, ExistingState(node_trust_ca=ca_pem)).ca_pem == ca_pem


def test_review_says_when_the_ca_on_the_nodes_changes(corporate):
    folder, ca_pem, _leaf = corporate
    plan = build_plan(_files(folder, ca="ca", node_trust=True))
    other = (folder / "other-ca.pem").read_text()
    assert cl.ca_change(other, plan) == [
        f"~ node trust CA: CN=Someone Else's CA -> CN=Example Corp Root CA from exposure.tls.ca_file "
        f"({folder / 'ca.pem'}: CN=Example Corp Root CA) (written on every node)"
    ]
    assert cl.ca_change(ca_pem, plan) == [] and cl.ca_change(None, plan) == []  # same CA, or no node trust before
    assert cl.ca_change(other, build_plan(_files(folder, ca="ca"))) == []  # node trust off: its removal says so


# -- the pull check's verdict when the kubelet pulled without the Secret it could not read yet ------------------------

PULL_401 = (
    'Failed to pull image "r.example:443/x@sha256:1": failed to resolve reference "r.example:443/x@sha256:1": pulling '
    "from host r.example:443 failed with status code [manifests sha256:1]: 401 Unauthorized"
)
UNREAD = (
    "Unable to retrieve some image pull secrets (docker-registry-pull); attempting to pull the image may not succeed."
)


class ScriptedReads:
    """A stand-in for the two API reads the pull check makes (the pod, its events), replaying one snapshot a poll.

    The sequence in the first test is the one CI's real node produced on 2026-11-29: the kubelet's secret cache timed
    out ("failed to sync secret cache"), it pulled without the pull Secret and got 401, then retried after the
    back-off. A real kubelet cannot be made to lose that race on demand, hence the script."""

    def __init__(self, polls: list[tuple[str | None, list[tuple[str, str, int]]]]) -> None:
        from types import SimpleNamespace as NS

        self.polls, self.n, self.ns = polls, 0, NS
        self.core = NS(read_namespaced_pod=self.read_pod, list_namespaced_event=self.list_events)

    @staticmethod
    def call(what, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    def _poll(self):
        return self.polls[min(self.n, len(self.polls) - 1)]

    def read_pod(self, name, namespace):
        NS, (waiting, _) = self.ns, self._poll()
        state = NS(waiting=NS(reason=waiting, message="") if waiting else None, running=None, terminated=None)
        status = NS(image_id="", state=state)
        return NS(spec=NS(node_name="n1"), status=NS(container_statuses=[status], conditions=[], phase="Pending"))

    def list_events(self, namespace, field_selector):
        _, events = self._poll()
        self.n += 1
        return self.ns(items=[self.ns(reason=r, message=m, count=c) for r, m, c in events])


def verdict(polls):
    return cl._await_verdict(ScriptedReads(polls), "apps", "pull-check", "r.example:443/x@sha256:1", 30, ())


def test_a_401_from_a_pull_without_the_unread_secret_waits_for_the_kubelets_retry():
    first = [
        ("FailedToRetrieveImagePullSecret", UNREAD, 1),
        ("Failed", PULL_401, 1),
        ("Failed", "Error: ErrImagePull", 1),
    ]
    backoff = [*first, ("BackOff", 'Back-off pulling image "r.example:443/x@sha256:1"', 1)]
    result = verdict([("ErrImagePull", first), ("ImagePullBackOff", backoff), (None, [*backoff, ("Pulled", "ok", 1)])])
    assert result.ok and result.kind == "pulled", result


def test_a_retry_that_read_the_secret_and_still_got_401_is_the_credentials():
    first = [("FailedToRetrieveImagePullSecret", UNREAD, 1), ("Failed", PULL_401, 1)]
    again = [("FailedToRetrieveImagePullSecret", UNREAD, 1), ("Failed", PULL_401, 2)]
    result = verdict([("ErrImagePull", first), ("ErrImagePull", again)])
    assert not result.ok and result.kind == "auth" and "without valid credentials (401)" in result.cause, result


def test_a_retry_that_still_could_not_read_the_secret_says_so():
    first = [("FailedToRetrieveImagePullSecret", UNREAD, 1), ("Failed", PULL_401, 1)]
    again = [("FailedToRetrieveImagePullSecret", UNREAD, 2), ("Failed", PULL_401, 2)]
    result = verdict([("ErrImagePull", first), ("ErrImagePull", again)])
    assert not result.ok and "could not read the pull Secret" in result.cause and "n1" in result.cause, result


def test_a_401_with_the_secret_read_is_final_at_once():
    reads = ScriptedReads([("ErrImagePull", [("Failed", PULL_401, 1)]), (None, [("Pulled", "ok", 1)])])
    result = cl._await_verdict(reads, "apps", "pull-check", "r.example:443/x@sha256:1", 30, ())
    assert not result.ok and result.kind == "auth" and reads.n == 1, result

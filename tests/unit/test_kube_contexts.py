"""list_contexts reads the kubeconfig itself (the wizard's first frame lists the contexts before the kubernetes
client loads): it must answer exactly what the client's own list_kube_config_contexts answers."""

from __future__ import annotations

import os

import pytest
import yaml
from kubernetes import config

from installer.kube import _block_yaml, _NotBlockYaml, _Plain, list_contexts

CLUSTER = "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\nusers: [{name: u, user: {token: t}}]\n"
ONE = CLUSTER + "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n"
CASES = {
    "two contexts": [
        CLUSTER + "contexts: [{name: a, context: {cluster: c, user: u}}, {name: b, context: {cluster: c}}]\n"
        "current-context: b\n"
    ],
    "no current-context": [CLUSTER + "contexts: [{name: a, context: {cluster: c}}]\n"],
    "current-context null": [CLUSTER + "contexts: [{name: a, context: {cluster: c}}]\ncurrent-context: null\n"],
    "current names no context": [CLUSTER + "contexts: [{name: a, context: {cluster: c}}]\ncurrent-context: zz\n"],
    "current context without body": [CLUSTER + "contexts: [{name: a}]\ncurrent-context: a\n"],
    "current context without cluster": [CLUSTER + "contexts: [{name: a, context: {}}]\ncurrent-context: a\n"],
    "current context names no cluster": ["contexts: [{name: a, context: {cluster: nope}}]\ncurrent-context: a\n"],
    "cluster without body": [
        "clusters: [{name: c}]\ncontexts: [{name: a, context: {cluster: c}}]\ncurrent-context: a\n"
    ],
    "context body not a mapping": [CLUSTER + "contexts: [{name: a, context: x}]\ncurrent-context: a\n"],
    "context without name": [CLUSTER + "contexts: [{context: {cluster: c}}]\ncurrent-context: a\n"],
    "user without name": [
        "users: [{user: {}}]\n" + CLUSTER + "contexts: [{name: a, context: {cluster: c}}]\ncurrent-context: a\n"
    ],
    "contexts null": [CLUSTER + "contexts: null\ncurrent-context: a\n"],
    "contexts a mapping": [CLUSTER + "contexts: {a: 1}\ncurrent-context: a\n"],
    "other contexts broken": [
        CLUSTER + "contexts: [{name: a, context: {cluster: c}}, {name: b, context: null}, "
        "{name: d, context: {cluster: zz}}]\ncurrent-context: a\n"
    ],
    "user of the context missing": [
        CLUSTER + "contexts: [{name: a, context: {cluster: c, user: nobody}}]\ncurrent-context: a\n"
    ],
    "current-context a list": [CLUSTER + "contexts: [{name: a, context: {cluster: c}}]\ncurrent-context: [a]\n"],
    "duplicate names in one file": [
        CLUSTER + "contexts: [{name: a, context: {cluster: c}}, {name: a, context: "
        "{cluster: d}}, {name: b, context: {cluster: c}}]\ncurrent-context: a\n"
    ],
    "empty file": [""],
    "a YAML list": ["- a\n- b\n"],
    "not YAML": ["contexts: [\n"],
    "no file": [None],
    "merged: first file's context wins, last current-context wins": [
        ONE,
        "contexts: [{name: a, context: {cluster: other}}, {name: b, context: {cluster: c}}]\ncurrent-context: b\n",
    ],
    "merged: current-context from the first file only": [ONE, "contexts: [{name: b, context: {cluster: c}}]\n"],
    "merged: missing files skipped": [None, ONE, None],
    "merged: an empty file": [ONE, ""],
    "merged: a later file unsets current-context": [ONE, "current-context: null\n"],
    "merged: the cluster in a later file": [
        "contexts: [{name: a, context: {cluster: c}}]\ncurrent-context: a\n",
        CLUSTER,
    ],
}


def _client_answer(paths: str) -> tuple[list[str], str | None]:
    """The kubernetes client's answer, as list_contexts gave it before reading the files itself."""
    try:
        contexts, current = config.list_kube_config_contexts(config_file=paths)
    except Exception:
        return [], None
    return [c["name"] for c in contexts], (current or {}).get("name")


@pytest.mark.parametrize("files", CASES.values(), ids=CASES.keys())
def test_same_answer_as_the_kubernetes_client(tmp_path, files):
    paths = []
    for index, text in enumerate(files):
        path = tmp_path / f"kubeconfig{index}"
        if text is not None:
            path.write_text(text)
        paths.append(str(path))
    joined = os.pathsep.join(paths)
    assert list_contexts(joined) == _client_answer(joined)


def test_the_well_formed_cases_do_list_contexts(tmp_path):
    """The comparison above is not only of failures: the usual kubeconfigs answer names and a current one."""
    (tmp_path / "one").write_text(CASES["two contexts"][0])
    assert list_contexts(str(tmp_path / "one")) == (["a", "b"], "b")


def test_kubeconfig_env_is_the_default(tmp_path, monkeypatch):
    (tmp_path / "config").write_text(ONE)
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}{os.pathsep}{tmp_path / 'config'}")
    assert list_contexts() == (["a"], "a")


# Kubeconfigs as kubectl (client-go), kind, minikube and the cloud CLIs write them: block-style YAML, read without
# PyYAML (kube._block_yaml) for the wizard's first frame.
CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lCQURBS0JnZ3Foa2pPUFFRREFqQWpNU0V3SHdZRFZRUUQ="
KUBECTL_STYLE = {
    "kind": f"""apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {CA}
    server: https://127.0.0.1:43117
  name: kind-kind
contexts:
- context:
    cluster: kind-kind
    user: kind-kind
  name: kind-kind
current-context: kind-kind
kind: Config
preferences: {{}}
users:
- name: kind-kind
  user:
    client-certificate-data: {CA}
    client-key-data: {CA}
""",
    "eks exec plugin, two clusters, quoted names": f"""# written by aws eks update-kubeconfig
apiVersion: v1
clusters:
  - cluster:
      certificate-authority-data: {CA}
      server: https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com
    name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
  - cluster:
      insecure-skip-tls-verify: true
      server: "https://10.0.0.1:6443"
    name: 'dev''s cluster'
contexts:
  - context:
      cluster: arn:aws:eks:eu-west-1:123456789012:cluster/prod
      namespace: default
      user: arn:aws:eks:eu-west-1:123456789012:cluster/prod
    name: prod
  - context:
      cluster: 'dev''s cluster'
      user: dev
    name: "dev"
current-context: 'dev'
kind: Config
preferences: {{}}
users:
  - name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1beta1
        args:
        - --region
        - eu-west-1
        - eks
        - get-token
        command: aws
        env: null
        interactiveMode: IfAvailable
        provideClusterInfo: false
  - name: dev
    user:
      token: abc.def-ghi
""",
    "minikube extensions": """apiVersion: v1
clusters:
- cluster:
    certificate-authority: /home/me/.minikube/ca.crt
    extensions:
    - extension:
        last-update: Mon, 01 Jan 2024 10:00:00 UTC
        provider: minikube.sigs.k8s.io
        version: v1.32.0
      name: cluster_info
    server: https://192.168.49.2:8443
  name: minikube
contexts:
- context:
    cluster: minikube
    extensions:
    - extension:
        provider: minikube.sigs.k8s.io
      name: context_info
    namespace: default
    user: minikube
  name: minikube
current-context: minikube
kind: Config
preferences: {}
users:
- name: minikube
  user:
    client-certificate: /home/me/.minikube/profiles/minikube/client.crt
""",
}
# Block-style kubeconfigs outside what _block_yaml reads (PyYAML reads them); the answers must still be the client's.
OUTSIDE_THE_SUBSET = {
    "a number as a context name": "clusters:\n- name: c\n  cluster: {server: x}\ncontexts:\n- name: 12\n  context:\n"
    "    cluster: c\ncurrent-context: 12\n",
    "a boolean word as the current context": "clusters:\n- name: c\n  cluster:\n    server: x\ncontexts:\n"
    "- name: 'on'\n  context:\n    cluster: c\ncurrent-context: on\n",
    "comment after a name": "clusters:\n- name: c\n  cluster:\n    server: x\ncontexts:\n- name: a # the one\n"
    "  context:\n    cluster: c\ncurrent-context: a\n",
    "a name continued on the next line": "clusters:\n- name: c\n  cluster:\n    server: x\ncontexts:\n- name: a\n"
    "    b\n  context:\n    cluster: c\ncurrent-context: a b\n",
    "an anchor and an alias": "clusters:\n- name: &c c\n  cluster:\n    server: x\ncontexts:\n- name: a\n  context:\n"
    "    cluster: *c\ncurrent-context: a\n",
    "an escaped double-quoted name": 'clusters:\n- name: c\n  cluster:\n    server: x\ncontexts:\n- name: "a\\x41"\n'
    "  context:\n    cluster: c\ncurrent-context: aA\n",
    "a tab": "clusters:\n- name: c\n  cluster:\n\tserver: x\ncontexts:\n- name: a\n  context:\n    cluster: c\n"
    "current-context: a\n",
    "two documents": "clusters:\n- name: c\n  cluster:\n    server: x\n---\ncontexts: []\n",
    "a duplicate key": "clusters:\n- name: c\n  cluster:\n    server: x\ncontexts:\n- name: a\n  name: b\n  context:\n"
    "    cluster: c\ncurrent-context: b\n",
    "a block scalar": "clusters:\n- name: c\n  cluster:\n    server: |\n      x\ncontexts:\n- name: a\n  context:\n"
    "    cluster: c\ncurrent-context: a\n",
    "a bad indent": "clusters:\n- name: c\n  cluster:\n      server: x\n    port: 1\ncontexts:\n- name: a\n  context:\n"
    "    cluster: c\ncurrent-context: a\n",
    "a context's cluster as a date": "clusters:\n- name: 2024-01-01\n  cluster:\n    server: x\ncontexts:\n- name: a\n"
    "  context:\n    cluster: 2024-01-01\ncurrent-context: a\n",
    "non-ASCII names": "clusters:\n- name: c\n  cluster:\n    server: x\ncontexts:\n- name: prodé\n  context:\n"
    "    cluster: c\ncurrent-context: prodé\n",
}


def _block_style(text: str) -> str:
    """A flow-style case as kubectl would write the same kubeconfig (block style)."""
    return yaml.safe_dump(yaml.safe_load(text), default_flow_style=False)


BLOCK_CASES = {
    name: [_block_style(t) if t else t for t in files] for name, files in CASES.items() if name != "not YAML"
}


@pytest.mark.parametrize("files", BLOCK_CASES.values(), ids=BLOCK_CASES.keys())
def test_block_style_same_answer_as_the_kubernetes_client(tmp_path, files):
    test_same_answer_as_the_kubernetes_client(tmp_path, files)


@pytest.mark.parametrize("text", [*KUBECTL_STYLE.values(), *OUTSIDE_THE_SUBSET.values()])
def test_written_kubeconfigs_same_answer_as_the_kubernetes_client(tmp_path, text):
    test_same_answer_as_the_kubernetes_client(tmp_path, [text])


def _resolved(value):
    """_block_yaml's answer with its plain scalars resolved as YAML resolves them (list_contexts reads none of them)."""
    if isinstance(value, dict):
        return {k: _resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v) for v in value]
    return yaml.safe_load(value) if isinstance(value, _Plain) else value


def test_kubectl_style_is_read_without_pyyaml(tmp_path):
    """The first frame's reader takes what kubectl and the cloud CLIs write and gives yaml.safe_load's mapping; what it
    does not take, it leaves to PyYAML (the answers above are the client's either way)."""
    for text in KUBECTL_STYLE.values():
        assert _resolved(_block_yaml(text)) == yaml.safe_load(text)
    for text in BLOCK_CASES["two contexts"] + BLOCK_CASES["duplicate names in one file"]:
        assert _resolved(_block_yaml(text)) == yaml.safe_load(text)
    path = tmp_path / "config"
    path.write_text(KUBECTL_STYLE["eks exec plugin, two clusters, quoted names"])
    assert list_contexts(str(path)) == (["prod", "dev"], "dev")
    for text in OUTSIDE_THE_SUBSET.values():
        with pytest.raises(_NotBlockYaml):
            _block_yaml(text)

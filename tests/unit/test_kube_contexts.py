"""list_contexts reads the kubeconfig itself (the wizard's first frame lists the contexts before the kubernetes
client loads): it must answer exactly what the client's own list_kube_config_contexts answers."""

from __future__ import annotations

import os

import pytest
from kubernetes import config

from installer.kube import list_contexts

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

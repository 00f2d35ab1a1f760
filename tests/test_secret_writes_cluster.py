"""The installer's Secret writes against the real kube-apiserver: apply_secrets creates, keeps, replaces and re-types
(a Secret's type is immutable: delete and create), and restore_secrets puts every one back as it was, type too."""

from __future__ import annotations

import base64
import secrets

import pytest

from installer.kube import KubeClient
from installer.secret_writes import apply_secrets, restore_secrets, snapshot_secrets
from tests.test_cluster_install import core

pytestmark = pytest.mark.cluster
LABELS = {"app.kubernetes.io/managed-by": "registry-installer"}


def secret(namespace: str, name: str, data: dict[str, str], type_: str = "Opaque") -> dict:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(LABELS)},
        "type": type_,
        "data": encoded,
    }


def live(api, namespace: str) -> dict[str, tuple[str, dict, str]]:
    """name -> (type, data, resourceVersion) of every Secret in `namespace`."""
    return {
        s.metadata.name: (s.type, s.data, s.metadata.resource_version)
        for s in api.list_namespaced_secret(namespace).items
    }


def test_secrets_are_created_kept_replaced_and_retyped_then_restored_as_they_were(kube_cluster):
    from kubernetes import client

    namespace = f"secret-writes-{secrets.token_hex(3)}"
    api = core(kube_cluster)
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    for name in ("same", "data", "retyped"):
        api.create_namespaced_secret(namespace, secret(namespace, name, {"auth": "old"}))
    before = live(api, namespace)
    wanted = (
        secret(namespace, "same", {"auth": "old"}),
        secret(namespace, "data", {"auth": "new"}),
        secret(namespace, "retyped", {"auth": "old"}, "nginx.org/htpasswd"),
        secret(namespace, "new", {"auth": "new"}),
    )
    kube = KubeClient(context="admin", kubeconfig=str(kube_cluster.kubeconfig))
    snapshot = snapshot_secrets(kube, namespace, [s["metadata"]["name"] for s in wanted])

    changed = apply_secrets(kube, wanted, snapshot)
    assert changed == ["data", "retyped", "new"]
    after = live(api, namespace)
    assert after["same"] == before["same"]  # not written at all
    assert after["data"][:2] == ("Opaque", wanted[1]["data"])
    assert after["retyped"][:2] == ("nginx.org/htpasswd", wanted[2]["data"])
    assert after["new"][:2] == ("Opaque", wanted[3]["data"])

    restore_secrets(kube, namespace, snapshot, changed)
    restored = live(api, namespace)
    assert sorted(restored) == ["data", "retyped", "same"]
    assert {name: value[:2] for name, value in restored.items()} == {name: value[:2] for name, value in before.items()}

"""Writes before helm runs: the namespace and the installer's Secrets, and putting those Secrets back on failure."""

from __future__ import annotations

import logging
from typing import Any

from installer.kube import KubeClient, NotFound
from installer.render import MANAGED_BY

log = logging.getLogger(__name__)


def ensure_namespace(kube: KubeClient, namespace: str, dry_run: bool = False) -> bool:
    """Create the namespace if missing; True when it was created."""
    from kubernetes import client

    try:
        kube.call(f"read namespace {namespace}", kube.core.read_namespace, namespace)
        return False
    except NotFound:
        pass
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace, labels=dict(MANAGED_BY)))
    kube.call(f"create namespace {namespace}", kube.core.create_namespace, body, dry_run="All" if dry_run else None)
    return True


def snapshot_secrets(kube: KubeClient, namespace: str, names: list[str]) -> dict[str, Any]:
    """The current Secrets of these names (None where absent), to restore if the install fails."""
    snapshot: dict[str, Any] = {}
    for name in names:
        try:
            snapshot[name] = kube.call(f"read Secret {name}", kube.core.read_namespaced_secret, name, namespace)
        except NotFound:
            snapshot[name] = None
    return snapshot


def apply_secrets(
    kube: KubeClient, manifests: tuple[dict[str, Any], ...], snapshot: dict[str, Any], dry_run: bool = False
) -> list[str]:
    """Create or replace each Secret; skip those whose data and type already match. Returns what changed."""
    changed = []
    for manifest in manifests:
        name = manifest["metadata"]["name"]
        current = snapshot.get(name)
        if (
            current is not None
            and (current.data or {}) == manifest["data"]
            and current.type == manifest["type"]
            and all((current.metadata.labels or {}).get(k) == v for k, v in manifest["metadata"]["labels"].items())
        ):
            continue
        _write_secret(kube, manifest, current, dry_run)
        changed.append(name)
    return changed


def restore_secrets(kube: KubeClient, namespace: str, snapshot: dict[str, Any], changed: list[str]) -> None:
    """Put back the Secrets `apply_secrets` changed: the old content, or gone if they were new."""
    for name in changed:
        old = snapshot.get(name)
        try:
            if old is None:
                kube.call(f"delete Secret {name}", kube.core.delete_namespaced_secret, name, namespace)
                continue
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": old.type,
                "data": old.data,
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": old.metadata.labels,
                    "annotations": old.metadata.annotations,
                },
            }
            try:
                current = kube.call(f"read Secret {name}", kube.core.read_namespaced_secret, name, namespace)
            except NotFound:
                current = None
            _write_secret(kube, body, current)
        except Exception as exc:  # keep restoring the others; report this one
            log.warning("could not restore Secret %s: %s", name, exc)


def _write_secret(kube: KubeClient, body: dict[str, Any], current: Any | None, dry_run: bool = False) -> None:
    """Make the Secret `body` names what it says over `current` (the live one, None when there is none): create it,
    replace it, or delete and create it when the type differs (a Secret's type is immutable)."""
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    kwargs = {"dry_run": "All"} if dry_run else {}
    if current is not None and current.type != body["type"]:
        kube.call(f"delete Secret {name} in {namespace}", kube.core.delete_namespaced_secret, name, namespace, **kwargs)
        current = None
    if current is None:
        kube.call(f"create Secret {name} in {namespace}", kube.core.create_namespaced_secret, namespace, body, **kwargs)
        return
    body = {**body, "metadata": {**body["metadata"], "resourceVersion": current.metadata.resource_version}}
    kube.call(
        f"update Secret {name} in {namespace}", kube.core.replace_namespaced_secret, name, namespace, body, **kwargs
    )

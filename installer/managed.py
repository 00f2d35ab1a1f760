"""The installer's own objects beside the release (HTTPRoute, upload policy, Certificate, ReferenceGrant; the
scheduled collection's CronJob, ServiceAccount, Role and RoleBinding): listed by label, applied server-side after
helm, removed when the release, the exposure or the schedule no longer needs them."""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import Any

from installer.gateway import MANAGED_BY, MANAGED_KINDS, ManagedKind, object_words
from installer.gcschedule import SCHEDULE_KINDS
from installer.kube import Forbidden, KubeClient, NotFound

ALL_KINDS = MANAGED_KINDS + SCHEDULE_KINDS


def _selector(release: str) -> str:
    return ",".join(f"{k}={v}" for k, v in {**MANAGED_BY, "app.kubernetes.io/instance": release}.items())


def list_managed(kube: KubeClient, namespace: str, release: str) -> list[dict[str, Any]]:
    """The release's managed objects now in the cluster; kinds whose CRD is missing (or that we may not list) are
    skipped."""
    found = []
    for kind in ALL_KINDS:
        try:
            items = kube.get_json(
                f"list {kind.kind}s in {namespace}", kind.collection(namespace), {"labelSelector": _selector(release)}
            )
        except (NotFound, Forbidden):
            continue
        for item in items.get("items", []):
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
            found.append(item)
    return found


def managed_kind(obj: dict[str, Any]) -> ManagedKind:
    return next(k for k in ALL_KINDS if k.kind == obj["kind"] and k.api_version == obj["apiVersion"])


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]


def apply_managed(
    kube: KubeClient, objects: Iterable[dict[str, Any]], namespace: str, release: str, dry_run: bool = False
) -> tuple[list[str], list[str]]:
    """Apply `objects` and delete the release's managed objects that are no longer wanted. Returns (applied, removed) in
    words."""
    wanted = list(objects)
    applied = []
    for obj in wanted:
        kind = managed_kind(obj)
        path = f"{kind.collection(obj['metadata']['namespace'])}/{obj['metadata']['name']}"
        kube.apply_json(f"apply {object_words(obj)}", path, obj, dry_run=dry_run)
        applied.append(object_words(obj))
    removed = [] if dry_run else remove_managed(kube, namespace, release, keep={_key(o) for o in wanted})
    return applied, removed


def remove_managed(
    kube: KubeClient, namespace: str, release: str, keep: Set[tuple[str, str, str]] = frozenset()
) -> list[str]:
    """Delete the release's managed objects not in `keep`; returns what went, in words."""
    removed = []
    for obj in list_managed(kube, namespace, release):
        if _key(obj) in keep:
            continue
        kind = managed_kind(obj)
        try:
            kube.delete_json(
                f"delete {object_words(obj)}",
                f"{kind.collection(namespace)}/{obj['metadata']['name']}",
                {"propagationPolicy": "Background"},  # a CronJob's Jobs and their pods go with it
            )
        except NotFound:
            continue
        removed.append(object_words(obj))
    return removed


def object_changes(
    before: Iterable[dict[str, Any]],
    after: Iterable[dict[str, Any]],
    old_values: dict[str, Any] | None,
    new_values: dict[str, Any],
) -> list[str]:
    """The exposure objects that appear or go away, for the reconfigure diff (the chart's Ingress included)."""
    old = {_key(o): object_words(o) for o in before}
    new = {_key(o): object_words(o) for o in after}
    lines = [f"- {words} (removed)" for key, words in sorted(old.items()) if key not in new]
    lines += [f"+ {words} (created)" for key, words in sorted(new.items()) if key not in old]
    had_ingress = bool(((old_values or {}).get("ingress") or {}).get("enabled"))
    has_ingress = bool((new_values.get("ingress") or {}).get("enabled"))
    if old_values is not None and had_ingress and not has_ingress:
        lines.insert(0, "- Ingress of the chart (removed: the registry is exposed through the Gateway)")
    elif old_values is not None and has_ingress and not had_ingress and old:
        lines.insert(0, "+ Ingress of the chart (created)")
    return lines


def listener_certificates(kube: KubeClient, gateway: Any) -> dict[str, str | None]:
    """tls.crt of every Secret the Gateway's listeners present: PEM, "" when missing, None when we may not read it."""
    import base64

    out: dict[str, str | None] = {}
    for ref in sorted({r for listener in gateway.listeners for r in listener.certificate_refs}):
        namespace, name = ref.split("/", 1)
        try:
            secret = kube.get_json(f"read Secret {ref}", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except NotFound:
            out[ref] = ""
            continue
        except Forbidden:
            out[ref] = None
            continue
        raw = (secret.get("data") or {}).get("tls.crt")
        out[ref] = base64.b64decode(raw).decode("ascii", errors="replace") if raw else ""
    return out


def release_hosts(values: dict[str, Any], managed: Iterable[dict[str, Any]]) -> list[str]:
    """The registry's public hosts: the chart's Ingress hosts, or the hostnames of the installer's HTTPRoute."""
    ingress = values.get("ingress") or {}
    if ingress.get("enabled", True) and ingress.get("hosts"):
        return [str(h) for h in ingress["hosts"]]
    route = next((o for o in managed if o.get("kind") == "HTTPRoute"), None)
    return [str(h) for h in ((route or {}).get("spec") or {}).get("hostnames") or []]

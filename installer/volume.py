"""The registry's data PVC: the installer makes and owns it, so helm never deletes the images.

The chart gets it as `persistence.existingClaim` and renders no PVC of its own. A release
whose chart made the PVC is migrated in place: the PVC gets `helm.sh/resource-policy: keep`,
the upgrade stops rendering it (helm leaves a kept object behind), and it is then labelled the
installer's own. Same object, same volume: nothing is copied.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from installer.errors import Cancelled, InstallerError
from installer.events import EventSink, Note, discard
from installer.kube import KubeClient, NotFound
from installer.plan import Plan
from installer.render import MANAGED_BY, Rendered
from installer.sizes import parse_size
from installer.state import HELM_OWNERSHIP, INSTANCE_LABEL, claim_owner

log = logging.getLogger(__name__)
MERGE_PATCH = {"_content_type": "application/merge-patch+json"}  # null deletes a key
KEEP_ANNOTATION = {"helm.sh/resource-policy": "keep"}
TERMINATING_WAIT_S = 60.0  # how long a PVC being deleted is waited for before the install stops and says why


def read_claim(kube: KubeClient, namespace: str, name: str) -> Any | None:
    try:
        return kube.call(f"read PVC {name}", kube.core.read_namespaced_persistent_volume_claim, name, namespace)
    except NotFound:
        return None


def prepare_claim(
    kube: KubeClient,
    plan: Plan,
    rendered: Rendered,
    dry_run: bool = False,
    on_event: EventSink = discard,
    cancel: threading.Event | None = None,
    wait_s: float = TERMINATING_WAIT_S,
) -> tuple[bool, str]:
    """Before helm runs: create the installer's PVC, or mark the chart's PVC to be kept. Returns (created, words).

    A PVC being deleted (a cancelled install, an uninstall --delete-data a moment ago) is not reused: it vanishes
    a moment later and the pod stays Pending. Its end is waited for (`wait_s`, reported), then it is made anew.

    Raises:
        InstallerError: the PVC was still being deleted after `wait_s`: what holds it and what to do.
    """
    claim = plan.claim
    if claim is None or rendered.claim is None:
        return (
            False,
            f"the existing PVC {claim.name} (yours: never changed or deleted)"
            if claim is not None
            else "S3 storage: no volume",
        )
    current = read_claim(kube, plan.namespace, claim.name)
    if current is not None and current.metadata.deletion_timestamp is not None:
        if dry_run:
            return False, (
                f"PVC {claim.name} is being deleted: the install waits up to {wait_s:.0f}s for it to go, "
                "then creates it anew (empty)"
            )
        current = wait_until_deleted(kube, plan.namespace, current, on_event, cancel, wait_s)
    kwargs = {"dry_run": "All"} if dry_run else {}
    if current is None:
        kube.call(
            f"create PVC {claim.name}",
            kube.core.create_namespaced_persistent_volume_claim,
            plan.namespace,
            rendered.claim,
            **kwargs,
        )
        return True, f"{'would create' if dry_run else 'created'} PVC {claim.name} ({claim.size}, the installer's own)"
    owner = claim_owner(current.metadata, plan.release)
    if owner == "chart":
        # the upgrade below stops rendering it; helm skips deleting a live object that says keep
        kube.call(
            f"annotate PVC {claim.name}",
            kube.core.patch_namespaced_persistent_volume_claim,
            claim.name,
            plan.namespace,
            {"metadata": {"annotations": KEEP_ANNOTATION}},
            **kwargs,
            **MERGE_PATCH,
        )
        return False, f"PVC {claim.name} made by the chart: kept through the upgrade, then the installer's own"
    return False, f"PVC {claim.name} ({_requested(current)}, the installer's own) reused"


def wait_until_deleted(
    kube: KubeClient,
    namespace: str,
    pvc: Any,
    on_event: EventSink = discard,
    cancel: threading.Event | None = None,
    wait_s: float = TERMINATING_WAIT_S,
) -> Any | None:
    """Wait (at most `wait_s`) for a PVC being deleted to go; what is there then: None, or a PVC made meanwhile.

    Raises:
        InstallerError: still being deleted after `wait_s`, with what holds it (its finalizers) and the fix.
        Cancelled: `cancel` was set while waiting.
    """
    name = pvc.metadata.name
    since = pvc.metadata.deletion_timestamp
    finalizers = list(pvc.metadata.finalizers or [])
    held = f"; held by {', '.join(finalizers)}" if finalizers else ""
    on_event(
        Note(
            "volume",
            f"PVC {name} is being deleted (since {since}{held}): waiting up to {wait_s:.0f}s for it to go, "
            "then creating it anew",
            "warning",
        )
    )
    stop = cancel or threading.Event()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if stop.wait(min(1.0, max(deadline - time.monotonic(), 0))):
            raise Cancelled(f"cancelled while PVC {name} was being deleted", "re-run the same command; it converges")
        current = read_claim(kube, namespace, name)
        if current is None or current.metadata.deletion_timestamp is None:
            return current
        finalizers = list(current.metadata.finalizers or [])
    why = (
        "the kubernetes.io/pvc-protection finalizer holds it: a pod may still use it (the finalizer stays while a "
        "pod mounts it)"
        if "kubernetes.io/pvc-protection" in finalizers
        else f"its finalizers ({', '.join(finalizers) or 'none'}) have not been removed"
    )
    raise InstallerError(
        f"PVC {name} in namespace {namespace} is being deleted (since {since}) and was still there after "
        f"{wait_s:.0f}s: {why}. A PVC being deleted cannot be reused: the registry's pod would stay Pending",
        f"find what still uses it (`kubectl get pods -n {namespace}`; an old registry pod goes with its release) or "
        f"what should remove the finalizer, wait until `kubectl get pvc {name} -n {namespace}` says NotFound, "
        "then re-run: the install creates the PVC anew (empty; the old one's images go with it)",
    )


def finish_claim(kube: KubeClient, plan: Plan, rendered: Rendered) -> list[str]:
    """After helm succeeded: take over a chart-made PVC, and grow the PVC to the Plan's size. Returns what changed."""
    claim = plan.claim
    if claim is None or rendered.claim is None:
        return []
    current = read_claim(kube, plan.namespace, claim.name)
    if current is None:
        return []
    done = []
    if claim_owner(current.metadata, plan.release) != "installer":
        adopt_claim(kube, plan.namespace, plan.release, claim.name)
        done.append(f"PVC {claim.name} is now the installer's own: `helm uninstall` keeps it")
    size = _requested(current)
    if parse_size(claim.size) > parse_size(size):
        request_size(kube, plan.namespace, claim.name, claim.size)
        done.append(f"PVC {claim.name} asked to grow from {size} to {claim.size}")
    return done


def adopt_claim(kube: KubeClient, namespace: str, release: str, name: str) -> None:
    """Label the PVC the installer's own and drop helm's ownership: `helm uninstall` and `helm rollback` leave it
    alone."""
    labels: dict[str, Any] = {
        **MANAGED_BY,
        INSTANCE_LABEL: release,
        "app.kubernetes.io/component": "registry-data",
        "heritage": None,
        "chart": None,
    }
    annotations: dict[str, Any] = {**KEEP_ANNOTATION, **{key: None for key in HELM_OWNERSHIP}}
    kube.call(
        f"label PVC {name} as the installer's",
        kube.core.patch_namespaced_persistent_volume_claim,
        name,
        namespace,
        {"metadata": {"labels": labels, "annotations": annotations}},
        **MERGE_PATCH,
    )


def request_size(kube: KubeClient, namespace: str, name: str, size: str) -> None:
    kube.call(
        f"resize PVC {name}",
        kube.core.patch_namespaced_persistent_volume_claim,
        name,
        namespace,
        {"spec": {"resources": {"requests": {"storage": size}}}},
        **MERGE_PATCH,
    )


def delete_claim(kube: KubeClient, namespace: str, name: str) -> None:
    kube.call(f"delete PVC {name}", kube.core.delete_namespaced_persistent_volume_claim, name, namespace)


def _requested(pvc: Any) -> str:
    return (pvc.spec.resources.requests or {}).get("storage", "0")


def keep_claim(kube: KubeClient, namespace: str, name: str) -> str | None:
    """Mark the data PVC so helm leaves it behind; returns its size, None when there is no such PVC."""
    try:
        pvc = kube.call(f"read PVC {name}", kube.core.read_namespaced_persistent_volume_claim, name, namespace)
    except NotFound:
        return None
    kube.call(
        f"annotate PVC {name}",
        kube.core.patch_namespaced_persistent_volume_claim,
        name,
        namespace,
        {"metadata": {"annotations": KEEP_ANNOTATION}},
    )
    return (pvc.spec.resources.requests or {}).get("storage", "?")

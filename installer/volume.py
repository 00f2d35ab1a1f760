"""The registry's data PVC: the installer makes and owns it, so helm never deletes the images.

The chart gets it as `persistence.existingClaim` and renders no PVC of its own. A release
whose chart made the PVC is migrated in place: the PVC gets `helm.sh/resource-policy: keep`,
the upgrade stops rendering it (helm leaves a kept object behind), and it is then labelled the
installer's own. Same object, same volume: nothing is copied.
"""

from __future__ import annotations

import logging
from typing import Any

from installer.kube import KubeClient, NotFound
from installer.plan import Plan
from installer.render import MANAGED_BY, Rendered
from installer.sizes import parse_size
from installer.state import HELM_OWNERSHIP, INSTANCE_LABEL, claim_owner

log = logging.getLogger(__name__)
MERGE_PATCH = {"_content_type": "application/merge-patch+json"}  # null deletes a key
KEEP_ANNOTATION = {"helm.sh/resource-policy": "keep"}


def read_claim(kube: KubeClient, namespace: str, name: str) -> Any | None:
    try:
        return kube.call(f"read PVC {name}", kube.core.read_namespaced_persistent_volume_claim, name, namespace)
    except NotFound:
        return None


def prepare_claim(kube: KubeClient, plan: Plan, rendered: Rendered, dry_run: bool = False) -> tuple[bool, str]:
    """Before helm runs: create the installer's PVC, or mark the chart's PVC to be kept. Returns (created, words)."""
    claim = plan.claim
    if claim is None or rendered.claim is None:
        return (
            False,
            f"the existing PVC {claim.name} (yours: never changed or deleted)"
            if claim is not None
            else "S3 storage: no volume",
        )
    current = read_claim(kube, plan.namespace, claim.name)
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

"""uninstall(): helm uninstall that keeps the data volume (unless asked), and upgrades with the release's own chart."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

from installer.errors import InstallerError
from installer.events import EventSink, discard, step
from installer.helm import HelmRunner
from installer.kube import KubeClient
from installer.lock import ReleaseLock


def uninstall(
    helm: HelmRunner,
    kube: KubeClient,
    namespace: str,
    release: str,
    keep_data: bool = True,
    on_event: EventSink = discard,
) -> list[str]:
    """helm uninstall; the data PVC survives unless keep_data is False. Returns lines to tell the user.

    A release whose chart still owns its PVC is migrated first (the PVC becomes the installer's
    own), so the uninstall cannot take the images with it. With keep_data False and the release
    already gone (a plain `helm uninstall`), the kept PVC is deleted.
    """
    from installer.plan import chart_fullname
    from installer.state import claim_owner
    from installer.volume import adopt_claim, delete_claim, keep_claim, read_claim

    installed = helm.status(release, namespace) is not None
    persistence = (helm.get_values(release, namespace).get("persistence") or {}) if installed else {}
    name = persistence.get("existingClaim") or chart_fullname(release)
    pvc = read_claim(kube, namespace, name)
    owner = claim_owner(pvc.metadata, release) if pvc is not None else None
    size = (pvc.spec.resources.requests or {}).get("storage", "?") if pvc is not None else None
    where = f"PVC {namespace}/{name}"
    if not installed:
        if owner == "installer" and not keep_data:
            with step(on_event, "volume", f"deleting {where}"):
                delete_claim(kube, namespace, name)
            return [
                f"release {release} was already uninstalled; deleted the data volume {where} ({size}): the images are "
                "gone"
            ]
        kept = f"; its data is kept in {where} ({size})" if owner == "installer" else ""
        raise InstallerError(
            f"release {release} is not installed in namespace {namespace}{kept}",
            "check --release and --namespace (helm list -A)"
            + ("; `registry-installer uninstall --delete-data` deletes the kept data" if kept else ""),
        )
    with ReleaseLock(kube, namespace, release):
        if owner == "chart" and keep_data:
            keep_claim(kube, namespace, name)
            if not persistence.get("existingClaim"):
                detach_claim(helm, kube, namespace, release, name, on_event)
            adopt_claim(kube, namespace, release, name)
            owner = "installer"
        from installer.managed import remove_managed

        with step(
            on_event, "exposure", "removing the installer's own objects (HTTPRoute, policies, the GC CronJob)"
        ) as run:
            removed = [f"removed {words}" for words in remove_managed(kube, namespace, release)]
            run.result = ", ".join(removed) or "none"
        from types import SimpleNamespace

        from installer.clients import remove_clients

        removed += remove_clients(kube, SimpleNamespace(namespace=namespace, release=release), on_event)
        with step(on_event, "helm", f"helm uninstall {release}"):
            helm.uninstall(release, namespace)
    if pvc is None:
        return removed
    if owner == "other":
        return removed + [
            f"{where} is not the installer's (it was given as storage.filesystem.existing_claim): left as it is"
            + (
                f"; delete it yourself if you mean it: kubectl -n {namespace} delete pvc {name}"
                if not keep_data
                else ""
            )
        ]
    if keep_data:
        return removed + [
            f"kept the data volume: {where} ({size}) holds the images. A new install of release {release} in namespace "
            f"{namespace} reuses it by itself; `registry-installer uninstall --delete-data` deletes it"
        ]
    if read_claim(kube, namespace, name) is not None:
        with step(on_event, "volume", f"deleting {where}"):
            delete_claim(kube, namespace, name)
    return removed + [f"deleted the data volume {where} ({size}): the images are gone"]


def detach_claim(
    helm: HelmRunner, kube: KubeClient, namespace: str, release: str, claim: str, on_event: EventSink
) -> None:
    """Take the chart-made PVC out of the release, so `helm uninstall` cannot delete the images.

    helm uninstall deletes everything in the release's manifest; an upgrade that no longer
    renders the PVC skips deleting it when the live object says `helm.sh/resource-policy: keep`.
    The upgrade uses the release's own chart and values with `persistence.existingClaim` set to
    the same name, so the Deployment does not change.
    """
    upgrade_stored_chart(
        helm,
        kube,
        namespace,
        release,
        ["--set-string", f"persistence.existingClaim={claim}"],
        on_event,
        "keep-data",
        f"detaching PVC {claim} from the release",
    )


def upgrade_stored_chart(
    helm: HelmRunner,
    kube: KubeClient,
    namespace: str,
    release: str,
    set_args: list[str],
    on_event: EventSink,
    step_name: str,
    detail: str,
    wait: bool = False,
    timeout: str = "10m",
    cancel: threading.Event | None = None,
    claims: tuple[str, ...] = (),
) -> int | None:
    """`helm upgrade --reuse-values` plus `set_args` with the chart stored in the release (no download, same version),
    the same way `apply` upgrades: helm without its --wait/--atomic; with `wait`, the installer's own wait for the
    rollout (explaining it; `claims`: the data PVCs). Returns the revision it deployed.

    Raises:
        InstallerError: helm failed, or (with `wait`) the rollout failed, timed out or was cancelled; the release has
        been rolled back to the revision before (the message says so).
    """
    from installer.apply import Upgrade, deployed_revision, explain_failure, roll_back, upgrade_and_wait
    from installer.helm import HelmFailed
    from installer.plan import ChartRef
    from installer.state import release_chart_dir

    previous = deployed_revision(helm, namespace, release)
    if previous is None:  # nothing to return to on a failure: change nothing
        raise InstallerError(
            f"release {release} in namespace {namespace} has no deployed revision (helm history)",
            "re-run `registry-installer apply` to converge it first",
        )
    upgrade = Upgrade(namespace, release, claims, timeout)
    workdir = Path(tempfile.mkdtemp(prefix="registry-installer-chart-"))
    try:
        chart_dir = release_chart_dir(kube, namespace, release, workdir / "chart")
        args = helm.upgrade_args(
            release,
            ChartRef(str(chart_dir), None, None),
            namespace,
            [],
            wait=False,
            timeout=timeout,
            rollback=False,
            dry_run=False,
        )
        args += ["--reuse-values", *set_args]
        try:
            upgrade_and_wait(helm, kube, upgrade, args, detail, on_event, cancel, wait=wait, step_name=step_name)
        except (HelmFailed, InstallerError) as exc:
            roll_back(helm, namespace, release, previous, on_event, deployed=upgrade.revision is not None)
            raise explain_failure(exc, f"Release {release} is back at revision {previous}, as it was before.") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return upgrade.revision

"""apply(): namespace, Secrets, helm upgrade --install (or a server-side dry run); rolls back on failure."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from installer.errors import InstallerError
from installer.events import EventSink, HelmLine, Note, discard, step
from installer.helm import HelmFailed, HelmRunner
from installer.kube import KubeClient
from installer.lock import ReleaseLock
from installer.plan import Plan
from installer.render import Rendered, write_private
from installer.secret_writes import apply_secrets, ensure_namespace, restore_secrets, snapshot_secrets
from installer.verify import pull_check_namespace
from installer.volume import delete_claim, finish_claim, prepare_claim

if TYPE_CHECKING:
    from installer.clients import ClientsResult, PullCheck
    from installer.smoke import SmokeResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyOptions:
    dry_run: bool = False
    # wait for the registry's pods (both front ends the same way): helm runs without --wait and returns once the
    # release is deployed, the installer's rollout watch waits up to `timeout` and rolls back itself on a failure;
    # stopping the wait (apply's `detach`, the wizard's) leaves no helm running and no release pending
    wait: bool = True
    timeout: str = "10m"
    smoke: bool = True
    smoke_blob_size: int = 1024 * 1024
    smoke_address: str | None = None  # host[:port] to push through instead of the first host (DNS not ready yet)
    pull_grace: float = (
        60.0  # seconds an image may fail to pull before the wait ends (not found/denied ends it at once)
    )
    pull_check: bool = (
        True  # after the smoke push, a pod pulls the pushed image (clients.pull_check and a namespace needed too)
    )
    pull_check_timeout: float = 90.0


@dataclass
class ApplyResult:
    """What an install did; `smoke` and `pull_check` are filled in by engine.install after apply (None: not run)."""

    ok: bool
    revision: int | None = None
    changed_secrets: list[str] = field(default_factory=list)
    helm_output: str = ""
    smoke: SmokeResult | None = None
    seconds: float = 0.0
    clients: ClientsResult | None = None
    pull_check: PullCheck | None = None
    ready: bool | None = None  # the pods were seen ready (False: the user stopped waiting); None: not waited


def helm_values_files(rendered: Rendered, workdir: Path) -> list[str]:
    """values.yaml and, 0600, secret-values.yaml in `workdir` (a private temp dir removed by the caller)."""
    values = workdir / "values.yaml"
    values.write_text(rendered.values_yaml(), encoding="utf-8")
    files = [str(values)]
    if rendered.secret_values:
        secret = workdir / "secret-values.yaml"
        write_private(secret, rendered.secret_values_yaml())
        files.append(str(secret))
    return files


def helm_command_text(plan: Plan, helm: HelmRunner, options: ApplyOptions) -> str:
    """The helm command the install runs, for the review screen (file names, no secret content)."""
    return "helm " + " ".join(
        _upgrade_args(plan, helm, options, ["values.yaml", "secret-values.yaml"], options.dry_run)
    )


def _upgrade_args(
    plan: Plan, helm: HelmRunner, options: ApplyOptions, files: list[str], dry_run: bool, create_namespace=False
) -> list[str]:
    """`helm upgrade --install` of the plan, never with helm's --wait/--atomic: the installer waits (`_own_wait`)
    and rolls back itself (`_recover`)."""
    return helm.upgrade_args(
        plan.release,
        plan.chart,
        plan.namespace,
        files,
        wait=False,
        timeout=options.timeout,
        rollback=False,
        dry_run=dry_run,
        create_namespace=create_namespace,
    )


def apply(
    plan: Plan,
    rendered: Rendered,
    helm: HelmRunner,
    kube: KubeClient,
    options: ApplyOptions = ApplyOptions(),
    on_event: EventSink = discard,
    cancel: threading.Event | None = None,
    detach: threading.Event | None = None,  # set to stop waiting for the pods (deployed, unverified)
) -> ApplyResult:
    """Install or upgrade (no smoke push: engine.install runs it after this). On a helm failure the release is
    rolled back and the Secrets restored.

    Raises:
        InstallerError (or a subclass): what failed and what to do; the cluster is as before or re-runnable.
    """
    started = time.monotonic()
    result = ApplyResult(ok=False)
    _ = helm.version  # refuse a missing or too old helm before touching anything
    with step(on_event, "permissions", "checking what the install needs", cancel):
        _check_permissions(plan, kube, options)
    with step(on_event, "namespace", plan.namespace, cancel) as run:
        created = ensure_namespace(kube, plan.namespace, dry_run=options.dry_run)
        run.result = "created" if created else "exists"
    if options.dry_run:
        return _dry_run(plan, rendered, helm, kube, options, on_event, result, started, created)
    with ReleaseLock(kube, plan.namespace, plan.release):
        previous = _deployed_revision(helm, plan)
        _recover_interrupted(plan, helm, on_event, previous, cancel)
        names = [s["metadata"]["name"] for s in rendered.secrets]
        snapshot = snapshot_secrets(kube, plan.namespace, names)
        with step(on_event, "secrets", ", ".join(names) or "none", cancel) as run:
            result.changed_secrets = apply_secrets(kube, rendered.secrets, snapshot)
            run.result = f"changed: {', '.join(result.changed_secrets)}" if result.changed_secrets else "unchanged"
        claim_created = False
        try:
            with step(on_event, "volume", plan.claim.name if plan.claim else "none", cancel) as run:
                claim_created, run.result = prepare_claim(kube, plan, rendered, on_event=on_event, cancel=cancel)
            result.helm_output = _run_helm(plan, rendered, helm, kube, options, on_event, cancel, detach, result)
        except (HelmFailed, InstallerError) as exc:
            # helm had deployed the revision (result.revision) before the installer's wait failed
            deployed = result.revision is not None
            _recover(
                plan, helm, kube, options, on_event, previous, snapshot, result.changed_secrets, claim_created, deployed
            )
            raise _explain_failure(exc, previous) from None
        for line in finish_claim(kube, plan, rendered):
            on_event(Note("volume", line))
        _remove_unused_secrets(plan, kube, rendered, on_event)
        _scheduled_gc_state(plan, kube, on_event)
        _exposure_objects(plan, rendered, kube, on_event)
        result.clients = _clients(plan, kube, on_event)
    result.ok = True
    result.seconds = time.monotonic() - started
    return result


PENDING = ("pending-install", "pending-upgrade", "pending-rollback")


def _remove_unused_secrets(plan, kube, rendered, on_event) -> None:
    """After a successful upgrade, delete the installer's own Secrets that an earlier choice needed and the release no
    longer uses (the ingress basic-auth Secret after switching to registry auth or none). Only ones labelled as ours."""
    from installer.kube import NotFound

    wanted = {s["metadata"]["name"] for s in rendered.secrets}
    for name in (plan.names.basic_auth,):
        if name in wanted:
            continue
        try:
            secret = kube.call(f"read Secret {name}", kube.core.read_namespaced_secret, name, plan.namespace)
        except NotFound:
            continue
        if (secret.metadata.labels or {}).get("app.kubernetes.io/managed-by") != "registry-installer":
            continue
        with step(on_event, "cleanup", f"Secret {name}: no longer used") as run:
            kube.call(f"delete Secret {name}", kube.core.delete_namespaced_secret, name, plan.namespace)
            run.result = "deleted"


def _release_status(helm: HelmRunner, plan: Plan) -> str | None:
    return (helm.status(plan.release, plan.namespace) or {}).get("info", {}).get("status")


def _recover_interrupted(plan, helm, on_event, previous, cancel) -> None:
    """A release left pending-* by a run that died: we hold the lock, so no installer runs now; roll it back first."""
    status = _release_status(helm, plan)
    if status not in PENDING:
        return
    with step(on_event, "recover", f"release {plan.release} was left {status} by an interrupted run", cancel) as run:
        if previous is not None:
            helm.rollback(plan.release, plan.namespace, previous)
            run.result = f"rolled back to revision {previous}, the last good one"
        else:
            helm.uninstall(plan.release, plan.namespace)
            run.result = "removed the unfinished first install"


def _dry_run(plan, rendered, helm, kube, options, on_event, result, started, namespace_missing):
    ReleaseLock(kube, plan.namespace, plan.release).refuse_if_held()
    status = None if namespace_missing else _release_status(helm, plan)
    if status in PENDING:
        previous = _deployed_revision(helm, plan)
        with step(on_event, "recover", f"release {plan.release} is {status}: an earlier run was interrupted") as run:
            run.result = (
                f"a real apply rolls it back to revision {previous} first, then upgrades"
                if previous
                else "a real apply removes the unfinished first install first, then installs"
            )
        result.ok = True
        result.seconds = time.monotonic() - started
        return result
    with step(on_event, "secrets", "server-side dry run") as run:
        names = [s["metadata"]["name"] for s in rendered.secrets]
        if namespace_missing:
            run.result = f"would create {', '.join(names) or 'none'}"
        else:
            snapshot = snapshot_secrets(kube, plan.namespace, names)
            run.result = (
                f"would change: {', '.join(apply_secrets(kube, rendered.secrets, snapshot, dry_run=True)) or 'nothing'}"
            )
    if plan.claim is not None:
        with step(on_event, "volume", "server-side dry run") as run:
            run.result = (
                f"would create PVC {plan.claim.name}"
                if namespace_missing
                else prepare_claim(kube, plan, rendered, dry_run=True)[1]
            )
    with step(on_event, "helm", "helm upgrade --install --dry-run=server") as run:
        workdir = Path(tempfile.mkdtemp(prefix="registry-installer-"))
        try:
            args = _upgrade_args(
                plan, helm, options, helm_values_files(rendered, workdir), True, create_namespace=namespace_missing
            )
            # the dry run's output contains the rendered Secrets: keep it out of the event stream
            helm.upgrade_install(args, on_line=lambda _line: None)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        run.result = "the API server accepts every object"
    if rendered.objects and not namespace_missing:
        from installer.managed import apply_managed

        with step(on_event, "exposure", "server-side dry run of the installer's own objects") as run:
            applied, _ = apply_managed(kube, rendered.objects, plan.namespace, plan.release, dry_run=True)
            run.result = f"would apply {', '.join(applied)}"
    from installer.clients import client_config_maps, client_secrets, node_trust_objects

    planned = [
        f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}"
        for o in client_secrets(plan) + client_config_maps(plan) + node_trust_objects(plan)
    ]
    if planned:
        on_event(
            Note(
                "clients",
                f"a real apply also applies {', '.join(planned)}"
                + (" and runs the in-cluster pull check" if pull_check_namespace(plan) else ""),
            )
        )
    result.ok = True
    result.seconds = time.monotonic() - started
    return result


def _check_permissions(plan: Plan, kube: KubeClient, options: ApplyOptions) -> None:
    from installer.probe import ClusterProbe

    checks = ClusterProbe(kube, plan.namespace, plan.release).permissions()
    unneeded = {"httproutes" if plan.gateway is None else "ingresses"}
    if not plan.choices.extras.garbage_collect.enabled:
        unneeded.update(("cronjobs", "roles", "rolebindings", "serviceaccounts"))
    missing = [c for c in checks if not c.allowed and c.resource not in unneeded]
    if missing:
        who = f"context {kube.context}" if kube.context else "the current identity"
        raise InstallerError(
            f"{who} may not: " + "; ".join(c.words() for c in missing) + ". Nothing was changed.",
            "ask a cluster admin for these permissions (RBAC), or use a context that has them (--context)",
        )


def _scheduled_gc_state(plan: Plan, kube: KubeClient, on_event: EventSink) -> None:
    """Under the lock (no scheduled collection runs now): writable again if a killed run left the registry read-only,
    and the record the CronJob writes to exists (it may only patch it)."""
    from installer.gcschedule import READONLY_ENV, clear_readonly_override
    from installer.status import ensure_gc_record

    if clear_readonly_override(kube, plan.namespace, plan.release):
        on_event(
            Note(
                "gc",
                f"removed {READONLY_ENV} from the registry: a scheduled garbage collection was stopped before it "
                "could make the registry writable again",
                "warning",
            )
        )
    if plan.choices.extras.garbage_collect.enabled:
        ensure_gc_record(kube, plan.namespace, plan.release)


def _exposure_objects(plan: Plan, rendered: Rendered, kube: KubeClient, on_event: EventSink) -> None:
    """Apply the installer's own objects (HTTPRoute, policy, ...) and remove those the exposure no longer needs."""
    from installer.managed import apply_managed, list_managed

    if not rendered.objects and not list_managed(kube, plan.namespace, plan.release):
        return
    detail = (
        ", ".join(f"{o['kind']} {o['metadata']['name']}" for o in rendered.objects)
        or "removing the installer's objects the release no longer needs"
    )
    with step(on_event, "exposure", detail) as run:
        try:
            applied, removed = apply_managed(kube, rendered.objects, plan.namespace, plan.release)
        except InstallerError as exc:
            raise _after_helm(exc) from None
        run.result = (
            "; ".join(
                p
                for p in (
                    f"applied {', '.join(applied)}" if applied else "",
                    f"removed {', '.join(removed)}" if removed else "",
                )
                if p
            )
            or "nothing to change"
        )


def _clients(plan: Plan, kube: KubeClient, on_event: EventSink):
    from installer.clients import apply_clients

    try:
        return apply_clients(kube, plan, on_event)
    except InstallerError as exc:
        raise _after_helm(exc) from None


def _after_helm(exc: InstallerError) -> InstallerError:
    """A step after helm failed: the registry is installed; a re-run converges the rest."""
    return InstallerError(
        f"the registry is installed (helm succeeded), but {exc.message}",
        exc.hint or "fix the cause and re-run the same command: it converges",
    )


def _deployed_revision(helm: HelmRunner, plan: Plan) -> int | None:
    return deployed_revision(helm, plan.namespace, plan.release)


def deployed_revision(helm: HelmRunner, namespace: str, release: str) -> int | None:
    """The release's last good revision (deployed or superseded), None when it has none."""
    for entry in reversed(helm.history(release, namespace)):
        if entry.get("status") in ("deployed", "superseded"):
            return int(entry["revision"])
    return None


def _run_helm(plan, rendered, helm, kube, options, on_event, cancel, detach, result) -> str:
    """helm upgrade --install, then (options.wait) the installer's own wait for the pods, as one "helm" step; sets
    `result.revision` and, when waiting, `result.ready`."""
    workdir = Path(tempfile.mkdtemp(prefix="registry-installer-"))
    try:
        args = _upgrade_args(plan, helm, options, helm_values_files(rendered, workdir), False)
        upgrade = Upgrade(
            plan.namespace, plan.release, data_claims(plan, rendered), options.timeout, options.pull_grace
        )
        try:
            upgrade_and_wait(
                helm,
                kube,
                upgrade,
                args,
                f"helm {helm.version.text} upgrade --install {plan.release}",
                on_event,
                cancel,
                wait=options.wait,
                detach=detach,
            )
        finally:
            result.revision, result.ready = upgrade.revision, upgrade.ready
        return upgrade.output
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the secret values never outlive the run


@dataclass
class Upgrade:
    """One helm change of a release and the installer's own wait for it (apply, and the day-two upgrades of
    uninstall.py and maintenance.py); `revision`, `ready` and `output` are filled in as it goes."""

    namespace: str
    release: str
    claims: tuple[str, ...] = ()  # the data PVCs the watch explains
    timeout: str = "10m"
    pull_grace: float = 60.0
    revision: int | None = None  # set once helm has deployed it (a failure after that rolls it back too)
    ready: bool | None = None  # the pods were seen ready (False: stopped waiting); None: not waited
    output: str = ""


def upgrade_and_wait(
    helm: HelmRunner,
    kube: KubeClient,
    upgrade: Upgrade,
    args: list[str],
    detail: str,
    on_event: EventSink,
    cancel: threading.Event | None,
    *,
    wait: bool,
    detach: threading.Event | None = None,
    step_name: str = "helm",
) -> None:
    """`helm upgrade` (args without helm's --wait/--atomic), then, with `wait`, the installer's own wait for the
    rollout, as one step. The caller recovers on a failure (`roll_back`).

    Raises:
        HelmFailed, RolloutFailed, Cancelled or InstallerError (the timeout).
    """

    def change() -> int | None:
        upgrade.output = helm.upgrade_install(args, on_line=lambda line: on_event(HelmLine(line)), cancel=cancel)
        status = helm.status(upgrade.release, upgrade.namespace) or {}
        upgrade.revision = status.get("version")
        run.result = f"revision {upgrade.revision} {status.get('info', {}).get('status', '')}".strip()
        return upgrade.revision

    with step(on_event, step_name, detail, cancel) as run:
        upgrade.ready = change_and_wait(kube, upgrade, change, on_event, cancel, wait=wait, detach=detach)
        if upgrade.ready is not None:  # the wait is part of this step, as helm's --wait was
            run.result += ", pods ready" if upgrade.ready else ", not verified: stopped waiting for the pods"


def change_and_wait(
    kube: KubeClient,
    upgrade: Upgrade,
    change,
    on_event: EventSink,
    cancel: threading.Event | None,
    *,
    wait: bool = True,
    detach: threading.Event | None = None,
) -> bool | None:
    """Run `change` (a helm upgrade or rollback without helm's wait; returns the revision it deployed), then, with
    `wait`, the installer's own wait for the registry's pods (`RolloutWatcher`: explains the rollout as it goes).
    Returns None when not waiting, else True (ready) or False (stopped waiting: `detach`).

    Raises:
        RolloutFailed, Cancelled or InstallerError (the timeout), besides what `change` raises.
    """
    from installer.watch import RolloutWatcher

    if not wait:
        change()
        return None
    watcher = RolloutWatcher(
        kube, upgrade.namespace, upgrade.release, upgrade.claims, on_event, cancel, pull_grace=upgrade.pull_grace
    )
    try:
        watcher.mark_old_events()  # before helm: this rollout's first events (a failed provisioning) count as new
    except Exception as exc:  # the watch tries again when it starts, and then waits without explanations
        log.info("cannot list the events: %s", exc)
    return _own_wait(watcher, upgrade.release, upgrade.timeout, on_event, detach, change())


def _own_wait(watcher, release, timeout, on_event, detach, revision) -> bool:
    """helm has deployed the release without waiting; wait here for the registry's pods, explaining the rollout as
    it goes and ending early on a failure no waiting cures. True when ready, False when the user stopped waiting
    (`detach`).

    Raises:
        RolloutFailed, Cancelled or InstallerError (the timeout): the caller rolls the deployed revision back.
    """
    from installer.errors import Cancelled
    from installer.maintenance import duration_seconds
    from installer.plan import chart_fullname

    seconds = duration_seconds(timeout)
    on_event(Note("wait", f"helm deployed revision {revision}; waiting up to {timeout} for the registry's pods"))
    with watcher as w:
        outcome = w.wait_ready(chart_fullname(release), seconds, detach)
    if outcome in ("ready", "detached"):
        return outcome == "ready"
    if outcome == "failed" and w.failure is not None:
        raise RolloutFailed(w.failure)
    if outcome == "cancelled":
        raise Cancelled("cancelled while waiting for the registry pods", "re-run the same command; it converges")
    raise w.timeout_error(timeout)  # each object still not ready, its last state and its fix


def data_claims(plan: Plan, rendered: Rendered) -> tuple[str, ...]:
    """The PVC the registry's pods mount (none on object storage)."""
    from installer.state import chart_fullname

    persistence = rendered.values.get("persistence") or {}
    if rendered.values.get("storage", "filesystem") != "filesystem" or not persistence.get("enabled"):
        return ()
    return (persistence.get("existingClaim") or chart_fullname(plan.release),)


class RolloutFailed(InstallerError):
    """The rollout watcher saw a failure no waiting cures."""

    def __init__(self, problem) -> None:
        first, *rest = problem.message.splitlines() or [""]
        text = f"the registry cannot start: {problem.kind} {problem.name}: {problem.reason}: {first}"
        if rest:
            text += "\n" + "\n".join(f"  | {line}" for line in rest)
        super().__init__(text, problem.fix)
        self.problem = problem


def _recover(
    plan, helm, kube, options, on_event, previous, snapshot, changed, claim_created=False, deployed=False
) -> None:
    """Roll the release back to `previous` (or remove a failed first install) and restore the Secrets; `deployed`:
    the failed revision is deployed (helm succeeded, the wait failed) and is rolled back too."""
    try:
        roll_back(helm, plan.namespace, plan.release, previous, on_event, deployed)
    finally:
        restore_secrets(kube, plan.namespace, snapshot, changed)
        if claim_created and plan.claim is not None:  # made by this run, still empty: leave the cluster as it was
            try:
                delete_claim(kube, plan.namespace, plan.claim.name)
            except InstallerError as exc:
                log.warning("could not remove the new PVC %s: %s", plan.claim.name, exc)


def roll_back(
    helm: HelmRunner, namespace: str, release: str, previous: int | None, on_event: EventSink, deployed: bool
) -> None:
    """The "rollback" step after a failed upgrade: back to revision `previous` (or remove a failed first install).
    `deployed`: helm deployed the failed revision (the wait failed), so it is rolled back even though helm says
    deployed."""
    with step(
        on_event, "rollback", f"to revision {previous}" if previous else "removing the failed first install"
    ) as run:
        status = (helm.status(release, namespace) or {}).get("info", {}).get("status")
        if previous is not None and status is not None and (deployed or status != "deployed"):
            helm.rollback(release, namespace, previous)
            run.result = f"release back at revision {previous}"
        elif previous is None and status is not None:
            helm.uninstall(release, namespace)
            run.result = "failed first install removed"
        else:
            run.result = f"release status {status or 'absent'}: nothing to roll back"


def _explain_failure(exc: InstallerError, previous: int | None) -> InstallerError:
    still = (
        f"The previous registry (revision {previous}) is still running." if previous else "Nothing is left installed."
    )
    return explain_failure(exc, f"{still} The Secrets are as they were.")


def explain_failure(exc: InstallerError, after: str) -> InstallerError:
    """The failure's message followed by `after` (where the rollback left things), its hint kept."""
    separator = "\n" if "\n" in exc.message else " " if exc.message.endswith(".") else ". "
    return InstallerError(f"{exc.message}{separator}{after}", exc.hint or "fix the cause above and re-run")

"""After an install: the smoke push through the Plan's address and the in-cluster pull check."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from installer.events import EventSink, Note
from installer.kube import KubeClient
from installer.plan import Plan

if TYPE_CHECKING:
    from installer.apply import ApplyOptions, ApplyResult
    from installer.smoke import SmokeResult, SmokeTarget


def verify_install(
    plan: Plan, kube: KubeClient, options: ApplyOptions, result: ApplyResult, on_event: EventSink
) -> None:
    """After apply: the smoke push through the public address and, when clients pull, the in-cluster pull check.

    Sets `result.smoke`, `result.pull_check` and `result.ok`. Without waiting for the pods (or with the smoke push
    off) nothing is pushed and a note says so.
    """
    if not (options.smoke and options.wait):
        if options.smoke:
            on_event(
                Note(
                    "smoke",
                    "smoke push skipped: without waiting for the pods the registry may not be up yet; run "
                    "`registry-installer smoke` later",
                )
            )
        return
    check = options.pull_check and pull_check_namespace(plan) is not None
    smoke = run_plan_smoke(
        plan, on_event, options.smoke_blob_size, options.smoke_address, keep=check, settle=ROUTE_SETTLE
    )
    result.smoke, result.ok = smoke, smoke.ok
    if not (check and smoke.ok and smoke.digest):
        return
    try:
        result.pull_check = plan_pull_check(
            plan,
            kube,
            smoke.digest,
            on_event,
            options.pull_check_timeout,
            tuple(result.clients.nodes) if result.clients is not None else (),
        )
    finally:  # the image was kept only for this step
        delete_smoke_image(plan, smoke.digest, options.smoke_address, on_event)
    result.ok = result.pull_check.ok


def pull_check_namespace(plan: Plan) -> str | None:
    """Where the in-cluster pull check runs: the first client namespace (it has the pull Secret); None (no check)
    when no namespace pulls or clients.pull_check is off."""
    clients = plan.choices.clients
    return clients.namespaces[0] if clients.pull_check and clients.namespaces else None


def plan_pull_check(
    plan: Plan,
    kube: KubeClient,
    digest: str,
    on_event: EventSink,
    timeout: float = 90.0,
    nodes=(),
    pull_secret: str | None | bool = True,
    repository: str = "registry-installer/smoke",
    namespace: str | None = None,
):
    """The kubelet pulls the smoke image (by digest, through clients.pull_address) in the pull-check namespace (or
    `namespace`)."""
    from installer.clients import pull_secret_name, run_pull_check

    namespace = namespace or pull_check_namespace(plan) or plan.namespace
    if pull_secret is True:
        secret = pull_secret_name(plan.release) if plan.pull_user is not None else None
    else:
        secret = pull_secret or None
    return run_pull_check(
        kube, namespace, f"{plan.pull_address}/{repository}@{digest}", secret, plan.release, on_event, timeout, nodes
    )


def delete_smoke_image(
    plan: Plan, digest: str, address: str | None, on_event: EventSink, repository: str = "registry-installer/smoke"
) -> None:
    """Delete the smoke image kept for the pull check (a failure is a note: the image is 1 MiB)."""
    from installer.registry_client import RegistryClient, RegistryError, ca_pem_file

    user = next((u for u in plan.users if u.password is not None), None)
    try:
        with (
            ca_pem_file(plan.ca_pem) as ca_file,
            RegistryClient(
                address or plan.registry_host,
                username=user.name if user else None,
                password=user.password if user else None,
                ca_file=ca_file,
            ) as client,
        ):
            client.delete_manifest(repository, digest)
    except (RegistryError, OSError, ValueError) as exc:
        on_event(Note("pull check", f"could not delete the smoke image {repository}@{digest}: {exc}", "warning"))


def run_plan_smoke(
    plan: Plan, on_event: EventSink, blob_size: int, address: str | None = None, keep: bool = False, settle: float = 0.0
) -> SmokeResult:
    """The smoke push through the registry's public address (or `address`), with the Plan's credentials and CA.

    `settle`: seconds to wait first for the ingress to route to the registry (right after an install).
    """
    from installer.smoke import SmokeTarget, run_smoke

    user = next((u for u in plan.users if u.password is not None), None)
    if plan.users and user is None:
        on_event(
            Note(
                "smoke",
                "no user's password is known to the installer (all kept from the release): the smoke push goes without "
                "credentials and expects 401; run `registry-installer smoke --username USER --password-env VAR` to "
                "test a login",
                "warning",
            )
        )
    from installer.registry_client import ca_pem_file

    with ca_pem_file(plan.ca_pem) as ca_file:
        target = SmokeTarget(
            registry=address or plan.registry_host,
            username=user.name if user else None,
            password=user.password if user else None,
            ca_file=ca_file,
            controller_family=plan.controller_family,
            blob_size=blob_size,
            keep=keep,
        )
        if settle:
            wait_until_routed(target, on_event, settle)
        return run_smoke(target, on_event=on_event)


ROUTE_SETTLE = 30.0  # seconds an ingress controller may take to load a new Ingress and its backends
NOT_ROUTED_YET = (404, 502, 503, 504)


def wait_until_routed(target: SmokeTarget, on_event: EventSink, seconds: float) -> None:
    """Wait (up to `seconds`) while the address answers as an ingress that does not route to the registry yet.

    Right after helm says the pods are ready, the ingress controller may still be loading the new
    Ingress (its default backend answers 404) or its backends (502/503/504). The smoke test would
    call that a broken install; waiting a little tells the two apart. Any other answer, good or
    bad, is left to the smoke test to judge.
    """
    from installer.registry_client import RegistryError

    deadline = time.monotonic() + seconds
    told = False
    while True:
        try:
            client = target.client(timeout=10)
        except ValueError:
            return
        try:
            client.ping()
            return
        except RegistryError as error:
            if error.status not in NOT_ROUTED_YET or time.monotonic() >= deadline:
                return
            if not told:
                on_event(
                    Note(
                        "smoke",
                        f"{target.registry} answers HTTP {error.status}: the ingress does not route to the registry "
                        f"yet; waiting up to {seconds:.0f}s",
                    )
                )
                told = True
        finally:
            client.close()
        time.sleep(1.0)

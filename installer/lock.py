"""One installer per release at a time: a Lease object held while applying, renewed, released on exit."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading

from installer.errors import InstallerError
from installer.kube import KubeClient, NotFound

log = logging.getLogger(__name__)
LEASE_SECONDS = 60


class LockHeld(InstallerError):
    """Another installer holds the release's lock."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _holder_died_here(holder: str) -> bool:
    """True when the holder was a process on this machine that no longer runs (its lease is stale)."""
    host, _, rest = holder.partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class ReleaseLock:
    """`with ReleaseLock(kube, ns, release): ...` — refuses to start while another live holder has it."""

    def __init__(self, kube: KubeClient, namespace: str, release: str, seconds: int = LEASE_SECONDS) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = f"{release}-installer-lock"
        self.release = release
        self.seconds = seconds
        self.holder = f"{socket.gethostname()}/{os.getpid()}/{id(self):x}"
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _body(self, resource_version: str | None = None):
        from kubernetes import client

        now = _now()
        meta = client.V1ObjectMeta(
            name=self.name,
            namespace=self.namespace,
            labels={"app.kubernetes.io/managed-by": "registry-installer"},
            resource_version=resource_version,
        )
        return client.V1Lease(
            metadata=meta,
            spec=client.V1LeaseSpec(
                holder_identity=self.holder, lease_duration_seconds=self.seconds, acquire_time=now, renew_time=now
            ),
        )

    def _read(self):
        try:
            return self.kube.call(
                f"read Lease {self.name}", self.kube.coordination.read_namespaced_lease, self.name, self.namespace
            )
        except NotFound:
            return None

    def _scheduled_run_ended(self, holder: str) -> bool:
        """True when `holder` is the scheduled collection's pod (installer/gcschedule.py) and it no longer runs."""
        from installer.gcschedule import LEASE_HOLDER_PREFIX

        if not holder.startswith(LEASE_HOLDER_PREFIX):
            return False
        try:
            pod = self.kube.call(
                "read the scheduled collection's pod",
                self.kube.core.read_namespaced_pod,
                holder.removeprefix(LEASE_HOLDER_PREFIX),
                self.namespace,
            )
        except NotFound:
            return True
        return bool(pod.status and pod.status.phase in ("Succeeded", "Failed"))

    def _refuse_live(self, current) -> None:
        """LockHeld when `current` (a Lease) is held by an installer that is still running."""
        from installer.gcschedule import LEASE_HOLDER_PREFIX

        spec = current.spec
        renewed = spec.renew_time or spec.acquire_time
        expires = renewed + dt.timedelta(seconds=spec.lease_duration_seconds or self.seconds) if renewed else _now()
        holder = spec.holder_identity or ""
        if not holder or expires <= _now() or _holder_died_here(holder) or self._scheduled_run_ended(holder):
            return
        if holder.startswith(LEASE_HOLDER_PREFIX):
            raise LockHeld(
                f"the scheduled garbage collection (pod {holder.removeprefix(LEASE_HOLDER_PREFIX)}) is running on "
                f"release {self.release} in namespace {self.namespace}: the registry is read-only until it ends",
                f"wait for it to finish (kubectl -n {self.namespace} logs {holder.removeprefix(LEASE_HOLDER_PREFIX)})",
            )
        raise LockHeld(
            f"another registry-installer ({holder}) is applying release {self.release} in namespace {self.namespace}",
            f"wait for it to finish; if it died, its lock expires at {expires:%H:%M:%S} UTC "
            f"(Lease {self.namespace}/{self.name})",
        )

    def refuse_if_held(self) -> None:
        """For a dry run, which takes no lock: LockHeld while another installer is applying."""
        current = self._read()
        if current is not None:
            self._refuse_live(current)

    def acquire(self) -> None:
        api = self.kube.coordination
        current = self._read()
        if current is None:
            try:
                self.kube.call(f"create Lease {self.name}", api.create_namespaced_lease, self.namespace, self._body())
            except InstallerError as exc:
                if "already exists" in exc.message:
                    raise LockHeld(
                        f"another registry-installer just started on release {self.release}",
                        "wait for it to finish, then re-run",
                    ) from None
                raise
        else:
            self._refuse_live(current)
            # expired or released: take it over (resourceVersion makes a racing taker fail)
            self.kube.call(
                f"take over Lease {self.name}",
                api.replace_namespaced_lease,
                self.name,
                self.namespace,
                self._body(current.metadata.resource_version),
            )
        self._renewer = threading.Thread(target=self._renew, daemon=True, name="lease-renew")
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                lease = self.kube.coordination.read_namespaced_lease(self.name, self.namespace)
                if lease.spec.holder_identity != self.holder:
                    return
                lease.spec.renew_time = _now()
                self.kube.coordination.replace_namespaced_lease(self.name, self.namespace, lease)
            except Exception as exc:  # the API may be briefly away; the next round retries
                log.debug("lease renewal failed: %s", exc)

    def release_lock(self) -> None:
        self._stop.set()
        try:
            self.kube.call(
                f"delete Lease {self.name}", self.kube.coordination.delete_namespaced_lease, self.name, self.namespace
            )
        except Exception as exc:  # it expires by itself
            log.debug("lease release failed: %s", exc)

    def __enter__(self) -> "ReleaseLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release_lock()

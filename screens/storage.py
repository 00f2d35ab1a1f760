"""Step 5, Storage: a volume from a StorageClass (or an existing claim), or S3-compatible object storage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static, Switch

from installer.errors import Problem
from installer.model import Extras, Storage, Target, shared_volume_problem
from installer.sizes import parse_size
from screens.base import InvalidStep, StepScreen, class_choice, validated
from screens.state import StorageChoice

if TYPE_CHECKING:
    from installer.probe import ProbeResult

KINDS = [("a volume (PersistentVolumeClaim)", "filesystem"), ("S3-compatible object storage", "s3")]
ACCESS_MODES = [
    ("ReadWriteOnce (one node)", "ReadWriteOnce"),
    ("ReadWriteMany (shared, for replicas)", "ReadWriteMany"),
    ("ReadWriteOncePod (one pod)", "ReadWriteOncePod"),
]
SIZE_HINT = "VM images are large (often 5-50 GiB each): 100Gi holds a handful; plan for growth."

__all__ = ["StorageChoice", "StorageScreen"]


class StorageScreen(StepScreen):
    step_key = "storage"
    heading = "Storage: where do the images live?"

    def __init__(
        self,
        storage: Storage | None,
        probe: ProbeResult | None,
        extras: Extras | None = None,
        session: Any = None,
        target: Target | None = None,
    ) -> None:
        super().__init__()
        self.storage = storage or Storage()
        self.probe, self.extras = probe, extras or Extras()
        self.session, self.target = session, target or Target()
        self.claim: Any = None  # the installed release's data volume (ClaimInfo), once read

    def compose_body(self) -> ComposeResult:
        fs, s3 = self.storage.filesystem, self.storage.s3
        yield Select(KINDS, value=self.storage.kind, allow_blank=False, id="kind")
        with Vertical(id="filesystem", classes="kind-fields"):
            yield Label("Storage class")
            yield from self.compose_storage_class(fs.storage_class)
            yield Label("Size (Kubernetes quantity, e.g. 100Gi)")
            yield Input(fs.size, id="size")
            yield Static(SIZE_HINT, classes="hint")
            yield Label("Access mode")
            yield Select(ACCESS_MODES, value=fs.access_mode, allow_blank=False, id="access-mode")
            yield Label("Existing claim (optional: reuse this PVC instead)")
            yield Input(fs.existing_claim or "", placeholder="leave empty to create one", id="existing-claim")
        with Vertical(id="s3", classes="kind-fields"):
            yield Label("Bucket")
            yield Input(s3.bucket if s3 else "", placeholder="docker-registry", id="s3-bucket")
            yield Label("Region")
            yield Input(s3.region if s3 else "", placeholder="us-east-1", id="s3-region")
            yield Label("Endpoint (MinIO, Ceph RGW; empty for AWS)")
            yield Input((s3.endpoint or "") if s3 else "", placeholder="https://s3.example.com", id="s3-endpoint")
            yield Label("Access key (env:VAR, file:/path, or type it)")
            yield Input(self.secret_text(s3.access_key if s3 else None), password=True, id="s3-access-key")
            yield Label("Secret key (env:VAR, file:/path, or type it)")
            yield Input(self.secret_text(s3.secret_key if s3 else None), password=True, id="s3-secret-key")
        yield Label("Registry replicas (more than 1 needs ReadWriteMany or S3)")
        yield Input(str(self.extras.replicas), id="replicas")
        gc = self.extras.garbage_collect
        with Horizontal(classes="switch-row"):
            yield Switch(gc.enabled, id="gc-enabled")
            yield Label("Garbage-collect deleted and untagged images (a CronJob)")
        with Vertical(id="gc-schedule-box", classes="kind-fields"):
            yield Label("Garbage collection schedule (cron)")
            yield Input(gc.schedule, id="gc-schedule")
        yield Static("", id="storage-warnings", classes="warnings")

    @staticmethod
    def secret_text(spec) -> str:
        if spec is None:
            return ""
        if spec.kind == "literal" and spec.value is not None:
            return spec.value.get_secret_value()
        return spec.to_reference()

    def compose_storage_class(self, chosen: str | None) -> ComposeResult:
        probe = self.probe
        yield from class_choice(
            "storage-class",
            probe.storage_classes if probe else (),
            probe.default_storage_class() if probe else None,
            chosen,
            "provisioner",
            "choose a storage class",
            placeholder="the cluster's default",
        )

    def on_mount(self) -> None:
        self.show_kind_fields()
        self.show_gc_schedule()
        self.check()
        if self.session is not None and self.probe is not None and self.probe.release is not None:
            self.read_claim()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def read_claim(self) -> Any:
        return self.session.installed_claim(self.probe, self.target)

    def worker_done(self, name: str, claim: Any) -> None:
        """The installed volume is known: a size it cannot take (smaller; larger on a class that cannot grow)
        shows here, where the size is typed, not first at Review."""
        self.claim = claim
        self.check()

    def worker_failed(self, name: str, error: Exception, problem: Problem) -> None:
        pass  # without the installed volume's size, Review still checks it against the cluster

    @on(Select.Changed)
    def select_changed(self, event: Select.Changed) -> None:
        self.show_kind_fields()
        if self._armed:
            self.check()

    def show_kind_fields(self) -> None:
        kind = self.query_one("#kind", Select).value
        for box in self.query(".kind-fields"):
            box.display = box.id == kind

    def value_of(self, selector: str) -> str:
        widget = self.query_one(selector)
        assert isinstance(widget, (Input, Select)), selector
        value = widget.value
        return "" if value is Select.NULL or value is None else str(value).strip()

    def build_section(self) -> StorageChoice:
        storage = self.build_storage()
        extras = self.build_extras()
        shared = shared_volume_problem(storage, extras)
        if shared is not None:
            raise InvalidStep([shared])
        if self.claim is not None:
            problems = self.session.volume_problems(storage, self.target.namespace, self.probe, self.claim)
            if problems:
                raise InvalidStep([Problem("Size", p.message, p.fix) for p in problems])
        return StorageChoice(storage, extras)

    def build_extras(self) -> Extras:
        text = self.value_of("#replicas")
        if not text.isdigit():
            raise InvalidStep(
                [Problem("extras.replicas", f"'{text}' is not a number of replicas", "write a whole number, e.g. 1")]
            )
        data = self.extras.to_dict()
        data["replicas"] = int(text)
        data["garbage_collect"] = {
            **data["garbage_collect"],
            "enabled": self.query_one("#gc-enabled", Switch).value,
            "schedule": self.value_of("#gc-schedule"),
        }
        return validated(Extras, data, "extras")

    def on_switch_changed(self, event: Switch.Changed) -> None:
        self.show_gc_schedule()
        if self._armed:
            self.check()

    def show_gc_schedule(self) -> None:
        """The schedule matters only while garbage collection is on."""
        self.query_one("#gc-schedule-box").display = self.query_one("#gc-enabled", Switch).value

    def build_storage(self) -> Storage:
        kind = self.value_of("#kind")
        data: dict = {"kind": kind, "delete_enabled": self.storage.delete_enabled}
        if kind == "filesystem":
            data["filesystem"] = {
                "storage_class": self.value_of("#storage-class") or None,
                "size": self.value_of("#size"),
                "access_mode": self.value_of("#access-mode"),
                "existing_claim": self.value_of("#existing-claim") or None,
            }
        else:
            access, secret = (
                self.query_one("#s3-access-key", Input).value,
                self.query_one("#s3-secret-key", Input).value,
            )
            data["s3"] = {
                "bucket": self.value_of("#s3-bucket"),
                "region": self.value_of("#s3-region"),
                "endpoint": self.value_of("#s3-endpoint") or None,
                "access_key": access or None,
                "secret_key": secret or None,
            }
        storage = validated(Storage, data, "storage")
        self.show_warnings(storage)
        return storage

    def show_warnings(self, storage: Storage) -> None:
        warnings = []
        fs = storage.filesystem
        if storage.kind == "filesystem" and not fs.existing_claim:
            info = self.probe.storage_class(fs.storage_class) if self.probe and fs.storage_class else None
            if info is not None and not info.allow_expansion:
                warnings.append(f"! {info.name} cannot grow volumes later: choose the size for growth now")
            if fs.access_mode == "ReadWriteOnce":
                warnings.append("! ReadWriteOnce: one registry pod at a time (upgrades recreate the pod)")
            if parse_size(fs.size) < 20 * 2**30:
                warnings.append(f"! {fs.size} is small for VM images")
        self.query_one("#storage-warnings", Static).update("\n".join(warnings))

"""The user's choices, one section per wizard screen; presets are this model written as YAML."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.functional_serializers import PlainSerializer
from pydantic.functional_validators import BeforeValidator
from pydantic import ValidationInfo

from installer.secretref import REFERENCE_SYNTAX, SecretSpec

HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
QUANTITY_RE = re.compile(r"^(?P<num>[0-9]+(\.[0-9]+)?)(?P<unit>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
BCRYPT_MAX_BYTES = 72
QUANTITY_FACTORS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
                    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity_bytes(text: str) -> int:
    """Bytes in a Kubernetes quantity like `100Gi`; ValueError with the accepted forms otherwise."""
    match = QUANTITY_RE.match(str(text).strip())
    if not match:
        raise ValueError(f"'{text}' is not a size; write a Kubernetes quantity such as 100Gi, 500Mi or 1Ti")
    value = float(match["num"]) * QUANTITY_FACTORS[match["unit"]]
    if value <= 0:
        raise ValueError(f"'{text}' must be larger than zero; e.g. 100Gi")
    return int(value)


def _secret_spec(value: Any, info: ValidationInfo) -> SecretSpec:
    allow_literal = bool(info.context and info.context.get("allow_literal_secrets"))
    return SecretSpec.parse(value, allow_literal=allow_literal)


def _secret_spec_out(spec: SecretSpec) -> str:
    return spec.to_reference() if spec.kind != "literal" else "<typed in: save it to a file or env var>"


SecretField = Annotated[
    SecretSpec,
    BeforeValidator(_secret_spec),
    PlainSerializer(_secret_spec_out, return_type=str),
    Field(json_schema_extra={"type": "string", "description": f"a secret reference: {REFERENCE_SYNTAX}"}),
]


class Section(BaseModel):
    """Every section refuses unknown keys: the chart would silently ignore a misspelled one."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Target(Section):
    context: str | None = Field(None, description="kube context; the current one when unset")
    namespace: str = Field("docker-registry", description="namespace of the release")
    release: str = Field("docker-registry", description="helm release name")

    @field_validator("namespace", "release")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not DNS_LABEL_RE.match(value):
            raise ValueError(f"'{value}' is not a valid name: use lowercase letters, digits and '-', at most 63 characters, e.g. docker-registry")
        return value


class Chart(Section):
    repo: str = Field("https://helm.twun.io", description="chart repository URL")
    name: str = Field("docker-registry", description="chart name in the repository")
    version: str = Field("3.0.0", description="chart version (pinned)")
    path: str | None = Field(None, description="a local chart directory or .tgz instead of the repository")
    oci: str | None = Field(None, description="an oci:// chart reference instead of the repository")

    @model_validator(mode="after")
    def _one_source(self) -> "Chart":
        if self.path and self.oci:
            raise ValueError("give either chart.path or chart.oci, not both")
        if self.oci and not self.oci.startswith("oci://"):
            raise ValueError(f"chart.oci must start with oci://, got '{self.oci}'")
        return self


class TLS(Section):
    mode: Literal["existing-secret", "files", "cert-manager", "self-signed", "none"] = "self-signed"
    secret_name: str | None = Field(None, description="TLS Secret name (existing-secret; optional otherwise)")
    cert_file: str | None = Field(None, description="PEM certificate chain (files)")
    key_file: str | None = Field(None, description="PEM private key (files)")
    issuer: str | None = Field(None, description="cert-manager issuer name (cert-manager)")
    issuer_kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"

    @model_validator(mode="after")
    def _mode_fields(self) -> "TLS":
        if self.mode == "existing-secret" and not self.secret_name:
            raise ValueError("tls.mode existing-secret needs tls.secret_name: the name of a kubernetes.io/tls Secret in the namespace")
        if self.mode == "files" and not (self.cert_file and self.key_file):
            raise ValueError("tls.mode files needs both tls.cert_file and tls.key_file (PEM files)")
        if self.mode == "cert-manager" and not self.issuer:
            raise ValueError("tls.mode cert-manager needs tls.issuer: the name of a cert-manager (Cluster)Issuer")
        if self.secret_name is not None and not DNS_SUBDOMAIN_RE.match(self.secret_name):
            raise ValueError(f"tls.secret_name '{self.secret_name}' is not a valid Secret name (lowercase, digits, '-', '.')")
        return self


class Exposure(Section):
    hosts: list[str] = Field(..., min_length=1, description="public hostnames of the registry")
    ingress_class: str | None = Field(None, description="IngressClass; the cluster's default when unset")
    path: str = "/"
    tls: TLS = TLS()

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        seen = set()
        for host in hosts:
            if not isinstance(host, str) or not HOSTNAME_RE.match(host):
                raise ValueError(
                    f"'{host}' is not a valid hostname (RFC 1123): lowercase letters, digits, '-' and dots, "
                    "no scheme, port or path, e.g. registry.example.com"
                )
            if host in seen:
                raise ValueError(f"'{host}' is listed twice")
            seen.add(host)
        return hosts

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"ingress path must start with '/', got '{path}'")
        return path


def _username_fault(name: str) -> str:
    """Which rule a user name breaks, without repeating it."""
    if not name:
        return "it is empty"
    if len(name) > 64:
        return f"it has {len(name)} characters"
    if ":" in name or any(c.isspace() for c in name):
        return "it contains ':' or a space"
    if not name[0].isalnum():
        return "it must start with a letter or a digit"
    return "it contains characters other than letters, digits, '.', '_', '@', '-'"


class User(Section):
    name: str
    password: SecretField = SecretSpec("generate")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not USERNAME_RE.match(name):
            # never echo the name: a password typed into the wrong field must not appear on screen or in a log
            raise ValueError(f"the user name is invalid ({_username_fault(name)}): use letters, digits, '.', '_', '@', '-', at most 64 characters")
        return name


class Auth(Section):
    mode: Literal["registry", "ingress", "none"] = Field(
        "registry", description="registry: the registry checks htpasswd itself; ingress: the ingress controller checks basic auth"
    )
    realm: str = "Registry Realm"
    users: list[User] = Field(default_factory=lambda: [User(name="admin")])
    bcrypt_cost: int = Field(8, ge=4, le=14, description="bcrypt cost of the stored hashes (checked on every request; see README)")

    @model_validator(mode="after")
    def _users(self) -> "Auth":
        if self.mode != "none" and not self.users:
            raise ValueError("auth needs at least one user (or auth.mode: none)")
        names = [u.name for u in self.users]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"user names must be unique; repeated: {', '.join(dupes)}")
        return self


class FilesystemStorage(Section):
    storage_class: str | None = Field(None, description="StorageClass; the cluster's default when unset")
    size: str = Field("100Gi", description="volume size (Kubernetes quantity); VM images are large")
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"] = "ReadWriteOnce"
    existing_claim: str | None = Field(None, description="use this existing PVC instead of creating one")

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, size: Any) -> str:
        if isinstance(size, bool) or not isinstance(size, (str, int)):
            raise ValueError(f"size must be a Kubernetes quantity such as 100Gi, got {size!r}")
        quantity_bytes(str(size))
        return str(size)


class S3Storage(Section):
    bucket: str = ""
    region: str = ""
    endpoint: str | None = Field(None, description="S3-compatible endpoint URL (MinIO, Ceph RGW); AWS when unset")
    root_directory: str | None = None
    secure: bool = True
    force_path_style: bool = True
    skip_verify: bool = False
    encrypt: bool = False
    access_key: SecretField | None = Field(None, description="access key reference; unset for instance-role credentials")
    secret_key: SecretField | None = None

    @model_validator(mode="after")
    def _complete(self) -> "S3Storage":
        missing = [name for name in ("bucket", "region") if not getattr(self, name)]
        if missing:
            raise ValueError(f"S3 storage needs {' and '.join('s3.' + m for m in missing)} (e.g. bucket: registry, region: us-east-1)")
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError("give both s3.access_key and s3.secret_key, or neither (instance-role credentials)")
        if self.endpoint and not re.match(r"^https?://[^\s/]+", self.endpoint):
            raise ValueError(f"s3.endpoint must be a URL such as https://s3.example.com, got '{self.endpoint}'")
        return self


class Storage(Section):
    kind: Literal["filesystem", "s3"] = "filesystem"
    filesystem: FilesystemStorage = FilesystemStorage()
    s3: S3Storage | None = None
    delete_enabled: bool = Field(True, description="allow deleting images (needed for garbage collection)")

    @model_validator(mode="after")
    def _kind(self) -> "Storage":
        if self.kind == "s3" and self.s3 is None:
            raise ValueError("storage.kind s3 needs a storage.s3 section (bucket, region, endpoint, keys)")
        return self


class Uploads(Section):
    max_body_size: str = Field("0", description='largest request body the ingress accepts; "0" is unlimited (VM images)')
    read_timeout: int = Field(3600, ge=1, le=86400, description="seconds the ingress waits for the registry to answer")
    send_timeout: int = Field(3600, ge=1, le=86400, description="seconds the ingress waits while sending to the registry")
    request_buffering: bool = Field(False, description="buffer whole uploads at the ingress (off streams them)")

    @field_validator("max_body_size", mode="before")
    @classmethod
    def _body(cls, value: Any) -> str:
        text = str(value).strip()
        if text == "0":
            return "0"
        if not re.match(r"^[0-9]+[kKmMgG]?$", text) or int(re.sub(r"[^0-9]", "", text)) == 0:
            raise ValueError(f"'{value}' is not an nginx size: use \"0\" for unlimited, or a number with k, m or g, e.g. 10g")
        return text


class GarbageCollect(Section):
    enabled: bool = False
    schedule: str = "0 1 * * *"
    delete_untagged: bool = True

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"'{value}' is not a cron schedule of five fields, e.g. \"0 1 * * *\"")
        return value


class Image(Section):
    repository: str | None = Field(None, description="registry image repository (a mirror for offline clusters)")
    tag: str | None = None


class Resources(Section):
    cpu_request: str | None = None
    memory_request: str | None = None
    cpu_limit: str | None = None
    memory_limit: str | None = None


class Extras(Section):
    replicas: int = Field(1, ge=1, le=20)
    garbage_collect: GarbageCollect = GarbageCollect()
    metrics: bool = False
    image: Image = Image()
    resources: Resources = Resources()


class Choices(Section):
    """Everything the user decides; a preset file is exactly this, with `version: 1`."""

    version: Literal[1] = Field(1, description="preset format version")
    target: Target = Target()
    chart: Chart = Chart()
    exposure: Exposure
    auth: Auth = Auth()
    storage: Storage = Storage()
    uploads: Uploads = Uploads()
    extras: Extras = Extras()

    @model_validator(mode="after")
    def _cross(self) -> "Choices":
        if self.storage.kind == "filesystem" and self.extras.replicas > 1 and self.storage.filesystem.access_mode != "ReadWriteMany":
            raise ValueError(
                f"extras.replicas is {self.extras.replicas} but storage.filesystem.access_mode is "
                f"{self.storage.filesystem.access_mode}: replicas cannot share that volume. "
                "Use replicas: 1, access_mode: ReadWriteMany, or S3 storage"
            )
        return self

"""The user's choices, one section per wizard screen; presets are this model written as YAML."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.functional_serializers import PlainSerializer
from pydantic.functional_validators import BeforeValidator

from installer import checks, defaults
from installer.errors import Problem
from installer.secretref import REFERENCE_SYNTAX, SecretSpec

BCRYPT_MAX_BYTES = 72


def is_hostname(text: str) -> bool:
    """True when `text` is a hostname an Ingress rule accepts as written (lowercase, not an IP address)."""
    try:
        return checks.hostname(text) == text
    except ValueError:
        return False


def _whole_number(value: Any) -> Any:
    """Whole numbers only: `yes` (a YAML boolean) or 1.5 is not a count of seconds or replicas."""
    if isinstance(value, bool):
        raise ValueError(
            f"expected a whole number, got the boolean {value!r} (YAML reads yes, no, on and off as booleans); "
            "write a number such as 3600"
        )
    if isinstance(value, float) or (
        isinstance(value, str) and not (value.strip().isascii() and value.strip().isdigit())
    ):
        raise ValueError(f"expected a whole number such as 3600, got {value!r}")
    if isinstance(value, str):
        return int(value.strip())
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


def _optional(check):
    return lambda value: None if value is None else check(value)


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
    namespace: str = Field(defaults.NAMESPACE, description="namespace of the release")
    release: str = Field(defaults.RELEASE, description="helm release name")

    @field_validator("context")
    @classmethod
    def _context(cls, value: str | None) -> str | None:
        return None if value is None else checks.no_option(value, "target.context", "kind-registry")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return checks.chart_text(checks.dns_label(value, "namespace name"), "target.namespace", "docker-registry")

    @field_validator("release")
    @classmethod
    def _release(cls, value: str) -> str:
        # helm refuses release names over 53 characters; the chart's Service (named after the release) must start with a
        # letter
        checks.dns_label(value, "release name", start_letter=True)
        if len(value) > checks.HELM_RELEASE_MAX:
            raise ValueError(
                f"release name {value!r} is {len(value)} characters; helm allows at most {checks.HELM_RELEASE_MAX}, "
                "e.g. docker-registry"
            )
        return checks.chart_text(value, "target.release", "docker-registry")


class Chart(Section):
    repo: str = Field("https://helm.twun.io", description="chart repository URL")
    name: str = Field("docker-registry", description="chart name in the repository")
    version: str = Field("3.0.0", description="chart version (pinned)")
    path: str | None = Field(None, description="a local chart directory or .tgz instead of the repository")
    oci: str | None = Field(None, description="an oci:// chart reference instead of the repository")

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        return checks.http_url(
            value,
            "chart.repo",
            "https://helm.twun.io",
            "use a repository URL without credentials (helm repo add --username for private ones)",
        )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not checks.CHART_NAME.fullmatch(value):
            raise ValueError(
                f"chart.name {value!r} is not a chart name: lowercase letters, digits, '.', '_', '-', "
                "starting with a letter or digit, e.g. docker-registry"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not checks.CHART_VERSION.fullmatch(value) or value.strip() != value:
            raise ValueError(f"chart.version {value!r} is not a version or version range, e.g. 3.0.0")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return (
            None
            if value is None
            else checks.no_option(
                value,
                "chart.path",
                "./charts/docker-registry-3.0.0.tgz (write ./-name for a name that starts with '-')",
            )
        )

    @model_validator(mode="after")
    def _one_source(self) -> "Chart":
        if self.path and self.oci:
            raise ValueError("give either chart.path or chart.oci, not both")
        if self.oci is not None:
            rest = self.oci.removeprefix("oci://")
            if not self.oci.startswith("oci://") or not checks.IMAGE_REPOSITORY.fullmatch(rest) or "/" not in rest:
                raise ValueError(
                    f"chart.oci {self.oci!r} is not an oci:// chart reference, e.g. "
                    "oci://ghcr.io/example/charts/docker-registry (no credentials: log in with helm registry login)"
                )
        return self


class TLS(Section):
    mode: Literal["existing-secret", "files", "cert-manager", "self-signed", "listener", "none"] = Field(
        "self-signed", description="listener: the Gateway listener's own certificateRefs (exposure.gateway only)"
    )
    secret_name: str | None = Field(None, description="TLS Secret name (existing-secret; optional otherwise)")
    cert_file: str | None = Field(None, description="PEM certificate chain (files)")
    key_file: str | None = Field(None, description="PEM private key (files)")
    issuer: str | None = Field(None, description="cert-manager issuer name (cert-manager)")
    issuer_kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"
    ca_file: str | None = Field(
        None,
        description="PEM file of the CA that signed the registry's certificate (a private or corporate CA), for node "
        "trust, the smoke push and CDI; found by itself in a files chain that ends at its root or in the TLS "
        "Secret's ca.crt",
    )

    @model_validator(mode="after")
    def _mode_fields(self) -> "TLS":
        if self.ca_file is not None and self.mode in ("self-signed", "none"):
            raise ValueError(
                f"exposure.tls.ca_file is set but tls.mode is {self.mode}: "
                + (
                    "the installer signs with its own CA then; remove ca_file, or use tls.mode files with your "
                    "certificate"
                    if self.mode == "self-signed"
                    else "without TLS there is no CA; remove ca_file, or choose a TLS mode"
                )
            )
        if self.ca_file is not None and (not self.ca_file.strip() or checks.CONTROL.search(self.ca_file)):
            raise ValueError("exposure.tls.ca_file must be a file path, e.g. /etc/pki/corporate-root.pem")
        if self.mode == "existing-secret" and not self.secret_name:
            raise ValueError(
                "tls.mode existing-secret needs tls.secret_name: the name of a kubernetes.io/tls Secret in the "
                "namespace"
            )
        if self.mode == "files" and not (self.cert_file and self.key_file):
            raise ValueError("tls.mode files needs both tls.cert_file and tls.key_file (PEM files)")
        if self.mode == "cert-manager" and not self.issuer:
            raise ValueError("tls.mode cert-manager needs tls.issuer: the name of a cert-manager (Cluster)Issuer")
        if self.secret_name is not None:
            checks.dns_subdomain(self.secret_name, "Secret name for tls.secret_name", "registry-tls")
        if self.issuer is not None:
            checks.dns_subdomain(self.issuer, "cert-manager issuer name for tls.issuer", "letsencrypt-prod")
        return self


class GatewayRef(Section):
    """A Gateway (Gateway API) to expose the registry through, instead of an Ingress."""

    name: str = Field(..., description="the Gateway's name")
    namespace: str | None = Field(None, description="the Gateway's namespace; the release namespace when unset")
    listener: str | None = Field(
        None, description="the listener's name (sectionName); the one that can carry the hosts when unset"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return checks.dns_subdomain(value, "Gateway name for gateway.name", "shared-gateway")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return None if value is None else checks.dns_label(value, "namespace for gateway.namespace", "gateway-system")

    @field_validator("listener")
    @classmethod
    def _listener(cls, value: str | None) -> str | None:
        return None if value is None else checks.dns_label(value, "listener name for gateway.listener", "https")


class Exposure(Section):
    hosts: list[str] = Field(..., min_length=1, description="public hostnames of the registry")
    ingress_class: str | None = Field(None, description="IngressClass; the cluster's default when unset")
    gateway: GatewayRef | None = Field(
        None, description="expose through this Gateway (an HTTPRoute the installer manages) instead of an Ingress"
    )
    path: str = "/"
    tls: TLS = TLS()

    @model_validator(mode="after")
    def _ingress_or_gateway(self) -> "Exposure":
        if self.gateway is not None and self.ingress_class:
            raise ValueError(
                "give exposure.ingress_class (an Ingress) or exposure.gateway (an HTTPRoute on a Gateway), not both"
            )
        if self.gateway is None and self.tls.mode == "listener":
            raise ValueError(
                "tls.mode listener uses a Gateway listener's certificate: it needs exposure.gateway "
                "(with an Ingress use existing-secret, files, cert-manager or self-signed)"
            )
        return self

    @field_validator("hosts", mode="before")
    @classmethod
    def _hosts(cls, hosts: Any) -> Any:
        if not isinstance(hosts, (list, tuple)):
            return hosts
        out: list[str] = []
        for host in hosts:
            host = checks.hostname(host)  # lowercased: DNS names are case-insensitive, Kubernetes wants lowercase
            checks.chart_text(host, "exposure.hosts", "registry.example.com")
            if host in out:
                raise ValueError(f"'{host}' is listed twice")
            out.append(host)
        return out

    @field_validator("ingress_class")
    @classmethod
    def _ingress_class(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return checks.chart_text(
            checks.dns_subdomain(value, "IngressClass name", "nginx"), "exposure.ingress_class", "nginx"
        )

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        if path != "/":
            # docker, containerd and podman call /v2/ at the root of the host; a registry under a prefix is unreachable
            raise ValueError(
                f"exposure.path {path!r} is not supported: container clients only call /v2/ at the root of the host, "
                'so the registry must be served at path "/"; give it its own hostname instead of a path'
            )
        return path


class User(Section):
    name: str
    password: SecretField = SecretSpec("generate")

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, name: Any) -> str:
        return checks.user_name(name)


class Auth(Section):
    mode: Literal["registry", "ingress", "none"] = Field(
        "registry",
        description="registry: the registry checks htpasswd itself; ingress: the ingress controller checks basic auth",
    )
    realm: str = "Registry Realm"
    users: list[User] = Field(default_factory=lambda: [User(name="admin")])
    bcrypt_cost: WholeNumber = Field(
        8, ge=4, le=14, description="bcrypt cost of the stored hashes (checked on every request; see README)"
    )

    @field_validator("realm", mode="before")
    @classmethod
    def _realm(cls, value: Any) -> str:
        return checks.realm(value)

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
        return checks.quantity(size, "size")

    @field_validator("storage_class")
    @classmethod
    def _storage_class(cls, value: str | None) -> str | None:
        return None if value is None else checks.dns_subdomain(value, "StorageClass name", "rook-ceph-block")

    @field_validator("existing_claim")
    @classmethod
    def _existing_claim(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return checks.chart_text(
            checks.dns_subdomain(value, "PersistentVolumeClaim name", "registry-data"),
            "storage.filesystem.existing_claim",
            "registry-data",
        )


class S3Storage(Section):
    bucket: str = ""
    region: str = ""
    endpoint: str | None = Field(None, description="S3-compatible endpoint URL (MinIO, Ceph RGW); AWS when unset")
    root_directory: str | None = None
    secure: bool = True
    force_path_style: bool = True
    skip_verify: bool = False
    encrypt: bool = False
    access_key: SecretField | None = Field(
        None, description="access key reference; unset for instance-role credentials"
    )
    secret_key: SecretField | None = None

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if value and not checks.S3_BUCKET.fullmatch(value) or ".." in value:
            raise ValueError(
                f"s3.bucket {value!r} is not a bucket name: at most 63 lowercase letters, digits, '.' and '-', "
                "starting and ending with a letter or digit, e.g. registry"
            )
        return value  # a bucket YAML would read as a number (12345) is quoted for the chart by render.chart_bare

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value and not checks.S3_REGION.fullmatch(value):
            raise ValueError(
                f"s3.region {value!r} is not a region name: lowercase letters, digits and '-', e.g. us-east-1"
            )
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return checks.http_url(
            value,
            "s3.endpoint",
            "https://s3.example.com",
            f"give the keys as s3.access_key and s3.secret_key references ({REFERENCE_SYNTAX}), "
            "e.g. access_key: env:S3_ACCESS_KEY",
        )

    @field_validator("root_directory")
    @classmethod
    def _root(cls, value: str | None) -> str | None:
        if value is not None and (checks.CONTROL.search(value) or not value.startswith("/") or "//" in value):
            raise ValueError(
                f"s3.root_directory {value!r} must be a path starting with '/', without line breaks, e.g. /registry"
            )
        return value

    @model_validator(mode="after")
    def _complete(self) -> "S3Storage":
        missing = [name for name in ("bucket", "region") if not getattr(self, name)]
        if missing:
            raise ValueError(
                f"S3 storage needs {' and '.join('s3.' + m for m in missing)} (e.g. bucket: registry, region: "
                "us-east-1)"
            )
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError("give both s3.access_key and s3.secret_key, or neither (instance-role credentials)")
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
    max_body_size: str = Field(
        "0", description='largest request body the ingress accepts; "0" is unlimited (VM images)'
    )
    read_timeout: WholeNumber = Field(
        3600, ge=1, le=86400, description="seconds the ingress waits for the registry to answer"
    )
    send_timeout: WholeNumber = Field(
        3600, ge=1, le=86400, description="seconds the ingress waits while sending to the registry"
    )
    request_buffering: bool = Field(False, description="buffer whole uploads at the ingress (off streams them)")

    @field_validator("max_body_size", mode="before")
    @classmethod
    def _body(cls, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(
                f'{value!r} is not an nginx size: use "0" (or unlimited) for no limit, or a number with k, m or g, '
                "e.g. 10g"
            )
        text = str(value).strip()
        if text == "0" or text.lower() in ("unlimited", "none", "off"):
            return "0"
        if not re.fullmatch(r"[0-9]{1,12}[kKmMgG]?", text) or int(re.sub(r"[^0-9]", "", text)) == 0:
            raise ValueError(
                f"'{value}' is not an nginx size: use \"0\" (or unlimited) for no limit, or a number with k, m or g, "
                "e.g. 10g"
            )
        return text


class GarbageCollect(Section):
    """Scheduled garbage collection: the installer's CronJob runs `gc`'s safe sequence (read-only, collect,
    writable)."""

    enabled: bool = False
    schedule: str = "0 1 * * *"
    delete_untagged: bool = True
    image: str | None = Field(
        None,
        description="an image with bash, date, sleep and kubectl for the CronJob; default registry.k8s.io/kubectl "
        "at the cluster's version (a mirror for offline clusters)",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return checks.cron_schedule(value)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return checks.image_reference(
            value, "extras.garbage_collect.image", "registry.k8s.io/kubectl:v1.35.2 (or a mirror of it)"
        )


class Image(Section):
    repository: str | None = Field(None, description="registry image repository (a mirror for offline clusters)")
    tag: str | None = None

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        if value is not None and not checks.IMAGE_REPOSITORY.fullmatch(value):
            raise ValueError(
                f"extras.image.repository {value!r} is not an image repository: e.g. "
                "mirror.example.com:5000/library/registry"
            )
        return value

    @field_validator("tag", mode="before")
    @classmethod
    def _tag(cls, value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not checks.IMAGE_TAG.fullmatch(value)):
            raise ValueError(
                f"extras.image.tag {value!r} is not an image tag: letters, digits, '_', '.', '-', at most 128, e.g. "
                "2.8.3 (quote it)"
            )
        return value


class Resources(Section):
    cpu_request: str | None = Field(None, description="Kubernetes quantity, e.g. 100m or 1")
    memory_request: str | None = Field(None, description="Kubernetes quantity, e.g. 256Mi")
    cpu_limit: str | None = Field(None, description="Kubernetes quantity, e.g. 2")
    memory_limit: str | None = Field(None, description="Kubernetes quantity, e.g. 1Gi")

    @field_validator("cpu_request", "cpu_limit", mode="before")
    @classmethod
    def _cpu(cls, value: Any) -> str | None:
        return None if value is None else checks.quantity(value, "CPU amount", "500m", allow_milli=True)

    @field_validator("memory_request", "memory_limit", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> str | None:
        return None if value is None else checks.quantity(value, "memory amount", "512Mi")

    @model_validator(mode="after")
    def _request_within_limit(self) -> "Resources":
        for kind in ("cpu", "memory"):
            request, limit = getattr(self, f"{kind}_request"), getattr(self, f"{kind}_limit")
            if request and limit and checks.quantity_value(request) > checks.quantity_value(limit):
                raise ValueError(
                    f"extras.resources.{kind}_request {request} is more than {kind}_limit {limit}; "
                    "Kubernetes refuses a request above its limit: raise the limit or lower the request"
                )
        return self


class Extras(Section):
    replicas: WholeNumber = Field(1, ge=1, le=20)
    garbage_collect: GarbageCollect = GarbageCollect()
    metrics: bool = False
    image: Image = Image()
    resources: Resources = Resources()


DEFAULT_NODE_TRUST_IMAGE = "docker.io/library/busybox:1.36"
DEFAULT_CONTAINERD_CERTS_D = "/etc/containerd/certs.d"


class Clients(Section):
    """Who pulls from the registry inside the cluster: pull Secrets, node trust, the in-cluster pull check."""

    namespaces: list[str] = Field(
        # a lambda, not `list`: pydantic reads a builtin factory's signature by tokenizing its text (~16 M instructions)
        default_factory=lambda: [],
        description="namespaces whose pods pull from the registry: each gets a "
        "kubernetes.io/dockerconfigjson Secret of the pull user",
    )
    pull_user: str = Field("puller", description="the dedicated pull user (generated password, kept across re-runs)")
    service_account: bool = Field(
        False,
        description="also add the pull Secret to each namespace's default ServiceAccount "
        "imagePullSecrets (merged, never replacing)",
    )
    node_trust: bool = Field(
        False,
        description="a DaemonSet writes the registry's CA into every node's certs.d folders "
        "(containerd, CRI-O/podman, Docker)",
    )
    node_trust_image: str = Field(
        DEFAULT_NODE_TRUST_IMAGE, description="a busybox-like image (sh, mkdir, cp, cat) for the node-trust DaemonSet"
    )
    containerd_certs_d: str = Field(DEFAULT_CONTAINERD_CERTS_D, description="the nodes' containerd config_path folder")
    containerd_config: str = Field(
        "/etc/containerd/config.toml", description="the nodes' containerd config file (read to check config_path)"
    )
    crio_certs_d: str = Field("/etc/containers/certs.d", description="the nodes' CRI-O/podman certs.d folder")
    docker_certs_d: str = Field("/etc/docker/certs.d", description="the nodes' Docker certs.d folder")
    pull_address: str | None = Field(
        None,
        description="HOST[:PORT] the nodes pull from; the first exposure host when unset "
        "(give the port when the ingress is not on 443)",
    )
    pull_check: bool = Field(
        True, description="after the smoke push, a short-lived Pod pulls the pushed image (needs a namespace)"
    )
    cdi: bool = Field(
        False,
        description="also write the CDI forms: a ConfigMap with the CA (certConfigMap) and a Secret with "
        "accessKeyId/secretKey (secretRef) in each namespace",
    )

    @field_validator("namespaces", mode="before")
    @classmethod
    def _namespaces(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            return value
        out: list[str] = []
        for name in value:
            name = checks.dns_label(
                checks.require_text(name, "clients.namespaces"), "namespace name in clients.namespaces", "apps"
            )
            if name in out:
                raise ValueError(f"clients.namespaces lists '{name}' twice")
            out.append(name)
        return out

    @field_validator("pull_user", mode="before")
    @classmethod
    def _pull_user(cls, value: Any) -> str:
        return checks.user_name(value)

    @field_validator("node_trust_image")
    @classmethod
    def _image(cls, value: str) -> str:
        return checks.image_reference(
            value,
            "clients.node_trust_image",
            f"{DEFAULT_NODE_TRUST_IMAGE} (a mirror for offline clusters: mirror.example.com/library/busybox:1.36)",
        )

    @field_validator("containerd_certs_d", "containerd_config", "crio_certs_d", "docker_certs_d")
    @classmethod
    def _host_path(cls, value: str, info: ValidationInfo) -> str:
        if (
            not value.startswith("/")
            or checks.CONTROL.search(value)
            or any(c.isspace() or c in "\"'$`" for c in value)
            or "/../" in value + "/"
            or value.rstrip("/") in ("", "/etc", "/var", "/usr")
        ):
            example = (
                DEFAULT_CONTAINERD_CERTS_D if info.field_name == "containerd_certs_d" else "/etc/containerd/config.toml"
            )
            raise ValueError(
                f"clients.{info.field_name} {value!r} must be an absolute path on the nodes without spaces, quotes or "
                f"'..', e.g. {example}"
            )
        return value.rstrip("/")

    @field_validator("pull_address")
    @classmethod
    def _pull_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.partition(":") if value.count(":") == 1 else (value, "", "")
        if not is_hostname(host) or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            raise ValueError(f"clients.pull_address {value!r} is not HOST[:PORT], e.g. registry.example.com:30443")
        return value


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
    clients: Clients = Clients()

    @model_validator(mode="after")
    def _cross(self) -> "Choices":
        if self.exposure.gateway is not None and self.auth.mode == "ingress":
            raise ValueError(
                "auth.mode is ingress but exposure.gateway is set: Gateway API has no standard basic auth (each "
                "implementation has its own filter or policy, and most have none), so the registry would be open. Use "
                "auth.mode: registry (the registry checks the htpasswd itself, through any Gateway)"
            )
        shared = shared_volume_problem(self.storage, self.extras)
        if shared is not None:
            raise ValueError(f"{shared.path}: {shared.message}; {shared.fix}")
        if (
            self.clients.namespaces
            and self.auth.mode != "none"
            and self.clients.pull_user in [u.name for u in self.auth.users]
        ):
            raise ValueError(
                f"clients.pull_user {self.clients.pull_user!r} is also in auth.users: the pull user is the installer's "
                "own (its password is generated); choose another name, e.g. puller"
            )
        release = self.target.release
        if self.extras.garbage_collect.enabled and len(release + checks.GC_SUFFIX) > checks.CRONJOB_NAME_MAX:
            limit = checks.CRONJOB_NAME_MAX - len(checks.GC_SUFFIX)
            raise ValueError(
                f"target.release {release!r}: with extras.garbage_collect the installer names its CronJob "
                f"{release + checks.GC_SUFFIX!r} ({len(release + checks.GC_SUFFIX)} characters) and Kubernetes allows "
                f"{checks.CRONJOB_NAME_MAX}; use a release name of at most {limit} characters"
            )
        tls = self.exposure.tls
        if tls.secret_name is not None:
            owned = checks.installer_objects(release)
            if tls.secret_name in owned:
                raise ValueError(
                    f"exposure.tls.secret_name {tls.secret_name!r} is the name of {owned[tls.secret_name]}, which the "
                    f"installer writes itself: choose another name, e.g. {release}-tls or registry-tls"
                )
        return self


def shared_volume_problem(storage: Storage, extras: Extras) -> Problem | None:
    """More than one replica on a volume only one node or pod mounts (ReadWriteOnce, ReadWriteOncePod): the one home
    of the rule, checked by Choices and by the wizard's Storage step."""
    if storage.kind != "filesystem" or extras.replicas <= 1 or storage.filesystem.access_mode == "ReadWriteMany":
        return None
    mode = storage.filesystem.access_mode
    return Problem(
        "extras.replicas",
        f"{extras.replicas} replicas cannot share a {mode} volume (storage.filesystem.access_mode)",
        "use replicas: 1, access_mode: ReadWriteMany, or S3 storage",
    )


def password_length_problem(password: str, path: str, user: str | None = None) -> Problem | None:
    """A password bcrypt would cut short (it reads only the first BCRYPT_MAX_BYTES bytes): the one home of the rule,
    checked by the Plan and by the wizard's Access step."""
    size = len(password.encode("utf-8"))
    if size <= BCRYPT_MAX_BYTES:
        return None
    whose = f"the password of user {user}" if user else "the password"
    return Problem(
        path,
        f"{whose} is {size} bytes, longer than {BCRYPT_MAX_BYTES} bytes: bcrypt ignores the rest",
        f"use a password of at most {BCRYPT_MAX_BYTES} bytes, or leave it empty to generate one",
    )

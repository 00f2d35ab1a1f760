"""The user's choices, one section per wizard screen; presets are this model written as YAML.

The sections are msgspec Structs (frozen, unknown keys refused). `Section.parse` validates plain data (a preset's
tree, a screen's fields) the way presets always were: per field, a raw-value hook (`BEFORE`: e.g. "3600" to 3600,
hostnames lowercased) runs first, then msgspec checks the type and bounds, then the section's `__post_init__` runs
every field check (`CHECKS`) and, when they all pass, the section's own `check()` across its fields. Every problem
of a section is reported (not only the first), each nested section on its own, in the words presets have always used
(pydantic's, the library presets were validated with before, for types and bounds). Typed-in (literal) secrets are
accepted only when the caller says so (`parse(..., literal_secrets=True)`, the wizard): a context variable read by
the secret fields' hook.
"""

import copy
import re
import types
from contextvars import ContextVar
from functools import cache
from typing import Annotated, Any, Callable, ClassVar, Literal, NamedTuple, Self, Union, get_args, get_origin

from installer import checks, defaults
from installer.errors import Problem
from installer.secretref import REFERENCE_SYNTAX, SecretSpec
from installer.structs import msgspec

Meta, field = msgspec.Meta, msgspec.field  # the names the sections' fields are written with

BCRYPT_MAX_BYTES = 72

Check = Callable[[Any], Any]
Location = tuple[str | int, ...]

# True while the wizard validates its fields: a typed-in password is a literal SecretSpec there, refused in presets
LITERAL_SECRETS: ContextVar[bool] = ContextVar("literal_secrets", default=False)


class Invalid(ValueError):
    """Everything wrong with one input: `errors` holds (location, message, kind) each, in field order. The location
    is the keys and list indexes from the validated object down; kind is one of missing, extra_forbidden,
    literal_error, model_type, *_type, greater_than_equal, less_than_equal, too_short, value_error."""

    def __init__(self, errors: list[tuple[Location, str, str]]) -> None:
        self.errors = errors
        super().__init__(
            "\n".join(f"{'.'.join(map(str, loc))}: {message}" if loc else message for loc, message, _ in errors)
        )


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


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _secret_spec(value: Any) -> SecretSpec:
    return SecretSpec.parse(value, allow_literal=LITERAL_SECRETS.get())


def _secret_spec_out(spec: SecretSpec) -> str:
    return spec.to_reference() if spec.kind != "literal" else "<typed in: save it to a file or env var>"


SECRET_DESCRIPTION = f"a secret reference: {REFERENCE_SYNTAX}"

# booleans as pydantic read them: YAML's true/false, and 0/1 or a quoted word (a preset written before this model)
_BOOL_WORDS = {
    **dict.fromkeys(("0", "off", "f", "false", "n", "no"), False),
    **dict.fromkeys(("1", "on", "t", "true", "y", "yes"), True),
}


def _lax_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[value.strip().lower()]
    return value


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Every section refuses unknown keys: the chart would silently ignore a misspelled one."""

    # per field: a hook on the raw value before its type is checked (e.g. "3600" to 3600), and a check of the typed
    # value (returns it, normalised); both raise ValueError with the words an operator reads
    BEFORE: ClassVar[dict[str, Check]] = {}
    CHECKS: ClassVar[dict[str, Check]] = {}

    def __post_init__(self) -> None:
        errors: list[tuple[Location, str, str]] = []
        for name in self.__struct_fields__:  # plain data where a section belongs (Choices(storage={...})) is built
            value = getattr(self, name)
            if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(item, dict) for item in value)):
                spec = next(spec for spec in _fields(type(self)) if spec.name == name)
                if spec.section is not None:
                    value = _field_value(type(self), spec, value, (name,), errors)
                    if value is not _BAD:
                        msgspec.structs.force_setattr(self, name, value)
        for name in self.__struct_fields__:
            before, check = self.BEFORE.get(name), self.CHECKS.get(name)
            if before is None and check is None:
                continue
            value = old = getattr(self, name)
            try:
                if before is not None:
                    value = before(value)
                if check is not None:
                    value = check(value)
            except ValueError as exc:
                errors.append(((name,), str(exc), "value_error"))
                continue
            if value is not old:
                msgspec.structs.force_setattr(self, name, value)
        if errors:
            raise Invalid(errors)
        try:
            self.check()
        except Invalid:
            raise
        except ValueError as exc:
            raise Invalid([((), str(exc), "value_error")]) from None

    def check(self) -> None:
        """Rules across this section's fields (they are each valid by then); raise ValueError."""

    @classmethod
    def parse(cls, data: Any, *, literal_secrets: bool = False) -> Self:
        """This section from plain data (a preset's mapping, a screen's fields); Invalid with every problem.
        `literal_secrets`: accept typed-in secrets (the wizard), not only references (presets)."""
        token = LITERAL_SECRETS.set(literal_secrets)
        try:
            errors: list[tuple[Location, str, str]] = []
            built = _build(cls, data, (), errors)
        finally:
            LITERAL_SECRETS.reset(token)
        if built is None:
            raise Invalid(errors)
        return built

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, not checked again (pydantic's model_copy did not either: a step may combine
        sections whose cross-setting rules are judged later, e.g. by the Plan)."""
        unknown = set(changes) - set(self.__struct_fields__)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        copied = copy.copy(self)  # msgspec's __copy__: the fields, without running __post_init__
        for name, value in changes.items():
            msgspec.structs.force_setattr(copied, name, value)
        return copied

    def to_dict(self, *, exclude_defaults: bool = False) -> dict[str, Any]:
        """Plain data (sections as dicts, secrets as their references); `exclude_defaults`: only what differs from
        the defaults, at every level (a preset's form)."""
        out: dict[str, Any] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if exclude_defaults and value == self.field_default(name):
                continue
            out[name] = _plain(value, exclude_defaults)
        return out

    @classmethod
    def field_default(cls, name: str) -> Any:
        """The default of field `name` (a new one for a default factory); msgspec.NODEFAULT when it is required."""
        info = _field_infos(cls)[name]
        if info.default_factory is not msgspec.NODEFAULT:
            return info.default_factory()
        return info.default


def _plain(value: Any, exclude_defaults: bool) -> Any:
    if isinstance(value, Section):
        return value.to_dict(exclude_defaults=exclude_defaults)
    if isinstance(value, list):
        return [_plain(item, exclude_defaults) for item in value]
    if isinstance(value, SecretSpec):
        return _secret_spec_out(value)
    return value


class _Field(NamedTuple):
    name: str
    type: Any  # what msgspec checks the value against (Annotated with its bounds)
    required: bool
    section: Any  # a nested Section class (alone, optional or in a list), else None
    many: bool  # a list of sections
    optional: bool
    secret: bool
    literal: tuple[Any, ...]
    boolean: bool


@cache
def _field_infos(cls: type[Section]) -> dict[str, msgspec.structs.FieldInfo]:
    return {info.name: info for info in msgspec.structs.fields(cls)}


@cache
def _fields(cls: type[Section]) -> tuple[_Field, ...]:
    # each section declares its own fields, none as a string (this module has no `from __future__ import
    # annotations`): its __annotations__ are the types, without msgspec.structs.fields' type-hint evaluation
    names, defaults = cls.__struct_fields__, cls.__struct_defaults__
    first_default = len(names) - len(defaults)
    out = []
    for index, name in enumerate(names):
        kind = cls.__annotations__[name]
        required = index < first_default or defaults[index - first_default] is msgspec.NODEFAULT
        bare = get_args(kind)[0] if get_origin(kind) is Annotated else kind
        optional = False
        if get_origin(bare) in (Union, types.UnionType):
            rest = [arg for arg in get_args(bare) if arg is not type(None)]
            optional, bare = True, rest[0] if len(rest) == 1 else bare
        many = (
            get_origin(bare) is list and isinstance(get_args(bare)[0], type) and issubclass(get_args(bare)[0], Section)
        )
        section = get_args(bare)[0] if many else bare if isinstance(bare, type) and issubclass(bare, Section) else None
        out.append(
            _Field(
                name,
                kind,
                required,
                section,
                many,
                optional,
                bare is SecretSpec,
                get_args(bare) if get_origin(bare) is Literal else (),
                bare is bool,
            )
        )
    return tuple(out)


_BAD = object()


def _build(cls: type[Section], raw: Any, loc: Location, errors: list[tuple[Location, str, str]]) -> Any:
    """`cls` from `raw`, or None with its problems added to `errors` (every field's, each nested section's)."""
    if isinstance(raw, cls):
        return raw
    if not isinstance(raw, dict):
        errors.append((loc, f"Input should be a valid dictionary or instance of {cls.__name__}", "model_type"))
        return None
    values: dict[str, Any] = {}
    fields = _fields(cls)
    found: list[list[tuple[Location, str, str]]] = []  # each field's problems, kept in field order
    for spec in fields:
        found.append([])
        if spec.name not in raw:
            if spec.required:
                found[-1].append((loc + (spec.name,), "Field required", "missing"))
            continue
        value = _field_value(cls, spec, raw[spec.name], loc + (spec.name,), found[-1])
        if value is not _BAD:
            values[spec.name] = value
    names = {spec.name for spec in fields}
    unknown = [(loc + (key,), "Extra inputs are not permitted", "extra_forbidden") for key in raw if key not in names]
    if any(found) or unknown:
        # the fields that passed their type check still get their own checks: every problem is reported at once
        for spec, problems in zip(fields, found):
            check = cls.CHECKS.get(spec.name)
            if check is not None and not problems and spec.name in values:
                try:
                    check(values[spec.name])
                except ValueError as exc:
                    problems.append((loc + (spec.name,), str(exc), "value_error"))
        errors.extend(problem for problems in found for problem in problems)
        errors.extend(unknown)
        return None
    try:
        return cls(**values)
    except Invalid as exc:
        errors.extend((loc + where, message, kind) for where, message, kind in exc.errors)
        return None


def _field_value(cls: type[Section], spec: _Field, value: Any, loc: Location, errors: list) -> Any:
    before = cls.BEFORE.get(spec.name)
    if before is not None:
        try:
            value = before(value)
        except ValueError as exc:
            errors.append((loc, str(exc), "value_error"))
            return _BAD
    if spec.secret or (spec.optional and value is None):
        return value
    if spec.section is not None:
        if not spec.many:
            built = _build(spec.section, value, loc, errors)
            return _BAD if built is None else built
        if not isinstance(value, list):
            errors.append((loc, "Input should be a valid list", "list_type"))
            return _BAD
        items = [_build(spec.section, item, loc + (i,), errors) for i, item in enumerate(value)]
        return _BAD if any(item is None for item in items) else items
    if spec.boolean:
        value = _lax_bool(value)
    try:
        return msgspec.convert(value, spec.type)
    except msgspec.ValidationError as exc:
        message, kind, where = _in_words(str(exc), spec, value)
        errors.append((loc + where, message, kind))
        return _BAD


TYPE_WORDS = {
    "str": ("Input should be a valid string", "string_type"),
    "int": ("Input should be a valid integer", "int_type"),
    "bool": ("Input should be a valid boolean", "bool_type"),
    "array": ("Input should be a valid list", "list_type"),
    "object": ("Input should be a valid dictionary", "dict_type"),
}


def _in_words(text: str, spec: _Field, value: Any) -> tuple[str, str, Location]:
    """msgspec's error for a field's value in the words presets have always used (pydantic's), and where in the
    value it is (a list item's index)."""
    message, _, at = text.partition(" - at `$")
    where = tuple(int(index) if index else key for index, key in re.findall(r"\[(\d+)\]|\.([^.\[`]+)", at))
    if spec.literal:
        shown = [repr(v) for v in spec.literal]
        allowed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
        return f"Input should be {allowed}", "literal_error", ()
    bound = re.fullmatch(r"Expected `\w+` (>=|<=) (\S+)", message)
    if bound:
        side = "greater" if bound[1] == ">=" else "less"
        return f"Input should be {side} than or equal to {bound[2]}", f"{side}_than_equal", where
    short = re.fullmatch(r"Expected `array` of length >= (\d+)", message)
    if short:
        items = "item" if short[1] == "1" else "items"
        return f"List should have at least {short[1]} {items} after validation, not {len(value)}", "too_short", where
    expected = re.match(r"Expected `([^`]*)`, got `", message)
    if expected:
        first = next((t for t in expected[1].split(" | ") if t != "null"), "")
        if first == "bool" and isinstance(value, (str, int)):
            return "Input should be a valid boolean, unable to interpret input", "bool_parsing", where
        if first in TYPE_WORDS:
            return (*TYPE_WORDS[first], where)
    return message, "value_error", where


class Target(Section, frozen=True):
    context: Annotated[str | None, Meta(description="kube context; the current one when unset")] = None
    namespace: Annotated[str, Meta(description="namespace of the release")] = defaults.NAMESPACE
    release: Annotated[str, Meta(description="helm release name")] = defaults.RELEASE

    @staticmethod
    def _namespace(value: str) -> str:
        return checks.chart_text(checks.dns_label(value, "namespace name"), "target.namespace", "docker-registry")

    @staticmethod
    def _release(value: str) -> str:
        # helm refuses release names over 53 characters; the chart's Service (named after the release) must start with a
        # letter
        checks.dns_label(value, "release name", start_letter=True)
        if len(value) > checks.HELM_RELEASE_MAX:
            raise ValueError(
                f"release name {value!r} is {len(value)} characters; helm allows at most {checks.HELM_RELEASE_MAX}, "
                "e.g. docker-registry"
            )
        return checks.chart_text(value, "target.release", "docker-registry")

    CHECKS = {
        "context": _optional(lambda value: checks.no_option(value, "target.context", "kind-registry")),
        "namespace": _namespace,
        "release": _release,
    }


class Chart(Section, frozen=True):
    repo: Annotated[str, Meta(description="chart repository URL")] = "https://helm.twun.io"
    name: Annotated[str, Meta(description="chart name in the repository")] = "docker-registry"
    version: Annotated[str, Meta(description="chart version (pinned)")] = "3.0.0"
    path: Annotated[str | None, Meta(description="a local chart directory or .tgz instead of the repository")] = None
    oci: Annotated[str | None, Meta(description="an oci:// chart reference instead of the repository")] = None

    @staticmethod
    def _repo(value: str) -> str:
        return checks.http_url(
            value,
            "chart.repo",
            "https://helm.twun.io",
            "use a repository URL without credentials (helm repo add --username for private ones)",
        )

    @staticmethod
    def _name(value: str) -> str:
        if not checks.CHART_NAME.fullmatch(value):
            raise ValueError(
                f"chart.name {value!r} is not a chart name: lowercase letters, digits, '.', '_', '-', "
                "starting with a letter or digit, e.g. docker-registry"
            )
        return value

    @staticmethod
    def _version(value: str) -> str:
        if not checks.CHART_VERSION.fullmatch(value) or value.strip() != value:
            raise ValueError(f"chart.version {value!r} is not a version or version range, e.g. 3.0.0")
        return value

    CHECKS = {
        "repo": _repo,
        "name": _name,
        "version": _version,
        "path": _optional(
            lambda value: checks.no_option(
                value,
                "chart.path",
                "./charts/docker-registry-3.0.0.tgz (write ./-name for a name that starts with '-')",
            )
        ),
    }

    def check(self) -> None:
        if self.path and self.oci:
            raise ValueError("give either chart.path or chart.oci, not both")
        if self.oci is not None:
            rest = self.oci.removeprefix("oci://")
            if not self.oci.startswith("oci://") or not checks.IMAGE_REPOSITORY.fullmatch(rest) or "/" not in rest:
                raise ValueError(
                    f"chart.oci {self.oci!r} is not an oci:// chart reference, e.g. "
                    "oci://ghcr.io/example/charts/docker-registry (no credentials: log in with helm registry login)"
                )


class TLS(Section, frozen=True):
    mode: Annotated[
        Literal["existing-secret", "files", "cert-manager", "self-signed", "listener", "none"],
        Meta(description="listener: the Gateway listener's own certificateRefs (exposure.gateway only)"),
    ] = "self-signed"
    secret_name: Annotated[str | None, Meta(description="TLS Secret name (existing-secret; optional otherwise)")] = None
    cert_file: Annotated[str | None, Meta(description="PEM certificate chain (files)")] = None
    key_file: Annotated[str | None, Meta(description="PEM private key (files)")] = None
    issuer: Annotated[str | None, Meta(description="cert-manager issuer name (cert-manager)")] = None
    issuer_kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"
    ca_file: Annotated[
        str | None,
        Meta(
            description="PEM file of the CA that signed the registry's certificate (a private or corporate CA), for "
            "node trust, the smoke push and CDI; found by itself in a files chain that ends at its root or in the TLS "
            "Secret's ca.crt"
        ),
    ] = None

    def check(self) -> None:
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


class GatewayRef(Section, frozen=True):
    """A Gateway (Gateway API) to expose the registry through, instead of an Ingress."""

    name: Annotated[str, Meta(description="the Gateway's name")]
    namespace: Annotated[str | None, Meta(description="the Gateway's namespace; the release namespace when unset")] = (
        None
    )
    listener: Annotated[
        str | None, Meta(description="the listener's name (sectionName); the one that can carry the hosts when unset")
    ] = None

    CHECKS = {
        "name": lambda value: checks.dns_subdomain(value, "Gateway name for gateway.name", "shared-gateway"),
        "namespace": _optional(
            lambda value: checks.dns_label(value, "namespace for gateway.namespace", "gateway-system")
        ),
        "listener": _optional(lambda value: checks.dns_label(value, "listener name for gateway.listener", "https")),
    }


class Exposure(Section, frozen=True):
    hosts: Annotated[list[str], Meta(min_length=1, description="public hostnames of the registry")]
    ingress_class: Annotated[str | None, Meta(description="IngressClass; the cluster's default when unset")] = None
    gateway: Annotated[
        GatewayRef | None,
        Meta(description="expose through this Gateway (an HTTPRoute the installer manages) instead of an Ingress"),
    ] = None
    path: str = "/"
    tls: TLS = TLS()

    def check(self) -> None:
        if self.gateway is not None and self.ingress_class:
            raise ValueError(
                "give exposure.ingress_class (an Ingress) or exposure.gateway (an HTTPRoute on a Gateway), not both"
            )
        if self.gateway is None and self.tls.mode == "listener":
            raise ValueError(
                "tls.mode listener uses a Gateway listener's certificate: it needs exposure.gateway "
                "(with an Ingress use existing-secret, files, cert-manager or self-signed)"
            )

    @staticmethod
    def _hosts(hosts: Any) -> Any:
        if not isinstance(hosts, (list, tuple)):
            return hosts
        out: list[str] = []
        for host in hosts:
            host = checks.hostname(host)  # lowercased: DNS names are case-insensitive, Kubernetes wants lowercase
            checks.chart_text(host, "exposure.hosts", "registry.example.com")
            if host in out:
                raise ValueError(f"'{host}' is listed twice")
            out.append(host)
        return out if out != hosts else hosts

    @staticmethod
    def _ingress_class(value: str) -> str:
        return checks.chart_text(
            checks.dns_subdomain(value, "IngressClass name", "nginx"), "exposure.ingress_class", "nginx"
        )

    @staticmethod
    def _path(path: str) -> str:
        if path != "/":
            # docker, containerd and podman call /v2/ at the root of the host; a registry under a prefix is unreachable
            raise ValueError(
                f"exposure.path {path!r} is not supported: container clients only call /v2/ at the root of the host, "
                'so the registry must be served at path "/"; give it its own hostname instead of a path'
            )
        return path

    BEFORE = {"hosts": _hosts}
    CHECKS = {"ingress_class": _optional(_ingress_class), "path": _path}


class User(Section, frozen=True):
    name: str
    password: Annotated[SecretSpec, Meta(description=SECRET_DESCRIPTION)] = SecretSpec("generate")

    BEFORE = {"name": checks.user_name, "password": _secret_spec}


class Auth(Section, frozen=True):
    mode: Annotated[
        Literal["registry", "ingress", "none"],
        Meta(
            description="registry: the registry checks htpasswd itself; ingress: the ingress controller checks basic "
            "auth"
        ),
    ] = "registry"
    realm: str = "Registry Realm"
    users: list[User] = field(default_factory=lambda: [User(name="admin")])
    bcrypt_cost: Annotated[
        int, Meta(ge=4, le=14, description="bcrypt cost of the stored hashes (checked on every request; see README)")
    ] = 8

    BEFORE = {"realm": checks.realm, "bcrypt_cost": _whole_number}

    def check(self) -> None:
        if self.mode != "none" and not self.users:
            raise ValueError("auth needs at least one user (or auth.mode: none)")
        names = [u.name for u in self.users]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"user names must be unique; repeated: {', '.join(dupes)}")


class FilesystemStorage(Section, frozen=True):
    storage_class: Annotated[str | None, Meta(description="StorageClass; the cluster's default when unset")] = None
    size: Annotated[str, Meta(description="volume size (Kubernetes quantity); VM images are large")] = "100Gi"
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"] = "ReadWriteOnce"
    existing_claim: Annotated[str | None, Meta(description="use this existing PVC instead of creating one")] = None

    BEFORE = {"size": lambda size: checks.quantity(size, "size")}
    CHECKS = {
        "storage_class": _optional(lambda value: checks.dns_subdomain(value, "StorageClass name", "rook-ceph-block")),
        "existing_claim": _optional(
            lambda value: checks.chart_text(
                checks.dns_subdomain(value, "PersistentVolumeClaim name", "registry-data"),
                "storage.filesystem.existing_claim",
                "registry-data",
            )
        ),
    }


class S3Storage(Section, frozen=True):
    bucket: str = ""
    region: str = ""
    endpoint: Annotated[
        str | None, Meta(description="S3-compatible endpoint URL (MinIO, Ceph RGW); AWS when unset")
    ] = None
    root_directory: str | None = None
    secure: bool = True
    force_path_style: bool = True
    skip_verify: bool = False
    encrypt: bool = False
    access_key: Annotated[
        SecretSpec | None,
        Meta(description="access key reference; unset for instance-role credentials"),
    ] = None
    secret_key: Annotated[SecretSpec | None, Meta(description=SECRET_DESCRIPTION)] = None

    @staticmethod
    def _bucket(value: str) -> str:
        if value and not checks.S3_BUCKET.fullmatch(value) or ".." in value:
            raise ValueError(
                f"s3.bucket {value!r} is not a bucket name: at most 63 lowercase letters, digits, '.' and '-', "
                "starting and ending with a letter or digit, e.g. registry"
            )
        return value  # a bucket YAML would read as a number (12345) is quoted for the chart by render.chart_bare

    @staticmethod
    def _region(value: str) -> str:
        if value and not checks.S3_REGION.fullmatch(value):
            raise ValueError(
                f"s3.region {value!r} is not a region name: lowercase letters, digits and '-', e.g. us-east-1"
            )
        return value

    @staticmethod
    def _endpoint(value: str) -> str:
        return checks.http_url(
            value,
            "s3.endpoint",
            "https://s3.example.com",
            f"give the keys as s3.access_key and s3.secret_key references ({REFERENCE_SYNTAX}), "
            "e.g. access_key: env:S3_ACCESS_KEY",
        )

    @staticmethod
    def _root(value: str | None) -> str | None:
        if value is not None and (checks.CONTROL.search(value) or not value.startswith("/") or "//" in value):
            raise ValueError(
                f"s3.root_directory {value!r} must be a path starting with '/', without line breaks, e.g. /registry"
            )
        return value

    BEFORE = {"access_key": _optional(_secret_spec), "secret_key": _optional(_secret_spec)}
    CHECKS = {"bucket": _bucket, "region": _region, "endpoint": _optional(_endpoint), "root_directory": _root}

    def check(self) -> None:
        missing = [name for name in ("bucket", "region") if not getattr(self, name)]
        if missing:
            raise ValueError(
                f"S3 storage needs {' and '.join('s3.' + m for m in missing)} (e.g. bucket: registry, region: "
                "us-east-1)"
            )
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError("give both s3.access_key and s3.secret_key, or neither (instance-role credentials)")


class Storage(Section, frozen=True):
    kind: Literal["filesystem", "s3"] = "filesystem"
    filesystem: FilesystemStorage = FilesystemStorage()
    s3: S3Storage | None = None
    delete_enabled: Annotated[bool, Meta(description="allow deleting images (needed for garbage collection)")] = True

    def check(self) -> None:
        if self.kind == "s3" and self.s3 is None:
            raise ValueError("storage.kind s3 needs a storage.s3 section (bucket, region, endpoint, keys)")


def _nginx_size(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(
            f'{value!r} is not an nginx size: use "0" (or unlimited) for no limit, or a number with k, m or g, e.g. 10g'
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


class Uploads(Section, frozen=True):
    max_body_size: Annotated[
        str, Meta(description='largest request body the ingress accepts; "0" is unlimited (VM images)')
    ] = "0"
    read_timeout: Annotated[
        int, Meta(ge=1, le=86400, description="seconds the ingress waits for the registry to answer")
    ] = 3600
    send_timeout: Annotated[
        int, Meta(ge=1, le=86400, description="seconds the ingress waits while sending to the registry")
    ] = 3600
    request_buffering: Annotated[bool, Meta(description="buffer whole uploads at the ingress (off streams them)")] = (
        False
    )

    BEFORE = {"max_body_size": _nginx_size, "read_timeout": _whole_number, "send_timeout": _whole_number}


class GarbageCollect(Section, frozen=True):
    """Scheduled garbage collection: the installer's CronJob runs `gc`'s safe sequence (read-only, collect,
    writable)."""

    enabled: bool = False
    schedule: str = "0 1 * * *"
    delete_untagged: bool = True
    image: Annotated[
        str | None,
        Meta(
            description="an image with bash, date, sleep and kubectl for the CronJob; default registry.k8s.io/kubectl "
            "at the cluster's version (a mirror for offline clusters)"
        ),
    ] = None

    CHECKS = {
        "schedule": checks.cron_schedule,
        "image": _optional(
            lambda value: checks.image_reference(
                value, "extras.garbage_collect.image", "registry.k8s.io/kubectl:v1.35.2 (or a mirror of it)"
            )
        ),
    }


class Image(Section, frozen=True):
    repository: Annotated[str | None, Meta(description="registry image repository (a mirror for offline clusters)")] = (
        None
    )
    tag: str | None = None

    @staticmethod
    def _repository(value: str | None) -> str | None:
        if value is not None and not checks.IMAGE_REPOSITORY.fullmatch(value):
            raise ValueError(
                f"extras.image.repository {value!r} is not an image repository: e.g. "
                "mirror.example.com:5000/library/registry"
            )
        return value

    @staticmethod
    def _tag(value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not checks.IMAGE_TAG.fullmatch(value)):
            raise ValueError(
                f"extras.image.tag {value!r} is not an image tag: letters, digits, '_', '.', '-', at most 128, e.g. "
                "2.8.3 (quote it)"
            )
        return value

    BEFORE = {"tag": _tag}
    CHECKS = {"repository": _repository}


def _cpu(value: Any) -> str | None:
    return None if value is None else checks.quantity(value, "CPU amount", "500m", allow_milli=True)


def _memory(value: Any) -> str | None:
    return None if value is None else checks.quantity(value, "memory amount", "512Mi")


class Resources(Section, frozen=True):
    cpu_request: Annotated[str | None, Meta(description="Kubernetes quantity, e.g. 100m or 1")] = None
    memory_request: Annotated[str | None, Meta(description="Kubernetes quantity, e.g. 256Mi")] = None
    cpu_limit: Annotated[str | None, Meta(description="Kubernetes quantity, e.g. 2")] = None
    memory_limit: Annotated[str | None, Meta(description="Kubernetes quantity, e.g. 1Gi")] = None

    BEFORE = {"cpu_request": _cpu, "cpu_limit": _cpu, "memory_request": _memory, "memory_limit": _memory}

    def check(self) -> None:
        for kind in ("cpu", "memory"):
            request, limit = getattr(self, f"{kind}_request"), getattr(self, f"{kind}_limit")
            if request and limit and checks.quantity_value(request) > checks.quantity_value(limit):
                raise ValueError(
                    f"extras.resources.{kind}_request {request} is more than {kind}_limit {limit}; "
                    "Kubernetes refuses a request above its limit: raise the limit or lower the request"
                )


class Extras(Section, frozen=True):
    replicas: Annotated[int, Meta(ge=1, le=20)] = 1
    garbage_collect: GarbageCollect = GarbageCollect()
    metrics: bool = False
    image: Image = Image()
    resources: Resources = Resources()

    BEFORE = {"replicas": _whole_number}


DEFAULT_NODE_TRUST_IMAGE = "docker.io/library/busybox:1.36"
DEFAULT_CONTAINERD_CERTS_D = "/etc/containerd/certs.d"


def _host_path(field_name: str) -> Check:
    example = DEFAULT_CONTAINERD_CERTS_D if field_name == "containerd_certs_d" else "/etc/containerd/config.toml"

    def check(value: str) -> str:
        if (
            not value.startswith("/")
            or checks.CONTROL.search(value)
            or any(c.isspace() or c in "\"'$`" for c in value)
            or "/../" in value + "/"
            or value.rstrip("/") in ("", "/etc", "/var", "/usr")
        ):
            raise ValueError(
                f"clients.{field_name} {value!r} must be an absolute path on the nodes without spaces, quotes or "
                f"'..', e.g. {example}"
            )
        return value.rstrip("/")

    return check


class Clients(Section, frozen=True):
    """Who pulls from the registry inside the cluster: pull Secrets, node trust, the in-cluster pull check."""

    namespaces: Annotated[
        list[str],
        Meta(
            description="namespaces whose pods pull from the registry: each gets a "
            "kubernetes.io/dockerconfigjson Secret of the pull user"
        ),
    ] = field(default_factory=list)
    pull_user: Annotated[str, Meta(description="the dedicated pull user (generated password, kept across re-runs)")] = (
        "puller"
    )
    service_account: Annotated[
        bool,
        Meta(
            description="also add the pull Secret to each namespace's default ServiceAccount "
            "imagePullSecrets (merged, never replacing)"
        ),
    ] = False
    node_trust: Annotated[
        bool,
        Meta(
            description="a DaemonSet writes the registry's CA into every node's certs.d folders "
            "(containerd, CRI-O/podman, Docker)"
        ),
    ] = False
    node_trust_image: Annotated[
        str, Meta(description="a busybox-like image (sh, mkdir, cp, cat) for the node-trust DaemonSet")
    ] = DEFAULT_NODE_TRUST_IMAGE
    containerd_certs_d: Annotated[str, Meta(description="the nodes' containerd config_path folder")] = (
        DEFAULT_CONTAINERD_CERTS_D
    )
    containerd_config: Annotated[
        str, Meta(description="the nodes' containerd config file (read to check config_path)")
    ] = "/etc/containerd/config.toml"
    crio_certs_d: Annotated[str, Meta(description="the nodes' CRI-O/podman certs.d folder")] = "/etc/containers/certs.d"
    docker_certs_d: Annotated[str, Meta(description="the nodes' Docker certs.d folder")] = "/etc/docker/certs.d"
    pull_address: Annotated[
        str | None,
        Meta(
            description="HOST[:PORT] the nodes pull from; the first exposure host when unset "
            "(give the port when the ingress is not on 443)"
        ),
    ] = None
    pull_check: Annotated[
        bool, Meta(description="after the smoke push, a short-lived Pod pulls the pushed image (needs a namespace)")
    ] = True
    cdi: Annotated[
        bool,
        Meta(
            description="also write the CDI forms: a ConfigMap with the CA (certConfigMap) and a Secret with "
            "accessKeyId/secretKey (secretRef) in each namespace"
        ),
    ] = False

    @staticmethod
    def _namespaces(value: Any) -> Any:
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
        return out if out != value else value

    @staticmethod
    def _image(value: str) -> str:
        return checks.image_reference(
            value,
            "clients.node_trust_image",
            f"{DEFAULT_NODE_TRUST_IMAGE} (a mirror for offline clusters: mirror.example.com/library/busybox:1.36)",
        )

    @staticmethod
    def _pull_address(value: str) -> str:
        host, _, port = value.partition(":") if value.count(":") == 1 else (value, "", "")
        if not is_hostname(host) or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            raise ValueError(f"clients.pull_address {value!r} is not HOST[:PORT], e.g. registry.example.com:30443")
        return value

    BEFORE = {"namespaces": _namespaces, "pull_user": checks.user_name}
    CHECKS = {
        "node_trust_image": _image,
        **{
            name: _host_path(name)
            for name in ("containerd_certs_d", "containerd_config", "crio_certs_d", "docker_certs_d")
        },
        "pull_address": _optional(_pull_address),
    }


class Choices(Section, frozen=True, kw_only=True):
    """Everything the user decides; a preset file is exactly this, with `version: 1`."""

    version: Annotated[Literal[1], Meta(description="preset format version")] = 1
    target: Target = Target()
    chart: Chart = Chart()
    exposure: Exposure
    auth: Auth = Auth()
    storage: Storage = Storage()
    uploads: Uploads = Uploads()
    extras: Extras = Extras()
    clients: Clients = Clients()

    def check(self) -> None:
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

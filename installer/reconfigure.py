"""choices_from_release: an installed release's chart values mapped back to the Choices that render them."""

from __future__ import annotations

import re
from typing import Any, Iterable, Literal

from installer.model import (
    TLS,
    Auth,
    Chart,
    Choices,
    Exposure,
    Extras,
    FilesystemStorage,
    GarbageCollect,
    GatewayRef,
    Image,
    Resources,
    S3Storage,
    Storage,
    Target,
    Uploads,
    User,
)
from installer.plan import SecretNames, chart_fullname
from installer.render import NGINX, NGINX_INC, UPLOAD_ANNOTATIONS, chart_unbare
from installer.secretref import SecretSpec

KEEP = SecretSpec("keep")
CM_CLUSTER_ISSUER = "cert-manager.io/cluster-issuer"
CM_ISSUER = "cert-manager.io/issuer"
BCRYPT_COST_RE = re.compile(r"^\$2[abxy]?\$(\d{2})\$")


def choices_from_release(
    values: dict[str, Any],
    namespace: str,
    release: str,
    *,
    context: str | None = None,
    chart: Chart | None = None,
    user_names: Iterable[str] | None = None,
    secrets_present: Iterable[str] | None = None,
    managed: Iterable[dict[str, Any]] = (),
) -> Choices:
    """The Choices an installed release was made from, passwords `keep` (never read back).

    Args:
        values: the release's user-supplied values (`helm get values`), secrets included or not.
        user_names: the users of an ingress basic-auth Secret (the chart values do not hold them).
        secrets_present: Secret names in the namespace; tells self-signed TLS (a CA Secret) from a hand-made one.
        managed: the installer's own objects of the release (HTTPRoute, policy, Certificate, ReferenceGrant).
    """
    ingress = values.get("ingress") or {}
    annotations = ingress.get("annotations") or {}
    names = SecretNames(release)
    by_kind = {obj["kind"]: obj for obj in managed}
    route = by_kind.get("HTTPRoute")
    if not ingress.get("enabled", True) and route is not None:
        exposure = _gateway_exposure(route, by_kind, names, secrets_present)
        uploads = _route_uploads(route, by_kind.get("ClientSettingsPolicy"))
    else:
        exposure = _exposure(ingress, annotations, names, secrets_present)
        uploads = _uploads(annotations)
    return Choices(
        target=Target(context=context, namespace=namespace, release=release),
        chart=chart or Chart(),
        exposure=exposure,
        auth=_auth(values, annotations, user_names),
        storage=_storage(values, release),
        uploads=uploads,
        extras=_extras(values, by_kind.get("CronJob")),
    )


def _gateway_exposure(
    route: dict, by_kind: dict[str, dict], names: SecretNames, secrets_present: Iterable[str] | None
) -> Exposure:
    spec = route.get("spec") or {}
    parent = (spec.get("parentRefs") or [{}])[0]
    rule = (spec.get("rules") or [{}])[0]
    path = (((rule.get("matches") or [{}])[0].get("path") or {}).get("value")) or "/"
    certificate, grant = by_kind.get("Certificate"), by_kind.get("ReferenceGrant")
    granted = ((grant or {}).get("spec", {}).get("to") or [{}])[0].get("name")
    if certificate is not None:
        issuer = certificate["spec"].get("issuerRef") or {}
        own = certificate["spec"].get("secretName")
        tls = TLS(
            mode="cert-manager",
            issuer=issuer.get("name"),
            issuer_kind=issuer.get("kind") or "ClusterIssuer",
            secret_name=None if own == names.tls else own,
        )
    elif secrets_present is not None and names.ca in set(secrets_present):
        tls = TLS(mode="self-signed")
    elif granted and granted != names.tls:
        tls = TLS(mode="existing-secret", secret_name=granted)
    else:
        tls = TLS(mode="listener")
    gateway = GatewayRef(
        name=parent.get("name", ""), namespace=parent.get("namespace"), listener=parent.get("sectionName")
    )
    return Exposure(hosts=list(spec.get("hostnames") or []), gateway=gateway, path=path, tls=tls)


def _route_uploads(route: dict, policy: dict | None) -> Uploads:
    defaults = Uploads()
    timeouts = ((route.get("spec") or {}).get("rules") or [{}])[0].get("timeouts") or {}
    seconds = _seconds(timeouts.get("request"), defaults.read_timeout)
    body = ((policy or {}).get("spec") or {}).get("body") or {}
    return Uploads(
        max_body_size=body.get("maxSize") or defaults.max_body_size, read_timeout=seconds, send_timeout=seconds
    )


def _exposure(ingress: dict, annotations: dict, names: SecretNames, secrets_present: Iterable[str] | None) -> Exposure:
    hosts = list(ingress.get("hosts") or [])
    return Exposure(
        hosts=hosts,
        ingress_class=ingress.get("className") or None,
        path=ingress.get("path") or "/",
        tls=_tls(ingress, annotations, names, secrets_present),
    )


def _tls(ingress: dict, annotations: dict, names: SecretNames, secrets_present: Iterable[str] | None) -> TLS:
    tls_entries = ingress.get("tls") or []
    secret_name = (tls_entries[0] or {}).get("secretName") if tls_entries else None
    issuers: tuple[tuple[str, Literal["ClusterIssuer", "Issuer"]], ...] = (
        (CM_CLUSTER_ISSUER, "ClusterIssuer"),
        (CM_ISSUER, "Issuer"),
    )
    for key, kind in issuers:
        if annotations.get(key):
            own = None if secret_name in (None, names.tls) else secret_name
            return TLS(mode="cert-manager", issuer=annotations[key], issuer_kind=kind, secret_name=own)
    if not secret_name:
        return TLS(mode="none")
    if secret_name == names.tls and (secrets_present is None or names.ca in set(secrets_present)):
        # the installer's own CA made it; certificate files would be re-read from disk, which we cannot know
        return TLS(mode="self-signed")
    return TLS(mode="existing-secret", secret_name=secret_name)


def _auth(values: dict, annotations: dict, user_names: Iterable[str] | None) -> Auth:
    htpasswd = ((values.get("secrets") or {}).get("htpasswd") or "").strip()
    lines = [line for line in htpasswd.splitlines() if ":" in line]
    ingress_basic = annotations.get(NGINX + "auth-type") == "basic" or NGINX_INC + "basic-auth-secret" in annotations
    if ingress_basic:
        realm = annotations.get(NGINX + "auth-realm") or annotations.get(NGINX_INC + "basic-auth-realm") or Auth().realm
        names = list(user_names) if user_names is not None else []
        return Auth(mode="ingress", realm=realm, users=[User(name=n, password=KEEP) for n in names or ["admin"]])
    if lines:
        names = list(user_names) if user_names is not None else [line.split(":", 1)[0] for line in lines]
        return Auth(
            mode="registry", users=[User(name=n, password=KEEP) for n in names], bcrypt_cost=_bcrypt_cost(lines)
        )
    return Auth(mode="none", users=[])


def _bcrypt_cost(lines: list[str]) -> int:
    match = BCRYPT_COST_RE.match(lines[0].split(":", 1)[1])
    return int(match.group(1)) if match else Auth().bcrypt_cost


def _storage(values: dict, release: str) -> Storage:
    persistence = values.get("persistence") or {}
    delete_enabled = bool(persistence.get("deleteEnabled", True))
    if values.get("storage") == "s3":
        s3 = values.get("s3") or {}
        has_keys = bool(((values.get("secrets") or {}).get("s3") or {}).get("secretRef"))
        return Storage(
            kind="s3",
            delete_enabled=delete_enabled,
            s3=S3Storage(
                bucket=chart_unbare(s3.get("bucket", "")),
                region=chart_unbare(s3.get("region", "")),
                endpoint=chart_unbare(s3.get("regionEndpoint")),
                root_directory=s3.get("rootdirectory"),
                secure=s3.get("secure", True),
                force_path_style=s3.get("forcepathstyle", True),
                skip_verify=s3.get("skipverify", False),
                encrypt=s3.get("encrypt", False),
                access_key=KEEP if has_keys else None,
                secret_key=KEEP if has_keys else None,
            ),
        )
    defaults = FilesystemStorage()
    filesystem = FilesystemStorage(
        storage_class=persistence.get("storageClass"),
        size=str(persistence.get("size") or defaults.size),
        access_mode=persistence.get("accessMode") or defaults.access_mode,
        existing_claim=_user_claim(persistence, release),
    )
    return Storage(kind="filesystem", filesystem=filesystem, delete_enabled=delete_enabled)


def _user_claim(persistence: dict, release: str) -> str | None:
    """The user's own claim; the installer's (named like the chart's) is not one: the installer keeps managing it."""
    claim = persistence.get("existingClaim")
    return None if claim == chart_fullname(release) else claim


def _uploads(annotations: dict) -> Uploads:
    defaults = Uploads()
    for keys in UPLOAD_ANNOTATIONS.values():
        if keys.body in annotations:
            return Uploads(
                max_body_size=annotations[keys.body],
                read_timeout=_seconds(annotations.get(keys.read_timeout), defaults.read_timeout),
                send_timeout=_seconds(annotations.get(keys.send_timeout), defaults.send_timeout),
                request_buffering=annotations.get(keys.buffering) == keys.buffering_on,
            )
    return defaults


def _seconds(text: str | None, default: int) -> int:
    if not text:
        return default
    digits = str(text).strip().removesuffix("s")
    return int(digits) if digits.isdigit() else default


def _extras(values: dict, cronjob: dict | None = None) -> Extras:
    """The extras section; the schedule from the installer's CronJob, or from the chart's (an older install: the
    next apply replaces the chart's CronJob with the installer's)."""
    from installer.gcschedule import schedule_from_cronjob

    gc = values.get("garbageCollect") or {}
    image = values.get("image") or {}
    resources = values.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    gc_defaults = GarbageCollect()
    scheduled = schedule_from_cronjob(cronjob)
    return Extras(
        replicas=int(values.get("replicaCount", 1)),
        garbage_collect=GarbageCollect(**scheduled)
        if scheduled
        else GarbageCollect(
            enabled=bool(gc.get("enabled", False)),
            schedule=gc.get("schedule", gc_defaults.schedule),
            delete_untagged=bool(gc.get("deleteUntagged", gc_defaults.delete_untagged)),
        ),
        metrics=bool((values.get("metrics") or {}).get("enabled", False)),
        image=Image(repository=image.get("repository"), tag=image.get("tag")),
        resources=Resources(
            cpu_request=requests.get("cpu"),
            memory_request=requests.get("memory"),
            cpu_limit=limits.get("cpu"),
            memory_limit=limits.get("memory"),
        ),
    )

"""Gateway API exposure: the implementation families, what limits large uploads in each, the probe's
view of Gateways and listeners, and the objects the installer manages beside the release
(HTTPRoute, the family's policy, a cert-manager Certificate, a ReferenceGrant).

The chart has no HTTPRoute template, so these objects are the installer's own: labelled like its
Secrets, applied after helm (server-side apply), and removed when the release goes or the exposure
changes. No textual, no kubernetes client imports here: the probe and apply pass plain dicts.
"""

from __future__ import annotations

from typing import Any, Iterable, Literal

from installer.structs import msgspec

GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAYS_CRD = f"gateways.{GATEWAY_GROUP}"
BUNDLE_VERSION = f"{GATEWAY_GROUP}/bundle-version"
CHANNEL = f"{GATEWAY_GROUP}/channel"
INGRESS_NGINX_RETIRED = "March 2026"
MANAGED_BY = {"app.kubernetes.io/managed-by": "registry-installer"}


class PolicyKind(msgspec.Struct, frozen=True):  # a Struct: made in C, not six compiled methods (start-up)
    """A policy CRD of one implementation that the installer creates for large uploads."""

    group: str
    version: str
    kind: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def crd(self) -> str:
        return f"{self.plural}.{self.group}"


CLIENT_SETTINGS_POLICY = PolicyKind("gateway.nginx.org", "v1alpha1", "ClientSettingsPolicy", "clientsettingspolicies")


class GatewayFamily(msgspec.Struct, frozen=True):
    """One Gateway API implementation: how to recognise it and what limits large uploads in it."""

    name: str
    controllers: tuple[str, ...]  # GatewayClass spec.controllerName values (or prefixes)
    bodies: str  # what limits request bodies out of the box
    timeouts: str  # what cuts long uploads out of the box
    lift: str  # the object (or setting) that lifts the limits: named by Review and by the 413 diagnosis
    policy: PolicyKind | None = None  # created by the installer for the HTTPRoute, when the CRD is installed


# THE table: one row per family; looked up with `search` in the projects' own docs (November 2026).
GATEWAY_FAMILIES: tuple[GatewayFamily, ...] = (
    GatewayFamily(
        "nginx-gateway-fabric",
        ("gateway.nginx.org/",),
        bodies="nginx's client_max_body_size: 1m unless a ClientSettingsPolicy sets spec.body.maxSize "
        "(the same 413 on large layers as ingress-nginx's default)",
        timeouts="nginx's 60s client_body_timeout (ClientSettingsPolicy spec.body.timeout) and 60s "
        "proxy_read/send_timeout (ProxySettingsPolicy in NGF 2.x)",
        lift='ClientSettingsPolicy (gateway.nginx.org/v1alpha1) targeting the HTTPRoute with spec.body.maxSize: "0" '
        "(no limit) and spec.body.timeout; the installer creates it",
        policy=CLIENT_SETTINGS_POLICY,
    ),
    GatewayFamily(
        "envoy-gateway",
        ("gateway.envoyproxy.io/",),
        bodies="no limit: Envoy streams request bodies; only a BackendTrafficPolicy with spec.requestBuffer "
        "buffers them and answers 413 above requestBuffer.limit",
        timeouts="Envoy's 15s route timeout unless the HTTPRoute sets timeouts.request (the installer sets it)",
        lift="the HTTPRoute's timeouts (set by the installer); for a 413, remove or raise spec.requestBuffer.limit "
        "of the BackendTrafficPolicy (gateway.envoyproxy.io/v1alpha1) that targets this HTTPRoute or its Gateway",
    ),
    GatewayFamily(
        "traefik",
        ("traefik.io/gateway-controller",),
        bodies=(
            "no limit unless a Buffering middleware (maxRequestBodyBytes) is attached to the route as an ExtensionRef "
            "filter"
        ),
        timeouts="the entry point's transport.respondingTimeouts.readTimeout (60s since Traefik 2.11.2 and 3.x): "
        "static configuration, not an object the installer can create",
        lift="raise entryPoints.<name>.transport.respondingTimeouts.readTimeout (0 disables it) in Traefik's static "
        "configuration; for a 413, raise or remove the Buffering middleware's maxRequestBodyBytes",
    ),
    GatewayFamily(
        "istio",
        ("istio.io/gateway-controller",),
        bodies="no limit: Envoy streams request bodies (an EnvoyFilter adding a buffer filter would limit them)",
        timeouts="no route timeout by default; the HTTPRoute's timeouts apply",
        lift="the HTTPRoute's timeouts (set by the installer); for a 413, the EnvoyFilter that adds a buffer filter "
        "(max_request_bytes) to this gateway",
    ),
    GatewayFamily(
        "cilium",
        ("io.cilium/gateway-controller",),
        bodies="no limit: Cilium's Envoy streams request bodies",
        timeouts="the HTTPRoute's timeouts; Envoy's default route timeout otherwise",
        lift=(
            "the HTTPRoute's timeouts (set by the installer); for a 413, a CiliumEnvoyConfig that adds a buffer filter"
        ),
    ),
    GatewayFamily(
        "kgateway",
        ("kgateway.dev/",),
        bodies="no limit unless a TrafficPolicy (gateway.kgateway.dev/v1alpha1) sets spec.buffer.maxRequestSize, "
        "which buffers and answers 413 above it",
        timeouts="the HTTPRoute's timeouts (or TrafficPolicy spec.timeouts)",
        lift="the HTTPRoute's timeouts (set by the installer); for a 413, remove or raise spec.buffer.maxRequestSize "
        "of the TrafficPolicy that targets this route or its Gateway",
    ),
)
GATEWAY_FAMILY_NAMES = tuple(f.name for f in GATEWAY_FAMILIES)
ALTERNATIVES = "Envoy Gateway, NGINX Gateway Fabric, Traefik, Istio, Cilium or kgateway"


def gateway_family(controller: str) -> str:
    """The implementation family of a GatewayClass controllerName, or 'other'."""
    for family in GATEWAY_FAMILIES:
        if any(controller == c or (c.endswith("/") and controller.startswith(c)) for c in family.controllers):
            return family.name
    return "other"


def family_info(name: str | None) -> GatewayFamily | None:
    return next((f for f in GATEWAY_FAMILIES if f.name == name), None)


# -- what the probe reads ---------------------------------------------------------------------------


class GatewayAPIInfo(msgspec.Struct, frozen=True):
    """The Gateway API CRDs: bundle version and channel (annotations of the gateways CRD), served versions."""

    version: str
    channel: str
    served: tuple[str, ...]


class GatewayClassInfo(msgspec.Struct, frozen=True):
    name: str
    controller: str
    family: str
    accepted: bool | None = None


class ListenerInfo(msgspec.Struct, frozen=True):
    name: str
    port: int
    protocol: str
    hostname: str | None = None
    tls_mode: Literal["Terminate", "Passthrough"] | None = None  # HTTPS/TLS listeners only
    certificate_refs: tuple[str, ...] = ()  # "namespace/name" of each Secret
    allowed_from: Literal["All", "Same", "Selector"] = "Same"
    allowed_selector: dict[str, str] = msgspec.field(default_factory=dict)  # matchLabels of a Selector
    allowed_kinds: tuple[str, ...] = ()  # empty: the protocol's default (HTTPRoute for HTTP/HTTPS)

    @property
    def tls(self) -> bool:
        return self.protocol in ("HTTPS", "TLS")

    def words(self) -> str:
        host = self.hostname or "any host"
        tls = f", TLS {self.tls_mode or 'Terminate'}" if self.tls else ""
        return f"{self.name} ({self.protocol} {self.port}, {host}{tls})"


class GatewayInfo(msgspec.Struct, frozen=True):
    namespace: str
    name: str
    class_name: str
    family: str
    listeners: tuple[ListenerInfo, ...] = ()
    programmed: bool | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def listener(self, name: str) -> ListenerInfo | None:
        return next((listener for listener in self.listeners if listener.name == name), None)


def read_gateway_api(crd: dict[str, Any]) -> GatewayAPIInfo:
    annotations = crd.get("metadata", {}).get("annotations") or {}
    served = tuple(v["name"] for v in (crd.get("spec") or {}).get("versions", []) if v.get("served"))
    return GatewayAPIInfo(annotations.get(BUNDLE_VERSION, "unknown"), annotations.get(CHANNEL, "unknown"), served)


def read_gateway_class(obj: dict[str, Any]) -> GatewayClassInfo:
    controller = (obj.get("spec") or {}).get("controllerName", "")
    return GatewayClassInfo(
        obj["metadata"]["name"], controller, gateway_family(controller), _condition(obj, "Accepted")
    )


def read_gateway(obj: dict[str, Any], families: dict[str, str]) -> GatewayInfo:
    spec = obj.get("spec") or {}
    namespace = obj["metadata"]["namespace"]
    listeners = []
    for item in spec.get("listeners") or []:
        tls = item.get("tls") or {}
        allowed = item.get("allowedRoutes") or {}
        namespaces = allowed.get("namespaces") or {}
        refs = tuple(
            f"{ref.get('namespace') or namespace}/{ref['name']}"
            for ref in tls.get("certificateRefs") or []
            if (ref.get("kind") or "Secret") == "Secret"
        )
        listeners.append(
            ListenerInfo(
                name=item["name"],
                port=int(item.get("port", 0)),
                protocol=item.get("protocol", ""),
                hostname=item.get("hostname"),
                tls_mode=(tls.get("mode") or "Terminate") if item.get("protocol") in ("HTTPS", "TLS") else None,
                certificate_refs=refs,
                allowed_from=namespaces.get("from") or "Same",
                allowed_selector=dict(((namespaces.get("selector") or {}).get("matchLabels") or {})),
                allowed_kinds=tuple(k.get("kind", "") for k in allowed.get("kinds") or []),
            )
        )
    class_name = spec.get("gatewayClassName", "")
    return GatewayInfo(
        namespace,
        obj["metadata"]["name"],
        class_name,
        families.get(class_name, "other"),
        tuple(listeners),
        _condition(obj, "Programmed"),
    )


def _condition(obj: dict[str, Any], kind: str) -> bool | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond.get("status") == "True"
    return None


def host_matches(listener_hostname: str | None, host: str) -> bool:
    """Gateway API hostname matching: empty matches all, '*.example.com' one or more labels under example.com."""
    if not listener_hostname:
        return True
    if listener_hostname.startswith("*."):
        suffix = listener_hostname[1:]
        return host.endswith(suffix) and len(host) > len(suffix)
    return listener_hostname == host


def why_not(
    listener: ListenerInfo,
    gateway: GatewayInfo,
    hosts: Iterable[str],
    namespace: str,
    namespace_labels: dict[str, str] | None,
    want_tls: bool,
) -> str | None:
    """Why `listener` cannot carry the registry's hosts from `namespace` (None when it can)."""
    if want_tls and listener.protocol != "HTTPS":
        return f"it speaks {listener.protocol}, not HTTPS" + (
            " (TLS passthrough cannot carry an HTTPRoute)" if listener.protocol == "TLS" else ""
        )
    if not want_tls and listener.protocol != "HTTP":
        return f"it speaks {listener.protocol}, and tls.mode none needs an HTTP listener"
    if listener.tls_mode == "Passthrough":
        return "its TLS mode is Passthrough: an HTTPRoute needs TLS terminated at the listener (mode Terminate)"
    if listener.allowed_kinds and "HTTPRoute" not in listener.allowed_kinds:
        return f"its allowedRoutes.kinds ({', '.join(listener.allowed_kinds)}) exclude HTTPRoute"
    missing = [h for h in hosts if not host_matches(listener.hostname, h)]
    if missing:
        return f"its hostname {listener.hostname} does not match {', '.join(missing)}"
    if listener.allowed_from == "Same" and gateway.namespace != namespace:
        return (
            f"it accepts routes from its own namespace {gateway.namespace} only (allowedRoutes.namespaces.from: Same), "
            f"not from {namespace}"
        )
    if listener.allowed_from == "Selector":
        labels = namespace_labels or {}
        unmatched = {k: v for k, v in listener.allowed_selector.items() if labels.get(k) != v}
        if unmatched or not listener.allowed_selector:
            wanted = ", ".join(f"{k}={v}" for k, v in listener.allowed_selector.items()) or "a label expression"
            return (
                f"it accepts routes only from namespaces labelled {wanted}; label namespace {namespace} so (kubectl "
                f"label namespace {namespace} ...)"
            )
    return None


# -- the objects the installer manages -----------------------------------------------------------------


class ManagedKind(msgspec.Struct, frozen=True):
    """A kind of object the installer creates beside the release, and where to list it."""

    api_version: str
    kind: str
    plural: str

    def collection(self, namespace: str) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}"


HTTPROUTE = ManagedKind(f"{GATEWAY_GROUP}/v1", "HTTPRoute", "httproutes")
REFERENCE_GRANT = ManagedKind(f"{GATEWAY_GROUP}/v1beta1", "ReferenceGrant", "referencegrants")
CERTIFICATE = ManagedKind("cert-manager.io/v1", "Certificate", "certificates")
MANAGED_KINDS = (
    HTTPROUTE,
    REFERENCE_GRANT,
    CERTIFICATE,
    ManagedKind(CLIENT_SETTINGS_POLICY.api_version, CLIENT_SETTINGS_POLICY.kind, CLIENT_SETTINGS_POLICY.plural),
)


def object_words(obj: dict[str, Any]) -> str:
    return f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}"


def gateway_duration(seconds: int) -> str:
    """A Gateway API Duration (GEP-2257: at most 5 digits a unit)."""
    return f"{seconds}s" if seconds < 100000 else f"{-(-seconds // 60)}m"


def nginx_duration(seconds: int) -> str:
    """An NGINX Gateway Fabric Duration (at most 4 digits a unit)."""
    if seconds < 10000:
        return f"{seconds}s"
    minutes = -(-seconds // 60)
    return f"{minutes}m" if minutes < 10000 else f"{-(-minutes // 60)}h"


def policy_for(family: str | None, policy_crds: Iterable[str] | None) -> PolicyKind | None:
    """The policy to create for `family`: when its CRD is installed (or when nothing could be checked)."""
    info = family_info(family)
    if info is None or info.policy is None:
        return None
    if policy_crds is not None and info.policy.crd not in set(policy_crds):
        return None
    return info.policy

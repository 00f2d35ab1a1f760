"""What the cluster offers: storage and ingress classes, cert-manager, an installed release, permissions."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from installer.errors import InstallerError
from installer.gateway import (
    ALTERNATIVES,
    GATEWAY_FAMILIES,
    GATEWAYS_CRD,
    INGRESS_NGINX_RETIRED,
    GatewayAPIInfo,
    GatewayClassInfo,
    GatewayInfo,
    read_gateway,
    read_gateway_api,
    read_gateway_class,
    why_not,
)
from installer.kube import Forbidden, KubeClient, NotFound
from installer.structs import msgspec

log = logging.getLogger(__name__)

DEFAULT_SC_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
DEFAULT_IC_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
CONTROLLER_FAMILIES = (
    ("k8s.io/ingress-nginx", "ingress-nginx"),
    ("nginx.org/ingress-controller", "nginx-inc"),
    ("traefik.io/ingress-controller", "traefik"),
    ("haproxy", "haproxy"),
)
FAMILY_NAMES = tuple(family for _, family in CONTROLLER_FAMILIES) + tuple(f.name for f in GATEWAY_FAMILIES) + ("other",)
INGRESS_NGINX_CONFIGMAPS = (("ingress-nginx", "ingress-nginx-controller"), ("kube-system", "ingress-nginx-controller"))


def controller_family(controller: str) -> str:
    """The controller family ('ingress-nginx', 'nginx-inc', 'traefik', 'haproxy' or 'other')."""
    for prefix, family in CONTROLLER_FAMILIES:
        if controller.startswith(prefix) or (prefix == "haproxy" and "haproxy" in controller):
            return family
    return "other"


@dataclass(frozen=True)
class StorageClassInfo:
    name: str
    provisioner: str
    is_default: bool
    binding_mode: str
    allow_expansion: bool


@dataclass(frozen=True)
class IngressClassInfo:
    name: str
    controller: str
    is_default: bool
    family: str


@dataclass(frozen=True)
class IssuerInfo:
    """A cert-manager issuer; for a CA issuer (spec.ca.secretName) also its Secret and the CA certificate in it."""

    name: str
    kind: Literal["ClusterIssuer", "Issuer"]
    namespace: str | None = None
    ready: bool | None = None
    ca_secret: str | None = None  # a CA issuer's Secret as NAMESPACE/NAME; None for other kinds of issuer
    # that Secret's tls.crt (the CA certificate, public; its tls.key is never read) when it could be read and is a CA
    ca_pem: str | None = field(default=None, repr=False)
    ca_note: str = ""  # a CA issuer's: where its CA was read from, or why it was not (and the namespace rule used)

    @property
    def ca_issuer(self) -> bool:
        return self.ca_secret is not None

    def label(self) -> str:
        """KIND/NAME for a list of issuers, saying whether a CA issuer's CA was read (ca_note says how, or why not)."""
        if not self.ca_issuer:
            return f"{self.kind}/{self.name}"
        return f"{self.kind}/{self.name} (CA issuer: its CA {'is read' if self.ca_pem else 'could not be read'})"


@dataclass(frozen=True)
class ReleaseInfo:
    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    app_version: str
    values: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class PermissionCheck:
    verb: str
    resource: str
    namespace: str | None
    allowed: bool
    group: str = ""

    def words(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster-wide)"
        return f"{self.verb} {self.resource}{where}"


@dataclass(frozen=True)
class ProbeResult:
    context: str | None
    server: str | None
    server_version: str
    user: str | None
    storage_classes: tuple[StorageClassInfo, ...] = ()
    ingress_classes: tuple[IngressClassInfo, ...] = ()
    ingress_nginx_body_size: str | None = None
    cert_manager: bool = False
    issuers: tuple[IssuerInfo, ...] = ()
    release: ReleaseInfo | None = None
    namespace_exists: bool = False
    permissions: tuple[PermissionCheck, ...] = ()
    forbidden: tuple[str, ...] = ()
    gateway_api: GatewayAPIInfo | None = None
    gateway_classes: tuple[GatewayClassInfo, ...] = ()
    gateways: tuple[GatewayInfo, ...] = ()
    gateway_policy_crds: tuple[
        str, ...
    ] = ()  # policy CRDs of the families (e.g. clientsettingspolicies.gateway.nginx.org)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    node_runtimes: tuple[
        tuple[str, str], ...
    ] = ()  # (node, containerRuntimeVersion), e.g. ("n1", "containerd://1.7.24")
    kubevirt: bool = False  # the KubeVirt CRD (virtualmachines.kubevirt.io) is there
    cdi: bool = False  # the CDI CRD (datavolumes.cdi.kubevirt.io) is there: offer the CDI forms

    def default_storage_class(self) -> StorageClassInfo | None:
        defaults = [sc for sc in self.storage_classes if sc.is_default]
        return defaults[0] if len(defaults) == 1 else None

    def default_ingress_class(self) -> IngressClassInfo | None:
        defaults = [ic for ic in self.ingress_classes if ic.is_default]
        if len(defaults) == 1:
            return defaults[0]
        return self.ingress_classes[0] if len(self.ingress_classes) == 1 else None

    def storage_class(self, name: str) -> StorageClassInfo | None:
        return next((sc for sc in self.storage_classes if sc.name == name), None)

    def ingress_class(self, name: str) -> IngressClassInfo | None:
        return next((ic for ic in self.ingress_classes if ic.name == name), None)

    def gateway(self, name: str, namespace: str) -> GatewayInfo | None:
        return next((g for g in self.gateways if g.name == name and g.namespace == namespace), None)

    def usable_listeners(
        self, hosts: list[str], namespace: str, want_tls: bool = True
    ) -> list[tuple[GatewayInfo, str]]:
        """(Gateway, listener name) pairs that can carry `hosts` for a route in `namespace`."""
        labels = (
            self.namespace_labels if self.namespace_exists else {"app.kubernetes.io/managed-by": "registry-installer"}
        )
        return [
            (g, listener.name)
            for g in self.gateways
            for listener in g.listeners
            if why_not(listener, g, hosts, namespace, labels, want_tls) is None
        ]

    def exposure_offers(self) -> list[str]:
        """What this cluster offers to expose the registry, besides ingress-nginx, in words."""
        offers = [
            f"Gateway {g.ref} ({g.family}; listeners "
            f"{', '.join(listener.words() for listener in g.listeners) or 'none'})"
            for g in self.gateways
        ]
        offers += [
            f"IngressClass {ic.name} ({ic.family})" for ic in self.ingress_classes if ic.family != "ingress-nginx"
        ]
        return offers

    def missing_permissions(self) -> list[PermissionCheck]:
        return [p for p in self.permissions if not p.allowed]

    def warnings(self) -> list[str]:
        """Things the user should know, in words."""
        out = []
        defaults = [sc.name for sc in self.storage_classes if sc.is_default]
        if not self.storage_classes and "list storageclasses" not in self.forbidden:
            out.append(
                "no StorageClass exists: the data volume cannot be provisioned; use an existing claim or S3 storage"
            )
        elif len(defaults) > 1:
            out.append(f"several StorageClasses are marked default ({', '.join(defaults)}): choose one explicitly")
        if not self.ingress_classes and not self.gateways and "list ingressclasses" not in self.forbidden:
            out.append(
                f"no IngressClass and no Gateway exists: install a Gateway API implementation ({ALTERNATIVES}) "
                "or an ingress controller first"
            )
        retired = [ic.name for ic in self.ingress_classes if ic.family == "ingress-nginx"]
        if retired:
            offers = self.exposure_offers()
            instead = (
                ("; this cluster offers instead: " + "; ".join(offers) + " (choose exposure.gateway for a Gateway)")
                if offers
                else (
                    f"; this cluster offers nothing else yet: install a Gateway API implementation ({ALTERNATIVES}) "
                    "and expose the registry through a Gateway"
                )
            )
            out.append(
                f"ingress-nginx (IngressClass {', '.join(retired)}) was retired by the Kubernetes project in "
                f"{INGRESS_NGINX_RETIRED}: no more releases or security fixes{instead}"
            )
        if self.gateway_api is not None and "v1" not in self.gateway_api.served:
            out.append(
                f"the Gateway API CRDs ({self.gateway_api.version}) do not serve v1: upgrade them to v1.0 or later for "
                "HTTPRoute v1"
            )
        if self.ingress_nginx_body_size not in (None, "0"):
            out.append(
                f"ingress-nginx's global proxy-body-size is {self.ingress_nginx_body_size}: the installer sets an "
                "unlimited per-Ingress annotation"
            )
        if self.release is not None and self.release.status != "deployed":
            if self.release.status.startswith("pending-"):
                out.append(
                    f"release {self.release.name} is {self.release.status}: an install was interrupted or is running "
                    "now; if another installer runs, Install says so and you wait; otherwise Install first rolls the "
                    "release back to its last good revision"
                )
            else:
                out.append(
                    f"release {self.release.name} is in status {self.release.status}: installing again replaces it"
                )
        for check in self.missing_permissions():
            out.append(f"missing permission: {check.words()}")
        for what in self.forbidden:
            out.append(f"not allowed to {what}: those choices cannot be checked against the cluster")
        return out

    def to_json(self) -> str:
        data = asdict(self)
        if data["release"] is not None:
            data["release"].pop("values", None)
        data.pop("seconds", None)
        data["warnings"] = self.warnings()
        # the Gateway API views are msgspec Structs (asdict leaves them as they are): their fields as a mapping
        return json.dumps(data, indent=2, sort_keys=True, default=msgspec.to_builtins)


@dataclass(frozen=True)
class NeededPermission:
    verb: str
    resource: str
    group: str = ""
    namespaced: bool = True


NEEDED_PERMISSIONS = (
    NeededPermission("create", "namespaces", namespaced=False),
    NeededPermission("create", "secrets"),
    NeededPermission("update", "secrets"),
    NeededPermission("create", "deployments", "apps"),
    NeededPermission("create", "services"),
    NeededPermission("create", "configmaps"),
    NeededPermission("create", "persistentvolumeclaims"),
    NeededPermission("create", "ingresses", "networking.k8s.io"),
    NeededPermission("create", "httproutes", "gateway.networking.k8s.io"),
    NeededPermission("create", "cronjobs", "batch"),  # these three and serviceaccounts: the scheduled collection
    NeededPermission("create", "roles", "rbac.authorization.k8s.io"),
    NeededPermission("create", "rolebindings", "rbac.authorization.k8s.io"),
    NeededPermission("create", "serviceaccounts"),
    NeededPermission("create", "leases", "coordination.k8s.io"),
)


class ClusterProbe:
    """Reads what the cluster offers with one list call per kind."""

    def __init__(self, kube: KubeClient, namespace: str = "docker-registry", release: str = "docker-registry") -> None:
        self.kube = kube
        self.namespace = namespace
        self.release_name = release

    def probe(self) -> ProbeResult:
        started = time.monotonic()
        forbidden: list[str] = []
        version = self.kube.get_json("read the server version", "/version")
        result = dict(
            context=self.kube.context,
            server=self.kube.server,
            server_version=version.get("gitVersion", "unknown"),
            user=self.whoami(),
            storage_classes=self._guard(forbidden, "list storageclasses", self._storage_classes, ()),
            ingress_classes=self._guard(forbidden, "list ingressclasses", self._ingress_classes, ()),
            ingress_nginx_body_size=self._guard(
                forbidden, "read the ingress-nginx ConfigMap", self._ingress_nginx_body_size, None
            ),
            namespace_labels=self._guard(forbidden, f"read namespace {self.namespace}", self._namespace_labels, None),
            release=self._guard(forbidden, f"list helm release secrets in {self.namespace}", self._release, None),
            permissions=self.permissions(),
        )
        cert_manager, issuers = self._guard(forbidden, "read cert-manager issuers", self._cert_manager, (False, ()))
        gateway = self._guard(forbidden, "list Gateway API objects", self._gateway_api, {})
        # optional facts for the clients step: a namespaced identity may not read them, and needs not to
        unread: list[str] = []
        result["node_runtimes"] = self._guard(unread, "list nodes", self._node_runtimes, ())
        result["kubevirt"] = self._guard(
            unread, "read the KubeVirt CRD", lambda: self._crd("virtualmachines.kubevirt.io"), False
        )
        result["cdi"] = self._guard(unread, "read the CDI CRD", lambda: self._crd("datavolumes.cdi.kubevirt.io"), False)
        labels = result.pop("namespace_labels")
        return ProbeResult(
            **result,
            namespace_exists=labels is not None,
            namespace_labels=labels or {},
            cert_manager=cert_manager,
            issuers=issuers,
            forbidden=tuple(forbidden),
            **gateway,
            seconds=time.monotonic() - started,
        )

    def _node_runtimes(self) -> tuple[tuple[str, str], ...]:
        nodes = self.kube.get_json("list nodes", "/api/v1/nodes").get("items", [])
        return tuple(
            sorted(
                (
                    n["metadata"]["name"],
                    ((n.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", ""),
                )
                for n in nodes
            )
        )

    def _crd(self, name: str) -> bool:
        try:
            self.kube.get_json(f"read CRD {name}", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            return True
        except NotFound:
            return False

    @staticmethod
    def _guard(forbidden: list[str], what: str, fn, default):
        try:
            return fn()
        except Forbidden:
            forbidden.append(what)
            return default

    def whoami(self) -> str | None:
        """The user name the API server sees (SelfSubjectReview), None when it will not say."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            review = self.kube.post_json("ask who we are", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body)
        except InstallerError:
            return None
        return review.get("status", {}).get("userInfo", {}).get("username")

    def _storage_classes(self) -> tuple[StorageClassInfo, ...]:
        items = self.kube.get_json("list storageclasses", "/apis/storage.k8s.io/v1/storageclasses").get("items", [])
        return tuple(
            sorted(
                (
                    StorageClassInfo(
                        name=sc["metadata"]["name"],
                        provisioner=sc.get("provisioner", ""),
                        is_default=any(_annotations(sc).get(a) == "true" for a in DEFAULT_SC_ANNOTATIONS),
                        binding_mode=sc.get("volumeBindingMode") or "Immediate",
                        allow_expansion=bool(sc.get("allowVolumeExpansion")),
                    )
                    for sc in items
                ),
                key=lambda s: s.name,
            )
        )

    def _ingress_classes(self) -> tuple[IngressClassInfo, ...]:
        items = self.kube.get_json("list ingressclasses", "/apis/networking.k8s.io/v1/ingressclasses").get("items", [])
        return tuple(
            sorted(
                (
                    IngressClassInfo(
                        name=ic["metadata"]["name"],
                        controller=(ic.get("spec") or {}).get("controller", ""),
                        is_default=_annotations(ic).get(DEFAULT_IC_ANNOTATION) == "true",
                        family=controller_family((ic.get("spec") or {}).get("controller", "")),
                    )
                    for ic in items
                ),
                key=lambda i: i.name,
            )
        )

    def _ingress_nginx_body_size(self) -> str | None:
        for namespace, name in INGRESS_NGINX_CONFIGMAPS:
            try:
                cm = self.kube.get_json(
                    f"read ConfigMap {namespace}/{name}", f"/api/v1/namespaces/{namespace}/configmaps/{name}"
                )
            except NotFound:
                continue
            return (cm.get("data") or {}).get("proxy-body-size", "1m")
        return None

    def _namespace_labels(self) -> dict[str, str] | None:
        """The namespace's labels; None when it does not exist."""
        try:
            ns = self.kube.get_json(f"read namespace {self.namespace}", f"/api/v1/namespaces/{self.namespace}")
        except NotFound:
            return None
        return dict(ns.get("metadata", {}).get("labels") or {})

    def _gateway_api(self) -> dict[str, Any]:
        """The Gateway API CRDs, GatewayClasses, Gateways and listeners, and which families' policy CRDs exist."""
        try:
            crd = self.kube.get_json(
                "read the Gateway API CRD", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{GATEWAYS_CRD}"
            )
        except NotFound:
            return {}
        info = read_gateway_api(crd)
        version = "v1" if "v1" in info.served else (info.served[0] if info.served else "v1")
        base = f"/apis/gateway.networking.k8s.io/{version}"
        classes = tuple(
            sorted(
                (
                    read_gateway_class(c)
                    for c in self.kube.get_json("list gatewayclasses", f"{base}/gatewayclasses").get("items", [])
                ),
                key=lambda c: c.name,
            )
        )
        families = {c.name: c.family for c in classes}
        gateways = tuple(
            sorted(
                (
                    read_gateway(g, families)
                    for g in self.kube.get_json("list gateways", f"{base}/gateways").get("items", [])
                ),
                key=lambda g: (g.namespace, g.name),
            )
        )
        policies = []
        for family in GATEWAY_FAMILIES:
            if family.policy is None:
                continue
            try:
                self.kube.get_json(
                    f"read the {family.policy.kind} CRD",
                    f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{family.policy.crd}",
                )
                policies.append(family.policy.crd)
            except NotFound:
                pass
        return dict(gateway_api=info, gateway_classes=classes, gateways=gateways, gateway_policy_crds=tuple(policies))

    def _cert_manager(self) -> tuple[bool, tuple[IssuerInfo, ...]]:
        try:
            self.kube.get_json(
                "read the cert-manager CRD",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/clusterissuers.cert-manager.io",
            )
        except NotFound:
            return False, ()
        found: list[tuple[str, str]] = []

        def resources() -> tuple[str, str]:  # looked up once, and only for a CA ClusterIssuer
            if not found:
                found.append(cluster_resource_namespace(self.kube))
            return found[0]

        cluster = self.kube.get_json("list clusterissuers", "/apis/cert-manager.io/v1/clusterissuers")
        issuers = [read_issuer(self.kube, i, "ClusterIssuer", None, resources) for i in cluster.get("items", [])]
        try:
            namespaced = self.kube.get_json(
                "list issuers", f"/apis/cert-manager.io/v1/namespaces/{self.namespace}/issuers"
            )
            issuers += [
                read_issuer(self.kube, i, "Issuer", self.namespace, resources) for i in namespaced.get("items", [])
            ]
        except (NotFound, Forbidden):
            pass
        return True, tuple(sorted(issuers, key=lambda i: (i.kind, i.name)))

    def _release(self) -> ReleaseInfo | None:
        return read_release(self.kube, self.namespace, self.release_name)

    def permissions(self) -> tuple[PermissionCheck, ...]:
        return tuple(self.can(need) for need in NEEDED_PERMISSIONS)

    def can(self, need: NeededPermission) -> PermissionCheck:
        """One SelfSubjectAccessReview: may the current identity do this?"""
        namespace = self.namespace if need.namespaced else None
        attributes = {"verb": need.verb, "resource": need.resource, "group": need.group}
        if namespace:
            attributes["namespace"] = namespace
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        answer = self.kube.post_json(
            f"check permission to {need.verb} {need.resource}",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body,
        )
        return PermissionCheck(
            need.verb, need.resource, namespace, bool(answer.get("status", {}).get("allowed")), need.group
        )


# cert-manager's controller Deployment as its Helm chart and static manifests label it
CERT_MANAGER_CONTROLLER = "app.kubernetes.io/name=cert-manager,app.kubernetes.io/component=controller"
CLUSTER_RESOURCE_FLAG = "--cluster-resource-namespace"
ASSUMED_CLUSTER_RESOURCE_NAMESPACE = "cert-manager"  # where cert-manager's install docs put it (the chart's default)
BUILT_IN_CLUSTER_RESOURCE_NAMESPACE = "kube-system"  # the controller's own default when the flag is not given


def issuer_of(
    kube: KubeClient, kind: Literal["ClusterIssuer", "Issuer"], name: str, namespace: str
) -> IssuerInfo | None:
    """One cert-manager issuer read from the cluster (an Issuer in `namespace`), with a CA issuer's CA; None when it
    does not exist."""
    path = (
        f"/apis/cert-manager.io/v1/clusterissuers/{name}"
        if kind == "ClusterIssuer"
        else f"/apis/cert-manager.io/v1/namespaces/{namespace}/issuers/{name}"
    )
    try:
        obj = kube.get_json(f"read {kind} {name}", path)
    except NotFound:
        return None
    return read_issuer(kube, obj, kind, None if kind == "ClusterIssuer" else namespace)


def read_issuer(
    kube: KubeClient,
    obj: dict[str, Any],
    kind: Literal["ClusterIssuer", "Issuer"],
    namespace: str | None,
    resources: Callable[[], tuple[str, str]] | None = None,
) -> IssuerInfo:
    """An issuer object as IssuerInfo. A CA issuer's Secret (spec.ca.secretName) is read for its tls.crt: in the
    Issuer's namespace, or for a ClusterIssuer in cert-manager's cluster resource namespace (`resources()` gives it
    with words for how it was found; cluster_resource_namespace() when not given)."""
    info = IssuerInfo(obj["metadata"]["name"], kind, namespace, _ready(obj))
    secret = ((obj.get("spec") or {}).get("ca") or {}).get("secretName")
    if not secret:
        return info
    if namespace is not None:
        where, how = namespace, ""
    else:
        where, how = (resources or (lambda: cluster_resource_namespace(kube)))()
        how = f"; {how}"
    pem, note = read_ca_secret(kube, where, secret)
    return replace(info, ca_secret=f"{where}/{secret}", ca_pem=pem, ca_note=f"{note}{how}")


def read_ca_secret(kube: KubeClient, namespace: str, name: str) -> tuple[str | None, str]:
    """The CA certificate(s) in a CA issuer's Secret (its tls.crt) as PEM, and words for what was read or why not.

    Only tls.crt is taken from the Secret: the rest of it (tls.key, the CA's private key) is neither kept, logged nor
    put into any message."""
    where = f"Secret {namespace}/{name}"
    try:
        secret = kube.get_json(f"read {where}", f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except Forbidden:
        return None, f"its CA was not read: not allowed to read {where}"
    except NotFound:
        return None, f"its CA was not read: {where} does not exist"
    encoded = (secret.get("data") or {}).get("tls.crt")
    del secret
    if not encoded:
        return None, f"its CA was not read: {where} has no tls.crt"
    try:
        text = base64.b64decode(encoded, validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None, f"its CA was not read: the tls.crt of {where} is not a PEM certificate"
    from installer.tlsfiles import is_ca, load_chain, pem_of, subject_words  # cryptography: only for a CA issuer

    certs = load_chain(text)
    if not certs:
        return None, f"its CA was not read: the tls.crt of {where} holds no PEM certificate"
    if not is_ca(certs[0]):
        return None, (
            f"its CA was not read: the tls.crt of {where} is not a CA certificate ({subject_words(certs[0])}: no "
            "basicConstraints CA:TRUE)"
        )
    return pem_of([c for c in certs if is_ca(c)]), f"CA {subject_words(certs[0])} read from the tls.crt of {where}"


def cluster_resource_namespace(kube: KubeClient) -> tuple[str, str]:
    """Where cert-manager reads a ClusterIssuer's Secrets, and words for how that was found: the
    --cluster-resource-namespace of cert-manager's controller Deployment (its chart passes $(POD_NAMESPACE), the
    Deployment's own namespace), kube-system when the Deployment does not pass it, else assumed cert-manager."""
    lists = (
        ("list Deployments (cert-manager's controller)", "/apis/apps/v1/deployments"),
        (
            f"list Deployments in {ASSUMED_CLUSTER_RESOURCE_NAMESPACE}",
            f"/apis/apps/v1/namespaces/{ASSUMED_CLUSTER_RESOURCE_NAMESPACE}/deployments",
        ),
    )
    for what, path in lists:
        try:
            items = kube.get_json(what, path, {"labelSelector": CERT_MANAGER_CONTROLLER}).get("items", [])
        except Forbidden:
            continue
        if items:
            return controller_resource_namespace(
                min(items, key=lambda d: (d["metadata"]["namespace"], d["metadata"]["name"]))
            )
        break
    return ASSUMED_CLUSTER_RESOURCE_NAMESPACE, (
        f"cluster resource namespace {ASSUMED_CLUSTER_RESOURCE_NAMESPACE} assumed: cert-manager's controller "
        "Deployment was not found or not readable"
    )


def controller_resource_namespace(deployment: dict[str, Any]) -> tuple[str, str]:
    """The cluster resource namespace a cert-manager controller Deployment sets (its last
    --cluster-resource-namespace, $(VAR) taken from the container's env), and words for it."""
    meta = deployment.get("metadata") or {}
    namespace = meta.get("namespace", "")
    ref = f"Deployment {namespace}/{meta.get('name', '')}"
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    for container in containers:
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        raw = None
        for i, arg in enumerate(argv):  # the last one wins, as with any flag
            if arg.startswith(CLUSTER_RESOURCE_FLAG + "="):
                raw = arg.split("=", 1)[1]
            elif arg == CLUSTER_RESOURCE_FLAG and i + 1 < len(argv):
                raw = argv[i + 1]
        if raw is None:
            continue
        value = _expand(raw, container.get("env") or [], namespace)
        if value is None:
            return ASSUMED_CLUSTER_RESOURCE_NAMESPACE, (
                f"cluster resource namespace {ASSUMED_CLUSTER_RESOURCE_NAMESPACE} assumed: {CLUSTER_RESOURCE_FLAG}="
                f"{raw} of {ref} names a variable its env does not give"
            )
        return value, f"cluster resource namespace {value}: {CLUSTER_RESOURCE_FLAG}={raw} of {ref}"
    return BUILT_IN_CLUSTER_RESOURCE_NAMESPACE, (
        f"cluster resource namespace {BUILT_IN_CLUSTER_RESOURCE_NAMESPACE}: cert-manager's default, {ref} does not "
        f"pass {CLUSTER_RESOURCE_FLAG}"
    )


def _expand(raw: str, env: list[dict[str, Any]], namespace: str) -> str | None:
    """`raw` with $(VAR) replaced as the kubelet does from the container's env (a value, or the pod's namespace);
    None when a variable cannot be resolved here."""
    values: dict[str, str] = {}
    for var in env:
        if "value" in var:
            values[var["name"]] = str(var["value"])
        elif ((var.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") == "metadata.namespace":
            values[var["name"]] = namespace
    missing = [name for name in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", raw) if name not in values]
    if missing:
        return None
    value = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: values[m.group(1)], raw)
    return value or None


def _annotations(obj: dict) -> dict:
    return obj.get("metadata", {}).get("annotations") or {}


def _ready(obj: dict) -> bool | None:
    for cond in (obj.get("status") or {}).get("conditions", []) or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return None


def latest_release_record(kube: KubeClient, namespace: str, release: str) -> dict[str, Any] | None:
    """Helm's record of the release's latest revision (one Secret per revision, the highest `version` label wins),
    decoded; None when `namespace` holds none."""
    secrets = kube.get_json(
        f"list helm release secrets in {namespace}",
        f"/api/v1/namespaces/{namespace}/secrets",
        {"labelSelector": f"owner=helm,name={release}"},
    ).get("items", [])
    if not secrets:
        return None
    latest = max(secrets, key=lambda s: int((s["metadata"].get("labels") or {}).get("version", "0")))
    return decode_helm_release(latest["data"]["release"])


def read_release(kube: KubeClient, namespace: str, release: str) -> ReleaseInfo | None:
    """The installed release's latest revision: its status, chart and values; None when it is not installed."""
    record = latest_release_record(kube, namespace, release)
    if record is None:
        return None
    chart_meta = record.get("chart", {}).get("metadata", {})
    return ReleaseInfo(
        name=record.get("name", release),
        namespace=namespace,
        revision=int(record.get("version", 0)),
        status=record.get("info", {}).get("status", "unknown"),
        chart=f"{chart_meta.get('name', '?')}-{chart_meta.get('version', '?')}",
        app_version=chart_meta.get("appVersion", ""),
        values=record.get("config") or {},
    )


def decode_helm_release(data_b64: str) -> dict[str, Any]:
    """Helm stores a release as base64(gzip(json)) inside the Secret's (base64) data."""
    raw = base64.b64decode(base64.b64decode(data_b64))
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return json.loads(raw)

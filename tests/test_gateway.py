"""Gateway API exposure: probe, plan and render (no cluster), then install, reconfigure and uninstall on
the real kube-apiserver with the real Gateway API CRDs, and a smoke push through a Gateway data-plane stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from installer.errors import ValidationFailed
from installer.gateway import (
    GATEWAY_FAMILIES,
    GatewayAPIInfo,
    GatewayClassInfo,
    GatewayInfo,
    ListenerInfo,
    gateway_family,
)
from installer.model import Choices
from installer.plan import build_plan
from installer.probe import IngressClassInfo, ProbeResult, StorageClassInfo
from installer.render import render
from tests.conftest import ROOT, apply_args, run_installer, template_rendered

PASSWORD = "gateway-Test-pw-42"


def listener(
    name="https", protocol="HTTPS", hostname=None, refs=("nginx-gateway/wildcard",), allowed="All", selector=None
):
    return ListenerInfo(
        name=name,
        port=443 if protocol == "HTTPS" else 80,
        protocol=protocol,
        hostname=hostname,
        tls_mode="Terminate" if protocol == "HTTPS" else None,
        certificate_refs=tuple(refs) if protocol == "HTTPS" else (),
        allowed_from=allowed,
        allowed_selector=selector or {},
    )


def probe_with(*gateways, policy_crds=("clientsettingspolicies.gateway.nginx.org",), ingress=()) -> ProbeResult:
    classes = (
        GatewayClassInfo("nginx", "gateway.nginx.org/nginx-gateway-controller", "nginx-gateway-fabric"),
        GatewayClassInfo("eg", "gateway.envoyproxy.io/gatewayclass-controller", "envoy-gateway"),
    )
    return ProbeResult(
        context="t",
        server="https://127.0.0.1:1",
        server_version="v1.37.2",
        user="admin",
        storage_classes=(StorageClassInfo("fast", "csi.example.com", True, "Immediate", True),),
        ingress_classes=tuple(ingress),
        gateway_api=GatewayAPIInfo("v1.6.3", "standard", ("v1", "v1beta1")),
        gateway_classes=classes,
        gateways=tuple(gateways),
        gateway_policy_crds=tuple(policy_crds),
    )


NGF = GatewayInfo(
    "nginx-gateway",
    "shared",
    "nginx",
    "nginx-gateway-fabric",
    (listener("http", "HTTP", "*.example.com"), listener("https", hostname="*.example.com")),
)
EG = GatewayInfo(
    "envoy-gateway-system",
    "eg",
    "eg",
    "envoy-gateway",
    (
        listener(
            refs=("envoy-gateway-system/eg-default-tls",),
            allowed="Selector",
            selector={"app.kubernetes.io/managed-by": "registry-installer"},
        ),
    ),
)


def choices(
    gateway: dict, tls: dict | None = None, auth: str = "registry", host: str = "registry.example.com"
) -> Choices:
    return Choices.parse(
        {
            "exposure": {"hosts": [host], "gateway": gateway, "tls": tls or {"mode": "self-signed"}},
            "auth": {"mode": auth, "users": [{"name": "admin", "password": "generate"}]},
        }
    )


# -- no cluster --------------------------------------------------------------------------------------


def test_every_family_has_one_row_and_controllers_map_to_it():
    assert len({f.name for f in GATEWAY_FAMILIES}) == len(GATEWAY_FAMILIES) >= 6
    assert gateway_family("gateway.nginx.org/nginx-gateway-controller") == "nginx-gateway-fabric"
    assert gateway_family("gateway.envoyproxy.io/gatewayclass-controller") == "envoy-gateway"
    assert gateway_family("io.cilium/gateway-controller") == "cilium"
    assert gateway_family("example.com/unknown") == "other"
    for family in GATEWAY_FAMILIES:
        assert family.bodies and family.timeouts and family.lift


def test_ngf_gateway_renders_route_policy_and_reference_grant():
    plan = build_plan(choices({"name": "shared", "namespace": "nginx-gateway"}), probe_with(NGF, EG))
    assert plan.gateway.listener == "https" and plan.controller_family == "nginx-gateway-fabric"
    rendered = render(plan)
    assert rendered.values["ingress"] == {"enabled": False}
    kinds = {o["kind"]: o for o in rendered.objects}
    assert set(kinds) == {"HTTPRoute", "ClientSettingsPolicy", "ReferenceGrant"}
    route = kinds["HTTPRoute"]["spec"]
    assert route["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "shared",
            "namespace": "nginx-gateway",
            "sectionName": "https",
        }
    ]
    assert route["hostnames"] == ["registry.example.com"]
    assert route["rules"][0]["backendRefs"] == [
        {"group": "", "kind": "Service", "name": "docker-registry", "port": 5000}
    ]
    assert route["rules"][0]["timeouts"] == {"request": "3600s", "backendRequest": "3600s"}
    policy = kinds["ClientSettingsPolicy"]["spec"]
    assert policy["targetRef"]["kind"] == "HTTPRoute" and policy["body"] == {"maxSize": "0", "timeout": "3600s"}
    grant = kinds["ReferenceGrant"]["spec"]
    assert grant["from"][0]["namespace"] == "nginx-gateway" and grant["to"][0]["name"] == "docker-registry-tls"
    # the listener presents its own wildcard Secret, not ours: said, with the change to make
    assert any(
        "does not present the Secret docker-registry/docker-registry-tls" in n and "tls.certificateRefs" in n
        for n in plan.notes
    )
    assert any("ClientSettingsPolicy docker-registry-uploads" in line for line in rendered.review)
    assert all(
        o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "registry-installer" for o in rendered.objects
    )


def test_an_installed_gateway_release_maps_back_to_the_same_objects():
    from installer.diff import merged_values
    from installer.reconfigure import choices_from_release

    probe = probe_with(NGF, EG)
    first = render(build_plan(choices({"name": "shared", "namespace": "nginx-gateway"}), probe))
    values = merged_values(first.values, first.secret_values)
    back = choices_from_release(
        values,
        "docker-registry",
        "docker-registry",
        managed=first.objects,
        secrets_present=["docker-registry-tls", "docker-registry-ca"],
    )
    assert back.exposure.gateway.name == "shared" and back.exposure.gateway.listener == "https"
    assert back.exposure.tls.mode == "self-signed" and back.exposure.hosts == ["registry.example.com"]
    again = render(build_plan(back.replace(auth=choices({"name": "x"}).auth), probe))
    assert again.objects == first.objects


def test_cert_manager_at_the_listener_and_a_gateway_in_the_release_namespace():
    from dataclasses import replace

    from installer.probe import IssuerInfo

    local = GatewayInfo("docker-registry", "local", "eg", "envoy-gateway", (listener(refs=(), allowed="Same"),))
    probe = replace(probe_with(local), cert_manager=True, issuers=(IssuerInfo("letsencrypt-prod", "ClusterIssuer"),))
    plan = build_plan(choices({"name": "local"}, {"mode": "cert-manager", "issuer": "letsencrypt-prod"}), probe)
    kinds = {o["kind"]: o for o in render(plan).objects}
    assert set(kinds) == {"HTTPRoute", "Certificate"}  # same namespace: no ReferenceGrant
    certificate = kinds["Certificate"]["spec"]
    assert certificate == {
        "secretName": "docker-registry-tls",
        "dnsNames": ["registry.example.com"],
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt-prod"},
    }
    assert kinds["HTTPRoute"]["spec"]["parentRefs"][0]["namespace"] == "docker-registry"
    with pytest.raises(ValidationFailed) as info:  # a listener for its own namespace only
        build_plan(
            Choices.parse(
                {
                    "target": {"namespace": "elsewhere"},
                    "exposure": {
                        "hosts": ["registry.example.com"],
                        "gateway": {"name": "local", "namespace": "docker-registry"},
                    },
                }
            ),
            probe_with(local),
        )
    assert "from its own namespace docker-registry only" in str(info.value)


def test_envoy_gateway_needs_no_policy_and_review_says_so():
    plan = build_plan(
        choices({"name": "eg", "namespace": "envoy-gateway-system"}, {"mode": "listener"}), probe_with(NGF, EG)
    )
    rendered = render(plan)
    assert [o["kind"] for o in rendered.objects] == ["HTTPRoute"]  # TLS from the listener: no Secret, no grant
    assert any("no policy object is needed on envoy-gateway" in line for line in rendered.review)
    assert any("15s route timeout" in line for line in rendered.review)


def test_listener_certificates_are_checked_against_the_hosts():
    from installer.plan import ExistingState
    from installer.tlsfiles import self_signed

    ref = "envoy-gateway-system/eg-default-tls"
    other = ExistingState(listener_certs={ref: self_signed(["registry.other.org"]).cert_pem})
    with pytest.raises(ValidationFailed) as info:
        build_plan(
            choices({"name": "eg", "namespace": "envoy-gateway-system"}, {"mode": "listener"}), probe_with(EG), other
        )
    assert f"presents {ref} (names registry.other.org): no certificate covers registry.example.com" in str(info.value)
    assert "tls.certificateRefs" in str(info.value)
    good = ExistingState(listener_certs={ref: self_signed(["registry.example.com"]).cert_pem})
    plan = build_plan(
        choices({"name": "eg", "namespace": "envoy-gateway-system"}, {"mode": "listener"}), probe_with(EG), good
    )
    assert any(f"with {ref}, which covers registry.example.com" in n for n in plan.notes)
    plan = build_plan(choices({"name": "eg", "namespace": "envoy-gateway-system"}), probe_with(EG), good)
    assert any("tls.mode listener would use it" in n for n in plan.notes)
    missing = build_plan(
        choices({"name": "eg", "namespace": "envoy-gateway-system"}, {"mode": "listener"}),
        probe_with(EG),
        ExistingState(listener_certs={ref: ""}),
    )
    assert any("(missing)" in n and "could not check" in n for n in missing.notes)


def test_gateway_problems_name_the_setting_and_the_fix():
    with pytest.raises(ValidationFailed) as info:
        build_plan(
            choices({"name": "shared", "namespace": "nginx-gateway"}, host="registry.other.org"), probe_with(NGF)
        )
    text = str(info.value)
    assert "no listener of Gateway nginx-gateway/shared can carry registry.other.org" in text
    assert "hostname *.example.com does not match" in text
    with pytest.raises(ValidationFailed) as info:
        build_plan(choices({"name": "nope", "namespace": "x"}), probe_with(NGF))
    assert "Gateway x/nope does not exist (available: nginx-gateway/shared)" in str(info.value)
    with pytest.raises(ValidationFailed) as info:
        build_plan(choices({"name": "shared", "namespace": "nginx-gateway"}), probe_with(NGF, policy_crds=()))
    assert "ClientSettingsPolicy CRD" in str(info.value)
    bare = GatewayInfo("gw", "bare", "eg", "envoy-gateway", (listener(refs=(), allowed="All"),))
    with pytest.raises(ValidationFailed) as info:
        build_plan(choices({"name": "bare", "namespace": "gw"}, {"mode": "listener"}), probe_with(bare))
    assert "has no certificateRefs" in str(info.value)


def test_ingress_auth_and_both_exposures_are_refused():
    from installer.model import Invalid

    with pytest.raises(Invalid) as info:
        choices({"name": "shared", "namespace": "nginx-gateway"}, auth="ingress")
    assert "Gateway API has no standard basic auth" in str(info.value) and "auth.mode: registry" in str(info.value)
    with pytest.raises(Invalid) as info:
        Choices.parse({"exposure": {"hosts": ["r.example.com"], "ingress_class": "nginx", "gateway": {"name": "g"}}})
    assert "not both" in str(info.value)


def test_retired_ingress_nginx_notice_names_what_the_cluster_offers():
    probe = probe_with(NGF, ingress=(IngressClassInfo("nginx", "k8s.io/ingress-nginx", True, "ingress-nginx"),))
    warning = next(w for w in probe.warnings() if "ingress-nginx" in w and "retired" in w)
    assert "March 2026" in warning and "no more releases or security fixes" in warning
    assert "Gateway nginx-gateway/shared (nginx-gateway-fabric" in warning
    alone = ProbeResult(
        context="t",
        server="s",
        server_version="v",
        user="u",
        ingress_classes=(IngressClassInfo("nginx", "k8s.io/ingress-nginx", True, "ingress-nginx"),),
    )
    assert any("install a Gateway API implementation" in w for w in alone.warnings())


def test_shipped_gateway_preset_renders_offline(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "installer",
            "render",
            "--preset",
            str(ROOT / "presets" / "gateway.yaml"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    objects = list(yaml.safe_load_all((tmp_path / "objects.yaml").read_text()))
    assert [o["kind"] for o in objects] == ["HTTPRoute", "ReferenceGrant"]
    assert yaml.safe_load((tmp_path / "values.yaml").read_text())["ingress"] == {"enabled": False}
    assert "not checked against a cluster" in proc.stdout


# -- the real API server ------------------------------------------------------------------------------


def cli(cluster, *args, helm=None):
    argv = [*args, "--kubeconfig", str(cluster.kubeconfig), "--context", "admin"]
    if helm:
        argv += ["--helm", str(helm)]
    return run_installer(*argv, env={**os.environ, "REGISTRY_PASSWORD": PASSWORD})


def write_preset(tmp_path: Path, exposure: dict, name: str = "preset.yaml") -> Path:
    preset = {
        "version": 1,
        "exposure": {"hosts": ["registry.example.com"], **exposure},
        "auth": {"mode": "registry", "users": [{"name": "admin", "password": "env:REGISTRY_PASSWORD"}]},
        "storage": {"kind": "filesystem", "filesystem": {"storage_class": "rook-ceph-block", "size": "10Gi"}},
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(preset))
    return path


def apply(cluster, helm, preset: Path, namespace: str):
    return cli(cluster, *apply_args(preset, namespace, "--no-wait"), helm=helm)


def get(cluster, *args) -> dict:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def names(cluster, kind: str, namespace: str) -> list[str]:
    return sorted(i["metadata"]["name"] for i in get(cluster, kind, "-n", namespace)["items"])


@pytest.mark.cluster
def test_probe_reads_gateway_api_from_the_real_crds(kube_cluster):
    proc = cli(kube_cluster, "probe", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["gateway_api"] == {"version": "v1.6.3", "channel": "standard", "served": ["v1", "v1beta1"]}
    assert {c["name"]: c["family"] for c in data["gateway_classes"]} == {
        "eg": "envoy-gateway",
        "nginx": "nginx-gateway-fabric",
    }
    gateways = {f"{g['namespace']}/{g['name']}": g for g in data["gateways"]}
    https = next(li for li in gateways["nginx-gateway/shared"]["listeners"] if li["name"] == "https")
    assert https["hostname"] == "*.example.com" and https["tls_mode"] == "Terminate" and https["port"] == 443
    assert https["certificate_refs"] == ["nginx-gateway/wildcard-example-com"] and https["allowed_from"] == "All"
    assert data["gateway_policy_crds"] == ["clientsettingspolicies.gateway.nginx.org"]
    assert any("retired" in w and "March 2026" in w and "Gateway nginx-gateway/shared" in w for w in data["warnings"])


@pytest.mark.cluster
@pytest.mark.helm
def test_install_through_a_gateway_then_uninstall(kube_cluster, helm_binary, tmp_path):
    namespace = f"gw-{helm_binary.name}"
    preset = write_preset(
        tmp_path, {"gateway": {"name": "shared", "namespace": "nginx-gateway"}, "tls": {"mode": "self-signed"}}
    )
    proc = apply(kube_cluster, helm_binary, preset, namespace)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "] exposure" in proc.stdout and PASSWORD not in proc.stdout + proc.stderr
    route = get(kube_cluster, "httproute", "docker-registry", "-n", namespace)
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "shared",
            "namespace": "nginx-gateway",
            "sectionName": "https",
        }
    ]
    assert route["spec"]["hostnames"] == ["registry.example.com"]
    rule = route["spec"]["rules"][0]
    assert rule["backendRefs"][0]["name"] == "docker-registry" and rule["backendRefs"][0]["port"] == 5000
    assert rule["timeouts"] == {"request": "3600s", "backendRequest": "3600s"}
    service = get(
        kube_cluster, "service", "docker-registry", "-n", namespace
    )  # the route's backend is the chart's Service
    assert service["spec"]["ports"][0]["port"] == 5000
    policy = get(kube_cluster, "clientsettingspolicies.gateway.nginx.org", "docker-registry-uploads", "-n", namespace)
    assert policy["spec"]["targetRef"] == {
        "group": "gateway.networking.k8s.io",
        "kind": "HTTPRoute",
        "name": "docker-registry",
    }
    assert policy["spec"]["body"]["maxSize"] == "0"
    grant = get(
        kube_cluster, "referencegrants.gateway.networking.k8s.io", "docker-registry-gateway-tls", "-n", namespace
    )
    assert grant["spec"]["from"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "nginx-gateway"}
    ]
    assert grant["spec"]["to"] == [{"group": "", "kind": "Secret", "name": "docker-registry-tls"}]
    assert names(kube_cluster, "ingress", namespace) == []
    assert "does not present the Secret" in proc.stdout  # what to change on the listener, said

    again = apply(kube_cluster, helm_binary, preset, namespace)  # a re-run converges and changes no object
    assert again.returncode == 0, again.stdout + again.stderr
    assert "exposure objects:" not in again.stdout

    ca = cli(kube_cluster, "ca", "--namespace", namespace)  # where clients put the CA, for the route's host
    assert ca.returncode == 0 and "BEGIN CERTIFICATE" in ca.stdout and "# registry.example.com:" in ca.stderr, ca.stderr

    gone = cli(kube_cluster, "uninstall", "--namespace", namespace, "--yes", helm=helm_binary)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert "removed HTTPRoute" in gone.stdout
    for kind in ("httproute", "clientsettingspolicies.gateway.nginx.org", "referencegrants.gateway.networking.k8s.io"):
        assert names(kube_cluster, kind, namespace) == [], kind


@pytest.mark.cluster
@pytest.mark.helm
def test_reconfigure_from_ingress_to_gateway(kube_cluster, tmp_path):
    from tests.conftest import helm_path

    helm = helm_path("helm4")
    namespace = "gw-move"
    ingress = write_preset(tmp_path, {"ingress_class": "traefik"}, "ingress.yaml")
    first = apply(kube_cluster, helm, ingress, namespace)
    assert first.returncode == 0, first.stdout + first.stderr
    assert names(kube_cluster, "ingress", namespace) == ["docker-registry"]
    pvc_uid = get(kube_cluster, "pvc", "docker-registry", "-n", namespace)["metadata"]["uid"]

    gateway = write_preset(
        tmp_path, {"gateway": {"name": "eg", "namespace": "envoy-gateway-system"}, "tls": {"mode": "listener"}}
    )
    moved = apply(kube_cluster, helm, gateway, namespace)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "- Ingress of the chart (removed" in moved.stdout
    assert f"+ HTTPRoute {namespace}/docker-registry (created)" in moved.stdout
    assert "-    enabled: true" in moved.stdout or "-  enabled: true" in moved.stdout
    assert names(kube_cluster, "ingress", namespace) == []
    route = get(kube_cluster, "httproute", "docker-registry", "-n", namespace)
    assert route["spec"]["parentRefs"][0]["name"] == "eg" and route["spec"]["parentRefs"][0]["sectionName"] == "https"
    assert names(kube_cluster, "clientsettingspolicies.gateway.nginx.org", namespace) == []  # Envoy Gateway needs none
    assert (
        get(kube_cluster, "pvc", "docker-registry", "-n", namespace)["metadata"]["uid"] == pvc_uid
    )  # data volume untouched

    back = apply(kube_cluster, helm, ingress, namespace)  # and back: the route goes with the Gateway exposure
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"- HTTPRoute {namespace}/docker-registry (removed)" in back.stdout
    assert names(kube_cluster, "httproute", namespace) == [] and names(kube_cluster, "ingress", namespace) == [
        "docker-registry"
    ]


# -- a smoke push through the HTTPRoute -----------------------------------------------------------------


def helm_template(rendered, directory: Path) -> str:

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "values.yaml").write_text(rendered.values_yaml())
    (directory / "secret-values.yaml").write_text(rendered.secret_values_yaml())
    done = template_rendered(directory)
    assert done.returncode == 0, done.stderr
    return done.stdout


def start_gateway_stand_in(
    directory: Path, objects, route: dict, policy: dict | None, tls_secret: str, registry, container_port: int
):
    """A STAND-IN for NGINX Gateway Fabric's data plane (no Gateway controller runs in these tests): Debian's nginx
    configured from the rendered HTTPRoute (path, backend Service and port, timeouts) and ClientSettingsPolicy
    (body.maxSize); without a policy, nginx's 1m default, as NGF leaves it."""
    from tests.fixtures.registry import _backend_port, _tls_from_secret, start_nginx

    rule = route["spec"]["rules"][0]
    backend = rule["backendRefs"][0]
    port = _backend_port(
        objects, {"name": backend["name"], "port": {"number": backend["port"]}}, container_port, registry.port
    )
    ca = _tls_from_secret(objects, {"spec": {"tls": [{"secretName": tls_secret}]}}, directory / "tls")
    timeout = rule["timeouts"]["request"]
    body = (policy or {}).get("spec", {}).get("body", {}).get("maxSize", "1m")
    return start_nginx(
        directory / "nginx",
        upstream=f"127.0.0.1:{port}",
        ca=ca,
        body_limit=body,
        read_timeout=timeout,
        send_timeout=timeout,
        location=rule["matches"][0]["path"]["value"],
    ), ca


@pytest.mark.registry
@pytest.mark.helm
@pytest.mark.timeout(240)
def test_smoke_through_the_httproute_names_the_family_policy(tmp_path, monkeypatch):
    from installer.secretstr import SecretStr
    from installer.smoke import SmokeTarget, run_smoke
    from tests.fixtures.registry import RenderedObjects, start_rendered_registry

    monkeypatch.setenv("GATEWAY_SMOKE_PASSWORD", PASSWORD)
    gateway = GatewayInfo("nginx-gateway", "shared", "nginx", "nginx-gateway-fabric", (listener(refs=()),))
    plan = build_plan(
        Choices.parse(
            {
                "exposure": {
                    "hosts": ["localhost"],
                    "gateway": {"name": "shared", "namespace": "nginx-gateway"},
                    "tls": {"mode": "self-signed"},
                },
                "auth": {"mode": "registry", "users": [{"name": "admin", "password": "env:GATEWAY_SMOKE_PASSWORD"}]},
            }
        ),
        probe_with(gateway),
    )
    rendered = render(plan)
    objects = RenderedObjects(helm_template(rendered, tmp_path / "rendered"), rendered.secrets_yaml())
    route = next(o for o in rendered.objects if o["kind"] == "HTTPRoute")
    policy = next(o for o in rendered.objects if o["kind"] == "ClientSettingsPolicy")
    registry, container_port = start_rendered_registry(objects, tmp_path / "registry")
    servers = []
    try:

        def target(nginx, ca):
            return SmokeTarget(
                registry=f"localhost:{nginx.port}",
                username="admin",
                password=SecretStr(PASSWORD),
                ca_file=ca.ca_file,
                controller_family=plan.controller_family,
                blob_size=8 * 1024 * 1024,
                timeout=30.0,
            )

        bare, ca = start_gateway_stand_in(
            tmp_path / "no-policy", objects, route, None, plan.tls_secret_name, registry, container_port
        )
        servers.append(bare)
        refused = run_smoke(target(bare, ca))
        assert not refused.ok and "413" in refused.diagnosis.cause
        assert "ClientSettingsPolicy" in refused.diagnosis.fix and "nginx-gateway-fabric" in refused.diagnosis.fix
        assert refused.diagnosis.fix_screen == "uploads"

        lifted, ca = start_gateway_stand_in(
            tmp_path / "policy", objects, route, policy, plan.tls_secret_name, registry, container_port
        )
        servers.append(lifted)
        passed = run_smoke(target(lifted, ca))
        assert passed.ok, passed.diagnosis
    finally:
        for server in servers:
            server.stop()
        registry.stop()

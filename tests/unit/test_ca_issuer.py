"""A cert-manager CA issuer's CA (its Secret's tls.crt, as the probe read it) in the plan: where it ranks among the
other sources, how the issued chain is checked against it, what is said when it could not be read; and how the probe
decides cert-manager's cluster resource namespace from its controller Deployment."""

from __future__ import annotations

from dataclasses import replace

import pytest

from installer.errors import ValidationFailed
from installer.model import Choices
from installer.plan import ExistingState, build_plan
from installer.probe import IssuerInfo, controller_resource_namespace
from tests.fixtures.tls import issue_leaf, make_ca
from tests.unit.test_plan import PROBE

HOST = "registry.example.com"


@pytest.fixture(scope="module")
def pki():
    """The issuer's CA, a certificate it issued for HOST, and another CA with a certificate of its own."""
    ca, ca_key = make_ca("Corp Issuing CA")
    other, other_key = make_ca("Someone Else's CA")
    return {
        "ca": ca,
        "ca_key": ca_key,
        "leaf": issue_leaf([HOST], ca, ca_key)[0],
        "other": other,
        "other_leaf": issue_leaf([HOST], other, other_key)[0],
    }


def ca_issuer(pem: str | None, note: str = "", kind="ClusterIssuer", name="corp-ca") -> IssuerInfo:
    secret = "cert-manager/corp-ca-root" if kind == "ClusterIssuer" else "docker-registry/corp-ca-root"
    return IssuerInfo(name, kind, None if kind == "ClusterIssuer" else "docker-registry", True, secret, pem, note)


def probe_with(*issuers: IssuerInfo):
    return replace(PROBE, issuers=(IssuerInfo("letsencrypt-prod", "ClusterIssuer"), *issuers))


def cert_manager(node_trust=True, kind="ClusterIssuer", **tls) -> Choices:
    return Choices.parse(
        {
            "exposure": {
                "hosts": [HOST],
                "tls": {"mode": "cert-manager", "issuer": "corp-ca", "issuer_kind": kind, **tls},
            },
            "auth": {"bcrypt_cost": 4},
            "clients": {"node_trust": node_trust},
        },
        literal_secrets=True,
    )


def refused(choices, probe, existing=None) -> tuple[str, str, str]:
    with pytest.raises(ValidationFailed) as info:
        build_plan(choices, probe, existing)
    ((problem),) = info.value.problems
    return problem.path, problem.message, problem.fix


def test_a_first_install_uses_the_ca_of_the_chosen_ca_issuer(pki):
    for kind, secret in (("ClusterIssuer", "cert-manager/corp-ca-root"), ("Issuer", "docker-registry/corp-ca-root")):
        plan = build_plan(cert_manager(kind=kind), probe_with(ca_issuer(pki["ca"], kind=kind)))
        assert plan.ca_pem == pki["ca"]
        source = f"the CA of {kind} corp-ca (Secret {secret}: CN=Corp Issuing CA)"
        assert plan.client_ca.source == source
        assert f"CA for the nodes, the smoke push and CDI: {source}" in plan.notes
    # node trust off: the smoke push still trusts it
    assert build_plan(cert_manager(node_trust=False), probe_with(ca_issuer(pki["ca"]))).ca_pem == pki["ca"]


def test_offline_and_other_modes_are_as_before(pki):
    """No probe (render): the CA is not known and node trust names ca_file, as before; existing-secret ignores
    issuers."""
    path, message, fix = refused(cert_manager(), None)
    assert path == "clients.node_trust" and "Secret docker-registry-tls holds no ca.crt" in message
    assert "CA issuer" not in message and "exposure.tls.ca_file" in fix
    secret = Choices.parse(
        {
            "exposure": {"hosts": [HOST], "tls": {"mode": "existing-secret", "secret_name": "reg-tls"}},
            "clients": {"node_trust": True},
        },
        literal_secrets=True,
    )
    path, message, _fix = refused(secret, probe_with(ca_issuer(pki["ca"])))
    assert path == "clients.node_trust" and "corp-ca" not in message


def test_the_documented_order_holds(pki, tmp_path):
    """ca_file first, then the TLS Secret's ca.crt once issued; the issuer's CA only when nothing better is known."""
    probe = probe_with(ca_issuer(pki["ca"]))
    (tmp_path / "other.pem").write_text(pki["other"])
    plan = build_plan(cert_manager(ca_file=str(tmp_path / "other.pem")), probe)
    assert plan.ca_pem == pki["other"] and plan.client_ca.source.startswith("exposure.tls.ca_file")
    issued = ExistingState(tls_secret_chain=pki["leaf"], tls_secret_ca=pki["ca"])
    plan = build_plan(cert_manager(), probe, issued)
    assert plan.client_ca.source == "ca.crt of Secret docker-registry-tls (CN=Corp Issuing CA)"
    # an earlier run's node trust CA is older news than what the issuer signs with now
    plan = build_plan(cert_manager(), probe, ExistingState(node_trust_ca=pki["other"]))
    assert plan.ca_pem == pki["ca"] and plan.client_ca.source.startswith("the CA of ClusterIssuer corp-ca")


def test_the_issued_chain_is_checked_against_the_issuers_ca(pki):
    probe = probe_with(ca_issuer(pki["ca"]))
    # issued without ca.crt in the Secret: the issuer's CA signed it
    plan = build_plan(cert_manager(), probe, ExistingState(tls_secret_chain=pki["leaf"]))
    assert plan.ca_pem == pki["ca"] and plan.client_ca.source.startswith("the CA of ClusterIssuer corp-ca")
    # a certificate the issuer's CA did not sign: not used, said so, ca_file is the fix
    path, message, fix = refused(cert_manager(), probe, ExistingState(tls_secret_chain=pki["other_leaf"]))
    assert path == "clients.node_trust"
    assert "nor did the CA of ClusterIssuer corp-ca (CN=Corp Issuing CA) sign it" in message, message
    assert "issued by CN=Someone Else's CA" in message and "exposure.tls.ca_file" in fix


def test_a_ca_issuer_whose_ca_could_not_be_read_is_named_in_the_problem():
    note = "its CA was not read: not allowed to read Secret cert-manager/corp-ca-root; cluster resource namespace x"
    path, message, fix = refused(cert_manager(), probe_with(ca_issuer(None, note)))
    assert path == "clients.node_trust"
    assert f"ClusterIssuer corp-ca is a CA issuer, but {note}" in message
    assert fix.startswith("set exposure.tls.ca_file to the CA's PEM file")


def test_the_issuers_ca_stays_out_of_its_repr(pki):
    from rich.pretty import pretty_repr

    issuer = ca_issuer(pki["ca"], "CA CN=Corp Issuing CA read from the tls.crt of Secret cert-manager/corp-ca-root")
    assert "BEGIN CERTIFICATE" not in repr(issuer) and "BEGIN CERTIFICATE" not in pretty_repr(issuer)
    assert issuer.label() == "ClusterIssuer/corp-ca (CA issuer: its CA is read)"
    assert ca_issuer(None).label() == "ClusterIssuer/corp-ca (CA issuer: its CA could not be read)"
    assert IssuerInfo("letsencrypt-prod", "ClusterIssuer").label() == "ClusterIssuer/letsencrypt-prod"


def controller(namespace="cert-manager", args=(), env=(), command=()):
    container = {"name": "cert-manager-controller", "args": list(args), "env": list(env), "command": list(command)}
    return {
        "metadata": {"name": "cert-manager", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


POD_NAMESPACE = {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}


def test_the_cluster_resource_namespace_comes_from_the_controllers_flag():
    chart = controller("certs", ["--v=2", "--cluster-resource-namespace=$(POD_NAMESPACE)"], [POD_NAMESPACE])
    assert controller_resource_namespace(chart) == (
        "certs",
        "cluster resource namespace certs: --cluster-resource-namespace=$(POD_NAMESPACE) of Deployment "
        "certs/cert-manager",
    )
    # the chart's extraArgs come after its own: the last one wins, as with any flag; a separate value works too
    extra = controller(args=["--cluster-resource-namespace=$(POD_NAMESPACE)", "--cluster-resource-namespace", "pki"])
    assert controller_resource_namespace(extra)[0] == "pki"
    named = controller(args=["--cluster-resource-namespace=$(WHERE)"], env=[{"name": "WHERE", "value": "shared"}])
    assert controller_resource_namespace(named)[0] == "shared"
    # without the flag cert-manager's own default applies; a variable the env does not give: the usual place, said so
    bare = controller_resource_namespace(controller(args=["--v=2"]))
    assert bare == (
        "kube-system",
        "cluster resource namespace kube-system: cert-manager's default, Deployment cert-manager/cert-manager does "
        "not pass --cluster-resource-namespace",
    )
    unknown = controller_resource_namespace(controller(args=["--cluster-resource-namespace=$(NOPE)"]))
    assert unknown[0] == "cert-manager" and "assumed" in unknown[1] and "$(NOPE)" in unknown[1]

"""TLS material: check a certificate and key the user gives, or make a self-signed CA and serving cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import SecretStr

from installer.errors import InstallerError, Problem

MAX_PEM_BYTES = 1024 * 1024
SERVING_DAYS = 825
CA_DAYS = 3650


@dataclass(frozen=True)
class TLSMaterial:
    """A serving certificate chain and its key (PEM); `ca_pem` set when the installer is the CA."""

    cert_pem: str
    key_pem: SecretStr = field(repr=False)
    ca_pem: str | None = None
    ca_key_pem: SecretStr | None = field(default=None, repr=False)


def check_cert_and_key(
    cert_file: str, key_file: str, hosts: list[str], now: dt.datetime | None = None
) -> tuple[TLSMaterial | None, list[Problem]]:
    """Parse, match, cover-hosts and expiry checks; returns the material or the problems found."""
    problems: list[Problem] = []
    cert_bytes = _read_pem(cert_file, "exposure.tls.cert_file", "certificate", problems)
    key_bytes = _read_pem(key_file, "exposure.tls.key_file", "private key", problems)
    if cert_bytes is None or key_bytes is None:
        return None, problems
    try:
        chain = x509.load_pem_x509_certificates(cert_bytes)
    except ValueError:
        return None, [
            Problem(
                "exposure.tls.cert_file",
                f"{cert_file} holds no PEM certificate",
                "give the PEM file that starts with -----BEGIN CERTIFICATE-----",
            )
        ]
    try:
        key = serialization.load_pem_private_key(key_bytes, password=None)
    except (ValueError, TypeError) as exc:
        hint = (
            "decrypt it first (openssl pkey -in KEY -out KEY.plain)"
            if "encrypted" in str(exc).lower() or isinstance(exc, TypeError)
            else "give the PEM file that starts with -----BEGIN PRIVATE KEY-----"
        )
        return None, [Problem("exposure.tls.key_file", f"{key_file} holds no usable unencrypted PEM private key", hint)]
    leaf = chain[0]
    if _public_bytes(leaf.public_key()) != _public_bytes(key.public_key()):
        problems.append(
            Problem(
                "exposure.tls.key_file",
                f"the key in {key_file} does not belong to the certificate in {cert_file}",
                "give the key that was generated with this certificate",
            )
        )
    now = now or dt.datetime.now(dt.timezone.utc)
    if leaf.not_valid_after_utc <= now:
        problems.append(
            Problem(
                "exposure.tls.cert_file",
                f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}",
                "renew it, or use tls.mode cert-manager or self-signed",
            )
        )
    elif leaf.not_valid_before_utc > now:
        problems.append(
            Problem(
                "exposure.tls.cert_file",
                f"the certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                "check the clock, or issue a certificate valid now",
            )
        )
    uncovered = [h for h in hosts if not cert_covers(leaf, h)]
    if uncovered:
        problems.append(
            Problem(
                "exposure.tls.cert_file",
                f"the certificate does not cover {', '.join(uncovered)} (it names "
                f"{', '.join(cert_names(leaf)) or 'no DNS names'})",
                "issue a certificate whose subjectAltName lists every registry host",
            )
        )
    if problems:
        return None, problems
    key_pem = key_bytes.decode("ascii", errors="replace")
    return TLSMaterial(cert_pem=cert_bytes.decode("ascii", errors="replace"), key_pem=SecretStr(key_pem)), []


def _read_pem(path: str, key_path: str, what: str, problems: list[Problem]) -> bytes | None:
    from installer.files import FileProblem, read_user_file

    try:
        return read_user_file(path, key_path, f"{what} file", MAX_PEM_BYTES)
    except FileProblem as exc:
        problems.append(Problem(key_path, exc.reason, exc.hint))
    return None


def _public_bytes(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [str(n) for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        return []


def cert_covers(cert: x509.Certificate, host: str) -> bool:
    """True when a SAN DNS name matches `host` (one leading wildcard label allowed)."""
    for name in cert_names(cert):
        name = name.lower()
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def generate_ca(common_name: str = "registry-installer CA") -> tuple[str, SecretStr]:
    """A new CA certificate and key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _pem_cert(cert), SecretStr(_pem_key(key))


def issue_serving_cert(hosts: list[str], ca_pem: str, ca_key_pem: SecretStr) -> TLSMaterial:
    """A serving certificate for `hosts` signed by the given CA."""
    ca_cert = x509.load_pem_x509_certificate(ca_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.get_secret_value().encode(), password=None)
    if not isinstance(
        ca_key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)
    ):
        raise InstallerError(
            f"the installer's CA key is a {type(ca_key).__name__}, which cannot sign certificates",
            "delete the kept CA (the Secret <release>-ca, or a render's secrets.yaml) so a new one is made",
        )
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(hosts[0]))]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVING_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return TLSMaterial(cert_pem=_pem_cert(cert), key_pem=SecretStr(_pem_key(key)), ca_pem=ca_pem, ca_key_pem=ca_key_pem)


def _common_name(host: str) -> str:
    """The subject CN: the host when it fits X.509's 64 characters; clients check the subjectAltName anyway."""
    return host if len(host) <= 64 else "registry-installer serving certificate"


def self_signed(hosts: list[str], existing: TLSMaterial | None = None) -> TLSMaterial:
    """Reuse `existing` while it still covers the hosts for 30+ days; otherwise issue anew (same CA if kept)."""
    if existing is not None and existing.ca_pem and existing.ca_key_pem is not None:
        try:
            leaf = x509.load_pem_x509_certificate(existing.cert_pem.encode())
            fresh = leaf.not_valid_after_utc - dt.datetime.now(dt.timezone.utc) > dt.timedelta(days=30)
            if fresh and all(cert_covers(leaf, h) for h in hosts) and len(cert_names(leaf)) == len(hosts):
                return existing
        except ValueError:
            pass
        return issue_serving_cert(hosts, existing.ca_pem, existing.ca_key_pem)
    ca_pem, ca_key = generate_ca()
    return issue_serving_cert(hosts, ca_pem, ca_key)


def _pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _pem_key(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()

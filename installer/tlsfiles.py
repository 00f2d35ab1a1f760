"""TLS material: check a certificate and key the user gives, or make a self-signed CA and serving cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from installer.errors import InstallerError, Problem
from installer.secretstr import SecretStr

if TYPE_CHECKING:
    from installer.probe import IssuerInfo

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


# -- the CA clients must trust (node trust, the smoke push, CDI's certConfigMap) ----------------------------------


@dataclass(frozen=True)
class ClientCA:
    """The CA that signed the registry's certificate, as the nodes and the smoke push must trust it.

    `pem` is None when nothing needs installing (`public`: the certificate verifies against the system trust store)
    or when the CA is not known; `source` says, in words, where it came from (or why it is not known)."""

    pem: str | None
    source: str
    public: bool = False


def read_ca_file(path: str, setting: str = "exposure.tls.ca_file") -> tuple[list[x509.Certificate], list[Problem]]:
    """The CA certificate(s) in a PEM file (a root, or a bundle of root and intermediates); problems name `setting`."""
    problems: list[Problem] = []
    data = _read_pem(path, setting, "CA certificate", problems)
    if data is None:
        return [], problems
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        return [], [
            Problem(
                setting,
                f"{path} holds no PEM certificate",
                "give the CA's certificate as PEM (the file that starts with -----BEGIN CERTIFICATE-----; "
                "convert DER with openssl x509 -inform der -in CA.cer -out ca.crt)",
            )
        ]
    not_ca = [c for c in certs if not is_ca(c)]
    if not_ca:
        return [], [
            Problem(
                setting,
                f"{path} holds a certificate that is not a CA ({subject_words(not_ca[0])}: "
                "no basicConstraints CA:TRUE)",
                "give the CA that signed the registry's certificate (its root, or root and intermediates), not the "
                "registry's own certificate",
            )
        ]
    return certs, []


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):  # ValueError: a malformed extension, as if absent
        return False


def subject_words(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return f"CN={_text(names[0].value)}" if names else cert.subject.rfc4514_string() or "an empty subject"


def issuer_words(cert: x509.Certificate) -> str:
    names = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return f"CN={_text(names[0].value)}" if names else cert.issuer.rfc4514_string() or "an empty issuer"


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def chain_anchor(chain: list[x509.Certificate], anchors: list[x509.Certificate]) -> x509.Certificate | None:
    """The anchor the chain (leaf first, then intermediates in any order) leads up to by signatures; None if none."""
    current = chain[0]
    for _ in range(len(chain) + 1):
        anchor = next((a for a in anchors if _signed_by(current, a)), None)
        if anchor is not None:
            return anchor
        parent = next((c for c in chain if c is not current and _signed_by(current, c)), None)
        if parent is None:
            return None
        current = parent
    return None


_SYSTEM_ANCHORS: dict[tuple[str, ...], list[x509.Certificate]] = {}


def system_anchors() -> list[x509.Certificate]:
    """The system trust store's roots (ssl's default CA file, which SSL_CERT_FILE names when set, and certifi's
    bundle when installed); read once per set of files."""
    import ssl

    files = [ssl.get_default_verify_paths().cafile or ""]
    try:
        import certifi

        files.append(certifi.where())
    except ImportError:
        pass
    key = tuple(files)
    if key not in _SYSTEM_ANCHORS:
        import warnings

        anchors: list[x509.Certificate] = []
        for name in files:
            try:
                with open(name, "rb") as handle, warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a few old roots have serial numbers RFC 5280 disallows
                    anchors += x509.load_pem_x509_certificates(handle.read())
            except (OSError, ValueError):
                continue
        _SYSTEM_ANCHORS[key] = anchors
    return _SYSTEM_ANCHORS[key]


def publicly_trusted(chain: list[x509.Certificate]) -> x509.Certificate | None:
    """The system trust store's root the chain leads to (no CA to install then), or None."""
    return chain_anchor(chain, system_anchors())


def pem_of(certs: list[x509.Certificate]) -> str:
    return "".join(_pem_cert(c) for c in certs)


def load_chain(pem: str | None) -> list[x509.Certificate]:
    """The certificates in a PEM text; [] when there are none or it does not parse."""
    if not pem:
        return []
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return []


def find_client_ca(
    chain: list[x509.Certificate],
    where: str,
    ca_file: str | None = None,
    secret_ca: str | None = None,
    secret_name: str | None = None,
    installed_ca: tuple[str, str] | None = None,
    issuer: "IssuerInfo | None" = None,
) -> tuple[ClientCA, list[Problem]]:
    """Where the CA that signed the registry's certificate comes from, in this order:

    1. `exposure.tls.ca_file` (checked: a readable PEM file of CA certificates that signed `chain`, when known);
    2. the system trust store: a publicly trusted certificate needs no CA on the nodes;
    3. the `ca.crt` key of the TLS Secret (cert-manager's CA issuers write it; so may you);
    4. the last certificate of the chain, when it is a self-signed CA (a `files` chain that includes its root);
    5. `issuer`'s CA: a cert-manager CA issuer's certificate (the tls.crt of its Secret, as the probe read it), when it
       signed `chain` or the chain is not known (a first install, before cert-manager issued the certificate);
    6. `installed_ca` (the ConfigMap name, its ca.crt): what node trust put on the nodes in an earlier run, when it
       signed `chain` or the chain is not known (a reconfigure, where ca_file is not read back).

    `chain`: the serving certificate chain when known (leaf first; [] when not, e.g. before cert-manager issued it);
    `where`: words for it (the file or Secret)."""
    if ca_file:
        cas, problems = read_ca_file(ca_file)
        if problems:
            return ClientCA(None, f"exposure.tls.ca_file ({ca_file}) is unusable"), problems
        if chain and chain_anchor(chain, cas) is None:
            return ClientCA(None, f"exposure.tls.ca_file ({ca_file}) did not sign {where}"), [
                Problem(
                    "exposure.tls.ca_file",
                    f"{ca_file} ({subject_words(cas[0])}) did not sign the certificate in {where} (issued by "
                    f"{issuer_words(chain[-1])})",
                    "give the CA that issued it (openssl x509 -noout -issuer -in CERT names it), or its root with the "
                    "intermediates in the certificate file",
                )
            ]
        return ClientCA(pem_of(cas), f"exposure.tls.ca_file ({ca_file}: {subject_words(cas[0])})"), []
    if chain:
        root = publicly_trusted(chain)
        if root is not None:
            return ClientCA(
                None,
                f"publicly trusted: {where} verifies against the system trust store ({subject_words(root)}); "
                "nodes and clients need no CA",
                public=True,
            ), []
    secret_cas = [c for c in load_chain(secret_ca) if is_ca(c)]
    if secret_cas and (not chain or chain_anchor(chain, secret_cas) is not None):
        return ClientCA(pem_of(secret_cas), f"ca.crt of Secret {secret_name} ({subject_words(secret_cas[0])})"), []
    if len(chain) > 1 and is_ca(chain[-1]) and _signed_by(chain[-1], chain[-1]) and chain_anchor(chain, chain[-1:]):
        return ClientCA(
            pem_of(chain[-1:]), f"the last certificate of {where} ({subject_words(chain[-1])}, a self-signed root)"
        ), []
    issuer_cas = [c for c in load_chain(issuer.ca_pem) if is_ca(c)] if issuer is not None else []
    if issuer is not None and issuer_cas and (not chain or chain_anchor(chain, issuer_cas) is not None):
        return ClientCA(
            pem_of(issuer_cas),
            f"the CA of {issuer.kind} {issuer.name} (Secret {issuer.ca_secret}: {subject_words(issuer_cas[0])})",
        ), []
    installed = [c for c in load_chain(installed_ca[1]) if is_ca(c)] if installed_ca else []
    if installed_ca and installed and (not chain or chain_anchor(chain, installed) is not None):
        return ClientCA(
            pem_of(installed),
            f"the CA node trust put on the nodes before (ConfigMap {installed_ca[0]}: {subject_words(installed[0])})",
        ), []
    if not chain:
        why = (
            f"Secret {secret_name} holds no ca.crt, or is not there yet (cert-manager writes it once it has issued "
            "the certificate)"
            if secret_name
            else f"{where} is not known"
        )
    elif secret_cas:
        why = f"the ca.crt of Secret {secret_name} did not sign {where} (issued by {issuer_words(chain[-1])})"
    else:
        why = f"{where} ends at a certificate issued by {issuer_words(chain[-1])}, which it does not include"
    if issuer is not None and issuer.ca_issuer:
        why += (
            f"; nor did the CA of {issuer.kind} {issuer.name} ({subject_words(issuer_cas[0])}) sign it"
            if issuer_cas
            else f"; {issuer.kind} {issuer.name} is a CA issuer, but {issuer.ca_note}"
        )
    return ClientCA(None, f"not known: {why}"), []

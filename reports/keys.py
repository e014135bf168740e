"""Signing material for the evidence pack: an organization's key and certificate, or the demo key.

Everything here returns a `SigningIdentity`: a pyHanko `Signer` plus what the report and the manifest
say about it. Holding a pyHanko signer (not a raw private key) is deliberate: both the PDF signature
and the CMS signature over manifest.json go through pyHanko, so an HSM or smart card
(`pyhanko.sign.pkcs11.PKCS11Signer`) drops in with `SigningIdentity(signer=..., demo=False)` and no
private key ever has to exist as a file.

Where keys live: the per-user keys folder, `$ROLECALL_KEYS_DIR`, else `$XDG_DATA_HOME/rolecall/keys`,
else `~/.local/share/rolecall/keys`; never relative to the working directory, so the same user gets
the same key wherever a command is started. Two self-signed keys can live there: the organization
key `rolecall keys init` creates (what a real run signs with when no key is given) and the demo key,
created on first use by `--demo` runs and reused, so every demo run is signed by the same
certificate and an auditor can be handed that one certificate as the trust anchor.
"""

from __future__ import annotations

import errno
import functools
import getpass
import hashlib
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_cert_from_pemder, load_certs_from_pemder, load_private_key_from_pemder
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

KEYS_DIR_ENV = "ROLECALL_KEYS_DIR"  # the per-user keys folder, when set
LEGACY_KEYS_DIR = Path("data/keys")  # where demo keys were kept, relative to the cwd, before
ORG_KEY_FILE = "organization-signing-key.pem"
ORG_CERT_FILE = "organization-signing-cert.pem"
ORG_VALIDITY = timedelta(days=3 * 365)
DEMO_KEY_FILE = "demo-signing-key.pem"
DEMO_CERT_FILE = "demo-signing-cert.pem"
DEMO_LOCK_FILE = ".demo-key.lock"
DEMO_SUBJECT_CN = "rolecall DEMO signing key - not for audit evidence"
DEMO_VALIDITY = timedelta(days=3650)
DEFAULT_P12_PASSWORD_ENV = "ROLECALL_P12_PASSWORD"

# Either bit lets a certificate sign documents (RFC 5280: nonRepudiation is "contentCommitment").
SIGNING_KEY_USAGES = frozenset({"digital_signature", "non_repudiation"})


class SigningKeyError(ValueError):
    """Signing material that cannot be used; the message says which file and why."""


def user_keys_dir() -> Path:
    """The per-user keys folder without $ROLECALL_KEYS_DIR: $XDG_DATA_HOME/rolecall/keys, else
    ~/.local/share/rolecall/keys (the XDG default)."""
    data_home = os.environ.get("XDG_DATA_HOME")
    base = Path(data_home) if data_home and Path(data_home).is_absolute() else Path.home() / ".local/share"
    return base / "rolecall" / "keys"


def default_keys_dir() -> Path:
    """$ROLECALL_KEYS_DIR, else the per-user folder: read when called, not at import."""
    configured = os.environ.get(KEYS_DIR_ENV)
    return Path(configured).expanduser() if configured else user_keys_dir()


# The per-user folder as found at import; `default_keys_dir()` is what signing uses.
DEFAULT_KEYS_DIR = user_keys_dir()


@dataclass(frozen=True)
class SigningIdentity:
    """Who signs a run: a pyHanko signer and whether it is the self-signed demo key."""

    signer: Signer
    demo: bool = False

    @property
    def certificate(self) -> asn1_x509.Certificate:
        cert = self.signer.signing_cert
        if cert is None:
            raise SigningKeyError("the signer has no certificate")
        return cert

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate's DER, lowercase hex (what `openssl x509 -fingerprint` shows)."""
        return certificate_fingerprint(self.certificate)

    @property
    def subject(self) -> str:
        return self.certificate.subject.human_friendly

    def certificate_pem(self) -> bytes:
        return x509.load_der_x509_certificate(self.certificate.dump()).public_bytes(
            serialization.Encoding.PEM
        )


def certificate_fingerprint(cert: asn1_x509.Certificate) -> str:
    return hashlib.sha256(cert.dump()).hexdigest()


def _check_can_sign(cert: asn1_x509.Certificate, source: Path) -> None:
    """Refuse early a certificate whose key usage forbids signing: verification would fail later,
    after the run folder has been written."""
    usages = cert.key_usage_value.native if cert.key_usage_value is not None else None
    if usages is not None and not SIGNING_KEY_USAGES & set(usages):
        raise SigningKeyError(
            f"{source}: certificate key usage {sorted(usages)} allows neither digitalSignature "
            "nor nonRepudiation"
        )


def _check_pair(key_der: bytes, cert: asn1_x509.Certificate, source: Path) -> None:
    """The key must belong to the certificate, or every signature would fail to verify.

    Only ever given a key pyHanko's loader has just read through cryptography, which checked an
    RSA key's whole arithmetic (0.1 s at 3072 bits): read again here only for its public half."""
    key = serialization.load_der_private_key(key_der, password=None,
                                             unsafe_skip_rsa_key_validation=True)
    cert_pub = x509.load_der_x509_certificate(cert.dump()).public_key()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != cert_pub.public_bytes(
        serialization.Encoding.DER, spki
    ):
        raise SigningKeyError(f"{source}: the private key does not belong to the certificate")


def load_signer(
    key_pem: Path,
    cert_pem: Path,
    *,
    chain_pem: Path | None = None,
    key_password_env: str | None = None,
) -> SigningIdentity:
    """An organization's key and certificate from PEM (or DER) files.

    `chain_pem` holds intermediate certificates to embed so a verifier can build the path to its
    root. A password-protected key takes its password from the environment variable named by
    `key_password_env`, never from the command line (which `ps` and shell history would keep).
    """
    password = _password_from_env(key_password_env)
    versions = tuple(_version(path) for path in (key_pem, cert_pem, chain_pem) if path is not None)
    if None in versions:  # a file that cannot be read: the load says which and why, uncached
        return _load_signer(key_pem, cert_pem, chain_pem, password)
    return _cached_signer(key_pem, cert_pem, chain_pem, password, versions)


# A run loads its identity twice, to refuse a bad key before anything starts (the CLI) and to
# sign (the flow, which must not take a key object through Prefect's parameters): ~0.1 s each
# for a 3072-bit key. The second load of the same unchanged files (path, inode, size, change
# times) is the first one's identity, from this process's memory only.
@functools.lru_cache(maxsize=4)
def _cached_signer(key_pem: Path, cert_pem: Path, chain_pem: Path | None, password: bytes | None,
                   versions: tuple[tuple[int, ...] | None, ...]) -> SigningIdentity:
    return _load_signer(key_pem, cert_pem, chain_pem, password)


def _version(path: Path) -> tuple[int, ...] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _load_signer(key_pem: Path, cert_pem: Path, chain_pem: Path | None,
                 password: bytes | None) -> SigningIdentity:
    try:
        key = load_private_key_from_pemder(key_pem, passphrase=password)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"{key_pem}: cannot load the private key: {exc}") from exc
    try:
        cert = load_cert_from_pemder(cert_pem)
        chain = list(load_certs_from_pemder([chain_pem])) if chain_pem else []
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"{cert_pem}: cannot load the certificate: {exc}") from exc
    _check_pair(key.dump(), cert, key_pem)
    _check_can_sign(cert, cert_pem)
    registry = SimpleCertificateStore()
    registry.register_multiple(chain)
    return SigningIdentity(SimpleSigner(signing_cert=cert, signing_key=key, cert_registry=registry))


def load_pkcs12(p12_path: Path, *, password_env: str = DEFAULT_P12_PASSWORD_ENV) -> SigningIdentity:
    """Key, certificate and chain from a PKCS#12 (.p12/.pfx) file, its password read from the
    environment variable `password_env` (unset means the file has no password)."""
    password = _password_from_env(password_env)
    try:
        data = p12_path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"{p12_path}: cannot read: {exc}") from exc
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, password)
    except ValueError as exc:
        hint = f"${password_env} is not set" if password is None else f"check ${password_env}"
        raise SigningKeyError(f"{p12_path}: cannot open the PKCS#12 file ({hint}): {exc}") from exc
    if key is None or cert is None:
        raise SigningKeyError(f"{p12_path}: the PKCS#12 file must hold a private key and its certificate")
    try:
        signer = SimpleSigner.load_pkcs12_data(data, other_certs=[], passphrase=password)
    except ValueError as exc:
        raise SigningKeyError(f"{p12_path}: {exc}") from exc
    _check_can_sign(signer.signing_cert, p12_path)
    return SigningIdentity(signer)


def _password_from_env(name: str | None) -> bytes | None:
    if not name:
        return None
    value = os.environ.get(name)
    return value.encode("utf-8") if value else None


def demo_signer(keys_dir: Path | None = None) -> SigningIdentity:
    """The demo's self-signed key, created on first use and reused afterwards.

    Its subject says it is a demo key, so a report signed with it cannot pass for real evidence.
    Two first runs starting together end with the same key: creation happens under a lock on the
    keys folder and the loser loads the winner's files.
    """
    keys_dir = keys_dir or default_keys_dir()
    key_path, cert_path = keys_dir / DEMO_KEY_FILE, keys_dir / DEMO_CERT_FILE
    if not (key_path.is_file() and cert_path.is_file()):
        with _creation_lock(keys_dir):
            if key_path.exists() != cert_path.exists():
                present = key_path if key_path.exists() else cert_path
                raise SigningKeyError(
                    f"{present} exists without its pair in {keys_dir}; remove it to create a new demo key"
                )
            if not key_path.exists():
                create_demo_key(keys_dir)
    identity = load_signer(key_path, cert_path)
    return SigningIdentity(identity.signer, demo=True)


def _cannot_create(keys_dir: Path, exc: OSError) -> SigningKeyError:
    """One line that names the folder and the ways out, instead of an OSError traceback."""
    reason = exc.strerror or type(exc).__name__
    if keys_dir.exists() and not keys_dir.is_dir():
        reason = "it is a file, not a folder"
    return SigningKeyError(
        f"cannot create a signing key in {keys_dir} ({reason}); give --signing-key and "
        "--signing-cert (or --signing-p12) to sign with your own key, or point --keys-dir "
        "(or ROLECALL_KEYS_DIR) at a writable folder"
    )


@contextmanager
def _creation_lock(keys_dir: Path) -> Iterator[None]:
    """An exclusive lock on keys_dir/.demo-key.lock while a key is checked and created,
    so concurrent first runs (threads or processes) cannot both create one. POSIX flock; where
    there is none, os.link in `_publish` still refuses to overwrite a file."""
    try:
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(keys_dir / DEMO_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        key_path, cert_path = keys_dir / DEMO_KEY_FILE, keys_dir / DEMO_CERT_FILE
        if key_path.exists() != cert_path.exists():  # a read-only folder with half a pair
            present = key_path if key_path.exists() else cert_path
            raise SigningKeyError(f"{present} exists without its pair in {keys_dir}") from exc
        raise _cannot_create(keys_dir, exc) from exc
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def create_demo_key(keys_dir: Path) -> tuple[Path, Path]:
    """Write a new self-signed demo certificate and its key (mode 0600) into keys_dir."""
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, DEMO_SUBJECT_CN),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rolecall demo (self-signed)"),
    ])
    return _create_self_signed(keys_dir, name, DEMO_KEY_FILE, DEMO_CERT_FILE, DEMO_VALIDITY)


def _create_self_signed(
    keys_dir: Path, name: x509.Name, key_file: str, cert_file: str, validity: timedelta
) -> tuple[Path, Path]:
    """Write a new self-signed signing certificate and its key (mode 0600) into keys_dir.

    The certificate is an end entity (CA:FALSE) with keyUsage digitalSignature + nonRepudiation and
    no extendedKeyUsage: OpenSSL then accepts it as its own trust anchor for
    `openssl cms -verify -CAfile` with the default S/MIME purpose, Adobe and pyHanko accept it for
    document signing, and nothing lets it issue other certificates.
    """
    try:
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise _cannot_create(keys_dir, exc) from exc
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    now = datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = keys_dir / key_file, keys_dir / cert_file
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The certificate first and the key last: a reader that finds the key finds a complete pair.
    try:
        _publish(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    except OSError as exc:
        raise _cannot_create(keys_dir, exc) from exc
    try:
        _publish(key_path, key_pem, mode=0o600)
    except OSError as exc:
        cert_path.unlink(missing_ok=True)  # ours, just made: leave no certificate without its key
        raise _cannot_create(keys_dir, exc) from exc
    return key_path, cert_path


def default_org_subject() -> str:
    """What `rolecall keys init` names the key when no --subject is given: who made it, where."""
    return f"CN=rolecall evidence signing ({getpass.getuser()}@{socket.gethostname()})"


def parse_subject(subject: str) -> x509.Name:
    """An RFC 4514 name ("CN=Example Org evidence signing,O=Example Org") with a common name."""
    try:
        name = x509.Name.from_rfc4514_string(subject)
    except ValueError as exc:
        raise SigningKeyError(f"--subject {subject!r}: not a distinguished name like "
                              f"'CN=Example Org evidence signing,O=Example Org' ({exc})") from exc
    if not name.get_attributes_for_oid(NameOID.COMMON_NAME):
        raise SigningKeyError(f"--subject {subject!r}: give a common name (CN=...)")
    return name


def create_organization_key(
    keys_dir: Path | None = None, *, subject: str | None = None, force: bool = False
) -> SigningIdentity:
    """`rolecall keys init`: a self-signed organization key and certificate in the keys folder.

    An existing pair is kept (SigningKeyError) unless `force`: replacing it silently would leave
    the auditor holding a fingerprint no new run matches.
    """
    keys_dir = keys_dir or default_keys_dir()
    name = parse_subject(subject or default_org_subject())
    key_path, cert_path = keys_dir / ORG_KEY_FILE, keys_dir / ORG_CERT_FILE
    with _creation_lock(keys_dir):
        if key_path.exists() or cert_path.exists():
            if not force:
                raise SigningKeyError(
                    f"an organization key already exists in {keys_dir}; give --force to replace it "
                    "(runs signed with the old key still verify against the old certificate)"
                )
            key_path.unlink(missing_ok=True)  # the key first: never a key without its certificate
            cert_path.unlink(missing_ok=True)
        _create_self_signed(keys_dir, name, ORG_KEY_FILE, ORG_CERT_FILE, ORG_VALIDITY)
    return load_signer(key_path, cert_path)


def organization_signer(keys_dir: Path | None = None) -> SigningIdentity | None:
    """The organization key `rolecall keys init` made in keys_dir, or None when there is none."""
    keys_dir = keys_dir or default_keys_dir()
    key_path, cert_path = keys_dir / ORG_KEY_FILE, keys_dir / ORG_CERT_FILE
    if not key_path.exists() and not cert_path.exists():
        return None
    if not (key_path.is_file() and cert_path.is_file()):
        present = key_path if key_path.exists() else cert_path
        raise SigningKeyError(f"{present} exists without its pair in {keys_dir}; run "
                              "`rolecall keys init --force` to create a new organization key")
    return load_signer(key_path, cert_path)


def _publish(path: Path, data: bytes, *, mode: int) -> None:
    """Write `data` to a temporary file beside `path` with `mode` from the first byte (no window
    where a key is world-readable), then link it into place: the file appears whole or not at
    all, and an existing file is never overwritten (FileExistsError)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, mode)  # mkstemp makes 0600 whatever the umask; the cert is public
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: under the lock a rename is safe
            if path.exists():
                raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
            os.replace(tmp, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)

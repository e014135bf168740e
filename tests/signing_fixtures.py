"""Shared material for the signing and verification tests: certificates and a small real run folder.

The run folder holds one file of each kind a real run has (PDF from the product's renderer, HTML,
a DuckDB snapshot, evidence CSVs, gzip payloads, JSON, YAML), so tamper tests cover every kind.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reports.render import write_pdf

HTML = """<!doctype html><html><head><meta charset="utf-8"><title>rolecall test report</title></head>
<body><h1>Do not use IAM Users &mdash; compliance audit</h1><p>Run 20260101T000000Z.</p>
<table><tr><th>Control</th><th>Status</th></tr><tr><td>RC-1.1</td><td>non-compliant</td></tr></table>
</body></html>"""

ACCOUNTS = ["111111111111", "222222222222"]


def make_run_folder(run_dir: Path) -> Path:
    """A small but real unsigned run folder."""
    evidence = run_dir / "evidence"
    for sub in ("credential_reports", "controls", "gx"):
        (evidence / sub).mkdir(parents=True, exist_ok=True)
    (run_dir / "report.html").write_text(HTML, encoding="utf-8")
    write_pdf(HTML, run_dir / "report.pdf")
    con = duckdb.connect(str(run_dir / "snapshot.duckdb"))
    con.execute("CREATE TABLE iam_users (account_id VARCHAR, user_name VARCHAR)")
    con.execute("INSERT INTO iam_users VALUES ('111111111111', 'alice'), ('222222222222', 'bob')")
    con.close()
    (evidence / "credential_reports" / "111111111111.csv").write_text(
        "user,arn,password_enabled\nalice,arn:aws:iam::111111111111:user/alice,true\n"
    )
    (evidence / "controls" / "RC-1.1.csv").write_text(
        "control_id,resource_id,status\nRC-1.1,arn:aws:iam::111111111111:user/alice,fail\n"
    )
    (evidence / "gx" / "G1.json").write_text('{"success": false}\n')
    (evidence / "exceptions.yaml").write_text("exceptions: []\n")
    (evidence / "run.json").write_text('{"run_id": "20260101T000000Z"}\n')
    with gzip.open(evidence / "raw_payloads.jsonl.gz", "wt") as f:
        f.write('{"account_id": "111111111111", "operation": "GetCredentialReport"}\n')
    return run_dir


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign, content_commitment=sign, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )


def make_ca(cn: str = "Example Org Test CA") -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """An organization's CA, as an auditor would be given it for `--ca`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    cn: str = "Example Org evidence signing",
    document_signing_eku: bool = False,
    can_sign: bool = True,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A signing certificate issued by the CA, optionally with extendedKeyUsage documentSigning
    (RFC 9336), as many organizations' document-signing certificates carry."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=can_sign, ca=not can_sign), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if document_signing_eku:
        document_signing = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
        builder = builder.add_extension(x509.ExtendedKeyUsage([document_signing]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def write_pem(
    folder: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> tuple[Path, Path]:
    key_path, cert_path = folder / f"{stem}-key.pem", folder / f"{stem}-cert.pem"
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path

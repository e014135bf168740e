"""Signing: keys (demo, PEM, PKCS#12), the manifest, the PAdES PDF signature and the CMS signature,
each checked with an independent tool (openssl, pyHanko's validator, pypdf) rather than our own
verifier."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pypdf
import pytest
import weasyprint
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from reports.keys import (
    DEMO_CERT_FILE,
    DEMO_KEY_FILE,
    SigningIdentity,
    SigningKeyError,
    demo_signer,
    load_pkcs12,
    load_signer,
)
from reports.manifest import MANIFEST, SIGNATURE, build_manifest, canonical_bytes, run_files
from reports.sign import sign_manifest, sign_pdf, sign_run
from tests.signing_fixtures import HTML, make_ca, make_leaf, make_run_folder, write_pem

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def demo(keys_dir: Path) -> SigningIdentity:
    return demo_signer(keys_dir)


def signed_run(tmp_path: Path, identity: SigningIdentity) -> Path:
    run = make_run_folder(tmp_path / "20260101T000000Z")  # a folder is named by its run id
    sign_run(run, identity, run_id="20260101T000000Z", tool_version="0.1.0",
             configuration={"role_name": "Audit", "external_id": "(set)"}, accounts=["222222222222",
                                                                                    "111111111111"])
    return run


def openssl_cms_verify(run: Path, ca_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The exact command the README gives auditors."""
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(run / SIGNATURE),
         "-content", str(run / MANIFEST), "-CAfile", str(ca_file), "-out", "/dev/null", *extra],
        capture_output=True, text=True, check=False,
    )


# --- keys ---------------------------------------------------------------------------------------


def test_demo_key_is_created_once_with_a_private_key_file(keys_dir: Path, demo: SigningIdentity) -> None:
    key_file = keys_dir / DEMO_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) & 0o077 == 0
    assert demo.demo
    assert "DEMO" in demo.subject and "not for audit evidence" in demo.subject
    before = key_file.read_bytes()
    again = demo_signer(keys_dir)
    assert again.fingerprint == demo.fingerprint
    assert key_file.read_bytes() == before


def test_demo_certificate_can_sign_documents_and_nothing_else(keys_dir: Path) -> None:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((keys_dir / DEMO_CERT_FILE).read_bytes())
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_demo_key_without_its_certificate_is_refused(tmp_path: Path, keys_dir: Path) -> None:
    shutil.copy(keys_dir / DEMO_KEY_FILE, tmp_path / DEMO_KEY_FILE)
    with pytest.raises(SigningKeyError, match=DEMO_KEY_FILE):
        demo_signer(tmp_path)


def test_pem_key_and_certificate_load(tmp_path: Path) -> None:
    ca_key, ca = make_ca()
    key, cert = make_leaf(ca_key, ca)
    key_path, cert_path = write_pem(tmp_path, "org", key, cert)
    identity = load_signer(key_path, cert_path)
    assert not identity.demo
    assert identity.subject.endswith("Example Org evidence signing")


def test_unchanged_files_load_once_and_a_changed_one_is_checked_again(tmp_path: Path) -> None:
    ca_key, ca = make_ca()
    key, cert = make_leaf(ca_key, ca)
    key_path, cert_path = write_pem(tmp_path, "org", key, cert)
    first = load_signer(key_path, cert_path)
    assert load_signer(key_path, cert_path) is first  # the CLI's check, then the flow's signing
    other_key, _ = make_leaf(ca_key, ca)
    (tmp_path / "other").mkdir()
    other_key_path, _ = write_pem(tmp_path / "other", "org", other_key, cert)
    key_path.write_bytes(other_key_path.read_bytes())  # replaced in place, same path
    with pytest.raises(SigningKeyError, match="does not belong"):
        load_signer(key_path, cert_path)


def test_a_key_that_is_not_the_certificates_is_refused(tmp_path: Path) -> None:
    ca_key, ca = make_ca()
    key, _ = make_leaf(ca_key, ca)
    _, other_cert = make_leaf(ca_key, ca)
    key_path, cert_path = write_pem(tmp_path, "mixed", key, other_cert)
    with pytest.raises(SigningKeyError, match="does not belong"):
        load_signer(key_path, cert_path)


def test_a_certificate_that_may_not_sign_is_refused(tmp_path: Path) -> None:
    ca_key, ca = make_ca()
    key, cert = make_leaf(ca_key, ca, can_sign=False)
    key_path, cert_path = write_pem(tmp_path, "nosign", key, cert)
    with pytest.raises(SigningKeyError, match="key usage"):
        load_signer(key_path, cert_path)


def test_pkcs12_password_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_key, ca = make_ca()
    key, cert = make_leaf(ca_key, ca)
    p12 = tmp_path / "org.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"org", key, cert, [ca], serialization.BestAvailableEncryption(b"s3cret")
    ))
    monkeypatch.delenv("ROLECALL_P12_PASSWORD", raising=False)
    with pytest.raises(SigningKeyError, match="ROLECALL_P12_PASSWORD is not set"):
        load_pkcs12(p12)
    monkeypatch.setenv("ROLECALL_P12_PASSWORD", "wrong")
    with pytest.raises(SigningKeyError, match="org.p12"):
        load_pkcs12(p12)
    monkeypatch.setenv("ROLECALL_P12_PASSWORD", "s3cret")
    identity = load_pkcs12(p12)
    assert identity.certificate.dump() == cert.public_bytes(serialization.Encoding.DER)

    run = signed_run(tmp_path, identity)
    from reports.verify import all_passed, verify_run

    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    checks = verify_run(run, ca_path)
    assert all_passed(checks), [c.line() for c in checks]


# --- manifest -----------------------------------------------------------------------------------


def test_manifest_lists_every_file_but_itself(tmp_path: Path, demo: SigningIdentity) -> None:
    run = signed_run(tmp_path, demo)
    manifest = json.loads((run / MANIFEST).read_bytes())
    paths = [f["path"] for f in manifest["files"]]
    assert paths == run_files(run) and paths == sorted(paths)
    on_disk = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}
    assert set(paths) == on_disk - {MANIFEST, SIGNATURE}
    assert {"report.pdf", "report.html", "snapshot.duckdb", "evidence/controls/RC-1.1.csv"} <= set(paths)
    pdf = next(f for f in manifest["files"] if f["path"] == "report.pdf")
    assert pdf["size"] == (run / "report.pdf").stat().st_size  # the signed PDF, not the unsigned one
    assert manifest["run_id"] == "20260101T000000Z"
    assert manifest["tool"] == {"name": "rolecall", "version": "0.1.0"}
    assert manifest["accounts"] == ["111111111111", "222222222222"]
    assert manifest["signer"] == {"subject": demo.subject, "certificate_sha256": demo.fingerprint,
                                  "demo": True}
    assert manifest["totals"]["files"] == len(paths)


def test_manifest_bytes_are_canonical(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path / "run")
    args = {"run_id": "r", "tool_version": "1", "configuration": {"b": 1, "a": [Path("x")]},
            "accounts": ["2", "1"]}
    first = canonical_bytes(build_manifest(run, **args))
    assert first == canonical_bytes(build_manifest(run, **args))
    assert first.endswith(b"}\n")
    assert first.index(b'"accounts"') < first.index(b'"configuration"') < first.index(b'"files"')


def test_manifest_redacts_anything_that_looks_like_a_secret(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path / "run")
    manifest = build_manifest(run, run_id="r", tool_version="1", accounts=[],
                              configuration={"p12_password": "hunter2", "nested": {"api_token": "x"},
                                             "role_name": "Audit"})
    text = canonical_bytes(manifest).decode()
    assert "hunter2" not in text and '"x"' not in text and "Audit" in text


def test_symbolic_links_are_not_evidence(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path / "run")
    (run / "evidence" / "link.csv").symlink_to(run / "report.html")
    with pytest.raises(ValueError, match="evidence/link.csv"):
        build_manifest(run, run_id="r", tool_version="1", configuration={}, accounts=[])


# --- PDF signature ------------------------------------------------------------------------------


def _validate_pdf(pdf: Path, trust_root: Path):  # noqa: ANN202 - pyHanko's status type
    root = load_cert_from_pemder(trust_root)
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    with pdf.open("rb") as f:
        (embedded,) = PdfFileReader(f).embedded_signatures
        usage = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"})
        return validate_pdf_signature(embedded, context, key_usage_settings=usage)


def test_pdf_signature_passes_pyhanko_validation(tmp_path: Path, keys_dir: Path,
                                                 demo: SigningIdentity) -> None:
    run = signed_run(tmp_path, demo)
    status = _validate_pdf(run / "report.pdf", keys_dir / DEMO_CERT_FILE)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.md_algorithm == "sha256"


def test_pdf_signing_is_an_incremental_update(tmp_path: Path, demo: SigningIdentity) -> None:
    pdf = tmp_path / "report.pdf"
    weasyprint.HTML(string=HTML).write_pdf(pdf)
    unsigned = pdf.read_bytes()
    sign_pdf(pdf, demo, reason="test")
    signed = pdf.read_bytes()
    assert signed.startswith(unsigned) and len(signed) > len(unsigned)
    assert not list(tmp_path.glob(".*.tmp"))  # the temp file was renamed, not left behind


def test_pdf_a_3b_stays_pdf_a_after_signing(tmp_path: Path, keys_dir: Path, demo: SigningIdentity) -> None:
    """PDF/A wants the XMP packet and the Info dictionary to agree; pyHanko touches both."""
    pdf = tmp_path / "report.pdf"
    findings = weasyprint.Attachment(string="control_id,status\nRC-1.1,fail\n", name="findings.csv",
                                     relationship="Data")
    weasyprint.HTML(string=HTML).write_pdf(pdf, pdf_variant="pdf/a-3b", attachments=[findings])
    sign_pdf(pdf, demo, reason="test")
    reader = pypdf.PdfReader(pdf)
    xmp = reader.xmp_metadata
    assert xmp is not None
    packet = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in packet and b'pdfaid:conformance="B"' in packet
    assert reader.metadata is not None
    assert reader.metadata.get("/Producer") == xmp.pdf_producer
    assert reader.metadata.get("/Title") == xmp.dc_title["x-default"]
    flags = reader.trailer["/Root"]["/AcroForm"]["/Fields"][0].get_object()["/F"]
    assert flags & 4 and not flags & 2  # printable, not hidden: PDF/A's rule for annotations
    assert reader.attachments["findings.csv"] == [b"control_id,status\nRC-1.1,fail\n"]
    status = _validate_pdf(pdf, keys_dir / DEMO_CERT_FILE)
    assert status.bottom_line and status.coverage == SignatureCoverageLevel.ENTIRE_FILE


def test_failed_signing_leaves_the_pdf_untouched(tmp_path: Path, demo: SigningIdentity) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7\nnot really a pdf\n")
    with pytest.raises(Exception):  # noqa: B017 - any pyHanko error will do
        sign_pdf(pdf, demo, reason="test")
    assert pdf.read_bytes() == b"%PDF-1.7\nnot really a pdf\n"
    assert not list(tmp_path.glob(".*.tmp"))


# --- CMS signature over manifest.json, checked by openssl ---------------------------------------


@needs_openssl
def test_openssl_accepts_the_manifest_signature(tmp_path: Path, keys_dir: Path,
                                                demo: SigningIdentity) -> None:
    run = signed_run(tmp_path, demo)
    result = openssl_cms_verify(run, keys_dir / DEMO_CERT_FILE)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr


@needs_openssl
def test_openssl_rejects_a_changed_manifest(tmp_path: Path, keys_dir: Path,
                                            demo: SigningIdentity) -> None:
    run = signed_run(tmp_path, demo)
    data = bytearray((run / MANIFEST).read_bytes())
    data[len(data) // 2] ^= 0x01
    (run / MANIFEST).write_bytes(bytes(data))
    assert openssl_cms_verify(run, keys_dir / DEMO_CERT_FILE).returncode != 0


@needs_openssl
def test_openssl_rejects_another_trust_anchor(tmp_path: Path, demo: SigningIdentity) -> None:
    run = signed_run(tmp_path, demo)
    _, other_ca = make_ca("Somebody else")
    other = tmp_path / "other.pem"
    other.write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))
    assert openssl_cms_verify(run, other).returncode != 0


@needs_openssl
def test_document_signing_certificates_need_purpose_any(tmp_path: Path) -> None:
    """OpenSSL's default purpose for `cms -verify` is S/MIME signing, which an extendedKeyUsage of
    documentSigning (no emailProtection) fails; `-purpose any` is the documented way round."""
    ca_key, ca = make_ca()
    key, cert = make_leaf(ca_key, ca, document_signing_eku=True)
    key_path, cert_path = write_pem(tmp_path, "docsign", key, cert)
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    run = tmp_path / "run"
    run.mkdir()
    (run / MANIFEST).write_bytes(b'{"files": []}\n')
    sign_manifest(run / MANIFEST, load_signer(key_path, cert_path))
    default_purpose = openssl_cms_verify(run, ca_path)
    assert default_purpose.returncode != 0 and "unsuitable certificate purpose" in default_purpose.stderr
    result = openssl_cms_verify(run, ca_path, "-purpose", "any")
    assert result.returncode == 0, result.stderr

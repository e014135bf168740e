"""Trusted time and sign-off: RFC 3161 timestamps from a local service, countersignatures by
`attest_run`, and what `verify_run` says about each signature.

The time-stamping services run on 127.0.0.1 (tests/tsa_service.py): an honest one, a lying one
that returns a genuine token over other bytes, and a closed port.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter

from reports.attest import AttestError, attest_run, field_name
from reports.keys import SigningIdentity, demo_signer, load_signer
from reports.manifest import (
    ATTESTATIONS,
    MANIFEST,
    SIGNATURE,
    build_manifest,
    canonical_bytes,
    write_manifest,
)
from reports.sign import REPORT_PDF, detached_signature, sign_manifest, sign_pdf_to, sign_run
from reports.timestamps import TimestampError, timestamper
from reports.verify import Check, all_passed, verify_run
from tests.demo_run import run_cli
from tests.signing_fixtures import make_ca, make_leaf, make_run_folder, write_pem
from tests.tsa_service import TsaService, closed_port_url, tsa_services

RUN_ID = "20260101T000000Z"
SIGN_ARGS = {"run_id": RUN_ID, "tool_version": "0.1.0", "configuration": {"role_name": "Audit"},
             "accounts": ["111111111111"]}
OPENSSL = shutil.which("openssl")
STATEMENT = "Reviewed: the findings were agreed with the control owners."


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TsaService, TsaService]]:
    with tsa_services(tmp_path_factory.mktemp("tsa")) as services:
        yield services


@pytest.fixture(scope="module")
def honest(tsa: tuple[TsaService, TsaService]) -> TsaService:
    return tsa[0]


@pytest.fixture(scope="module")
def lying(tsa: tuple[TsaService, TsaService]) -> TsaService:
    return tsa[1]


@pytest.fixture(scope="module")
def run_signer(tmp_path_factory: pytest.TempPathFactory) -> SigningIdentity:
    return demo_signer(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def reviewer_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[SigningIdentity, Path]:
    """A reviewer's key issued by an organization CA, and that CA's certificate."""
    folder = tmp_path_factory.mktemp("reviewer")
    ca_key, ca = make_ca("Example Org Reviewers CA")
    key, cert = make_leaf(ca_key, ca, cn="Rita Reviewer")
    ca_path = folder / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return load_signer(*write_pem(folder, "rita", key, cert)), ca_path


@pytest.fixture(scope="module")
def reviewer(reviewer_ca: tuple[SigningIdentity, Path]) -> SigningIdentity:
    return reviewer_ca[0]


@pytest.fixture(scope="module")
def stamped_template(tmp_path_factory: pytest.TempPathFactory, run_signer: SigningIdentity,
                     honest: TsaService) -> Path:
    run = make_run_folder(tmp_path_factory.mktemp("stamped") / RUN_ID)
    sign_run(run, run_signer, **SIGN_ARGS, timestamper=timestamper(honest.url))
    return run


@pytest.fixture(scope="module")
def attested_template(tmp_path_factory: pytest.TempPathFactory, stamped_template: Path,
                      reviewer: SigningIdentity, honest: TsaService) -> Path:
    run = Path(shutil.copytree(stamped_template, tmp_path_factory.mktemp("attested") / RUN_ID))
    attest_run(run, reviewer, role="reviewer", statement=STATEMENT, timestamper=timestamper(honest.url))
    return run


@pytest.fixture
def attested(tmp_path: Path, attested_template: Path) -> Path:
    """A fresh copy of the countersigned run for each test to damage."""
    return Path(shutil.copytree(attested_template, tmp_path / RUN_ID))


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


def lines(checks: list[Check]) -> list[str]:
    return [c.line() for c in checks]


def folder_state(run: Path) -> dict[str, str]:
    return {p.relative_to(run).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# --- trusted time at run time -------------------------------------------------------------------


def test_a_good_token_gives_the_pdf_and_the_manifest_trusted_time(stamped_template: Path,
                                                                 honest: TsaService) -> None:
    for tsa_cert in (None, honest.cert_pem):
        checks = verify_run(stamped_template, tsa_cert=tsa_cert)
        assert all_passed(checks), lines(checks)
        by_name = {c.name: c.detail for c in checks}
        for name in ("manifest signature", "pdf signature"):
            assert "trusted time" in by_name[name] and "from TSA 'rolecall test TSA'" in by_name[name]
            assert "as run signer" in by_name[name]
    assert "covers PDF revision 2 of 2" in by_name["pdf signature"]


def test_the_pdf_signature_is_pades_b_t(stamped_template: Path) -> None:
    with (stamped_template / REPORT_PDF).open("rb") as f:
        (signature,) = PdfFileReader(f, strict=False).embedded_signatures
        attributes = signature.signer_info["unsigned_attrs"]
        assert [a["type"].native for a in attributes] == ["signature_time_stamp_token"]


def test_a_timestamp_from_another_tsa_than_tsa_ca_fails(stamped_template: Path, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-tsa.pem"
    other_ca.write_bytes(make_ca("Some other TSA")[1].public_bytes(serialization.Encoding.PEM))
    checks = verify_run(stamped_template, tsa_cert=other_ca)
    assert {c.name for c in failures(checks)} == {"manifest signature", "pdf signature"}
    assert all("does not chain to the TSA certificate 'Some other TSA'" in c.detail
               for c in failures(checks))


def test_a_token_over_other_data_is_named(tmp_path: Path, run_signer: SigningIdentity,
                                          lying: TsaService) -> None:
    """The lying service's tokens are genuine and validly signed, just not over these signatures."""
    run = make_run_folder(tmp_path / RUN_ID)
    sign_run(run, run_signer, **SIGN_ARGS, timestamper=timestamper(lying.url))
    checks = verify_run(run)
    bad = {c.name: c.detail for c in failures(checks)}
    assert set(bad) == {"manifest signature", "pdf signature"}, lines(checks)
    assert bad["manifest signature"].startswith(f"{SIGNATURE}: ")
    assert bad["pdf signature"].startswith(f"{REPORT_PDF}: signature 1 of 1 (rolecall-signature)")
    assert all("its timestamp token does not cover this signature" in d for d in bad.values())


def test_an_unreachable_service_signs_nothing(tmp_path: Path, run_signer: SigningIdentity) -> None:
    run = make_run_folder(tmp_path / RUN_ID)
    before = folder_state(run)
    url = closed_port_url()
    with pytest.raises(TimestampError) as raised:
        sign_run(run, run_signer, **SIGN_ARGS, timestamper=timestamper(url))
    message = str(raised.value)
    assert url in message and "\n" not in message and "nothing was signed" in message
    assert folder_state(run) == before  # the PDF is as rendered, no manifest, no temp file


def test_a_service_failing_between_the_two_signatures_leaves_no_finished_run(
    tmp_path: Path, run_signer: SigningIdentity, honest: TsaService, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The PDF is signed, then the service stops answering: sign_run raises, and the flow, which
    signs in `<run>.partial` and renames only afterwards, never turns that folder into a run."""
    import reports.sign

    run = make_run_folder(tmp_path / f"{RUN_ID}.partial")
    real = reports.sign.detached_signature

    def stops_answering(data: bytes, identity: SigningIdentity, _: object = None) -> bytes:
        return real(data, identity, timestamper(closed_port_url()))

    monkeypatch.setattr(reports.sign, "detached_signature", stops_answering)
    with pytest.raises(TimestampError):
        sign_run(run, run_signer, **SIGN_ARGS, timestamper=timestamper(honest.url))
    assert not (run / SIGNATURE).exists()
    assert run.name.endswith(".partial")


# --- sign-off -----------------------------------------------------------------------------------


def test_attest_then_verify_lists_every_signature_with_role_and_trusted_time(attested: Path) -> None:
    checks = verify_run(attested)
    assert all_passed(checks), lines(checks)
    assert [c.name for c in checks] == [
        "manifest signature", "run id", "no file missing", "no file added", "file hashes",
        "pdf signature", "pdf countersignature", "attestation", "same signer",
    ]
    by_name = {c.name: c.detail for c in checks}
    run_pdf, counter = by_name["pdf signature"], by_name["pdf countersignature"]
    attestation, manifest = by_name["attestation"], by_name["manifest signature"]
    assert "covers PDF revision 2 of 3" in run_pdf and "later signatures added after it: 1" in run_pdf
    assert "covers PDF revision 3 of 3" in counter and "added after the report was signed" in counter
    assert "'Rita Reviewer'" in counter and "as reviewer" in counter
    assert attestation.startswith(f"{ATTESTATIONS}/01-reviewer.json: ") and "as reviewer" in attestation
    assert "as run signer" in manifest and "as run signer" in run_pdf
    for detail in (run_pdf, counter, attestation, manifest):
        assert "trusted time" in detail and "signer's clock" in detail
    assert "plus" in by_name["file hashes"]  # the PDF is as signed at run time plus a revision


def test_the_attestation_records_the_manifest_and_the_pdf_it_was_made_over(
    attested: Path, stamped_template: Path, reviewer: SigningIdentity,
) -> None:
    record = json.loads((attested / ATTESTATIONS / "01-reviewer.json").read_bytes())
    assert record["statement"] == STATEMENT and record["role"] == "reviewer"
    assert record["run_id"] == RUN_ID
    assert record["attester"]["certificate_sha256"] == reviewer.fingerprint
    assert record["manifest_sha256"] == hashlib.sha256((attested / MANIFEST).read_bytes()).hexdigest()
    signed_at_run_time = (stamped_template / REPORT_PDF).read_bytes()
    assert record["report_pdf_before"]["sha256"] == hashlib.sha256(signed_at_run_time).hexdigest()
    assert (attested / REPORT_PDF).read_bytes().startswith(signed_at_run_time)


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
def test_openssl_accepts_the_attestation_signature(
    attested: Path, reviewer_ca: tuple[SigningIdentity, Path]
) -> None:
    record = attested / ATTESTATIONS / "01-reviewer.json"
    result = subprocess.run(
        [str(OPENSSL), "cms", "-verify", "-binary", "-inform", "DER", "-in", f"{record}.p7s",
         "-content", str(record), "-CAfile", str(reviewer_ca[1]), "-out", "/dev/null"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr


def test_a_second_attestation_is_numbered_and_everything_still_verifies(
    attested: Path, run_signer: SigningIdentity,
) -> None:
    done = attest_run(attested, run_signer, role="management", statement="Accepted.")
    assert done.record.name == "02-management.json"
    checks = verify_run(attested)
    assert all_passed(checks), lines(checks)
    assert [c.name for c in checks].count("pdf countersignature") == 2
    assert [c.name for c in checks].count("attestation") == 2


@pytest.mark.parametrize("where", ["run-time bytes", "countersignature revision"])
def test_a_byte_flipped_in_the_pdf_after_the_countersignature_is_named(attested: Path, where: str,
                                                                      stamped_template: Path) -> None:
    signed_size = (stamped_template / REPORT_PDF).stat().st_size
    total = (attested / REPORT_PDF).stat().st_size
    flip_byte(attested / REPORT_PDF, signed_size // 2 if where == "run-time bytes"
              else signed_size + (total - signed_size) // 3)
    checks = verify_run(attested)
    bad = failures(checks)
    assert bad and all(c.detail.startswith(f"{REPORT_PDF}: ") or c.name == "attestation" for c in bad)
    assert any(c.detail.startswith(f"{REPORT_PDF}: ") for c in bad), lines(checks)


def test_a_byte_flipped_in_the_attestation_is_named(attested: Path) -> None:
    record = attested / ATTESTATIONS / "01-reviewer.json"
    text = record.read_text().replace("agreed", "agreeD")
    record.write_text(text)
    bad = failures(verify_run(attested))
    assert [c.name for c in bad] == ["attestation"]
    assert bad[0].detail.startswith(f"{ATTESTATIONS}/01-reviewer.json: changed since it was signed")


def test_an_extra_file_is_named_inside_and_outside_attestations(attested: Path) -> None:
    (attested / ATTESTATIONS / "notes.txt").write_text("x")
    (attested / "later.txt").write_text("x")
    bad = failures(verify_run(attested))
    assert sorted((c.name, c.detail.split(":")[0]) for c in bad) == [
        ("file added", f"{ATTESTATIONS}/notes.txt"), ("file added", "later.txt")]


def test_an_attestation_over_another_manifest_is_named(attested: Path, reviewer: SigningIdentity) -> None:
    record_path = attested / ATTESTATIONS / "01-reviewer.json"
    record = json.loads(record_path.read_bytes())
    record["manifest_sha256"] = "0" * 64
    body = canonical_bytes(record)
    record_path.write_bytes(body)
    (attested / ATTESTATIONS / "01-reviewer.json.p7s").write_bytes(detached_signature(body, reviewer))
    bad = failures(verify_run(attested))
    assert [c.name for c in bad] == ["attestation"]
    assert "its manifest hash" in bad[0].detail and bad[0].detail.startswith(f"{ATTESTATIONS}/01-")


def test_a_countersignature_without_its_attestation_fails(attested: Path) -> None:
    shutil.rmtree(attested / ATTESTATIONS)
    bad = failures(verify_run(attested))
    assert [c.name for c in bad] == ["attestation"]
    assert field_name("01-reviewer") in bad[0].detail


def test_a_change_hidden_under_a_countersignature_fails(tmp_path: Path, stamped_template: Path,
                                                        reviewer: SigningIdentity) -> None:
    """A later revision that changes the document and then adds a valid signature: pyHanko's
    difference analysis sees more than a signature added after the run-time signature."""
    run = Path(shutil.copytree(stamped_template, tmp_path / RUN_ID))
    pdf = run / REPORT_PDF
    with pdf.open("rb") as src:
        writer = IncrementalPdfFileWriter(src, strict=False)
        page = writer.root["/Pages"]["/Kids"][0].get_object()
        page["/Rotate"] = generic.NumberObject(90)
        writer.update_container(page)
        changed = tmp_path / "changed.pdf"
        with changed.open("wb") as out:
            writer.write(out)
    staged = tmp_path / "countersigned.pdf"
    with staged.open("wb") as out:
        sign_pdf_to(changed, out, reviewer, reason="reviewer", field_name=field_name("01-reviewer"))
    shutil.copy(staged, pdf)
    bad = failures(verify_run(run))
    run_time = [c for c in bad if c.name == "pdf signature"]
    assert run_time and run_time[0].detail.startswith(f"{REPORT_PDF}: signature 1 of 2")
    assert "changes more than a signature" in run_time[0].detail or "not permitted" in run_time[0].detail


def test_an_unreachable_service_leaves_the_run_exactly_as_it_was(attested: Path,
                                                                 reviewer: SigningIdentity) -> None:
    before = folder_state(attested)
    url = closed_port_url()
    with pytest.raises(TimestampError, match=url):
        attest_run(attested, reviewer, role="management", statement="Accepted.",
                   timestamper=timestamper(url))
    assert folder_state(attested) == before
    assert sorted(p.name for p in attested.iterdir() if p.name.startswith(".")) == []


def test_attest_refuses_what_is_not_a_finished_run(tmp_path: Path, reviewer: SigningIdentity) -> None:
    run = make_run_folder(tmp_path / RUN_ID)  # never signed
    with pytest.raises(AttestError, match="not a finished, signed run"):
        attest_run(run, reviewer, role="reviewer", statement=STATEMENT)


def test_a_report_certified_with_no_changes_is_not_countersigned(tmp_path: Path,
                                                                 run_signer: SigningIdentity,
                                                                 reviewer: SigningIdentity) -> None:
    """Runs signed before countersignatures existed permit no change at all: refused, untouched."""
    run = make_run_folder(tmp_path / RUN_ID)
    meta = signers.PdfSignatureMetadata(field_name="rolecall-signature", certify=True,
                                        docmdp_permissions=MDPPerm.NO_CHANGES,
                                        subfilter=SigSeedSubFilter.PADES)
    pdf = run / REPORT_PDF
    with pdf.open("rb") as src:
        signed = signers.PdfSigner(meta, signer=run_signer.signer).sign_pdf(
            IncrementalPdfFileWriter(src, strict=False))
    pdf.write_bytes(signed.getvalue())
    sign_manifest(write_manifest(run, build_manifest(run, signer=run_signer, **SIGN_ARGS)), run_signer)
    before = folder_state(run)
    with pytest.raises(AttestError, match="no changes permitted"):
        attest_run(run, reviewer, role="reviewer", statement=STATEMENT)
    assert folder_state(run) == before


# --- the CLI ------------------------------------------------------------------------------------


def test_attest_cli_then_verify_cli(attested: Path, tmp_path: Path, honest: TsaService) -> None:
    ca_key, ca = make_ca("Example Org Management CA")
    key, cert = make_leaf(ca_key, ca, cn="Mona Manager")
    key_path, cert_path = write_pem(tmp_path, "mona", key, cert)
    code, output = run_cli("attest", str(attested), "--role", "management", "--statement",
                           "Responses accepted.", "--signing-key", str(key_path), "--signing-cert",
                           str(cert_path), "--tsa-url", honest.url)
    assert code == 0, output
    assert "Countersigned" in output and f"{ATTESTATIONS}/02-management.json" in " ".join(output.split())
    code, output = run_cli("verify", str(attested), "--tsa-ca", str(honest.cert_pem))
    assert code == 0, output
    flat = " ".join(output.split())
    assert "as management" in flat and "'Mona Manager'" in flat and "as reviewer" in flat


def test_attest_cli_with_a_bad_key_is_one_line_and_changes_nothing(attested: Path,
                                                                   tmp_path: Path) -> None:
    before = folder_state(attested)
    missing = tmp_path / "missing-key.pem"
    code, output = run_cli("attest", str(attested), "--role", "reviewer", "--statement", "x",
                           "--signing-key", str(missing), "--signing-cert", str(missing))
    assert code == 2 and str(missing) in " ".join(output.split())
    assert folder_state(attested) == before


def test_audit_with_an_unreachable_tsa_stops_before_any_aws_call(tmp_path: Path) -> None:
    url = closed_port_url()
    code, output = run_cli("audit", "--out", str(tmp_path / "runs"), "--tsa-url", url)
    flat = " ".join(output.split())
    assert code == 2 and url in flat and "time-stamping service" in flat, output
    assert output.count("error:") == 1
    assert not (tmp_path / "runs").exists()  # stopped before the runs folder, let alone AWS


@pytest.mark.slow
def test_demo_audit_with_trusted_time_then_attest_then_verify(tmp_path: Path, honest: TsaService,
                                                              reviewer_ca: tuple[SigningIdentity, Path]
                                                              ) -> None:
    """The issue's "done when": a demo run signed with trusted time from the local service,
    countersigned by a reviewer; verify lists two valid PDF signatures and two CMS signatures,
    each with its role and trusted time; a byte flipped afterwards is caught and named."""
    from tests.demo_run import run_demo

    demo = run_demo(tmp_path / "runs", "--tsa-url", honest.url)
    assert demo.exit_code in (0, 1, 3), demo.output
    folder = tmp_path / "reviewer"
    folder.mkdir()
    ca_key, ca = make_ca("Example Org Reviewers CA")
    key_path, cert_path = write_pem(folder, "rita", *make_leaf(ca_key, ca, cn="Rita Reviewer"))
    code, output = run_cli("attest", str(demo.run_dir), "--role", "reviewer", "--statement", STATEMENT,
                           "--signing-key", str(key_path), "--signing-cert", str(cert_path),
                           "--tsa-url", honest.url)
    assert code == 0, output
    code, output = run_cli("verify", str(demo.run_dir), "--tsa-ca", str(honest.cert_pem))
    assert code == 0, output
    signature_lines = [line for line in output.splitlines()
                       if line.startswith(("PASS  pdf", "PASS  manifest signature", "PASS  attestation"))]
    assert len(signature_lines) == 4, output
    assert all("trusted time" in line and " as " in line for line in signature_lines)
    flip_byte(demo.run_dir / REPORT_PDF, 2000)
    code, output = run_cli("verify", str(demo.run_dir))
    assert code == 1 and "FAIL  file changed: report.pdf:" in output


def test_a_stored_run_is_checked_against_tsa_ca_too(stamped_template: Path, tmp_path: Path,
                                                    honest: TsaService,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`rolecall verify s3://…` anchors the time-stamps like a local verify: --tsa-ca reaches it."""
    import boto3
    from moto.server import ThreadedMotoServer

    from reports.evidence_store import S3Location, upload_run, verify_stored_run
    from tests.test_evidence_store import new_bucket

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        s3 = boto3.client("s3")
        run = Path(shutil.copytree(stamped_template, tmp_path / RUN_ID))
        stored = upload_run(s3, run, S3Location(new_bucket(s3), "audits"), retention_days=7).location
        checks = verify_stored_run(s3, stored, tsa_cert=honest.cert_pem)
        assert all_passed(checks), lines(checks)
        other_ca = tmp_path / "other-tsa.pem"
        other_ca.write_bytes(make_ca("Some other TSA")[1].public_bytes(serialization.Encoding.PEM))
        checks = verify_stored_run(s3, stored, tsa_cert=other_ca)
        assert {c.name for c in failures(checks)} == {"manifest signature", "pdf signature"}
    finally:
        server.stop()

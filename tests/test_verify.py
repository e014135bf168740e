"""`verify_run` on a signed run folder: it passes untouched, and fails naming the file after one byte
of any kind of file is flipped, a file is added or removed, or a signature is replaced."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from cli.main import app
from reports.keys import DEMO_CERT_FILE, DEMO_KEY_FILE, SigningIdentity, demo_signer, load_signer
from reports.manifest import MANIFEST, SIGNATURE, build_manifest, write_manifest
from reports.sign import sign_manifest, sign_pdf, sign_run
from reports.verify import Check, TrustAnchorError, all_passed, load_ca, verify_run
from tests.signing_fixtures import make_ca, make_leaf, make_run_folder, write_pem

RUN_ID = "20260101T000000Z"
SIGN_ARGS = {"run_id": RUN_ID, "tool_version": "0.1.0", "configuration": {"role_name": "Audit"},
             "accounts": ["111111111111"]}


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def demo(keys_dir: Path) -> SigningIdentity:
    return demo_signer(keys_dir)


@pytest.fixture(scope="module")
def signed_template(tmp_path_factory: pytest.TempPathFactory, demo: SigningIdentity) -> Path:
    run = make_run_folder(tmp_path_factory.mktemp("template") / RUN_ID)
    sign_run(run, demo, **SIGN_ARGS)
    return run


@pytest.fixture
def run(tmp_path: Path, signed_template: Path) -> Path:
    """A fresh copy of the signed run for each test to damage."""
    return Path(shutil.copytree(signed_template, tmp_path / RUN_ID))


def failures(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


def assert_fails_naming(checks: list[Check], rel: str) -> None:
    bad = failures(checks)
    assert bad, "verification passed although the run was damaged"
    assert not all_passed(checks)
    assert any(c.detail.startswith(f"{rel}:") for c in bad), [c.line() for c in bad]


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_an_untouched_run_verifies(run: Path, keys_dir: Path) -> None:
    for ca in (None, keys_dir / DEMO_CERT_FILE):
        checks = verify_run(run, ca)
        assert all_passed(checks), [c.line() for c in checks]
        names = [c.name for c in checks]
        assert names == ["manifest signature", "run id", "no file missing", "no file added",
                         "file hashes", "pdf signature", "same signer"]


def test_without_ca_the_signer_is_reported_as_self_asserted(run: Path, demo: SigningIdentity) -> None:
    (signature,) = [c for c in verify_run(run) if c.name == "manifest signature"]
    assert "self-asserted" in signature.detail
    assert demo.fingerprint in signature.detail and "DEMO" in signature.detail


@pytest.mark.parametrize(
    "rel",
    [
        "report.pdf",
        "report.html",
        "snapshot.duckdb",
        "evidence/controls/RC-1.1.csv",
        "evidence/credential_reports/111111111111.csv",
        "evidence/raw_payloads.jsonl.gz",
        "evidence/run.json",
        MANIFEST,
        SIGNATURE,
    ],
)
def test_one_flipped_byte_fails_naming_the_file(run: Path, rel: str) -> None:
    flip_byte(run / rel)
    assert_fails_naming(verify_run(run), rel)


def test_a_flipped_byte_in_the_signed_pdf_breaks_its_own_signature(run: Path) -> None:
    """Independently of the manifest: the PAdES check alone catches a change to the PDF's content."""
    pdf = run / "report.pdf"
    flip_byte(pdf, offset=pdf.read_bytes().index(b"/MediaBox") + 1)  # inside the signed range
    (check,) = [c for c in verify_run(run) if c.name == "pdf signature"]
    assert not check.ok and check.detail.startswith("report.pdf:")


def test_an_added_file_fails_naming_it(run: Path) -> None:
    (run / "evidence" / "controls" / "RC-9.9.csv").write_text("control_id\nRC-9.9\n")
    checks = verify_run(run)
    assert_fails_naming(checks, "evidence/controls/RC-9.9.csv")
    assert [c.name for c in failures(checks)] == ["file added"]


def test_an_added_hidden_file_fails_too(run: Path) -> None:
    (run / ".notes").write_text("x")
    assert_fails_naming(verify_run(run), ".notes")


@pytest.mark.parametrize("rel", ["evidence/exceptions.yaml", "snapshot.duckdb", "report.pdf"])
def test_a_removed_file_fails_naming_it(run: Path, rel: str) -> None:
    (run / rel).unlink()
    checks = verify_run(run)
    assert_fails_naming(checks, rel)
    assert "file missing" in [c.name for c in failures(checks)]


@pytest.mark.parametrize("rel", [MANIFEST, SIGNATURE])
def test_a_removed_manifest_or_signature_fails(run: Path, rel: str) -> None:
    (run / rel).unlink()
    assert_fails_naming(verify_run(run), rel)


def test_a_rewritten_manifest_without_the_key_fails(run: Path) -> None:
    """Changing a file and writing a matching manifest does not help without the signing key."""
    (run / "report.html").write_text("<p>all compliant</p>")
    write_manifest(run, build_manifest(run, **SIGN_ARGS))
    checks = verify_run(run)
    assert_fails_naming(checks, MANIFEST)
    assert [c.name for c in failures(checks)] == ["manifest signature", "same signer"]


def test_bytes_appended_to_the_pdf_and_resigned_manifest_fail_the_pdf_check(
    run: Path, demo: SigningIdentity
) -> None:
    """An update appended after signing is not covered by the signature, even when the manifest
    is rebuilt and re-signed with the right key."""
    with (run / "report.pdf").open("ab") as f:
        f.write(b"\n1 0 obj\n(appended)\nendobj\n")
    sign_manifest(write_manifest(run, build_manifest(run, signer=demo, **SIGN_ARGS)), demo)
    checks = verify_run(run)
    assert [c.name for c in failures(checks)] == ["pdf signature"]
    assert_fails_naming(checks, "report.pdf")


def test_a_pdf_signed_by_someone_else_fails(run: Path, tmp_path: Path, demo: SigningIdentity) -> None:
    other = demo_signer(tmp_path / "other-keys")
    make_run_folder(tmp_path / "fresh")
    shutil.copy(tmp_path / "fresh" / "report.pdf", run / "report.pdf")
    sign_pdf(run / "report.pdf", other, reason="forged")
    sign_manifest(write_manifest(run, build_manifest(run, signer=demo, **SIGN_ARGS)), demo)
    checks = verify_run(run)
    assert {c.name for c in failures(checks)} == {"pdf signature", "same signer"}
    assert_fails_naming(checks, "report.pdf")


def test_a_run_resigned_with_another_key_passes_only_without_ca(
    run: Path, tmp_path: Path, keys_dir: Path
) -> None:
    """Self-asserted trust proves integrity, not identity: that is what --ca is for."""
    ca_key, ca = make_ca("Mallory CA")
    key, cert = make_leaf(ca_key, ca, cn="Mallory")
    mallory = load_signer(*write_pem(tmp_path, "mallory", key, cert))
    fresh = make_run_folder(tmp_path / "forged" / RUN_ID)
    sign_run(fresh, mallory, **SIGN_ARGS)
    assert all_passed(verify_run(fresh))
    checks = verify_run(fresh, keys_dir / DEMO_CERT_FILE)
    assert {c.name for c in failures(checks)} == {"manifest signature", "pdf signature"}
    assert_fails_naming(checks, SIGNATURE)


def test_organization_ca_chain_verifies_with_ca(tmp_path: Path) -> None:
    ca_key, ca = make_ca()
    key, cert = make_leaf(ca_key, ca)
    org = load_signer(*write_pem(tmp_path, "org", key, cert))
    run = make_run_folder(tmp_path / RUN_ID)
    sign_run(run, org, **SIGN_ARGS)
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    checks = verify_run(run, ca_path)
    assert all_passed(checks), [c.line() for c in checks]
    assert "chains to the CA 'Example Org Test CA'" in checks[0].detail


def test_a_missing_run_folder_fails(tmp_path: Path) -> None:
    checks = verify_run(tmp_path / "nope")
    assert not all_passed(checks) and checks[0].detail.startswith(str(tmp_path / "nope"))


def test_a_manifest_path_cannot_leave_the_run_folder(run: Path, demo: SigningIdentity) -> None:
    manifest = build_manifest(run, signer=demo, **SIGN_ARGS)
    manifest["files"].append({"path": "../outside.txt", "sha256": "0" * 64, "size": 0})
    sign_manifest(write_manifest(run, manifest), demo)
    checks = verify_run(run)
    assert_fails_naming(checks, MANIFEST)
    assert "leaves the run folder" in " ".join(c.detail for c in failures(checks))


# --- a folder is its run --------------------------------------------------------------------------


def test_a_renamed_run_folder_fails_naming_both_ids(run: Path, tmp_path: Path) -> None:
    renamed = run.rename(tmp_path / "20990101T000000Z")
    checks = verify_run(renamed)
    assert [c.name for c in failures(checks)] == ["run id"]  # every byte is still as signed
    (check,) = failures(checks)
    assert "'20990101T000000Z'" in check.detail and f"'{RUN_ID}'" in check.detail


def test_a_manifest_that_names_no_run_fails(run: Path, demo: SigningIdentity) -> None:
    manifest = build_manifest(run, signer=demo, **SIGN_ARGS)
    del manifest["run_id"]
    sign_manifest(write_manifest(run, manifest), demo)
    checks = verify_run(run)
    assert [c.name for c in failures(checks)] == ["run id"]
    assert "names no run id" in failures(checks)[0].detail


def test_the_folder_name_is_read_from_the_real_path(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(run)
    assert all_passed(verify_run(Path(".")))


# --- --ca that cannot be a trust anchor ---------------------------------------------------------


def _not_a_ca(kind: str, tmp_path: Path, keys_dir: Path) -> Path:
    path = tmp_path / f"{kind.replace(' ', '-')}.pem"
    cert = (keys_dir / DEMO_CERT_FILE).read_bytes()
    if kind == "missing":
        return path
    if kind == "folder":
        return tmp_path
    path.write_bytes({
        "junk": b"not a certificate\n",
        "empty": b"",
        "private key": (keys_dir / DEMO_KEY_FILE).read_bytes(),
        "two certificates": cert + cert,
        "truncated PEM": cert[: len(cert) // 2] + b"\n-----END CERTIFICATE-----\n",
    }[kind])
    return path


BAD_CA = {"missing": "No such file", "folder": "Is a directory", "junk": "not a PEM or DER",
          "empty": "not a PEM or DER", "private key": "holds no certificate (PEM blocks: PRIVATE KEY)",
          "two certificates": "holds 2 certificates", "truncated PEM": "not a PEM or DER"}


@pytest.mark.parametrize("kind", list(BAD_CA))
def test_a_ca_file_that_is_not_one_certificate_is_bad_input_exit_2(
    kind: str, run: Path, tmp_path: Path, keys_dir: Path
) -> None:
    ca = _not_a_ca(kind, tmp_path, keys_dir)
    with pytest.raises(TrustAnchorError, match=re.escape(BAD_CA[kind])):
        load_ca(ca)
    (check,) = verify_run(run, ca)  # the library still answers with a failed check
    assert check.name == "trust anchor" and not check.ok
    result = CliRunner().invoke(app, ["verify", str(run), "--ca", str(ca)])
    assert result.exit_code == 2
    assert result.stdout == ""  # nothing was verified, so nothing PASSes or FAILs
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: --ca {ca}") and BAD_CA[kind] in line


def test_a_der_certificate_is_a_trust_anchor_too(run: Path, tmp_path: Path, keys_dir: Path) -> None:
    der = tmp_path / "demo.der"
    der.write_bytes(load_ca(keys_dir / DEMO_CERT_FILE).dump())
    assert all_passed(verify_run(run, der))


def _other_ca(tmp_path: Path) -> Path:
    _, ca = make_ca("Somebody Else CA")
    path = tmp_path / "other-ca.pem"
    path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return path


def test_a_ca_that_did_not_issue_the_signer_fails_without_log_noise(
    run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = _other_ca(tmp_path)
    with caplog.at_level(logging.DEBUG):
        checks = verify_run(run, ca)
    assert {c.name for c in failures(checks)} == {"manifest signature", "pdf signature"}
    assert all("Somebody Else CA" in c.detail for c in failures(checks))
    assert [r for r in caplog.records if r.name.startswith("pyhanko")] == []
    # the loggers are given back as they were
    assert logging.getLogger("pyhanko").level == logging.NOTSET


def test_rolecall_verify_with_the_wrong_ca_prints_only_its_check_lines(run: Path, tmp_path: Path) -> None:
    """A real process, where nothing else configures logging (as for a user)."""
    rolecall = Path(sys.executable).with_name("rolecall")
    result = subprocess.run([str(rolecall), "verify", str(run), "--ca", str(_other_ca(tmp_path))],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr == "" and "Traceback" not in result.stdout
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 7 and all(line[:4] in ("PASS", "FAIL") for line in lines), lines
    assert sum(line.startswith("FAIL") for line in lines) == 2

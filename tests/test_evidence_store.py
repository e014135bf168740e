"""Evidence kept where it cannot be altered: `rolecall upload` and `rolecall verify s3://...` against
moto's S3 with Object Lock, served on 127.0.0.1 by a ThreadedMotoServer.

What moto 5.2 enforces, and so what these tests can prove: Object Lock must be enabled on the bucket
for a put with retention; a locked version cannot be deleted (AccessDenied); If-None-Match: * on a
put. What it does not: it accepts a put_object_retention that shortens or downgrades COMPLIANCE
retention (real S3 refuses), it has no GetObjectRetention (the lock is read from GetObject's
headers, which real S3 returns too), and it does not check a supplied ChecksumSHA256 (real S3
rejects a body that does not match; the read-back catches it either way). A new version over a
locked key is allowed by moto as by S3: the locked version stays, and verify reads the current one.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

import cli.main
from cli.main import app
from reports.evidence_store import (
    DEFAULT_RETENTION_DAYS,
    LOCK_MODE,
    EvidenceStoreError,
    S3Location,
    parse_s3_url,
    upload_run,
    verify_stored_run,
)
from reports.keys import SigningIdentity, demo_signer
from reports.manifest import MANIFEST, SIGNATURE
from reports.verify import all_passed, verify_run
from tests.signing_fixtures import make_run_folder

RUN_ID = "20260101T000000Z"
SIGN_ARGS = {"run_id": RUN_ID, "tool_version": "0.1.0", "configuration": {"role_name": "Audit"},
             "accounts": ["111111111111"]}


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 on 127.0.0.1 for this module, stopped at its end."""
    werkzeug = logging.getLogger("werkzeug")  # one log line per request otherwise
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        werkzeug.setLevel(level)


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """The test's environment points the standard boto3 chain (and so the CLI) at moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return boto3.client("s3")


def new_bucket(s3: object, *, object_lock: bool = True) -> str:
    name = f"evidence-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)  # type: ignore[attr-defined]
    return name


@pytest.fixture(scope="module")
def signed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    demo: SigningIdentity = demo_signer(tmp_path_factory.mktemp("keys"))
    run = make_run_folder(tmp_path_factory.mktemp("template") / RUN_ID)
    from reports.sign import sign_run

    sign_run(run, demo, **SIGN_ARGS)
    return run


@pytest.fixture
def run(tmp_path: Path, signed_template: Path) -> Path:
    """A fresh copy of a small, real, signed run folder (no audit needed)."""
    return Path(shutil.copytree(signed_template, tmp_path / "runs" / RUN_ID))


def run_files(run: Path) -> set[str]:
    return {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}


def versions_under(s3: object, bucket: str, prefix: str = "") -> list[dict]:
    page = s3.list_object_versions(Bucket=bucket, Prefix=prefix)  # type: ignore[attr-defined]
    return [*page.get("Versions", []), *page.get("DeleteMarkers", [])]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


# --- the URL --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url, bucket, prefix", [
    ("s3://evidence", "evidence", ""),
    ("s3://evidence/", "evidence", ""),
    ("s3://evidence/audits/prod", "evidence", "audits/prod"),
    ("s3://evidence/audits/prod/", "evidence", "audits/prod"),
    ("S3://evidence.example-1/a", "evidence.example-1", "a"),
])
def test_s3_urls_parse(url: str, bucket: str, prefix: str) -> None:
    assert parse_s3_url(url) == S3Location(bucket, prefix)


@pytest.mark.parametrize("url, says", [
    ("evidence/audits", "is not an S3 URL"),
    ("https://evidence.s3.amazonaws.com/a", "is not an S3 URL"),
    ("s3://", "names no bucket"),
    ("s3:///audits", "names no bucket"),
    ("s3://Evidence/a", "not a valid S3 bucket name"),
    ("s3://ab/a", "not a valid S3 bucket name"),
    ("s3://evidence/a//b", "empty, '.' or '..' segments"),
    ("s3://evidence/a/../b", "empty, '.' or '..' segments"),
])
def test_bad_s3_urls_are_refused_saying_why(url: str, says: str) -> None:
    with pytest.raises(EvidenceStoreError, match=f"{url!r}.*{says}|{says}"):
        parse_s3_url(url)


# --- upload ---------------------------------------------------------------------------------------


def test_upload_stores_every_file_locked_in_compliance_mode_and_reads_it_back(s3: object, run: Path) -> None:
    bucket = new_bucket(s3)
    before = datetime.now(UTC)
    stored = upload_run(s3, run, S3Location(bucket, "audits/prod"), retention_days=30)

    assert stored.ok, [c.line() for c in stored.checks]
    assert stored.location == S3Location(bucket, f"audits/prod/{RUN_ID}")
    assert abs(stored.retain_until - (before + timedelta(days=30))) < timedelta(minutes=1)
    # one read-back line per object, naming it
    assert sorted(c.detail.split(": ")[0] for c in stored.checks) == sorted(
        f"s3://{bucket}/audits/prod/{RUN_ID}/{rel}" for rel in run_files(run))

    # Independently of rolecall: every file is there, byte for byte, under COMPLIANCE retention.
    listed = versions_under(s3, bucket)
    assert {v["Key"] for v in listed} == {f"audits/prod/{RUN_ID}/{rel}" for rel in run_files(run)}
    assert len(listed) == len(run_files(run))  # one version each, no delete marker
    for rel in run_files(run):
        got = s3.get_object(Bucket=bucket, Key=f"audits/prod/{RUN_ID}/{rel}")  # type: ignore[attr-defined]
        assert got["Body"].read() == (run / rel).read_bytes(), rel
        assert got["ObjectLockMode"] == LOCK_MODE
        assert got["ObjectLockRetainUntilDate"] >= stored.retain_until
    # the lock holds: moto refuses to delete a locked version
    first = listed[0]
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=first["Key"], VersionId=first["VersionId"])  # type: ignore[attr-defined]


def test_the_cli_uploads_a_run_by_id_and_reports_each_object(s3: object, run: Path) -> None:
    bucket = new_bucket(s3)
    code, out, err = invoke("upload", RUN_ID, f"s3://{bucket}/audits", "--runs", str(run.parent),
                            "--retention-days", "7")
    assert code == 0, (out, err)
    lines = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(lines) == len(run_files(run)) and all(line.startswith("PASS  stored: s3://") for line in lines)
    assert f"rolecall verify s3://{bucket}/audits/{RUN_ID}" in out
    assert len(versions_under(s3, bucket)) == len(run_files(run))


def test_a_bucket_without_object_lock_is_refused_and_nothing_is_uploaded(s3: object, run: Path) -> None:
    bucket = new_bucket(s3, object_lock=False)
    with pytest.raises(EvidenceStoreError, match=f"bucket {bucket} has no Object Lock"):
        upload_run(s3, run, S3Location(bucket, "audits"), retention_days=7)
    code, out, err = invoke("upload", str(run), f"s3://{bucket}/audits")
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert f"bucket {bucket} has no Object Lock" in line and "--object-lock-enabled-for-bucket" in line
    assert versions_under(s3, bucket) == []


def test_a_missing_bucket_is_one_clear_error(s3: object, run: Path) -> None:
    code, _, err = invoke("upload", str(run), "s3://no-such-evidence-bucket/audits")
    assert code == 2 and "NoSuchBucket" in one_error_line(err)


def test_an_unfinished_run_is_refused(s3: object, run: Path) -> None:
    bucket = new_bucket(s3)
    partial = run.rename(run.with_name(f"{RUN_ID}.partial"))
    with pytest.raises(EvidenceStoreError, match="not a finished run folder"):
        upload_run(s3, partial, S3Location(bucket, "audits"), retention_days=7)
    (partial / SIGNATURE).unlink()
    unsigned = partial.rename(run)
    with pytest.raises(EvidenceStoreError, match=f"no {SIGNATURE}"):
        upload_run(s3, unsigned, S3Location(bucket, "audits"), retention_days=7)
    assert versions_under(s3, bucket) == []


def test_a_tampered_run_is_refused_naming_the_file(s3: object, run: Path) -> None:
    bucket = new_bucket(s3)
    with (run / "evidence" / "run.json").open("a") as f:
        f.write(" ")
    code, out, err = invoke("upload", str(run), f"s3://{bucket}/audits")
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert f"run {RUN_ID} does not verify, so it is not uploaded" in line
    assert "evidence/run.json" in line
    assert versions_under(s3, bucket) == []


def test_a_second_upload_to_the_same_prefix_is_refused_and_writes_nothing(s3: object, run: Path) -> None:
    bucket = new_bucket(s3)
    upload_run(s3, run, S3Location(bucket, "audits"), retention_days=7)
    before = versions_under(s3, bucket)
    code, out, err = invoke("upload", str(run), f"s3://{bucket}/audits")
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert f"s3://{bucket}/audits/{RUN_ID} already holds objects" in line and "nothing was uploaded" in line
    assert versions_under(s3, bucket) == before


def test_a_prefix_holding_only_a_delete_marker_is_taken_too(s3: object, run: Path) -> None:
    bucket = new_bucket(s3)
    key = f"audits/{RUN_ID}/{MANIFEST}"
    s3.put_object(Bucket=bucket, Key=key, Body=b"{}")  # type: ignore[attr-defined]
    s3.delete_object(Bucket=bucket, Key=key)  # type: ignore[attr-defined]  (a delete marker on top)
    with pytest.raises(EvidenceStoreError, match="already holds objects"):
        upload_run(s3, run, S3Location(bucket, "audits"), retention_days=7)


def test_a_file_changed_after_verification_fails_the_read_back(
    s3: object, run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte flipped between the local verification and the put. Real S3 rejects the put (its
    ChecksumSHA256 is the manifest's); moto stores it with that checksum, and the read-back (botocore
    checks the bytes against it, and so does rolecall) names the object."""
    import reports.evidence_store as evidence_store

    verified = evidence_store.files_to_store

    def verify_then_change(run_dir: Path, ca_cert: Path | None = None) -> list:
        files = verified(run_dir, ca_cert)
        data = bytearray((run_dir / "evidence" / "run.json").read_bytes())
        data[3] ^= 0x01
        (run_dir / "evidence" / "run.json").write_bytes(bytes(data))
        return files

    monkeypatch.setattr(evidence_store, "files_to_store", verify_then_change)
    bucket = new_bucket(s3)
    stored = upload_run(s3, run, S3Location(bucket, "audits"), retention_days=7)
    assert not stored.ok
    (bad,) = [c for c in stored.checks if not c.ok]
    assert bad.detail.startswith(f"s3://{bucket}/audits/{RUN_ID}/evidence/run.json: SHA-256")
    assert f"differs from {MANIFEST}" in bad.detail
    # verify finds it too: the object's bytes do not match the checksum stored with it
    failed = [c for c in verify_stored_run(s3, stored.location) if not c.ok]
    url = f"s3://{bucket}/audits/{RUN_ID}/evidence/run.json"
    assert ("file changed", True) in {(c.name, c.detail.startswith(f"{url}: ")) for c in failed}


@pytest.mark.parametrize("days", ["0", "36501", "many"])
def test_retention_days_out_of_range_are_bad_input(days: str, run: Path) -> None:
    code, out, _ = invoke("upload", str(run), "s3://evidence/audits", "--retention-days", days)
    assert code == 2 and out == ""


def test_the_cli_default_retention_is_the_evidence_stores() -> None:
    assert cli.main.DEFAULT_RETENTION_DAYS == DEFAULT_RETENTION_DAYS


# --- verify s3:// ----------------------------------------------------------------------------------


@pytest.fixture
def stored(s3: object, run: Path) -> S3Location:
    bucket = new_bucket(s3)
    return upload_run(s3, run, S3Location(bucket, "audits"), retention_days=7).location


def test_a_stored_run_verifies_in_place(s3: object, stored: S3Location, run: Path) -> None:
    checks = verify_stored_run(s3, stored)
    assert all_passed(checks), [c.line() for c in checks]
    local = [c.name for c in verify_run(run)]
    assert [c.name for c in checks] == [*local, "object lock", "written once"]
    code, out, err = invoke("verify", stored.url)
    assert code == 0, (out, err)
    assert "FAIL" not in out and f"all {len(run_files(run))} objects under COMPLIANCE retention" in out


def test_a_changed_object_fails_naming_it(s3: object, stored: S3Location) -> None:
    """A new version over a locked key (S3 and moto allow it; the locked version stays): verify
    reads the current version, and names the object in the hash, lock and version checks."""
    key = stored.key("evidence/run.json")
    original = s3.get_object(Bucket=stored.bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
    forged = original.replace(b"2026", b"2027")  # same size: only the hash can tell
    assert forged != original and len(forged) == len(original)
    (uploaded,) = versions_under(s3, stored.bucket, key)
    s3.put_object(Bucket=stored.bucket, Key=key, Body=forged)  # type: ignore[attr-defined]
    code, out, _ = invoke("verify", stored.url)
    assert code == 1
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    url = f"s3://{stored.bucket}/{key}"
    assert any(line.startswith(f"FAIL  file changed: {url}: SHA-256") for line in failed), failed
    assert any(line.startswith(f"FAIL  object lock: {url}: no Object Lock retention") for line in failed)
    assert any(line.startswith(f"FAIL  written once: {url}: 2 versions")
               and f"the first version, {uploaded['VersionId']} of" in line for line in failed), failed
    assert len(failed) == 3, failed


def test_an_added_object_fails_naming_it(s3: object, stored: S3Location) -> None:
    key = stored.key("evidence/controls/RC-9.9.csv")
    s3.put_object(Bucket=stored.bucket, Key=key, Body=b"control_id\nRC-9.9\n")  # type: ignore[attr-defined]
    checks = verify_stored_run(s3, stored)
    names = {(c.name, c.detail.split(": ")[0]) for c in checks if not c.ok}
    assert names == {("file added", f"s3://{stored.bucket}/{key}"),
                     ("object lock", f"s3://{stored.bucket}/{key}")}


def test_a_run_under_another_name_fails_the_run_id_check(s3: object, stored: S3Location) -> None:
    """Every object copied, locked, under another run id: the stored name must be the signed id."""
    other = S3Location(stored.bucket, "audits/20270101T000000Z")
    until = datetime.now(UTC) + timedelta(days=1)
    for obj in s3.list_objects_v2(Bucket=stored.bucket, Prefix=f"{stored.prefix}/")["Contents"]:  # type: ignore[attr-defined]
        body = s3.get_object(Bucket=stored.bucket, Key=obj["Key"])["Body"].read()  # type: ignore[attr-defined]
        s3.put_object(Bucket=stored.bucket, Key=obj["Key"].replace(stored.prefix, other.prefix), Body=body,  # type: ignore[attr-defined]
                      ObjectLockMode=LOCK_MODE, ObjectLockRetainUntilDate=until, ChecksumAlgorithm="SHA256")
    (check,) = [c for c in verify_stored_run(s3, other) if not c.ok]
    assert check.name == "run id"
    assert check.detail.startswith(f"{other.url}: the folder is named '20270101T000000Z'")
    assert RUN_ID in check.detail and "rolecall-verify-" not in check.detail


def test_verify_of_a_prefix_with_no_run_is_one_error(s3: object) -> None:
    bucket = new_bucket(s3)
    code, out, err = invoke("verify", f"s3://{bucket}/audits/{RUN_ID}")
    assert code == 2 and out == ""
    assert f"no stored run at s3://{bucket}/audits/{RUN_ID}" in one_error_line(err)


# --- one-line errors: bad URL, no credentials, AccessDenied ---------------------------------------


@pytest.mark.parametrize("url", ["gs://evidence/audits", "s3://", "s3:///audits", "s3://Bad_Bucket/x"])
def test_a_bad_url_is_one_line_and_exit_2(url: str, run: Path) -> None:
    for args in (("upload", str(run), url), ("verify", url)):
        code, out, err = invoke(*args)
        assert code == 2 and out == "", args
        one_error_line(err)
    code, _, err = invoke("verify", "s3://evidence")
    assert code == 2 and "give the run's own prefix" in one_error_line(err)


def test_verify_of_a_missing_local_folder_is_exit_2(tmp_path: Path) -> None:
    code, out, err = invoke("verify", str(tmp_path / "nope"))
    assert code == 2 and out == "" and "no such run folder" in one_error_line(err)


def test_missing_credentials_are_one_line(s3: object, run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = new_bucket(s3)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance metadata service
    for args in (("upload", str(run), f"s3://{bucket}/a"), ("verify", f"s3://{bucket}/a/{RUN_ID}")):
        code, out, err = invoke(*args)
        assert code == 2 and out == "", args
        assert "no AWS credentials found" in one_error_line(err)


@pytest.fixture
def denied_credentials(s3: object, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Keys of a moto IAM user allowed only s3:ListAllMyBuckets, with moto checking IAM for every
    request (moto's reset-auth switch), switched back off afterwards."""
    iam = boto3.client("iam")
    name = f"reader-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="list-only", PolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Action": "s3:ListAllMyBuckets", "Resource": "*"}]}'))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    bucket = new_bucket(s3)
    requests.post(f"{moto_endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        yield bucket
    finally:
        requests.post(f"{moto_endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()


def test_access_denied_is_one_line(denied_credentials: str, run: Path) -> None:
    bucket = denied_credentials
    code, out, err = invoke("upload", str(run), f"s3://{bucket}/a")
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert f"cannot read the Object Lock configuration of bucket {bucket}" in line and "AccessDenied" in line
    code, out, err = invoke("verify", f"s3://{bucket}/a/{RUN_ID}")
    assert code == 2 and out == "" and "AccessDenied" in one_error_line(err)
    assert os.environ["AWS_ACCESS_KEY_ID"] not in err  # the key is not echoed


# --- audit --upload -----------------------------------------------------------------------------


def test_audit_upload_to_a_bucket_without_object_lock_stops_before_collecting(
    s3: object, tmp_path: Path
) -> None:
    bucket = new_bucket(s3, object_lock=False)
    out_dir = tmp_path / "runs"
    # not --demo: the demo looks its bucket up in the simulated organization (test below)
    code, out, err = invoke("audit", "--out", str(out_dir), "--upload", f"s3://{bucket}/a")
    assert code == 2
    assert f"--upload: bucket {bucket} has no Object Lock" in one_error_line(err)
    assert list(out_dir.iterdir()) == []  # no run was started


def test_audit_upload_keeps_the_audits_exit_code_and_says_when_it_cannot_store(
    s3: object, run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The step after a signed run (the full demo audit is not needed to test it)."""
    bucket = new_bucket(s3)
    destination = S3Location(bucket, "audits")
    for audit_code in (1, 3):
        assert cli.main._upload_after_audit(run, destination, 7, None, None, audit_code) == (
            audit_code if audit_code == 1 else cli.main.EXIT_UPLOAD_FAILED)
    captured = capsys.readouterr()
    assert "already holds objects" in captured.err  # the second call found the run stored
    assert len(versions_under(s3, bucket)) == len(run_files(run))


def test_demo_upload_to_a_bucket_the_simulated_organization_lacks_stops_before_collecting(
    tmp_path: Path,
) -> None:
    """With --demo the bucket is looked up in the simulated organization (127.0.0.1), never in
    AWS, and a missing one is one line and exit 2 before any account is collected."""
    from tests.demo_run import run_cli

    code, output = run_cli("audit", "--demo", "--out", str(tmp_path), "--upload", "s3://no-such-evidence/runs")
    assert code == 2
    assert "no-such-evidence" in output and "NoSuchBucket" in output
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]  # no run was made

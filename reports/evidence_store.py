"""Evidence kept where it cannot be altered: a signed run folder in S3 under Object Lock (compliance mode).

`upload_run` stores a finished run folder that verifies locally, one object per file of its
manifest plus manifest.json and manifest.json.p7s, each with COMPLIANCE retention until a date no
one (root included) can shorten, then reads every object back and checks its SHA-256 against the
signed manifest. `verify_stored_run` downloads a stored run's current objects into a temporary
folder and runs the local verification on it (`reports.verify`, not a second copy of it), plus
the checks only S3 can answer: every object still under COMPLIANCE retention, and no key written
twice.

Refusals, before anything is written: a bucket without Object Lock, a run that is unfinished or
does not verify, a run prefix that already holds anything (versions and delete markers count).
Every put also carries `If-None-Match: *` (a concurrent writer loses) and the manifest's own
SHA-256 as its checksum, so S3 rejects bytes that differ from what was signed.

The S3 client is passed in; nothing here creates one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, FlexibleChecksumError, NoCredentialsError

from reports.manifest import MANIFEST, SIGNATURE, file_digest
from reports.sign import REPORT_PDF
from reports.verify import Check, all_passed, verify_run
from store.run_folder import PARTIAL

SCHEME = "s3://"
LOCK_MODE = "COMPLIANCE"
# An annual audit cycle (365 days) plus a month for the auditor's fieldwork and sign-off.
# Compliance-mode retention can never be shortened, so the default stays modest; longer
# retention (SOX: 7 years) is a deliberate --retention-days.
DEFAULT_RETENTION_DAYS = 400
MAX_RETENTION_DAYS = 36_500  # S3's own limit for a bucket's default retention: 100 years
RETENTION_ENV = "ROLECALL_RETENTION_DAYS"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CHUNK = 1024 * 1024


class EvidenceStoreError(Exception):
    """A refusal or an AWS failure, in one line: nothing was verified (or stored) beyond it."""


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (no leading or trailing slash; "" for the bucket's top)."""

    bucket: str
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}".rstrip("/")

    def child(self, name: str) -> S3Location:
        return S3Location(self.bucket, f"{self.prefix}/{name}" if self.prefix else name)

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def object_url(self, rel: str) -> str:
        return f"{SCHEME}{self.bucket}/{self.key(rel)}"


def is_s3_url(text: str) -> bool:
    return text.lower().startswith(SCHEME)


def parse_s3_url(text: str) -> S3Location:
    """s3://BUCKET[/PREFIX] as an S3Location, or an EvidenceStoreError saying what is wrong."""
    if not is_s3_url(text):
        raise EvidenceStoreError(f"{text!r} is not an S3 URL: give s3://BUCKET/PREFIX")
    bucket, _, prefix = text[len(SCHEME):].partition("/")
    if not bucket:
        raise EvidenceStoreError(f"{text!r} names no bucket: give s3://BUCKET/PREFIX")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise EvidenceStoreError(f"{text!r}: {bucket!r} is not a valid S3 bucket name (3-63 lowercase "
                                 "letters, digits, dots and hyphens)")
    prefix = prefix.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise EvidenceStoreError(f"{text!r}: the prefix may not hold empty, '.' or '..' segments")
    return S3Location(bucket, prefix)


def retain_until(days: int, now: datetime | None = None) -> datetime:
    """The retention date `days` from now, in whole seconds (S3 keeps no finer)."""
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise EvidenceStoreError(f"retention of {days} days: give 1 to {MAX_RETENTION_DAYS} days")
    return ((now or datetime.now(UTC)) + timedelta(days=days)).replace(microsecond=0)


def describe_aws_error(error: BaseException) -> str:
    """One line for a botocore error: the S3 error code and message, or what boto3 could not do."""
    if isinstance(error, NoCredentialsError):
        return ("no AWS credentials found (environment, --profile, ~/.aws/credentials, SSO or an "
                "instance role)")
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        code = info.get("Code") or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = info.get("Message") or ""
        return f"{code}: {message}".rstrip(": ") if message else str(code)
    return str(error)


@contextmanager
def _aws(what: str) -> Iterator[None]:
    """Turn a botocore error into an EvidenceStoreError that says what was being done."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise EvidenceStoreError(f"{what}: {describe_aws_error(error)}") from error


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def require_object_lock(s3: Any, bucket: str) -> None:
    """The bucket has Object Lock enabled; otherwise nothing stored there could be locked."""
    try:
        config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as error:
        if _code(error) == "ObjectLockConfigurationNotFoundError":
            config = {}
        else:
            raise EvidenceStoreError(f"cannot read the Object Lock configuration of bucket {bucket}: "
                                     f"{describe_aws_error(error)}") from error
    except BotoCoreError as error:
        raise EvidenceStoreError(f"cannot read the Object Lock configuration of bucket {bucket}: "
                                 f"{describe_aws_error(error)}") from error
    if config.get("ObjectLockEnabled") != "Enabled":
        raise EvidenceStoreError(
            f"bucket {bucket} has no Object Lock, so stored evidence could be altered or deleted: "
            f"store it in a bucket created with Object Lock (aws s3api create-bucket --bucket NAME "
            "--object-lock-enabled-for-bucket)")


# --- what is uploaded -------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFile:
    """One file of a run folder as it will be stored: its path in the run, SHA-256 and size."""

    rel: str
    sha256: str
    size: int


def files_to_store(run_dir: Path, ca_cert: Path | None = None) -> list[RunFile]:
    """Every file of a finished run that verifies, in upload order: the manifest's files, then
    manifest.json, then its signature last (a stored run without it is plainly incomplete)."""
    if run_dir.name.endswith(PARTIAL) or not run_dir.is_dir():
        raise EvidenceStoreError(f"{run_dir}: not a finished run folder (a run is evidence only once "
                                 "it is signed and renamed to its run id)")
    if not (run_dir / SIGNATURE).is_file():
        raise EvidenceStoreError(f"{run_dir}: no {SIGNATURE}, so the run is not signed evidence")
    checks = verify_run(run_dir, ca_cert)
    if not all_passed(checks):
        failed = "; ".join(f"{c.name}: {c.detail}" for c in checks if not c.ok)
        raise EvidenceStoreError(f"run {run_dir.name} does not verify, so it is not uploaded: {failed}")
    manifest = json.loads((run_dir / MANIFEST).read_bytes())
    files = [RunFile(e["path"], str(e["sha256"]).lower(), int(e["size"])) for e in manifest["files"]]
    for rel in (MANIFEST, SIGNATURE):
        sha256, size = file_digest(run_dir / rel)
        files.append(RunFile(rel, sha256, size))
    return files


@dataclass(frozen=True)
class StoredRun:
    """What `upload_run` did: where, locked until when, and the read-back check of every object."""

    location: S3Location
    retain_until: datetime
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all_passed(self.checks)


def upload_run(s3: Any, run_dir: Path, destination: S3Location, retention_days: int,
               ca_cert: Path | None = None, now: datetime | None = None) -> StoredRun:
    """Store run_dir under destination/RUN-ID with COMPLIANCE retention, then read it back.

    Refused (EvidenceStoreError, nothing written): an unfinished or unverifiable run, a bucket
    without Object Lock, a run prefix that holds anything already. A failure part-way leaves the
    objects written so far locked: the message says so and where.
    """
    until = retain_until(retention_days, now)
    files = files_to_store(run_dir, ca_cert)
    target = destination.child(run_dir.name)
    require_object_lock(s3, target.bucket)
    _require_empty(s3, target)
    versions: dict[str, str | None] = {}
    for index, f in enumerate(files):
        try:
            versions[f.rel] = _put(s3, target, run_dir, f, until)
        except (ClientError, BotoCoreError) as error:
            if isinstance(error, ClientError) and _code(error) == "PreconditionFailed":
                reason = "another writer stored an object there first"
            else:
                reason = describe_aws_error(error)
            written = (f"; the {index} objects written before it are locked until {until:%Y-%m-%d} "
                       f"and cannot be removed: upload the run under another prefix" if index else "")
            raise EvidenceStoreError(f"the upload stopped at {target.object_url(f.rel)}: "
                                     f"{reason}{written}") from error
    checks = [_read_back(s3, target, f, versions[f.rel], until) for f in files]
    return StoredRun(target, until, checks)


def _require_empty(s3: Any, target: S3Location) -> None:
    """Nothing, not even an old version or a delete marker, under the run's prefix."""
    with _aws(f"cannot list {target.url}/"):
        page = s3.list_object_versions(Bucket=target.bucket, Prefix=f"{target.prefix}/", MaxKeys=1)
    taken = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
    if taken:
        raise EvidenceStoreError(
            f"{target.url} already holds objects (first: {taken[0]['Key']}): a stored run is never "
            "overwritten; nothing was uploaded")


def _put(s3: Any, target: S3Location, run_dir: Path, f: RunFile, until: datetime) -> str | None:
    with (run_dir / f.rel).open("rb") as body:
        response = s3.put_object(
            Bucket=target.bucket, Key=target.key(f.rel), Body=body, ContentLength=f.size,
            ObjectLockMode=LOCK_MODE, ObjectLockRetainUntilDate=until,
            ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(f.sha256), IfNoneMatch="*",
        )
    return response.get("VersionId")


def _b64(sha256_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def _read_back(s3: Any, target: S3Location, f: RunFile, version_id: str | None,
               until: datetime) -> Check:
    """The stored version's bytes hash to the manifest's SHA-256 and it is locked long enough."""
    url = target.object_url(f.rel)
    extra = {"VersionId": version_id} if version_id else {}
    # manifest.json and its signature cannot be listed in the manifest: their hash is the run folder's
    reference = "the run folder" if f.rel in (MANIFEST, SIGNATURE) else MANIFEST
    try:
        response = s3.get_object(Bucket=target.bucket, Key=target.key(f.rel), **extra)
        sha256, size = _hash_stream(response["Body"])
    except FlexibleChecksumError as error:  # botocore checked the bytes against the checksum we sent
        return Check("stored", False, f"{url}: SHA-256 differs from {reference}: {error}")
    except (ClientError, BotoCoreError) as error:
        return Check("stored", False, f"{url}: cannot be read back: {describe_aws_error(error)}")
    problems = []
    if sha256 != f.sha256 or size != f.size:
        problems.append(f"SHA-256 {sha256} ({size} bytes) differs from {reference} ({f.sha256}, "
                        f"{f.size} bytes)")
    problems.extend(_lock_problems(response, until, "the requested"))
    if problems:
        return Check("stored", False, f"{url}: {'; '.join(problems)}")
    return Check("stored", True, f"{url}: SHA-256 as in {reference}, {LOCK_MODE} until "
                                 f"{_when(response['ObjectLockRetainUntilDate'])}")


def _hash_stream(body: Any) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: body.read(_CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _lock_problems(response: dict[str, Any], at_least: datetime, label: str) -> list[str]:
    """What keeps an object from being locked in compliance mode until at least `at_least`.

    Read from GetObject's own headers (S3 returns them to a caller with s3:GetObjectRetention):
    the version whose bytes were hashed is the version whose retention is judged."""
    mode = response.get("ObjectLockMode")
    until = response.get("ObjectLockRetainUntilDate")
    if not mode or until is None:
        return ["no Object Lock retention (none set, or the caller lacks s3:GetObjectRetention)"]
    problems = []
    if mode != LOCK_MODE:
        problems.append(f"retention mode {mode}, not {LOCK_MODE} (governance mode can be bypassed)")
    if until < at_least:
        problems.append(f"retained only until {_when(until)}, before {label} {_when(at_least)}")
    return problems


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- verifying a stored run ---------------------------------------------------------------------


def verify_stored_run(s3: Any, location: S3Location, ca_cert: Path | None = None,
                      now: datetime | None = None, tsa_cert: Path | None = None) -> list[Check]:
    """Every check of `rolecall verify` on the run's current objects, plus Object Lock and versions.

    The run's current objects are downloaded into a temporary folder named after the last segment
    of the prefix (so the run id check compares it with the signed run id); a failing check names
    the object. EvidenceStoreError when there is nothing to verify (no objects, no access).
    """
    if not location.prefix:
        raise EvidenceStoreError(f"{location.url}: give the run's own prefix, s3://BUCKET/PREFIX/RUN-ID")
    run_id = location.prefix.rsplit("/", 1)[-1]
    moment = now or datetime.now(UTC)
    versions, markers = _versions(s3, location)
    current = _current_objects(s3, location)
    if not current:
        raise EvidenceStoreError(f"no stored run at {location.url}: no objects under it")
    checks: list[Check] = []
    with tempfile.TemporaryDirectory(prefix="rolecall-verify-") as tmp:
        run_dir = Path(tmp) / run_id
        run_dir.mkdir()
        lock_checks: list[Check] = []
        locked: list[datetime] = []
        for key in current:
            rel = key[len(location.prefix) + 1:]
            url = f"{SCHEME}{location.bucket}/{key}"
            if not _is_run_path(rel):
                checks.append(Check("file added", False, f"{url}: not a file path a run folder holds"))
                continue
            try:
                response = _download(s3, location.bucket, key, run_dir / rel)
            except FlexibleChecksumError as error:  # S3's own checksum of the object fails
                (run_dir / rel).unlink(missing_ok=True)
                checks.append(Check("file changed", False, f"{url}: does not match the checksum S3 "
                                                           f"stored with it: {error}"))
                continue
            problems = _lock_problems(response, moment, "now,")
            if problems:
                lock_checks.append(Check("object lock", False, f"{url}: {'; '.join(problems)}"))
            else:
                locked.append(response["ObjectLockRetainUntilDate"])
        known = _known_paths(run_dir)
        checks.extend(_named_in_s3(c, run_dir, location, known)
                      for c in verify_run(run_dir, ca_cert, tsa_cert))
    checks.extend(lock_checks)
    if not lock_checks:
        checks.append(Check("object lock", bool(locked), f"all {len(locked)} objects under {LOCK_MODE} "
                            f"retention, the earliest until {_when(min(locked))}" if locked
                            else "no object could be checked"))
    checks.extend(_version_checks(location, versions, markers))
    return checks


def _versions(s3: Any, location: S3Location) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Every version of every key under the run (oldest first), and delete markers per key."""
    versions: dict[str, list[dict[str, Any]]] = {}
    markers: dict[str, int] = {}
    with _aws(f"cannot list the versions under {location.url}/"):
        for page in s3.get_paginator("list_object_versions").paginate(
                Bucket=location.bucket, Prefix=f"{location.prefix}/"):
            for v in page.get("Versions", []):
                versions.setdefault(v["Key"], []).append(v)
            for m in page.get("DeleteMarkers", []):
                markers[m["Key"]] = markers.get(m["Key"], 0) + 1
    for listed in versions.values():
        listed.reverse()  # S3 lists a key's versions newest first; LastModified may tie in a second
        listed.sort(key=lambda v: v["LastModified"])
    return versions, markers


def _current_objects(s3: Any, location: S3Location) -> list[str]:
    with _aws(f"cannot list {location.url}/"):
        return [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket, Prefix=f"{location.prefix}/") for o in page.get("Contents", [])]


def _is_run_path(rel: str) -> bool:
    """A key below the run's prefix that maps to exactly one file path inside a folder."""
    parts = rel.split("/")
    return bool(rel) and all(p not in ("", ".", "..") for p in parts) and \
        PurePosixPath(rel).as_posix() == rel


def _download(s3: Any, bucket: str, key: str, path: Path) -> dict[str, Any]:
    """The current version of one object into `path`; the GetObject response (its lock headers).
    FlexibleChecksumError passes through: the object is damaged, which is a failed check."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            for chunk in iter(lambda: response["Body"].read(_CHUNK), b""):
                out.write(chunk)
    except FlexibleChecksumError:
        raise
    except (ClientError, BotoCoreError) as error:
        url = f"{SCHEME}{bucket}/{key}"
        raise EvidenceStoreError(f"cannot read {url}: {describe_aws_error(error)}") from error
    return response


def _known_paths(run_dir: Path) -> set[str]:
    """The run's file paths: those downloaded, and those its manifest lists (read as far as it can
    be; the manifest's own check says whether it is sound)."""
    known = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}
    known |= {MANIFEST, SIGNATURE, REPORT_PDF}
    with suppress(OSError, ValueError, KeyError, TypeError):
        known |= {str(e["path"]) for e in json.loads((run_dir / MANIFEST).read_bytes())["files"]}
    return known


def _named_in_s3(check: Check, run_dir: Path, location: S3Location, known: set[str]) -> Check:
    """The local check as it reads for the stored run: the temporary folder is the S3 location,
    and a detail that starts with a file of the run starts with that file's object instead."""
    detail = check.detail.replace(str(run_dir), location.url)
    rel, sep, rest = detail.partition(": ")
    if sep and rel in known:
        detail = f"{location.object_url(rel)}: {rest}"
    return Check(check.name, check.ok, detail)


def _version_checks(location: S3Location, versions: dict[str, list[dict[str, Any]]],
                    markers: dict[str, int]) -> list[Check]:
    """Each key was written once: a second version or a delete marker means someone wrote over
    the stored run (the locked original is still there, and its version id is named)."""
    checks = []
    for key in sorted(set(versions) | set(markers)):
        listed = versions.get(key, [])
        if len(listed) <= 1 and not markers.get(key):
            continue
        first = (f"; the first version, {listed[0]['VersionId']} of {_when(listed[0]['LastModified'])}, "
                 "is the one uploaded" if listed else "")
        checks.append(Check("written once", False,
                            f"{SCHEME}{location.bucket}/{key}: {len(listed)} versions and "
                            f"{markers.get(key, 0)} delete markers: written over after the upload{first}"))
    return checks or [Check("written once", True, f"every object under {location.url} has one version "
                                                  "and no delete marker")]

"""Sign-off: a preparer's, reviewer's or management's countersignature on a finished run.

`attest_run` adds two signatures, made with the attester's own key:
- a further PAdES signature on report.pdf, as an incremental update: the bytes signed at run time
  stay a prefix of the file, so the run-time signature (and the manifest's hash of the PDF as
  signed then) stays valid, and pyHanko's difference analysis sees that only a signature was added;
- a detached CMS signature over attestations/NN-<role>.json, which records the run id, the role,
  the statement, the attester's certificate, the SHA-256 of manifest.json and of report.pdf as it
  was before this countersignature, and the time: "the manifest plus the statement".

Nothing is published until both signatures (and their timestamps) are made: a bad key or a
time-stamping service that fails leaves the run exactly as it was.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm

from reports.keys import SigningIdentity
from reports.manifest import ATTESTATIONS, MANIFEST, SIGNATURE, canonical_bytes, file_digest
from reports.sign import REPORT_PDF, detached_signature, sign_pdf_to

if TYPE_CHECKING:
    from pyhanko.sign.timestamps import HTTPTimeStamper

ROLES = ("preparer", "reviewer", "management")
FORMAT = "rolecall-attestation/1"
FIELD_PREFIX = "rolecall-attest-"
# attestations/01-reviewer.json and its signature attestations/01-reviewer.json.p7s
NAME = re.compile(r"^(?P<number>\d{2,})-(?P<role>[a-z]+)\.json$")


class AttestError(ValueError):
    """The run cannot be countersigned as asked; the message says why."""


@dataclass(frozen=True)
class Attestation:
    record: Path  # attestations/NN-<role>.json
    signature: Path  # its detached CMS signature, .p7s
    field_name: str  # the PDF signature field of the countersignature
    role: str


def field_name(stem: str) -> str:
    """The PDF signature field of attestation `stem` (e.g. "01-reviewer")."""
    return f"{FIELD_PREFIX}{stem}"


def role_of_field(name: str) -> str | None:
    """The role a countersignature field names, or None for a field rolecall did not make."""
    if not name.startswith(FIELD_PREFIX):
        return None
    match = NAME.match(name.removeprefix(FIELD_PREFIX) + ".json")
    return match["role"] if match else None


def attest_run(
    run_dir: Path,
    identity: SigningIdentity,
    *,
    role: str,
    statement: str,
    timestamper: HTTPTimeStamper | None = None,
) -> Attestation:
    """Countersign run_dir as `role` with `statement`; returns what was written."""
    manifest = _finished_run(run_dir)
    if role not in ROLES:
        raise AttestError(f"role {role!r}: give one of {', '.join(ROLES)}")
    statement = statement.strip()
    if not statement:
        raise AttestError("give the statement being signed (--statement TEXT)")
    _check_countersignable(run_dir / REPORT_PDF)
    folder = run_dir / ATTESTATIONS
    stem = f"{_next_number(folder):02d}-{role}"
    pdf = run_dir / REPORT_PDF
    pdf_sha256, pdf_size = file_digest(pdf)
    record = {
        "format": FORMAT,
        "run_id": manifest["run_id"],
        "role": role,
        "statement": statement,
        "attester": {"subject": identity.subject, "certificate_sha256": identity.fingerprint},
        "manifest_sha256": file_digest(run_dir / MANIFEST)[0],
        "report_pdf_before": {"sha256": pdf_sha256, "size": pdf_size},
        "pdf_signature_field": field_name(stem),
        "signed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    body = canonical_bytes(record)
    fd, staged = tempfile.mkstemp(dir=run_dir, prefix=f".{REPORT_PDF}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            sign_pdf_to(pdf, out, identity, reason=f"{role}: {statement}", certify=False,
                        field_name=field_name(stem), timestamper=timestamper)
            out.flush()
            os.fsync(out.fileno())
        signature = detached_signature(body, identity, timestamper)
        if file_digest(pdf)[0] != pdf_sha256:
            raise AttestError(f"{REPORT_PDF} changed while it was being countersigned; try again")
        written = _publish(folder, stem, body, signature)
        try:
            os.chmod(staged, pdf.stat().st_mode & 0o777)
            os.replace(staged, pdf)
        except OSError:
            _remove(written, folder)
            raise
    finally:
        Path(staged).unlink(missing_ok=True)
    return Attestation(written[0], written[1], field_name(stem), role)


def _finished_run(run_dir: Path) -> dict[str, Any]:
    """The run's manifest, refusing a folder that is not a finished, signed run."""
    if not run_dir.is_dir():
        raise AttestError(f"{run_dir}: no such run folder")
    for name in (MANIFEST, SIGNATURE, REPORT_PDF):
        if not (run_dir / name).is_file():
            raise AttestError(f"{run_dir}: has no {name}, so it is not a finished, signed run")
    try:
        manifest = json.loads((run_dir / MANIFEST).read_bytes())
        run_id = manifest["run_id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AttestError(f"{run_dir / MANIFEST}: unreadable ({exc})") from exc
    if not isinstance(run_id, str) or not run_id:
        raise AttestError(f"{run_dir / MANIFEST}: names no run id")
    return manifest


def _check_countersignable(pdf: Path) -> None:
    """A report certified with "no changes" (runs signed before countersignatures existed) would
    be invalidated by one more signature: refuse rather than damage the evidence."""
    with pdf.open("rb") as f:
        signatures = PdfFileReader(f, strict=False).embedded_signatures
        if not signatures:
            raise AttestError(f"{pdf}: has no signature, so it is not a finished, signed run")
        if signatures[0].docmdp_level == MDPPerm.NO_CHANGES:
            raise AttestError(f"{pdf}: certified with no changes permitted (signed before "
                              "countersignatures existed); it cannot be countersigned")


def _next_number(folder: Path) -> int:
    numbers = [int(m["number"]) for p in folder.glob("*.json") if (m := NAME.match(p.name))]
    return max(numbers, default=0) + 1


def _publish(folder: Path, stem: str, body: bytes, signature: bytes) -> tuple[Path, Path]:
    """Create attestations/<stem>.json.p7s, then <stem>.json, each whole or not at all and never
    over an existing file (a concurrent attest with the same number loses and changes nothing)."""
    folder.mkdir(exist_ok=True)
    record, p7s = folder / f"{stem}.json", folder / f"{stem}.json.p7s"
    written: list[Path] = []
    try:
        for path, data in ((p7s, signature), (record, body)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            written.append(path)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
    except OSError as exc:
        _remove(written, folder)
        if isinstance(exc, FileExistsError):
            raise AttestError(f"{exc.filename} already exists: another attestation was added at "
                              "the same time; try again") from exc
        raise
    return record, p7s


def _remove(written: list[Path] | tuple[Path, ...], folder: Path) -> None:
    """Undo a half-published attestation, and its folder when nothing else is in it."""
    for path in written:
        path.unlink(missing_ok=True)
    with suppress(OSError):
        folder.rmdir()  # fails, as it should, when other attestations are there

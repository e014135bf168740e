"""Verify a run folder (the evidence pack) offline: signatures, hashes, nothing missing or added.

`verify_run` returns one `Check` per line the CLI prints; the run verifies only when every check
passes. A failing check names the file and what is wrong. Nothing is fetched from the network:
no OCSP, no CRL, no timestamp server, no system trust store.

Trust: with `ca_cert`, every signature must chain to that certificate. Without it each signer
vouches for itself (its own certificate is the trust anchor), which proves integrity but not
identity; the check says so and names the subject and fingerprint to compare out of band.
Timestamps likewise chain to `tsa_cert` when given, else to the TSA certificate in the token.

Every signature is its own line: who signed, in which role (run signer, preparer, reviewer,
management), when (the signer's clock, and the trusted time of its RFC 3161 token when it has
one, after checking that the token's message imprint is the hash of that very signature), what it
covers (a PDF revision, manifest.json, an attestation file) and whether it was added after the
report was signed. report.pdf may have grown after the run only by countersignatures: the manifest
lists the PDF as signed at run time, which must be an exact prefix of the file, and every later
revision must add a signature and nothing else.

A folder is its run: the run id signed into manifest.json must be the folder's name, so a renamed
folder, or one run's files copied under another run's name, does not verify.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from asn1crypto import cms, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import (
    SignatureCoverageLevel,
    SignatureStatus,
    StandardCMSSignatureStatus,
)
from pyhanko_certvalidator import ValidationContext

from reports.attest import FORMAT as ATTESTATION_FORMAT
from reports.attest import NAME as ATTESTATION_NAME
from reports.attest import field_name as attestation_field
from reports.attest import role_of_field
from reports.keys import SIGNING_KEY_USAGES, certificate_fingerprint
from reports.manifest import (
    ATTESTATIONS,
    MANIFEST,
    SIGNATURE,
    ManifestError,
    file_digest,
    run_files,
)
from reports.pdf_objects import read_object_streams_once
from reports.sign import REPORT_PDF
from reports.timestamps import signature_token, token_facts

RUN_SIGNER = "run signer"

# Either usage is enough; requiring nonRepudiation alone (pyHanko's default) would reject many
# organizations' document-signing certificates.
_KEY_USAGE = KeyUsageConstraints(key_usage=set(SIGNING_KEY_USAGES), match_all_key_usages=False)
# pyHanko logs every failed path building with a traceback; the check's own line says it once.
_NOISY_LOGGERS = ("pyhanko", "pyhanko_certvalidator")


class TrustAnchorError(ValueError):
    """A --ca file that cannot serve as a trust anchor (unreadable, not one certificate)."""


@dataclass(frozen=True)
class Check:
    """One verification step: its name, whether it passed, and what was found (file named)."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def all_passed(checks: list[Check]) -> bool:
    """The CLI's exit status: a run with no checks at all has not been verified."""
    return bool(checks) and all(c.ok for c in checks)


def load_ca(path: Path) -> asn1_x509.Certificate:
    """The one certificate (PEM or DER) in `path`, fully parsed, or a TrustAnchorError saying in
    one line why the file cannot be a trust anchor (missing, a folder, a key, a bundle, junk)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrustAnchorError(f"{path}: cannot read the CA certificate: {exc.strerror or exc}") from exc
    try:
        if pem.detect(data):
            blocks = list(pem.unarmor(data, multiple=True))
            ders = [der for kind, _, der in blocks if kind.upper() == "CERTIFICATE"]
            if not ders:
                kinds = ", ".join(sorted({kind for kind, _, _ in blocks}))
                raise TrustAnchorError(f"{path}: holds no certificate (PEM blocks: {kinds})")
        else:
            ders = [data]
        if len(ders) != 1:
            raise TrustAnchorError(f"{path}: holds {len(ders)} certificates; give the one CA "
                                   "certificate that must vouch for the signer")
        x509.load_der_x509_certificate(ders[0])  # asn1crypto parses lazily: fail here, not later
        return asn1_x509.Certificate.load(ders[0])
    except TrustAnchorError:
        raise
    except (ValueError, TypeError) as exc:
        raise TrustAnchorError(f"{path}: not a PEM or DER certificate") from exc


def verify_run(run_dir: Path, ca_cert: Path | None = None, tsa_cert: Path | None = None) -> list[Check]:
    """Every check of run_dir, in the order an auditor would do them by hand."""
    with _quiet_validation_logs():
        return _verify_run(run_dir, ca_cert, tsa_cert)


@dataclass(frozen=True)
class _Anchors:
    """The trust anchors given: a CA for signers, a certificate for time-stamping authorities."""

    ca: asn1_x509.Certificate | None
    tsa: asn1_x509.Certificate | None


def _verify_run(run_dir: Path, ca_cert: Path | None, tsa_cert: Path | None) -> list[Check]:
    if not run_dir.is_dir():
        return [Check("run folder", False, f"{run_dir}: not a folder")]
    checks: list[Check] = []
    try:
        anchors = _Anchors(load_ca(ca_cert) if ca_cert is not None else None,
                           load_ca(tsa_cert) if tsa_cert is not None else None)
    except TrustAnchorError as exc:
        return [Check("trust anchor", False, str(exc))]

    manifest_path = run_dir / MANIFEST
    manifest_bytes = manifest_path.read_bytes() if manifest_path.is_file() else None
    cms_signer: asn1_x509.Certificate | None = None
    if manifest_bytes is None:
        checks.append(Check("manifest signature", False, f"{MANIFEST}: missing"))
    else:
        check, cms_signer = _check_manifest_signature(manifest_bytes, run_dir / SIGNATURE, anchors)
        checks.append(check)

    manifest = _parse_manifest(manifest_bytes, checks)
    if manifest is not None:
        checks.append(_check_run_id(run_dir, manifest))
        file_checks = _check_files(run_dir, manifest)
        if not checks[0].ok:
            # Compared against a manifest that failed its own check: say so on every line.
            checks[1:] = [_unverified(c) for c in checks[1:]]
            file_checks = [_unverified(c) for c in file_checks]
        checks.extend(file_checks)

    pdf_checks, pdf_signatures = _check_pdf(run_dir / REPORT_PDF, anchors, cms_signer,
                                            _listed_size(manifest, REPORT_PDF))
    checks.extend(pdf_checks)
    if manifest is not None and manifest_bytes is not None:
        checks.extend(_check_attestations(run_dir, manifest_bytes, manifest, pdf_signatures[1:],
                                          anchors))
    pdf_signer = pdf_signatures[0].signer if pdf_signatures else None
    checks.append(_check_same_signer(manifest, cms_signer, pdf_signer))
    return checks


def _listed_size(manifest: dict[str, Any] | None, rel: str) -> int | None:
    for entry in (manifest or {}).get("files", []):
        if entry["path"] == rel:
            return int(entry["size"])
    return None


@contextmanager
def _quiet_validation_logs() -> Iterator[None]:
    """Silence pyHanko's own logging while validating: a signer that does not chain to --ca is a
    FAIL line, not 40 lines of traceback on stderr before it."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _unverified(check: Check) -> Check:
    return Check(check.name, check.ok, f"{check.detail} (by an unverified {MANIFEST})")


def _check_run_id(run_dir: Path, manifest: dict[str, Any]) -> Check:
    """The run id signed into the manifest must be the folder's name: a renamed folder, or one
    run's files copied under another run's name, would otherwise pass as that other run."""
    name = "run id"
    folder = run_dir.resolve().name
    run_id = manifest.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        return Check(name, False, f"{MANIFEST}: names no run id, so the folder {folder!r} cannot "
                                  "be matched to a run")
    if run_id != folder:
        return Check(name, False, f"{run_dir}: the folder is named {folder!r} but {MANIFEST} is "
                                  f"signed for run {run_id!r} (a renamed run folder, or another run "
                                  "copied under this name)")
    return Check(name, True, f"the folder's name is the run id signed in {MANIFEST} ({run_id})")


def _trust(ca: asn1_x509.Certificate | None, signer: asn1_x509.Certificate) -> ValidationContext:
    """Offline validation context: the given CA, or the signer itself as a self-asserted anchor."""
    return ValidationContext(
        trust_roots=[ca if ca is not None else signer],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )


def _name(cert: asn1_x509.Certificate) -> str:
    """The subject's common name, or the whole subject when it has none."""
    return str(cert.subject.native.get("common_name") or cert.subject.human_friendly)


def _who(cert: asn1_x509.Certificate) -> str:
    return f"'{_name(cert)}' (certificate SHA-256 {certificate_fingerprint(cert)})"


def _trust_note(ca: asn1_x509.Certificate | None) -> str:
    if ca is None:
        return ("self-asserted: no --ca given, so the signer vouches for itself; compare the "
                "fingerprint with one obtained out of band")
    return f"chains to the CA '{_name(ca)}'"


def _status_problems(status: SignatureStatus, ca: asn1_x509.Certificate | None) -> list[str]:
    problems = []
    if not status.intact:
        problems.append("the signed content was changed (digest mismatch)")
    if not status.valid:
        problems.append("the cryptographic signature is invalid")
    if status.intact and status.valid and not status.trusted:
        anchor = f"the CA {_name(ca)}" if ca is not None else "its own certificate"
        indic = status.trust_problem_indic.name if status.trust_problem_indic else "no path"
        problems.append(f"the signer does not chain to {anchor} ({indic})")
    return problems


def _utc(moment: datetime | None) -> str:
    return "unknown" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tsa_context(
    signer_info: cms.SignerInfo, anchors: _Anchors
) -> ValidationContext | None:
    """Offline context for the signature's timestamp: --tsa-ca, else the TSA's own certificate
    carried in the token (self-asserted, like a signer without --ca)."""
    token = signature_token(signer_info)
    if token is None:
        return None
    roots = [anchors.tsa] if anchors.tsa is not None else [
        c.chosen for c in token["certificates"] if c.name == "certificate"
    ]
    return ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")


def _timing(
    signer_info: cms.SignerInfo, status: StandardCMSSignatureStatus, anchors: _Anchors
) -> tuple[str, list[str]]:
    """When, as a phrase, and what is wrong with the timestamp token, if anything.

    The token must cover its own signature: its message imprint is compared here with the hash
    of the signature value, and pyHanko's timestamp status must say intact, valid and trusted.
    """
    when = f"signer's clock {_utc(status.signer_reported_dt)}"
    try:
        facts = token_facts(signer_info)
    except (ValueError, KeyError, TypeError) as exc:
        return when, [f"its timestamp token cannot be read: {exc}"]
    if facts is None:
        return f"{when}; no trusted time (no timestamp token)", []
    problems = []
    if not facts.covers_signature:
        problems.append("its timestamp token does not cover this signature (the token's message "
                        "imprint is not the hash of the signature value)")
    stamp = status.timestamp_validity
    if stamp is None:
        problems.append("its timestamp token could not be validated")
    elif facts.covers_signature and not (stamp.intact and stamp.valid):
        problems.append("its timestamp token is damaged or not validly signed")
    elif stamp.intact and stamp.valid and not stamp.trusted:
        anchor = f"the TSA certificate '{_name(anchors.tsa)}'" if anchors.tsa else "its own certificate"
        problems.append(f"its timestamp's TSA does not chain to {anchor}")
    tsa_trust = "chains to --tsa-ca" if anchors.tsa is not None else "self-asserted TSA certificate"
    return f"{when}; trusted time {_utc(facts.time)} from TSA '{facts.tsa}' ({tsa_trust})", problems


@dataclass(frozen=True)
class _CmsResult:
    signer: asn1_x509.Certificate
    problems: list[str]
    when: str
    intact: bool


def _validate_detached(data: bytes, p7s: bytes, anchors: _Anchors,
                       anchor: asn1_x509.Certificate | None = None) -> _CmsResult:
    """A detached CMS signature over data: validity, trust (--ca, else `anchor`, else the
    signer itself) and its timestamp. Raises ValueError for what is not a CMS signature."""
    info = cms.ContentInfo.load(p7s)
    if info["content_type"].native != "signed_data":
        raise ValueError(f"content type is {info['content_type'].native}, not signed data")
    signed_data = info["content"]
    signer = extract_certificate_info(signed_data).signer_cert
    signer_info = signed_data["signer_infos"][0]
    status = asyncio.run(
        async_validate_detached_cms(
            data, signed_data, signer_validation_context=_trust(anchors.ca, anchor or signer),
            ts_validation_context=_tsa_context(signer_info, anchors),
            key_usage_settings=_KEY_USAGE,
        )
    )
    when, time_problems = _timing(signer_info, status, anchors)
    return _CmsResult(signer, _status_problems(status, anchors.ca) + time_problems, when,
                      status.intact)


def _check_manifest_signature(
    manifest_bytes: bytes, p7s: Path, anchors: _Anchors
) -> tuple[Check, asn1_x509.Certificate | None]:
    """The detached CMS signature in manifest.json.p7s over the exact bytes of manifest.json."""
    name = "manifest signature"
    if not p7s.is_file():
        return Check(name, False, f"{SIGNATURE}: missing"), None
    try:
        result = _validate_detached(manifest_bytes, p7s.read_bytes(), anchors)
    except Exception as exc:  # any parse or validation error is a failed check, not a crash
        return Check(name, False, f"{SIGNATURE}: not a valid CMS signature: {exc}"), None
    if not result.intact:
        return Check(name, False, f"{MANIFEST}: changed since it was signed (its digest does not match "
                                  f"the one in {SIGNATURE})"), result.signer
    if result.problems:
        return Check(name, False, f"{SIGNATURE}: {'; '.join(result.problems)}"), result.signer
    return Check(
        name, True,
        f"{SIGNATURE}: valid over {MANIFEST}, signed by {_who(result.signer)} as {RUN_SIGNER}; "
        f"{result.when}; {_trust_note(anchors.ca)}",
    ), result.signer


def _parse_manifest(manifest_bytes: bytes | None, checks: list[Check]) -> dict[str, Any] | None:
    if manifest_bytes is None:
        return None
    try:
        manifest = json.loads(manifest_bytes)
        files = manifest["files"]
        for entry in files:
            _safe_path(entry["path"])
            str(entry["sha256"])
            int(entry["size"])
    except (ValueError, KeyError, TypeError) as exc:
        checks.append(Check("manifest", False, f"{MANIFEST}: unreadable: {exc}"))
        return None
    return manifest


def _safe_path(rel: str) -> str:
    """A manifest path must stay inside the run folder: no absolute paths, no `..`."""
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"path {rel!r} leaves the run folder")
    return rel


def _check_files(run_dir: Path, manifest: dict[str, Any]) -> list[Check]:
    """No file missing, none added, and every size and SHA-256 as listed; report.pdf may have
    grown by countersignatures, so what the manifest hashes is its prefix as signed at run time,
    and attestations/ is checked file by file in `_check_attestations`."""
    listed = {e["path"]: e for e in manifest["files"]}
    try:
        present = {p for p in run_files(run_dir) if not _is_attestation_file(p)}
    except ManifestError as exc:
        return [Check("no file added", False, str(exc))]
    checks: list[Check] = []

    missing = sorted(set(listed) - present)
    checks.extend(Check("file missing", False, f"{p}: listed in {MANIFEST} but not in the folder")
                  for p in missing)
    if not missing:
        checks.append(Check("no file missing", True, f"all {len(listed)} files of {MANIFEST} are present"))

    added = sorted(present - set(listed))
    checks.extend(Check("file added", False, f"{p}: in the folder but not in {MANIFEST}") for p in added)
    if not added:
        later = f" (and {ATTESTATIONS}/, checked below)" if (run_dir / ATTESTATIONS).is_dir() else ""
        checks.append(Check("no file added", True, f"the folder holds no file beyond {MANIFEST}{later}"))

    changed: list[Check] = []
    total = 0
    grown: list[str] = []
    for rel in sorted(set(listed) & present):
        entry = listed[rel]
        size = (run_dir / rel).stat().st_size
        expected = int(entry["size"])
        if size != expected and not (rel == REPORT_PDF and size > expected):
            changed.append(Check("file changed", False,
                                 f"{rel}: size {size} bytes, {MANIFEST} says {entry['size']}"))
            continue
        sha256 = _prefix_digest(run_dir / rel, expected)
        total += expected
        if sha256 != str(entry["sha256"]).lower():
            what = "SHA-256" if size == expected else f"SHA-256 of its first {expected} bytes (as signed)"
            changed.append(Check("file changed", False,
                                 f"{rel}: {what} {sha256} differs from {MANIFEST} ({entry['sha256']})"))
        elif size != expected:
            grown.append(f"{rel} is as signed at run time plus {size - expected:,} bytes of later "
                         "revisions (checked as countersignatures below)")
    checks.extend(changed)
    if not changed:
        checks.append(Check("file hashes", True,
                            f"size and SHA-256 of {len(set(listed) & present)} files match "
                            f"({total:,} bytes)" + "".join(f"; {g}" for g in grown)))
    return checks


def _is_attestation_file(rel: str) -> bool:
    return PurePosixPath(rel).parts[0] == ATTESTATIONS


def _prefix_digest(path: Path, size: int) -> str:
    """SHA-256 of the first `size` bytes of path (the whole file when it is that long)."""
    if path.stat().st_size == size:
        return file_digest(path)[0]
    digest = hashlib.sha256()
    with path.open("rb") as f:
        remaining = size
        while remaining > 0:
            chunk = f.read(min(remaining, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class _PdfSignature:
    """One signature of report.pdf as verify found it (for the attestation cross-checks)."""

    field: str
    signer: asn1_x509.Certificate | None  # None when the signature could not be read
    before: int  # bytes of the PDF before this signature's revision (what an attester saw)
    ok: bool


def _check_pdf(
    pdf: Path, anchors: _Anchors, manifest_signer: asn1_x509.Certificate | None,
    signed_size: int | None,
) -> tuple[list[Check], list[_PdfSignature]]:
    """Every PAdES signature of report.pdf, one line each: the run-time one first, then each
    countersignature; together they must cover the entire file, and each revision after a
    signature may only add the later signatures."""
    name = "pdf signature"
    if not pdf.is_file():
        return [Check(name, False, f"{pdf.name}: missing")], []
    try:
        with pdf.open("rb") as f:
            reader = PdfFileReader(f, strict=False)
            read_object_streams_once(reader)  # a tagged PDF's difference analysis: seconds, not minutes
            embedded = reader.embedded_signatures
            if not embedded:
                return [Check(name, False, f"{pdf.name}: has no signature")], []
            revisions = reader.xrefs.total_revisions
            checks, found = [], []
            for index, signature in enumerate(embedded):
                try:
                    check, seen = _check_one_pdf_signature(
                        pdf.name, signature, index, embedded, revisions, anchors, manifest_signer,
                        signed_size,
                    )
                except Exception as exc:  # one damaged signature: named, the others still listed
                    label = f"signature {index + 1} of {len(embedded)} ({signature.field_name})"
                    check = Check("pdf signature" if index == 0 else "pdf countersignature", False,
                                  f"{pdf.name}: {label}: cannot be validated: {exc}")
                    seen = _PdfSignature(signature.field_name, None,
                                         0 if index == 0 else _end_of(embedded[index - 1]), False)
                checks.append(check)
                found.append(seen)
    except Exception as exc:  # a damaged PDF is a failed check, not a crash
        return [Check(name, False, f"{pdf.name}: cannot be read or validated: {exc}")], []
    return checks, found


def _check_one_pdf_signature(
    pdf_name: str, signature: Any, index: int, embedded: list[Any], revisions: int,
    anchors: _Anchors, manifest_signer: asn1_x509.Certificate | None, signed_size: int | None,
) -> tuple[Check, _PdfSignature]:
    later = embedded[index + 1:]
    signer = signature.signer_cert
    if index == 0:
        name, role = "pdf signature", RUN_SIGNER
        # Without --ca the anchor is the manifest's signer, so the two signatures vouch for
        # each other; failing that, the PDF's own certificate (self-asserted).
        anchor = manifest_signer if manifest_signer is not None else signer
        trust = f"chains to the CA '{_name(anchors.ca)}'" if anchors.ca is not None else (
            "trusted as the manifest's signer (self-asserted)" if manifest_signer is not None
            else "self-asserted")
    else:
        name, role = "pdf countersignature", role_of_field(signature.field_name) or "unknown role"
        anchor = signer
        trust = _trust_note(anchors.ca)
    status = validate_pdf_signature(signature, _trust(anchors.ca, anchor),
                                    ts_validation_context=_tsa_context(signature.signer_info, anchors),
                                    key_usage_settings=_KEY_USAGE)
    problems = _status_problems(status, anchors.ca)
    if index > 0 and role_of_field(signature.field_name) is None:
        problems.append(f"field {signature.field_name!r} is not a rolecall countersignature")
    if status.docmdp_ok is False:
        problems.append("changes made after certification are not permitted")
    problems.extend(_later_changes(status, later))
    end = _end_of(signature)
    if index == 0 and signed_size is not None and end != signed_size:
        problems.append(f"it covers {end} bytes, but {MANIFEST} lists {pdf_name} as signed with "
                        f"{signed_size}")
    when, time_problems = _timing(signature.signer_info, status, anchors)
    problems.extend(time_problems)
    revision = signature.signed_revision + 1
    covers = f"PDF revision {revision} of {revisions}"
    before = 0 if index == 0 else _end_of(embedded[index - 1])
    seen = _PdfSignature(signature.field_name, signer, before, not problems)
    label = f"signature {index + 1} of {len(embedded)} ({signature.field_name})"
    if problems:
        return Check(name, False, f"{pdf_name}: {label}: {'; '.join(problems)}"), seen
    added = ("added after the report was signed" if index > 0 else
             f"later signatures added after it: {len(later)}" if later else "no signature added after it")
    return Check(name, True, f"{pdf_name}: {label}: intact, valid, covers {covers}, signed by "
                             f"{_who(signer)} as {role}; {when}; {added}; {trust}"), seen


def _end_of(signature: Any) -> int:
    return int(signature.byte_range[-2]) + int(signature.byte_range[-1])


def _later_changes(status: Any, later: list[Any]) -> list[str]:
    """What was changed after this signature beyond adding the later signatures, if anything."""
    if not later:
        if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
            coverage = status.coverage.name if status.coverage else "unknown"
            return [f"the last signature does not cover the whole file ({coverage}): bytes were "
                    "appended after signing"]
        return []
    diff = status.diff_result
    if not isinstance(diff, DiffResult):
        return [f"a later revision changes more than a signature ({diff})"]
    problems = []
    if diff.modification_level > ModificationLevel.FORM_FILLING:
        problems.append(f"a later revision changes more than a signature ({diff.modification_level.name})")
    allowed = {s.field_name for s in later}
    others = sorted(set(diff.changed_form_fields) - allowed)
    if others:
        problems.append(f"a later revision changes the form field(s) {', '.join(others)}")
    return problems


def _check_attestations(
    run_dir: Path, manifest_bytes: bytes, manifest: dict[str, Any],
    countersignatures: list[_PdfSignature], anchors: _Anchors,
) -> list[Check]:
    """Each attestations/NN-<role>.json: its CMS signature, that it names this run and the
    manifest as signed, and that the PDF countersignature it names exists, by the same key, over
    the PDF the attester saw. Every countersignature needs its attestation, and nothing else may
    be in attestations/."""
    folder = run_dir / ATTESTATIONS
    files = sorted(p.relative_to(run_dir).as_posix() for p in folder.rglob("*")) if folder.is_dir() else []
    records = [f for f in files if ATTESTATION_NAME.match(PurePosixPath(f).name)
               and PurePosixPath(f).parent.as_posix() == ATTESTATIONS]
    expected = set(records) | {f"{r}.p7s" for r in records}
    checks = [Check("file added", False, f"{f}: in {ATTESTATIONS}/ but not an attestation or its "
                                         "signature") for f in files
              if f not in expected and not (run_dir / f).is_dir()]
    by_field = {s.field: s for s in countersignatures}
    named: set[str] = set()
    manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
    for rel in records:
        checks.append(_check_attestation(run_dir, rel, manifest_sha256, manifest, by_field, anchors))
        named.add(attestation_field(PurePosixPath(rel).name.removesuffix(".json")))
    checks.extend(Check("attestation", False, f"{REPORT_PDF}: countersignature {s.field!r} has no "
                                              f"attestation file in {ATTESTATIONS}/")
                  for s in countersignatures if s.field not in named)
    return checks


def _check_attestation(
    run_dir: Path, rel: str, manifest_sha256: str, manifest: dict[str, Any],
    by_field: dict[str, _PdfSignature], anchors: _Anchors,
) -> Check:
    name = "attestation"
    p7s = run_dir / f"{rel}.p7s"
    if not p7s.is_file():
        return Check(name, False, f"{rel}.p7s: missing (the signature of {rel})")
    body = (run_dir / rel).read_bytes()
    try:
        result = _validate_detached(body, p7s.read_bytes(), anchors)
    except Exception as exc:  # not a CMS signature at all
        return Check(name, False, f"{rel}.p7s: not a valid CMS signature: {exc}")
    if not result.intact:
        return Check(name, False, f"{rel}: changed since it was signed (its digest does not match "
                                  f"the one in {PurePosixPath(rel).name}.p7s)")
    if result.problems:
        return Check(name, False, f"{rel}.p7s: {'; '.join(result.problems)}")
    try:
        record = json.loads(body)
        role, field = str(record["role"]), str(record["pdf_signature_field"])
        if field != attestation_field(PurePosixPath(rel).name.removesuffix(".json")):
            raise ValueError(f"it names the PDF signature {field!r}, not the one of its file name")
        problems = _attestation_problems(run_dir, rel, record, manifest_sha256, manifest,
                                         by_field.get(field), result.signer)
    except (ValueError, KeyError, TypeError) as exc:
        return Check(name, False, f"{rel}: unreadable: {exc}")
    if problems:
        return Check(name, False, f"{rel}: {'; '.join(problems)}")
    return Check(name, True, f"{rel}: CMS signature valid over the {role}'s statement and "
                             f"{MANIFEST} (SHA-256 matches), signed by {_who(result.signer)} as "
                             f"{role}; {result.when}; added after the report was signed; "
                             f"{_trust_note(anchors.ca)}")


def _attestation_problems(
    run_dir: Path, rel: str, record: dict[str, Any], manifest_sha256: str, manifest: dict[str, Any],
    pdf_signature: _PdfSignature | None, signer: asn1_x509.Certificate,
) -> list[str]:
    problems = []
    stem = ATTESTATION_NAME.match(PurePosixPath(rel).name)
    if record.get("format") != ATTESTATION_FORMAT:
        problems.append(f"format is {record.get('format')!r}, not {ATTESTATION_FORMAT}")
    if stem is not None and record["role"] != stem["role"]:
        problems.append(f"signed for role {record['role']!r} but named {stem['role']!r}")
    if record.get("run_id") != manifest.get("run_id"):
        problems.append(f"signed for run {record.get('run_id')!r}, not {manifest.get('run_id')!r}")
    if record.get("manifest_sha256") != manifest_sha256:
        problems.append(f"its manifest hash {record.get('manifest_sha256')} differs from {MANIFEST} "
                        f"({manifest_sha256})")
    if (record.get("attester") or {}).get("certificate_sha256") != certificate_fingerprint(signer):
        problems.append("the attester certificate it names is not the one that signed it")
    field = record["pdf_signature_field"]
    if pdf_signature is None:
        problems.append(f"{REPORT_PDF} has no countersignature {field!r}")
        return problems
    if pdf_signature.signer is None or (
        certificate_fingerprint(pdf_signature.signer) != certificate_fingerprint(signer)
    ):
        problems.append(f"the countersignature {field!r} on {REPORT_PDF} was made with another key")
    before = record["report_pdf_before"]
    if int(before["size"]) != pdf_signature.before or _prefix_digest(
        run_dir / REPORT_PDF, pdf_signature.before
    ) != before["sha256"]:
        problems.append(f"the {REPORT_PDF} it was made over is not the one before its countersignature")
    return problems


def _check_same_signer(
    manifest: dict[str, Any] | None,
    cms_signer: asn1_x509.Certificate | None,
    pdf_signer: asn1_x509.Certificate | None,
) -> Check:
    """The PDF, the manifest signature and the manifest's own record name the same certificate,
    so one signature cannot be swapped for another signer's."""
    name = "same signer"
    found = {
        f"{MANIFEST} signer": ((manifest or {}).get("signer") or {}).get("certificate_sha256"),
        SIGNATURE: certificate_fingerprint(cms_signer) if cms_signer is not None else None,
        REPORT_PDF: certificate_fingerprint(pdf_signer) if pdf_signer is not None else None,
    }
    unknown = [k for k, v in found.items() if v is None]
    if unknown:
        return Check(name, False, f"cannot compare signers: no certificate from {', '.join(unknown)}")
    if len(set(found.values())) != 1:
        listing = ", ".join(f"{k}: {v[:16]}\u2026" for k, v in found.items() if v)
        return Check(name, False, f"signer certificates differ ({listing})")
    return Check(name, True, f"{REPORT_PDF}, {SIGNATURE} and {MANIFEST} name certificate "
                             f"{found[SIGNATURE]}")

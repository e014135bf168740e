"""Verify a run folder (the evidence pack) offline: signatures, hashes, nothing missing or added.

`verify_run` returns one `Check` per line the CLI prints; the run verifies only when every check
passes. A failing check names the file and what is wrong. Nothing is fetched from the network:
no OCSP, no CRL, no timestamp server, no system trust store.

Trust: with `ca_cert`, both signatures must chain to that certificate. Without it the signer
vouches for itself (its own certificate is the trust anchor), which proves integrity but not
identity; the check says so and names the subject and fingerprint to compare out of band.

A folder is its run: the run id signed into manifest.json must be the folder's name, so a renamed
folder, or one run's files copied under another run's name, does not verify.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from asn1crypto import cms, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel, SignatureStatus
from pyhanko_certvalidator import ValidationContext

from reports.keys import SIGNING_KEY_USAGES, certificate_fingerprint
from reports.manifest import MANIFEST, SIGNATURE, ManifestError, file_digest, run_files
from reports.sign import REPORT_PDF

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


def verify_run(run_dir: Path, ca_cert: Path | None = None) -> list[Check]:
    """Every check of run_dir, in the order an auditor would do them by hand."""
    with _quiet_validation_logs():
        return _verify_run(run_dir, ca_cert)


def _verify_run(run_dir: Path, ca_cert: Path | None) -> list[Check]:
    if not run_dir.is_dir():
        return [Check("run folder", False, f"{run_dir}: not a folder")]
    checks: list[Check] = []
    ca: asn1_x509.Certificate | None = None
    if ca_cert is not None:
        try:
            ca = load_ca(ca_cert)
        except TrustAnchorError as exc:
            return [Check("trust anchor", False, str(exc))]

    manifest_path = run_dir / MANIFEST
    manifest_bytes = manifest_path.read_bytes() if manifest_path.is_file() else None
    cms_signer: asn1_x509.Certificate | None = None
    if manifest_bytes is None:
        checks.append(Check("manifest signature", False, f"{MANIFEST}: missing"))
    else:
        check, cms_signer = _check_manifest_signature(manifest_bytes, run_dir / SIGNATURE, ca)
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

    pdf_check, pdf_signer = _check_pdf(run_dir / REPORT_PDF, ca, cms_signer)
    checks.append(pdf_check)
    checks.append(_check_same_signer(manifest, cms_signer, pdf_signer))
    return checks


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


def _check_manifest_signature(
    manifest_bytes: bytes, p7s: Path, ca: asn1_x509.Certificate | None
) -> tuple[Check, asn1_x509.Certificate | None]:
    """The detached CMS signature in manifest.json.p7s over the exact bytes of manifest.json."""
    name = "manifest signature"
    if not p7s.is_file():
        return Check(name, False, f"{SIGNATURE}: missing"), None
    try:
        info = cms.ContentInfo.load(p7s.read_bytes())
        if info["content_type"].native != "signed_data":
            raise ValueError(f"content type is {info['content_type'].native}, not signed data")
        signed_data = info["content"]
        signer = extract_certificate_info(signed_data).signer_cert
        status = asyncio.run(
            async_validate_detached_cms(
                manifest_bytes, signed_data, signer_validation_context=_trust(ca, signer),
                key_usage_settings=_KEY_USAGE,
            )
        )
    except Exception as exc:  # any parse or validation error is a failed check, not a crash
        return Check(name, False, f"{SIGNATURE}: not a valid CMS signature: {exc}"), None
    if not status.intact:
        return Check(name, False, f"{MANIFEST}: changed since it was signed (its digest does not match "
                                  f"the one in {SIGNATURE})"), signer
    problems = _status_problems(status, ca)
    if problems:
        return Check(name, False, f"{SIGNATURE}: {'; '.join(problems)}"), signer
    return Check(
        name, True,
        f"{SIGNATURE}: valid over {MANIFEST}, signed by {_who(signer)}; {_trust_note(ca)}",
    ), signer


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
    """No file missing, none added, and every size and SHA-256 as listed."""
    listed = {e["path"]: e for e in manifest["files"]}
    try:
        present = set(run_files(run_dir))
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
        checks.append(Check("no file added", True, f"the folder holds no file beyond {MANIFEST}"))

    changed: list[Check] = []
    total = 0
    for rel in sorted(set(listed) & present):
        entry = listed[rel]
        size = (run_dir / rel).stat().st_size
        if size != int(entry["size"]):
            changed.append(Check("file changed", False,
                                 f"{rel}: size {size} bytes, {MANIFEST} says {entry['size']}"))
            continue
        sha256, _ = file_digest(run_dir / rel)
        total += size
        if sha256 != str(entry["sha256"]).lower():
            changed.append(Check("file changed", False,
                                 f"{rel}: SHA-256 {sha256} differs from {MANIFEST} ({entry['sha256']})"))
    checks.extend(changed)
    if not changed:
        checks.append(Check("file hashes", True,
                            f"size and SHA-256 of {len(set(listed) & present)} files match "
                            f"({total:,} bytes)"))
    return checks


def _check_pdf(
    pdf: Path, ca: asn1_x509.Certificate | None, manifest_signer: asn1_x509.Certificate | None
) -> tuple[Check, asn1_x509.Certificate | None]:
    """The PAdES signature of report.pdf: intact, valid, trusted, covering the entire file."""
    name = "pdf signature"
    if not pdf.is_file():
        return Check(name, False, f"{pdf.name}: missing"), None
    try:
        with pdf.open("rb") as f:
            reader = PdfFileReader(f, strict=False)
            signatures = reader.embedded_signatures
            if not signatures:
                return Check(name, False, f"{pdf.name}: has no signature"), None
            signer = signatures[-1].signer_cert
            # Without --ca the anchor is the manifest's signer, so the two signatures vouch for
            # each other; failing that, the PDF's own certificate (self-asserted).
            context = _trust(ca, manifest_signer if manifest_signer is not None else signer)
            problems: list[str] = []
            for index, embedded in enumerate(signatures, start=1):
                last = validate_pdf_signature(embedded, context, key_usage_settings=_KEY_USAGE)
                label = f"signature {index} ({embedded.field_name})"
                problems.extend(f"{label}: {p}" for p in _status_problems(last, ca))
                if last.docmdp_ok is False:
                    problems.append(f"{label}: changes made after certification are not permitted")
            if last.coverage != SignatureCoverageLevel.ENTIRE_FILE:
                coverage = last.coverage.name if last.coverage else "unknown"
                problems.append(f"the last signature does not cover the whole file ({coverage}): "
                                "bytes were appended after signing")
    except Exception as exc:  # a damaged PDF is a failed check, not a crash
        return Check(name, False, f"{pdf.name}: cannot be read or validated: {exc}"), None
    if problems:
        return Check(name, False, f"{pdf.name}: {'; '.join(problems)}"), signer
    anchor = f"chains to the CA '{_name(ca)}'" if ca is not None else (
        "trusted as the manifest's signer (self-asserted)" if manifest_signer is not None
        else "self-asserted"
    )
    return Check(name, True, f"{pdf.name}: intact, valid, covers the entire file, signed by "
                             f"'{_name(signer)}'; {anchor}"), signer


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

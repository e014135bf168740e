"""Signatures on a finished run folder: PAdES on report.pdf, a detached CMS signature on manifest.json.

Order matters and `sign_run` fixes it: the PDF is signed first, so the manifest hashes the signed
PDF; the manifest is signed last, so its signature covers every file's hash.

Both signatures are made without OCSP/CRL fetching, with the signer certificate embedded. With a
time-stamping service (`timestamper`, from `--tsa-url`) they carry trusted time: the PDF signature
is PAdES B-T and the CMS signature gets a signature-time-stamp attribute; without one they are
PAdES B-B and plain CMS, whose only time is the signer's own clock.

The run-time signature is a certification signature that permits form filling, which in PDF terms
is what lets later signatures be added (`rolecall attest`): pyHanko's difference analysis still
flags any other change made after it, and `reports.verify` refuses anything but added signatures.

The PDF signature is an incremental update appended to the file WeasyPrint wrote, so a PDF/A-3b
document stays PDF/A-3b: pyHanko updates the XMP packet and the Info dictionary together
(`_align_producer` makes their /Producer agree). The signature is invisible: a visible stamp
needs a font, pyHanko's default stamp font is not embedded, which PDF/A forbids, and embedding
one needs uharfbuzz, which is not installed.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import VENDOR
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

from reports.keys import SigningIdentity
from reports.manifest import build_manifest, write_manifest
from reports.timestamps import TSA_ERRORS, TimestampError, tsa_failure

if TYPE_CHECKING:
    from pyhanko.sign.timestamps import HTTPTimeStamper

REPORT_PDF = "report.pdf"
SIGNATURE_FIELD = "rolecall-signature"
DIGEST = "sha256"


def sign_pdf(
    pdf_path: Path,
    identity: SigningIdentity,
    *,
    reason: str,
    location: str | None = None,
    certify: bool = True,
    field_name: str = SIGNATURE_FIELD,
    timestamper: HTTPTimeStamper | None = None,
) -> None:
    """Add a PAdES signature covering the whole of pdf_path, replacing the file atomically.

    With `certify` (the default) it is a certification signature that permits adding signatures
    and nothing else, which is what "finished runs are never modified, only countersigned" means.
    The signed copy is written next to the original and renamed over it, so a crash (or a time-
    stamping service that fails) leaves either the unsigned or the signed PDF, never half of one.
    """
    with _replace_atomically(pdf_path) as out:
        sign_pdf_to(pdf_path, out, identity, reason=reason, location=location, certify=certify,
                    field_name=field_name, timestamper=timestamper)


def sign_pdf_to(
    pdf_path: Path,
    out: BinaryIO,
    identity: SigningIdentity,
    *,
    reason: str,
    location: str | None = None,
    certify: bool = False,
    field_name: str = SIGNATURE_FIELD,
    timestamper: HTTPTimeStamper | None = None,
) -> None:
    """Write pdf_path plus one incremental update holding a new signature to `out`.

    PAdES B-T with a timestamper (its failure is a TimestampError naming the URL), else B-B.
    """
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=DIGEST,
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=identity.subject,
        certify=certify,
        docmdp_permissions=MDPPerm.FILL_FORMS,  # only meaningful when certifying
        embed_validation_info=False,  # no OCSP/CRL fetching
        use_pades_lta=False,
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer=identity.signer,
        timestamper=timestamper,
        new_field_spec=fields.SigFieldSpec(sig_field_name=field_name, on_page=0),
    )
    with pdf_path.open("rb") as src:
        writer = IncrementalPdfFileWriter(src, strict=False)
        _align_producer(writer)
        with _timestamp_errors(timestamper):
            pdf_signer.sign_pdf(writer, output=out)


@contextmanager
def _timestamp_errors(timestamper: HTTPTimeStamper | None) -> Iterator[None]:
    """A failing time-stamping service as one TimestampError naming its URL."""
    try:
        yield
    except TimestampError:
        raise
    except TSA_ERRORS as exc:
        if timestamper is None:
            raise
        raise tsa_failure(timestamper.url, exc) from exc


def _align_producer(writer: IncrementalPdfFileWriter) -> None:
    """Keep the Info dictionary's /Producer equal to the XMP pdf:Producer, as PDF/A requires.

    pyHanko appends "; pyHanko x.y" to the Info entry but writes plain "pyHanko x.y" to the XMP
    packet; giving the Info entry that value first makes both agree.
    """
    if "/Metadata" not in writer.root:
        return  # no XMP packet: nothing to keep in step, pyHanko's default is fine
    info_ref = writer.trailer.raw_get("/Info") if "/Info" in writer.trailer else None
    if not isinstance(info_ref, generic.IndirectObject):
        return
    info = info_ref.get_object()
    info["/Producer"] = generic.TextStringObject(VENDOR)
    writer.mark_update(info_ref)


def sign_manifest(
    manifest_path: Path, identity: SigningIdentity, timestamper: HTTPTimeStamper | None = None
) -> Path:
    """Write <manifest>.p7s: a detached CMS signature (DER) over the exact bytes of the manifest.

    Made with pyHanko (so an HSM signer works too) and checked by
    `openssl cms -verify -binary -inform DER -in manifest.json.p7s -content manifest.json
    -CAfile CERT.pem`; add `-purpose any` when the certificate carries an extendedKeyUsage without
    emailProtection (e.g. documentSigning), which OpenSSL's default S/MIME purpose rejects.
    """
    signature = detached_signature(manifest_path.read_bytes(), identity, timestamper)
    target = manifest_path.with_name(manifest_path.name + ".p7s")
    with _replace_atomically(target) as out:
        out.write(signature)
    return target


def detached_signature(
    data: bytes, identity: SigningIdentity, timestamper: HTTPTimeStamper | None = None
) -> bytes:
    """DER of a detached CMS signature over data; with a timestamper it carries a
    signature-time-stamp unsigned attribute (a TimestampError if the service fails)."""
    with _timestamp_errors(timestamper):
        content_info = asyncio.run(identity.signer.async_sign_general_data(
            data, DIGEST, detached=True, timestamper=timestamper,
            # the signer's own clock, as in the PDF; the token, when there is one, is trusted time
            signed_attr_settings=PdfCMSSignedAttributes(signing_time=datetime.now(UTC)),
        ))
    return bytes(content_info.dump())


def sign_run(
    run_dir: Path,
    identity: SigningIdentity,
    *,
    run_id: str,
    tool_version: str,
    configuration: dict[str, Any],
    accounts: list[str],
    reason: str = "rolecall audit evidence: Do not use IAM Users",
    location: str | None = None,
    timestamper: HTTPTimeStamper | None = None,
) -> Path:
    """Sign report.pdf, then write and sign manifest.json; returns the manifest's path.

    Call it last, on the `.partial` folder, before the rename: any file written afterwards
    would show up as "added" when the run is verified, and a failure here (a time-stamping
    service that stops answering between the two signatures) leaves a `.partial` folder, which
    is never taken for a finished run.
    """
    pdf = run_dir / REPORT_PDF
    if pdf.exists():
        sign_pdf(pdf, identity, reason=reason, location=location, timestamper=timestamper)
    manifest = build_manifest(
        run_dir, run_id=run_id, tool_version=tool_version, configuration=configuration,
        accounts=accounts, signer=identity,
    )
    path = write_manifest(run_dir, manifest)
    sign_manifest(path, identity, timestamper)
    return path


@contextmanager
def _replace_atomically(target: Path) -> Iterator[BinaryIO]:
    """A temp file next to `target`, renamed over it only if the block succeeds; the target's
    permissions are kept (the temp file would otherwise be 0600)."""
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)

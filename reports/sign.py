"""Signatures on a finished run folder: PAdES on report.pdf, a detached CMS signature on manifest.json.

Order matters and `sign_run` fixes it: the PDF is signed first, so the manifest hashes the signed
PDF; the manifest is signed last, so its signature covers every file's hash.

Both signatures are made offline: PAdES B-B (no timestamp server, no OCSP/CRL fetching), and CMS
with the signer certificate embedded. The PDF signature is an incremental update appended to the
file WeasyPrint wrote, so a PDF/A-3b document stays PDF/A-3b: pyHanko updates the XMP packet and
the Info dictionary together (`_align_producer` makes their /Producer agree). The signature is
invisible: a visible stamp needs a font, pyHanko's default stamp font is not embedded, which PDF/A
forbids, and embedding one needs uharfbuzz, which is not installed.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import VENDOR
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter

from reports.keys import SigningIdentity
from reports.manifest import build_manifest, write_manifest

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
) -> None:
    """Add a PAdES B-B signature covering the whole of pdf_path, replacing the file atomically.

    With `certify` (the default) it is a certification signature that permits no further changes:
    a viewer then flags any later edit, which is what "finished runs are never modified" means.
    The signed copy is written next to the original and renamed over it, so a crash leaves either
    the unsigned or the signed PDF, never half of one.
    """
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm=DIGEST,
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=identity.subject,
        certify=certify,
        docmdp_permissions=MDPPerm.NO_CHANGES,
        embed_validation_info=False,  # no OCSP/CRL fetching: everything offline
        use_pades_lta=False,
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer=identity.signer,
        new_field_spec=fields.SigFieldSpec(sig_field_name=SIGNATURE_FIELD, on_page=0),
    )
    with _replace_atomically(pdf_path) as out, pdf_path.open("rb") as src:
        writer = IncrementalPdfFileWriter(src, strict=False)
        _align_producer(writer)
        pdf_signer.sign_pdf(writer, output=out)


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


def sign_manifest(manifest_path: Path, identity: SigningIdentity) -> Path:
    """Write <manifest>.p7s: a detached CMS signature (DER) over the exact bytes of the manifest.

    Made with pyHanko (so an HSM signer works too) and checked by
    `openssl cms -verify -binary -inform DER -in manifest.json.p7s -content manifest.json
    -CAfile CERT.pem`; add `-purpose any` when the certificate carries an extendedKeyUsage without
    emailProtection (e.g. documentSigning), which OpenSSL's default S/MIME purpose rejects.
    """
    data = manifest_path.read_bytes()
    content_info = asyncio.run(
        identity.signer.async_sign_general_data(data, DIGEST, detached=True)
    )
    target = manifest_path.with_name(manifest_path.name + ".p7s")
    with _replace_atomically(target) as out:
        out.write(content_info.dump())
    return target


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
) -> Path:
    """Sign report.pdf, then write and sign manifest.json; returns the manifest's path.

    Call it last, on the `.partial` folder, before the rename: any file written afterwards
    would show up as "added" when the run is verified.
    """
    pdf = run_dir / REPORT_PDF
    if pdf.exists():
        sign_pdf(pdf, identity, reason=reason, location=location)
    manifest = build_manifest(
        run_dir, run_id=run_id, tool_version=tool_version, configuration=configuration,
        accounts=accounts, signer=identity,
    )
    path = write_manifest(run_dir, manifest)
    sign_manifest(path, identity)
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

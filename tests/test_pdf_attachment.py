"""The findings file embedded by reports/pdf_attachment.py reads back whole, as PDF/A-3 describes it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pypdf import PdfReader

from reports.pdf_attachment import CHUNK_BYTES, deflate_file
from reports.render import write_pdf


def test_a_file_larger_than_one_chunk_reads_back_byte_for_byte(tmp_path: Path) -> None:
    rows = "".join(f"RC-1.1,G1,{n:012d},arn:aws:iam::{n:012d}:user/u{n},iam_user,fail\n"
                   for n in range(2 * CHUNK_BYTES // 60))
    source = tmp_path / "findings.csv"
    source.write_text("control_id,guidance_item,account_id,resource_id,resource_type,status\n" + rows)
    original = source.read_bytes()
    assert len(original) > CHUNK_BYTES  # more than one chunk goes through the compressor
    attached = deflate_file(source, name="findings.csv", description="every failing result")
    assert len(attached.deflated) < len(original) // 5

    pdf = write_pdf("<html lang='en'><head><title>t</title></head><body><h1>x</h1></body></html>",
                    tmp_path / "report.pdf", findings=attached)

    reader = PdfReader(pdf)
    assert reader.attachments == {"findings.csv": [original]}
    root = reader.trailer["/Root"]
    (spec,) = [ref.get_object() for ref in root["/AF"]]
    assert (spec["/F"], spec["/UF"], spec["/AFRelationship"]) == ("findings.csv", "findings.csv", "/Data")
    stream = spec["/EF"]["/F"].get_object()
    assert stream["/Subtype"] == "/text/csv" and stream["/Filter"] == "/FlateDecode"
    params = stream["/Params"]
    assert params["/Size"] == len(original)
    checksum = params["/CheckSum"]  # a hex string; pypdf may read it as text or as bytes
    assert getattr(checksum, "original_bytes", checksum) == hashlib.md5(original).digest()
    assert "/ModDate" in params  # PDF/A-3 asks for the embedded file's modification date
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp


def test_without_findings_the_pdf_has_no_embedded_files(tmp_path: Path) -> None:
    pdf = write_pdf("<html lang='en'><head><title>t</title></head><body><p>x</p></body></html>",
                    tmp_path / "report.pdf")
    reader = PdfReader(pdf)
    assert reader.attachments == {} and "/AF" not in reader.trailer["/Root"]

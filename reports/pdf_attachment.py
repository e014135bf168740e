"""A large file attached to the report PDF, deflated once, read a chunk at a time.

WeasyPrint's own attachments hold the file in memory and deflate it at level 9 inside the PDF
writer, which runs twice for a PDF/A (once more to hash every object for the file identifier).
The findings CSV of a 10,000-account run is ~1.9 GB: that was most of the render. Here the file is
streamed from disk through zlib at its default level and MD5 once, and the finished stream is
added through WeasyPrint's public `finisher` hook with the dictionaries WeasyPrint itself writes
for a PDF/A-3 associated file (file spec with /F, /UF, /AFRelationship; /Params with size,
checksum and dates; listed in the catalogue's /EmbeddedFiles and /AF). Readers see the same
findings.csv either way.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydyf

CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class DeflatedFile:
    """A file ready to embed: its deflated bytes and what the PDF says about the original."""

    name: str
    description: str
    mime_type: str
    relationship: str  # PDF/A-3 AFRelationship: Data, Source, Supplement, ...
    deflated: bytes
    size: int
    md5: str
    modified: datetime


def deflate_file(path: Path, *, name: str, description: str, mime_type: str = "text/csv",
                 relationship: str = "Data") -> DeflatedFile:
    """Deflate and hash `path` in chunks: memory holds the compressed file, never the original."""
    compressor = zlib.compressobj()
    digest = hashlib.md5(usedforsecurity=False)
    parts: list[bytes] = []
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            size += len(chunk)
            digest.update(chunk)
            parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    return DeflatedFile(name, description, mime_type, relationship, b"".join(parts), size,
                        digest.hexdigest(), datetime.now(UTC))


class _DeflatedStream(pydyf.Stream):
    """A stream whose data is already FlateDecode-compressed; pydyf writes it as it is."""

    def __init__(self, deflated: bytes, extra: dict[str, Any]) -> None:
        super().__init__(extra=extra)
        self.deflated = deflated

    @property
    def data(self) -> bytes:
        extra = pydyf.Dictionary({**self.extra, "Filter": "/FlateDecode",
                                  "Length": len(self.deflated)})
        return b"\n".join((extra.data, b"stream", self.deflated, b"endstream"))


def attach(files: Sequence[DeflatedFile]) -> Callable[[Any, pydyf.PDF], None]:
    """A WeasyPrint finisher that embeds `files` as PDF/A-3 associated files of the document."""

    def finisher(_document: Any, pdf: pydyf.PDF) -> None:
        specs = []
        for file in files:
            date = pydyf.String(file.modified.strftime("D:%Y%m%d%H%M%SZ"))
            stream = _DeflatedStream(file.deflated, {
                "Type": "/EmbeddedFile",
                "Subtype": "/" + file.mime_type.replace("/", "#2f"),
                "Params": pydyf.Dictionary({"CheckSum": f"<{file.md5}>", "Size": file.size,
                                            "CreationDate": date, "ModDate": date}),
            })
            pdf.add_object(stream)
            spec = pydyf.Dictionary({
                "Type": "/Filespec",
                "F": pydyf.String(file.name.encode(errors="ignore")),
                "UF": pydyf.String(file.name),
                "EF": pydyf.Dictionary({"F": stream.reference, "UF": stream.reference}),
                "Desc": pydyf.String(file.description),
                "AFRelationship": "/" + file.relationship,
            })
            pdf.add_object(spec)
            specs.append(spec)
        if not specs:
            return
        names = pydyf.Dictionary({"Names": pydyf.Array(
            item for spec in specs for item in (spec["F"], spec.reference))})
        pdf.add_object(names)
        if "Names" not in pdf.catalog:
            pdf.catalog["Names"] = pydyf.Dictionary()
        pdf.catalog["Names"]["EmbeddedFiles"] = names.reference
        if "AF" not in pdf.catalog:
            pdf.catalog["AF"] = pydyf.Array()
        pdf.catalog["AF"].extend(spec.reference for spec in specs)

    return finisher

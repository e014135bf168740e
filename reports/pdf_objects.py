"""Read a PDF's object streams once, so pyHanko's difference analysis of a tagged PDF takes seconds.

pyHanko reads an object from an object stream by scanning that stream's header from its start, so
reading all N objects of one stream costs O(N^2). A tagged PDF from WeasyPrint keeps its ~10,000
objects (mostly the structure tree) in one object stream, and the difference analysis that
`verify` needs once a report has a countersignature walks the whole structure tree: minutes per
signature. `read_object_streams_once` parses each object stream a single time and puts the objects
that are current (not replaced by a later revision) into the reader's own cache, where pyHanko
looks first. Any surprise leaves the cache as it was: slower, never wrong.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from io import BytesIO

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import ObjStreamRef

log = logging.getLogger(__name__)


def read_object_streams_once(reader: PdfFileReader) -> int:
    """Cache every current object of every object stream of `reader`; returns how many."""
    try:
        wanted = _current_objects_by_stream(reader)
        return sum(_read_stream(reader, stream_id, idnums) for stream_id, idnums in wanted.items())
    except Exception as exc:  # noqa: BLE001 - an optimisation: pyHanko's own path still works
        log.debug("object streams not pre-read: %s", exc)
        return 0


def _current_objects_by_stream(reader: PdfFileReader) -> dict[int, set[int]]:
    """Object numbers whose current version lives in an object stream, by stream number."""
    wanted: dict[int, set[int]] = defaultdict(set)
    for revision in range(reader.xrefs.total_revisions):
        for ref in reader.xrefs.explicit_refs_in_revision(revision):
            marker = reader.xrefs[ref]
            if isinstance(marker, ObjStreamRef) and ref.generation == 0:
                wanted[marker.obj_stream_id].add(ref.idnum)
    return wanted


def _read_stream(reader: PdfFileReader, stream_id: int, idnums: set[int]) -> int:
    stream = generic.Reference(stream_id, 0, reader).get_object()
    if not isinstance(stream, generic.StreamObject) or stream.get("/Type") != "/ObjStm":
        return 0
    data = BytesIO(stream.read_data(DecodePurpose.OBJECT_STREAM))
    first = int(stream["/First"])
    offsets = []
    for _ in range(int(stream["/N"])):
        misc.read_non_whitespace(data, seek_back=True)
        idnum = generic.NumberObject.read_from_stream(data)
        misc.read_non_whitespace(data, seek_back=True)
        offset = generic.NumberObject.read_from_stream(data)
        offsets.append((int(idnum), int(offset)))
    cached = 0
    for idnum, offset in offsets:
        if idnum not in idnums or reader.cache_get_indirect_object(0, idnum) is not None:
            continue
        data.seek(first + offset)
        obj = generic.read_object(data, generic.Reference(idnum, 0, reader))
        if isinstance(obj, generic.StreamObject | generic.IndirectObject):
            continue  # not allowed in an object stream: leave it to pyHanko's own handling
        reader.cache_indirect_object(0, idnum, obj)
        cached += 1
    return cached

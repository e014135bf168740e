"""Exports of a finished run's snapshot: Parquet per table, and OCSF Compliance Findings.

The run folder is signed evidence (manifest.json lists every file), so exports only ever read
the snapshot (read-only connection) and refuse to write into its folder. Each export is written
under a temporary name beside its destination and moved in only when complete: a failure
half-way leaves the previous output, or nothing, never a truncated file.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from checks.catalogue import CONTROLS_BY_ID
from reports import ocsf
from store import snapshot as snapshot_db
from store.run_folder import enclosing_run_folder
from store.staged_folder import staged_folder

FETCH_ROWS = 10_000  # findings held in Python at a time (1.5 M in a 1,000-account run)
VALIDATE_EVERY = 10_000  # findings checked besides the first of every shape: one a batch


class ExportError(RuntimeError):
    """The export cannot be written faithfully; nothing was written."""


def export_parquet(snapshot: Path, out_dir: Path) -> list[Path]:
    """Write `<table>.parquet` (zstd) into out_dir for every table of the snapshot; return them.

    Files are written into a temporary sibling folder of out_dir and moved in at the end.
    """
    _refuse_run_folder(out_dir / "table.parquet")
    with staged_folder(out_dir) as staging, _open(snapshot) as con:
        written = [_copy_table(con, table, staging) for table in snapshot_db.table_names(con)]
    return [out_dir / path.name for path in written]


def _copy_table(con: duckdb.DuckDBPyConnection, table: str, folder: Path) -> Path:
    path = folder / f"{table}.parquet"
    con.execute(
        f"COPY (SELECT * FROM {snapshot_db.quote_identifier(table)}) "
        f"TO {snapshot_db.quote_literal(str(path))} "
        "(FORMAT parquet, COMPRESSION zstd)"
    )
    return path


def export_ocsf(snapshot: Path, out_file: Path, statuses: Sequence[str] | None = None) -> int:
    """Write every control_results row (or those whose status is in `statuses`) as an OCSF
    Compliance Finding into out_file, a JSON array (one finding per line); return the number
    of findings.

    DuckDB writes each finding's text (reports.ocsf.FINDINGS_SQL) in a stable order (control,
    account, resource), FETCH_ROWS at a time, so the same snapshot gives the same bytes and
    Python never holds more than a batch. The first finding of every shape and every
    VALIDATE_EVERY-th one are parsed back with py-ocsf-models; an invalid one aborts the export
    (ExportError naming the control and resource) and no file is left.
    """
    _refuse_run_folder(out_file)
    with _open(snapshot) as con:
        return write_json_texts(_ocsf_finding_texts(con, statuses), out_file)


def _ocsf_finding_texts(con: duckdb.DuckDBPyConnection,
                        statuses: Sequence[str] | None = None) -> Iterator[Sequence[bytes]]:
    """Batches of finding texts (UTF-8), checked as `export_ocsf` says, one control at a time:
    DuckDB then sorts one control's rows, not the run's, and memory follows the largest control."""
    run = _run_facts(con)
    _refuse_duplicate_results(con)
    wanted, parameters = _status_filter(statuses)
    shapes = {shape: ocsf.shape_fragments(_shape_finding(shape, resource_id, run))
              for shape, resource_id in _shapes(con, f"WHERE {wanted}", parameters)}
    fixed = parameters | ocsf.findings_parameters(shapes, run)
    seen: set[int] = set()
    count = 0
    for control_id in sorted({shape.control_id for shape in shapes}):  # the order ORDER BY gives
        one_control = f"WHERE {wanted} AND r.control_id = $control_id"
        cursor = con.execute(ocsf.findings_sql(one_control), fixed | {"control_id": control_id})
        while batch := cursor.fetchmany(FETCH_ROWS):
            texts, variants = zip(*batch, strict=True)  # column-wise, without a Python loop per row
            new = set(variants) - seen
            sample = range(-count % VALIDATE_EVERY, len(texts), VALIDATE_EVERY)
            for i in sorted({variants.index(v) for v in new}.union(sample)):
                _refuse_invalid(texts[i])
            seen |= new
            count += len(texts)
            yield texts


def _status_filter(statuses: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    """The condition on control_results (as r) that keeps the wanted statuses, and its parameters."""
    if not statuses:
        return "true", {}
    return "list_contains($statuses, r.status)", {"statuses": list(statuses)}


def _shapes(con: duckdb.DuckDBPyConnection, where: str,
            parameters: dict[str, Any]) -> Iterator[tuple[ocsf.Shape, str]]:
    """Each shape of the rows to export, with one of its resources (for error messages)."""
    rows = con.execute(
        f"SELECT control_id, status, severity, guidance_item, min(resource_id) FROM control_results r "
        f"{where} GROUP BY ALL ORDER BY ALL", parameters,
    ).fetchall()
    for control_id, status, severity, guidance_item, resource_id in rows:
        yield ocsf.Shape(control_id, status, severity, guidance_item), resource_id


def _shape_finding(shape: ocsf.Shape, resource_id: str, run: ocsf.RunFacts) -> ocsf.CloudComplianceFinding:
    where = f"control {shape.control_id}, resource {resource_id}"
    control = CONTROLS_BY_ID.get(shape.control_id)
    if control is None:
        raise ExportError(f"{where}: control is not in the catalogue")
    try:
        return ocsf.shape_finding(shape, control, run)
    except ValueError as e:
        raise ExportError(f"{where}: {e}") from e


def _refuse_invalid(finding_text: bytes) -> None:
    problems = ocsf.finding_problems(finding_text)
    if problems:
        raise ExportError(f"{_described(finding_text)}: not a valid OCSF Compliance Finding: "
                          f"{'; '.join(problems)}")


def _described(finding_text: bytes) -> str:
    """The control and resource a finding names, as far as it names them."""
    finding = json.loads(finding_text)
    control = (finding.get("metadata") or {}).get("event_code")
    resource = ((finding.get("resources") or [{}])[0] or {}).get("uid")
    return f"control {control}, resource {resource}"


def write_findings(items: Iterable[dict[str, Any]], out_file: Path, *, lines: bool = False) -> int:
    """Write findings as a JSON array (one per line) or JSON lines (see write_json_texts)."""
    texts = ([json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()] for item in items)
    return write_json_texts(texts, out_file, lines=lines)


def write_json_texts(batches: Iterable[Sequence[bytes]], out_file: Path, *, lines: bool = False) -> int:
    """Write JSON texts (UTF-8), given in batches, as a JSON array (one per line) or JSON lines,
    under a temporary name moved in when complete (OCSF and ASFF exports); return how many. An
    exception while the texts are produced leaves no file, and any earlier output as it was.

    The file is written by a thread of its own while the next batch is produced (DuckDB and
    file writes both release the GIL): 1.55 M OCSF findings are 4.1 GB, whose writing took as
    long as making them."""
    # Not mkstemp: its 0600 mode would stay on the export; "x" refuses an existing file.
    out_file.parent.mkdir(parents=True, exist_ok=True)
    staging = out_file.with_name(f".{out_file.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    count = 0
    try:
        with staging.open("xb") as out, _BackgroundWriter(out) as writer:
            writer.write(b"" if lines else b"[")
            for batch in batches:
                if not batch:
                    continue
                if not lines:
                    writer.write(b",\n" if count else b"\n")
                writer.write((b"\n" if lines else b",\n").join(batch))  # one copy of the batch
                if lines:
                    writer.write(b"\n")
                count += len(batch)
            writer.write(b"" if lines else (b"\n]\n" if count else b"]\n"))
            writer.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(staging, out_file)
        return count
    finally:
        staging.unlink(missing_ok=True)


class _BackgroundWriter:
    """Writes chunks to a file in a thread, at most QUEUED chunks behind the producer; a write
    error is raised to the producer at its next write or at close."""

    QUEUED = 4

    def __init__(self, out: Any) -> None:
        self._out = out
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=self.QUEUED)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="export-writer", daemon=True)
        self._closed = False

    def __enter__(self) -> _BackgroundWriter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close(raise_error=False)

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is None:
                try:
                    self._out.write(chunk)
                except BaseException as error:  # kept for the producer, which raises it
                    self._error = error

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._chunks.put(chunk)

    def close(self, *, raise_error: bool = True) -> None:
        """Wait until every chunk is written."""
        if not self._closed:
            self._closed = True
            self._chunks.put(None)
            self._thread.join()
        if raise_error and self._error is not None:
            raise self._error


def _run_facts(con: duckdb.DuckDBPyConnection) -> ocsf.RunFacts:
    row = _run_row(con)
    return ocsf.RunFacts(run_id=row["run_id"], started_at=row["started_at"],
                         tool_version=row.get("tool_version"), organization_id=row.get("organization_id"))


def _open(snapshot: Path) -> duckdb.DuckDBPyConnection:
    """Read-only: the snapshot is evidence. No progress bar: DuckDB would print it to stdout."""
    con = snapshot_db.connect(snapshot, read_only=True)
    con.execute("SET enable_progress_bar = false")
    return con


def _refuse_duplicate_results(con: duckdb.DuckDBPyConnection) -> None:
    """Finding ids are built from these columns (reports.ocsf.FINDINGS_SQL): they must be unique."""
    duplicate = con.execute(
        "SELECT control_id, account_id, resource_id, exception_id, count(*) FROM control_results "
        "GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if duplicate:
        control_id, account_id, resource_id, exception_id, n = duplicate
        raise ExportError(
            f"control {control_id}, resource {resource_id}: {n} results share account {account_id} "
            f"and exception {exception_id}, so their finding ids would not be unique"
        )


def _run_row(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    cursor = con.execute("SELECT * FROM run")
    rows = cursor.fetchall()
    if len(rows) != 1:
        raise ExportError(f"the snapshot's run table has {len(rows)} rows, expected 1")
    return dict(zip([d[0] for d in cursor.description], rows[0], strict=True))


def _refuse_run_folder(written: Path) -> None:
    """Nothing may be written into a run folder (this run's or any other): it would break the
    signed manifest."""
    if (folder := enclosing_run_folder(written)) is not None:
        raise ExportError(f"{written.parent} is inside the run folder {folder}, which is signed "
                          "evidence: exports go elsewhere")

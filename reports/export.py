"""Exports of a finished run's snapshot: Parquet per table, and OCSF Compliance Findings.

The run folder is signed evidence (manifest.json lists every file), so exports only ever read
the snapshot (read-only connection) and refuse to write into its folder. Each export is written
under a temporary name beside its destination and moved in only when complete: a failure
half-way leaves the previous output, or nothing, never a truncated file.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from checks.catalogue import CONTROLS_BY_ID
from reports.ocsf import compliance_finding, required_field_problems
from store import snapshot as snapshot_db
from store.run_folder import enclosing_run_folder

FETCH_ROWS = 10_000  # control_results rows held in memory at a time (1.5 M in a 1,000-account run)
RESULT_COLUMNS = (
    "control_id", "guidance_item", "account_id", "resource_id", "resource_type", "status",
    "severity", "reason", "exception_id", "evidence",
)


class ExportError(RuntimeError):
    """The export cannot be written faithfully; nothing was written."""


def export_parquet(snapshot: Path, out_dir: Path) -> list[Path]:
    """Write `<table>.parquet` (zstd) into out_dir for every table of the snapshot; return them.

    Files are written into a temporary sibling folder of out_dir and moved in at the end.
    """
    _refuse_run_folder(out_dir / "table.parquet")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        with _open(snapshot) as con:
            written = [_copy_table(con, table, staging) for table in snapshot_db.table_names(con)]
        out_dir.mkdir(exist_ok=True)
        final = []
        for path in written:
            os.replace(path, out_dir / path.name)
            final.append(out_dir / path.name)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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

    Rows are read FETCH_ROWS at a time and written as they come, in a stable order (control,
    account, resource), so memory stays flat and the same snapshot gives the same bytes. Each
    finding is validated first; an invalid one aborts the export (ExportError naming the control
    and resource) and no file is left.
    """
    _refuse_run_folder(out_file)
    with _open(snapshot) as con:
        return write_findings(_ocsf_findings(con, statuses), out_file)


def _ocsf_findings(con: duckdb.DuckDBPyConnection,
                   statuses: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    run = _run_row(con)
    _refuse_duplicate_results(con)
    names = dict(con.execute("SELECT account_id, name FROM accounts").fetchall())
    for row in control_results(con, statuses):
        yield _valid_finding(row, run, names.get(row["account_id"]))


def write_findings(items: Iterable[dict[str, Any]], out_file: Path, *, lines: bool = False) -> int:
    """Write findings as a JSON array (one per line) or JSON lines, under a temporary name moved
    in when complete (OCSF and ASFF exports); return how many. An exception while the findings
    are produced leaves no file, and any earlier output as it was."""
    # Not mkstemp: its 0600 mode would stay on the export; "x" refuses an existing file.
    out_file.parent.mkdir(parents=True, exist_ok=True)
    staging = out_file.with_name(f".{out_file.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    count = 0
    try:
        with staging.open("x", encoding="utf-8") as out:
            out.write("" if lines else "[")
            for finding in items:
                text = json.dumps(finding, ensure_ascii=False, separators=(",", ":"))
                out.write(f"{text}\n" if lines else f"{',' if count else ''}\n{text}")
                count += 1
            out.write("" if lines else ("\n]\n" if count else "]\n"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(staging, out_file)
        return count
    finally:
        staging.unlink(missing_ok=True)


def control_results(con: duckdb.DuckDBPyConnection,
                    statuses: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """control_results rows (all, or those with `statuses`) as dicts, FETCH_ROWS at a time, in a
    stable order (the columns of the finding id, which _refuse_duplicate_results makes a total
    order)."""
    where = "WHERE list_contains($statuses, status) " if statuses else ""
    cursor = con.execute(
        f"SELECT {', '.join(RESULT_COLUMNS)} FROM control_results {where}"
        "ORDER BY control_id, account_id NULLS FIRST, resource_id, exception_id NULLS FIRST",
        {"statuses": list(statuses)} if statuses else {},
    )
    while batch := cursor.fetchmany(FETCH_ROWS):
        for values in batch:
            yield dict(zip(RESULT_COLUMNS, values, strict=True))


def _valid_finding(row: dict[str, Any], run: dict[str, Any], account_name: str | None) -> dict[str, Any]:
    where = f"control {row['control_id']}, resource {row['resource_id']}"
    control = CONTROLS_BY_ID.get(row["control_id"])
    if control is None:
        raise ExportError(f"{where}: control is not in the catalogue")
    try:
        finding = compliance_finding(row, run, account_name, control)
    except ValueError as e:
        raise ExportError(f"{where}: {e}") from e
    problems = required_field_problems(finding)
    if problems:
        raise ExportError(f"{where}: not a valid OCSF Compliance Finding: {'; '.join(problems)}")
    return finding


def _open(snapshot: Path) -> duckdb.DuckDBPyConnection:
    """Read-only: the snapshot is evidence. No progress bar: DuckDB would print it to stdout."""
    con = snapshot_db.connect(snapshot, read_only=True)
    con.execute("SET enable_progress_bar = false")
    return con


def _refuse_duplicate_results(con: duckdb.DuckDBPyConnection) -> None:
    """Finding ids are built from these columns (reports.ocsf.finding_uid): they must be unique."""
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

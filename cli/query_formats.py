"""The output formats of `rolecall sql`: a Rich table for people, CSV, JSON and Parquet for tools.

Rows are streamed in batches, so exporting a million-row answer costs no more memory than a
batch. Values keep their meaning across formats: timestamps as ISO 8601 in UTC, JSON columns as
nested JSON (not strings holding JSON), lists and structs as JSON in CSV.
"""

from __future__ import annotations

import csv
import json
import os
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import duckdb
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cli.query import QueryError, Result, Session, query_error
from store.snapshot import quote_literal

HEADER_WIDTH = 24  # longer column names may fold


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def write_table(result: Result, console: Console, title: str | None = None,
                max_rows: int = 1000) -> int:
    """A Rich table of at most max_rows rows, then the row count; returns the row count.

    When the columns cannot all fit side by side with whole headers, each row is shown as its
    own column/value list instead (psql's expanded display): nothing is cropped.
    """
    widths = [min(len(name), HEADER_WIDTH) for name in result.columns]
    expanded = sum(w + 3 for w in widths) + 1 > console.width
    table = _table(result.columns, widths, title) if not expanded else None
    shown = total = 0
    for batch in result.batches():
        total += len(batch)
        for row in batch[: max(0, max_rows - shown)]:
            shown += 1
            cells = [_cell(v) for v in row]
            if table is not None:
                table.add_row(*cells)
            else:
                record = Table.grid(padding=(0, 2))
                record.add_column(style="bold", no_wrap=True)
                record.add_column(overflow="fold")
                for name, cell in zip(result.columns, cells, strict=True):
                    record.add_row(Text(name), cell)
                console.print(Text(f"-[ row {shown} ]-", style="dim"))
                console.print(record)
    if table is not None:
        console.print(table)
    more = f" (first {shown} shown; --format csv or json gives them all)" if total > shown else ""
    console.print(f"{total} row{'' if total == 1 else 's'}{more}", highlight=False)
    return total


def _table(columns: list[str], widths: list[int], title: str | None) -> Table:
    table = Table(title=title, title_justify="left")
    for name, width in zip(columns, widths, strict=True):  # headers stay whole, values fold
        table.add_column(Text(name), overflow="fold", min_width=width)
    return table


def write_csv(result: Result, stream: TextIO) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(result.columns)
    total = 0
    for batch in result.batches():
        writer.writerows([_csv_value(v) for v in row] for row in batch)
        total += len(batch)
    return total


def write_json(result: Result, stream: TextIO) -> int:
    """A JSON array of objects, one per row, written as the rows arrive."""
    json_positions = {i for i, kind in enumerate(result.types) if kind == "JSON"}
    total = 0
    stream.write("[")
    for batch in result.batches():
        for row in batch:
            record = {
                name: json.loads(value) if i in json_positions and value is not None else value
                for i, (name, value) in enumerate(zip(result.columns, row, strict=True))
            }
            stream.write(("," if total else "") + "\n" + json.dumps(record, default=_json_default))
            total += 1
    stream.write("\n]\n" if total else "]\n")
    return total


def parquet_staging_path(output: Path) -> Path:
    """Where `write_parquet` writes before renaming: the one file a query session may write, so
    open the session with `write_file=parquet_staging_path(output)`."""
    return output.absolute().parent.resolve() / f".{output.name}.partial"


def write_parquet(session: Session, statement: str, output: Path) -> int:
    """The statement's result as one Parquet file (DuckDB's writer, zstd), written to a temporary
    name first so a failure leaves no half-written file."""
    partial = parquet_staging_path(output)
    try:
        relation = session.con.sql(statement)
        relation.write_parquet(str(partial), compression="zstd")
        written = quote_literal(str(partial))
        rows = session.con.execute(f"SELECT count(*) FROM read_parquet({written})").fetchone()
    except duckdb.Error as error:
        partial.unlink(missing_ok=True)
        raise query_error(session, error) from error
    except Exception as error:
        partial.unlink(missing_ok=True)
        raise QueryError(f"the query failed: {error}") from error
    os.replace(partial, output)
    return int(rows[0]) if rows else 0


def _cell(value: Any) -> Text:
    """The value as Rich Text: data is never read as markup ([bold]) or emoji codes (:id:)."""
    if value is None:
        return Text("NULL", style="dim")
    return Text(_csv_value(value))


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=_json_default)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)

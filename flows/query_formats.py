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

from rich.console import Console
from rich.table import Table

from flows.query import QueryError, Result, Session


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def write_table(result: Result, console: Console, title: str | None = None,
                max_rows: int = 1000) -> int:
    """A Rich table of at most max_rows rows, then the row count; returns the row count."""
    table = Table(title=title, title_justify="left", show_lines=False)
    for name in result.columns:
        table.add_column(name, overflow="fold")
    shown = total = 0
    for batch in result.batches():
        total += len(batch)
        for row in batch[: max(0, max_rows - shown)]:
            table.add_row(*(_cell(v) for v in row))
            shown += 1
    console.print(table)
    more = f" (first {shown} shown; --format csv or json gives them all)" if total > shown else ""
    console.print(f"{total} row{'' if total == 1 else 's'}{more}", highlight=False)
    return total


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


def write_parquet(session: Session, statement: str, output: Path) -> int:
    """The statement's result as one Parquet file (DuckDB's writer, zstd), written to a temporary
    name first so a failure leaves no half-written file."""
    partial = output.with_name(f".{output.name}.partial")
    try:
        relation = session.con.sql(statement)
        relation.write_parquet(str(partial), compression="zstd")
        rows = session.con.execute(f"SELECT count(*) FROM read_parquet('{_quote(partial)}')").fetchone()
    except Exception as error:
        partial.unlink(missing_ok=True)
        raise QueryError(f"the query failed: {error}") from error
    os.replace(partial, output)
    return int(rows[0]) if rows else 0


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def _cell(value: Any) -> str:
    if value is None:
        return "[dim]NULL[/dim]"
    text = _csv_value(value)
    return text.replace("[", r"\[")  # Rich markup in data is data


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

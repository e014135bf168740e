"""Read-only SQL over one run's snapshot, or over every complete run at once.

A run folder is signed evidence, so a query session never opens a snapshot for writing: each
snapshot is ATTACHed READ_ONLY into an in-memory database that holds only views, every
statement is checked before it runs (only SELECT-like statements pass, with a message that says
why), and the configuration is locked so a query cannot re-enable what was turned off.

A query reads the snapshots and nothing else: once they are attached, DuckDB's external access is
turned off, so read_text, read_csv, glob and the like cannot reach the signing key or any other
file. Folders the user names (--allow-path) stay readable; DuckDB resolves `..` and symbolic links
before it compares, so neither leads out of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from checks.catalogue import CONTROLS, GUIDANCE
from store.run_folder import PARTIAL, SNAPSHOT_FILE, complete_runs
from store.snapshot import SCHEMA, quote_identifier, quote_literal, table_names

READ_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}

# Views every session adds next to the snapshot's tables: view -> [(column, type, meaning)].
VIEWS: dict[str, list[tuple[str, str, str]]] = {
    "controls": [
        ("control_id", "VARCHAR", "RC-x.y, as in control_results"),
        ("guidance_item", "VARCHAR", "G1..G6"),
        ("guidance_title", "VARCHAR", "the guidance item the control proves"),
        ("title", "VARCHAR", "what the control requires"),
        ("severity", "VARCHAR", "severity of a failure: critical, high, medium, low, info"),
        ("population", "VARCHAR", "what the control evaluates, one control_results row each"),
        ("fails_when", "VARCHAR", "the exact failing condition"),
        ("remediation", "VARCHAR", "how to fix a failure"),
    ],
}
RUN_ID_COLUMN = ("run_id", "VARCHAR", "the run the row belongs to (history views only)")


class QueryError(Exception):
    """A query or a run selection that cannot be honoured; the message says why."""


@dataclass(frozen=True)
class Session:
    con: duckdb.DuckDBPyConnection
    runs: list[Path]  # the run folders the session reads, oldest first
    history: bool = False
    allowed: tuple[Path, ...] = ()  # folders a query may read besides the snapshots

    def close(self) -> None:
        self.con.close()


def resolve_run(runs_root: Path, run: str) -> Path:
    """A complete run folder from a run id, 'latest', or a path to a run folder."""
    if run == "latest":
        runs = complete_runs(runs_root)
        if not runs:
            raise QueryError(f"no complete run under {runs_root} (run `rolecall audit` first, "
                             "or give --runs)")
        return runs[-1]
    candidate = Path(run) if Path(run).is_dir() else runs_root / run
    if candidate.name.endswith(PARTIAL):
        raise QueryError(f"{candidate} is an incomplete run (its name ends in {PARTIAL}): "
                         "it is not evidence and is not queried")
    if not (candidate / SNAPSHOT_FILE).is_file():
        known = ", ".join(p.name for p in complete_runs(runs_root)[-5:]) or "none"
        raise QueryError(f"no run {run!r} under {runs_root} (latest runs: {known})")
    return candidate


def allowed_folders(paths: Sequence[Path], protected: Sequence[Path] = ()) -> tuple[Path, ...]:
    """The --allow-path folders, resolved, or a QueryError: each must be an existing folder, and
    none may hold (or lie in) a `protected` folder such as the demo signing key's, or a query
    could read the key through it."""
    folders = []
    for path in paths:
        if not path.is_dir():
            raise QueryError(f"--allow-path {path}: not a folder")
        folder = path.resolve()
        for guarded in (p.resolve() for p in protected if p.exists()):
            if guarded.is_relative_to(folder) or folder.is_relative_to(guarded):
                raise QueryError(f"--allow-path {path}: the folder holds or is inside {guarded}, "
                                 "where the signing keys are; allow a narrower folder")
        folders.append(folder)
    return tuple(folders)


def open_run(run_dir: Path, *, allow: Sequence[Path] = (), write_file: Path | None = None) -> Session:
    """One run's tables as views over its snapshot, attached read-only.

    `allow`: folders (from `allowed_folders`) a query may read; `write_file`: the one file the
    session itself may write (the Parquet export's temporary file), never one a query names."""
    con = _new_connection()
    _attach(con, run_dir, "snapshot")
    for table in table_names(con, "snapshot"):
        name = quote_identifier(table)
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM snapshot.{name}")
    _add_views(con)
    _seal(con, allow, write_file)
    return Session(con, [run_dir], allowed=tuple(allow))


def open_history(runs_root: Path, *, allow: Sequence[Path] = (),
                 write_file: Path | None = None) -> Session:
    """Every complete run at once: each table is a view that unions it across runs, with the
    run's id in a leading `run_id` column (runs made by older versions fill missing columns
    with NULL). `allow` and `write_file` as for `open_run`."""
    runs = complete_runs(runs_root)
    if not runs:
        raise QueryError(f"no complete run under {runs_root} (run `rolecall audit` first, or give --runs)")
    con = _new_connection()
    parts: dict[str, list[str]] = {}
    for index, run_dir in enumerate(runs):
        alias = f"run_{index}"
        _attach(con, run_dir, alias)
        _check_run_id(con, run_dir, alias)
        for table in table_names(con, alias):
            # the run table carries run_id already
            prefix = "" if table == "run" else f"{quote_literal(run_dir.name)} AS run_id, "
            parts.setdefault(table, []).append(f"SELECT {prefix}* FROM {alias}.{quote_identifier(table)}")
    for table, selects in parts.items():
        con.execute(f"CREATE VIEW {quote_identifier(table)} AS " + " UNION ALL BY NAME ".join(selects))
    _add_views(con)
    _seal(con, allow, write_file)
    return Session(con, runs, history=True, allowed=tuple(allow))


def read_statements(sql: str) -> list[str]:
    """The statements of `sql` when every one only reads; else a QueryError naming the first
    that would write. Parse errors surface as QueryError too."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryError(f"the query does not parse: {error}") from error
    if not statements:
        raise QueryError("no SQL statement given")
    texts = []
    for statement in statements:
        text = statement.query.strip()
        if statement.type not in READ_STATEMENTS or (
            statement.type == duckdb.StatementType.EXPLAIN and not _explains_a_read(text)
        ):
            kind = statement.type.name
            raise QueryError(
                f"rolecall sql only reads: a {kind} statement is refused ({_head(text)}). "
                "Snapshots are signed evidence and are opened read-only; copy the result out "
                "with --format csv/json/parquet instead."
            )
        texts.append(text.rstrip(";").rstrip())
    return texts


def statement_title(statement: str) -> str:
    """The comment line just above a statement's SQL (docs/queries.sql names each query that
    way), else its first line."""
    lines = [line.strip() for line in statement.splitlines() if line.strip()]
    first_sql = next(i for i, line in enumerate(lines) if not line.startswith("--"))
    return lines[first_sql - 1].lstrip("-").strip() if first_sql else lines[0]


@dataclass
class Result:
    """A statement's result, read in batches so a million-row answer never sits in memory."""

    columns: list[str]
    types: list[str]
    cursor: duckdb.DuckDBPyConnection

    session: Session | None = None

    def batches(self, size: int = 10_000) -> Iterator[list[tuple]]:
        """Rows in batches; an error DuckDB raises while streaming is a QueryError too."""
        while True:
            try:
                rows = self.cursor.fetchmany(size)
            except duckdb.Error as error:
                raise query_error(self.session, error) from error
            if not rows:
                return
            yield rows


def execute(session: Session, statement: str) -> Result:
    """Run one checked statement; DuckDB's own errors (unknown column, bad cast, a file the
    session may not read) become QueryError with a message that says why."""
    try:
        cursor = session.con.execute(statement)
    except duckdb.Error as error:
        raise query_error(session, error) from error
    description = cursor.description or []
    return Result([d[0] for d in description], [str(d[1]) for d in description], cursor, session)


def query_error(session: Session | None, error: duckdb.Error) -> QueryError:
    """DuckDB's error as the one-line QueryError the CLI prints, with a hint where one helps."""
    found = re.search(r'Cannot access file "([^"]*)"', str(error))
    if isinstance(error, duckdb.PermissionException) and found:
        target = found.group(1)
        allowed = session.allowed if session is not None else ()
        if allowed:
            folders = ", ".join(str(p) for p in allowed)
            return QueryError(f"the query may not read {target}: it is outside the folders given "
                              f"with --allow-path ({folders}) once `..` and links are resolved; "
                              "rolecall sql reads only the snapshots and those folders")
        return QueryError(f"the query may not read {target}: rolecall sql reads only the runs' "
                          "snapshots; to join files of your own, give --allow-path DIR for the "
                          "folder that holds them")
    hint = ("\n(run_id is a column of the history views: add --history to query every run)"
            if session is not None and not session.history and "run_id" in str(error) else "")
    return QueryError(f"the query failed: {error}{hint}")


def schema_rows(history: bool = False) -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """(name, 'table' or 'view', columns) for everything a session exposes."""
    rows = []
    for table, columns in SCHEMA.items():
        if history and table != "run":
            rows.append((table, "view", [RUN_ID_COLUMN, *columns]))
        else:
            rows.append((table, "view" if history else "table", list(columns)))
    rows.extend((view, "view", list(columns)) for view, columns in VIEWS.items())
    return rows


def schema_markdown() -> str:
    """The schema as the README prints it: one table per snapshot table and session view."""
    blocks = []
    for name, kind, columns in schema_rows():
        lines = [f"**{name}**" + (" (view)" if kind == "view" else ""), "",
                 "| column | type | meaning |", "|---|---|---|"]
        lines += [f"| `{column}` | {type_} | {meaning} |" for column, type_, meaning in columns]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _new_connection() -> duckdb.DuckDBPyConnection:
    # No extension is fetched from the network behind the user's back (an https:// path would
    # otherwise auto-install httpfs). External access stays on until `_seal`: DuckDB cannot
    # ATTACH a file once it is off, and allowed_directories can only be set on a running database.
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")  # timestamps print in UTC, as the report shows them
    return con


def _attach(con: duckdb.DuckDBPyConnection, run_dir: Path, alias: str) -> None:
    path = run_dir / SNAPSHOT_FILE
    try:
        con.execute(f"ATTACH {quote_literal(str(path))} AS {quote_identifier(alias)} (READ_ONLY)")
    except duckdb.Error as error:
        raise QueryError(f"cannot open {path} read-only: {error}") from error


def _check_run_id(con: duckdb.DuckDBPyConnection, run_dir: Path, alias: str) -> None:
    """History dates rows by folder name: a folder renamed (or a run copied under another name)
    would show its rows under the wrong date, so it is refused, naming both."""
    recorded = con.execute(f"SELECT any_value(run_id) FROM {quote_identifier(alias)}.run").fetchone()
    if recorded and recorded[0] and recorded[0] != run_dir.name:
        raise QueryError(f"{run_dir} holds run {recorded[0]!r}, not {run_dir.name!r}: a renamed or "
                         "copied run folder is not queried as history (rolecall verify names both)")


def _add_views(con: duckdb.DuckDBPyConnection) -> None:
    titles = {item.id: item.title for item in GUIDANCE}
    con.execute(
        "CREATE VIEW controls AS SELECT * FROM (VALUES "
        + ", ".join(
            "(" + ", ".join(quote_literal(v) for v in (
                c.id, c.guidance_item, titles[c.guidance_item], c.title, c.severity,
                c.population, c.fails_when, c.remediation)) + ")"
            for c in CONTROLS
        )
        + ") AS t(" + ", ".join(name for name, _, _ in VIEWS["controls"]) + ")"
    )


def _seal(con: duckdb.DuckDBPyConnection, allow: Sequence[Path], write_file: Path | None) -> None:
    """Shut the session off from every file but the snapshots it has attached (DuckDB keeps
    those readable), the allowed folders and `write_file`, then lock the configuration so a query
    can neither turn access back on nor widen the lists."""
    if allow:
        folders = ", ".join(quote_literal(str(p.resolve())) for p in allow)
        con.execute(f"SET allowed_directories = [{folders}]")
    if write_file is not None:
        con.execute(f"SET allowed_paths = [{quote_literal(str(write_file.resolve()))}]")
    con.execute("SET enable_external_access = false")
    # A query may not turn the settings above back on, nor attach a snapshot for writing.
    con.execute("SET lock_configuration = true")


def _explains_a_read(text: str) -> bool:
    inner = re.sub(r"^\s*EXPLAIN\s+(ANALYZE\s+)?", "", text, flags=re.IGNORECASE)
    try:
        return all(s.type == duckdb.StatementType.SELECT for s in duckdb.extract_statements(inner))
    except duckdb.Error:
        return False


def _head(text: str) -> str:
    first = " ".join(text.split())
    return first if len(first) <= 60 else first[:57] + "..."

"""Query sessions over hand-made snapshots: runs of different schema versions, statement checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.query import (
    QueryError,
    allowed_folders,
    execute,
    open_history,
    open_run,
    read_statements,
    statement_title,
)
from store import snapshot
from store.run_folder import enclosing_run_folder


def _run(root: Path, run_id: str, users: list[str], *, old_schema: bool = False) -> Path:
    folder = root / run_id
    folder.mkdir(parents=True)
    con = snapshot.create(folder / "snapshot.duckdb")
    snapshot.insert_rows(con, "run", [{"run_id": run_id}])
    snapshot.insert_rows(con, "accounts", [{"account_id": "111111111111", "name": "a", "api_calls": 9}])
    snapshot.insert_rows(con, "iam_users", [{"account_id": "111111111111", "user_name": u} for u in users])
    if old_schema:  # as an earlier rolecall version wrote it
        con.execute("ALTER TABLE accounts DROP COLUMN api_calls")
        con.execute("DROP TABLE access_analyzers")
    con.close()
    return folder


def test_history_spans_runs_written_by_older_schema_versions(tmp_path: Path) -> None:
    _run(tmp_path, "20260101T000000Z", ["alice", "bob"], old_schema=True)
    _run(tmp_path, "20260201T000000Z", ["bob"])
    session = open_history(tmp_path)
    try:
        rows = execute(session, "SELECT run_id, name, api_calls FROM accounts ORDER BY run_id")
        assert rows.cursor.fetchall() == [("20260101T000000Z", "a", None), ("20260201T000000Z", "a", 9)]
        users = execute(session, "SELECT run_id, count(*) FROM iam_users GROUP BY 1 ORDER BY 1")
        assert users.cursor.fetchall() == [("20260101T000000Z", 2), ("20260201T000000Z", 1)]
        # a table only the newer run has is still a view, over that run alone
        analyzers = execute(session, "SELECT count(*) FROM access_analyzers")
        assert analyzers.cursor.fetchall() == [(0,)]
    finally:
        session.close()


def test_history_of_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="no complete run"):
        open_history(tmp_path)


@pytest.mark.parametrize("sql", [
    "SELECT 1", "WITH a AS (SELECT 1) SELECT * FROM a", "FROM iam_users", "DESCRIBE iam_users",
    "SHOW TABLES", "SUMMARIZE iam_users", "EXPLAIN SELECT 1", "EXPLAIN ANALYZE SELECT 1",
    "select 1;  ", "-- a comment\nSELECT 1",
])
def test_reading_statements_pass(sql: str) -> None:
    assert len(read_statements(sql)) == 1


@pytest.mark.parametrize("sql", [
    "PRAGMA threads=1", "CALL pragma_version()", "USE snapshot", "EXPORT DATABASE 'x'", "VACUUM",
    "LOAD httpfs", "CREATE VIEW v AS SELECT 1", "PREPARE p AS SELECT 1", "BEGIN TRANSACTION",
    "PIVOT iam_users ON user_name",
])
def test_anything_else_is_refused_before_it_runs(sql: str) -> None:
    with pytest.raises(QueryError, match="only reads"):
        read_statements(sql)


def test_statement_title_is_the_comment_just_above_the_sql() -> None:
    assert statement_title("-- header\n\n-- 01. Users\nSELECT 1") == "01. Users"
    assert statement_title("SELECT 1\nFROM x") == "SELECT 1"


def test_enclosing_run_folder_finds_finished_and_partial_runs(tmp_path: Path) -> None:
    finished = _run(tmp_path, "20260101T000000Z", [])
    partial = tmp_path / "20260201T000000Z.partial"
    (partial / "evidence").mkdir(parents=True)
    assert enclosing_run_folder(finished / "evidence" / "x.csv") == finished.resolve()
    assert enclosing_run_folder(partial / "evidence" / "x.csv") == partial.resolve()
    assert enclosing_run_folder(tmp_path / "exports" / "x.csv") is None


def test_a_session_reads_its_snapshot_and_allowed_folders_only(tmp_path: Path) -> None:
    run = _run(tmp_path / "runs", "20260101T000000Z", ["alice", "bob"])
    (tmp_path / "secret.txt").write_text("s3cret")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "owners.csv").write_text("user_name,owner\nalice,red\n")
    session = open_run(run, allow=allowed_folders([lists]))
    try:
        joined = execute(session, f"SELECT user_name, owner FROM iam_users "
                                  f"JOIN read_csv('{lists}/owners.csv') USING (user_name)")
        assert joined.cursor.fetchall() == [("alice", "red")]
        with pytest.raises(QueryError, match="may not read .*secret.txt.*outside the folders") as refused:
            execute(session, f"SELECT content FROM read_text('{tmp_path}/secret.txt')")
        assert "s3cret" not in str(refused.value)
    finally:
        session.close()
    history = open_history(tmp_path / "runs")  # no folder allowed at all
    try:
        with pytest.raises(QueryError, match="reads only the runs' snapshots"):
            execute(history, f"SELECT * FROM read_csv('{lists}/owners.csv')")
    finally:
        history.close()


def test_allowed_folders_exist_and_keep_clear_of_the_signing_keys(tmp_path: Path) -> None:
    keys = tmp_path / "data" / "keys"
    keys.mkdir(parents=True)
    (tmp_path / "lists").mkdir()
    assert allowed_folders([tmp_path / "lists"], protected=[keys]) == ((tmp_path / "lists").resolve(),)
    for folder in (tmp_path, tmp_path / "data", keys):
        with pytest.raises(QueryError, match="signing keys"):
            allowed_folders([folder], protected=[keys])
    with pytest.raises(QueryError, match="not a folder"):
        allowed_folders([tmp_path / "nope"])

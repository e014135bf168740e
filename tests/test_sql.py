"""`rolecall sql` and `rolecall schema` on three real audits of the simulated organization
(the `history` fixture: a user deleted, then a user and a key created, between the runs)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.query import read_statements, schema_markdown, statement_title
from store.snapshot import SCHEMA
from tests.simulated_history import History, fingerprint

ROOT = Path(__file__).resolve().parents[1]
QUERIES = read_statements((ROOT / "docs" / "queries.sql").read_text())


def sql(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["sql", *args], input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


USERS = "SELECT count(*) FROM iam_users"


def test_one_run_defaults_to_the_latest_and_answers_from_its_snapshot(history: History) -> None:
    code, out, _ = sql("--runs", str(history.runs_root), "--format", "csv", USERS)
    assert code == 0
    assert out.splitlines()[1] == str(history.count(history.run_dirs[-1], USERS)[0][0])


def test_run_option_selects_an_earlier_run_by_id_or_path(history: History) -> None:
    first, second, third = history.run_dirs
    by_id = sql("--runs", str(history.runs_root), "--run", second.name, "-f", "csv", USERS)
    by_path = sql("--run", str(second), "-f", "csv", USERS)
    latest = sql("--runs", str(history.runs_root), "--run", "latest", "-f", "csv", USERS)
    assert by_id[1] == by_path[1]
    assert int(by_id[1].splitlines()[1]) == history.count(second, USERS)[0][0] == 10  # alice gone
    assert int(latest[1].splitlines()[1]) == history.count(third, USERS)[0][0] == 11  # carol came
    alice = history.sim.user_arn("prod", "alice")
    has_alice = f"SELECT count(*) FROM iam_users WHERE arn = '{alice}'"
    assert sql("--run", str(first), "-f", "csv", has_alice)[1].splitlines()[1] == "1"
    assert sql("--run", str(third), "-f", "csv", has_alice)[1].splitlines()[1] == "0"


def test_history_unions_every_complete_run_with_its_run_id(history: History, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(history.runs_root, runs)
    # an incomplete run is never part of the history
    shutil.copytree(runs / history.run_dirs[0].name, runs / "20990101T000000Z.partial")
    code, out, _ = sql("--history", "--runs", str(runs), "-f", "json",
                       "SELECT run_id, count(*) AS users FROM iam_users GROUP BY run_id ORDER BY run_id")
    assert code == 0
    rows = json.loads(out)
    expected = [{"run_id": d.name, "users": history.count(d, USERS)[0][0]} for d in history.run_dirs]
    assert rows == expected
    assert [r["users"] for r in rows] == [11, 10, 11]
    code, out, _ = sql("--history", "--runs", str(runs), "-f", "csv", "SELECT run_id FROM run ORDER BY 1")
    assert out.split() == ["run_id", *(d.name for d in history.run_dirs)]


def test_table_format_shows_rows_and_a_count(history: History) -> None:
    code, out, _ = sql("--runs", str(history.runs_root), "SELECT user_name FROM iam_users ORDER BY 1")
    assert code == 0
    assert "user_name" in out and "carol" in out and "alice" not in out
    assert re.search(r"^11 rows$", out, re.MULTILINE)
    code, out, _ = sql("--runs", str(history.runs_root), "--max-rows", "2",
                       "SELECT user_name FROM iam_users ORDER BY 1")
    assert "11 rows (first 2 shown" in out
    assert "carol" not in out  # sorted: break-glass-admin, bob come first


@pytest.mark.parametrize("expanded", [False, True])
def test_table_format_prints_data_verbatim(history: History, expanded: bool) -> None:
    """Rich would turn :x: and :id: into emoji and [bold] into markup; data must stay data."""
    values = ["a:x:b", "user:id:1", "[bold]not-bold[/bold]", ":smile:"]
    select = ", ".join(f"'{v}' AS c{i}" for i, v in enumerate(values))
    if expanded:  # a result too wide for the screen: shown row by row
        select += ", " + ", ".join(f"'w' AS a_column_name_long_enough_to_widen_{i}" for i in range(8))
    code, out, _ = sql("--runs", str(history.runs_root), f"SELECT {select}")
    assert code == 0, out
    assert ("-[ row 1 ]-" in out) == expanded
    flat = "".join(out.split())
    for value in values:
        assert value in flat, (value, out)
    assert "❌" not in out and "🆔" not in out and "😄" not in out


def test_a_result_too_wide_for_the_screen_is_shown_row_by_row_uncropped(history: History) -> None:
    code, out, _ = sql("--runs", str(history.runs_root), "SELECT * FROM iam_users ORDER BY arn")
    assert code == 0
    assert out.count("-[ row ") == 11 and "11 rows" in out
    for column, _type, _meaning in SCHEMA["iam_users"]:
        assert re.search(rf"^{column} ", out, re.MULTILINE), column  # every header, whole
    for (arn,) in history.count(history.run_dirs[-1], "SELECT arn FROM iam_users"):
        assert arn in out  # every value, whole


def test_csv_and_json_carry_the_same_values_with_types_kept(history: History) -> None:
    query = ("SELECT resource_id, status, evidence, (SELECT started_at FROM run) AS run_started "
             "FROM control_results WHERE control_id = 'RC-1.1' ORDER BY resource_id")
    _, csv_out, _ = sql("--runs", str(history.runs_root), "-f", "csv", query)
    _, json_out, _ = sql("--runs", str(history.runs_root), "-f", "json", query)
    from_csv = list(csv.DictReader(io.StringIO(csv_out)))
    from_json = json.loads(json_out)
    direct = history.count(history.run_dirs[-1], query)
    assert len(from_csv) == len(from_json) == len(direct) == 11
    for c, j, (resource_id, status, evidence, started) in zip(from_csv, from_json, direct, strict=True):
        assert c["resource_id"] == j["resource_id"] == resource_id
        assert c["status"] == j["status"] == status
        assert j["evidence"] == json.loads(evidence)  # nested JSON, not a string
        assert json.loads(c["evidence"]) == json.loads(evidence)
        assert c["run_started"] == j["run_started"] == started.isoformat()
        assert j["run_started"].endswith("+00:00")  # UTC, as the report shows times


def test_output_option_writes_csv_to_a_file(history: History, tmp_path: Path) -> None:
    target = tmp_path / "users.csv"
    code, out, _ = sql("--runs", str(history.runs_root), "-f", "csv", "-o", str(target), USERS)
    assert code == 0 and out == ""
    assert target.read_text().splitlines() == ["count_star()", "11"]


def test_parquet_output_round_trips(history: History, tmp_path: Path) -> None:
    target = tmp_path / "results.parquet"
    code, _, err = sql("--runs", str(history.runs_root), "-f", "parquet", "-o", str(target),
                       "SELECT * FROM control_results ORDER BY control_id, resource_id")
    assert code == 0
    total = history.count(history.run_dirs[-1], "SELECT count(*) FROM control_results")[0][0]
    assert f"{total} rows written" in err
    with duckdb.connect() as con:
        back = con.execute(f"SELECT control_id, resource_id, status FROM read_parquet('{target}') "
                           "ORDER BY control_id, resource_id").fetchall()
    assert back == history.count(history.run_dirs[-1], "SELECT control_id, resource_id, status "
                                 "FROM control_results ORDER BY control_id, resource_id")
    assert not list(tmp_path.glob(".*partial"))


def test_parquet_needs_an_output_file(history: History) -> None:
    code, _, err = sql("--runs", str(history.runs_root), "-f", "parquet", USERS)
    assert code == 2 and "--output" in err


def test_results_are_never_written_into_a_run_folder(history: History) -> None:
    before = fingerprint(history.runs_root)
    target = history.run_dirs[0] / "evidence" / "extra.csv"
    code, _, err = sql("--runs", str(history.runs_root), "-f", "csv", "-o", str(target), USERS)
    assert code == 2 and "signed evidence" in err
    assert fingerprint(history.runs_root) == before


WRITES = [
    "DELETE FROM iam_users",
    "UPDATE control_results SET status = 'pass'",
    "INSERT INTO exceptions (exception_id) VALUES ('EXC-999')",
    "DROP TABLE control_results",
    "CREATE TABLE snapshot.x AS SELECT 1",
    "ALTER TABLE iam_users ADD COLUMN x INTEGER",
    "COPY iam_users TO 'stolen.csv'",
    "ATTACH 'other.duckdb' AS other",
    "DETACH snapshot",
    "SET lock_configuration = false",
    "CHECKPOINT",
    "INSTALL httpfs",
    "EXPLAIN ANALYZE DELETE FROM iam_users",
    "SELECT 1; DELETE FROM iam_users",
]


@pytest.mark.parametrize("statement", WRITES)
@pytest.mark.parametrize("mode", ["run", "history"])
def test_a_write_is_refused_and_no_byte_changes(history: History, statement: str, mode: str,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where COPY or ATTACH would create their files
    before = fingerprint(history.runs_root)
    selection = ["--history"] if mode == "history" else []
    code, out, err = sql("--runs", str(history.runs_root), *selection, statement)
    assert code == 2
    assert "only reads" in err and "refused" in err
    assert out == ""  # not even the read statement before it ran
    assert fingerprint(history.runs_root) == before
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_query_is_a_clear_error(history: History) -> None:
    code, out, err = sql("--runs", str(history.runs_root), "SELEC count(*) FROM iam_users")
    assert code == 2 and out == ""
    assert "does not parse" in err and 'syntax error at or near "SELEC"' in err
    code, _, err = sql("--runs", str(history.runs_root), "SELECT nope FROM iam_users")
    assert code == 2 and "the query failed" in err and 'column "nope" not found' in err
    code, _, err = sql("--runs", str(history.runs_root), "SELECT * FROM no_such_table")
    assert code == 2 and "no_such_table does not exist" in err
    code, _, err = sql("--runs", str(history.runs_root), "SELECT run_id FROM iam_users")
    assert code == 2 and "add --history" in err


def test_bad_run_selection_is_a_clear_error(history: History, tmp_path: Path) -> None:
    code, _, err = sql("--runs", str(history.runs_root), "--run", "19990101T000000Z", USERS)
    assert code == 2 and "no run '19990101T000000Z'" in err and history.run_dirs[-1].name in err
    partial = tmp_path / "20990101T000000Z.partial"
    shutil.copytree(history.run_dirs[0], partial)
    code, _, err = sql("--run", str(partial), USERS)
    assert code == 2 and "incomplete run" in err
    code, _, err = sql("--runs", str(tmp_path / "empty"), USERS)
    assert code == 2 and "no complete run" in err
    code, _, err = sql("--runs", str(history.runs_root), "--history", "--run", "latest", USERS)
    assert code == 2 and "not both" in err


def test_sql_is_read_from_stdin_and_every_statement_is_answered(history: History) -> None:
    code, out, _ = sql("--runs", str(history.runs_root),
                       input="-- users\nSELECT count(*) AS users FROM iam_users;\n"
                             "-- roles\nSELECT count(*) AS roles FROM iam_roles;\n")
    assert code == 0
    assert "users" in out and "roles" in out and out.count("1 row") == 2
    code, _, err = sql("--runs", str(history.runs_root), "-f", "csv", input="SELECT 1; SELECT 2")
    assert code == 2 and "takes one statement" in err
    code, _, err = sql("--runs", str(history.runs_root), input="   ")
    assert code == 2 and "no SQL statement" in err


def test_the_controls_view_describes_every_control_in_the_results(history: History) -> None:
    code, out, _ = sql("--runs", str(history.runs_root), "-f", "json",
                       "SELECT DISTINCT r.control_id, c.title IS NOT NULL AS known "
                       "FROM control_results r LEFT JOIN controls c USING (control_id)")
    assert code == 0
    assert all(row["known"] for row in json.loads(out))


# --- docs/queries.sql ---------------------------------------------------------------------------

# Empty on the simulated organization by design: every account is collected (10.), and no user
# of the `history` fixture comes back after removal (18.; tests/test_burndown.py has one who does).
EMPTY_ON_THE_SIMULATED_ORG = {"10.", "18."}


def test_the_examples_file_has_at_least_ten_named_queries() -> None:
    titles = [statement_title(q) for q in QUERIES]
    assert len(QUERIES) >= 10
    assert all(re.match(r"\d\d\. ", t) for t in titles), titles
    assert len(set(titles)) == len(titles)


@pytest.mark.parametrize("query", QUERIES, ids=[statement_title(q)[:3] for q in QUERIES])
def test_each_example_query_runs(history: History, query: str) -> None:
    title = statement_title(query)
    selection = ["--history"] if "[history]" in title else []
    # stdin, as a user runs a saved query: `rolecall sql < query.sql`
    code, out, err = sql("--runs", str(history.runs_root), *selection, "-f", "json", input=query)
    assert code == 0, err
    rows = json.loads(out)
    if title[:3] not in EMPTY_ON_THE_SIMULATED_ORG:
        assert rows, title


def _example(number: str) -> str:
    return next(q for q in QUERIES if statement_title(q).startswith(number))


def test_example_gained_users_names_the_account_where_carol_was_created(history: History) -> None:
    _, out, _ = sql("--runs", str(history.runs_root), "--history", "-f", "json", "--", _example("15."))
    rows = json.loads(out)
    assert [(r["name"], r["first_users"], r["latest_users"]) for r in rows] == [("dev", 3, 4)]


def test_example_changes_between_the_last_two_runs_are_carols(history: History) -> None:
    _, out, _ = sql("--runs", str(history.runs_root), "--history", "-f", "json", "--", _example("16."))
    rows = json.loads(out)
    carol = history.sim.user_arn("dev", "carol")
    assert rows and all(r["change"] == "new" for r in rows)
    # carol herself, her key, and Access Analyzer's new finding about the key (a finding id)
    assert {r["control_id"] for r in rows if r["resource_id"].startswith(carol)} >= {"RC-1.1", "RC-3.1"}
    assert {r["control_id"] for r in rows if not r["resource_id"].startswith(carol)} <= {"RC-3.2"}


def test_example_external_trust_lists_the_vendor_roles(history: History) -> None:
    _, out, _ = sql("--runs", str(history.runs_root), "-f", "json", "--", _example("04."))
    by_role = {r["role_name"]: r for r in json.loads(out)}
    assert by_role["vendor-acme-externalid"]["rc_4_1"] == "pass"
    assert by_role["contractor-no-externalid"]["rc_4_1"] == "fail"
    assert by_role["public-any-principal"]["trusted_account"] == "any account"
    assert "rolecall-audit" not in by_role  # trusts the management account, inside the organization


# --- rolecall schema ----------------------------------------------------------------------------

def test_schema_lists_every_table_and_column_with_its_meaning() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    for table, columns in SCHEMA.items():
        assert f"{table} (table)" in result.stdout
        for column, _type, meaning in columns:
            assert column in result.stdout and meaning.split()[0] in result.stdout
    assert "controls (view)" in result.stdout


def test_schema_history_adds_run_id_to_every_view() -> None:
    result = CliRunner().invoke(app, ["schema", "--history"])
    assert result.exit_code == 0
    assert "iam_users (view)" in result.stdout and "history views only" in result.stdout


def test_readme_carries_the_schema_as_rolecall_schema_prints_it() -> None:
    assert schema_markdown() in (ROOT / "README.md").read_text()


def test_schema_matches_the_tables_of_a_real_snapshot(history: History) -> None:
    with duckdb.connect(str(history.run_dirs[-1] / "snapshot.duckdb"), read_only=True) as con:
        actual = {(t, c) for t, c in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = 'snapshot'"
        ).fetchall()}
    assert actual == {(t, c) for t, cols in SCHEMA.items() for c, _, _ in cols}


def test_verify_checks_every_queried_run_before_answering(history: History, tmp_path: Path) -> None:
    code, out, err = sql("--runs", str(history.runs_root), "--history", "--verify", "-f", "csv",
                         "SELECT count(DISTINCT run_id) FROM run")
    assert code == 0 and out.splitlines()[1] == "3"
    assert "Verified 3 runs" in err
    runs = tmp_path / "runs"
    shutil.copytree(history.runs_root, runs)
    tampered = runs / history.run_dirs[1].name / "evidence" / "accounts.csv"
    tampered.write_text(tampered.read_text().replace("prod", "prid"))
    code, out, err = sql("--runs", str(runs), "--history", "--verify", USERS)
    assert code == 2 and out == ""
    assert f"run {history.run_dirs[1].name} does not verify" in err and "accounts.csv" in err
    # without --verify the query is answered: verification is the auditor's choice, not a toll
    assert sql("--runs", str(runs), "--history", USERS)[0] == 0


def test_the_reports_reproduce_command_runs_and_gives_the_reports_counts(history: History) -> None:
    run = history.run_dirs[-1]
    html = (run / "report.html").read_text()
    found = re.search(r'rolecall sql (--run \S+ --verify) &#34;(SELECT .*?)&#34;', html) \
        or re.search(r'rolecall sql (--run \S+ --verify) "(SELECT .*?)"', html)
    assert found, "the report names no rolecall sql command"
    options, query = found.group(1).split(), found.group(2).replace("&#39;", "'")
    assert options[1] == run.name
    code, out, _ = sql("--runs", str(history.runs_root), *options, "-f", "csv", query)
    assert code == 0
    rows = sorted(tuple(line.split(",")) for line in out.splitlines()[1:])
    expected = history.count(run, "SELECT status, count(*) FROM control_results "
                                  "WHERE control_id = 'RC-1.1' GROUP BY status")
    assert rows == sorted((status, str(n)) for status, n in expected)

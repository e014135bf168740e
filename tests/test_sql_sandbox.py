"""`rolecall sql` reads the snapshots and nothing else: DuckDB's file readers cannot reach the
signing key or any other file, except in folders given with --allow-path, and `..` or links do
not lead out of those (on the `history` fixture's three real runs)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cli.main import app
from reports.keys import DEMO_KEY_FILE
from tests.simulated_history import History, fingerprint

MODES = {"run": [], "history": ["--history"]}
SECRET = "outside-secret-7f3a"  # in every file a query must not read


def sql(history: History, mode: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["sql", "--runs", str(history.runs_root), *MODES[mode], *args],
                                catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def signing_key(history: History) -> Path:
    """The real private key that signed the history's runs."""
    candidates = [history.runs_root.parent / "keys" / DEMO_KEY_FILE,
                  Path(os.environ["ROLECALL_KEYS_DIR"]) / DEMO_KEY_FILE]
    key = next((p for p in candidates if p.is_file()), None)
    assert key is not None and "PRIVATE KEY" in key.read_text(), candidates
    return key


def key_material(key: Path) -> list[str]:
    return [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of readable CSV, Parquet and JSON files that no query was allowed to read."""
    folder = tmp_path_factory.mktemp("outside")
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE t AS SELECT 'bob' AS user_name, '{SECRET}' AS note")
        for name, options in (("users.csv", "(HEADER)"), ("users.parquet", "(FORMAT parquet)"),
                              ("users.json", "(FORMAT json)")):
            con.execute(f"COPY t TO '{folder / name}' {options}")
    return folder


READS = {
    "read_text of the key": "SELECT content FROM read_text('{key}')",
    "read_blob of the key": "SELECT content FROM read_blob('{key}')",
    "read_csv of the key": "SELECT * FROM read_csv('{key}', header = false, sep = '|')",
    "glob of the keys folder": "SELECT file FROM glob('{key_dir}/*')",
    "read_csv": "SELECT * FROM read_csv('{outside}/users.csv')",
    "read_parquet": "SELECT * FROM read_parquet('{outside}/users.parquet')",
    "read_json": "SELECT * FROM read_json('{outside}/users.json')",
    "a file named in FROM": "SELECT * FROM '{outside}/users.csv'",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("read", READS)
def test_a_query_cannot_read_files_beside_the_snapshots(
    history: History, outside: Path, read: str, mode: str
) -> None:
    key = signing_key(history)
    query = READS[read].format(key=key, key_dir=key.parent, outside=outside)
    code, out, err = sql(history, mode, "-f", "csv", query)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Traceback" not in err
    if read != "a file named in FROM":  # DuckDB reports it as an unknown table instead
        assert "may not read" in err and "--allow-path" in err, err
    leaks = [SECRET, *key_material(key)] + ([DEMO_KEY_FILE] if read.startswith("glob") else [])
    for leaked in leaks:
        assert leaked not in out + err


@pytest.fixture
def lists(tmp_path: Path) -> Path:
    """An auditor's own folder, with a CSV to join and every way out of it we could think of."""
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "owners.csv").write_text("user_name,owner\nbob,team-prod\ncarol,team-dev\n")
    (tmp_path / "secret.csv").write_text(f"user_name,owner\nbob,{SECRET}\n")
    (folder / "link-out.csv").symlink_to(tmp_path / "secret.csv")
    (folder / "up").symlink_to(tmp_path, target_is_directory=True)
    (folder / "link-in.csv").symlink_to(folder / "owners.csv")
    sibling = tmp_path / "lists-other"  # shares the allowed folder's name as a prefix
    sibling.mkdir()
    (sibling / "secret.csv").write_text(f"user_name,owner\nbob,{SECRET}\n")
    return folder


@pytest.mark.parametrize("mode", MODES)
def test_a_csv_in_an_allowed_folder_can_be_joined(history: History, lists: Path, mode: str) -> None:
    run_id = "run_id, " if mode == "history" else ""
    query = (f"SELECT {run_id}u.user_name, o.owner FROM iam_users u "
             f"JOIN read_csv('{lists}/owners.csv') o USING (user_name) ORDER BY ALL")
    code, out, err = sql(history, mode, "--allow-path", str(lists), "-f", "csv", query)
    assert code == 0, err
    rows = [tuple(line.split(",")) for line in out.splitlines()[1:]]
    owners = {"bob": "team-prod", "carol": "team-dev"}
    runs = history.run_dirs if mode == "history" else history.run_dirs[-1:]
    expected = sorted(
        ((d.name,) if mode == "history" else ()) + (name, owners[name])
        for d in runs for (name,) in history.count(d, "SELECT user_name FROM iam_users")
        if name in owners
    )
    assert rows == expected and len(rows) >= 2  # bob in every run, carol in the last


def test_an_allowed_folder_may_be_given_relative_and_links_inside_it_work(
    history: History, lists: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(lists.parent)
    code, out, err = sql(history, "run", "--allow-path", "lists", "-f", "csv",
                         "SELECT count(*) FROM read_csv('lists/link-in.csv')")
    assert code == 0, err
    assert out.splitlines()[1] == "2"


ESCAPES = {
    "the signing key": "{key}",
    "..": "{lists}/../secret.csv",
    "a link to a file outside": "{lists}/link-out.csv",
    "a link to a folder outside": "{lists}/up/secret.csv",
    "a sibling folder with the same prefix": "{lists}-other/secret.csv",
    "a list mixing an allowed file and another": "['{lists}/owners.csv', '{lists}/../secret.csv']",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("escape", ESCAPES)
def test_a_file_outside_the_allowed_folder_is_still_refused(
    history: History, lists: Path, escape: str, mode: str
) -> None:
    key = signing_key(history)
    target = ESCAPES[escape].format(key=key, lists=lists)
    source = target if target.startswith("[") else f"'{target}'"
    code, out, err = sql(history, mode, "--allow-path", str(lists), "-f", "csv",
                         f"SELECT * FROM read_csv({source}, header = false, sep = '|')")
    assert code == 2 and out == ""
    assert "may not read" in err and "outside the folders given with --allow-path" in err, err
    assert str(lists) in err
    for leaked in (SECRET, *key_material(key)):
        assert leaked not in err


@pytest.mark.parametrize("mode", MODES)
def test_the_session_is_locked_with_external_access_off(history: History, lists: Path, mode: str) -> None:
    code, out, err = sql(history, mode, "--allow-path", str(lists), "-f", "json",
                         "SELECT current_setting('enable_external_access') AS external, "
                         "current_setting('lock_configuration') AS locked, "
                         "current_setting('allowed_directories') AS folders")
    assert code == 0, err
    assert '"external": false' in out and '"locked": true' in out
    assert str(lists.resolve()) in out


def test_a_folder_holding_the_signing_keys_cannot_be_allowed(
    history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    monkeypatch.setenv("ROLECALL_KEYS_DIR", str(keys_dir))
    for folder in (tmp_path, keys_dir):
        code, out, err = sql(history, "run", "--allow-path", str(folder), "SELECT 1")
        assert code == 2 and out == ""
        assert f"--allow-path {folder}" in err and "signing keys" in err
    code, _, err = sql(history, "run", "--allow-path", str(tmp_path / "none"), "SELECT 1")
    assert code == 2 and "not a folder" in err


def test_parquet_export_still_writes_with_external_access_off(history: History, tmp_path: Path) -> None:
    target = tmp_path / "users.parquet"
    code, _, err = sql(history, "history", "-f", "parquet", "-o", str(target),
                       "SELECT run_id, user_name FROM iam_users")
    assert code == 0, err
    with duckdb.connect() as con:
        (rows,) = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()
    assert rows == sum(history.count(d, "SELECT count(*) FROM iam_users")[0][0] for d in history.run_dirs)


def test_an_output_file_that_cannot_be_written_is_a_clear_error(history: History, tmp_path: Path) -> None:
    before = fingerprint(history.runs_root)
    code, _, err = sql(history, "run", "-f", "csv", "-o", str(tmp_path / "missing" / "x.csv"),
                       "SELECT count(*) FROM iam_users")
    assert code == 2 and err.startswith("error: cannot write") and "Traceback" not in err
    assert fingerprint(history.runs_root) == before

"""A folder is its run: `rolecall verify` and `rolecall sql --verify` refuse a copy of a real run
(the `history` fixture) under another name, and a --ca that is not a certificate is exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from tests.simulated_history import History

OTHER_ID = "20990101T000000Z"


def rolecall(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_verify_fails_a_run_copied_under_another_name_naming_both(history: History, tmp_path: Path) -> None:
    source = history.run_dirs[0]
    same_name = shutil.copytree(source, tmp_path / "kept" / source.name)
    assert rolecall("verify", str(same_name))[0] == 0  # the copy itself is intact
    renamed = shutil.copytree(source, tmp_path / OTHER_ID)
    code, out, _ = rolecall("verify", str(renamed))
    assert code == 1
    failing = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1 and failing[0].startswith("FAIL  run id:")
    assert f"'{OTHER_ID}'" in failing[0] and f"'{source.name}'" in failing[0]


def test_sql_verify_refuses_a_renamed_run_one_run_and_history(history: History, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(history.runs_root, runs)
    # another run's files under a newer run's name: the newest run, so also what "latest" picks
    shutil.copytree(runs / history.run_dirs[0].name, runs / OTHER_ID)
    for selection in (["--run", OTHER_ID], []):
        code, out, err = rolecall("sql", "--runs", str(runs), *selection, "--verify",
                                  "SELECT count(*) FROM iam_users")
        assert code == 2 and out == "", selection
        flat = " ".join(err.split())
        assert f"run {OTHER_ID} does not verify" in flat and "run id:" in flat
        assert history.run_dirs[0].name in flat
    # the query itself is answered without --verify: verification is the auditor's choice
    assert rolecall("sql", "--runs", str(runs), "--run", OTHER_ID, "SELECT 1")[0] == 0
    # but history dates rows by folder name: a renamed run is refused there, with or without --verify
    for verify in ([], ["--verify"]):
        code, out, err = rolecall("sql", "--runs", str(runs), "--history", *verify,
                                  "SELECT DISTINCT run_id FROM iam_users")
        flat = " ".join(err.split())
        assert code == 2 and out == "", verify
        assert f"holds run '{history.run_dirs[0].name}', not '{OTHER_ID}'" in flat


def test_sql_verify_with_a_ca_that_is_not_a_certificate_is_exit_2(history: History, tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    for ca in (junk, tmp_path / "missing.pem"):
        code, out, err = rolecall("sql", "--runs", str(history.runs_root), "--verify", "--ca", str(ca),
                                  "SELECT 1")
        assert code == 2 and out == ""
        assert err.startswith(f"error: --ca {ca}") and "Traceback" not in err

"""`rolecall export` on a real audit of the simulated organization (the session's `history`)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cli.main import app
from reports.ocsf import finding_problems
from store.snapshot import SCHEMA
from tests.simulated_history import History, fingerprint


def export(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["export", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_parquet_export_writes_every_table_with_its_rows_and_leaves_the_run_alone(
    history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before = fingerprint(history.runs_root)
    run = history.run_dirs[1]
    code, out, _ = export(run.name, "--runs", str(history.runs_root), "--format", "parquet")
    assert code == 0, out
    target = tmp_path / "data" / "exports" / run.name / "parquet"  # the default folder
    assert sorted(p.stem for p in target.glob("*.parquet")) == sorted(SCHEMA)
    with duckdb.connect(str(run / "snapshot.duckdb"), read_only=True) as con:
        for table in SCHEMA:
            expected = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            parquet = target / f"{table}.parquet"
            actual = duckdb.execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()
            assert actual == expected, table
    assert fingerprint(history.runs_root) == before


def test_ocsf_export_gives_one_valid_finding_per_control_result(history: History, tmp_path: Path) -> None:
    before = fingerprint(history.runs_root)
    code, out, _ = export("latest", "--runs", str(history.runs_root), "-f", "ocsf", "-o", str(tmp_path))
    assert code == 0, out
    findings = json.loads((tmp_path / "findings.ocsf.json").read_text())
    with duckdb.connect(str(history.run_dirs[-1] / "snapshot.duckdb"), read_only=True) as con:
        results = con.execute("SELECT control_id, resource_id, status FROM control_results").fetchall()
        run_id = con.execute("SELECT run_id FROM run").fetchone()[0]
    assert len(findings) == len(results) and f"{len(results)} OCSF Compliance Findings" in out
    assert [p for f in findings for p in finding_problems(json.dumps(f))] == []
    assert {f["class_uid"] for f in findings} == {2003}
    assert all(f["metadata"]["uid"].startswith(f"rolecall:{run_id}:") for f in findings)
    carol = history.sim.user_arn("dev", "carol")
    carol_rc11 = [f for f in findings if f["compliance"]["control"] == "RC-1.1"
                  and f["resources"][0]["uid"] == carol]
    assert [f["compliance"]["status"] for f in carol_rc11] == ["Fail"]
    assert fingerprint(history.runs_root) == before


@pytest.mark.parametrize("fmt, file", [("ocsf", "findings.ocsf.json"), ("asff", "findings.asff.json")])
def test_status_filters_the_findings_and_the_provenance_says_so(history: History, tmp_path: Path,
                                                               fmt: str, file: str) -> None:
    code, out, _ = export("latest", "--runs", str(history.runs_root), "-f", fmt, "-o", str(tmp_path),
                          "--status", "fail,error")
    assert code == 0, out
    with duckdb.connect(str(history.run_dirs[-1] / "snapshot.duckdb"), read_only=True) as con:
        (wanted,) = con.execute("SELECT count(*) FROM control_results "
                                "WHERE status IN ('fail', 'error')").fetchone()
        (every,) = con.execute("SELECT count(*) FROM control_results").fetchone()
    findings = json.loads((tmp_path / file).read_text())
    assert 0 < len(findings) == wanted < every
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    assert provenance["statuses"] == ["error", "fail"]


@pytest.mark.parametrize("args, message", [
    (["-f", "ocsf", "--status", "failed"], "--status failed: unknown; known: pass, fail"),
    (["-f", "parquet", "--status", "fail"], "give it with --format ocsf or asff"),
])
def test_a_bad_status_filter_is_one_line(history: History, tmp_path: Path, args: list[str],
                                         message: str) -> None:
    code, out, err = export("latest", "--runs", str(history.runs_root), "-o", str(tmp_path), *args)
    assert code == 2 and message in out + err and "Traceback" not in out + err


def test_export_refuses_to_write_into_a_run_folder(history: History) -> None:
    before = fingerprint(history.runs_root)
    inside = history.run_dirs[0] / "exports"
    for fmt in ("parquet", "ocsf"):
        code, _, err = export("latest", "--runs", str(history.runs_root), "-f", fmt, "-o", str(inside))
        assert code == 2 and "signed evidence" in err
    assert fingerprint(history.runs_root) == before


def test_export_of_an_unknown_run_is_a_clear_error(history: History, tmp_path: Path) -> None:
    code, _, err = export("20000101T000000Z", "--runs", str(history.runs_root), "-o", str(tmp_path))
    assert code == 2 and "no run '20000101T000000Z'" in err
    assert list(tmp_path.iterdir()) == []


def test_an_export_carries_its_provenance_back_to_the_signed_run(history: History, tmp_path: Path) -> None:
    run = history.run_dirs[0]
    code, out, _ = export(str(run), "-f", "ocsf", "-o", str(tmp_path))
    assert code == 0 and "provenance.json" in out
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert provenance["run_id"] == manifest["run_id"] == run.name
    assert provenance["snapshot_sha256"] == listed["snapshot.duckdb"]
    assert provenance["manifest_sha256"] == hashlib.sha256((run / "manifest.json").read_bytes()).hexdigest()
    assert provenance["signer_certificate_sha256"] == manifest["signer"]["certificate_sha256"]
    [exported] = provenance["files"]
    findings = tmp_path / "findings.ocsf.json"
    assert exported == {"path": findings.name, "sha256": hashlib.sha256(findings.read_bytes()).hexdigest(),
                        "size": findings.stat().st_size}


def test_a_snapshot_changed_after_signing_is_not_exported(history: History, tmp_path: Path) -> None:
    run = tmp_path / "runs" / history.run_dirs[0].name
    shutil.copytree(history.run_dirs[0], run)
    with duckdb.connect(str(run / "snapshot.duckdb")) as con:  # someone "fixes" a finding
        con.execute("UPDATE control_results SET status = 'pass' WHERE status = 'fail'")
    target = tmp_path / "export"
    for fmt in ("parquet", "ocsf"):
        code, _, err = export(str(run), "-f", fmt, "-o", str(target))
        assert code == 2 and "does not match its signed manifest" in err
    assert not target.exists()

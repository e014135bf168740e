"""store/run_folder.py's partial-run clean-up and `rolecall runs`, on hand-made run folders."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store import snapshot
from store.run_folder import (
    last_modified,
    list_runs,
    remove_stale_partials,
    stale_partials,
)
from tests.demo_run import run_cli

DAY = 86400


def _age(path: Path, seconds: float) -> None:
    """Make `path` and everything in it look last written `seconds` ago."""
    moment = time.time() - seconds
    for parent, dirs, files in os.walk(path, topdown=False):
        for name in (*files, *dirs):
            os.utime(os.path.join(parent, name), (moment, moment), follow_symlinks=False)
    os.utime(path, (moment, moment))


def _snapshot(folder: Path, collected: list[bool], failed_source: str | None = None) -> None:
    """A snapshot of the product's schema with these accounts (and one source failed in the first)."""
    with snapshot.create(folder / "snapshot.duckdb") as con:
        snapshot.insert_rows(con, "accounts", [{"account_id": f"{n:012d}", "collected": flag}
                                               for n, flag in enumerate(collected)])
        if failed_source:
            snapshot.insert_rows(con, "collection_errors", [{
                "account_id": f"{0:012d}", "source": failed_source, "operation": "ListAnalyzers",
                "error_code": "AccessDenied", "message": "denied"}])


def _complete_run(root: Path, run_id: str, collected: list[bool], age: float = 3 * DAY) -> Path:
    folder = root / run_id
    (folder / "evidence").mkdir(parents=True)
    _snapshot(folder, collected)
    (folder / "manifest.json").write_text("{}")
    (folder / "manifest.json.p7s").write_bytes(b"signature")
    _age(folder, age)
    return folder


def _partial(root: Path, run_id: str, age: float) -> Path:
    folder = root / f"{run_id}.partial"
    (folder / "evidence").mkdir(parents=True)
    (folder / "evidence" / "iam.json").write_text("[]")
    _age(folder, age)
    return folder


def _fingerprint(root: Path) -> dict[str, tuple[str, float]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """Complete runs (old, one in scope, one not), an old and a young partial, and a partial
    that is old except for one file written a minute ago (a slow run still in progress)."""
    root = tmp_path / "runs"
    _complete_run(root, "20261001T000000Z", [True, True, True])
    _complete_run(root, "20261101T000000Z", [True, False, True])
    _partial(root, "20261102T000000Z", age=2 * DAY)
    _partial(root, "20261203T000000Z", age=3600)
    slow = _partial(root, "20261203T010000Z", age=0)
    (slow / "evidence" / "late.json").write_text("[]")
    _age(slow, 5 * DAY)
    os.utime(slow / "evidence" / "late.json", (time.time() - 60, time.time() - 60))
    return root


def test_last_modified_is_the_newest_file_inside(runs: Path) -> None:
    slow = runs / "20261203T010000Z.partial"
    age = datetime.now(UTC) - last_modified(slow)
    assert timedelta(seconds=50) < age < timedelta(seconds=120)


def test_only_old_partials_are_stale(runs: Path) -> None:
    assert [p.name for p in stale_partials(runs)] == ["20261102T000000Z.partial"]
    assert stale_partials(runs, older_than=timedelta(days=3)) == []
    assert [p.name for p in stale_partials(runs, older_than=timedelta(minutes=30))] == [
        "20261102T000000Z.partial", "20261203T000000Z.partial"]


def test_remove_stale_partials_removes_only_them(runs: Path) -> None:
    kept = {p.name for p in runs.iterdir()} - {"20261102T000000Z.partial"}
    complete_before = _fingerprint(runs / "20261001T000000Z")
    removed = remove_stale_partials(runs)
    assert [p.name for p in removed] == ["20261102T000000Z.partial"]
    assert {p.name for p in runs.iterdir()} == kept
    assert _fingerprint(runs / "20261001T000000Z") == complete_before
    assert remove_stale_partials(runs) == []  # nothing left to remove


def test_complete_runs_are_never_removed_however_old(runs: Path) -> None:
    _age(runs / "20261001T000000Z", 400 * DAY)
    remove_stale_partials(runs, older_than=timedelta(0), now=datetime.now(UTC) + timedelta(1))
    assert sorted(p.name for p in runs.iterdir()) == ["20261001T000000Z", "20261101T000000Z"]


def test_files_and_symlinks_named_partial_are_not_touched(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    outside = _partial(tmp_path, "elsewhere", age=9 * DAY)
    (root / "x.partial").symlink_to(outside, target_is_directory=True)
    (root / "y.partial").write_text("a file")
    _age(root, 9 * DAY)
    assert remove_stale_partials(root) == []
    assert (outside / "evidence" / "iam.json").exists() and (root / "y.partial").exists()


def test_a_partial_that_cannot_be_removed_is_skipped_with_a_warning(
    runs: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(path: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "rmtree", refuse)
    with caplog.at_level(logging.WARNING, logger="store.run_folder"):
        assert remove_stale_partials(runs) == []
    assert (runs / "20261102T000000Z.partial").is_dir()
    assert "could not remove the stale partial run" in caplog.text


def test_missing_runs_folder_has_no_partials(tmp_path: Path) -> None:
    assert stale_partials(tmp_path / "nope") == [] == remove_stale_partials(tmp_path / "nope")


def test_list_runs_states_and_accounts(runs: Path) -> None:
    unsigned = _complete_run(runs, "20261102T120000Z", [True])
    (unsigned / "manifest.json.p7s").unlink()
    (runs / "notes").mkdir()
    listing = {r.path.name: r for r in list_runs(runs)}
    assert {name: r.state for name, r in listing.items()} == {
        "20261001T000000Z": "complete", "20261101T000000Z": "complete",
        "20261102T000000Z.partial": "stale", "20261102T120000Z": "unsigned",
        "20261203T000000Z.partial": "partial", "20261203T010000Z.partial": "partial",
        "notes": "not a run",
    }
    in_scope, short = listing["20261001T000000Z"], listing["20261101T000000Z"]
    assert (in_scope.accounts, in_scope.collected, in_scope.complete_in_scope) == (3, 3, True)
    assert (short.accounts, short.collected, short.complete_in_scope) == (3, 2, False)
    assert listing["20261203T000000Z.partial"].accounts is None  # a partial is never opened
    assert listing["20261102T000000Z.partial"].run_id == "20261102T000000Z"


def test_a_run_with_a_failed_source_is_not_complete_in_scope(runs: Path) -> None:
    """The same test as the audit's exit 3: every account collected is not enough."""
    folder = runs / "20261202T000000Z"
    (folder / "evidence").mkdir(parents=True)
    _snapshot(folder, [True, True], failed_source="access_analyzer")
    (folder / "manifest.json.p7s").write_bytes(b"signature")
    (listing,) = [r for r in list_runs(runs) if r.path == folder]
    assert (listing.accounts, listing.collected, listing.complete_in_scope) == (2, 2, False)


def test_list_runs_reads_snapshots_without_changing_them(runs: Path) -> None:
    before = _fingerprint(runs)
    list_runs(runs)
    assert _fingerprint(runs) == before


def test_unreadable_snapshot_is_a_note_not_a_crash(runs: Path) -> None:
    broken = runs / "20261101T000000Z" / "snapshot.duckdb"
    broken.write_bytes(b"not a database" * 100)
    (listing,) = [r for r in list_runs(runs) if r.path.name == "20261101T000000Z"]
    assert listing.state == "complete" and listing.accounts is None
    assert listing.note.startswith("snapshot unreadable: ")


def test_runs_command_table(runs: Path) -> None:
    code, output = run_cli("runs", "--runs", str(runs))
    assert code == 0, output
    rows = [line.split("│") for line in output.splitlines() if line.count("│") > 2]
    lines = {cells[1].strip(): "│".join(cells) for cells in rows if cells[1].strip()}
    assert set(lines) == {p.name for p in runs.iterdir()}
    assert "complete" in lines["20261001T000000Z"] and "3 of 3" in lines["20261001T000000Z"]
    assert "2 of 3" in lines["20261101T000000Z"] and "incomplete" in lines["20261101T000000Z"]
    assert "stale" in lines["20261102T000000Z.partial"] and "2 d 0 h ago" in lines[
        "20261102T000000Z.partial"]
    assert "partial" in lines["20261203T000000Z.partial"] and "1 h 0 min ago" in lines[
        "20261203T000000Z.partial"]


def test_runs_command_json(runs: Path) -> None:
    code, output = run_cli("runs", "--runs", str(runs), "--format", "json")
    assert code == 0
    rows = {row["run_id"]: row for row in json.loads(output)}
    assert rows["20261001T000000Z"]["state"] == "complete"
    assert rows["20261001T000000Z"]["complete_in_scope"] is True
    assert (rows["20261101T000000Z"]["accounts"], rows["20261101T000000Z"]["accounts_collected"],
            rows["20261101T000000Z"]["complete_in_scope"]) == (3, 2, False)
    assert rows["20261102T000000Z"]["state"] == "stale"
    assert 2 * DAY - 60 < rows["20261102T000000Z"]["age_seconds"] < 2 * DAY + 60
    assert rows["20261203T000000Z"]["accounts"] is None


def test_runs_command_empty_folder(tmp_path: Path) -> None:
    assert run_cli("runs", "--runs", str(tmp_path)) == (0, f"No runs in {tmp_path}.\n")
    assert run_cli("runs", "--runs", str(tmp_path), "-f", "json") == (0, "[]\n")


def test_runs_command_bad_folder_exits_2(tmp_path: Path) -> None:
    code, output = run_cli("runs", "--runs", str(tmp_path / "nope"))
    assert (code, output) == (2, f"error: {tmp_path / 'nope'}: no such folder of runs\n")
    (tmp_path / "file").write_text("x")
    code, output = run_cli("runs", "--runs", str(tmp_path / "file"))
    assert (code, output) == (2, f"error: {tmp_path / 'file'}: not a folder\n")


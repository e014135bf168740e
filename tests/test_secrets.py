"""No secret lands in Prefect's store or in the run folder: the real CLI, its own Prefect server.

The demo runs as a user runs it, in a child process with its own PREFECT_HOME and no
PREFECT_API_URL, so the CLI starts its own Prefect API whose database is a file under that home.
Afterwards every file of that home (database, WAL, logs) and of the run folder is read back and
searched for the External ID, the exceptions register's entries and the signing key.
"""

from __future__ import annotations

import gzip
import os
import secrets
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

ROLECALL = Path(sys.executable).parent / "rolecall"


def _files(root: Path) -> dict[Path, bytes]:
    """Every file's bytes, gzip files decompressed (the raw payloads are stored gzipped)."""
    found = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return {p: gzip.decompress(b) if p.suffix == ".gz" else b for p, b in found.items()}


def _snapshot_rows_containing(snapshot: Path, needle: str) -> list[str]:
    """Tables of the snapshot with a row whose text holds `needle` (DuckDB compresses strings,
    so the file's bytes alone would not show it)."""
    with duckdb.connect(str(snapshot), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return [t for t in tables if con.execute(
            f'SELECT count(*) FROM "{t}" WHERE contains(CAST("{t}" AS VARCHAR), ?)', [needle]
        ).fetchone()[0]]


@pytest.fixture(scope="module")
def demo_with_secrets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, str, int]:
    home = tmp_path_factory.mktemp("prefect-home")
    runs, keys = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("keys")
    external_id = "rc-ext-" + secrets.token_hex(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(home), ROLECALL_KEYS_DIR=str(keys))
    completed = subprocess.run(
        [str(ROLECALL), "audit", "--demo", "--out", str(runs), "--external-id", external_id],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr  # findings, complete run
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return home, run_dir, keys, external_id, completed.returncode


def test_prefect_database_holds_no_external_id_register_or_key(demo_with_secrets: tuple) -> None:
    home, run_dir, keys, external_id, _ = demo_with_secrets
    stored = _files(home)
    assert any(p.name.startswith("prefect.db") for p in stored), sorted(map(str, stored))
    # the flow run and its parameters are in there: the place a leak would be
    assert any(b"role_name" in c and str(run_dir.parent).encode() in c for c in stored.values())
    register = yaml.safe_load((run_dir / "evidence" / "exceptions.yaml").read_text())
    reasons = [e["reason"] for e in register["exceptions"] if len(e.get("reason") or "") > 20]
    assert reasons, "the demo register has reasons to look for"
    key_body = (keys / "demo-signing-key.pem").read_text().splitlines()[1]
    for path, content in stored.items():
        assert external_id.encode() not in content, path
        assert key_body.encode() not in content, path
        for reason in reasons:
            assert reason.encode() not in content, (path, reason)


def test_run_folder_records_that_an_external_id_was_sent_but_not_its_value(
        demo_with_secrets: tuple) -> None:
    _, run_dir, _, external_id, _ = demo_with_secrets
    for path, content in _files(run_dir).items():
        assert external_id.encode() not in content, path
    assert _snapshot_rows_containing(run_dir / "snapshot.duckdb", external_id) == []
    # the search itself finds what is there
    assert "accounts" in _snapshot_rows_containing(run_dir / "snapshot.duckdb", "prod")
    assert b"(set, from $ROLECALL_EXTERNAL_ID)" in (run_dir / "manifest.json").read_bytes()

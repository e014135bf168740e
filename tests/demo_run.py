"""Runs the real CLI on the simulated organization once per test session and opens the result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from cli.main import app


@dataclass
class DemoRun:
    exit_code: int
    output: str
    run_dir: Path

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.run_dir / "snapshot.duckdb"), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def account_ids(self) -> dict[str, str]:
        return dict(self.query("SELECT name, account_id FROM accounts"))


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def run_demo(out: Path, *more: str) -> DemoRun:
    code, output = run_cli("audit", "--demo", "--out", str(out), *more)
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, (output, runs)
    return DemoRun(code, output, runs[0])

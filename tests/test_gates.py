"""CI gates and the catalogue from the CLI: --fail-on, --controls/--exclude-controls, `rolecall
controls`, --version (issue 13, item 3)."""

from __future__ import annotations

import csv
import io
import json
from importlib.metadata import version
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from checks.catalogue import CONTROLS, controls_markdown
from checks.counts import Counts, counts_by_control, verdict
from cli.main import app, print_summary
from store.coverage import coverage
from tests.demo_run import DemoRun

HIGH_FAIL = Counts(passed=3, failed=2, failed_by_severity=(("high", 2),))
LOW_FAIL = Counts(passed=3, failed=1, failed_by_severity=(("low", 1),))
ERROR = Counts(passed=3, error=1)


@pytest.mark.parametrize("counts, fail_on, exit_code, word", [
    ({"a": HIGH_FAIL, "b": LOW_FAIL}, None, 1, "non-compliant"),  # today's behaviour
    ({"a": HIGH_FAIL, "b": LOW_FAIL}, "high", 1, "non-compliant"),
    ({"a": HIGH_FAIL, "b": LOW_FAIL}, "critical", 0, "non-compliant below --fail-on critical"),
    ({"b": LOW_FAIL}, "medium", 0, "non-compliant below --fail-on medium"),
    ({"b": LOW_FAIL}, "low", 1, "non-compliant"),
    ({"b": LOW_FAIL, "c": ERROR}, "critical", 1, "non-compliant"),  # unproven fails every gate
    ({"d": Counts(failed=1, failed_by_severity=(("unknown", 1),))}, "critical", 1, "non-compliant"),
    ({"a": Counts(passed=4)}, "low", 0, "compliant"),
])
def test_fail_on_gates_only_fails_at_or_above_it(counts: dict, fail_on: str | None, exit_code: int,
                                                 word: str) -> None:
    said = verdict(counts, complete=True, fail_on=fail_on)
    assert (said.exit_code, said.word) == (exit_code, word)
    assert verdict(counts, complete=False, fail_on=fail_on).exit_code == 3  # incomplete outranks


def test_the_summary_of_a_real_run_applies_the_gate(demo: DemoRun) -> None:
    with duckdb.connect(str(demo.run_dir / "snapshot.duckdb"), read_only=True) as con:
        counts, seen = counts_by_control(con), coverage(con)
    codes = {}
    for gate in (None, "critical", "high", "medium", "low"):
        codes[gate] = print_summary(demo.run_dir, 0.0, gate)
        assert codes[gate] == verdict(counts, complete=seen.complete, fail_on=gate).exit_code
    assert codes[None] == 1  # the demo fails on purpose


@pytest.mark.parametrize("args, message", [
    (["--controls", "RC-9.9"], "unknown control or guidance item 'RC-9.9'"),
    (["--exclude-controls", "G1,G7"], "unknown control or guidance item 'G7'"),
])
def test_control_selection_is_checked_before_any_aws_call(tmp_path: Path, args: list[str],
                                                          message: str) -> None:
    result = CliRunner().invoke(app, ["audit", "--out", str(tmp_path / "runs"), *args],
                                env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 2 and message in result.output, result.output


def test_fail_on_takes_only_a_severity(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "--out", str(tmp_path), "--fail-on", "info"])
    assert result.exit_code == 2 and "critical" in result.output


def test_controls_lists_the_catalogue_in_every_format() -> None:
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["controls", "--format", "json"]).output)
    assert [c["id"] for c in listed] == [c.id for c in CONTROLS]
    assert any(r.startswith("cis-aws-3.0 1.14") for r in listed[1]["requirements"])
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["controls", "-f", "csv"]).output)))
    assert [r["id"] for r in rows] == [c.id for c in CONTROLS] and rows[2]["settings"]
    assert runner.invoke(app, ["controls", "-f", "markdown"]).output.strip() == controls_markdown()
    table = runner.invoke(app, ["controls"]).output
    assert all(c.id in table for c in CONTROLS)


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"rolecall {version('rolecall')}"


def test_quiet_prints_one_line_with_the_verdict(demo: DemoRun, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import cli.main

    monkeypatch.setattr(cli.main, "QUIET", True)
    code = print_summary(demo.run_dir, 0.0)
    out = capsys.readouterr().out
    assert code == 1 and out.strip() == f"non-compliant (exit 1): {demo.run_dir}"


def test_verbose_turns_prefect_logs_on_and_contradicts_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    import cli.main

    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")  # both restored after the test
    monkeypatch.setattr(cli.main, "VERBOSE", False)
    assert CliRunner().invoke(app, ["-v", "controls", "-f", "json"]).exit_code == 0
    import os

    assert os.environ["PREFECT_LOGGING_LEVEL"] == "INFO" and cli.main.VERBOSE
    result = CliRunner().invoke(app, ["-q", "-v", "controls"])
    assert result.exit_code == 2 and "contradict" in result.output

"""The CLI as a user meets it: help, bad input, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.demo_run import run_cli


def test_help_explains_every_option() -> None:
    code, output = run_cli("audit", "--help")
    assert code == 0
    for option in ("--demo", "--out", "--role-name", "--external-id", "--exceptions",
                   "--profile", "--region", "--max-workers"):
        assert option in output


def test_malformed_exceptions_register_exits_2_naming_entry_and_field(tmp_path: Path) -> None:
    register = tmp_path / "exceptions.yaml"
    register.write_text(
        "exceptions:\n"
        "  - id: ci-deployer\n"
        "    principal: arn:aws:iam::111122223333:user/ci\n"
        "    controls: [RC-1.1]\n"
        "    kind: external-dependency\n"
        "    dependency: CI\n    reason: r\n    owner: o\n    approved_by: a\n"
        "    expires: 2026-13-01\n"
    )
    out = tmp_path / "runs"
    code, output = run_cli("audit", "--exceptions", str(register), "--out", str(out))
    assert code == 2
    flat = " ".join(output.split())
    assert 'entry 1 (id "ci-deployer")' in flat and "expires" in flat and "2026-13-01" in flat
    assert not out.exists()  # nothing was written


def test_demo_refuses_a_second_register() -> None:
    code, output = run_cli("audit", "--demo", "--exceptions", "x.yaml")
    assert code == 2 and "own exceptions register" in " ".join(output.split())


def test_no_aws_credentials_is_one_line_and_exit_2(tmp_path: Path, monkeypatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # the chain's last step, never asked here
    out = tmp_path / "runs"
    code, output = run_cli("audit", "--out", str(out))
    assert code == 2
    assert output.strip().startswith("error: no AWS credentials found")
    assert "Traceback" not in output and len(output.strip().splitlines()) <= 2
    assert list(out.iterdir()) == []  # no run folder was started


def test_an_unknown_profile_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, output = run_cli("audit", "--profile", "no-such-profile", "--out", str(tmp_path / "runs"))
    assert code == 2 and "no-such-profile" in output and "Traceback" not in output


def test_a_runs_folder_that_cannot_be_written_stops_the_run_before_collecting(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, output = run_cli("audit", "--out", str(blocker / "runs"))
    assert code == 2
    flat = " ".join(output.split())
    assert f"the runs folder {blocker / 'runs'} cannot be written" in flat and "--out" in flat


def test_a_signing_key_that_cannot_be_read_stops_the_run_before_collecting(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    code, output = run_cli("audit", "--signing-key", str(tmp_path / "missing.pem"),
                           "--signing-cert", str(tmp_path / "missing-cert.pem"), "--out", str(out))
    assert code == 2 and "missing.pem" in output and "Traceback" not in output
    assert not out.exists()


def test_debug_shows_the_traceback_behind_an_expected_error(tmp_path: Path) -> None:
    code, output = run_cli("--debug", "audit", "--profile", "no-such-profile",
                           "--out", str(tmp_path / "runs"))
    assert code == 2 and "Traceback" in output and "ProfileNotFound" in output


def test_a_failed_flow_is_one_line_without_prefect_tracebacks(tmp_path: Path, prefect_server: None) -> None:
    """The real command in a child process (where Prefect's console handler would print): the
    organization cannot be read, so the flow fails; the user sees one line, not the tracebacks.
    It uses the session's Prefect API rather than booting its own (tests/test_secrets.py does)."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()),
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    done = subprocess.run([str(Path(sys.executable).parent / "rolecall"), "audit", "--out",
                           str(tmp_path / "runs")], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith("error: the audit run failed: EndpointConnectionError")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stdout + done.stderr

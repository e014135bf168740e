"""The CLI as a user meets it: help, bad input, exit codes."""

from __future__ import annotations

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

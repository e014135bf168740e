"""Thresholds and control selection from settings (checks/settings.py) and the configuration file
(flows/configuration.py): precedence, strict loading, and verdicts that follow the values."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from checks.settings import Settings, describe, resolve
from cli.main import app
from flows.configuration import ConfigError, load, settings_from
from tests.checks_fixtures import add_user, new_snapshot, row, run, user_arn

PROFILES = {"cis-aws-3.0": {"unused_credential_days": 45}}


def test_precedence_default_then_profile_then_file_then_option() -> None:
    settings = resolve(file_values={"framework": "cis-aws-3.0", "key_age_days": 60},
                       option_values={"key_age_days": 30}, profiles=PROFILES)
    assert (settings.unused_credential_days, settings.key_age_days) == (45, 30)
    assert settings.exception_max_days == 366
    assert settings.origin("unused_credential_days") == "profile"
    assert settings.origin("key_age_days") == "option"
    assert settings.origin("exception_max_days") == "default"
    shown = {name: (value, origin) for name, value, origin, _ in describe(settings)}
    assert shown["unused_credential_days"] == ("45", "profile cis-aws-3.0")


def test_a_file_value_beats_the_profile() -> None:
    settings = resolve(file_values={"framework": "cis-aws-3.0", "unused_credential_days": 30},
                       profiles=PROFILES)
    assert settings.unused_credential_days == 30 and settings.origin("unused_credential_days") == "file"


@pytest.mark.parametrize("values, message", [
    ({"framework": "cis-aws-9"}, "unknown framework profile 'cis-aws-9'"),
    ({"key_age_days": 0}, "greater than or equal to 1"),
])
def test_bad_settings_are_refused(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve(file_values=values, profiles=PROFILES)


def test_selection_by_control_and_guidance_item() -> None:
    settings = Settings(controls=("G1", "RC-2.1"), exclude_controls=("RC-1.4",))
    assert settings.selects("RC-1.1", "G1") and settings.selects("RC-2.1", "G2")
    assert not settings.selects("RC-1.4", "G1") and not settings.selects("RC-2.2", "G2")


def _key_used_60_days_ago(tmp_path: Path):  # type: ignore[no-untyped-def]
    con = new_snapshot(tmp_path / "s.duckdb")
    add_user(con, "sixty", keys=({"active": True, "rotated": 70, "used": 60},))
    return con, f"{user_arn('sixty')}/access_key_1"


def test_the_unused_threshold_decides_rc_1_3_and_gx_agrees(tmp_path: Path) -> None:
    con, key = _key_used_60_days_ago(tmp_path)
    default = run(con, tmp_path)
    assert row(con, "RC-1.3", key)["status"] == "pass"
    assert default.controls["RC-1.3"].cross_check == "ok"

    cis = evaluate_with(con, tmp_path, Settings(unused_credential_days=45, key_age_days=65))
    found = row(con, "RC-1.3", key)
    assert found["status"] == "fail" and "(limit 45)" in found["reason"]
    assert row(con, "RC-1.2", key)["status"] == "fail"  # 70 days old, limit 65
    # GX reproduced the new verdicts with the same thresholds: no cross-check error
    assert cis.controls["RC-1.3"].cross_check == "ok" and cis.controls["RC-1.2"].cross_check == "ok"


def evaluate_with(con, tmp_path: Path, settings: Settings):  # type: ignore[no-untyped-def]
    from checks.validate import evaluate

    return evaluate(con, None, tmp_path / "gx2", settings)


def test_controls_left_out_have_no_rows_no_suite_and_are_listed(tmp_path: Path) -> None:
    con, _ = _key_used_60_days_ago(tmp_path)
    summary = evaluate_with(con, tmp_path, Settings(controls=("G1",), exclude_controls=("RC-1.5",)))
    ran = {c for (c,) in con.execute("SELECT DISTINCT control_id FROM control_results").fetchall()}
    assert ran and all(c.startswith("RC-1.") for c in ran) and "RC-1.5" not in ran
    assert "RC-1.5" in summary.not_run and "RC-2.1" in summary.not_run
    assert set(summary.suites) == {"G1"}
    assert not (tmp_path / "gx2" / "G2.json").exists()


# --- the configuration file -------------------------------------------------------------------

def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "rolecall.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_a_full_file_loads_with_paths_relative_to_it(tmp_path: Path) -> None:
    path = write(tmp_path, """
framework = "cis-aws-3.0"
[thresholds]
key_age_days = 60
[exceptions]
file = "exceptions.yaml"
require_ticket = true
[controls]
run = ["G1", "G2"]
exclude = ["RC-1.4"]
[signing]
key = "keys/org.pem"
cert = "/etc/rolecall/org-cert.pem"
tsa_url = "http://127.0.0.1:9/tsa"
""")
    config = load(path)
    assert config.exceptions.file == tmp_path / "exceptions.yaml"
    assert config.signing.key == tmp_path / "keys" / "org.pem"
    assert config.signing.cert == Path("/etc/rolecall/org-cert.pem")
    settings = settings_from(config, path)
    assert settings.key_age_days == 60 and settings.unused_credential_days == 45
    assert settings.require_exception_ticket is True
    assert settings.controls == ("G1", "G2") and settings.exclude_controls == ("RC-1.4",)


@pytest.mark.parametrize("text, message", [
    ("[thresholds]\nkey_age_dayz = 60\n", "thresholds.key_age_dayz: unknown key"),
    ("[thresholds]\nkey_age_days = \"sixty\"\n", "thresholds.key_age_days:"),
    ("framework = \n", "not valid TOML"),
    (b"\xff\xfe", "not UTF-8"),
    ("[signing]\npassword = \"x\"\n", "signing.password: unknown key"),
])
def test_a_bad_file_names_the_file_and_the_key(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)


def test_a_bad_value_in_the_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[controls]\nrun = [\"RC-7.1\"]\n")
    with pytest.raises(ConfigError, match=rf"^{path}: .*unknown control or guidance item 'RC-7.1'"):
        settings_from(load(path), path)


@pytest.mark.parametrize("args, message", [
    (["--config", "{bad}"], "thresholds.nope: unknown key"),
    (["--period", "2026-13"], "expected a month as YYYY-MM"),
    (["--period", "2999-01"], "has not begun"),
    (["--framework", "cis-aws-9"], "unknown framework profile"),
])
def test_the_cli_refuses_bad_configuration_before_any_aws_call(
        tmp_path: Path, args: list[str], message: str) -> None:
    bad = write(tmp_path, "[thresholds]\nnope = 1\n")
    args = [a.replace("{bad}", str(bad)) for a in args]
    result = CliRunner().invoke(app, ["audit", "--out", str(tmp_path / "runs"), *args],
                                env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_example_file_loads_and_says_what_it_sets() -> None:
    path = Path(__file__).resolve().parents[1] / "rolecall.example.toml"
    config = load(path)
    settings = settings_from(config, path)
    assert settings.framework == "cis-aws-3.0" and settings.unused_credential_days == 45
    assert settings.require_exception_ticket is True
    assert config.exceptions.file == path.parent / "data" / "exceptions.yaml"


def test_signing_options_not_given_come_from_the_file(tmp_path: Path) -> None:
    from cli.main import _signing_config

    path = write(tmp_path, '[signing]\nkey = "k.pem"\ncert = "c.pem"\ntsa_url = "http://127.0.0.1:9/tsa"\n'
                           'p12_password_env = "ORG_P12"\n')
    config = load(path)
    from_file = _signing_config(config, key=None, cert=None, p12=None,
                                p12_password_env="ROLECALL_P12_PASSWORD", keys_dir=None, demo=False,
                                tsa_url=None)
    assert (from_file.key, from_file.cert) == (tmp_path / "k.pem", tmp_path / "c.pem")
    assert from_file.tsa_url == "http://127.0.0.1:9/tsa" and from_file.p12_password_env == "ORG_P12"
    given = _signing_config(config, key=Path("/x/k.pem"), cert=None, p12=None,
                            p12_password_env="ROLECALL_P12_PASSWORD", keys_dir=None, demo=False,
                            tsa_url="http://127.0.0.1:8/tsa")
    assert given.key == Path("/x/k.pem") and given.cert == tmp_path / "c.pem"
    assert given.tsa_url == "http://127.0.0.1:8/tsa"

"""G1 controls RC-1.1 .. RC-1.5 on one hand-built snapshot, evaluated once (GX included).

Each table row is a user, key, account or register entry and the status it must get.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pytest
from checks_fixtures import (
    ACCOUNT,
    NOW,
    TODAY,
    add_root,
    add_user,
    entry,
    new_snapshot,
    register_of,
    row,
    run,
    statuses,
    user_arn,
)

from checks.validate import ALL_RULES, ValidationSummary
from store import snapshot

UNCOLLECTED = "999999999999"


class RootCase(NamedTuple):
    """An account's root user as the credential report or the account summary (or neither)
    says, and its RC-1.4 status."""

    name: str
    account: str
    source: str | None
    mfa: bool | None
    key: bool | None
    status: str


ROOT_ACCOUNTS = [
    RootCase("report-mfa-no-key", account="100000000001", source="credential_report", mfa=True,
             key=False, status="pass"),
    RootCase("report-no-mfa", account="100000000002", source="credential_report", mfa=False,
             key=False, status="fail"),
    RootCase("report-key", account="100000000003", source="credential_report", mfa=True, key=True,
             status="fail"),
    RootCase("summary-mfa-no-key", account="100000000004", source="account_summary", mfa=True,
             key=False, status="pass"),
    RootCase("summary-key", account="100000000005", source="account_summary", mfa=True, key=True,
             status="fail"),
    RootCase("summary-no-mfa", account="100000000006", source="account_summary", mfa=False,
             key=False, status="fail"),
    RootCase("not-collected", account="100000000007", source=None, mfa=None, key=None,
             status="error"),
]


class KeyCase(NamedTuple):
    """A user (named after its case) with one access key, and the key's status."""

    user: str
    key: dict[str, Any]
    status: str


RC_1_2 = [
    KeyCase("rot-89", key={"active": True, "rotated": 89, "used": 1}, status="pass"),
    KeyCase("rot-90", key={"active": True, "rotated": 90, "used": 1}, status="pass"),
    KeyCase("rot-91", key={"active": True, "rotated": 91, "used": 1}, status="fail"),
    KeyCase("rot-old-inactive", key={"active": False, "rotated": 900, "used": None}, status="pass"),
    KeyCase("rot-unknown", key={"active": True, "rotated": None, "used": 1}, status="error"),
]
# RC-1.3: inactive keys are not in the population
RC_1_3 = [
    KeyCase("use-89", key={"active": True, "rotated": 10, "used": 89}, status="pass"),
    KeyCase("use-90", key={"active": True, "rotated": 10, "used": 90}, status="pass"),
    KeyCase("use-91", key={"active": True, "rotated": 10, "used": 91}, status="fail"),
    KeyCase("use-never", key={"active": True, "rotated": 10, "used": None}, status="fail"),
    KeyCase("use-never-excepted", key={"active": True, "rotated": 10, "used": None},
            status="excepted"),
]


class UserCase(NamedTuple):
    """A user (named after its case), the register entries naming it, and its RC-1.1 verdict."""

    user: str
    entries: list[dict[str, Any]]
    status: str
    exception_id: str | None


RC_1_1 = [
    UserCase("plain", entries=[], status="fail", exception_id=None),
    UserCase("excepted", entries=[entry("x-ok", user_arn("excepted"), ["RC-1.1"])],
             status="excepted", exception_id="x-ok"),
    UserCase("excepted-case", entries=[entry("x-case", user_arn("EXCEPTED-CASE"), ["RC-1.1"])],
             status="excepted", exception_id="x-case"),
    UserCase("break-glass-ok",
             entries=[entry("x-bg", user_arn("break-glass-ok"), ["RC-1.1"], "break-glass",
                            dependency=None)],
             status="excepted", exception_id="x-bg"),
    UserCase("expired",
             entries=[entry("x-expired", user_arn("expired"), ["RC-1.1"],
                            expires=str(TODAY - timedelta(1)))],
             status="fail", exception_id=None),
    UserCase("no-owner", entries=[entry("x-no-owner", user_arn("no-owner"), ["RC-1.1"], owner="")],
             status="fail", exception_id=None),
    UserCase("other-control", entries=[entry("x-other", user_arn("other-control"), ["RC-3.1"])],
             status="fail", exception_id=None),
]


class EntryCase(NamedTuple):
    """A register entry and its RC-1.5 verdict."""

    entry: dict[str, Any]
    status: str
    severity: str


# RC-1.5: entries not already listed above
RC_1_5_EXTRA = [
    EntryCase(entry("x-stale", user_arn("gone-user"), ["RC-1.1"]), status="fail", severity="low"),
    EntryCase(entry("x-stale-expired", user_arn("gone-too"), ["RC-1.1"],
                    expires=str(TODAY - timedelta(3))), status="fail", severity="medium"),
    EntryCase(entry("x-no-dependency", user_arn("plain"), ["RC-1.3"], dependency=""),
              status="fail", severity="medium"),
    EntryCase(entry("x-too-long", user_arn("plain"), ["RC-1.3"],
                    approved_on=str(TODAY - timedelta(200)), expires=str(TODAY + timedelta(167))),
              status="fail", severity="medium"),
    EntryCase(entry("x-366", user_arn("plain"), ["RC-1.3"], approved_on=str(TODAY - timedelta(200)),
                    expires=str(TODAY + timedelta(166))), status="pass", severity="medium"),
    EntryCase(entry("x-no-reason", user_arn("plain"), ["RC-1.3"], reason=None), status="fail",
              severity="medium"),
    EntryCase(entry("x-unknown-account", user_arn("someone", UNCOLLECTED), ["RC-1.1"]),
              status="error", severity="medium"),
    EntryCase(entry("x-rc13", user_arn("use-never-excepted"), ["RC-1.3"]), status="pass",
              severity="medium"),
]


class RegisterVerdict(NamedTuple):
    exception_id: str
    status: str
    severity: str


# RC-1.5: every entry of the register, RC_1_1's and RC_1_5_EXTRA's
RC_1_5 = [
    RegisterVerdict("x-ok", status="pass", severity="medium"),
    RegisterVerdict("x-case", status="pass", severity="medium"),
    RegisterVerdict("x-bg", status="pass", severity="medium"),
    RegisterVerdict("x-expired", status="fail", severity="medium"),
    RegisterVerdict("x-no-owner", status="fail", severity="medium"),
    RegisterVerdict("x-other", status="pass", severity="medium"),
    *(RegisterVerdict(c.entry["id"], status=c.status, severity=c.severity) for c in RC_1_5_EXTRA),
]


@pytest.fixture(scope="module")
def g1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ValidationSummary, Path]]:
    tmp_path = tmp_path_factory.mktemp("g1")
    con = new_snapshot(tmp_path / "s.duckdb",
                       (ACCOUNT, *(root.account for root in ROOT_ACCOUNTS), UNCOLLECTED))
    con.execute("UPDATE accounts SET collected = false, error = 'AssumeRole: AccessDenied' "
                "WHERE account_id = ?", [UNCOLLECTED])
    add_user(con, "ghost", UNCOLLECTED, keys=({"active": True, "rotated": 400},))
    add_root(con, ACCOUNT)
    for root in ROOT_ACCOUNTS:
        if root.source:
            add_root(con, root.account, mfa=root.mfa, key=root.key, source=root.source)
    for key_case in RC_1_2 + RC_1_3:
        add_user(con, key_case.user, keys=(key_case.key,))
    entries: list[dict[str, Any]] = []
    for user_case in RC_1_1:
        add_user(con, user_case.user)
        entries += user_case.entries
    entries += [c.entry for c in RC_1_5_EXTRA]
    summary = run(con, tmp_path, register_of(*entries))
    yield con, summary, tmp_path
    con.close()


@pytest.mark.parametrize("case", RC_1_1, ids=lambda c: c.user)
def test_rc_1_1_every_user_fails_unless_a_valid_exception_names_it(g1: Any, case: UserCase) -> None:
    result = row(g1[0], "RC-1.1", user_arn(case.user))
    assert (result["status"], result["exception_id"]) == (case.status, case.exception_id)
    assert result["resource_type"] == "iam_user"
    assert result["severity"] == "high"


def test_rc_1_1_reasons_name_the_facts(g1: Any) -> None:
    assert row(g1[0], "RC-1.1", user_arn("plain"))["reason"] == (
        "IAM user plain exists (created 2025-10-24); no valid register entry of kind "
        "external-dependency or break-glass excepts it for RC-1.1"
    )
    assert 'excepted by register entry "x-ok" (external-dependency, expires' in row(
        g1[0], "RC-1.1", user_arn("excepted"))["reason"]


@pytest.mark.parametrize("case", RC_1_2, ids=lambda c: c.user)
def test_rc_1_2_active_keys_older_than_90_days_fail(g1: Any, case: KeyCase) -> None:
    result = row(g1[0], "RC-1.2", f"{user_arn(case.user)}/access_key_1")
    assert result["status"] == case.status
    assert result["resource_type"] == "access_key"


def test_rc_1_2_reason_and_evidence(g1: Any) -> None:
    import json

    result = row(g1[0], "RC-1.2", f"{user_arn('rot-91')}/access_key_1")
    assert result["reason"] == (
        "access key 1 last rotated 2026-08-29, 91 days before the snapshot (limit 90)"
    )
    evidence = json.loads(result["evidence"])
    assert evidence["key_age_days"] == 91 and evidence["rotated_on"] == "2026-08-29"
    assert row(g1[0], "RC-1.2", f"{user_arn('rot-old-inactive')}/access_key_1")["reason"] == (
        "access key 1 is inactive"
    )


def test_rc_1_2_is_never_excepted(g1: Any) -> None:
    # use-never-excepted has an RC-1.3 exception; its key is 10 days old anyway, so check
    # the register cannot even name RC-1.2 (a load error, see test_exceptions.py) and that no
    # RC-1.2 row carries an exception id.
    assert g1[0].execute(
        "SELECT count(*) FROM control_results WHERE control_id = 'RC-1.2' "
        "AND (status = 'excepted' OR exception_id IS NOT NULL)"
    ).fetchone() == (0,)


@pytest.mark.parametrize("case", RC_1_3, ids=lambda c: c.user)
def test_rc_1_3_active_keys_unused_for_90_days_or_never_fail(g1: Any, case: KeyCase) -> None:
    assert row(g1[0], "RC-1.3", f"{user_arn(case.user)}/access_key_1")["status"] == case.status


def test_rc_1_3_population_is_active_keys_only(g1: Any) -> None:
    population = statuses(g1[0], "RC-1.3")
    assert f"{user_arn('rot-old-inactive')}/access_key_1" not in population
    assert row(g1[0], "RC-1.3", f"{user_arn('use-never')}/access_key_1")["reason"].startswith(
        "access key 1 is active and has never been used (created or rotated 2026-11-18)"
    )


@pytest.mark.parametrize("case", ROOT_ACCOUNTS, ids=lambda c: c.name)
def test_rc_1_4_root_user_without_keys_and_with_mfa(g1: Any, case: RootCase) -> None:
    result = row(g1[0], "RC-1.4", f"arn:aws:iam::{case.account}:root")
    assert (result["status"], result["resource_type"], result["severity"]) == (
        case.status, "root_user", "critical"
    )
    if case.source:
        assert case.source.replace("_", " ") in result["reason"]


def test_rc_1_4_credential_report_wins_over_account_summary(tmp_path: Path) -> None:
    con = new_snapshot(tmp_path / "s.duckdb")
    add_root(con, mfa=True, key=False, source="credential_report")
    snapshot.insert_rows(con, "account_summary", [
        {"account_id": ACCOUNT, "root_mfa_enabled": False, "root_access_keys_present": True}
    ])
    run(con, tmp_path)
    result = row(con, "RC-1.4", f"arn:aws:iam::{ACCOUNT}:root")
    assert result["status"] == "pass"
    assert result["reason"] == (
        "root user has MFA and no active access key (from the credential report)"
    )


def test_rc_1_4_reason_lists_both_failures(tmp_path: Path) -> None:
    con = new_snapshot(tmp_path / "s.duckdb")
    add_root(con, mfa=False, key=True)
    run(con, tmp_path)
    assert row(con, "RC-1.4", f"arn:aws:iam::{ACCOUNT}:root")["reason"] == (
        "root user has an active access key; root user has no MFA (from the credential report)"
    )


@pytest.mark.parametrize("case", RC_1_5, ids=lambda c: c.exception_id)
def test_rc_1_5_every_register_entry_is_judged(g1: Any, case: RegisterVerdict) -> None:
    (result,) = [
        r for r in _rows(g1[0], "RC-1.5") if r["exception_id"] == case.exception_id
    ]
    assert (result["status"], result["severity"], result["resource_type"]) == (
        case.status, case.severity, "exception"
    )


def test_rc_1_5_exceptions_table_records_validity(g1: Any) -> None:
    stored = dict(g1[0].execute("SELECT exception_id, valid FROM exceptions").fetchall())
    assert stored["x-ok"] is True
    assert stored["x-stale"] is True  # stale alone does not invalidate
    assert stored["x-expired"] is False and stored["x-too-long"] is False
    assert len(stored) == len(RC_1_5)


def test_uncollected_account_gives_one_error_row_per_control(g1: Any) -> None:
    con = g1[0]
    rows = con.execute(
        "SELECT control_id, resource_type, status, reason FROM control_results "
        "WHERE account_id = ? ORDER BY control_id", [UNCOLLECTED]
    ).fetchall()
    # RC-1.5 judges register entries; RC-6.2/6.3 need organization data only
    per_account = [r for r in rows if r[0] not in ("RC-1.5", "RC-6.2", "RC-6.3")]
    assert [r[0] for r in per_account] == [r.control_id for r in ALL_RULES if r.per_account]
    assert "RC-3.1" in [r[0] for r in per_account] and "RC-6.4" in [r[0] for r in per_account]
    assert all(r[1:3] == ("account", "error") for r in per_account)
    assert "account not collected: AssumeRole: AccessDenied" in per_account[0][3]
    # its user "ghost" and its key are not evaluated as if the data were complete
    assert user_arn("ghost", UNCOLLECTED) not in statuses(con, "RC-1.1")


def test_gx_confirms_every_g1_control(g1: Any) -> None:
    _, summary, tmp_path = g1
    assert summary.errors == []
    for control_id in ("RC-1.1", "RC-1.2", "RC-1.3", "RC-1.4", "RC-1.5"):
        control = summary.controls[control_id]
        assert control.cross_check == "ok"
        assert control.gx_unexpected["fail"] == control.counts.failed
        if "fail+excepted" in control.gx_unexpected:
            assert control.gx_unexpected["fail+excepted"] == control.counts.failed + control.counts.excepted
    assert (tmp_path / "gx" / "G1.json").exists()
    assert summary.suites["G1"].raised == 0


def test_ages_are_utc_calendar_days_whatever_the_offset(tmp_path: Path) -> None:
    con = new_snapshot(tmp_path / "s.duckdb")
    arn = add_user(con, "tz")
    # 2026-08-29 01:00 at +02:00 is 2026-08-28 23:00 UTC: 92 days before 2026-11-28
    rotated = datetime(2026, 8, 28, 23, 0, tzinfo=UTC)
    snapshot.insert_rows(con, "iam_access_keys", [{
        "account_id": ACCOUNT, "user_name": "tz", "user_arn": arn, "key_slot": 1,
        "active": True, "last_rotated": rotated, "last_used_date": NOW,
        "resource_id": f"{arn}/access_key_1",
    }])
    con.execute("SET TimeZone = 'Asia/Tokyo'")
    run(con, tmp_path)
    assert "last rotated 2026-08-28, 92 days" in row(con, "RC-1.2", f"{arn}/access_key_1")["reason"]


def _rows(con: duckdb.DuckDBPyConnection, control_id: str) -> list[dict[str, Any]]:
    cursor = con.execute("SELECT * FROM control_results WHERE control_id = ?", [control_id])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

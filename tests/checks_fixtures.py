"""Small hand-built snapshots for the checks tests: each row is one the assertion points at."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from checks.exceptions import Register, parse_register
from checks.validate import ValidationSummary, evaluate
from store import snapshot

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

NOW = datetime(2026, 11, 28, 0, 26, 54, tzinfo=UTC)
TODAY = NOW.date()
ACCOUNT = "111111111111"
OTHER = "222222222222"


def days_ago(days: int, at: datetime = NOW) -> datetime:
    """A timestamp `days` calendar days before the run, at midday UTC."""
    return datetime.combine(at.date() - timedelta(days=days), datetime.min.time(), UTC).replace(
        hour=12
    )


def user_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def new_snapshot(path: Path, accounts: tuple[str, ...] = (ACCOUNT,)) -> duckdb.DuckDBPyConnection:
    con = snapshot.create(path)
    snapshot.insert_rows(con, "run", [{"run_id": "20261128T002654Z", "started_at": NOW}])
    snapshot.insert_rows(con, "accounts", [
        {"account_id": a, "name": a, "status": "ACTIVE", "collected": True} for a in accounts
    ])
    return con


def add_user(
    con: duckdb.DuckDBPyConnection,
    name: str,
    account: str = ACCOUNT,
    *,
    password: bool | None = False,
    mfa: bool | None = False,
    keys: tuple[dict[str, Any], ...] = (),
    in_report: bool = True,
) -> str:
    """An IAM user, its credential report row and its keys; returns the ARN.

    keys: dicts with `active`, `rotated` (days ago) and `used` (days ago, None = never).
    """
    arn = user_arn(name, account)
    snapshot.insert_rows(con, "iam_users", [
        {"account_id": account, "user_name": name, "arn": arn, "create_date": days_ago(400)}
    ])
    report: dict[str, Any] = {
        "account_id": account, "user": name, "arn": arn, "password_enabled": password,
        "mfa_active": mfa,
    }
    for slot, key in enumerate(keys, start=1):
        rotated = None if key.get("rotated") is None else days_ago(key["rotated"])
        used = None if key.get("used") is None else days_ago(key["used"])
        report[f"access_key_{slot}_active"] = key["active"]
        report[f"access_key_{slot}_last_rotated"] = rotated
        report[f"access_key_{slot}_last_used_date"] = used
        snapshot.insert_rows(con, "iam_access_keys", [{
            "account_id": account, "user_name": name, "user_arn": arn, "key_slot": slot,
            "active": key["active"], "last_rotated": rotated, "last_used_date": used,
            "last_used_service": "s3" if used else None,
            "resource_id": f"{arn}/access_key_{slot}",
        }])
    if in_report:
        snapshot.insert_rows(con, "credential_report", [report])
    return arn


def add_root(
    con: duckdb.DuckDBPyConnection, account: str = ACCOUNT, *, mfa: bool = True,
    key: bool = False, source: str = "credential_report",
) -> None:
    """Root user facts from the credential report, the account summary, or both."""
    if source in ("credential_report", "both"):
        snapshot.insert_rows(con, "credential_report", [{
            "account_id": account, "user": "<root_account>",
            "arn": f"arn:aws:iam::{account}:root", "mfa_active": mfa,
            "access_key_1_active": key, "access_key_2_active": False,
        }])
    if source in ("account_summary", "both"):
        snapshot.insert_rows(con, "account_summary", [{
            "account_id": account, "root_mfa_enabled": mfa, "root_access_keys_present": key,
        }])


def register_of(*entries: dict[str, Any]) -> Register:
    """A register from entry dicts (YAML-shaped), through the real parser."""
    import yaml

    return parse_register(yaml.safe_dump({"exceptions": [_yamlable(e) for e in entries]}))


def entry(
    id: str, principal: str, controls: list[str], kind: str = "external-dependency", **fields: Any
) -> dict[str, Any]:
    """A complete, current register entry; override any field, or set it to None to drop it."""
    base: dict[str, Any] = {
        "id": id, "principal": principal, "controls": controls, "kind": kind,
        "dependency": "vendor SFTP pulls with this key", "reason": "vendor has no OIDC",
        "owner": "platform-team", "approved_by": "ciso", "expires": str(TODAY + timedelta(60)),
        "approved_on": str(TODAY - timedelta(30)),
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def _yamlable(value: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, date) else v for k, v in value.items()}


def run(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, register: Register | None = None
) -> ValidationSummary:
    return evaluate(con, register, tmp_path / "gx")


def statuses(con: duckdb.DuckDBPyConnection, control_id: str) -> dict[str, str]:
    """{resource_id: status} of one control."""
    return dict(con.execute(
        "SELECT resource_id, status FROM control_results WHERE control_id = ?", [control_id]
    ).fetchall())


def row(con: duckdb.DuckDBPyConnection, control_id: str, resource_id: str) -> dict[str, Any]:
    cursor = con.execute(
        "SELECT * FROM control_results WHERE control_id = ? AND resource_id = ?",
        [control_id, resource_id],
    )
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


# --- G2-G6: organization, roles, Access Analyzer, Identity Center --------------------------------

ORG_ID = "o-rolecall"
EXTERNAL = "999999999999"


def role_arn(name: str, account: str = ACCOUNT, path: str = "/") -> str:
    return f"arn:aws:iam::{account}:role{path}{name}"


def set_organization(
    con: duckdb.DuckDBPyConnection, management: str = ACCOUNT, org_id: str = ORG_ID
) -> None:
    """Name the organization and its management account (run and accounts rows)."""
    con.execute("UPDATE run SET organization_id = ?, management_account_id = ?",
                [org_id, management])
    con.execute("UPDATE accounts SET is_management = (account_id = ?)", [management])


def trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(principal: Any, action: str = "sts:AssumeRole", condition: dict[str, Any] | None = None,
          sid: str | None = None) -> dict[str, Any]:
    """One Allow statement of a trust policy; `principal` as written in the policy."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    if sid:
        statement["Sid"] = sid
    return statement


def add_role(
    con: duckdb.DuckDBPyConnection, name: str, trust_policy: Any, account: str = ACCOUNT, *,
    path: str = "/", boundary: str | None = None,
) -> str:
    """An IAM role with its trust policy (a dict, or anything else stored as is); returns the ARN."""
    arn = role_arn(name, account, path)
    snapshot.insert_rows(con, "iam_roles", [{
        "account_id": account, "role_name": name, "arn": arn, "path": path,
        "role_id": "AROA" + name.upper(), "create_date": days_ago(100),
        "trust_policy": trust_policy, "permissions_boundary_arn": boundary,
    }])
    return arn


def add_rows(con: duckdb.DuckDBPyConnection, table: str, *rows: dict[str, Any]) -> None:
    snapshot.insert_rows(con, table, rows)


def collection_error(
    con: duckdb.DuckDBPyConnection, account: str, source: str, operation: str = "List",
    code: str = "AccessDenied", message: str = "not authorized",
) -> None:
    add_rows(con, "collection_errors", {
        "account_id": account, "source": source, "operation": operation, "error_code": code,
        "message": message, "occurred_at": NOW,
    })


def judge(con: duckdb.DuckDBPyConnection, *control_ids: str,
          register: Register | None = None) -> None:
    """Run some rules through the shared mechanism, without GX: fast table-driven tests.

    evaluate() (with GX) is exercised once per guidance item by each test module.
    """
    from checks.exceptions import valid_exception_rows
    from checks.register_facts import judge_register
    from checks.results import apply_rule, prepare, write_results
    from checks.validate import ALL_RULES, FACT_LOADERS, run_started_at

    now = run_started_at(con)
    register = register or Register(entries=())
    con.execute("DELETE FROM control_results WHERE list_contains($ids, control_id)",
                {"ids": list(control_ids)})
    prepare(con, now, valid_exception_rows(register, now.date()))
    judge_register(con, register, now.date())
    for load in FACT_LOADERS:
        load(con)
    for rule in ALL_RULES:
        if rule.control_id in control_ids:
            apply_rule(con, rule)
            write_results(con, rule)


def evidence(con: duckdb.DuckDBPyConnection, control_id: str, resource_id: str) -> dict[str, Any]:
    import json

    return json.loads(row(con, control_id, resource_id)["evidence"])

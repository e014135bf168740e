"""The exceptions register judged entry by entry: the facts of the register's own control
(temp table register_facts, read by its rule in checks/g1_no_iam_users.py), plus the
snapshot's `exceptions` rows.

The register is small, so this is a plain loop over entries; only the question "does the user
still exist" touches the snapshot, for the register's principals alone. The decisions are in
the control's home.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb

from checks.exceptions import (
    MAX_TERM_DAYS,
    Register,
    RegisterPolicy,
    entry_problems,
    term_start,
    valid_exception_rows,
)
from checks.results import RULE_COLUMN_TYPES, load_facts
from store.snapshot import insert_rows

_FACT_TYPES = {
    **RULE_COLUMN_TYPES,
    "kind": "VARCHAR", "controls": "VARCHAR[]", "expires": "DATE", "approved_on": "DATE",
    "days_to_expiry": "INTEGER", "term_days": "INTEGER", "term_from": "VARCHAR",
    "has_owner": "BOOLEAN", "has_reason": "BOOLEAN", "has_dependency": "BOOLEAN",
    "dependency_required": "BOOLEAN", "has_required_dependency": "BOOLEAN",
    "principal_exists": "BOOLEAN", "problems": "VARCHAR[]",
    "term_limit_days": "INTEGER", "ticket": "VARCHAR", "has_ticket": "BOOLEAN",
    "ticket_required": "BOOLEAN",
}


def register_policy(con: duckdb.DuckDBPyConnection) -> RegisterPolicy:
    """The run's policy for register entries, from the DuckDB variables its settings set."""
    max_days, require_ticket = con.execute(
        "SELECT getvariable('exception_max_days'), getvariable('require_exception_ticket')"
    ).fetchone() or (None, None)
    if max_days is None:
        max_days = MAX_TERM_DAYS
    if isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 1:
        raise ValueError(f"exception_max_days must be a whole number of days, at least 1, "
                         f"got {max_days!r}")
    if require_ticket is not None and not isinstance(require_ticket, bool):
        raise ValueError(f"require_exception_ticket must be true or false, got {require_ticket!r}")
    return RegisterPolicy(max_term_days=max_days, require_ticket=bool(require_ticket))


def judge_register(
    con: duckdb.DuckDBPyConnection, register: Register, as_of: date
) -> list[dict[str, Any]]:
    """One member row per entry (RULE_COLUMNS + facts), stored as temp `register_facts`.

    Also writes the snapshot's `exceptions` table and refills the `valid_exceptions` temp table
    under the run's policy. Needs the temp tables of prepare() (`blocked`, `valid_exceptions`).
    """
    policy = register_policy(con)
    keys = sorted({e.principal_key for e in register.entries})
    existing = {
        row[0] for row in con.execute(
            "SELECT DISTINCT lower(arn) FROM iam_users WHERE list_contains($keys, lower(arn)) "
            "UNION SELECT DISTINCT lower(arn) FROM iam_roles WHERE list_contains($keys, lower(arn))",
            {"keys": keys},
        ).fetchall()
    } if keys else set()
    unknown_accounts = {
        row[0] for row in con.execute(
            "SELECT DISTINCT account_id FROM blocked WHERE source IN ('*', 'authorization')"
        ).fetchall()
    }
    rows: list[dict[str, Any]] = []
    stored: list[dict[str, Any]] = []
    for entry in register.entries:
        known = entry.account_id not in unknown_accounts
        problems = entry_problems(entry, as_of, existing if known else None, policy)
        serious = [p for p in problems if p.severity != "low"]
        start, start_name = term_start(entry, as_of)
        if problems:
            outcome = "fail"
            severity = None if serious else "low"
            reason = "; ".join(p.message for p in problems)
        elif not known:
            outcome, severity = "error", None
            reason = (f"complete and current, but account {entry.account_id} was not collected, "
                      "so whether the user still exists is unknown")
        else:
            outcome, severity = "pass", None
            reason = (f"complete, current and the {'role' if entry.is_role else 'user'} exists; "
                      + (f"approved under {entry.ticket}; " if entry.ticket else "")
                      + f"expires {entry.expires} "
                      f"({(entry.expires - start).days} days from {start_name}, "
                      f"limit {policy.max_term_days})")
        rows.append({
            "account_id": entry.account_id, "resource_id": entry.principal,
            "principal_arn": None, "outcome": outcome, "severity": severity, "reason": reason,
            "exception_id": entry.id, "kind": entry.kind, "controls": list(entry.controls),
            "expires": entry.expires, "approved_on": entry.approved_on,
            "days_to_expiry": (entry.expires - as_of).days,
            "term_days": (entry.expires - start).days, "term_from": start_name,
            "has_owner": entry.owner is not None, "has_reason": entry.reason is not None,
            "has_dependency": entry.dependency is not None,
            "dependency_required": entry.kind == "external-dependency",
            "has_required_dependency": (
                entry.dependency is not None or entry.kind != "external-dependency"
            ),
            "principal_exists": (entry.principal_key in existing) if known else None,
            "problems": [p.message for p in problems],
            "term_limit_days": policy.max_term_days, "ticket": entry.ticket,
            "has_ticket": entry.ticket is not None, "ticket_required": policy.require_ticket,
        })
        stored.append({
            "exception_id": entry.id, "principal": entry.principal,
            "controls": list(entry.controls), "kind": entry.kind,
            "dependency": entry.dependency, "reason": entry.reason, "owner": entry.owner,
            "approved_by": entry.approved_by, "approved_on": entry.approved_on,
            "expires": entry.expires, "ticket": entry.ticket, "valid": not serious,
            "problems": [
                {"code": p.code, "severity": p.severity, "message": p.message} for p in problems
            ],
        })
    _store(con, rows, stored)
    _refill_valid_exceptions(con, valid_exception_rows(register, as_of, policy))
    return rows


def _store(
    con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], stored: list[dict[str, Any]]
) -> None:
    con.execute("DELETE FROM exceptions")
    insert_rows(con, "exceptions", stored)  # `ticket` is stored once the table has the column
    load_facts(con, "register_facts", rows, _FACT_TYPES)


def _refill_valid_exceptions(con: duckdb.DuckDBPyConnection, valid: list[dict[str, Any]]) -> None:
    """The entries that except results under the run's policy (prepare() filled the table
    before the settings were known to the register)."""
    con.execute("DELETE FROM valid_exceptions")
    if valid:
        con.executemany(
            "INSERT INTO valid_exceptions VALUES (?, ?, ?, ?, ?)",
            [(r["principal_key"], r["control_id"], r["kind"], r["exception_id"], r["expires"])
             for r in valid],
        )

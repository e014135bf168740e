"""The one mechanism that turns a rule's population and outcomes into control_results rows.

A rule (checks.control.Rule, held by its control's guidance module) is a SQL query over
the snapshot that returns every member of
its control's population with an outcome (pass, fail, error), a reason and its facts. This
module does what every control shares, on whole tables so 500,000 principals take seconds:

- accounts whose data the rule needs were not collected are left out of the population and
  get one `error` row each (never silently dropped);
- a `fail` covered by a valid register entry of an allowed kind becomes `excepted`;
- severity defaults to the catalogue's; evidence is the rule's facts as JSON.

Rule queries can read two temp tables made by `prepare`: `clock(now, today)` (the run's
started_at and its UTC date, never the wall clock) and `valid_exceptions`.

Facts that need Python (IAM policy semantics, checks/iam) are computed per distinct input
and bulk-loaded as a temp table with `load_facts`; the rule's query then reads that table like
any other, so such controls go through exactly the same mechanism.

Two kinds of missing data:
- per account (`Rule.sources`): the account's members are left out and it gets one `error` row;
- per organization (`Rule.org_sources`): data collected once for the whole organization from
  the management account (Organizations, Identity Center; Access Analyzer's organization-level
  analyzers and findings). A failure there means no member can be judged: every member row is
  kept, as `error` with the reason, and its facts are unknown (NULL).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from checks.control import Rule
from checks.settings import Settings

# Every rule query returns these, then its facts.
RULE_COLUMNS: tuple[str, ...] = (
    "account_id", "resource_id", "principal_arn", "outcome", "severity", "reason", "exception_id",
)
OUTCOMES: tuple[str, ...] = ("pass", "fail", "error")
RULE_COLUMN_TYPES: dict[str, str] = {
    "account_id": "VARCHAR", "resource_id": "VARCHAR", "principal_arn": "VARCHAR",
    "outcome": "VARCHAR", "severity": "VARCHAR", "reason": "VARCHAR", "exception_id": "VARCHAR",
}
# Sources only ever collected for the whole organization: a failure recorded for them is
# organization-level wherever it is recorded. Any other source failing for the management
# account is organization-level too (CONTROLS.md: org-level rows name the management account).
ORG_LEVEL_SOURCES: tuple[str, ...] = ("organizations", "identity_center")


def prepare(
    con: duckdb.DuckDBPyConnection, now: datetime, valid_exceptions: Sequence[dict[str, Any]],
    settings: Settings | None = None,
) -> None:
    """Create the temp tables every rule reads (clock, blocked accounts, valid exceptions) and set
    the thresholds the rules read as DuckDB variables (checks/settings.py)."""
    (settings or Settings()).apply(con)
    today = now.astimezone(UTC).date()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE clock AS SELECT ?::TIMESTAMPTZ AS now, ?::DATE AS today",
        [now, today],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE blocked AS
        SELECT account_id, source,
               format('{} collection failed: {} {}: {}', source, coalesce(operation, '?'),
                      coalesce(error_code, '?'), coalesce(message, '')) AS why
        FROM collection_errors
        UNION ALL
        -- no source recorded (or the session itself failed): nothing of the account is usable
        SELECT account_id, '*', why FROM (
            SELECT a.account_id,
                   'account not collected: ' || coalesce(a.error, 'no reason recorded') AS why
            FROM accounts a
            WHERE a.collected IS NOT TRUE
              AND NOT EXISTS (SELECT 1 FROM collection_errors e WHERE e.account_id = a.account_id)
            UNION ALL
            SELECT account_id, 'account not collected: could not open a session' FROM
            collection_errors WHERE source = 'session')
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE management AS
        SELECT account_id FROM accounts WHERE is_management
        UNION SELECT management_account_id FROM run WHERE management_account_id IS NOT NULL
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE org_blocked AS
        SELECT e.source,
               format('{} collection failed for the organization: {} {}: {}', e.source,
                      coalesce(e.operation, '?'), coalesce(e.error_code, '?'),
                      coalesce(e.message, '')) AS why
        FROM collection_errors e
        WHERE list_contains($org_level, e.source) OR e.account_id IS NULL
           OR e.account_id IN (SELECT account_id FROM management)
        """,
        {"org_level": list(ORG_LEVEL_SOURCES)},
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE valid_exceptions (principal_key VARCHAR, "
        "control_id VARCHAR, kind VARCHAR, exception_id VARCHAR, expires DATE)"
    )
    if valid_exceptions:
        con.executemany(
            "INSERT INTO valid_exceptions VALUES (?, ?, ?, ?, ?)",
            [
                (r["principal_key"], r["control_id"], r["kind"], r["exception_id"], r["expires"])
                for r in valid_exceptions
            ],
        )


def apply_rule(con: duckdb.DuckDBPyConnection, rule: Rule) -> None:
    """Evaluate the rule into its temp table: members of evaluable accounts, with coverage."""
    blocked_filter = (
        "WHERE NOT EXISTS (SELECT 1 FROM blocked b WHERE b.account_id = m.account_id "
        "AND (b.source = '*' OR list_contains($sources, b.source)))"
        if rule.per_account else ""
    )
    params: dict[str, Any] = {"control": rule.control_id, "kinds": list(rule.exception_kinds)}
    if rule.per_account:
        params["sources"] = list(rule.sources)
    if rule.org_sources:
        # Organization-level data missing: every member is `error` and its facts unknown.
        params["org_sources"] = list(rule.org_sources)
        org_why = ("(SELECT string_agg(DISTINCT why, '; ' ORDER BY why) FROM org_blocked "
                   "WHERE list_contains($org_sources, source))")
        outcome = "CASE WHEN o.why IS NOT NULL THEN 'error' ELSE m.outcome END"
        reason = "CASE WHEN o.why IS NOT NULL THEN 'not evaluated: ' || o.why ELSE m.reason END"
        facts = ", ".join(f'CASE WHEN o.why IS NULL THEN m."{f}" END AS "{f}"' for f in rule.facts)
        org_join = f"CROSS JOIN (SELECT {org_why} AS why) o"
    else:
        outcome, reason, org_join = "m.outcome", "m.reason", ""
        facts = ", ".join(f'm."{f}"' for f in rule.facts)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {rule.table} AS
        WITH member AS ({rule.query}),
        cover AS (
            SELECT principal_key, exception_id, kind, expires FROM valid_exceptions
            WHERE control_id = $control AND list_contains($kinds, kind)
            QUALIFY row_number() OVER (
                PARTITION BY principal_key ORDER BY expires DESC, exception_id) = 1)
        SELECT m.account_id, m.resource_id, m.principal_arn, {outcome} AS outcome, m.severity,
               {reason} AS reason, m.exception_id, {facts},
               c.exception_id IS NOT NULL AS covered_by_valid_exception,
               c.exception_id AS covering_id, c.kind AS covering_kind,
               c.expires AS covering_expires
        FROM member m {org_join} LEFT JOIN cover c ON lower(m.principal_arn) = c.principal_key
        {blocked_filter}
        """,
        params,
    )


def load_facts(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    types: Mapping[str, str],
) -> None:
    """Python-computed facts as a temp table, in one bulk insert through a pandas frame.

    `types` maps every column to its DuckDB type; JSON columns take any JSON-ready value.
    """
    columns = ", ".join(f'"{name}" {kind}' for name, kind in types.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({columns})")
    if not rows:
        return
    import pandas as pd  # here, not at the top: the catalogue (and every CLI command) imports
    # this module, and pandas costs ~2 s of import where only a run's rules need it
    frame = pd.DataFrame({
        name: pd.Series(
            [_db_value(row.get(name), kind) for row in rows],
            dtype="object",
        )
        for name, kind in types.items()
    })
    selects = ", ".join(f'CAST(facts_frame."{name}" AS {kind})' for name, kind in types.items())
    con.register("facts_frame", frame)
    try:
        con.execute(f"INSERT INTO {table} SELECT {selects} FROM facts_frame")
    finally:
        con.unregister("facts_frame")


def _db_value(value: Any, kind: str) -> Any:
    if kind == "JSON" and value is not None:
        return json.dumps(value, default=str, sort_keys=True)
    return value


def write_results(con: duckdb.DuckDBPyConnection, rule: Rule) -> None:
    """Insert the rule's control_results rows: one per member, one error row per blocked account."""
    control = rule.control
    evidence = ", ".join(f'"{f}" := "{f}"' for f in rule.facts)
    if rule.exception_kinds:
        no_cover = (
            f"; no valid register entry of kind {' or '.join(rule.exception_kinds)} "
            f"excepts it for {rule.control_id}"
        )
    else:
        no_cover = ""
    params = {
        "control": rule.control_id, "item": control.guidance_item, "type": rule.resource_type,
        "severity": control.severity, "no_cover": no_cover,
    }
    con.execute(
        f"""
        INSERT INTO control_results
        SELECT $control, $item, account_id, resource_id, $type,
               CASE WHEN outcome = 'fail' AND covered_by_valid_exception THEN 'excepted'
                    ELSE outcome END,
               coalesce(severity, $severity),
               CASE WHEN outcome = 'fail' AND covered_by_valid_exception
                    THEN reason || format('; excepted by register entry "{{}}" ({{}}, expires {{}})',
                                          covering_id, covering_kind, covering_expires)
                    WHEN outcome = 'fail' THEN reason || $no_cover
                    ELSE reason END,
               CASE WHEN outcome = 'fail' AND covered_by_valid_exception THEN covering_id
                    ELSE exception_id END,
               to_json(struct_pack({evidence}))
        FROM {rule.table}
        """,
        params,
    )
    if rule.per_account:
        con.execute(
            """
            INSERT INTO control_results
            SELECT $control, $item, account_id, account_id, 'account', 'error', $severity,
                   'not evaluated: ' || string_agg(DISTINCT why, '; ' ORDER BY why), NULL,
                   to_json(struct_pack(not_collected := list(DISTINCT why ORDER BY why)))
            FROM blocked
            WHERE source = '*' OR list_contains($sources, source)
            GROUP BY account_id
            """,
            {"control": rule.control_id, "item": control.guidance_item,
             "severity": control.severity, "sources": list(rule.sources)},
        )


def mark_error(con: duckdb.DuckDBPyConnection, control_id: str, why: str) -> None:
    """Turn every row of a control into `error` (used when GX disagrees with the rule)."""
    con.execute(
        "UPDATE control_results SET status = 'error', "
        "reason = $why || ' (rule said ' || status || ': ' || reason || ')' "
        "WHERE control_id = $control",
        {"why": why, "control": control_id},
    )


def notes(con: duckdb.DuckDBPyConnection, rule: Rule) -> tuple[str, ...]:
    """What the rule says about its population besides its rows (Rule.notes_query)."""
    if rule.notes_query is None:
        return ()
    return tuple(str(r[0]) for r in con.execute(rule.notes_query).fetchall() if r[0] is not None)


def run_date(now: datetime) -> date:
    """The date every age and expiry is measured against: the UTC date of run.started_at."""
    return now.astimezone(UTC).date()

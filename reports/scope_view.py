"""The report's "Scope, method and limitations" chapter: what the run stands for, who collected
it, how each control was decided and cross-checked, the settings, and everything it could not see.

An auditor reads this chapter to decide how far the results can be relied on, so every
limitation is listed from the snapshot itself (collection errors, accounts not collected,
completeness checks that failed, controls left out, simulated data), never from a fixed text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

from checks.catalogue import CHECKS, CONTROLS
from checks.completeness import CompletenessSummary
from checks.settings import Settings, describe
from store.coverage import EVIDENCE_ONLY_SOURCES, Coverage


@dataclass(frozen=True)
class OutOfScope:
    account_id: str
    name: str | None
    why: str


@dataclass(frozen=True)
class CallerIdentity:
    session: str  # base or assumed-role
    arn: str
    accounts: int  # accounts in which this identity collected


@dataclass(frozen=True)
class MethodRow:
    control_id: str
    population: str
    fails_when: str  # what the rule decides, over the whole population
    second_check: str  # how the verdicts are decided again, independently
    run: bool


@dataclass(frozen=True)
class SettingRow:
    name: str
    value: str
    origin: str
    meaning: str
    read_by: tuple[str, ...]  # the controls whose verdicts depend on it


@dataclass(frozen=True)
class ScopeAndMethod:
    organization_id: str | None
    management_account_id: str | None
    period: str | None
    period_end: date | None
    snapshot_at: datetime | None
    accounts_listed: int
    accounts_in_scope: int
    out_of_scope: tuple[OutOfScope, ...]
    regions: tuple[tuple[str, str], ...]  # (what, region)
    identity_center_home_region: str
    callers: tuple[CallerIdentity, ...]
    callers_missing: int  # accounts collected without a recorded caller identity
    population: tuple[tuple[str, int], ...]  # (what, how many), tested whole
    method: tuple[MethodRow, ...]
    settings: tuple[SettingRow, ...]
    limitations: tuple[str, ...]


def run_settings(con: duckdb.DuckDBPyConnection) -> Settings:
    """The settings the run recorded in run.config; runs older than the settings: the defaults."""
    row = con.execute("SELECT config FROM run").fetchone()
    config = json.loads(row[0]) if row and row[0] else {}
    recorded = config.get("settings") if isinstance(config, dict) else None
    return Settings.model_validate(recorded) if recorded else Settings()


def scope_and_method(
    con: duckdb.DuckDBPyConnection, seen: Coverage, completeness: CompletenessSummary | None,
) -> ScopeAndMethod:
    settings = run_settings(con)
    run = con.execute(
        "SELECT organization_id, management_account_id, period, started_at, simulated, region "
        "FROM run").fetchone()
    org_id, management, period, started, simulated, region = run or (None,) * 6
    started = started.astimezone(UTC) if started else None
    period_end = _period_end(period)
    out = tuple(OutOfScope(a, n, why or "not collected (no reason recorded)") for a, n, why in
                con.execute("SELECT account_id, name, error FROM accounts WHERE collected IS NOT TRUE "
                            "ORDER BY account_id").fetchall())
    region = region or "not recorded"
    analyzer_regions = [r for (r,) in con.execute(
        "SELECT DISTINCT region FROM access_analyzers WHERE region IS NOT NULL ORDER BY 1").fetchall()]
    instances = con.execute("SELECT count(*) FROM identity_center_instances").fetchone()
    home = (f"{region} (an instance was found there)" if instances and instances[0]
            else f"unknown: no Identity Center instance in {region}")
    # one line per identity; an audit role's ARN differs only by account, so it is shown once
    callers = tuple(CallerIdentity(s, arn, n) for s, arn, n in con.execute(
        "SELECT session, CASE session WHEN 'base' THEN arn "
        "ELSE regexp_replace(arn, '::[0-9]{12}:', '::<account>:') END AS shown, "
        "count(DISTINCT account_id) FROM caller_identities "
        "GROUP BY ALL ORDER BY session DESC, shown").fetchall())
    missing = _scalar(con, """
        SELECT count(*) FROM accounts a WHERE collected AND NOT is_management AND NOT EXISTS
        (SELECT 1 FROM caller_identities c WHERE c.account_id = a.account_id)""")
    return ScopeAndMethod(
        organization_id=org_id, management_account_id=management, period=period,
        period_end=period_end, snapshot_at=started,
        accounts_listed=seen.accounts, accounts_in_scope=seen.accounts_collected,
        out_of_scope=out,
        regions=(("IAM, Organizations (global services)", "global endpoints"),
                 ("STS, Identity Center, Access Analyzer", region),
                 *(("Access Analyzer analyzers found", r) for r in analyzer_regions)),
        identity_center_home_region=home,
        callers=callers, callers_missing=missing,
        population=_population(con),
        method=_method(settings),
        settings=tuple(SettingRow(*row, read_by=tuple(c.id for c in CONTROLS if row[0] in c.settings))
                       for row in describe(settings)),
        limitations=_limitations(con, seen, completeness, settings, bool(simulated), missing,
                                 home, period_end, started),
    )


def _period_end(period: str | None) -> date | None:
    if not period:
        return None
    year, month = (int(p) for p in period.split("-"))
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _population(con: duckdb.DuckDBPyConnection) -> tuple[tuple[str, int], ...]:
    return tuple((what, _scalar(con, sql)) for what, sql in (
        ("accounts listed by AWS Organizations", "SELECT count(*) FROM accounts"),
        ("IAM users (credential report and authorization details)", "SELECT count(*) FROM iam_users"),
        ("access keys", "SELECT count(*) FROM iam_access_keys"),
        ("IAM roles and their trust policies", "SELECT count(*) FROM iam_roles"),
        ("service control policies", "SELECT count(*) FROM scps"),
        ("Access Analyzer findings", "SELECT count(*) FROM access_analyzer_findings"),
    ))


def _method(settings: Settings) -> tuple[MethodRow, ...]:
    rows = []
    for check in CHECKS:
        control = check.control
        second = "Great Expectations" + (" + concrete requests"
                                          if check.requests_cross_check else "")
        rows.append(MethodRow(
            control_id=control.id, population=control.population, fails_when=control.fails_when,
            second_check=second, run=settings.selects(control.id, control.guidance_item),
        ))
    return tuple(rows)


def _limitations(
    con: duckdb.DuckDBPyConnection, seen: Coverage, completeness: CompletenessSummary | None,
    settings: Settings, simulated: bool, callers_missing: int, home: str,
    period_end: date | None, started: datetime | None,
) -> tuple[str, ...]:
    found: list[str] = []
    if simulated:
        found.append("The data comes from rolecall's built-in simulated organization: this report "
                     "is a demonstration, not audit evidence.")
    if seen.accounts_not_collected:
        found.append(f"{seen.accounts_not_collected} of {seen.accounts} accounts were not collected; "
                     "their controls are errors, not passes (see the list of accounts out of scope).")
    for gap in seen.source_gaps:
        found.append(f"Source {gap.source} failed in {gap.accounts} account"
                     f"{'s' if gap.accounts != 1 else ''}; controls reading it are errors there "
                     f"(first: {gap.first_reason}).")
    for source, n in con.execute(
            "SELECT source, count(DISTINCT account_id) FROM collection_errors "
            "WHERE list_contains($s, source) GROUP BY ALL ORDER BY 1",
            {"s": list(EVIDENCE_ONLY_SOURCES)}).fetchall():
        found.append(f"Evidence-only source {source} failed in {n} account{'s' if n != 1 else ''}; "
                     "no verdict depends on it.")
    if callers_missing:
        found.append(f"The caller identity was not recorded in {callers_missing} collected "
                     "account(s).")
    if completeness is None:
        found.append("The completeness suite did not run for this report.")
    else:
        for check in completeness.checks:
            if check.raised or not check.success:
                found.append(f"Completeness check {check.id} ({check.title}) "
                             f"{'could not run' if check.raised else 'failed'}: the population it "
                             "checks may not be whole.")
    not_run = [c.id for c in CONTROLS if not settings.selects(c.id, c.guidance_item)]
    if not_run:
        found.append(f"Controls not run by this configuration: {', '.join(not_run)}.")
    if home.startswith("unknown"):
        found.append(f"Identity Center home region {home}; G2's controls judge what was found.")
    scp_controls = " and ".join(c.id for c in CONTROLS if c.scp_coverage)
    found.append(f"The management account is not governed by SCPs (AWS), so {scp_controls} "
                 "judge member accounts only; its own IAM users and roles are judged by every "
                 "other control.")
    if period_end is not None and started is not None:
        lag = (started.date() - period_end).days
        found.append(
            "The snapshot is the state at collection time, not over the whole period: "
            + (f"it was taken {lag} day(s) after the period ended. " if lag > 0 else
               "it was taken before the period ended. ")
            + "Ages and last-use dates are measured back from collection; a user created and "
              "deleted within the period is not seen.")
    return tuple(found)

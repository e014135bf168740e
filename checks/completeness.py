"""Completeness: was the population whole? Great Expectations suite "completeness".

Four checks, each one expectation on one long facts dataframe (column `check` says which check a
row belongs to; `subject` is an account or control id; `detail` says in words what the row's facts
are, and GX lists `subject` and `detail` for every unexpected row in gx/completeness.json):

- CP-1: every account of the organization (the `accounts` table plus every account in the
  ListAccounts responses) was collected, or is listed with the error that stopped it;
- CP-2: per account, the credential report's users equal the users of the authorization details;
- CP-3: per account, the credential report was generated within 4 hours of the run's start;
- CP-4: every control's population has an evaluated member where the data it is drawn from exists.

A row whose facts cannot be known (the source was not collected, no independent source exists) is
NaN, which GX counts as missing: it is neither passed nor failed, and the report says how many.
Completeness failures are reported in their own section and do not change the CLI's exit code:
they qualify the results, they are not findings about IAM users.

The checks are data (`CHECKS`), the facts one SQL query per check (`FACT_QUERIES`), so the report,
the tests and gx/completeness.json use the same ids.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from checks import catalogue
from store.snapshot import ROOT_USER

SUITE = "completeness"
RESULT_FILE = "completeness.json"
MAX_REPORT_AGE_HOURS = 4
NAMES_SHOWN = 10  # user names listed per difference in a CP-2 detail
IDENTITY_SOURCES = ("session", "credential_report", "authorization")
FACT_COLUMNS = ("accounted_for", "user_differences", "report_age_hours", "population", "source_rows")


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    says: str  # what a passing check means, in one sentence
    subject: str  # "account" or "control"


CHECKS: tuple[Check, ...] = (
    Check("CP-1", "Every account collected or listed with its error",
          "every account of the organization was collected, or the error that stopped its "
          "collection is recorded", "account"),
    Check("CP-2", "Credential report users equal authorization details users",
          "per account, the users in the credential report are exactly the users returned by "
          "GetAccountAuthorizationDetails", "account"),
    Check("CP-3", f"Credential report at most {MAX_REPORT_AGE_HOURS} hours old",
          f"per account, the credential report was generated at most {MAX_REPORT_AGE_HOURS} hours "
          "before the run started", "account"),
    Check("CP-4", "Every control's population is non-empty where the data exists",
          "every control whose source data holds rows evaluated at least one member "
          "(pass, fail or excepted)", "control"),
)
CHECKS_BY_ID = {c.id: c for c in CHECKS}

# Where each control's population is drawn from (`Check.population_count`, in its home): a
# count over collected data that must be > 0 for the population to be expected non-empty.
# Controls whose population needs policy analysis (trust policies) have no independent count
# and are not checked.
POPULATION_SOURCES: dict[str, str] = {
    c.control.id: c.population_count for c in catalogue.CHECKS if c.population_count}

_BLOCKED = f"""
    SELECT account_id, string_agg(DISTINCT source || ': ' || coalesce(error_code, '?'), '; ') AS why
    FROM collection_errors WHERE list_contains({list(IDENTITY_SOURCES)!r}, source)
    GROUP BY account_id
"""

FACT_QUERIES: dict[str, str] = {
    "CP-1": """
        WITH listed AS (
            SELECT DISTINCT json_extract_string(a.value, '$.Id') AS account_id
            FROM raw_payloads p, json_each(p.payload -> '$.Accounts') a
            WHERE p.operation = 'ListAccounts'
        ), errors AS (
            SELECT account_id, string_agg(source || ': ' || coalesce(error_code, '?') || ': '
                                          || coalesce(message, ''), '; ') AS why
            FROM collection_errors GROUP BY account_id
        )
        SELECT coalesce(a.account_id, l.account_id) AS subject,
               CASE WHEN a.account_id IS NULL THEN 0
                    WHEN a.collected OR a.error IS NOT NULL OR e.why IS NOT NULL THEN 1
                    ELSE 0 END AS accounted_for,
               CASE WHEN a.account_id IS NULL
                        THEN 'listed by AWS Organizations but missing from the snapshot'
                    WHEN a.collected THEN 'collected'
                    WHEN coalesce(a.error, e.why) IS NOT NULL
                        THEN 'not collected: ' || coalesce(a.error, e.why)
                    ELSE 'not collected and no error recorded' END AS detail
        FROM accounts a FULL OUTER JOIN listed l USING (account_id)
        LEFT JOIN errors e ON e.account_id = coalesce(a.account_id, l.account_id)
        ORDER BY subject
    """,
    "CP-2": f"""
        WITH cr AS (SELECT account_id, "user" AS u FROM credential_report
                    WHERE "user" <> '{ROOT_USER}'),
             az AS (SELECT account_id, user_name AS u FROM iam_users),
             only_cr AS (SELECT account_id, list(u ORDER BY u) AS names
                         FROM (SELECT * FROM cr EXCEPT SELECT * FROM az) GROUP BY account_id),
             only_az AS (SELECT account_id, list(u ORDER BY u) AS names
                         FROM (SELECT * FROM az EXCEPT SELECT * FROM cr) GROUP BY account_id),
             n_cr AS (SELECT account_id, count(*) AS n FROM cr GROUP BY account_id),
             n_az AS (SELECT account_id, count(*) AS n FROM az GROUP BY account_id),
             blocked AS ({_BLOCKED})
        SELECT a.account_id AS subject,
               CASE WHEN b.why IS NOT NULL OR a.collected IS NOT TRUE THEN NULL
                    ELSE len(coalesce(oc.names, [])) + len(coalesce(oa.names, [])) END
                   AS user_differences,
               CASE WHEN b.why IS NOT NULL OR a.collected IS NOT TRUE
                        THEN 'not comparable: ' || coalesce(b.why, 'account not collected')
                    ELSE format('credential report {{}} users, authorization details {{}} users',
                                coalesce(nc.n, 0), coalesce(na.n, 0))
                         || CASE WHEN oa.names IS NOT NULL THEN '; only in authorization details: '
                                 || array_to_string(oa.names[:{NAMES_SHOWN}], ', ')
                                 || CASE WHEN len(oa.names) > {NAMES_SHOWN}
                                         THEN format(' and {{}} more', len(oa.names) - {NAMES_SHOWN})
                                         ELSE '' END ELSE '' END
                         || CASE WHEN oc.names IS NOT NULL THEN '; only in the credential report: '
                                 || array_to_string(oc.names[:{NAMES_SHOWN}], ', ')
                                 || CASE WHEN len(oc.names) > {NAMES_SHOWN}
                                         THEN format(' and {{}} more', len(oc.names) - {NAMES_SHOWN})
                                         ELSE '' END ELSE '' END
               END AS detail
        FROM accounts a
        LEFT JOIN blocked b USING (account_id)
        LEFT JOIN only_cr oc USING (account_id)
        LEFT JOIN only_az oa USING (account_id)
        LEFT JOIN n_cr nc USING (account_id)
        LEFT JOIN n_az na USING (account_id)
        ORDER BY subject
    """,
    "CP-3": f"""
        WITH generated AS (SELECT account_id, max(generated_time) AS at
                           FROM credential_report GROUP BY account_id),
             blocked AS ({_BLOCKED})
        SELECT a.account_id AS subject,
               CASE WHEN g.at IS NOT NULL
                    THEN greatest(0, epoch(r.started_at) - epoch(g.at)) / 3600.0 END
                   AS report_age_hours,
               CASE WHEN b.why IS NOT NULL OR a.collected IS NOT TRUE
                        THEN 'no credential report: ' || coalesce(b.why, 'account not collected')
                    WHEN g.at IS NULL
                        THEN 'the credential report has no rows, so its generation time is unknown'
                    ELSE 'generated ' || strftime(g.at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S UTC')
                         || format(', {{}} hours before the run started',
                                   round(greatest(0, epoch(r.started_at) - epoch(g.at)) / 3600.0, 1))
                         || CASE WHEN r.simulated
                                      AND greatest(0, epoch(r.started_at) - epoch(g.at)) / 3600.0
                                          > {MAX_REPORT_AGE_HOURS}
                                 THEN '; the simulated organization (moto) fixes this value'
                                 ELSE '' END
               END AS detail
        FROM accounts a CROSS JOIN run r
        LEFT JOIN generated g USING (account_id)
        LEFT JOIN blocked b USING (account_id)
        ORDER BY subject
    """,
}


def _population_facts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """CP-4: one row per control with results or a known source."""
    evaluated = dict(con.execute(
        "SELECT control_id, count(*) FILTER (WHERE status <> 'error') FROM control_results "
        "GROUP BY control_id").fetchall())
    errors = dict(con.execute(
        "SELECT control_id, count(*) FILTER (WHERE status = 'error') FROM control_results "
        "GROUP BY control_id").fetchall())
    rows = []
    for control_id in sorted(set(evaluated) | set(POPULATION_SOURCES)):
        query = POPULATION_SOURCES.get(control_id)
        source_rows = con.execute(query).fetchall()[0][0] if query else None
        population = evaluated.get(control_id, 0)
        if query is None:
            detail = f"{population:,} evaluated; no independent source to compare (policy analysis)"
        else:
            source = query.removeprefix("SELECT count(*) FROM ")
            detail = f"{population:,} evaluated; {source_rows:,} rows in its source ({source})"
        if errors.get(control_id):
            detail += f"; {errors[control_id]:,} error rows"
        rows.append({"subject": control_id, "population": float(population),
                     "source_rows": np.nan if source_rows is None else float(source_rows),
                     "detail": detail})
    return pd.DataFrame(rows, columns=["subject", "population", "source_rows", "detail"])


def facts_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The long facts dataframe of the suite: check, subject, detail and the numeric facts."""
    parts = [con.execute(sql).df().assign(check=check) for check, sql in FACT_QUERIES.items()]
    parts.append(_population_facts(con).assign(check="CP-4"))
    frame = pd.concat(parts, ignore_index=True)
    for column in FACT_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["check"] = pd.Categorical(frame["check"], categories=[c.id for c in CHECKS])
    frame["subject"] = frame["subject"].astype(str)
    frame["detail"] = frame["detail"].astype(str)
    return frame[["check", "subject", "detail", *FACT_COLUMNS]]


def expectations() -> list[Any]:
    from checks.gx_import import Column, gx

    e = gx.expectations

    def on(check_id: str, *extra: Any) -> dict[str, Any]:
        condition = Column("check") == check_id
        for more in extra:
            condition = condition & more
        check = CHECKS_BY_ID[check_id]
        return {"row_condition": condition,
                "meta": {"check": check.id, "title": check.title, "says": check.says}}

    return [
        e.ExpectColumnValuesToBeInSet(column="accounted_for", value_set=[1], **on("CP-1")),
        e.ExpectColumnValuesToBeBetween(column="user_differences", max_value=0, **on("CP-2")),
        e.ExpectColumnValuesToBeBetween(column="report_age_hours", max_value=MAX_REPORT_AGE_HOURS,
                                        **on("CP-3")),
        e.ExpectColumnValuesToBeBetween(column="population", min_value=1,
                                        **on("CP-4", Column("source_rows") >= 1)),
    ]


@dataclass(frozen=True)
class CheckResult:
    """One completeness check as GX judged it."""

    id: str
    title: str
    says: str
    success: bool
    checked: int  # rows with known facts
    not_checkable: int  # rows whose facts are unknown (NaN): source not collected, nothing to compare
    failures: list[tuple[str, str]]  # (subject, detail) of every unexpected row
    raised: str | None = None  # GX could not run the expectation


@dataclass(frozen=True)
class CompletenessSummary:
    checks: list[CheckResult] = field(default_factory=list)
    result_path: Path | None = None

    @property
    def success(self) -> bool:
        return bool(self.checks) and all(c.success for c in self.checks)


def summarize(result: dict[str, Any], path: Path | None = None) -> CompletenessSummary:
    """CompletenessSummary from a GX validation result (as written to gx/completeness.json)."""
    checks = []
    for r in result.get("results", []):
        meta = r.get("expectation_config", {}).get("meta") or {}
        info = r.get("exception_info") or {}
        res = r.get("result") or {}
        element_count = int(res.get("element_count") or 0)
        missing = int(res.get("missing_count") or 0)
        failures = [(str(row.get("subject")), str(row.get("detail")))
                    for row in res.get("unexpected_index_list") or []]
        checks.append(CheckResult(
            id=meta.get("check", "?"), title=meta.get("title", ""), says=meta.get("says", ""),
            success=bool(r.get("success")), checked=element_count - missing,
            not_checkable=missing, failures=failures,
            raised=info.get("exception_message") if info.get("raised_exception") else None,
        ))
    checks.sort(key=lambda c: c.id)
    return CompletenessSummary(checks=checks, result_path=path)


def check_completeness(con: duckdb.DuckDBPyConnection, gx_dir: Path) -> CompletenessSummary:
    """Run the completeness suite on the snapshot; write gx_dir/completeness.json."""
    from checks.gx_import import ProgressBarsConfig, gx

    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    gx_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_definition = (context.data_sources.add_pandas("rolecall_completeness")
                        .add_dataframe_asset(SUITE).add_batch_definition_whole_dataframe(SUITE))
    suite = context.suites.add(gx.ExpectationSuite(name=SUITE, expectations=expectations()))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": facts_frame(con)})
    result = batch.validate(suite, result_format={
        "result_format": "COMPLETE", "unexpected_index_column_names": ["subject", "detail"]})
    as_json = json.loads(json.dumps(result.to_json_dict(), default=str))
    path = gx_dir / RESULT_FILE
    path.write_text(json.dumps(as_json, indent=2, sort_keys=True))
    return summarize(as_json, path)

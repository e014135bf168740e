"""Evaluate G1-G6 on a snapshot, and have Great Expectations check every verdict a second time.

`evaluate` computes the facts that need Python (trust policies, SCPs: checks/trust.py,
checks/boundaries.py), then runs each rule (checks/credentials.py, checks/register_rule.py,
checks/identity_center.py, checks/access_analyzer.py, checks/trust.py, checks/boundaries.py)
through the shared mechanism (checks/results.py) into `control_results`. Then, per guidance item, one GX suite
re-expresses each control's rule on the facts the rules recorded (ages in days, flags), on a
long "facts" dataframe with a `control_id` column; each expectation carries its control id in
`meta` and says which count it must reproduce: `fail` (after exceptions) or `fail+excepted`
(the rule before exceptions). Expectations of one control and count flag disjoint rows, so
their unexpected counts add up. A disagreement, or an expectation that raised, turns that
control's rows into `error`, saying why; nothing is trusted that GX could not confirm.

Known GX limits that shaped this (GX 1.24): GX on DuckDB through SQLAlchemy fails with
MetricResolutionError, so the facts go through pandas; UnexpectedRowsExpectation does not run
on pandas; GX hashes every batch and runs a pandas query per metric, so the facts are numeric
(flags are 1.0 true, 0.0 false, NaN unknown; `control_id` is categorical), which keeps 500,000
principals to seconds. Unknown (NaN) facts are "missing" to GX, like `error` rows to the rules.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from checks import access_analyzer, boundaries, identity_center, trust
from checks.catalogue import CONTROLS, IMPLEMENTED
from checks.completeness import CompletenessSummary, check_completeness
from checks.credentials import LIMIT_DAYS, RULES
from checks.exceptions import MAX_TERM_DAYS, Register, valid_exception_rows
from checks.register_rule import RC_1_5, judge_register
from checks.results import (
    Rule,
    apply_rule,
    mark_error,
    notes,
    prepare,
    run_date,
    status_counts,
    write_results,
)

_ORDER = {c.id: i for i, c in enumerate(CONTROLS)}
ALL_RULES: tuple[Rule, ...] = tuple(sorted(
    (*RULES, RC_1_5, *identity_center.RULES, *access_analyzer.RULES, *trust.RULES,
     *boundaries.RULES),
    key=lambda r: _ORDER[r.control_id]))
# Facts computed in Python before the rules run (each loads one temp table the rules read).
FACT_LOADERS = (trust.load_trust_facts, boundaries.load_scp_facts)
GUIDANCE_ITEMS: tuple[str, ...] = ("G1", "G2", "G3", "G4", "G5", "G6")
RESULT_FORMAT = "BASIC"
TRUE, FALSE = 1, 0  # how flags are encoded in the facts dataframes


@dataclass(frozen=True)
class ControlSummary:
    control_id: str
    guidance_item: str
    population: int
    passed: int
    failed: int
    excepted: int
    error: int
    gx_unexpected: dict[str, int]
    cross_check: str  # "ok", or why the control's rows were turned into errors
    notes: tuple[str, ...] = ()  # about the population, e.g. who is left out of it and why


@dataclass(frozen=True)
class SuiteSummary:
    guidance_item: str
    success: bool  # GX's verdict: False whenever any control of the item has failures
    expectations: int
    unexpected_expectations: int
    raised: int
    result_path: Path


@dataclass
class ValidationSummary:
    run_date: date
    controls: dict[str, ControlSummary] = field(default_factory=dict)
    suites: dict[str, SuiteSummary] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # Completeness (checks/completeness.py): reported, never turned into control_results.
    completeness: CompletenessSummary | None = None

    @property
    def cross_checked(self) -> bool:
        """Every control's verdicts were confirmed by GX."""
        return not self.errors


def evaluate(
    con: duckdb.DuckDBPyConnection, register: Register | None, gx_dir: Path
) -> ValidationSummary:
    """Write `exceptions` and `control_results` for G1-G6 into `con`, GX results into gx_dir
    (one <G>.json per guidance item, and completeness.json for the completeness suite)."""
    clock = perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        seconds[name] = round(perf_counter() - clock, 3)
        clock = perf_counter()

    now = run_started_at(con)
    as_of = run_date(now)
    register = register or Register(entries=(), source="(no register)")
    con.execute("DELETE FROM control_results WHERE list_contains($ids, control_id)",
                {"ids": list(IMPLEMENTED)})
    prepare(con, now, valid_exception_rows(register, as_of))
    judge_register(con, register, as_of)
    for load in FACT_LOADERS:
        load(con)
    lap("facts")
    for rule in ALL_RULES:
        apply_rule(con, rule)
        write_results(con, rule)
    lap("rules")

    summary = ValidationSummary(run_date=as_of)
    counts = status_counts(con, [r.control_id for r in ALL_RULES])
    suites = run_suites(con, gx_dir)
    lap("gx")

    for rule in ALL_RULES:
        control_id = rule.control_id
        got = counts[control_id]
        expected = {
            "fail": got.get("fail", 0),
            "fail+excepted": got.get("fail", 0) + got.get("excepted", 0),
        }
        found, problems = suites.unexpected(control_id)
        for kind, n in found.items():
            if n != expected[kind]:
                problems.append(
                    f"GX cross-check failed: the rule gave {expected[kind]} {kind}, "
                    f"GX found {n} unexpected"
                )
        if not found and not problems:
            problems.append("GX cross-check failed: no expectation covers the control")
        verdict = "ok"
        if problems:
            verdict = "; ".join(problems)
            mark_error(con, control_id, verdict)
            summary.errors.append(f"{control_id}: {verdict}")
        final = status_counts(con, [control_id])[control_id]
        summary.controls[control_id] = ControlSummary(
            control_id=control_id, guidance_item=rule.control.guidance_item,
            population=sum(final.values()), passed=final.get("pass", 0),
            failed=final.get("fail", 0), excepted=final.get("excepted", 0),
            error=final.get("error", 0), gx_unexpected=found, cross_check=verdict,
            notes=notes(con, rule),
        )
    summary.suites = suites.summaries
    lap("cross_check")
    summary.completeness = check_completeness(con, gx_dir)
    lap("completeness")
    summary.seconds = seconds
    return summary


def run_started_at(con: duckdb.DuckDBPyConnection) -> datetime:
    """'Now' for every age rule: run.started_at, never the wall clock."""
    rows = con.execute("SELECT started_at FROM run").fetchall()
    if len(rows) != 1 or rows[0][0] is None:
        raise ValueError(f"snapshot must hold exactly one run with started_at, found {len(rows)}")
    started: datetime = rows[0][0]
    return started if started.tzinfo else started.replace(tzinfo=UTC)


# --- The GX side --------------------------------------------------------------------------------

# Fact columns each guidance item's dataframe carries (besides control_id and resource_id).
FACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "G1": ("covered_by_valid_exception", "active", "key_age_days", "days_since_use",
           "root_active_key", "root_mfa_active", "days_to_expiry", "term_days", "has_owner",
           "has_reason", "has_required_dependency", "principal_exists"),
    "G2": ("covered_by_valid_exception", "password_enabled", "mfa_active", "instances",
           "assigned_accounts"),
    "G3": ("covered_by_valid_exception", "has_active_key", "finding_active"),
    "G4": ("external_grants", "protected_grants", "finding_active", "role_fails_rc_4_1",
           "organization_analyzers", "account_analyzers", "service_grants",
           "source_pinned_grants"),
    "G5": ("unpinned_subjects", "grants_without_audience", "for_all_values_conditions",
           "other_grants", "restricted_grants"),
    "G6": ("covered_by_valid_exception", "scp_enabled", "scps_enabled", "denies_create_user",
           "denies_create_access_key", "denies_create_role_without_boundary",
           "denies_delete_boundary", "has_boundary"),
}


def expectations(item: str) -> list[Any]:
    """The suite of one guidance item: each control's rule restated on its facts."""
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column, Condition

    e = gx.expectations

    def where(control_id: str, *conditions: Condition) -> dict[str, Any]:
        condition: Condition = Column("control_id") == control_id
        for extra in conditions:
            condition = condition & extra
        return {"row_condition": condition}

    def meta(control_id: str, counts: str, says: str) -> dict[str, Any]:
        return {"meta": {"control_id": control_id, "counts": counts, "says": says}}

    active = Column("active") == TRUE
    uncovered = Column("covered_by_valid_exception") == FALSE
    # RC-1.5 checks one problem after another, each on the entries without the earlier ones,
    # so the unexpected counts add up to the entries that fail.
    not_expired = Column("days_to_expiry") >= 0
    in_term = Column("term_days") <= MAX_TERM_DAYS
    owned = Column("has_owner") == TRUE
    reasoned = Column("has_reason") == TRUE
    complete = Column("has_required_dependency") == TRUE
    suites: dict[str, list[Any]] = {
        "G1": [
            e.ExpectColumnValuesToBeInSet(
                column="covered_by_valid_exception", value_set=[TRUE], **where("RC-1.1"),
                **meta("RC-1.1", "fail", "every IAM user is named by a valid exception")),
            e.ExpectColumnValuesToBeBetween(
                column="key_age_days", max_value=LIMIT_DAYS, **where("RC-1.2", active),
                **meta("RC-1.2", "fail", f"active keys are at most {LIMIT_DAYS} days old")),
            e.ExpectColumnValuesToNotBeNull(
                column="days_since_use", **where("RC-1.3", active),
                **meta("RC-1.3", "fail+excepted", "active keys have been used")),
            e.ExpectColumnValuesToBeBetween(
                column="days_since_use", max_value=LIMIT_DAYS,
                **where("RC-1.3", active),
                **meta("RC-1.3", "fail+excepted", f"active keys used within {LIMIT_DAYS} days")),
            e.ExpectColumnValuesToNotBeNull(
                column="days_since_use", **where("RC-1.3", active, uncovered),
                **meta("RC-1.3", "fail", "unexcepted active keys have been used")),
            e.ExpectColumnValuesToBeBetween(
                column="days_since_use", max_value=LIMIT_DAYS,
                **where("RC-1.3", active, uncovered),
                **meta("RC-1.3", "fail", f"unexcepted keys used within {LIMIT_DAYS} days")),
            e.ExpectColumnValuesToBeInSet(
                column="root_active_key", value_set=[FALSE], **where("RC-1.4"),
                **meta("RC-1.4", "fail", "the root user has no active access key")),
            e.ExpectColumnValuesToBeInSet(
                column="root_mfa_active", value_set=[TRUE],
                **where("RC-1.4", Column("root_active_key") != TRUE),
                **meta("RC-1.4", "fail", "the root user (without keys) has MFA")),
            e.ExpectColumnValuesToBeBetween(
                column="days_to_expiry", min_value=0, **where("RC-1.5"),
                **meta("RC-1.5", "fail", "entries have not expired")),
            e.ExpectColumnValuesToBeBetween(
                column="term_days", max_value=MAX_TERM_DAYS, **where("RC-1.5", not_expired),
                **meta("RC-1.5", "fail", f"entries run at most {MAX_TERM_DAYS} days")),
            e.ExpectColumnValuesToBeInSet(
                column="has_owner", value_set=[TRUE], **where("RC-1.5", not_expired, in_term),
                **meta("RC-1.5", "fail", "entries name an owner")),
            e.ExpectColumnValuesToBeInSet(
                column="has_reason", value_set=[TRUE], **where("RC-1.5", not_expired, in_term, owned),
                **meta("RC-1.5", "fail", "entries give a reason")),
            e.ExpectColumnValuesToBeInSet(
                column="has_required_dependency", value_set=[TRUE],
                **where("RC-1.5", not_expired, in_term, owned, reasoned),
                **meta("RC-1.5", "fail", "external-dependency entries name the dependency")),
            e.ExpectColumnValuesToBeInSet(
                column="principal_exists", value_set=[TRUE],
                **where("RC-1.5", not_expired, in_term, owned, reasoned, complete),
                **meta("RC-1.5", "fail", "entries name a user that exists (else stale)")),
        ],
        "G2": [
            e.ExpectColumnValuesToBeBetween(
                column="instances", min_value=1, **where("RC-2.3"),
                **meta("RC-2.3", "fail", "an IAM Identity Center instance exists")),
            e.ExpectColumnValuesToBeBetween(
                column="assigned_accounts", min_value=1,
                **where("RC-2.3", Column("instances") >= 1),
                **meta("RC-2.3", "fail", "permission sets are assigned to some account")),
            e.ExpectColumnValuesToBeInSet(
                column="password_enabled", value_set=[FALSE], **where("RC-2.1"),
                **meta("RC-2.1", "fail+excepted", "IAM users have no console password")),
            e.ExpectColumnValuesToBeInSet(
                column="password_enabled", value_set=[FALSE], **where("RC-2.1", uncovered),
                **meta("RC-2.1", "fail", "only break-glass users have a console password")),
            e.ExpectColumnValuesToBeInSet(
                column="mfa_active", value_set=[TRUE],
                **where("RC-2.2", Column("password_enabled") == TRUE),
                **meta("RC-2.2", "fail", "users with a console password have MFA")),
        ],
        "G3": [
            e.ExpectColumnValuesToBeInSet(
                column="has_active_key", value_set=[FALSE], **where("RC-3.1"),
                **meta("RC-3.1", "fail+excepted", "IAM users have no active access key")),
            e.ExpectColumnValuesToBeInSet(
                column="has_active_key", value_set=[FALSE], **where("RC-3.1", uncovered),
                **meta("RC-3.1", "fail", "only users with a named dependency have keys")),
            e.ExpectColumnValuesToBeInSet(
                column="finding_active", value_set=[FALSE], **where("RC-3.2"),
                **meta("RC-3.2", "fail+excepted", "no unused-access finding is ACTIVE")),
            e.ExpectColumnValuesToBeInSet(
                column="finding_active", value_set=[FALSE], **where("RC-3.2", uncovered),
                **meta("RC-3.2", "fail", "only excepted principals have ACTIVE unused access")),
        ],
        "G4": [
            e.ExpectColumnPairValuesToBeEqual(
                column_A="external_grants", column_B="protected_grants",
                ignore_row_if="either_value_is_missing", **where("RC-4.1"),
                **meta("RC-4.1", "fail", "every external grant requires an sts:ExternalId")),
            e.ExpectColumnValuesToBeInSet(
                column="role_fails_rc_4_1", value_set=[FALSE],
                **where("RC-4.2", Column("finding_active") == TRUE),
                **meta("RC-4.2", "fail", "roles with ACTIVE external-access findings pass RC-4.1")),
            e.ExpectColumnValuesToBeBetween(
                column="account_analyzers", min_value=1,
                **where("RC-4.3", Column("organization_analyzers") == 0),
                **meta("RC-4.3", "fail", "without an organization analyzer, every account has "
                       "its own")),
            e.ExpectColumnPairValuesToBeEqual(
                column_A="service_grants", column_B="source_pinned_grants",
                ignore_row_if="either_value_is_missing", **where("RC-4.4"),
                **meta("RC-4.4", "fail", "every service grant pins aws:SourceAccount/SourceArn")),
        ],
        "G5": [
            e.ExpectColumnValuesToBeBetween(
                column="unpinned_subjects", max_value=0, **where("RC-5.1"),
                **meta("RC-5.1", "fail", "every GitHub subject allowed pins one repository")),
            e.ExpectColumnValuesToBeBetween(
                column="grants_without_audience", max_value=0, **where("RC-5.2"),
                **meta("RC-5.2", "fail", "every GitHub grant requires aud = sts.amazonaws.com")),
            e.ExpectColumnValuesToBeBetween(
                column="for_all_values_conditions", max_value=0,
                **where("RC-5.2", Column("grants_without_audience") == 0),
                **meta("RC-5.2", "fail", "no GitHub claim is tested with ForAllValues")),
            e.ExpectColumnPairValuesToBeEqual(
                column_A="other_grants", column_B="restricted_grants",
                ignore_row_if="either_value_is_missing", **where("RC-5.3"),
                **meta("RC-5.3", "fail", "every other OIDC grant restricts the subject")),
        ],
        "G6": [
            e.ExpectColumnValuesToBeInSet(
                column="scp_enabled", value_set=[TRUE], **where("RC-6.1"),
                **meta("RC-6.1", "fail", "SCPs are enabled on the root")),
            *_scp_expectations(e, where, meta, "RC-6.2",
                               ("denies_create_user", "denies_create_access_key")),
            *_scp_expectations(e, where, meta, "RC-6.3",
                               ("denies_create_role_without_boundary", "denies_delete_boundary")),
            e.ExpectColumnValuesToBeInSet(
                column="has_boundary", value_set=[TRUE], **where("RC-6.4"),
                **meta("RC-6.4", "fail+excepted", "roles have a permissions boundary")),
            e.ExpectColumnValuesToBeInSet(
                column="has_boundary", value_set=[TRUE], **where("RC-6.4", uncovered),
                **meta("RC-6.4", "fail", "only excepted roles lack a permissions boundary")),
        ],
    }
    return suites[item]


def _scp_expectations(e: Any, where: Any, meta: Any, control_id: str,
                      needs: tuple[str, str]) -> list[Any]:
    """RC-6.2/6.3: SCPs enabled, then each needed deny in turn, on disjoint rows."""
    from great_expectations.expectations.row_conditions import Column

    enabled = Column("scps_enabled") == TRUE
    first, second = needs
    return [
        e.ExpectColumnValuesToBeInSet(
            column="scps_enabled", value_set=[TRUE], **where(control_id),
            **meta(control_id, "fail", "SCPs apply to the account")),
        e.ExpectColumnValuesToBeInSet(
            column=first, value_set=[TRUE], **where(control_id, enabled),
            **meta(control_id, "fail", f"a covering SCP: {first.replace('_', ' ')}")),
        e.ExpectColumnValuesToBeInSet(
            column=second, value_set=[TRUE], **where(control_id, enabled, Column(first) == TRUE),
            **meta(control_id, "fail", f"a covering SCP: {second.replace('_', ' ')}")),
    ]


def facts_frame(con: duckdb.DuckDBPyConnection, item: str) -> pd.DataFrame:
    """The long facts dataframe of one guidance item: `control_id` plus numeric facts."""
    columns = FACT_COLUMNS[item]
    parts = []
    for rule in ALL_RULES:
        if rule.control.guidance_item != item:
            continue
        available = set(rule.facts) | {"covered_by_valid_exception"}
        selected = ", ".join(
            f'CAST("{c}" AS DOUBLE) AS "{c}"' if c in available else f'NULL::DOUBLE AS "{c}"'
            for c in columns
        )
        parts.append(f"SELECT '{rule.control_id}' AS control_id, {selected} FROM {rule.table}")
    frame = con.execute(" UNION ALL ".join(parts)).df()
    for column in columns:
        frame[column] = frame[column].to_numpy(dtype="float64", na_value=np.nan)
    frame["control_id"] = frame["control_id"].astype("category")
    return frame


class SuiteResults:
    """GX results of every suite of a run, read by control."""

    def __init__(self) -> None:
        self.results: list[Any] = []
        self.summaries: dict[str, SuiteSummary] = {}

    def unexpected(self, control_id: str) -> tuple[dict[str, int], list[str]]:
        """Unexpected counts per `counts` tag, and any expectation that could not run."""
        found: dict[str, int] = {}
        problems: list[str] = []
        for result in self.results:
            meta = result.expectation_config.meta or {}
            if meta.get("control_id") != control_id:
                continue
            info = result.exception_info or {}
            if info.get("raised_exception") or "unexpected_count" not in result.result:
                message = info.get("exception_message") or "no unexpected_count in its result"
                problems.append(f"GX expectation '{meta.get('says')}' raised: {message}")
                continue
            found[meta["counts"]] = found.get(meta["counts"], 0) + int(
                result.result["unexpected_count"]
            )
        return found, problems


def run_suites(con: duckdb.DuckDBPyConnection, gx_dir: Path) -> SuiteResults:
    """Run one GX suite per guidance item on its facts; write each result as gx_dir/<G>.json."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX pins this module's logger at INFO; its notes about temporary docs folders are noise here.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    gx_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("rolecall_facts")
    out = SuiteResults()
    for item in GUIDANCE_ITEMS:
        batch_definition = source.add_dataframe_asset(item).add_batch_definition_whole_dataframe(
            item
        )
        suite = context.suites.add(gx.ExpectationSuite(name=item, expectations=expectations(item)))
        batch = batch_definition.get_batch(batch_parameters={"dataframe": facts_frame(con, item)})
        result = batch.validate(suite, result_format=RESULT_FORMAT)
        path = gx_dir / f"{item}.json"
        path.write_text(json.dumps(result.to_json_dict(), indent=2, sort_keys=True, default=str))
        raised = sum(1 for r in result.results if (r.exception_info or {}).get("raised_exception"))
        out.results.extend(result.results)
        out.summaries[item] = SuiteSummary(
            guidance_item=item, success=bool(result.success), expectations=len(result.results),
            unexpected_expectations=sum(1 for r in result.results if not r.success),
            raised=raised, result_path=path,
        )
    return out


"""Evaluate G1-G6 on a snapshot, and have Great Expectations check every verdict a second time.

`evaluate` computes the facts that need Python (each guidance module's FACT_LOADERS, e.g. trust
policies and SCPs), then runs every control's rule (checks/catalogue.py gathers them from the
guidance modules checks/g1_*.py .. g6_*.py) through the shared mechanism (checks/results.py)
into `control_results`. Then, per guidance item, one GX suite re-expresses each control's rule
on the facts the rules recorded (ages in days, flags), on a long "facts" dataframe with a
`control_id` column; each expectation (written in the control's home, checks/expectation.py)
carries its control id in `meta` and says which count it must reproduce: `fail` (after
exceptions) or `fail+excepted` (the rule before exceptions). Expectations of one control and
count flag disjoint rows, so their unexpected counts add up. A disagreement, or an expectation
that raised, turns that control's rows into `error`, saying why; nothing is trusted that GX
could not confirm.

Known GX limits that shaped this (GX 1.24): GX on DuckDB through SQLAlchemy fails with
MetricResolutionError, so the facts go through pandas; UnexpectedRowsExpectation does not run
on pandas; GX hashes every batch and runs a pandas query per metric, so the facts are numeric
(flags are 1.0 true, 0.0 false, NaN unknown; `control_id` is categorical), which keeps 500,000
principals to seconds. Unknown (NaN) facts are "missing" to GX, like `error` rows to the rules.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from checks.catalogue import CHECKS, FACT_LOADERS, GUIDANCE, IMPLEMENTED
from checks.completeness import CompletenessSummary, check_completeness
from checks.control import Rule
from checks.counts import Counts, counts_by_control
from checks.exceptions import Register, valid_exception_rows
from checks.expectation import Expect
from checks.register_facts import judge_register
from checks.results import (
    apply_rule,
    mark_error,
    notes,
    prepare,
    run_date,
    write_results,
)
from checks.settings import Settings

ALL_RULES: tuple[Rule, ...] = tuple(c.rule for c in CHECKS)  # in catalogue order
GUIDANCE_ITEMS: tuple[str, ...] = tuple(g.id for g in GUIDANCE)
RESULT_FORMAT = "BASIC"


@dataclass(frozen=True)
class ControlSummary:
    control_id: str
    guidance_item: str
    counts: Counts  # after the cross-check
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
    settings: Settings = field(default_factory=Settings)

    @property
    def not_run(self) -> tuple[str, ...]:
        """Controls of the catalogue the settings left out."""
        return tuple(r.control_id for r in ALL_RULES if r.control_id not in self.controls)

    @property
    def cross_checked(self) -> bool:
        """Every control's verdicts were confirmed by GX."""
        return not self.errors


def evaluate(
    con: duckdb.DuckDBPyConnection, register: Register | None, gx_dir: Path,
    settings: Settings | None = None,
) -> ValidationSummary:
    """Write `exceptions` and `control_results` for G1-G6 into `con`, GX results into gx_dir
    (one <G>.json per guidance item, and completeness.json for the completeness suite).

    `settings` holds the thresholds and which controls run; a control left out by it has no
    rows, no expectation and no summary (the report lists it as not run).
    """
    settings = settings or Settings()
    rules = selected_rules(settings)
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
    prepare(con, now, valid_exception_rows(register, as_of), settings)
    judge_register(con, register, as_of)
    for load in FACT_LOADERS:
        load(con)
    lap("facts")
    # Written in parallel, without keeping row order: every reader of control_results sorts what
    # it shows, and 1.5 M results of a 1,000-account run are written in half the time.
    (keep_order,) = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    con.execute("SET preserve_insertion_order = false")
    try:
        for rule in rules:
            apply_rule(con, rule)
            write_results(con, rule)
    finally:
        con.execute(f"SET preserve_insertion_order = {bool(keep_order)}")
    lap("rules")

    summary = ValidationSummary(run_date=as_of, settings=settings)
    counts = counts_by_control(con, [r.control_id for r in rules])
    suites = run_suites(con, gx_dir, settings)
    lap("gx")

    for rule in rules:
        control_id = rule.control_id
        got = counts[control_id]
        expected = {"fail": got.failed, "fail+excepted": got.failed + got.excepted}
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
        summary.controls[control_id] = ControlSummary(
            control_id=control_id, guidance_item=rule.control.guidance_item,
            counts=counts_by_control(con, [control_id])[control_id] if problems else got,
            gx_unexpected=found, cross_check=verdict,
            notes=notes(con, rule),
        )
    summary.suites = suites.summaries
    lap("cross_check")
    summary.completeness = check_completeness(con, gx_dir)
    lap("completeness")
    summary.seconds = seconds
    return summary


def selected_rules(settings: Settings) -> tuple[Rule, ...]:
    """The rules the settings select, in catalogue order."""
    return tuple(r for r in ALL_RULES if settings.selects(r.control_id, r.control.guidance_item))


def run_started_at(con: duckdb.DuckDBPyConnection) -> datetime:
    """'Now' for every age rule: run.started_at, never the wall clock."""
    rows = con.execute("SELECT started_at FROM run").fetchall()
    if len(rows) != 1 or rows[0][0] is None:
        raise ValueError(f"snapshot must hold exactly one run with started_at, found {len(rows)}")
    started: datetime = rows[0][0]
    return started if started.tzinfo else started.replace(tzinfo=UTC)


# --- The GX side --------------------------------------------------------------------------------

def fact_columns(item: str) -> tuple[str, ...]:
    """Fact columns of one guidance item's dataframe: every column its controls' expectations
    read (besides control_id), in catalogue order."""
    return tuple(dict.fromkeys(f for c in CHECKS if c.control.guidance_item == item
                               for f in c.gx_facts))


def expectations(item: str, settings: Settings | None = None) -> list[Any]:
    """The suite of one guidance item: each selected control's rule restated on its facts."""
    settings = settings or Settings()
    return [e for c in CHECKS if c.control.guidance_item == item
            and settings.selects(c.control.id, item)
            for e in c.expect(Expect(c.control.id, settings))]


def facts_frame(con: duckdb.DuckDBPyConnection, item: str,
                settings: Settings | None = None) -> pd.DataFrame:
    """The long facts dataframe of one guidance item: `control_id` plus numeric facts."""
    columns = fact_columns(item)
    parts = []
    for rule in selected_rules(settings or Settings()):
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


def run_suites(con: duckdb.DuckDBPyConnection, gx_dir: Path,
               settings: Settings | None = None) -> SuiteResults:
    """Run one GX suite per guidance item on its facts; write each result as gx_dir/<G>.json.

    A guidance item none of whose controls the settings select has no suite."""
    settings = settings or Settings()
    from checks.gx_import import ProgressBarsConfig, gx

    # GX pins this module's logger at INFO; its notes about temporary docs folders are noise here.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    gx_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("rolecall_facts")
    out = SuiteResults()
    for item in GUIDANCE_ITEMS:
        suite_expectations = expectations(item, settings)
        if not suite_expectations:
            continue
        batch_definition = source.add_dataframe_asset(item).add_batch_definition_whole_dataframe(
            item
        )
        suite = context.suites.add(gx.ExpectationSuite(name=item, expectations=suite_expectations))
        batch = batch_definition.get_batch(
            batch_parameters={"dataframe": facts_frame(con, item, settings)})
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


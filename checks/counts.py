"""The one tally of control_results rows: validation, the report and the CLI summary all count
with it, so a control's numbers cannot differ between the three."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import duckdb

from checks.control import SEVERITIES


@dataclass(frozen=True)
class Counts:
    """Rows by status, and failures by severity; `population` is every row, whatever its status."""

    passed: int = 0
    failed: int = 0
    excepted: int = 0
    error: int = 0
    failed_by_severity: tuple[tuple[str, int], ...] = ()  # most severe first, no zero counts

    @classmethod
    def of(cls, rows: Iterable[tuple[str, str | None, int]]) -> Counts:
        """From (status, severity, rows) triples. A status outside the four counts as an error:
        the control could not vouch for that member."""
        by_status: dict[str, int] = defaultdict(int)
        by_severity: dict[str, int] = defaultdict(int)
        for status, severity, n in rows:
            key = status if status in ("pass", "fail", "excepted") else "error"
            by_status[key] += n
            if key == "fail":
                by_severity[severity or "unknown"] += n
        return cls(by_status["pass"], by_status["fail"], by_status["excepted"], by_status["error"],
                   _ordered(by_severity))

    @property
    def population(self) -> int:
        return self.passed + self.failed + self.excepted + self.error

    def __add__(self, other: Counts) -> Counts:
        by_severity: dict[str, int] = defaultdict(int)
        for severity, n in (*self.failed_by_severity, *other.failed_by_severity):
            by_severity[severity] += n
        return Counts(self.passed + other.passed, self.failed + other.failed,
                      self.excepted + other.excepted, self.error + other.error, _ordered(by_severity))


def total(counts: Iterable[Counts]) -> Counts:
    return sum(counts, Counts())


def _ordered(by_severity: dict[str, int]) -> tuple[tuple[str, int], ...]:
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return tuple(sorted(((s, n) for s, n in by_severity.items() if n),
                        key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def counts_by_control(con: duckdb.DuckDBPyConnection,
                      control_ids: Sequence[str] | None = None) -> dict[str, Counts]:
    """Counts of every control with rows in control_results (or of `control_ids`, each present)."""
    where = "WHERE list_contains($ids, control_id)" if control_ids is not None else ""
    rows: dict[str, list[tuple[str, str | None, int]]] = defaultdict(list)
    for control_id, status, severity, n in con.execute(
        f"SELECT control_id, status, severity, count(*) FROM control_results {where} GROUP BY ALL",
        {"ids": list(control_ids)} if control_ids is not None else {},
    ).fetchall():
        rows[control_id].append((status, severity, n))
    wanted = control_ids if control_ids is not None else sorted(rows)
    return {c: Counts.of(rows.get(c, ())) for c in wanted}


@dataclass(frozen=True)
class Verdict:
    """What a run says as a whole, and the exit code `rolecall audit` gives for it."""

    exit_code: int  # 0 compliant, 1 non-compliant, 3 incomplete (2 is for runs never made)
    word: str


def verdict(counts: Mapping[str, Counts], *, complete: bool,
            fail_on: str | None = None) -> Verdict:
    """Incomplete outranks everything (a CI gate must never read a run that could not see
    everything as a pass or a fail); then a fail or an error makes the run non-compliant.

    `fail_on` (a severity) is a CI gate: only fails at or above it make the exit code 1; fails
    below it leave 0, and the word says so. Errors still give 1: an unproven control is not a
    pass at any gate. A fail of unknown severity counts as failing every gate.
    """
    if not complete:
        return Verdict(3, "incomplete")
    if any(c.error for c in counts.values()) or any(
            fails_at_or_above(c, fail_on) for c in counts.values()):
        return Verdict(1, "non-compliant")
    if any(c.failed for c in counts.values()):
        return Verdict(0, f"non-compliant below --fail-on {fail_on}")
    return Verdict(0, "compliant")


def fails_at_or_above(counts: Counts, severity: str | None) -> int:
    """Failures at `severity` or more severe (every failure when None)."""
    if severity is None:
        return counts.failed
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    gate = rank[severity]
    return sum(n for s, n in counts.failed_by_severity if rank.get(s, -1) <= gate)

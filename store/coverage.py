"""What a run could see: accounts collected and sources that failed, read from its snapshot.

One definition serves the exit code, the summary, the report's first lines and the choice of a
baseline, so "incomplete" means the same thing everywhere: some account was not collected, or
some source of some account failed. Access Analyzer finding details (GetFindingV2, the source
`access_analyzer_details`) are evidence beside a verdict, never the basis of one (no rule reads
them), so their failures are recorded and shown but do not make the run incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

# GetFindingV2: evidence beside external-access findings, read by no rule
DETAILS_SOURCE = "access_analyzer_details"
# sts:GetCallerIdentity: who collected, for the report's scope section; no rule reads it
CALLER_SOURCE = "caller_identity"
EVIDENCE_ONLY_SOURCES = (DETAILS_SOURCE, CALLER_SOURCE)


@dataclass(frozen=True)
class SourceGap:
    """One source that failed in some accounts, with the first reason recorded."""

    source: str
    accounts: int
    first_reason: str


@dataclass(frozen=True)
class Coverage:
    organization_id: str | None
    accounts: int
    accounts_collected: int
    source_gaps: tuple[SourceGap, ...]

    @property
    def complete(self) -> bool:
        return self.accounts > 0 and self.accounts_collected == self.accounts and not self.source_gaps

    @property
    def accounts_not_collected(self) -> int:
        return self.accounts - self.accounts_collected

    def headline(self) -> str:
        """One sentence for the top of the summary and the report; empty when complete."""
        if self.complete:
            return ""
        parts = []
        if self.accounts_not_collected:
            parts.append(f"{self.accounts_not_collected} of {self.accounts} accounts not collected")
        if self.source_gaps:
            parts.append("sources that failed: " + ", ".join(
                f"{g.source} in {g.accounts} account{'s' if g.accounts != 1 else ''}"
                for g in self.source_gaps))
        return ("INCOMPLETE RUN: " + "; ".join(parts) + ". Results cover only what was collected; "
                "what could not be seen is not compared with earlier runs.")


def coverage(con: duckdb.DuckDBPyConnection, db: str = "") -> Coverage:
    """The coverage of the snapshot `con` (or of the attached database `db`, given as 'alias.')."""
    accounts, collected = con.execute(
        f"SELECT count(*), count(*) FILTER (collected) FROM {db}accounts").fetchone() or (0, 0)
    org = con.execute(f"SELECT any_value(organization_id) FROM {db}run").fetchone()
    gaps = con.execute(
        f"""
        SELECT source, count(DISTINCT account_id),
               arg_min(format('{{}}: {{}} {{}}: {{}}', account_id, coalesce(operation, '?'),
                              coalesce(error_code, '?'), coalesce(message, '')), occurred_at)
        FROM {db}collection_errors
        WHERE NOT list_contains($evidence_only, coalesce(source, ''))
        GROUP BY source ORDER BY source
        """,
        {"evidence_only": list(EVIDENCE_ONLY_SOURCES)},
    ).fetchall()
    return Coverage(org[0] if org else None, accounts, collected,
                    tuple(SourceGap(s, n, why) for s, n, why in gaps))


def coverage_of(snapshot_path: str) -> Coverage:
    """Coverage of a snapshot file, opened read-only (an earlier run is evidence)."""
    with duckdb.connect(snapshot_path, read_only=True) as con:
        return coverage(con)

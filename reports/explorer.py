"""The rows of report.html's findings explorer: control_results as embedded, columnar JSON.

The explorer (templates/explorer.js) searches, sorts and filters these rows in the browser. They
travel inside the one HTML file as `<script type="application/json">` blocks: one block of
metadata (the dictionaries, the controls, the accounts, what was left out) and one block per batch
of rows. Repeated strings (control, account, status, severity, resource type, exception id) are
dictionary-encoded as integers; so is the reason, whose dictionary is itself streamed in blocks
(a run of 880,000 failures had 877 distinct reasons; in the worst case, every reason distinct,
the codes add a few bytes a row). The resource stays a string, without its
`arn:aws:iam::<account>:` prefix when it has one. DuckDB orders and encodes the rows and the writer
fetches them a batch at a time, so a run of millions of rows is never held in Python memory.

Every value comes from AWS or from the register and may be hostile: the JSON encoder escapes quotes and
backslashes, and every `<` becomes \\u003c, so no value can close the script element or open a
comment; the script shows values with textContent only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import orjson

from checks.catalogue import CHECKS, CONTROLS_BY_ID, GUIDANCE, SEVERITIES
from checks.control import Check
from reports.view import ReportView

# Size policy. Every row that is not a pass (fail, excepted, error) is always embedded: those are
# what a reader explores. Pass rows are embedded too while the whole population fits in
# ROW_BUDGET rows (40-50 bytes of HTML a row, so about 12 MB, which Chromium loads in a couple of
# seconds); above it no pass row is embedded, the explorer counts them and says that they are
# listed in evidence/controls/<control id>.csv. A 1,000-account organization (1.55 M results,
# 882,000 failures) therefore embeds its failures only: 37 MB.
ROW_BUDGET = 250_000
# Rows per JSON block: big enough that the per-block overhead vanishes, small enough that the
# writer holds one block at a time and the browser parses them one by one.
BATCH_ROWS = 20_000
VECTOR_ROWS = 2_048  # DuckDB's vector size: DataFrame chunks are counted in vectors
CREDENTIAL_REPORTS = "evidence/credential_reports"
# Statuses in the order the explorer lists (and first sorts) them: what needs work first.
STATUS_ORDER = ("fail", "error", "excepted", "pass")
# Dictionary-encoded columns: key in the JSON -> column of control_results.
ENCODED = {"control": "control_id", "account": "account_id", "status": "status",
           "severity": "severity", "type": "resource_type", "exception": "exception_id"}


@dataclass(frozen=True)
class Dictionaries:
    """The distinct values of each encoded column, in the order the explorer lists them."""

    values: dict[str, list[str | None]]

    def sql_ctes(self) -> str:
        """One CTE per column mapping a value to its code (NULL is a value like any other)."""
        return ", ".join(
            f"d_{key} AS (SELECT unnest(${key}) AS value, unnest(range(len(${key}))) AS code)"
            for key in ENCODED)


def reads_credential_report(check: Check) -> bool:
    """Whether a control's verdicts come from the credential report: it names the source, or its
    query reads the table itself (the root-keys control falls back on the account summary, so
    it does not block on the source, but its root facts are the report's)."""
    return ("credential_report" in check.rule.sources
            or re.search(r"\bcredential_report\b", check.rule.query) is not None)


CREDENTIAL_REPORT_CONTROLS = frozenset(c.control.id for c in CHECKS if reads_credential_report(c))


def script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no `<` at all (so neither `</script` nor
    `<!--`), and no raw U+2028/U+2029 in case a reader evaluates it as script."""
    text = orjson.dumps(value).decode()  # compact UTF-8, as json.dumps(ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _ranked(values: Iterable[str | None], order: Sequence[str]) -> list[str | None]:
    """Known values in the catalogue's order, then the unknown ones sorted, None last."""
    present = set(values)
    known = [v for v in order if v in present]
    rest = sorted(v for v in present if v is not None and v not in order)
    return known + rest + ([None] if None in present else [])


def dictionaries(con: duckdb.DuckDBPyConnection) -> Dictionaries:
    """Each encoded column's distinct values (a few thousand at most: accounts)."""
    orders: dict[str, Sequence[str]] = {"control": list(CONTROLS_BY_ID), "status": STATUS_ORDER,
                                        "severity": SEVERITIES}
    values = {}
    for key, column in ENCODED.items():
        distinct = [v for (v,) in con.execute(
            f'SELECT DISTINCT "{column}" FROM control_results').fetchall()]
        values[key] = _ranked(distinct, orders.get(key, ()))
    return Dictionaries(values)


def _listed_filter(pass_listed: bool) -> str:
    return "true" if pass_listed else "status IS DISTINCT FROM 'pass'"


def _reasons_cte(pass_listed: bool) -> str:
    """Each distinct reason of the listed rows and its code, in byte order (so sorting by the
    code sorts by the text, and two queries number them alike)."""
    return (
        "d_reason AS (SELECT value, row_number() OVER (ORDER BY value) - 1 AS code FROM ("
        "SELECT DISTINCT coalesce(reason, '') AS value FROM control_results "
        f"WHERE {_listed_filter(pass_listed)}))"
    )


def _block(kind: str, value: Any) -> str:
    return f'<script type="application/json" class="{kind}">{script_json(value)}</script>\n'


@dataclass(frozen=True)
class FindingsExplorer:
    """The explorer's data for one snapshot: `meta_json` for the template, `blocks()` for the
    reasons and the rows (streamed from DuckDB when the HTML is written)."""

    con: duckdb.DuckDBPyConnection
    dictionaries: Dictionaries
    meta: dict[str, Any]
    pass_listed: bool
    batch_rows: int = BATCH_ROWS

    @property
    def meta_json(self) -> str:
        return script_json(self.meta)

    def blocks(self) -> Iterator[str]:
        """<script type="application/json"> elements, one per batch: the reasons first
        (class explorer-reasons, in code order), then the rows (class explorer-rows)."""
        for reasons in self.reasons():
            yield _block("explorer-reasons", reasons)
        for batch in self.batches():
            yield _block("explorer-rows", batch)

    def reasons(self) -> Iterator[list[str]]:
        """The reason dictionary, a batch at a time. Reasons repeat (the same finding in many
        accounts, the same key age), so each is written once and rows carry its code."""
        cursor = self.con.execute(
            f"WITH {_reasons_cte(self.pass_listed)} SELECT value FROM d_reason ORDER BY code")
        while rows := cursor.fetchmany(self.batch_rows):
            yield [value for (value,) in rows]

    def batches(self) -> Iterator[dict[str, list[Any]]]:
        """The listed rows, a batch at a time, as columns: codes for the encoded columns and the
        reason, `arn` 1 when `resource` had its account's ARN prefix removed, and the resource.

        Every value is in its dictionary (both come from this table), so the joins keep every
        row; the rows come as DataFrame chunks, three times faster than tuples from fetchmany.
        """
        joins = " ".join(
            f'JOIN d_{key} ON r."{column}" IS NOT DISTINCT FROM d_{key}.value'
            for key, column in ENCODED.items())
        codes = ", ".join(f'd_{key}.code AS "{key}"' for key in ENCODED)
        prefix = "'arn:aws:iam::' || r.account_id || ':'"  # an IAM ARN of the row's own account
        cursor = self.con.execute(
            f"""
            WITH {self.dictionaries.sql_ctes()}, {_reasons_cte(self.pass_listed)}
            SELECT {codes}, d_reason.code AS reason,
                   CASE WHEN starts_with(r.resource_id, {prefix}) THEN 1 ELSE 0 END AS arn,
                   CASE WHEN starts_with(r.resource_id, {prefix})
                        THEN r.resource_id[length({prefix}) + 1:]
                        ELSE coalesce(r.resource_id, '') END AS resource
            FROM control_results r {joins}
            JOIN d_reason ON coalesce(r.reason, '') = d_reason.value
            WHERE {_listed_filter(self.pass_listed)}
            ORDER BY d_control.code, d_status.code, d_severity.code, r.account_id, r.resource_id
            """,
            self.dictionaries.values,
        )
        vectors = max(1, self.batch_rows // VECTOR_ROWS)
        while len(chunk := cursor.fetch_df_chunk(vectors)):
            yield {str(name): chunk[name].tolist() for name in chunk.columns}


def findings_explorer(con: duckdb.DuckDBPyConnection, view: ReportView, *,
                      row_budget: int | None = None,
                      batch_rows: int = BATCH_ROWS,
                      evidence_base: str = "") -> FindingsExplorer:
    """The explorer of the snapshot behind `con`, as `view` (the rest of the report) describes
    the run: the evidence files it lists decide which credential reports are linked.

    evidence_base: where the run folder is, seen from the report ("" beside it; a report made
    again by `rolecall report` lives in a sibling folder and links back into the run's)."""
    budget = ROW_BUDGET if row_budget is None else row_budget
    found = dictionaries(con)
    (total, passed) = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'pass') FROM control_results"
    ).fetchone() or (0, 0)
    pass_listed = total <= budget
    items = dict(con.execute(
        "SELECT control_id, any_value(guidance_item) FROM control_results GROUP BY ALL").fetchall())
    accounts = {a.account_id: a for a in view.accounts}
    reports = sorted(
        f.path.removeprefix(f"{CREDENTIAL_REPORTS}/").removesuffix(".csv")
        for f in view.evidence_files
        if f.path.startswith(f"{CREDENTIAL_REPORTS}/") and f.path.endswith(".csv"))
    controls = []
    for control_id in found.values["control"]:
        catalogue = CONTROLS_BY_ID.get(control_id or "")
        controls.append({
            "id": control_id,
            "item": items.get(control_id) or (catalogue.guidance_item if catalogue else None),
            "title": catalogue.title if catalogue else "(not in this version's catalogue)",
            "credential_report": control_id in CREDENTIAL_REPORT_CONTROLS,
        })
    meta = {
        "version": 1,
        "rows": total,
        "listed": total if pass_listed else total - passed,
        "pass_rows": passed,
        "pass_listed": pass_listed,
        "row_budget": budget,
        "dictionaries": found.values,
        "controls": controls,
        "items": [{"id": g.id, "title": g.title} for g in GUIDANCE],
        "accounts": [
            {"name": a.name, "ou": a.ou_path} if (a := accounts.get(account_id or "")) else
            {"name": None, "ou": None}
            for account_id in found.values["account"]],
        "credential_reports": reports,
        "evidence_base": evidence_base,
    }
    return FindingsExplorer(con, found, meta, pass_listed, batch_rows)

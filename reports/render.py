"""The audit report: HTML from Jinja2 and a PDF from the same template with WeasyPrint.

Rendering only: what the report says is reports/view.py's ReportView, built in one place;
`render_html` turns it into a document, `write_pdf` lays that out, and `render_report` does
both for one run folder. Failure tables are capped here, per medium: WeasyPrint's time grows with
table rows, and every cap says how many rows it left out and where the complete list is.
report.html also carries the findings explorer (reports/explorer.py): `write_html` streams its
rows from DuckDB into the file, so the HTML of millions of results is never held in memory.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import duckdb
import jinja2
from markupsafe import Markup

from checks import completeness as completeness_checks
from checks.catalogue import SEVERITIES, STATUSES
from checks.completeness import CompletenessSummary
from reports.burndown import REAPPEARANCE_USERS
from reports.chart import burndown_svg, trend_svg
from reports.explorer import FindingsExplorer, findings_explorer
from reports.garbage_collection import fewer_collections
from reports.management_response import ManagementResponses
from reports.migration import of_run
from reports.pdf_attachment import DeflatedFile, attach, deflate_file
from reports.view import (
    HTML_ROW_CAP,
    SEVERITY_RANK_SQL,
    WRITTEN_AFTER_RENDER,
    ReportView,
    SignerLike,
    build_view,
)
from reports.weasyprint_import import weasyprint
from store import snapshot as snapshot_db

TEMPLATES = Path(__file__).parent / "templates"
TITLE = "Do not use IAM Users \u2014 compliance audit"

# Rows of one control's failure and error tables. The PDF shows each control's most severe
# failures as an excerpt and says where the complete list is: evidence/controls/<id>.csv, and
# findings.csv attached inside the PDF itself. WeasyPrint lays out ~8 ms per such row and
# ~100 ms per page whatever is on it: at 50 rows a control, one account of 500 users + 500 roles
# made a 54-page PDF that took half of the run (6.4 s); at 10 it is 36 pages and 4 s. The HTML
# shows more because a browser copes, and its explorer lists every result.
PDF_ROW_CAP = 10
PDF_ERROR_ROW_CAP = 10
# Above this many accounts the PDF lists collected accounts per OU (every uncollected account is
# still listed); WeasyPrint spends ~10 ms a table row, and report.html has every account.
PDF_ACCOUNT_LIST_CAP = 200
# Rows of one control's new and resolved lists, and of one completeness check's failures.
PDF_CHANGE_CAP = 20
PDF_COMPLETENESS_CAP = 50
# Users listed in the Migration plan chapter (riskiest and oldest first); `rolecall plan RUN`
# writes every one, and the chapter says so when it cuts.
PDF_MIGRATION_CAP = 20
FINDINGS_CSV = "findings.csv"
PDF_VARIANT = "pdf/a-3b"
# Tagged PDF (structure tree, /MarkInfo /Marked true): headings, tables, lists and reading order
# for screen readers and text extraction. PDF/A-3b does not require it (3a would, and also asks
# for things WeasyPrint does not promise); tagging is added to 3b. WeasyPrint takes the tags from
# the HTML: real <h1>..<h4>, <table> with <thead>/<th>, lang on <html>, and a <title>.
PDF_TAGS = True
# Where the explorer's row blocks go in report.html: an HTML comment no escaped value can contain
# (autoescape turns every `<` of data into &lt;, and explorer JSON has no `<` at all).
ROWS_MARKER = "<!-- rolecall: findings explorer rows -->"


@functools.cache  # compiled once per process: report.html and report.pdf share the templates
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["utc"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S UTC") if d else "\u2014"
    return env


def render_html(view: ReportView, *, medium: Literal["html", "pdf"] = "html",
                explorer: FindingsExplorer | None = None) -> str:
    """The report as one self-contained HTML document (CSS inlined, no external resources).

    `medium` picks the row caps of the failure and error tables (HTML_ROW_CAP, or PDF_ROW_CAP and
    PDF_ERROR_ROW_CAP) and the wording that tells the reader which document they hold.
    `explorer` (HTML only) adds the findings explorer with its rows; `write_html` streams the
    same document to a file instead of building it in memory.
    """
    return "".join(html_chunks(view, medium=medium, explorer=explorer))


def html_chunks(view: ReportView, *, medium: Literal["html", "pdf"] = "html",
                explorer: FindingsExplorer | None = None) -> Iterator[str]:
    """The document in pieces: the template's text, and the explorer's row blocks in place of
    ROWS_MARKER, one batch of rows at a time."""
    pdf = medium == "pdf"
    if pdf:
        explorer = None  # the PDF is the static report; the explorer needs a browser
    row_cap, error_row_cap = (PDF_ROW_CAP, PDF_ERROR_ROW_CAP) if pdf else (HTML_ROW_CAP, HTML_ROW_CAP)
    template = _environment().get_template("report.html.j2")
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    document = template.render(
        data=view,
        title=TITLE,
        css=Markup(css),
        chart=Markup(trend_svg(list(view.trend))),
        burndown_chart=Markup(burndown_svg(view.burndown.months)) if view.burndown else None,
        migration_cap=PDF_MIGRATION_CAP if pdf else HTML_ROW_CAP,
        report_plan_users=of_run.REPORT_PLAN_USERS,
        reappearance_users=REAPPEARANCE_USERS,
        row_cap=min(row_cap, view.row_limit),
        error_row_cap=min(error_row_cap, view.row_limit),
        change_cap=PDF_CHANGE_CAP if pdf else HTML_ROW_CAP,
        completeness_cap=PDF_COMPLETENESS_CAP if pdf else HTML_ROW_CAP,
        medium=medium,
        account_list_cap=PDF_ACCOUNT_LIST_CAP if pdf else None,
        scope_cap=PDF_ACCOUNT_LIST_CAP if pdf else HTML_ROW_CAP,
        severities=SEVERITIES,
        statuses=STATUSES,
        findings_csv=FINDINGS_CSV,
        written_after=WRITTEN_AFTER_RENDER,
        gx_completeness=f"evidence/gx/{completeness_checks.RESULT_FILE}",
        **_explorer_context(explorer),
    )
    head, marker, tail = document.partition(ROWS_MARKER)
    yield head
    if marker and explorer is not None:
        yield from explorer.blocks()
    yield tail


def _explorer_context(explorer: FindingsExplorer | None) -> dict[str, Markup | bool | None]:
    """The explorer's template values: its metadata (already script-safe JSON), script and
    style, or None everywhere so the template leaves it out."""
    if explorer is None:
        return {"explorer": None, "explorer_js": None, "explorer_css": None, "rows_marker": None,
                "explorer_passes": False}
    return {
        "explorer": Markup(explorer.meta_json),
        "explorer_js": Markup((TEMPLATES / "explorer.js").read_text(encoding="utf-8")),
        "explorer_css": Markup((TEMPLATES / "explorer.css").read_text(encoding="utf-8")),
        "rows_marker": Markup(ROWS_MARKER),
        "explorer_passes": explorer.pass_listed,
    }


def write_html(con: duckdb.DuckDBPyConnection, view: ReportView, path: Path, *,
               evidence_base: str = "") -> Path:
    """Write report.html with the findings explorer of the snapshot behind `con`, streamed: the
    rows go from DuckDB to the file a batch at a time. evidence_base: the run folder as seen from
    `path` ("" when the report is in it)."""
    explorer = findings_explorer(con, view, evidence_base=evidence_base)
    with path.open("w", encoding="utf-8") as out:
        for chunk in html_chunks(view, medium="html", explorer=explorer):
            out.write(chunk)
    return path


def findings_attachment(con: duckdb.DuckDBPyConnection) -> DeflatedFile:
    """Every fail row of control_results, every column but evidence, as CSV (UTF-8, header),
    deflated for the PDF.

    DuckDB writes the CSV (COPY to a temporary file outside the run folder: 900,000 failures take
    under a second that way, against five with Python's csv module), then it is deflated a chunk
    at a time: a 10,000-account run's 1.9 GB of CSV is never held in memory.
    """
    with tempfile.TemporaryDirectory(prefix="rolecall-findings-") as folder:
        target = Path(folder) / FINDINGS_CSV
        con.execute(
            "COPY (SELECT * EXCLUDE (evidence) FROM control_results WHERE status = 'fail' "
            f"ORDER BY control_id, {SEVERITY_RANK_SQL}, account_id, resource_id) "
            f"TO '{target}' (HEADER, DELIMITER ',')"
        )
        return deflate_file(
            target, name=FINDINGS_CSV, relationship="Data",
            description="Every failing result of this run (control_results, status = fail; "
                        "all columns but evidence)",
        )


class _SvgStyleNoise(logging.Filter):
    """WeasyPrint's HTML CSS parser warns about the SVG presentation properties in the chart's
    style attributes (fill, stroke...), then its SVG renderer applies them: the warnings are noise.
    So is its note that fonts are subset with fontTools where the system lacks HarfBuzz-Subset
    (Debian ships it apart): the PDF is the same, only its making is slower."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Using fontTools instead of HarfBuzz-Subset"):
            return False
        return not (message.startswith(("Ignored `fill", "Ignored `stroke"))
                    and "unknown property" in message)


def write_pdf(html: str, path: Path, *, findings: DeflatedFile | None = None) -> Path:
    """Lay out the HTML as an A4 PDF/A-3b, tagged, with the findings CSV attached when given.

    Fetching any URL is refused: the PDF is evidence and must depend on nothing but the snapshot.
    """
    fetcher = weasyprint.URLFetcher(allowed_protocols=())
    noise = _SvgStyleNoise()
    logger = logging.getLogger("weasyprint")
    logger.addFilter(noise)
    try:
        with fewer_collections():
            weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(
                path, pdf_variant=PDF_VARIANT, pdf_tags=PDF_TAGS,
                finisher=attach([findings] if findings is not None else []))
    finally:
        logger.removeFilter(noise)
    return path


def _findings_on_own_cursor(con: duckdb.DuckDBPyConnection) -> DeflatedFile:
    with con.cursor() as cursor:
        return findings_attachment(cursor)


def _checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Write the snapshot's WAL into the file, so the hash in the evidence index is final."""
    with contextlib.suppress(duckdb.Error):  # a read-only connection has nothing to write
        con.execute("CHECKPOINT")


def render_report(
    snapshot: Path | duckdb.DuckDBPyConnection,
    run_dir: Path,
    *,
    baseline: Path | None = None,
    history_runs: Sequence[Path] | None = None,
    signing: SignerLike | None = None,
    completeness: CompletenessSummary | None = None,
    responses: ManagementResponses | None = None,
) -> tuple[Path, Path]:
    """Write run_dir/report.html and run_dir/report.pdf from a snapshot file or connection;
    the keywords are build_view's (responses: reports/management_response.py load_responses)."""
    if isinstance(snapshot, duckdb.DuckDBPyConnection):
        _checkpoint(snapshot)
        return _render(snapshot, run_dir, baseline, history_runs, signing, completeness,
                       responses)
    con = snapshot_db.connect(snapshot, read_only=True)
    try:
        return _render(con, run_dir, baseline, history_runs, signing, completeness, responses)
    finally:
        con.close()


def _render(
    con: duckdb.DuckDBPyConnection,
    run_dir: Path,
    baseline: Path | None,
    history_runs: Sequence[Path] | None,
    signing: SignerLike | None,
    completeness: CompletenessSummary | None,
    responses: ManagementResponses | None = None,
) -> tuple[Path, Path]:
    run_dir.mkdir(parents=True, exist_ok=True)
    return write_report(con, run_dir, lambda: build_view(
        con, run_dir=run_dir, baseline=baseline, history_runs=history_runs, signing=signing,
        completeness=completeness, responses=responses))


def write_report(con: duckdb.DuckDBPyConnection, folder: Path, make_view: Callable[[], ReportView],
                 *, evidence_base: str = "") -> tuple[Path, Path]:
    """Write folder/report.html and folder/report.pdf of the view `make_view` builds from `con`
    (evidence_base: as for write_html).

    DuckDB's COPY, zlib and MD5 release the interpreter lock: the findings CSV is written and
    deflated on the second core (its own cursor: one connection per thread) while this one
    builds the view and lays out the pages.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rolecall-findings") as pool:
        findings = pool.submit(_findings_on_own_cursor, con)
        view = make_view()
        html_path = write_html(con, view, folder / "report.html", evidence_base=evidence_base)
        pdf_path = write_pdf(render_html(view, medium="pdf"), folder / "report.pdf",
                             findings=findings.result())
    return html_path, pdf_path

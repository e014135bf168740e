"""plan.csv and plan.md of a migration plan, written as exports are: into a temporary folder
beside the destination and moved in only when both are complete, never into a run folder (its
manifest is signed)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import jinja2

from reports.migration.plan import Plan
from store.run_folder import enclosing_run_folder
from store.staged_folder import staged_folder

CSV_COLUMNS = ("account", "ou", "user", "classification", "evidence", "target_kind",
               "target_name", "reason", "dates", "risk")
FILES = ("plan.csv", "plan.md")


class PlanWriteError(RuntimeError):
    """The plan cannot be written where asked; nothing was written."""


def write_plan(plan: Plan, out_dir: Path) -> list[Path]:
    """Write plan.csv and plan.md into out_dir; both appear together, or neither does."""
    if (folder := enclosing_run_folder(out_dir / FILES[0])) is not None:
        raise PlanWriteError(f"{out_dir} is inside the run folder {folder}, which is signed "
                             "evidence: plans go elsewhere")
    with staged_folder(out_dir) as staging:
        (staging / "plan.csv").write_text(plan_csv(plan), encoding="utf-8")
        (staging / "plan.md").write_text(plan_markdown(plan), encoding="utf-8")
    return [out_dir / name for name in FILES]


def plan_csv(plan: Plan) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in plan.entries:
        writer.writerow((e.user.account_id, e.user.ou_path or "", e.user.user_name,
                         e.verdict.classification.value, e.verdict.evidence, e.target_kind.value,
                         e.target_name, e.reason, e.dates, e.risk))
    return out.getvalue()


def plan_markdown(plan: Plan) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=False,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    environment.filters["tojson_pretty"] = _pretty
    return environment.get_template("plan.md.j2").render(
        plan=plan, by_target=plan.by_target(), by_account=plan.by_account())


def _pretty(document: Any) -> str:
    return json.dumps(document, indent=2, default=str)

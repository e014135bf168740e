"""`rolecall report RUN`: a report rendered again from a finished run's snapshot, scoped to one
framework and/or with the management's responses, without collecting anything.

A finished run is never written to, so the new report is an artifact of its own: a folder
`<runs>/<run-id>.reports/<YYYYMMDDTHHMMSSZ>-<scope>/` with report.html, report.pdf and a signed
manifest.json whose configuration names the run it was made from and that run's manifest
SHA-256, so `rolecall verify` checks it like a run and an auditor can tie it to its source. The
source run is verified first: a report is never made from evidence that does not verify.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from checks.completeness import RESULT_FILE as COMPLETENESS_FILE
from checks.completeness import CompletenessSummary, summarize
from reports.keys import SigningIdentity
from reports.management_response import ManagementResponses
from reports.manifest import MANIFEST
from reports.render import write_report
from reports.sign import sign_run
from reports.verify import verify_run
from reports.view import build_view
from store import snapshot as snapshot_db
from store.run_folder import PARTIAL, REPORTS_SUFFIX, SNAPSHOT_FILE, run_id_for


class SourceRunError(ValueError):
    """The run to report on is not a finished run, or does not verify."""


def reports_folder(run_dir: Path) -> Path:
    """Where a run's later reports go: beside the run, never inside it."""
    return run_dir.parent / f"{run_dir.name}{REPORTS_SUFFIX}"


def render_derived_report(
    run_dir: Path, identity: SigningIdentity, *, tool_version: str,
    framework: str | None = None, responses: ManagementResponses | None = None,
    out_root: Path | None = None, ca_cert: Path | None = None, timestamper: object | None = None,
    now: datetime | None = None,
) -> Path:
    """Render, sign and finish the new report folder; returns its path."""
    run_dir = run_dir.resolve()
    if not (run_dir / SNAPSHOT_FILE).is_file() or not (run_dir / MANIFEST).is_file():
        raise SourceRunError(f"{run_dir}: not a finished run folder (no {SNAPSHOT_FILE} or "
                             f"{MANIFEST})")
    failed = [c for c in verify_run(run_dir, ca_cert) if not c.ok]
    if failed:
        raise SourceRunError(f"{run_dir} does not verify, so no report is made from it: "
                             f"{failed[0].name}: {failed[0].detail}")
    stamp = run_id_for((now or datetime.now(UTC)).astimezone(UTC))
    name = f"{stamp}-{framework or 'full'}" + ("-responses" if responses else "")
    root = out_root or reports_folder(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f"{name}{PARTIAL}"
    final = root / name
    if final.exists():
        raise SourceRunError(f"{final} exists already; try again in a second")
    partial.mkdir()
    try:
        con = snapshot_db.connect(run_dir / SNAPSHOT_FILE, read_only=True)
        try:
            # the explorer's evidence links lead back into the run folder, from where the
            # report will be once renamed
            back = Path(os.path.relpath(run_dir, final)).as_posix() + "/"
            write_report(con, partial, lambda: build_view(
                con, run_dir=run_dir, signing=identity, completeness=_completeness(run_dir),
                framework=framework, responses=responses), evidence_base=back)
            accounts = [a for (a,) in con.execute("SELECT account_id FROM accounts ORDER BY 1").fetchall()]
        finally:
            con.close()
        source_manifest = run_dir / MANIFEST
        configuration = {
            "derived_from": {
                "run_id": run_dir.name,
                "manifest_sha256": hashlib.sha256(source_manifest.read_bytes()).hexdigest(),
            },
            "framework": framework,
            "responses": responses.source if responses else None,
        }
        sign_run(partial, identity, run_id=name, tool_version=tool_version,
                 configuration=configuration, accounts=accounts,
                 reason=f"rolecall report of run {run_dir.name}"
                        + (f", framework {framework}" if framework else ""),
                 timestamper=timestamper)  # type: ignore[arg-type]
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # nothing half-made is left behind
        raise
    partial.rename(final)
    return final


def _completeness(run_dir: Path) -> CompletenessSummary | None:
    """What the run's completeness suite found, from the GX result the run signed."""
    path = run_dir / "evidence" / "gx" / COMPLETENESS_FILE
    if not path.is_file():
        return None
    return summarize(json.loads(path.read_text(encoding="utf-8")), path)

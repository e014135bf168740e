"""How long signing and verifying a run folder take, for a small run and a run with 10,000 failures.

Signing = PAdES signature on report.pdf + manifest (SHA-256 of every file) + CMS signature over it;
verifying = `verify_run` (CMS, every hash, missing/added files, PDF signature). Both are dominated
by hashing, so the figures scale with the run folder's bytes rather than with its number of files.

The large run is synthetic: a report.pdf of PAGES pages (WeasyPrint renders 10 pages once and pypdf
repeats them: rendering 300 pages would take minutes and is not what is measured here), a 10,000-row
failure CSV, a DuckDB snapshot holding the 10,000 results, one credential report per account and
a gzip of raw payloads. `--demo` also runs the real `rolecall audit --demo` once and times its folder.
Usage: .venv/bin/python bench/sign_verify.py [--demo] [FAILURES [PAGES [ACCOUNTS]]]
"""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pypdf
import weasyprint

from reports.keys import SigningIdentity, demo_signer
from reports.manifest import MANIFEST, build_manifest, write_manifest
from reports.sign import sign_manifest, sign_pdf
from reports.verify import all_passed, verify_run

ROW = "<tr><td>RC-{c}</td><td>arn:aws:iam::{a:012d}:user/user-{i:05d}</td><td>high</td><td>{r}</td></tr>"


def _timed(label: str, fn: Callable[[], Any], results: dict[str, float]) -> Any:
    start = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - start
    return value


def _pdf(path: Path, pages: int) -> None:
    rows = "".join(ROW.format(c=i % 9, a=i % 50, i=i, r="active access key older than 90 days")
                   for i in range(400))
    html = f"<html><body><h1>Findings</h1><table>{rows}</table></body></html>"
    seed = weasyprint.HTML(string=html).write_pdf()
    reader = pypdf.PdfReader(io.BytesIO(seed))
    writer = pypdf.PdfWriter()
    while len(writer.pages) < pages:
        for page in reader.pages:
            if len(writer.pages) < pages:
                writer.add_page(page)
    with path.open("wb") as f:
        writer.write(f)


def make_run(run_dir: Path, *, failures: int, pages: int, accounts: int) -> Path:
    """A synthetic unsigned run folder of the given size."""
    rng = random.Random(7)
    for sub in ("credential_reports", "controls", "gx"):
        (run_dir / "evidence" / sub).mkdir(parents=True, exist_ok=True)
    _pdf(run_dir / "report.pdf", pages)
    (run_dir / "report.html").write_text(
        "<html><body>" + "".join(ROW.format(c=i % 9, a=i % 50, i=i, r="x") for i in range(min(failures, 500)))
        + "</body></html>"
    )
    con = duckdb.connect(str(run_dir / "snapshot.duckdb"))
    con.execute(
        "CREATE TABLE control_results AS SELECT 'RC-' || (i % 9) AS control_id, "
        f"'arn:aws:iam::' || lpad((i % {max(accounts, 1)})::VARCHAR, 12, '0') || ':user/u' || i "
        "AS resource_id, 'fail' AS status, 'high' AS severity, repeat('reason ', 8) AS reason "
        f"FROM range({failures}) t(i)"
    )
    con.execute(f"COPY control_results TO '{run_dir / 'evidence' / 'controls' / 'RC-all.csv'}' (HEADER)")
    con.close()
    for a in range(accounts):
        lines = ["user,arn,password_enabled,access_key_1_active"]
        lines += [f"u{i},arn:aws:iam::{a:012d}:user/u{i},{rng.random() < 0.5},true"
                  for i in range(max(failures // max(accounts, 1), 1))]
        (run_dir / "evidence" / "credential_reports" / f"{a:012d}.csv").write_text("\n".join(lines))
    with gzip.open(run_dir / "evidence" / "raw_payloads.jsonl.gz", "wt") as f:
        for i in range(failures * 3):
            f.write(f'{{"account_id": "{i % 97:012d}", "operation": "GetUser", "page": {i}, '
                    f'"body": "{rng.getrandbits(128):032x}"}}\n')
    (run_dir / "evidence" / "gx" / "G1.json").write_text('{"success": false}')
    (run_dir / "evidence" / "run.json").write_text('{"run_id": "bench"}')
    return run_dir


def measure(run_dir: Path, identity: SigningIdentity, ca: Path) -> dict[str, float]:
    """Sign (unless the run is signed already, as a demo run from the wired-in flow is) and verify."""
    results: dict[str, float] = {}
    if (run_dir / MANIFEST).exists():  # signed with another key than the bench's: no --ca
        checks = _timed("verify", lambda: verify_run(run_dir), results)
        if not all_passed(checks):
            raise SystemExit("\n".join(c.line() for c in checks))
        return {"sign pdf": float("nan"), "manifest": float("nan"), "sign manifest": float("nan"),
                "sign total": float("nan"), **results}
    _timed("sign pdf", lambda: sign_pdf(run_dir / "report.pdf", identity, reason="bench"), results)
    manifest = _timed(
        "manifest",
        lambda: write_manifest(run_dir, build_manifest(run_dir, run_id=run_dir.name, tool_version="bench",
                                                       configuration={}, accounts=[], signer=identity)),
        results,
    )
    _timed("sign manifest", lambda: sign_manifest(manifest, identity), results)
    checks = _timed("verify", lambda: verify_run(run_dir, ca), results)
    if not all_passed(checks):
        raise SystemExit("\n".join(c.line() for c in checks))
    results["sign total"] = results["sign pdf"] + results["manifest"] + results["sign manifest"]
    return results


def demo_run(out: Path) -> Path | None:
    """The real demo's run folder, or None when the demo cannot run here."""
    cli = Path(sys.executable).with_name("rolecall")
    # the bench's own keys folder, not the user's per-user one
    env = {**os.environ, "ROLECALL_KEYS_DIR": str(out.parent / "keys")}
    done = subprocess.run([str(cli), "audit", "--demo", "--out", str(out)], capture_output=True,
                          text=True, check=False, env=env)
    found = out.iterdir() if out.exists() else iter(())
    runs = [p for p in found if p.is_dir() and not p.name.endswith(".partial")]
    if not runs:
        print(f"demo run failed (exit {done.returncode}): {done.stderr[-500:]}")
        return None
    run = runs[0]
    return run


def _size(run_dir: Path) -> str:
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    pages = len(pypdf.PdfReader(run_dir / "report.pdf").pages)
    return f"{len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.1f} MB, PDF {pages} pages"


def main(argv: list[str]) -> None:
    with_demo = "--demo" in argv
    args = [int(a) for a in argv if a != "--demo"]
    failures, pages, accounts = (args + [10_000, 300, 200][len(args):])[:3]
    with tempfile.TemporaryDirectory(prefix="rolecall-bench-") as tmp:
        root = Path(tmp)
        identity = demo_signer(root / "keys")
        ca = root / "keys" / "demo-signing-cert.pem"
        cases = {
            "small run": make_run(root / "small", failures=20, pages=3, accounts=2),
            f"{failures:,} failures": make_run(root / "large", failures=failures, pages=pages,
                                               accounts=accounts),
        }
        if with_demo:
            run = demo_run(root / "demo")
            if run is not None:
                cases["demo run"] = run
        print(f"{'case':<18} {'sign pdf':>9} {'manifest':>9} {'sign man.':>9} {'sign all':>9} "
              f"{'verify':>8}   folder")
        for label, run in cases.items():
            r = measure(run, identity, ca)
            print(f"{label:<18} {r['sign pdf']:>8.2f}s {r['manifest']:>8.2f}s {r['sign manifest']:>8.2f}s "
                  f"{r['sign total']:>8.2f}s {r['verify']:>7.2f}s   {_size(run)}")
        shutil.rmtree(root / "demo", ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])

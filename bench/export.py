"""Export of a large run (default 1,000 accounts, ~1.5 M control results) to Parquet and OCSF.

Builds one month as bench/history.py does (synthetic collector output through the product's
snapshot writer, then the rules and Great Expectations) in a child process, then times
`export_parquet` and `export_ocsf` in this one and prints their sizes and this process's peak
memory. No goal is set by an issue; the figures say what an export of a big run costs.
Usage: .venv/bin/python bench/export.py [ACCOUNTS] [--keep]
"""

from __future__ import annotations

import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.history import MONTHS, build_first_month
from bench.scale import peak_mb
from reports.export import export_ocsf, export_parquet
from store.run_folder import run_id_for


def folder_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def main(accounts: int, keep: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="rolecall-export-"))
    snapshot = root / "runs" / run_id_for(MONTHS[0]) / "snapshot.duckdb"
    print(f"one run of {accounts} accounts x (250 users + 250 roles); folder {root}", flush=True)
    build = multiprocessing.get_context("spawn").Process(target=build_first_month,
                                                        args=(snapshot, accounts))
    build.start()
    build.join()
    if build.exitcode != 0:
        raise SystemExit(f"building the snapshot failed (exit {build.exitcode})")
    print(f"  snapshot: {snapshot.stat().st_size / 1e6:,.0f} MB")

    t = time.perf_counter()
    files = export_parquet(snapshot, root / "parquet")
    print(f"  export parquet: {time.perf_counter() - t:6.1f} s, {len(files)} files, "
          f"{folder_mb(files):,.0f} MB, peak RSS {peak_mb():,.0f} MB", flush=True)
    t = time.perf_counter()
    target = root / "ocsf" / "findings.ocsf.json"
    findings = export_ocsf(snapshot, target)
    seconds = time.perf_counter() - t
    print(f"  export ocsf:    {seconds:6.1f} s, {findings:,} findings "
          f"({findings / seconds:,.0f}/s), {target.stat().st_size / 1e6:,.0f} MB, "
          f"peak RSS {peak_mb():,.0f} MB")
    if keep:
        print(f"  kept: {root}")
    else:
        shutil.rmtree(root)


if __name__ == "__main__":
    numbers = [int(a) for a in sys.argv[1:] if a.isdigit()]
    main(numbers[0] if numbers else 1000, "--keep" in sys.argv)

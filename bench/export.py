"""Export of a large run (default 1,000 accounts, ~1.55 M control results) to Parquet and OCSF.

Builds one month as bench/history.py does (synthetic collector output through the product's
snapshot writer, then the rules and Great Expectations) in a child process, then times
`export_parquet` in this one and `export_ocsf` in a fresh child process (timed inside it, so
Python's start-up is not counted), whose memory is read
from /proc every SAMPLE_SECONDS while it runs: the peak, and the samples at points of its time,
show whether memory stays flat. Issue 13 asks for the OCSF export
of 1.55 M findings in at most 20 s on the project's 2-core machine; the load average is printed
because other work on the machine stretches wall time (CPU seconds are printed too).
Usage: .venv/bin/python bench/export.py [ACCOUNTS] [--keep] [--snapshot PATH]
  --snapshot PATH times the exports of an existing snapshot (e.g. one kept earlier) instead.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.history import MONTHS, build_first_month
from bench.scale import peak_mb
from reports.export import export_ocsf, export_parquet
from store.run_folder import run_id_for

SAMPLE_SECONDS = 0.2
OCSF_GOAL_SECONDS = 20


def folder_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 1e6


def rss_mb(pid: int) -> float | None:
    """Resident memory of a live process (Linux /proc); None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kb = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), None)
    return int(kb) / 1024 if kb else None


def _export_ocsf_child(snapshot: Path, target: Path, figures: multiprocessing.Queue) -> None:
    """The export alone, timed in the child: its start-up and imports are not the export's."""
    cpu_before = _own_cpu_seconds()
    started = time.perf_counter()
    findings = export_ocsf(snapshot, target)
    figures.put((findings, time.perf_counter() - started, _own_cpu_seconds() - cpu_before))


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_ocsf_export(snapshot: Path, target: Path) -> None:
    """Run export_ocsf in a fresh process, sampling its memory; print the figures."""
    context = multiprocessing.get_context("spawn")
    figures = context.Queue()
    child = context.Process(target=_export_ocsf_child, args=(snapshot, target, figures))
    started = time.perf_counter()
    child.start()
    samples: list[tuple[float, float]] = []  # (seconds since start, RSS MB)
    while child.is_alive():
        if (rss := rss_mb(child.pid or 0)) is not None:
            samples.append((time.perf_counter() - started, rss))
        time.sleep(SAMPLE_SECONDS)
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"the OCSF export failed (exit {child.exitcode})")
    findings, seconds, cpu_seconds = figures.get()
    rss = [mb for _, mb in samples]
    # Memory over the export's time (the last `seconds` of the child's life): a flat export
    # holds the same whether it has written a tenth or nine tenths of its findings.
    start = samples[-1][0] - seconds
    shares = (0.1, 0.3, 0.5, 0.7, 0.9)
    at = [next((mb for t, mb in samples if t >= start + seconds * share), rss[-1]) for share in shares]
    print(f"  export ocsf:    {seconds:6.1f} s (goal {OCSF_GOAL_SECONDS} s; {cpu_seconds:.1f} CPU s), "
          f"{findings:,} findings ({findings / seconds:,.0f}/s), {target.stat().st_size / 1e6:,.0f} MB")
    print(f"    memory of the export process: peak {max(rss):,.0f} MB; at 10/30/50/70/90% of the export "
          f"{' / '.join(f'{mb:,.0f}' for mb in at)} MB; load average at the end {os.getloadavg()[0]:.1f}")


def main(accounts: int, keep: bool, snapshot: Path | None) -> None:
    root = Path(tempfile.mkdtemp(prefix="rolecall-export-"))
    if snapshot is None:
        snapshot = root / "runs" / run_id_for(MONTHS[0]) / "snapshot.duckdb"
        print(f"one run of {accounts} accounts x (250 users + 250 roles); folder {root}", flush=True)
        build = multiprocessing.get_context("spawn").Process(target=build_first_month,
                                                            args=(snapshot, accounts))
        build.start()
        build.join()
        if build.exitcode != 0:
            raise SystemExit(f"building the snapshot failed (exit {build.exitcode})")
    print(f"  snapshot: {snapshot} {snapshot.stat().st_size / 1e6:,.0f} MB", flush=True)

    t = time.perf_counter()
    files = export_parquet(snapshot, root / "parquet")
    print(f"  export parquet: {time.perf_counter() - t:6.1f} s, {len(files)} files, "
          f"{folder_mb(files):,.0f} MB, peak RSS {peak_mb():,.0f} MB", flush=True)
    timed_ocsf_export(snapshot, root / "ocsf" / "findings.ocsf.json")
    if keep:
        print(f"  kept: {root}")
    else:
        shutil.rmtree(root)


if __name__ == "__main__":
    numbers = [int(a) for a in sys.argv[1:] if a.isdigit()]
    given = Path(sys.argv[sys.argv.index("--snapshot") + 1]) if "--snapshot" in sys.argv else None
    main(numbers[0] if numbers else 1000, "--keep" in sys.argv, given)

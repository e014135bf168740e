"""History query over twelve monthly snapshots of a large organization (default 1,000 accounts).

Builds month 1 the way bench/scale.py does (synthetic collector output through the product's
snapshot writer, then `checks.validate.evaluate`, no rendering), then months 2-12 by copying
month 1's file and changing it with SQL so the history has a trend: a quarter of the accounts
retire 8% of their IAM users a month, another quarter 2% a month, and one account in fifty gains
4% a month (their users, keys, credential report rows and control results go or come together).
Then times `cli.query.open_history` + three history queries, each in a fresh session: the
first session is "cold" (the twelve files, and only them, are evicted from the OS page cache
first), then the best of 5 warm ones. Then the real CLI (`rolecall sql --history`) once end to
end, with its start-up alone. Goal: under 2 s on 2 cores.
The build runs in a child process, so the peak RSS printed for the queries is theirs alone.
Usage: .venv/bin/python bench/history.py [ACCOUNTS] [--keep]   (--keep leaves the runs folder)
       .venv/bin/python bench/history.py --runs DIR   (queries only, on runs kept by --keep: a
       10,000-account build takes tens of minutes, the queries seconds, so they can be timed again
       on a quiet machine)
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from cli.query import execute, open_history, read_statements
from store.run_folder import run_id_for
from store.snapshot import SCHEMA

USERS = ROLES = 250  # per account, as bench/scale.py
MONTHS = [datetime(2026, month, 1, tzinfo=UTC) for month in range(1, 13)]
TRIALS = 5
GOAL_S = 2.0

QUERIES = {
    "failures per control per month (control_results)": """
        SELECT run_id, control_id,
               count(*) FILTER (status = 'fail') AS failures,
               count(*) FILTER (status = 'pass') AS passes,
               count(*) AS population
        FROM control_results
        GROUP BY run_id, control_id
        ORDER BY run_id, control_id
    """,
    "accounts whose IAM users grew since the first run (iam_users)": """
        WITH per_run AS (SELECT run_id, account_id, count(*) AS users FROM iam_users GROUP BY ALL),
             ends AS (SELECT min(run_id) AS first_run, max(run_id) AS last_run FROM run)
        SELECT last.account_id, first.users AS first_users, last.users AS last_users,
               last.users - first.users AS grew_by
        FROM per_run AS last
        JOIN ends ON last.run_id = ends.last_run
        JOIN per_run AS first ON first.account_id = last.account_id AND first.run_id = ends.first_run
        WHERE last.users > first.users
        ORDER BY grew_by DESC, last.account_id
    """,
    "IAM users per run (iam_users, light)": """
        SELECT run_id, count(*) AS iam_users, count(DISTINCT account_id) AS accounts_with_users
        FROM iam_users
        GROUP BY run_id
        ORDER BY run_id
    """,
}
HEADLINE = next(iter(QUERIES))

# How each table that holds per-user rows names the user: (filter, SQL giving the user's number).
USER_ROWS = {
    "iam_users": ("true", "TRY_CAST(substr(t.user_name, 6) AS INTEGER)"),
    "credential_report": ("true", "TRY_CAST(substr(t.\"user\", 6) AS INTEGER)"),
    "iam_access_keys": ("true", "TRY_CAST(substr(t.user_name, 6) AS INTEGER)"),
    "control_results": ("t.resource_type IN ('iam_user', 'access_key')",
                        r"TRY_CAST(regexp_extract(t.resource_id, ':user/user-(\d+)', 1) AS INTEGER)"),
}


def mb(kilobytes: int) -> float:
    return kilobytes / 1024


# --- build ------------------------------------------------------------------------------------


def build(runs: Path, accounts: int) -> None:
    """All twelve runs under `runs`; meant to run in a child process (GX and the loader's memory
    stay out of the query figures)."""
    started = time.perf_counter()
    first = runs / run_id_for(MONTHS[0]) / "snapshot.duckdb"
    build_first_month(first, accounts)
    t = time.perf_counter()
    for offset, moment in enumerate(MONTHS[1:], start=1):
        derive_month(first, runs / run_id_for(moment) / "snapshot.duckdb", moment, offset)
    print(f"  months 2-12 (copy + SQL changes):          {time.perf_counter() - t:6.1f} s", flush=True)
    print(f"  build total:                               {time.perf_counter() - started:6.1f} s", flush=True)


def build_first_month(path: Path, accounts: int) -> None:
    from bench import scale  # GX and the loader are imported in the build process only
    from checks.validate import evaluate
    from store import snapshot

    scale.NOW = MONTHS[0]  # the synthetic ages are relative to the run's start, as in a real run
    path.parent.mkdir(parents=True)
    con = snapshot.create(path)
    writer = snapshot.SnapshotWriter(con)
    t = time.perf_counter()
    for index in range(accounts):
        data = scale.synthetic_account(index, USERS, ROLES)
        writer.add_account(data, scale.payloads(data))
        writer.add("accounts", [{"account_id": data.account_id, "name": f"account-{index}",
                                 "ou_path": "Root" if index == 0 else f"Root/OU{index % 10}",
                                 "is_management": index == 0, "collected": True, "api_calls": 8}])
    for table, rows in scale.organization_rows(accounts).items():
        writer.add(table, rows)
    writer.add("run", [{"run_id": run_id_for(MONTHS[0]), "started_at": MONTHS[0],
                        "finished_at": MONTHS[0] + timedelta(minutes=5), "tool_version": "bench",
                        "organization_id": "o-bench", "management_account_id": f"{100000000000:012d}",
                        "simulated": True, "config": {}}])
    writer.flush()
    print(f"  month 1 synthesise + load:                 {time.perf_counter() - t:6.1f} s", flush=True)
    t = time.perf_counter()
    evaluate(con, None, path.parent / "evidence" / "gx")
    con.close()
    print(f"  month 1 validate (rules + GX):             {time.perf_counter() - t:6.1f} s", flush=True)


def derive_month(first: Path, path: Path, moment: datetime, offset: int) -> None:
    """Month 1's snapshot, `offset` months on: some accounts lose users, a few gain some."""
    path.parent.mkdir(parents=True)
    shutil.copyfile(first, path)
    con = duckdb.connect(str(path))
    try:
        con.execute("BEGIN")
        # cap: users the account keeps of month 1's; extra: users it has gained since.
        con.execute(f"""
            CREATE TEMP TABLE caps AS
            SELECT account_id, CASE
                     WHEN idx % 50 = 7 THEN {USERS}
                     WHEN idx % 4 = 0 THEN {USERS} - CAST(round({USERS} * 0.08 * {offset}) AS INTEGER)
                     WHEN idx % 4 = 1 THEN {USERS} - CAST(round({USERS} * 0.02 * {offset}) AS INTEGER)
                     ELSE {USERS} END AS cap,
                   CASE WHEN idx % 50 = 7 THEN CAST(round({USERS} * 0.04 * {offset}) AS INTEGER)
                     ELSE 0 END AS extra
            FROM (SELECT account_id, CAST(account_id AS BIGINT) - 100000000000 AS idx FROM accounts)
        """)
        for table, (where, number) in USER_ROWS.items():
            con.execute(f"DELETE FROM {table} AS t USING caps AS c "
                        f"WHERE t.account_id = c.account_id AND {where} AND {number} >= c.cap")
            con.execute(f"INSERT INTO {table} SELECT {_renamed_columns(table)} "
                        f"FROM {table} AS t JOIN caps AS c ON t.account_id = c.account_id, "
                        f"LATERAL (SELECT {number} AS old_n, {number} + {USERS} AS new_n) "
                        f"WHERE {where} AND old_n < c.extra")
        con.execute("UPDATE account_summary AS s SET users = n.users FROM "
                    "(SELECT account_id, count(*) AS users FROM iam_users GROUP BY ALL) AS n "
                    "WHERE s.account_id = n.account_id")
        con.execute("UPDATE run SET run_id = ?, started_at = ?, finished_at = ?",
                    [run_id_for(moment), moment, moment + timedelta(minutes=5)])
        con.execute("COMMIT")
    finally:
        con.close()


def _renamed_columns(table: str) -> str:
    """The table's columns for a copy of user `old_n` as user `new_n` (names, ARNs, resource
    ids, reasons and evidence all mention `user-NNNN`)."""
    old, new = "format('user-{:04d}', old_n)", "format('user-{:04d}', new_n)"
    columns = []
    for name, kind, _ in SCHEMA[table]:
        column = f't."{name}"'
        if name == "user_id":
            columns.append(f"{column} || '-' || new_n")
        elif name == "account_id" or kind not in ("VARCHAR", "JSON"):
            columns.append(column)
        elif kind == "JSON":
            columns.append(f"CAST(replace(CAST({column} AS VARCHAR), {old}, {new}) AS JSON)")
        else:
            columns.append(f"replace({column}, {old}, {new})")
    return ", ".join(columns)


# --- timing ---------------------------------------------------------------------------------------


def time_query(runs: Path, sql: str) -> tuple[float, float, int]:
    """(open seconds, query seconds incl. fetching every row, rows) in a fresh session."""
    [statement] = read_statements(sql)
    t = time.perf_counter()
    session = open_history(runs)
    opened = time.perf_counter() - t
    try:
        t = time.perf_counter()
        rows = execute(session, statement).cursor.fetchall()
        queried = time.perf_counter() - t
    finally:
        session.close()
    return opened, queried, len(rows)


def drop_page_cache(runs: Path) -> None:
    """Evict the snapshots (and nothing else) from the OS page cache, as for runs read months
    after they were written."""
    for path in runs.glob("*/snapshot.duckdb"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def report_query(runs: Path, name: str, sql: str) -> float:
    drop_page_cache(runs)
    trials = [time_query(runs, sql) for _ in range(1 + TRIALS)]
    cold, warm = trials[0], trials[1:]
    best = min(warm, key=lambda r: r[0] + r[1])
    print(f"  {name}: {cold[2]:,} rows")
    for label, (opened, queried, _) in (("cold (files uncached)", cold), (f"best of {TRIALS} warm", best)):
        print(f"    {label:21} open {opened:6.3f} s + query {queried:6.3f} s = {opened + queried:6.3f} s")
    total = best[0] + best[1]
    print(f"    goal < {GOAL_S:.0f} s: {'met' if total < GOAL_S else 'MISSED'} "
          f"(median of {TRIALS}: {sorted(o + q for o, q, _ in warm)[TRIALS // 2]:.3f} s)")
    return total


def summary(runs: Path) -> None:
    session = open_history(runs)
    try:
        for table in ("control_results", "iam_users", "credential_report", "raw_payloads"):
            total, per_run = session.con.execute(
                f"SELECT sum(n), list(n ORDER BY run_id) FROM (SELECT run_id, count(*) AS n "
                f"FROM {table} GROUP BY run_id)").fetchone()
            print(f"  {table:18} {total:>12,} rows over {len(per_run)} runs "
                  f"(month 1: {per_run[0]:,}, month 12: {per_run[-1]:,})")
        grew = session.con.execute(
            "SELECT count(*) FROM (SELECT account_id FROM iam_users GROUP BY account_id "
            "HAVING count(*) FILTER (run_id = (SELECT max(run_id) FROM run)) "
            "> count(*) FILTER (run_id = (SELECT min(run_id) FROM run)))").fetchone()[0]
        print(f"  accounts whose IAM users grew since the first run: {grew}")
    finally:
        session.close()


def run_cli(runs: Path, sql: str, out: Path) -> None:
    rolecall = Path(sys.executable).parent / "rolecall"
    startup = []
    for _ in range(3):  # start-up alone: interpreter, imports, argument parsing
        t = time.perf_counter()
        probe = subprocess.run([str(rolecall), "sql", "--help"], capture_output=True, text=True)
        startup.append(time.perf_counter() - t)
        if probe.returncode != 0:
            print(f"  skipped: `rolecall sql --help` exits {probe.returncode} (the sql command is "
                  "not there yet)")
            return
    print(f"  start-up alone (`rolecall sql --help`, best of 3): {min(startup):.2f} s")
    command = [str(rolecall), "sql", "--history", "--runs", str(runs), "--format", "csv",
               " ".join(sql.split())]
    drop_page_cache(runs)
    with (out / "cli.csv").open("w") as stdout, (out / "cli.err").open("w") as stderr:
        t = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - t
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        print(f"  rolecall sql exited {process.returncode}: {(out / 'cli.err').read_text()[-400:]}")
        return
    lines = (out / "cli.csv").read_text().splitlines()
    print(f"  rolecall sql --history --format csv \"{HEADLINE.split(' (')[0]}\": {elapsed:.2f} s wall "
          f"(files uncached), {max(len(lines) - 1, 0):,} rows, peak RSS {mb(usage.ru_maxrss):,.0f} MB")


def main(accounts: int, keep: bool, kept: Path | None = None) -> None:
    out = kept.parent if kept else Path(tempfile.mkdtemp(prefix="rolecall-history-"))
    runs = kept or out / "runs"
    if kept:
        accounts = duckdb.connect(str(next(runs.glob("*/snapshot.duckdb"))), read_only=True).execute(
            "SELECT count(*) FROM accounts").fetchone()[0]
    print(f"{len(MONTHS)} monthly runs of {accounts} accounts x ({USERS} users + {ROLES} roles); "
          f"folder {runs}")
    try:
        if kept is None:
            child = multiprocessing.get_context("spawn").Process(target=build, args=(runs, accounts))
            child.start()
            child.join()
            if child.exitcode != 0:
                raise SystemExit(f"building the runs failed (exit {child.exitcode})")
        build_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        sizes = [(p.name, (p / "snapshot.duckdb").stat().st_size) for p in sorted(runs.iterdir())]
        if kept is None:
            print(f"  build peak RSS (child):                    {mb(build_rss):6,.0f} MB")
        print(f"  snapshot sizes: month 1 {sizes[0][1] / 1e6:,.0f} MB, "
              f"month 12 {sizes[-1][1] / 1e6:,.0f} MB, total {sum(s for _, s in sizes) / 1e6:,.0f} MB")
        print("Rows")
        summary(runs)
        print(f"History queries: open_history + query + fetch, each in a fresh session, cold then "
              f"{TRIALS} more")
        for name, sql in QUERIES.items():
            report_query(runs, name, sql)
        query_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"  peak RSS of this process (history sessions): {mb(query_rss):,.0f} MB")
        print("CLI end to end (once)")
        run_cli(runs, QUERIES[HEADLINE], out)
    finally:
        if keep or kept:
            print(f"kept {runs}")
        else:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--keep"]
    if "--runs" in arguments:
        main(0, True, Path(arguments[arguments.index("--runs") + 1]))
    else:
        main(int(arguments[0]) if arguments else 1000, "--keep" in sys.argv[1:])

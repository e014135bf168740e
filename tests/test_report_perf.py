"""Render time of a large organization: 1,000 accounts, ~56k fails, ~480k passes.

Slow (about 20 s of WeasyPrint), so it runs only with RC_BENCH=1:
    RC_BENCH=1 .venv/bin/pytest tests/test_report_perf.py -s
The limit is loose because shared CI machines are noisy; the printed times are the figures.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from flows import snapshot
from reports.render import load_report_data, render_html, write_pdf

pytestmark = pytest.mark.skipif(os.environ.get("RC_BENCH") != "1", reason="benchmark; set RC_BENCH=1 to run")

ACCOUNTS = 1000
MEMBERS_PER_ACCOUNT = 69  # x 8 controls x 1,000 accounts = 552,000 results
IMPLEMENTED = [
    ("RC-1.1", "G1"), ("RC-1.2", "G1"), ("RC-1.3", "G1"), ("RC-1.4", "G1"),
    ("RC-1.5", "G1"), ("RC-2.1", "G2"), ("RC-2.2", "G2"), ("RC-3.1", "G3"),
]  # fmt: skip


def build_large_snapshot(path: Path) -> None:
    """Every 11th member fails, a few are excepted or errors, 1 account in 97 is uncollected."""
    con = snapshot.create(path)
    snapshot.insert_rows(con, "run", [{
        "run_id": "20261128T002654Z", "started_at": datetime(2026, 11, 28, 0, 26, 54, tzinfo=UTC),
        "finished_at": datetime(2026, 11, 28, 1, 2, tzinfo=UTC), "tool_version": "0.1.0",
        "organization_id": "o-big0000001", "management_account_id": "100000000000",
        "simulated": False, "config": {},
    }])  # fmt: skip
    accounts = [
        {
            "account_id": str(100000000000 + i),
            "name": f"workload-{i:04d}-{'prod' if i % 3 else 'dev'}",
            "status": "ACTIVE",
            "ou_path": f"Root/Workloads/BU{i % 12}/{'Prod' if i % 3 else 'Dev'}",
            "is_management": i == 0,
            "collected": i % 97 != 5,
            "error": None
            if i % 97 != 5
            else "AccessDenied: not authorized to perform "
            f"sts:AssumeRole on arn:aws:iam::{100000000000 + i}:role/rolecall-audit",
            "api_calls": 30 + i % 17,
        }
        for i in range(ACCOUNTS)
    ]
    snapshot.insert_rows(con, "accounts", accounts)
    snapshot.insert_rows(con, "collection_errors", [
        {"account_id": a["account_id"], "source": "session", "operation": "AssumeRole",
         "error_code": "AccessDenied", "message": a["error"],
         "occurred_at": datetime(2026, 11, 28, 0, 27, tzinfo=UTC)}
        for a in accounts if not a["collected"]
    ])  # fmt: skip
    snapshot.insert_rows(con, "exceptions", [
        {"exception_id": f"EX-{i:03d}", "principal": f"arn:aws:iam::{100000000000 + i}:user/p",
         "controls": ["RC-1.1", "RC-3.1"], "kind": "external-dependency",
         "dependency": "partner SFTP", "reason": "vendor", "owner": "team",
         "approved_by": "ciso", "expires": date(2027, 3, 31), "valid": i % 5 != 0,
         "problems": [] if i % 5 else ["expired"]}
        for i in range(40)
    ])  # fmt: skip
    controls = ", ".join(f"('{c}', '{g}')" for c, g in IMPLEMENTED)
    con.execute(f"""
        INSERT INTO control_results
        SELECT c.control_id, c.item, a.account_id,
               'arn:aws:iam::' || a.account_id || ':user/svc/' || c.control_id || '-user-' || g.i,
               'iam_user',
               CASE WHEN g.i % 11 = 0 THEN 'fail' WHEN g.i % 211 = 1 THEN 'excepted'
                    WHEN g.i % 503 = 2 THEN 'error' ELSE 'pass' END,
               CASE WHEN g.i % 7 = 0 THEN 'critical' WHEN g.i % 3 = 0 THEN 'medium'
                    ELSE 'high' END,
               'synthetic reason for member ' || g.i || ' of ' || c.control_id,
               CASE WHEN g.i % 211 = 1 THEN 'EX-' || lpad(CAST(g.i % 40 AS VARCHAR), 3, '0') END,
               '{{}}'
        FROM (VALUES {controls}) c(control_id, item), accounts a,
             range({MEMBERS_PER_ACCOUNT}) g(i)
    """)
    con.close()


def test_large_run_renders_in_time(tmp_path: Path) -> None:
    import duckdb

    build_large_snapshot(tmp_path / "snapshot.duckdb")
    con = duckdb.connect(str(tmp_path / "snapshot.duckdb"), read_only=True)
    t0 = time.perf_counter()
    data = load_report_data(con)
    t1 = time.perf_counter()
    html = render_html(data)
    t2 = time.perf_counter()
    write_pdf(render_html(data, medium="pdf"), tmp_path / "report.pdf")
    t3 = time.perf_counter()
    print(
        f"\nload {t1 - t0:.2f}s, html {t2 - t1:.2f}s ({len(html) / 1e6:.1f} MB), "
        f"pdf {t3 - t2:.2f}s, total {t3 - t0:.2f}s"
    )
    assert data.totals.failed == 56_000
    assert t3 - t0 < 40

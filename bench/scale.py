"""Load + validate + render for a large organization (default 1,000 accounts, ~500,000 principals).

Synthesises what the collectors would return for each account (credential report rows, users,
roles with trust policies, keys, raw payloads), then times the product's own stages: the
snapshot writer, the Great Expectations validation and the report. Prints wall time per stage
and peak memory. The report is compared with a previous month (a copy of the same snapshot),
as every monthly run after the first is. Goal (issue 14): 10,000 accounts x (250 + 250) = 5 M
principals in at most 300 s and 4 GB peak RSS on 2 cores, and at most 11x the time of 1,000
accounts (run both sizes: `bench/scale.py 1000` then `bench/scale.py 10000`).
Usage: .venv/bin/python bench/scale.py [ACCOUNTS [USERS_PER_ACCOUNT [ROLES_PER_ACCOUNT]]] [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from reports.garbage_collection import collect_less_often  # noqa: E402

collect_less_often()  # as the CLI's process does (cli/main.py), before the libraries load

from checks.validate import evaluate  # noqa: E402
from flows.sources import credential_report  # noqa: E402
from flows.sources.session import Payload  # noqa: E402
from reports.render import render_report  # noqa: E402
from store import snapshot  # noqa: E402

NOW = datetime.now(UTC)
HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)


def _iso(days_ago: int) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def synthetic_account(index: int, users: int, roles: int) -> snapshot.AccountData:
    """One account as the collectors would return it; a mix of passing and failing cases."""
    account_id = f"{100000000000 + index:012d}"
    lines = [HEADER]
    for u in range(users):
        arn = f"arn:aws:iam::{account_id}:user/user-{u:04d}"
        console = u % 5 == 0
        key = u % 2 == 0
        rotated = _iso(30 + (u * 7) % 400) if key else "N/A"
        used = _iso((u * 3) % 200) if key and u % 8 else "N/A"
        lines.append(
            f"user-{u:04d},{arn},{_iso(900)},{str(console).lower()},N/A,{_iso(900)},N/A,"
            f"{str(console and u % 10 == 0).lower()},{str(key).lower()},{rotated},{used},"
            f"us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        )
    text = "\n".join(lines) + "\n"
    data = snapshot.AccountData(account_id, api_calls=8, credential_report_csv=text)
    report_rows = credential_report.parse(text, account_id, NOW)
    data.add("credential_report", report_rows)
    data.add("iam_access_keys", credential_report.access_keys(report_rows))
    data.add("iam_users", [
        {"account_id": account_id, "user_name": r["user"], "user_id": f"AIDA{index:08d}{i:05d}",
         "arn": r["arn"], "path": "/", "create_date": r["user_creation_time"], "groups": [],
         "attached_policies": [], "inline_policy_names": [], "tags": {}}
        for i, r in enumerate(report_rows)
    ])
    data.add("iam_roles", [
        {"account_id": account_id, "role_name": f"role-{r:04d}", "role_id": f"AROA{index:08d}{r:05d}",
         "arn": f"arn:aws:iam::{account_id}:role/role-{r:04d}", "path": "/",
         "create_date": NOW - timedelta(days=100),
         "trust_policy": {"Version": "2012-10-17", "Statement": [{
             "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{200000000000 + r}:root"},
             "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"sts:ExternalId": f"ext-{r}"}}}]},
         "permissions_boundary_arn": None, "attached_policies": [], "tags": {}}
        for r in range(roles)
    ])
    data.add("account_summary", [{"account_id": account_id, "root_mfa_enabled": index % 50 != 0,
                                  "root_access_keys_present": False, "users": users,
                                  "roles": roles}])
    return data


DENY_USERS = {"Version": "2012-10-17", "Statement": [{
    "Sid": "DenyIAMUsers", "Effect": "Deny", "Action": ["iam:CreateUser", "iam:CreateAccessKey"],
    "Resource": "*",
    "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/BreakGlassAdmin"}}}]}
REQUIRE_BOUNDARY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "CreateRoleNeedsBoundary", "Effect": "Deny", "Action": "iam:CreateRole",
     "Resource": "*", "Condition": {"Null": {"iam:PermissionsBoundary": "true"}}},
    {"Sid": "KeepBoundary", "Effect": "Deny", "Action": "iam:DeleteRolePermissions*",
     "Resource": "*"}]}


def organization_rows(accounts: int, ous: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Root with SCPs enabled, `ous` OUs, accounts spread over them, two SCPs, analyzers."""
    root = "r-bench"
    ou_ids = [f"ou-bench-{i:04d}" for i in range(ous)]
    account_ids = [f"{100000000000 + i:012d}" for i in range(accounts)]
    return {
        "org_roots": [{"root_id": root, "name": "Root", "scp_enabled": True,
                       "policy_types": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]}],
        "org_units": [{"ou_id": ou, "name": f"OU{i}", "parent_id": root, "path": f"Root/OU{i}"}
                      for i, ou in enumerate(ou_ids)],
        "account_parents": [
            row for i, account in enumerate(account_ids[1:], start=1)
            for row in ({"account_id": account, "parent_id": ou_ids[i % ous], "depth": 1},
                        {"account_id": account, "parent_id": root, "depth": 2})
        ],
        "scps": [
            {"policy_id": "p-denyusers", "name": "DenyIAMUsers", "aws_managed": False,
             "document": DENY_USERS},
            {"policy_id": "p-boundary", "name": "RequireBoundary", "aws_managed": False,
             "document": REQUIRE_BOUNDARY},
        ],
        "scp_targets": [{"policy_id": "p-denyusers", "target_id": root, "target_type": "ROOT"}]
        + [{"policy_id": "p-boundary", "target_id": ou, "target_type": "ORGANIZATIONAL_UNIT"}
           for ou in ou_ids[: ous // 2]],
        "access_analyzers": [{"account_id": account_ids[0], "arn": "arn:aws:access-analyzer:"
                              f"us-east-1:{account_ids[0]}:analyzer/org", "name": "org",
                              "type": "ORGANIZATION", "status": "ACTIVE", "region": "us-east-1"}],
        "identity_center_instances": [{"instance_arn": "arn:aws:sso:::instance/ssoins-bench",
                                       "identity_store_id": "d-bench",
                                       "owner_account_id": account_ids[0], "status": "ACTIVE"}],
        "account_assignments": [{"instance_arn": "arn:aws:sso:::instance/ssoins-bench",
                                 "permission_set_arn": "arn:aws:sso:::permissionSet/ps-bench",
                                 "account_id": a} for a in account_ids],
    }


def payloads(data: snapshot.AccountData) -> list[Any]:
    """Raw payloads of a realistic size: the authorization details page and the report."""
    details = {"UserDetailList": data.rows["iam_users"], "RoleDetailList": data.rows["iam_roles"]}
    return [
        Payload("iam", "GetCredentialReport", 0, NOW, {"Content": data.credential_report_csv}),
        Payload("iam", "GetAccountAuthorizationDetails", 0, NOW, details),
    ]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(accounts: int, users: int, roles: int, keep: bool = False) -> None:
    runs = Path(tempfile.mkdtemp(prefix="rolecall-scale-"))
    out = runs / "20261201T000000Z"  # this month's run; last month's is copied beside it
    (out / "evidence").mkdir(parents=True)
    print(f"{accounts} accounts x ({users} users + {roles} roles) = "
          f"{accounts * (users + roles):,} principals; folder {out}")
    con = snapshot.create(out / "snapshot.duckdb")
    writer = snapshot.SnapshotWriter(con)
    generate = 0.0
    started = time.perf_counter()
    for index in range(accounts):
        t = time.perf_counter()
        data = synthetic_account(index, users, roles)
        pays = payloads(data)
        generate += time.perf_counter() - t
        writer.add_account(data, pays)
        writer.add("accounts", [{"account_id": data.account_id, "name": f"account-{index}",
                                 "ou_path": "Root" if index == 0 else f"Root/OU{index % 10}",
                                 "is_management": index == 0,
                                 "collected": True, "api_calls": 8}])
    for table, rows in organization_rows(accounts).items():
        writer.add(table, rows)
    writer.add("run", [{"run_id": "bench", "started_at": NOW, "tool_version": "bench",
                        "organization_id": "o-bench", "management_account_id": f"{100000000000:012d}",
                        "simulated": True, "config": {}}])
    writer.flush()
    load = time.perf_counter() - started - generate
    print(f"  synthesise (stand-in for collection, not counted): {generate:6.1f} s")
    print(f"  load into DuckDB:                                 {load:6.1f} s  peak {peak_mb():,.0f} MB")
    t = time.perf_counter()
    evaluate(con, None, out / "evidence" / "gx")
    validate = time.perf_counter() - t
    print(f"  validate (rules + Great Expectations):            {validate:6.1f} s  peak {peak_mb():,.0f} MB")
    # A monthly run is compared with last month's: the worst case, every failure still there,
    # makes the report's "changes" query match all 882,520 failures against all of them again.
    con.execute("CHECKPOINT")
    previous = runs / "20261101T000000Z"
    previous.mkdir()
    shutil.copy(out / "snapshot.duckdb", previous / "snapshot.duckdb")
    t = time.perf_counter()
    render_report(con, out, baseline=previous, history_runs=[previous, out])
    render = time.perf_counter() - t
    print(f"  render HTML + PDF:                                {render:6.1f} s  peak {peak_mb():,.0f} MB")
    rows = con.execute("SELECT count(*), count(*) FILTER (status = 'fail') FROM control_results").fetchone()
    con.close()
    print(f"  control_results: {rows[0]:,} rows, {rows[1]:,} failures")
    print(f"  load + validate + render: {load + validate + render:.1f} s (goal at 10,000 accounts: "
          f"<= 300 s, and <= 11x the 1,000-account figure)")
    print(f"  peak memory (max RSS):    {peak_mb():,.0f} MB (goal at 10,000 accounts: <= 4,096 MB)")
    print(f"  snapshot size:            {(out / 'snapshot.duckdb').stat().st_size / 1e6:,.0f} MB")
    if keep:
        print(f"  kept: {runs}")
    else:
        shutil.rmtree(runs)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("accounts", type=int, nargs="?", default=1000)
    parser.add_argument("users", type=int, nargs="?", default=250, help="per account")
    parser.add_argument("roles", type=int, nargs="?", default=250, help="per account")
    parser.add_argument("--keep", action="store_true", help="keep the runs folder and say where")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    main(args.accounts, args.users, args.roles, keep=args.keep)

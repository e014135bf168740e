"""The fault suite: the simulated organization behind a fault proxy (tests/fault_proxy.py).

The design rule under test: one odd response costs at most that source of that account, never
the run, and never a wrong verdict. Each case collects the organization through the proxy the
way the flow does (discover, then the organization and every account concurrently, through the
flow's own task functions), evaluates the controls, and asserts that
- the collection finished (nothing raised) and quickly,
- the affected source of the affected account has collection errors with the reason,
- every other account's control_results equal the clean run's, and every row that differs
  from the clean run is `error` (a fault never turns a verdict into another pass or fail).
A full `run_audit` (PDF, signing) runs once, with several faults at a time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from botocore.retries import standard

from checks.validate import evaluate
from flows.audit import AuditConfig, CollectionPlan, account_row, collect, collect_org, discover
from flows.collect import DETAILS_SOURCE
from flows.sources.session import base_session
from simulated import organization as simulated
from simulated.organization import SimulatedOrganization
from store import snapshot
from tests.fault_proxy import Fault, FaultProxy, fault_proxy
from tests.simulated_history import fingerprint

Row = tuple[str, str, str, str]  # account_id, control_id, resource_id, status
CONNECTION_ERRORS = {"EndpointConnectionError", "ConnectionClosedError"}


@dataclass
class Run:
    """One collection through the proxy, evaluated."""

    names: dict[str, str]  # account id -> account name
    accounts: dict[str, dict[str, Any]]  # account name -> accounts row
    errors: list[dict[str, Any]]
    results: set[Row]
    seconds: float
    con: duckdb.DuckDBPyConnection
    requests: int = 0  # requests the proxy saw

    def rows(self, *names: str) -> set[Row]:
        ids = {i for i, n in self.names.items() if n in names}
        return {r for r in self.results if r[0] in ids}

    def others(self, *names: str) -> set[Row]:
        ids = {i for i, n in self.names.items() if n not in names}
        return {r for r in self.results if r[0] in ids}

    def errors_of(self, name: str) -> list[tuple[str, str, str]]:
        return sorted((e["source"], e["operation"], e["error_code"]) for e in self.errors
                      if self.names.get(e["account_id"]) == name)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()


@contextmanager
def endpoint(url: str) -> Iterator[None]:
    saved = os.environ["AWS_ENDPOINT_URL"]
    os.environ["AWS_ENDPOINT_URL"] = url
    try:
        yield
    finally:
        os.environ["AWS_ENDPOINT_URL"] = saved


def collect_through(url: str, folder: Path, **limits: float) -> Run:
    """What the flow's collect_all does (same task functions, 8 threads), then evaluate."""
    folder.mkdir(parents=True, exist_ok=True)
    config = AuditConfig(out_dir=folder, **limits)
    started = time.monotonic()
    with endpoint(url):
        session = base_session()
        organization, tree_payloads = discover.fn(session)
        with ThreadPoolExecutor(max_workers=config.max_workers) as pool:
            plan = CollectionPlan.of(config)
            org_future = pool.submit(collect_org.fn, session, organization, plan)
            futures = [pool.submit(collect.fn, session, a, plan) for a in organization.accounts]
            org_data, org_payloads = org_future.result()
            collected = [f.result() for f in futures]
    seconds = time.monotonic() - started
    con = snapshot.create(folder / "snapshot.duckdb")
    writer = snapshot.SnapshotWriter(con)
    writer.add_account(snapshot.AccountData(organization.management_account_id), tree_payloads)
    writer.add_account(org_data, org_payloads)
    by_id = {a.account_id: a for a in organization.accounts}
    rows = []
    for data, payloads in collected:
        writer.add_account(data, payloads)
        rows.append(account_row(by_id[data.account_id], data))
    writer.add("accounts", rows)
    writer.add("run", [{"run_id": folder.name, "started_at": datetime.now(UTC),
                        "organization_id": organization.organization_id,
                        "management_account_id": organization.management_account_id}])
    writer.flush()
    (folder / "gx").mkdir()
    evaluate(con, None, folder / "gx")
    names = {a.account_id: a.name for a in organization.accounts}
    errors = [dict(zip(("account_id", "source", "operation", "error_code", "message"), e,
                       strict=True))
              for e in con.execute("SELECT account_id, source, operation, error_code, message "
                                   "FROM collection_errors").fetchall()]
    results = set(con.execute(
        "SELECT account_id, control_id, resource_id, status FROM control_results").fetchall())
    return Run(names, {names[r["account_id"]]: r for r in rows}, errors, results, seconds, con)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's throttling backoff at 1/20 of its scale: the same retries, in seconds not
    minutes (four throttles in a row of one call would otherwise wait up to 15 s)."""
    monkeypatch.setitem(standard.ExponentialBackoff._DEFAULT_BACKOFF_CONFIG,
                        "throttling_base_scale", 0.05)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedOrganization]:
    with simulated.serve() as organization:
        yield organization


@pytest.fixture(scope="module")
def clean(sim: SimulatedOrganization, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The organization through a proxy that injects nothing: the verdicts every case is held to."""
    with fault_proxy(sim.endpoint_url) as proxy:
        run = collect_through(proxy.endpoint_url, tmp_path_factory.mktemp("clean"))
    assert run.errors == [] and not proxy.faulted()
    assert {c.account for c in proxy.calls} == set(sim.account_ids.values())  # all attributed
    run.requests = len(proxy.calls)
    return run


def faulted_run(sim: SimulatedOrganization, folder: Path, faults: Sequence[Fault],
                **options: Any) -> tuple[Run, FaultProxy]:
    limits = {k: options.pop(k) for k in ("connect_timeout", "read_timeout", "account_deadline")
              if k in options}
    with fault_proxy(sim.endpoint_url, faults, **options) as proxy:
        run = collect_through(proxy.endpoint_url, folder, **limits)
    return run, proxy


def assert_contained(run: Run, clean: Run, *affected: str) -> None:
    """Accounts outside `affected` are exactly as in the clean run, and no verdict flipped."""
    assert run.others(*affected) == clean.others(*affected)
    flipped = {r for r in run.results - clean.results if r[3] != "error"}
    assert not flipped, sorted(flipped)[:10]
    assert {run.names[e["account_id"]] for e in run.errors} <= set(affected), run.errors
    for name, row in run.accounts.items():
        if name not in affected:
            assert row["collected"] and row["error"] is None, (name, row)


def ids(sim: SimulatedOrganization, *names: str) -> list[str]:
    return [sim.account_ids[n] for n in names]


# --- throttling ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_thirty_percent_throttling_gives_the_clean_verdicts(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path, seed: int,
) -> None:
    run, proxy = faulted_run(sim, tmp_path, [Fault("throttle", rate=0.3)], seed=seed)
    throttled = proxy.faulted("throttle")
    assert len(throttled) > 0.2 * len(proxy.calls)
    assert {c.service for c in throttled} >= {"iam", "organizations", "access-analyzer"}
    print(f"seed {seed}: {len(throttled)}/{len(proxy.calls)} throttled, {run.seconds:.1f} s")
    assert run.errors == []
    assert run.results == clean.results


# --- 5xx -----------------------------------------------------------------------------------------


def test_5xx_with_an_xml_body_on_every_attempt_costs_that_source_of_that_account(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path,
) -> None:
    [dev] = ids(sim, "dev")
    run, proxy = faulted_run(sim, tmp_path, [
        Fault("5xx", "iam", "GetAccountAuthorizationDetails", dev)])
    assert len(proxy.faulted("5xx")) == 3  # botocore's attempts for a 5xx, not ten
    assert run.errors_of("dev") == [("authorization", "GetAccountAuthorizationDetails",
                                     "ServiceUnavailable")]
    assert not run.accounts["dev"]["collected"]
    assert "authorization: ServiceUnavailable" in run.accounts["dev"]["error"]
    assert_contained(run, clean, "dev")
    (why,) = run.query("SELECT reason FROM control_results WHERE control_id = 'RC-1.1' "
                       "AND account_id = ?", [dev])[0]
    assert why.startswith("not evaluated: authorization collection failed")
    assert "ServiceUnavailable" in why


def test_5xx_with_a_plain_text_body_is_retried_and_on_every_attempt_costs_that_source(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path,
) -> None:
    """A plain-text 503 (a load balancer's) is a retried 5xx, not a ResponseParserError."""
    prod, security = ids(sim, "prod", "security")
    run, proxy = faulted_run(sim, tmp_path, [
        Fault("5xx-plain", "iam", "GetAccountSummary", prod),
        Fault("5xx-plain", "iam", "GetCredentialReport", security, times=1),
        Fault("5xx-plain", "organizations", "ListPolicies", times=1),
    ])
    assert len(proxy.faulted("5xx-plain")) == 3 + 1 + 1
    assert run.errors_of("prod") == [("account_summary", "GetAccountSummary", "503")]
    assert run.errors_of("security") == [] and run.rows("security") == clean.rows("security")
    assert_contained(run, clean, "prod")


# --- malformed bodies ----------------------------------------------------------------------------


def test_a_truncated_body_costs_that_source_of_that_account(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path,
) -> None:
    partner, security = ids(sim, "partner-integrations", "security")
    run, _ = faulted_run(sim, tmp_path, [
        Fault("malformed", "iam", "GetAccountAuthorizationDetails", partner),  # XML
        Fault("malformed", "access-analyzer", "ListAnalyzers", security),  # JSON
    ])
    assert run.errors_of("partner-integrations") == [
        ("authorization", "GetAccountAuthorizationDetails", "ResponseParserError")]
    assert run.errors_of("security") == [
        ("access_analyzer", "ListAnalyzers", "ResponseParserError")]
    json_error = next(e for e in run.errors if e["source"] == "access_analyzer")
    assert "not valid JSON" in json_error["message"]
    assert run.accounts["security"]["collected"]  # Access Analyzer is not IAM data
    assert_contained(run, clean, "partner-integrations", "security")


# --- AccessDenied --------------------------------------------------------------------------------


def test_access_denied_per_account_and_per_source(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path,
) -> None:
    dev, prod = ids(sim, "dev", "prod")
    run, _ = faulted_run(sim, tmp_path, [
        Fault("deny", "sts", "AssumeRole", dev),
        Fault("deny", "iam", "GetAccountAuthorizationDetails", prod),
    ])
    assert run.errors_of("dev") == [("session", "AssumeRole", "AccessDenied")]
    assert run.errors_of("prod") == [("authorization", "GetAccountAuthorizationDetails",
                                      "AccessDenied")]
    blocked = {r[1] for r in run.rows("dev") if r[3] == "error" and r[2] == dev}
    assert blocked >= {"RC-1.1", "RC-1.2", "RC-2.1", "RC-3.2", "RC-4.1", "RC-4.3", "RC-6.4"}
    assert not run.accounts["dev"]["collected"] and not run.accounts["prod"]["collected"]
    assert run.rows("prod") & clean.rows("prod")  # the credential report's controls still judge
    assert_contained(run, clean, "dev", "prod")


def test_finding_details_that_fail_leave_every_verdict_as_in_the_clean_run(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path,
) -> None:
    """get_finding_v2 is evidence only: its loss is recorded, RC-4.2 still judges every finding."""
    [partner] = ids(sim, "partner-integrations")
    run, proxy = faulted_run(sim, tmp_path, [
        Fault("deny", "access-analyzer", "GetFindingV2", partner)])
    assert proxy.faulted("deny")
    sources = {e["source"] for e in run.errors}
    assert sources == {DETAILS_SOURCE}
    assert run.results == clean.results
    assert len([r for r in run.rows("partner-integrations") if r[1] == "RC-4.2"]) > 5


# --- hangs and the deadline ----------------------------------------------------------------------


def test_hung_calls_cost_a_read_timeout_per_attempt_and_the_account_stops_at_its_deadline(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path,
) -> None:
    dev, security = ids(sim, "dev", "security")
    deadline = 6.0
    run, proxy = faulted_run(
        sim, tmp_path, [Fault("hang", "iam", "GetAccountAuthorizationDetails", dev),
                        Fault("hang", "iam", None, security)],
        hang_seconds=3.0, connect_timeout=1.0, read_timeout=1.0, account_deadline=deadline)
    assert run.seconds < deadline + 8, run.seconds  # not 10 x 60 s per call
    dev_errors = run.errors_of("dev")
    assert ("authorization", "GetAccountAuthorizationDetails", "ReadTimeoutError") in dev_errors
    assert {code for _, _, code in dev_errors} <= {"ReadTimeoutError", "Deadline"}
    security_errors = run.errors_of("security")
    assert ("access_analyzer", "ListAnalyzers", "Deadline") in security_errors
    assert {code for _, _, code in security_errors} == {"ReadTimeoutError", "Deadline"}
    # every source of security failed: each is recorded, nothing silently missing
    assert {source for source, _, _ in security_errors} == {
        "credential_report", "authorization", "identity_providers", "account_summary",
        "access_analyzer", "caller_identity"}
    message = next(e["message"] for e in run.errors if e["error_code"] == "Deadline")
    assert f"account deadline of {deadline:g} s passed before" in message
    assert not run.accounts["security"]["collected"]
    assert len(proxy.faulted("hang")) <= 3 + 3 + 3  # no attempt after the deadline
    assert_contained(run, clean, "dev", "security")


# --- the endpoint dying --------------------------------------------------------------------------


def test_the_endpoint_dying_mid_run_costs_what_was_not_collected_yet(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path,
) -> None:
    run, proxy = faulted_run(sim, tmp_path, [], die_after=clean.requests // 2)
    assert run.seconds < 30
    assert {e["error_code"] for e in run.errors} <= CONNECTION_ERRORS, run.errors
    hit = {run.names[e["account_id"]] for e in run.errors}
    assert hit, "the endpoint died after every account was collected"
    assert len(proxy.calls) < clean.requests
    flipped = {r for r in run.results - clean.results if r[3] != "error"}
    assert not flipped, sorted(flipped)[:10]
    if "management" not in hit:  # no organization-level gap: the untouched are as clean
        assert run.others(*hit) == clean.others(*hit)


# --- names ---------------------------------------------------------------------------------------

# Every character IAM allows in a user name (\w+=,.@-) at the start, in the middle and at the end,
# and paths with every punctuation character a path may hold (printable ASCII but /).
ODD_NAMES = ("a+b=c,d.e@f_g-h", *(f"{c}{c}x{c}y{c}{c}" for c in "+=,.@_-"), "+=,.@_-", "9")
ODD_PATHS = ("/", "/a,b/", "/p+q=r,s.t@u_v-w/", "/!\"#$%&'()*+,-.:;<=>?@[\\]^_`{|}~/",
             "/arn:x,arn:y/", "/nested,/deep/")


def _member_iam(sim: SimulatedOrganization, account: str) -> Any:
    sts = boto3.client("sts", endpoint_url=sim.endpoint_url, region_name=simulated.REGION)
    creds = sts.assume_role(RoleArn=sim.role_arn(account, "OrganizationAccountAccessRole"),
                            RoleSessionName="odd-names")["Credentials"]
    return boto3.client("iam", endpoint_url=sim.endpoint_url, region_name=simulated.REGION,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def test_user_names_and_paths_with_every_character_iam_allows(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path,
) -> None:
    iam = _member_iam(sim, "security")
    users = [(name, ODD_PATHS[i % len(ODD_PATHS)]) for i, name in enumerate(ODD_NAMES)]
    for name, path in users:
        iam.create_user(UserName=name, Path=path)
        if name[0] in ",=":
            iam.create_access_key(UserName=name)
    try:
        run, _ = faulted_run(sim, tmp_path, [])
    finally:
        for name, _ in users:
            for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
                iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
            iam.delete_user(UserName=name)
    [security] = ids(sim, "security")
    assert run.errors == []
    arns = {f"arn:aws:iam::{security}:user{path}{name}" for name, path in users}
    report = set(run.query("SELECT \"user\", arn FROM credential_report WHERE account_id = ?",
                           [security]))
    assert {(n, f"arn:aws:iam::{security}:user{p}{n}") for n, p in users} <= report
    assert arns <= {a for (a,) in run.query("SELECT arn FROM iam_users")}
    rc_1_1 = {r[2] for r in run.rows("security") if r[1] == "RC-1.1" and r[3] == "fail"}
    assert arns <= rc_1_1
    keys = {r[2] for r in run.rows("security") if r[1] == "RC-1.2"}
    assert {f"{a}/access_key_1" for a in arns if a.rsplit("/", 1)[1][0] in ",="} <= keys
    (errors,) = run.query("SELECT count(*) FROM control_results WHERE account_id = ? "
                          "AND status = 'error'", [security])[0]
    assert errors == 0
    assert run.rows("security") >= clean.rows("security")  # and rows for the new users
    assert run.others("security") == clean.others("security")


# --- the whole audit -----------------------------------------------------------------------------


def test_a_full_audit_through_several_faults_finishes_signed_with_errors_recorded(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path, prefect_server: None,
) -> None:
    from flows.audit import run_audit

    dev, partner = ids(sim, "dev", "partner-integrations")
    faults = [
        Fault("deny", "sts", "AssumeRole", dev),
        # the single plain-text 503s: retried
        *(Fault("5xx-plain", "iam", op, times=1) for op in (
            "GetAccountSummary", "ListSAMLProviders", "GetAccountAuthorizationDetails")),
        Fault("5xx", "access-analyzer", "GetFindingV2", partner),  # evidence only
        Fault("throttle", rate=0.1),
    ]
    with fault_proxy(sim.endpoint_url, faults, seed=7) as proxy, endpoint(proxy.endpoint_url):
        result = run_audit(AuditConfig(out_dir=tmp_path, simulated=True,
                                       endpoint_url=proxy.endpoint_url))
    assert result.accounts == len(simulated.ACCOUNTS)
    assert result.accounts_collected == len(simulated.ACCOUNTS) - 1
    with duckdb.connect(str(result.run_dir / "snapshot.duckdb"), read_only=True) as con:
        errors = con.execute("SELECT account_id, source, error_code FROM collection_errors "
                             "GROUP BY ALL ORDER BY ALL").fetchall()
        rows = set(con.execute("SELECT account_id, control_id, resource_id, status "
                               "FROM control_results").fetchall())
    assert errors == [(dev, "session", "AccessDenied"), (partner, DETAILS_SOURCE, "503")]
    assert len(proxy.faulted("5xx-plain")) == 3
    assert {r for r in rows if r[0] != dev} == {r for r in clean.results if r[0] != dev}
    assert (result.run_dir / "report.pdf").exists()


def test_an_account_that_failed_only_on_transient_errors_is_collected_again_by_the_flow(
    sim: SimulatedOrganization, clean: Run, tmp_path: Path, prefect_server: None,
) -> None:
    """Past botocore's three attempts a 5xx is recorded; the flow's collection task then runs
    again (Prefect retry with back-off), and the second try's clean result stands."""
    from flows.audit import run_audit

    (dev,) = ids(sim, "dev")
    faults = [Fault("5xx", "iam", "GetAccountSummary", dev, times=3)]  # every attempt of try one
    with fault_proxy(sim.endpoint_url, faults, seed=3) as proxy, endpoint(proxy.endpoint_url):
        result = run_audit(AuditConfig(out_dir=tmp_path, simulated=True, endpoint_url=proxy.endpoint_url,
                                       collect_retry_delay=0.1))
    summaries = [c for c in proxy.calls if c.operation == "GetAccountSummary" and c.account == dev]
    assert len(proxy.faulted("5xx")) == 3 and len(summaries) == 4
    assert result.accounts_collected == len(simulated.ACCOUNTS)
    with duckdb.connect(str(result.run_dir / "snapshot.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM collection_errors").fetchone() == (0,)
        rows = set(con.execute("SELECT account_id, control_id, resource_id, status "
                               "FROM control_results").fetchall())
    assert rows == set(clean.results)


# --- what a run that could not see everything is -------------------------------------------------


def test_a_run_that_collected_nothing_is_not_signed_and_exits_2(
    sim: SimulatedOrganization, tmp_path: Path, prefect_server: None,
) -> None:
    """The organization answers, then every account fails: nothing to audit, nothing signed."""
    from tests.demo_run import run_cli

    management = sim.account_ids["management"]
    faults = [Fault("deny", "sts", "AssumeRole"), Fault("deny", "iam", account=management)]
    with fault_proxy(sim.endpoint_url, faults) as proxy, endpoint(proxy.endpoint_url):
        code, output = run_cli("audit", "--out", str(tmp_path))
    flat = " ".join(output.split())
    assert code == 2, output
    assert f"no account could be collected ({len(simulated.ACCOUNTS)} of {len(simulated.ACCOUNTS)} " \
           "accounts failed" in flat and "nothing was validated or signed" in flat
    (partial,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert partial.name.endswith(".partial")
    assert (partial / "snapshot.duckdb").exists()  # kept for diagnosis
    assert not (partial / "manifest.json.p7s").exists() and not (partial / "report.pdf").exists()
    assert "Traceback" not in output


def test_an_incomplete_run_exits_3_and_is_compared_only_where_both_runs_saw(
    sim: SimulatedOrganization, tmp_path: Path, prefect_server: None,
) -> None:
    """The issue's case: AssumeRole denied in 4 of 5 accounts must not read as '78 resolved'."""
    from cli.main import EXIT_INCOMPLETE, print_summary
    from flows.audit import run_audit
    from reports.history import baseline_for, changes

    runs = tmp_path / "runs"
    with endpoint(sim.endpoint_url):
        first = run_audit(AuditConfig(out_dir=runs, simulated=True, endpoint_url=sim.endpoint_url))
    members = [i for n, i in sim.account_ids.items() if n != "management"]
    faults = [Fault("deny", "sts", "AssumeRole", account) for account in members]
    evidence_before = fingerprint(first.run_dir)
    with fault_proxy(sim.endpoint_url, faults) as proxy, endpoint(proxy.endpoint_url):
        second = run_audit(AuditConfig(out_dir=runs, simulated=True, endpoint_url=proxy.endpoint_url))
    assert fingerprint(first.run_dir) == evidence_before  # the earlier run is only read
    assert second.accounts_collected == 1 and (second.run_dir / "manifest.json.p7s").exists()
    assert print_summary(second.run_dir, 0.0) == EXIT_INCOMPLETE
    html = " ".join((second.run_dir / "report.html").read_text().split())
    assert f"INCOMPLETE RUN: {len(members)} of {len(simulated.ACCOUNTS)} accounts not collected" in html
    with duckdb.connect(str(second.run_dir / "snapshot.duckdb"), read_only=True) as con:
        found = changes(con, first.run_dir)
        unseen = set(con.execute("SELECT DISTINCT control_id, account_id FROM control_results "
                                 "WHERE status = 'error'").fetchall())
    with duckdb.connect(str(first.run_dir / "snapshot.duckdb"), read_only=True) as con:
        failed_then = con.execute("SELECT control_id, account_id FROM control_results "
                                  "WHERE status = 'fail'").fetchall()
    total = found.for_controls(list(found.controls))
    hidden = sum(1 for pair in failed_then if pair in unseen)
    assert hidden > 60 and {a for _, a in unseen} == set(members)
    assert total.resolved == 0 and total.new == 0  # nothing is resolved by not looking
    assert total.not_compared == hidden
    assert total.persisting == len(failed_then) - hidden  # the management account, SCP coverage
    # a later run is compared with the first run, which saw everything, not with the second
    assert baseline_for(runs / "29991231T000000Z.partial", first_org(first.run_dir)) == first.run_dir


def first_org(run_dir: Path) -> str:
    with duckdb.connect(str(run_dir / "snapshot.duckdb"), read_only=True) as con:
        return con.execute("SELECT organization_id FROM run").fetchone()[0]

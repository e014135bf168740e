"""The migration plan: the classification table, the generated policies (through rolecall's own
checks), and `rolecall plan` on the demo run."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from checks_fixtures import ACCOUNT, add_role, new_snapshot, set_organization
from typer.testing import CliRunner

from checks.validate import evaluate
from cli.main import app
from reports.migration import facts
from reports.migration.classify import RULES, Classification, classify
from reports.migration.facts import (
    EffectivePolicies,
    ExceptionFacts,
    KeyFacts,
    PolicyDocument,
    RunFacts,
    UserFacts,
)
from reports.migration.plan import GeneratedRole, TargetKind, make_plan, plan_user
from reports.migration.workload_host import Host, place
from store import snapshot
from tests.simulated_history import fingerprint

RUN_DATE = date(2026, 11, 28)
RUN = RunFacts(run_id="20261128T002654Z", run_date=RUN_DATE, unused_credential_days=90,
               key_age_days=90, boundaries_required=True)


NO_POLICIES = EffectivePolicies()


def ago(days: int) -> datetime:
    return datetime.combine(RUN_DATE - timedelta(days=days), time(12), UTC)


def key(used: int | None = 5, *, slot: int = 1, active: bool = True, rotated: int = 30,
        service: str | None = "s3", region: str | None = "eu-west-1") -> KeyFacts:
    return KeyFacts(slot, active, ago(rotated), None if used is None else ago(used),
                    service if used is not None else None, region if used is not None else None)


def user(name: str = "someone", *, console: bool = False, mfa: bool = False,
         signed_in: int | None = None, keys: tuple[KeyFacts, ...] = (), created: int = 400,
         exception: ExceptionFacts | None = None, tags: dict[str, str] | None = None,
         policies: EffectivePolicies = NO_POLICIES, account: str = ACCOUNT) -> UserFacts:
    return UserFacts(
        account_id=account, account_name="prod", ou_path="Root/Workloads/Prod", user_name=name,
        arn=f"arn:aws:iam::{account}:user/{name}", created=ago(created), tags=tags or {},
        groups=(), password_enabled=console,
        password_last_used=None if signed_in is None else ago(signed_in), mfa_active=mfa,
        keys=keys, exception=exception, policies=policies, github_provider=False)


EXCEPTION = ExceptionFacts("EXC-9", "external-dependency", "vendor SFTP", RUN_DATE + timedelta(60))
LIMIT = RUN.unused_credential_days

# (case, user, classification): each rule reached, and the order where two could match
CASES = [
    ("valid exception", user(keys=(key(),), exception=EXCEPTION), Classification.external_dependency),
    ("exception beats dormant", user(keys=(key(None),), exception=EXCEPTION),
     Classification.external_dependency),
    ("nothing usable", user(keys=(key(3, active=False),)), Classification.dormant),
    ("console never used", user(console=True, mfa=True), Classification.dormant),
    ("dormant beats both", user(console=True, keys=(key(LIMIT + 1),)), Classification.dormant),
    ("key used on the threshold day", user(keys=(key(LIMIT),)), Classification.workload),
    ("key used the day before it", user(keys=(key(LIMIT + 1),)), Classification.dormant),
    ("young user, key never used", user(keys=(key(None),), created=LIMIT), Classification.workload),
    ("user just past the grace", user(keys=(key(None),), created=LIMIT + 1), Classification.dormant),
    ("console and key", user(console=True, mfa=True, signed_in=2, keys=(key(),)), Classification.both),
    ("console, recent sign-in", user(console=True, mfa=True, signed_in=2), Classification.person),
    ("inactive key does not make both", user(console=True, signed_in=2, keys=(key(3, active=False),)),
     Classification.person),
    ("keys only", user(keys=(key(),)), Classification.workload),
]


@pytest.mark.parametrize(("case", "facts", "expected"), CASES, ids=[c[0] for c in CASES])
def test_classification_rule_table(case: str, facts: UserFacts, expected: Classification) -> None:
    assert classify(facts, RUN).classification is expected


def test_every_rule_is_reached_by_some_case() -> None:
    assert {c for _, _, c in CASES} == {r.classification for r in RULES}


def test_the_dormant_threshold_is_the_runs_own_setting() -> None:
    stricter = replace(RUN, unused_credential_days=45)
    used_60_days_ago = user(keys=(key(60),))
    assert classify(used_60_days_ago, RUN).classification is Classification.workload
    assert classify(used_60_days_ago, stricter).classification is Classification.dormant


def test_facts_read_the_threshold_the_run_recorded(tmp_path: Path) -> None:
    con = new_snapshot(tmp_path / "s.duckdb")
    con.execute("UPDATE run SET config = ?", [json.dumps({"settings": {"unused_credential_days": 45}})])
    assert facts.load(con).unused_credential_days == 45


PLACEMENTS = [
    ("host tag", user("batch", tags={"runs-on": "ECS Fargate"}), Host.ecs, False),
    ("name", user("eks-sync"), Host.eks, False),
    ("ci name", user("gha-deployer"), Host.github, False),
    ("repository tag", user("deployer", tags={"repository": "acme/app"}), Host.github, False),
    ("last called lambda", user("nightly", keys=(key(service="lambda"),)), Host.lambda_, True),
    ("last called ec2", user("agent", keys=(key(service="ec2"),)), Host.ec2, True),
    ("no sign", user("partner-feed", keys=(key(service="s3"),)), Host.outside_aws, True),
]


@pytest.mark.parametrize(("case", "facts", "host", "inferred"), PLACEMENTS,
                         ids=[p[0] for p in PLACEMENTS])
def test_workload_placement(case: str, facts: UserFacts, host: Host, inferred: bool) -> None:
    placement = place(facts)
    assert (placement.host, placement.inferred) == (host, inferred)


def _workloads() -> list[UserFacts]:
    """One workload (or both) per placement, with keys used, so each gets a role."""
    return [replace(p[1], keys=p[1].keys or (key(),)) for p in PLACEMENTS] + [
        user("ops-human", console=True, mfa=True, signed_in=1, keys=(key(),))]


def judge_roles(roles: tuple[GeneratedRole, ...], folder: Path) -> dict[str, dict[str, str]]:
    """Put the roles in a snapshot of a one-account organization and run the real validation
    (rules and their GX cross-check); {role ARN: {control: status}}."""
    con = new_snapshot(folder / "roles.duckdb", accounts=tuple({r.account_id for r in roles}))
    set_organization(con, management=roles[0].account_id)
    arns = {add_role(con, r.role_name, r.trust_policy, r.account_id,
                     boundary=r.permissions_boundary_arn) for r in roles}
    summary = evaluate(con, None, folder / "gx")
    assert summary.cross_checked, summary.errors
    judged: dict[str, dict[str, str]] = {arn: {} for arn in arns}
    for arn, control, status in con.execute(
            "SELECT resource_id, control_id, status FROM control_results "
            "WHERE resource_type = 'iam_role'").fetchall():
        judged[arn][control] = status
    return judged


def test_every_generated_trust_policy_passes_rolecalls_own_controls(tmp_path: Path) -> None:
    plan = make_plan(replace(RUN, users=tuple(_workloads())), RUN_DATE)
    assert {place(e.user).host for e in plan.entries} == set(Host)
    judged = judge_roles(plan.roles, tmp_path)
    assert len(judged) == len(plan.roles) == len(PLACEMENTS) + 1
    for arn, results in judged.items():
        assert results and set(results.values()) == {"pass"}, (arn, results)
        assert "RC-6.4" in results  # a boundary, as G6 asks
    trusts = {r.role_name: r.trust_policy for r in plan.roles}
    github = [a for a, r in judged.items() if "RC-5.1" in r]
    assert len(github) == 2 and all({"RC-5.1", "RC-5.2"} <= judged[a].keys() for a in github)
    services = [a for a, r in judged.items() if "RC-4.4" in r]
    assert len(services) == len(trusts) - 2  # every service trust is in RC-4.4's population


def test_github_trust_pins_one_repository_or_says_what_to_fill_in() -> None:
    known = plan_user(user("deployer", keys=(key(),), tags={"repo": "acme/app"}), RUN, RUN_DATE)
    unknown = plan_user(user("gha-deployer", keys=(key(),)), RUN, RUN_DATE)
    condition = known.roles[0].trust_policy["Statement"][0]["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == "repo:acme/app:ref:refs/heads/main"
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert "REPLACE-ORG/REPLACE-REPO" in json.dumps(unknown.roles[0].trust_policy)
    assert "repository is not known" in unknown.reason
    assert "repository is not known" not in known.reason


def test_an_ec2_role_says_to_check_the_source_account_condition() -> None:
    """EC2 may not send aws:SourceAccount when it assumes an instance-profile role: the plan
    keeps the condition (RC-4.4) and tells the reader what to confirm; Lambda's trust does not."""
    ec2 = plan_user(user("agent", keys=(key(service="ec2"),)), RUN, RUN_DATE)
    lambda_ = plan_user(user("nightly", keys=(key(service="lambda"),)), RUN, RUN_DATE)
    assert "Check: that ec2.amazonaws.com gets credentials" in ec2.reason
    assert "Check:" not in lambda_.reason


def test_person_gets_a_permission_set_from_effective_policies() -> None:
    managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    document = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ce:Get*", "Resource": "*"}]}
    policies = EffectivePolicies((managed,), (
        PolicyDocument("inline policy costs", document),
        PolicyDocument("group ops: managed policy deploy", {**document, "Statement": document[
            "Statement"][0]}),
        PolicyDocument("attached: managed policy gone", None)))
    entry = plan_user(user("ana", console=True, mfa=True, signed_in=1, policies=policies),
                      RUN, RUN_DATE)
    assert entry.target_kind is TargetKind.permission_set
    properties = json.loads(json.dumps(entry.permission_sets[0].properties()))
    assert properties["ManagedPolicies"] == [managed]
    sids = [s["Sid"] for s in properties["InlinePolicy"]["Statement"]]
    assert len(sids) == 2 and all(re.fullmatch(r"[A-Za-z0-9]+", s) for s in sids)
    assert "managed policy gone: document not in the snapshot" in entry.reason


def test_dormant_users_are_disabled_now_and_deleted_thirty_days_later() -> None:
    entry = plan_user(user(keys=(key(None),)), RUN, RUN_DATE)
    assert (entry.disable_on, entry.delete_on) == (RUN_DATE, RUN_DATE + timedelta(30))
    kept = plan_user(user(keys=(key(),), exception=EXCEPTION), RUN, RUN_DATE)
    assert kept.keep_until == EXCEPTION.expires and str(EXCEPTION.expires) in kept.reason


# --- rolecall plan on the demo run ----------------------------------------------------------------

def plan_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["plan", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def demo_plan(demo: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    before = fingerprint(demo.run_dir)
    out = tmp_path_factory.mktemp("plans") / "plan"
    code, output = plan_cli(str(demo.run_dir), "--out", str(out))
    assert code == 0, output
    assert fingerprint(demo.run_dir) == before  # the signed run is only read
    import csv

    return out, list(csv.DictReader((out / "plan.csv").open(encoding="utf-8")))


def test_every_simulated_user_has_a_classification_a_target_and_a_reason(
        demo: Any, demo_plan: tuple[Path, list[dict]]) -> None:
    _, rows = demo_plan
    users = {(a, u) for a, u in demo.query("SELECT account_id, user_name FROM iam_users")}
    assert {(r["account"], r["user"]) for r in rows} == users and len(rows) == len(users)
    for row in rows:
        assert all(row[c] for c in ("classification", "evidence", "target_kind", "target_name",
                                    "reason", "risk")), row


def test_demo_classifications_agree_with_the_snapshot_read_another_way(
        demo: Any, demo_plan: tuple[Path, list[dict]]) -> None:
    """Excepted: a valid register entry naming the user covers RC-1.1; dormant: SQL over the
    credential report with the run's own threshold."""
    _, rows = demo_plan
    got = {r["user"]: r["classification"] for r in rows}
    excepted = {u for (u,) in demo.query(
        "SELECT u.user_name FROM iam_users u JOIN exceptions e ON lower(e.principal) = lower(u.arn) "
        "WHERE e.valid AND list_contains(CAST(e.controls AS VARCHAR[]), 'RC-1.1')")}
    dormant = {u for (u,) in demo.query("""
        WITH limits AS (SELECT CAST(started_at AS DATE) AS today,
                               CAST(json_extract(config, '$.settings.unused_credential_days') AS INT)
                               AS days FROM run),
             keys AS (SELECT c.arn, c.password_enabled, c.user_creation_time,
                             c.password_last_used,
                             max(k.last_used_date) FILTER (WHERE k.active) AS key_use,
                             count(k.user_arn) FILTER (WHERE k.active) AS active_keys
                      FROM credential_report c LEFT JOIN iam_access_keys k ON k.user_arn = c.arn
                      GROUP BY ALL),
             uses AS (SELECT *, greatest(password_last_used, key_use) AS last_use FROM keys)
        SELECT u.user_name FROM iam_users u JOIN uses s ON s.arn = u.arn CROSS JOIN limits l
        WHERE (NOT s.password_enabled AND s.active_keys = 0)
           OR (CAST(s.user_creation_time AS DATE) < l.today - l.days
               AND (s.last_use IS NULL OR CAST(s.last_use AS DATE) < l.today - l.days))""")}
    assert excepted and dormant
    assert {u for u, c in got.items() if c == "external-dependency"} == excepted
    assert {u for u, c in got.items() if c == "dormant"} == dormant - excepted


def test_demo_plan_markdown_counts_and_json_blocks(demo_plan: tuple[Path, list[dict]]) -> None:
    out, rows = demo_plan
    text = (out / "plan.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)\n```", text, re.S)
    roles = [r for r in rows if "role" in r["target_kind"]]
    assert len(blocks) >= len(roles) > 0
    for block in blocks:
        json.loads(block)
    for kind in {r["target_kind"] for r in rows}:
        count = sum(r["target_kind"] == kind for r in rows)
        assert f"| {kind} | {count} |" in text
    order = [r["risk"] for r in rows]
    assert order == sorted(order, key=("high", "medium", "low").index)


def test_demo_plan_roles_pass_rolecalls_own_controls(demo: Any, tmp_path: Path) -> None:
    with snapshot.connect(demo.run_dir / "snapshot.duckdb", read_only=True) as con:
        run = facts.load(con)
    plan = make_plan(run, RUN_DATE)
    assert plan.roles
    for arn, results in judge_roles(plan.roles, tmp_path).items():
        assert results and set(results.values()) == {"pass"}, (arn, results)


def test_plan_files_appear_only_when_complete(demo: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from reports.migration import write

    def broken(plan: Any) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(write, "plan_markdown", broken)
    out = tmp_path / "plan"
    code, output = plan_cli(str(demo.run_dir), "--out", str(out))
    assert code == 2 and "disk full" in output
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no plan.csv, no partial left


def test_plan_refuses_to_write_inside_the_run_folder(demo: Any) -> None:
    before = fingerprint(demo.run_dir)
    code, output = plan_cli(str(demo.run_dir), "--out", str(demo.run_dir / "plan"))
    assert code == 2 and "signed" in output
    assert fingerprint(demo.run_dir) == before


def test_deep_plan_against_moto_says_which_users_lack_last_accessed_data(
        demo: Any, sim: Any, tmp_path: Path) -> None:
    """moto does not implement GenerateServiceLastAccessedDetails (it answers 500): the CLI path
    runs up to that call (AssumeRole with the audit role into the members, one job request per
    user), the plan still comes out, unnarrowed, and names every user that lacks deep data; the
    run folder is only read. The narrowing itself is tested with IAM's recorded response shapes
    (tests/test_migration_unused.py)."""
    before = fingerprint(demo.run_dir)
    out = tmp_path / "deep"
    code, output = plan_cli(str(demo.run_dir), "--out", str(out), "--deep", "--deep-budget", "6")
    assert code == 0, output
    assert fingerprint(demo.run_dir) == before
    text = (out / "plan.md").read_text(encoding="utf-8")
    (note,) = [line for line in text.splitlines() if line.startswith("--deep:")]
    assert "details for 0 of" in note and "GenerateServiceLastAccessedDetails: 500" in note
    assert "Skipped for the budget" in note  # 6 calls cannot cover every account's users
    assert "--deep got no last-accessed details" in text

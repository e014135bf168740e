"""The deployment kit (deploy/): least privilege measured, not asserted.

- The two policies grant exactly what the collectors are seen to call on the simulated
  organization (botocore event hooks on the flow's own collection tasks), per side: the
  management account (the runner role's session) and the member accounts (the audit role's).
- The templates are generated from those policies (deploy/build_templates.py) and embed them
  unchanged; cfn-lint finds nothing in them.
- The kit's trust and permission policies pass rolecall's own controls (G4-G6).
- The simulated organization's audit role is the kit's.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml
from checks_fixtures import ACCOUNT, OTHER, add_role, judge, new_snapshot, role_arn, run, set_organization

import flows.collect
from flows.audit import AuditConfig, CollectionPlan, collect, collect_org, discover
from flows.sources.session import base_session
from simulated import organization as simulated
from tests.simulated_iam import member_iam

KIT = Path(__file__).resolve().parents[1] / "deploy"
TEMPLATES = ("audit-role.yaml", "audit-role-stackset.yaml", "runner-role.yaml")
# The IAM action that authorizes an API operation, where it is not SERVICE:Operation. From the
# IAM Access Analyzer API reference: "ListFindings and ListFindingsV2 both use
# access-analyzer:ListFindings", and likewise GetFinding/GetFindingV2.
AUTHORIZED_BY = {
    "access-analyzer:ListFindingsV2": "access-analyzer:ListFindings",
    "access-analyzer:GetFindingV2": "access-analyzer:GetFinding",
}
# Declared for centralized root access (RC-1.4 from the organization's root-credentials
# management) while its collector is being written: the only action the management policy may
# grant before the collectors are seen to call it. Once they call it, it is recorded like any other.
DECLARED_AHEAD = {"management": {"iam:ListOrganizationsFeatures"}, "member": set[str]()}
# AWS: "No permissions are required to perform this operation", and an explicit Deny cannot stop
# it; granting it would only mislead a reviewer into thinking it could be taken away.
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}


def _build_templates() -> ModuleType:
    """deploy/build_templates.py, a script beside the kit rather than a rolecall module."""
    spec = importlib.util.spec_from_file_location("build_templates", KIT / "build_templates.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def policy(name: str) -> dict[str, Any]:
    return json.loads((KIT / name).read_text(encoding="utf-8"))


def granted(document: Mapping[str, Any]) -> dict[str, list[str]]:
    """Action -> the resources an Allow grants it on; the kit uses neither wildcards nor Deny."""
    grants: dict[str, list[str]] = {}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement, statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        for action in actions:
            assert "*" not in action and "?" not in action, f"{action}: least privilege names actions"
            grants.setdefault(action, []).extend(resources)
    return grants


def template(name: str) -> dict[str, Any]:
    """A template as data; the kit writes intrinsic functions in their long form (Fn::Sub)."""
    return yaml.safe_load((KIT / name).read_text(encoding="utf-8"))


def resolve(node: Any, values: Mapping[str, Any], conditions: Mapping[str, bool] | None = None) -> Any:
    """The template fragment with Ref, Fn::Sub, Fn::If and Fn::GetAtt filled in from `values`
    (parameters, pseudo parameters, and what a resource's Ref or attribute returns)."""
    conditions = conditions or {}
    if isinstance(node, list):
        return [resolve(v, values, conditions) for v in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return values[node["Ref"]]
    if set(node) == {"Fn::Sub"}:
        return re.sub(r"\$\{([\w:.]+)\}", lambda m: str(values[m.group(1)]), node["Fn::Sub"])
    if set(node) == {"Fn::GetAtt"}:
        return values[".".join(node["Fn::GetAtt"])]
    if set(node) == {"Fn::If"}:
        name, when_true, when_false = node["Fn::If"]
        return resolve(when_true if conditions[name] else when_false, values, conditions)
    return {k: resolve(v, values, conditions) for k, v in node.items()}


def defaults(tmpl: Mapping[str, Any], account: str, **given: Any) -> dict[str, Any]:
    """Parameter defaults, the given parameters, and the pseudo parameters of `account`."""
    values = {k: p["Default"] for k, p in tmpl["Parameters"].items() if "Default" in p}
    return {**values, "AWS::Partition": "aws", "AWS::AccountId": account, "AWS::Region": "us-east-1",
            **given}


def resources(tmpl: Mapping[str, Any]) -> dict[str, Any]:
    return tmpl["Resources"]


# --- the templates embed the policies --------------------------------------------------------


def test_the_checked_in_templates_are_what_the_policies_generate() -> None:
    assert _build_templates().stale() == [], "run .venv/bin/python deploy/build_templates.py"


def test_the_audit_role_template_grants_and_bounds_exactly_the_audit_policy() -> None:
    tmpl = template("audit-role.yaml")
    values = defaults(tmpl, "222222222222", RunnerAccountId="111111111111", ExternalId="x-1",
                      AuditBoundary="the boundary's ARN")
    role = resolve(resources(tmpl)["AuditRole"]["Properties"], values)
    (inline,) = role["Policies"]
    boundary = resolve(resources(tmpl)["AuditBoundary"]["Properties"], values)
    assert inline["PolicyDocument"] == boundary["PolicyDocument"] == policy("audit-role-policy.json")
    assert role["PermissionsBoundary"] == "the boundary's ARN"


@pytest.mark.parametrize("audit_role", ["rolecall-audit", "acme-audit"])
def test_the_runner_role_template_grants_and_bounds_exactly_the_management_policy(audit_role: str) -> None:
    tmpl = template("runner-role.yaml")
    values = defaults(tmpl, "111111111111", GitHubOrg="acme", GitHubRepo="infra", AuditRoleName=audit_role,
                      RunnerBoundary="the boundary's ARN", GitHubOidcProvider="the provider's ARN")
    role = resolve(resources(tmpl)["RunnerRole"]["Properties"], values, {"CreateGitHubOidcProvider": True})
    boundary = resolve(resources(tmpl)["RunnerBoundary"]["Properties"], values)
    expected = json.loads(json.dumps(policy("management-policy.json")).replace(
        ":role/rolecall-audit", f":role/{audit_role}"))
    (inline,) = role["Policies"]
    assert inline["PolicyDocument"] == boundary["PolicyDocument"] == expected
    assert granted(expected)["sts:AssumeRole"] == [f"arn:aws:iam::*:role/{audit_role}"]
    assert role["PermissionsBoundary"] == "the boundary's ARN"


def test_the_stackset_deploys_the_audit_role_template_to_the_organization_and_new_accounts() -> None:
    tmpl = template("audit-role-stackset.yaml")
    (stackset,) = resources(tmpl).values()
    props = stackset["Properties"]
    assert stackset["Type"] == "AWS::CloudFormation::StackSet"
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["AutoDeployment"]["Enabled"] is True
    assert "CAPABILITY_NAMED_IAM" in props["Capabilities"]
    assert props["TemplateBody"] == (KIT / "audit-role.yaml").read_text(encoding="utf-8")
    member = template("audit-role.yaml")
    passed = {p["ParameterKey"]: p["ParameterValue"] for p in props["Parameters"]}
    assert set(passed) == set(member["Parameters"]), "every parameter of the member template is set"
    assert passed["RunnerAccountId"] == {"Ref": "AWS::AccountId"}  # the management account's runner
    assert tmpl["Parameters"]["ExternalId"]["NoEcho"] is True
    assert member["Parameters"]["ExternalId"]["NoEcho"] is True


@pytest.mark.parametrize("name", TEMPLATES)
def test_cfn_lint_finds_nothing_in_the_template(name: str) -> None:
    from cfnlint.api import lint_file

    assert [str(m) for m in lint_file(KIT / name)] == []


def test_cfn_lint_would_find_an_action_iam_does_not_have(tmp_path: Path) -> None:
    """The lint above can fail: the action catalogue it checks names against is in use."""
    from cfnlint.api import lint_file

    broken = tmp_path / "broken.yaml"
    broken.write_text((KIT / "audit-role.yaml").read_text().replace(
        "access-analyzer:ListFindings\n", "access-analyzer:ListFindingsV2\n", 1))
    assert any("listfindingsv2" in str(m) for m in lint_file(broken))


# --- the example workflow ---------------------------------------------------------------------


def test_the_workflow_runs_monthly_with_the_runner_role_and_keeps_the_evidence_pack() -> None:
    workflow = yaml.safe_load((KIT / "github-workflow.yml").read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    (schedule,) = triggers["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert day.isdigit() and (month, weekday) == ("*", "*"), "once a month"
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"]["id-token"] == "write"
    (job,) = workflow["jobs"].values()
    assert "environment" not in job, "an environment changes the token's sub: the trust pins the branch"
    steps = {s.get("uses", s.get("name", "")).split("@")[0]: s for s in job["steps"]}
    credentials = steps["aws-actions/configure-aws-credentials"]["with"]
    runner_name = template("runner-role.yaml")["Parameters"]["RunnerRoleName"]["Default"]
    assert credentials["role-to-assume"].endswith(f":role/{runner_name}")
    audit = next(s for s in job["steps"] if "rolecall audit" in s.get("run", ""))
    assert audit["env"]["ROLECALL_EXTERNAL_ID"] == "${{ secrets.ROLECALL_EXTERNAL_ID }}"
    assert "--external-id" not in audit["run"], "the External ID stays out of the command line"
    out = re.search(r"--out (\S+)", audit["run"]).group(1)  # type: ignore[union-attr]
    upload = steps["actions/upload-artifact"]
    assert upload["if"] == "always()" and upload["with"]["path"].rstrip("/") == out


# --- the policies are what the collectors call --------------------------------------------------


@dataclass
class Recorder:
    """IAM actions the collectors called, per side, and the RoleArn of every AssumeRole."""

    actions: dict[str, set[str]] = field(default_factory=lambda: {"management": set(), "member": set()})
    assumed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self, events: Any, side: str) -> None:
        """Hook every client made from now on with these events (a session's, or one client's):
        botocore's before-parameter-build event comes once per API call (each page too) with the
        operation and its parameters."""

        def record(model: Any, params: Mapping[str, Any], **_: Any) -> None:
            action = f"{model.service_model.signing_name}:{model.name}"
            with self.lock:
                self.actions[side].add(AUTHORIZED_BY.get(action, action))
                if action == "sts:AssumeRole":
                    self.assumed.append(params["RoleArn"])

        events.register("before-parameter-build", record, unique_id=f"record-{side}")


LATE_USER = "created-after-the-report"


def _user_after_the_report(events: Any, side: str, iam: Callable[[], Any]) -> None:
    """A user created right after the credential report was generated, as happens in AWS when a
    report up to four hours old is reused: only ListAccessKeys can then describe its keys. moto
    writes a report when it is downloaded, AWS when it is generated: the user's line is taken out
    of the downloaded report, as AWS's would not have it."""
    created: list[str] = []

    def create(**_: Any) -> None:
        if created:  # the report is asked for again while it is being generated
            return
        client = iam()
        client.create_user(UserName=LATE_USER)
        client.create_access_key(UserName=LATE_USER)
        created.append(LATE_USER)

    def as_generated(parsed: dict[str, Any], **_: Any) -> None:
        lines = parsed["Content"].split(b"\n")
        parsed["Content"] = b"\n".join(line for line in lines
                                       if not line.startswith(LATE_USER.encode() + b","))

    events.register("after-call.iam.GenerateCredentialReport", create,
                    unique_id=f"late-user-{side}")
    events.register("after-call.iam.GetCredentialReport", as_generated,
                    unique_id=f"late-user-report-{side}")


@dataclass(frozen=True)
class WatchedMember:
    """A member account's session whose clients carry the member side's hooks. Its clients are
    made by the base session (flows.sources.session.AssumedSession) and so start with a copy of
    the management side's hooks, which are swapped here for the member's."""

    inner: Any
    hook: Callable[[Any], None]

    @property
    def region_name(self) -> str | None:
        return self.inner.region_name

    def client(self, service: str, **kwargs: Any) -> Any:
        client = self.inner.client(service, **kwargs)
        client.meta.events.unregister("before-parameter-build", unique_id="record-management")
        client.meta.events.unregister("after-call.iam.GenerateCredentialReport",
                                      unique_id="late-user-management")
        client.meta.events.unregister("after-call.iam.GetCredentialReport",
                                      unique_id="late-user-report-management")
        self.hook(client.meta.events)
        return client


@pytest.fixture(scope="module")
def recorded(sim: simulated.SimulatedOrganization, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Recorder, list[dict[str, Any]]]:
    """The flow's collection tasks (discover, collect_org, collect per account) with the default
    configuration, their calls recorded; returns the recorder and every collection error."""
    recorder = Recorder()
    names = {v: k for k, v in sim.account_ids.items()}
    # External access to a role of the management account too, so that the finding-details path
    # runs on that side as well (the seeded organization has such roles in members only).
    boto3.client("iam").create_role(RoleName="vendor-reads-management", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{simulated.EXTERNAL_ACCOUNT_ID}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": simulated.EXTERNAL_ID}}}]}))
    session = base_session()
    recorder.watch(session.events, "management")
    _user_after_the_report(session.events, "management", lambda: boto3.client("iam"))
    original = flows.collect.assume_role_session

    def assume(base: boto3.Session, account_id: str, *args: Any, **kwargs: Any) -> Any:
        member, response = original(base, account_id, *args, **kwargs)

        def hook(events: Any) -> None:
            recorder.watch(events, "member")
            _user_after_the_report(events, "member", lambda: member_iam(sim, names[account_id]))

        return WatchedMember(member, hook), response

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flows.collect, "assume_role_session", assume)
        config = CollectionPlan.of(AuditConfig(out_dir=tmp_path_factory.mktemp("runs")))
        organization, _ = discover.fn(session)
        org_data, _ = collect_org.fn(session, organization, config)
        errors = list(org_data.errors)
        for account in organization.accounts:
            data, _ = collect.fn(session, account, config)
            errors.extend(data.errors)
    return recorder, errors


def test_the_collection_saw_everything_so_the_record_is_complete(recorded: Any) -> None:
    recorder, errors = recorded
    ahead = {a.split(":")[1] for actions in DECLARED_AHEAD.values() for a in actions}
    assert [e for e in errors if e["operation"] not in ahead] == []
    assert recorder.actions["member"], "the member accounts were collected through the audit role"


@pytest.mark.parametrize(("side", "name"), [("management", "management-policy.json"),
                                            ("member", "audit-role-policy.json")])
def test_the_policy_grants_exactly_what_the_collectors_call(recorded: Any, side: str, name: str) -> None:
    recorder, _ = recorded
    called = recorder.actions[side] - NEEDS_NO_PERMISSION
    allowed = set(granted(policy(name)))
    assert not allowed & NEEDS_NO_PERMISSION
    missing = called - allowed
    never_called = allowed - called - DECLARED_AHEAD[side]
    assert not missing, f"{name} lacks {sorted(missing)}, which the collectors call"
    assert not never_called, f"{name} grants {sorted(never_called)}, which no collector calls"


def test_the_runner_may_assume_only_the_audit_role_and_assumes_nothing_else(recorded: Any) -> None:
    recorder, _ = recorded
    (resource,) = granted(policy("management-policy.json"))["sts:AssumeRole"]
    assert resource != "*"
    assert recorder.assumed, "member accounts were reached by AssumeRole"
    assert all(fnmatchcase(arn, resource) for arn in recorder.assumed), (resource, recorder.assumed)
    assert all(arn.endswith(f":role/{AuditConfig.model_fields['role_name'].default}")
               for arn in recorder.assumed)


# --- the simulated organization's audit role is the kit's ------------------------------------


def test_the_simulated_audit_role_is_the_kits(sim: simulated.SimulatedOrganization) -> None:
    tmpl = template("audit-role.yaml")
    for account, account_id in sim.account_ids.items():
        iam = boto3.client("iam") if account == "management" else member_iam(sim, account)
        values = defaults(tmpl, account_id, RunnerAccountId=simulated.MANAGEMENT_ACCOUNT_ID,
                          ExternalId=simulated.KIT_EXTERNAL_ID)
        boundary_name = resolve(resources(tmpl)["AuditBoundary"]["Properties"], values)["ManagedPolicyName"]
        values["AuditBoundary"] = f"arn:aws:iam::{account_id}:policy/{boundary_name}"
        props = resolve(resources(tmpl)["AuditRole"]["Properties"], values)
        role = iam.get_role(RoleName=props["RoleName"])["Role"]
        assert role["AssumeRolePolicyDocument"] == props["AssumeRolePolicyDocument"], account
        boundary_arn = role["PermissionsBoundary"]["PermissionsBoundaryArn"]
        assert boundary_arn == props["PermissionsBoundary"], account
        version = iam.get_policy(PolicyArn=boundary_arn)["Policy"]["DefaultVersionId"]
        bound = iam.get_policy_version(PolicyArn=boundary_arn, VersionId=version)["PolicyVersion"]
        (inline,) = props["Policies"]
        granted_inline = iam.get_role_policy(RoleName=props["RoleName"], PolicyName=inline["PolicyName"])
        assert bound["Document"] == granted_inline["PolicyDocument"] == policy("audit-role-policy.json")


# --- the kit's roles through rolecall's own controls -----------------------------------------

MANAGEMENT, MEMBER = ACCOUNT, OTHER
KIT_CONTROLS = ("RC-4.1", "RC-4.4", "RC-5.1", "RC-5.2", "RC-5.3", "RC-6.4")


def kit_roles(management: str, member: str) -> dict[str, tuple[str, dict[str, Any], str]]:
    """The runner role (management) and the audit role (member) as the templates create them:
    name -> (account, trust policy, permissions boundary ARN)."""
    runner_t, audit_t = template("runner-role.yaml"), template("audit-role.yaml")
    provider = f"arn:aws:iam::{management}:oidc-provider/token.actions.githubusercontent.com"
    runner_values = defaults(runner_t, management, GitHubOrg="acme", GitHubRepo="infra",
                             GitHubOidcProvider=provider)
    runner_values["RunnerBoundary"] = f"arn:aws:iam::{management}:policy/" + resolve(
        resources(runner_t)["RunnerBoundary"]["Properties"]["ManagedPolicyName"], runner_values)
    audit_values = defaults(audit_t, member, RunnerAccountId=management, ExternalId="kit-7c1e")
    audit_values["AuditBoundary"] = f"arn:aws:iam::{member}:policy/" + resolve(
        resources(audit_t)["AuditBoundary"]["Properties"]["ManagedPolicyName"], audit_values)
    runner = resolve(resources(runner_t)["RunnerRole"]["Properties"], runner_values,
                     {"CreateGitHubOidcProvider": True})
    audit = resolve(resources(audit_t)["AuditRole"]["Properties"], audit_values)
    return {
        runner["RoleName"]: (management, runner["AssumeRolePolicyDocument"], runner["PermissionsBoundary"]),
        audit["RoleName"]: (member, audit["AssumeRolePolicyDocument"], audit["PermissionsBoundary"]),
    }


def kit_results(con: Any) -> dict[tuple[str, str], str]:
    """(control, role name) -> status, for the kit's controls."""
    rows = con.execute(
        "SELECT control_id, resource_id, status FROM control_results WHERE list_contains(?, control_id)",
        [list(KIT_CONTROLS)]).fetchall()
    return {(c, arn.rsplit("/", 1)[1]): status for c, arn, status in rows}


def test_the_kit_roles_pass_rolecalls_own_controls(tmp_path: Path) -> None:
    """As deployed: the runner in the management account, the audit role in a member."""
    con = new_snapshot(tmp_path / "kit.duckdb", (MANAGEMENT, MEMBER))
    set_organization(con, MANAGEMENT)
    roles = kit_roles(MANAGEMENT, MEMBER)
    for name, (account, trust, boundary) in roles.items():
        add_role(con, name, trust, account, boundary=boundary)
    run(con, tmp_path)
    results = kit_results(con)
    assert {k: v for k, v in results.items() if v != "pass"} == {}
    runner, audit = roles
    for control in ("RC-5.1", "RC-5.2", "RC-6.4"):
        assert (control, runner) in results, f"the runner role is in {control}'s population"
    assert ("RC-6.4", audit) in results


def test_the_audit_role_passes_rc_4_1_even_if_the_runner_were_outside_the_organization(
        tmp_path: Path) -> None:
    """The strictest reading: the runner's account counted as external, so the External ID
    condition is what RC-4.1 judges; without it the same role fails (the check can fail)."""
    con = new_snapshot(tmp_path / "strict.duckdb", (MEMBER,))
    set_organization(con, MEMBER)
    (account, trust, boundary) = kit_roles(MANAGEMENT, MEMBER)["rolecall-audit"]
    add_role(con, "rolecall-audit", trust, account, boundary=boundary)
    unprotected = json.loads(json.dumps(trust))
    del unprotected["Statement"][0]["Condition"]
    add_role(con, "without-external-id", unprotected, account)
    run(con, tmp_path)
    results = kit_results(con)
    assert results[("RC-4.1", "rolecall-audit")] == "pass"
    assert results[("RC-6.4", "rolecall-audit")] == "pass"
    assert results[("RC-4.1", "without-external-id")] == "fail"
    assert results[("RC-6.4", "without-external-id")] == "fail"
    judge(con, "RC-4.1")  # the rule alone agrees with the rule under GX
    assert kit_results(con)[("RC-4.1", "rolecall-audit")] == "pass"
    assert role_arn("rolecall-audit", MEMBER) in {r for (r,) in con.execute(
        "SELECT resource_id FROM control_results WHERE control_id = 'RC-4.1'").fetchall()}

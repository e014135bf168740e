"""The built-in simulated organization: a moto server on 127.0.0.1 seeded with every G1-G6 case.

Everything is created through real boto3 calls against the moto server, and age is real age:
old users and keys are created, and keys are used, under a clock moved back with time-machine,
so the credential report that rolecall later downloads says what AWS would say. Ages are
relative to the moment of seeding, so verdicts do not drift as the calendar moves on.
The demo, `rolecall simulate` and the tests all use this one module.

moto has no IAM Access Analyzer: simulated/access_analyzer.py answers it in front of moto,
from moto's IAM state and the analyzers declared here (ANALYZERS, ARCHIVED_FINDINGS).
Every case (account, user, key, exception, role, SCP and Identity Center setup) says why it
exists and the verdict per control it was built to have; intended_verdicts() gathers them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import time_machine
import yaml
from moto.moto_api import _internal as moto_internal

from simulated.access_analyzer import AnalyzerSetup, AnalyzerSpec, LayeredMotoServer
from simulated.credential_report import report_last_use
from simulated.credentials import FAKE_CREDENTIALS as FAKE_CREDENTIALS  # re-exported

MANAGEMENT_ACCOUNT_ID = "123456789012"  # moto's default account: the caller's own account
REGION = "us-east-1"
SEED = 20261128
# The deployment kit (deploy/): every account's audit role is made from its policy, with its trust.
# Its files are read, not imported: simulated/ imports nothing of rolecall's.
KIT = Path(__file__).resolve().parents[1] / "deploy"
KIT_AUDIT_ROLE = "rolecall-audit"  # rolecall's default --role-name
KIT_RUNNER_ROLE = "rolecall-runner"
KIT_EXTERNAL_ID = "rolecall-demo"  # moto does not evaluate trust policies: never checked


# control -> the verdict a case was built to have: "pass", "fail" or "excepted"; "fail:high":
# with its severity. A control absent from a case's verdicts does not have it in its population.
Verdicts = Mapping[str, str]
# (control, account name, member) -> verdict; members are named as `intended_verdicts` says.
VerdictKey = tuple[str, str, str]


@dataclass(frozen=True)
class SimKey:
    """An access key: created `age_days` ago, last used `used_days_ago` ago (None: never).

    `verdicts`: RC-1.2, RC-1.3 of the key, and RC-3.2 of its UnusedIAMUserAccessKey finding.
    `used_with`: the service and region of that last use (what the credential report names).
    """

    age_days: int
    used_days_ago: int | None
    active: bool = True
    verdicts: Verdicts = field(default_factory=dict)
    used_with: tuple[str, str] = ("sts", REGION)


@dataclass(frozen=True)
class SimUser:
    """An IAM user; `verdicts`: RC-1.1, RC-2.x and RC-3.1 of the user, and RC-3.2 of its
    UnusedIAMUserPassword finding (its keys declare their own)."""

    account: str
    name: str
    console: bool = False
    mfa: bool = False
    keys: tuple[SimKey, ...] = ()
    age_days: int = 500
    why: str = ""
    verdicts: Verdicts = field(default_factory=dict)
    # What it may do, for a migration plan's permission sets: groups (GROUPS), managed policies
    # attached (AWS managed ARNs, or names of the account's MANAGED_POLICIES) and inline ones.
    groups: tuple[str, ...] = ()
    attached: tuple[str, ...] = ()
    inline: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


def _statement(actions: list[str], resource: str = "*") -> dict[str, Any]:
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}


READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ADMINISTRATOR = "arn:aws:iam::aws:policy/AdministratorAccess"
AWS_MANAGED_POLICIES = (READ_ONLY, ADMINISTRATOR)  # the ones the cases attach
# account -> customer managed policies (name -> document) created in it
MANAGED_POLICIES: dict[str, dict[str, dict[str, Any]]] = {
    "prod": {"deploy-app": _statement(["cloudformation:*", "s3:PutObject", "ecr:PutImage"]),
             "support-cases": _statement(["support:*"])},
}
# account -> groups: name -> (managed policies attached, inline policies)
GROUPS: dict[str, dict[str, tuple[tuple[str, ...], dict[str, dict[str, Any]]]]] = {
    "prod": {"developers": ((READ_ONLY, "support-cases"),
                            {"logs-insights": _statement(["logs:StartQuery", "logs:GetQueryResults"])})},
}


@dataclass(frozen=True)
class SimAccount:
    """An account; `root_verdicts` judge its root user (RC-1.4), `verdicts` the account itself
    (RC-4.3 and, for members only, as SCPs never govern the management account, RC-6.2/6.3)."""

    name: str
    ou_path: str  # "" for the management account, which stays under the root
    root_mfa: bool = True
    root_access_key: bool = False
    why: str = ""
    root_verdicts: Verdicts = field(default_factory=dict)
    verdicts: Verdicts = field(default_factory=dict)


ACCOUNTS: tuple[SimAccount, ...] = (
    SimAccount("management", "",
               why="root with MFA; an ACCOUNT analyzer and the organization's unused-access one",
               root_verdicts={"RC-1.4": "pass"}, verdicts={"RC-4.3": "pass"}),
    SimAccount("prod", "Workloads/Prod",
               why="an ACCOUNT analyzer; under Workloads, whose SCP enforces boundaries",
               root_verdicts={"RC-1.4": "pass"},
               verdicts={"RC-4.3": "pass", "RC-6.2": "pass", "RC-6.3": "pass"}),
    SimAccount("dev", "Workloads/Dev", root_mfa=False,
               why="root without MFA; no Access Analyzer at all",
               root_verdicts={"RC-1.4": "fail"},
               verdicts={"RC-4.3": "fail", "RC-6.2": "pass", "RC-6.3": "pass"}),
    SimAccount("partner-integrations", "Shared", root_access_key=True,
               why="root has an access key; under Shared, which no boundary SCP covers",
               root_verdicts={"RC-1.4": "fail"},
               verdicts={"RC-4.3": "pass", "RC-6.2": "pass", "RC-6.3": "fail"}),
    SimAccount("security", "Security",
               why="only an unused-access analyzer; its SCP requires boundaries on CreateRole "
                   "but lets them be deleted",
               root_verdicts={"RC-1.4": "pass"},
               verdicts={"RC-4.3": "fail", "RC-6.2": "pass", "RC-6.3": "fail"}),
)

USERS: tuple[SimUser, ...] = (
    SimUser("management", "break-glass-admin", console=True, mfa=True,
            why="break-glass console user with MFA, covered by a break-glass exception; "
                "its unused-password finding was archived", attached=(ADMINISTRATOR,),
            verdicts={"RC-1.1": "excepted", "RC-2.1": "excepted", "RC-2.2": "pass",
                      "RC-3.1": "pass", "RC-3.2": "pass"}),
    SimUser("prod", "alice", console=True, mfa=False,
            why="console user without MFA, password never used", groups=("developers",),
            verdicts={"RC-1.1": "fail", "RC-2.1": "fail", "RC-2.2": "fail", "RC-3.1": "pass",
                      "RC-3.2": "fail"}),
    SimUser("prod", "bob", console=True, mfa=True,
            why="console user with MFA, password never used", groups=("developers",),
            inline={"cost-explorer": _statement(["ce:Get*"])},
            verdicts={"RC-1.1": "fail", "RC-2.1": "fail", "RC-2.2": "pass", "RC-3.1": "pass",
                      "RC-3.2": "fail"}),
    SimUser("prod", "svc-ci-deployer",
            keys=(SimKey(age_days=20, used_days_ago=1, verdicts={"RC-1.2": "pass", "RC-1.3": "pass"},
                         used_with=("cloudformation", REGION)),),
            why="programmatic service user, key rotated recently and used yesterday",
            attached=("deploy-app",),
            verdicts={"RC-1.1": "fail", "RC-2.1": "pass", "RC-3.1": "fail"}),
    SimUser("prod", "svc-backup",
            keys=(SimKey(age_days=400, used_days_ago=2, verdicts={"RC-1.2": "fail", "RC-1.3": "pass"},
                         used_with=("ec2", "eu-west-1")),
                  SimKey(age_days=5, used_days_ago=None,
                         verdicts={"RC-1.2": "pass", "RC-1.3": "fail", "RC-3.2": "fail"})),
            why="two keys: one 400 days old but used, one new and never used",
            tags={"runs-on": "ec2"},
            inline={"backup-writer": _statement(["s3:PutObject", "ec2:CreateSnapshot"])},
            verdicts={"RC-1.1": "fail", "RC-2.1": "pass", "RC-3.1": "fail"}),
    SimUser("dev", "svc-legacy-etl",
            keys=(SimKey(age_days=200, used_days_ago=150,
                         verdicts={"RC-1.2": "fail", "RC-1.3": "fail", "RC-3.2": "fail"}),),
            why="key older than 90 days, last used 150 days ago",
            verdicts={"RC-1.1": "fail", "RC-2.1": "pass", "RC-3.1": "fail"}),
    SimUser("dev", "svc-unused",
            keys=(SimKey(age_days=10, used_days_ago=None,
                         verdicts={"RC-1.2": "pass", "RC-1.3": "fail", "RC-3.2": "fail"}),),
            why="active key never used",
            verdicts={"RC-1.1": "fail", "RC-2.1": "pass", "RC-3.1": "fail"}),
    SimUser("dev", "svc-retired",
            keys=(SimKey(age_days=300, used_days_ago=None, active=False, verdicts={"RC-1.2": "pass"}),),
            why="only an inactive old key (out of RC-1.3 and of the unused-access analyzer)",
            verdicts={"RC-1.1": "fail", "RC-2.1": "pass", "RC-3.1": "pass"}),
    SimUser("partner-integrations", "svc-vendor-sftp",
            keys=(SimKey(age_days=30, used_days_ago=3, verdicts={"RC-1.2": "pass", "RC-1.3": "pass"}),),
            why="vendor needs static keys; covered by a valid external-dependency exception",
            verdicts={"RC-1.1": "excepted", "RC-2.1": "pass", "RC-3.1": "excepted"}),
    SimUser("partner-integrations", "svc-old-integration",
            keys=(SimKey(age_days=60, used_days_ago=10, verdicts={"RC-1.2": "pass", "RC-1.3": "pass"},
                         used_with=("s3", REGION)),),
            why="covered by an exception that has expired",
            verdicts={"RC-1.1": "fail", "RC-2.1": "pass", "RC-3.1": "fail"}),
    SimUser("partner-integrations", "svc-report-export",
            keys=(SimKey(age_days=45, used_days_ago=7, verdicts={"RC-1.2": "pass", "RC-1.3": "pass"},
                         used_with=("lambda", "eu-central-1")),),
            why="named by an exception that is missing its owner",
            verdicts={"RC-1.1": "fail", "RC-2.1": "pass", "RC-3.1": "fail"}),
)


@dataclass(frozen=True)
class SimException:
    """An entry of the demo's exceptions register (demo_register); `verdicts` is RC-1.5's of it.

    Dates are relative to seeding: approved `approved_days_ago`, expiring in `expires_in_days`.
    """

    id: str
    account: str
    user: str
    controls: tuple[str, ...]
    kind: str
    dependency: str
    reason: str
    owner: str
    approved_by: str
    approved_days_ago: int
    expires_in_days: int
    why: str
    verdicts: Verdicts = field(default_factory=dict)


EXCEPTIONS: tuple[SimException, ...] = (
    SimException("EXC-001", "management", "break-glass-admin", ("RC-1.1", "RC-2.1"), "break-glass",
                 "Emergency access when IAM Identity Center is unavailable",
                 "Break-glass console user, credentials in the safe, MFA enforced",
                 "cloud-platform@example.com", "CISO", 60, 120,
                 why="valid break-glass entry", verdicts={"RC-1.5": "pass"}),
    SimException("EXC-002", "partner-integrations", "svc-vendor-sftp", ("RC-1.1", "RC-3.1"),
                 "external-dependency", "Acme SFTP gateway only accepts static AWS access keys",
                 "Vendor has no support for role assumption; migration planned",
                 "integrations@example.com", "Head of Security", 30, 150,
                 why="valid external-dependency entry", verdicts={"RC-1.5": "pass"}),
    SimException("EXC-003", "partner-integrations", "svc-old-integration", ("RC-1.1", "RC-3.1"),
                 "external-dependency", "Legacy reporting tool of a former partner",
                 "Partner contract ended; exception was not renewed",
                 "integrations@example.com", "Head of Security", 200, -10,
                 why="expired ten days ago", verdicts={"RC-1.5": "fail"}),
    SimException("EXC-004", "partner-integrations", "svc-report-export", ("RC-1.1", "RC-3.1"),
                 "external-dependency", "Finance export job run by an external bookkeeper",
                 "Bookkeeper's tool needs static keys", "", "Head of Security", 20, 90,
                 why="no owner", verdicts={"RC-1.5": "fail"}),
    SimException("EXC-005", "dev", "svc-deleted-last-month", ("RC-1.1",), "external-dependency",
                 "Old CI server",
                 "CI server was decommissioned; the user is gone but the entry remains",
                 "dev-team@example.com", "Head of Security", 90, 90,
                 why="names a user that no longer exists: a stale entry, low severity",
                 verdicts={"RC-1.5": "fail:low"}),
)


# --- G4-G6: roles, OIDC providers, SCPs, analyzers, Identity Center ---------------------------

EXTERNAL_ACCOUNT_ID = "999988887777"  # a vendor's account, outside the organization
CONTRACTOR_ACCOUNT_ID = "111122223333"  # a contractor's account, outside the organization
GITHUB = "token.actions.githubusercontent.com"
GITHUB_ENTERPRISE = "token.actions.githubusercontent.com/acme-corp"
GITLAB = "gitlab.com"
TERRAFORM_CLOUD = "app.terraform.io"
# account name -> OIDC provider issuers created in it
OIDC_PROVIDERS: dict[str, tuple[str, ...]] = {
    "prod": (GITHUB, GITLAB, TERRAFORM_CLOUD),
    "security": (GITHUB_ENTERPRISE,),
}
BOUNDARY_POLICY = "RoleBoundary"


@dataclass(frozen=True)
class Facts:
    """What a trust policy may need to name: the organization, its accounts, the role's own."""

    organization_id: str
    account_ids: Mapping[str, str]
    own: str

    def provider(self, issuer: str) -> str:
        return f"arn:aws:iam::{self.own}:oidc-provider/{issuer}"


Trust = Callable[[Facts], dict[str, Any]]


@dataclass(frozen=True)
class SimRole:
    """A role; `verdicts` is what each control was built to say of it ("fail:high": with severity).

    Controls absent from `verdicts` do not have the role in their population, except RC-6.4,
    whose verdict follows from `boundary` (every role not under /aws-service-role/).
    """

    account: str
    name: str
    trust: Trust
    why: str
    verdicts: Mapping[str, str] = field(default_factory=dict)
    boundary: bool = False
    age_days: int = 0


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(principal: dict[str, Any], condition: dict[str, Any] | None = None,
           action: str = "sts:AssumeRole") -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return statement


def _vendor(condition: dict[str, Any] | None = None, principal: Any = None) -> Trust:
    """Trust in the vendor's account (outside the organization)."""
    principal = principal or f"arn:aws:iam::{EXTERNAL_ACCOUNT_ID}:root"
    return lambda f: _doc(_allow({"AWS": principal}, condition))


def _github(condition: dict[str, Any] | None, issuer: str = GITHUB) -> Trust:
    return lambda f: _doc(_allow({"Federated": f.provider(issuer)}, condition,
                                 "sts:AssumeRoleWithWebIdentity"))


def _service(service: str, condition: Callable[[Facts], dict[str, Any]] | None = None) -> Trust:
    return lambda f: _doc(_allow({"Service": service}, condition(f) if condition else None))


AUD = {f"{GITHUB}:aud": "sts.amazonaws.com"}
MAIN = "repo:acme/app:ref:refs/heads/main"
EXTERNAL_ID = "acme-7f3b2c"

ROLES: tuple[SimRole, ...] = (
    # G4: partner-integrations has an ACCOUNT analyzer, so each role trusting a principal
    # outside the account has an ExternalAccess finding (RC-4.2's population).
    SimRole("partner-integrations", "vendor-acme-externalid",
            _vendor({"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}),
            "vendor account trusted with an ExternalId (StringEquals)",
            {"RC-4.1": "pass", "RC-4.2": "pass"}, boundary=True),
    SimRole("partner-integrations", "vendor-globex-no-externalid",
            _vendor(principal=f"arn:aws:iam::{EXTERNAL_ACCOUNT_ID}:role/globex-sync"),
            "a role of the vendor's account trusted with no condition",
            {"RC-4.1": "fail:high", "RC-4.2": "fail:high"}),
    SimRole("partner-integrations", "public-any-principal",
            lambda f: _doc(_allow({"AWS": "*"})),
            "Principal {AWS: *} with no condition: anyone in any account",
            {"RC-4.1": "fail:critical", "RC-4.2": "fail:high"}),
    SimRole("partner-integrations", "org-any-principal-pinned",
            lambda f: _doc(_allow({"AWS": "*"},
                                  {"StringEquals": {"aws:PrincipalOrgID": f.organization_id}})),
            "Principal * pinned to the organization with aws:PrincipalOrgID: internal; the "
            "account analyzer still reports it (its zone of trust is the account)",
            {"RC-4.2": "pass"}, boundary=True),
    SimRole("partner-integrations", "vendor-bare-account-id",
            _vendor(principal=EXTERNAL_ACCOUNT_ID),
            "vendor trusted as a bare account id, no ExternalId; its finding was archived",
            {"RC-4.1": "fail:high", "RC-4.2": "pass"}),
    SimRole("partner-integrations", "vendor-externalid-wildcard",
            _vendor({"StringLike": {"sts:ExternalId": "acme-*"}},
                    principal=[f"arn:aws:iam::{EXTERNAL_ACCOUNT_ID}:root"]),
            "ExternalId tested with StringLike and a wildcard: any id starting acme- works",
            {"RC-4.1": "fail:high", "RC-4.2": "fail:high"}),
    SimRole("partner-integrations", "vendor-externalid-ifexists",
            _vendor({"StringEqualsIfExists": {"sts:ExternalId": EXTERNAL_ID}}),
            "ExternalId tested with StringEqualsIfExists: true when no ExternalId is sent",
            {"RC-4.1": "fail:high", "RC-4.2": "fail:high"}),
    SimRole("partner-integrations", "vendor-externalid-stringlike-exact",
            _vendor({"StringLike": {"sts:ExternalId": EXTERNAL_ID}}),
            "ExternalId tested with StringLike but no wildcard in the value",
            {"RC-4.1": "pass", "RC-4.2": "pass"}, boundary=True),
    SimRole("partner-integrations", "cross-account-from-prod",
            lambda f: _doc(_allow({"AWS": f"arn:aws:iam::{f.account_ids['prod']}:role/deployer"})),
            "trusts a role of another account of the organization: not external",
            {"RC-4.2": "pass"}),
    SimRole("partner-integrations", "ec2-no-source-account", _service("ec2.amazonaws.com"),
            "service role without aws:SourceAccount/aws:SourceArn (confused deputy)",
            {"RC-4.4": "fail:low"}),
    SimRole("partner-integrations", "events-with-source-arn",
            _service("events.amazonaws.com", lambda f: {"ArnLike": {
                "aws:SourceArn": f"arn:aws:events:{REGION}:{f.own}:rule/nightly"}}),
            "service role pinned with aws:SourceArn", {"RC-4.4": "pass"}, boundary=True),
    SimRole("partner-integrations", "sns-lowercase-source-account",
            _service("sns.amazonaws.com",
                     lambda f: {"StringEquals": {"aws:sourceaccount": f.own}}),
            "service role pinned with aws:SourceAccount written in lower case",
            {"RC-4.4": "pass"}, boundary=True),
    # dev has no analyzer at all (RC-4.3 fails): its external role has no finding.
    SimRole("dev", "contractor-no-externalid",
            lambda f: _doc(_allow({"AWS": f"arn:aws:iam::{CONTRACTOR_ACCOUNT_ID}:root"})),
            "contractor account trusted without ExternalId, in an account no analyzer covers",
            {"RC-4.1": "fail:high"}, boundary=True),
    SimRole("dev", "legacy-batch",
            _service("ec2.amazonaws.com",
                     lambda f: {"StringEquals": {"aws:SourceAccount": f.own}}),
            "created 200 days ago and never used: an ACTIVE UnusedIAMRole finding",
            {"RC-3.2": "fail", "RC-4.4": "pass"}, age_days=200),
    SimRole("prod", "old-reporting",
            _service("ec2.amazonaws.com",
                     lambda f: {"StringEquals": {"aws:SourceAccount": f.own}}),
            "created 120 days ago and never used; its UnusedIAMRole finding was archived",
            {"RC-3.2": "pass", "RC-4.4": "pass"}, age_days=120),
    # G5: GitHub Actions, GitLab and Terraform Cloud OIDC providers live in prod.
    SimRole("prod", "gha-deploy-main",
            _github({"StringEquals": {f"{GITHUB}:sub": MAIN, **AUD}}),
            "one repository and branch, aud sts.amazonaws.com",
            {"RC-5.1": "pass", "RC-5.2": "pass"}, boundary=True),
    SimRole("prod", "gha-org-wide",
            _github({"StringLike": {f"{GITHUB}:sub": "repo:acme/*"}, "StringEquals": AUD}),
            "any repository of the GitHub organization",
            {"RC-5.1": "fail:high", "RC-5.2": "pass"}),
    SimRole("prod", "gha-any-repo",
            _github({"StringLike": {f"{GITHUB}:sub": "repo:*"}, "StringEquals": AUD}),
            "any repository of any GitHub organization",
            {"RC-5.1": "fail:critical", "RC-5.2": "pass"}),
    SimRole("prod", "gha-no-sub", _github({"StringEquals": AUD}),
            "aud only, no sub condition: any GitHub workflow",
            {"RC-5.1": "fail:critical", "RC-5.2": "pass"}),
    SimRole("prod", "gha-two-statements",
            lambda f: _doc(
                _allow({"Federated": f.provider(GITHUB)},
                       {"StringEquals": {f"{GITHUB}:sub": MAIN, **AUD}},
                       "sts:AssumeRoleWithWebIdentity"),
                _allow({"Federated": f.provider(GITHUB)}, None, "sts:AssumeRoleWithWebIdentity"),
            ),
            "a restricted statement defeated by a second one without conditions",
            {"RC-5.1": "fail:critical", "RC-5.2": "fail"}),
    SimRole("prod", "gha-no-aud", _github({"StringEquals": {f"{GITHUB}:sub": MAIN}}),
            "sub restricted but no aud condition", {"RC-5.1": "pass", "RC-5.2": "fail"}),
    SimRole("prod", "gha-forallvalues-sub",
            _github({"ForAllValues:StringLike": {f"{GITHUB}:sub": "repo:acme/app:*"},
                     "StringEquals": AUD}),
            "sub tested with ForAllValues: (true when the key is absent); its values pin "
            "one repository", {"RC-5.1": "pass", "RC-5.2": "fail"}),
    SimRole("prod", "gha-mixed-case-keys",
            _github({"StringEquals": {"Token.Actions.GitHubUserContent.com:Sub": MAIN,
                                      "TOKEN.ACTIONS.GITHUBUSERCONTENT.COM:AUD":
                                          "sts.amazonaws.com"}}),
            "condition keys in mixed case (IAM compares keys case-insensitively)",
            {"RC-5.1": "pass", "RC-5.2": "pass"}, boundary=True),
    SimRole("prod", "gitlab-no-sub",
            lambda f: _doc(_allow({"Federated": f.provider(GITLAB)},
                                  {"StringEquals": {f"{GITLAB}:aud": "https://gitlab.com"}},
                                  "sts:AssumeRoleWithWebIdentity")),
            "GitLab OIDC with aud only: any GitLab project", {"RC-5.3": "fail:high"}),
    SimRole("prod", "tfc-workspace",
            lambda f: _doc(_allow(
                {"Federated": f.provider(TERRAFORM_CLOUD)},
                {"StringEquals": {f"{TERRAFORM_CLOUD}:aud": "aws.workload.identity"},
                 "StringLike": {f"{TERRAFORM_CLOUD}:sub":
                                "organization:acme:project:infra:workspace:prod:run_phase:*"}},
                "sts:AssumeRoleWithWebIdentity")),
            "Terraform Cloud OIDC restricted on app.terraform.io:sub",
            {"RC-5.3": "pass"}, boundary=True),
    SimRole("security", "gha-enterprise-infra",
            _github({"StringEquals": {
                f"{GITHUB_ENTERPRISE}:sub": "repo:acme/infra:environment:prod",
                f"{GITHUB_ENTERPRISE}:aud": "sts.amazonaws.com"}}, issuer=GITHUB_ENTERPRISE),
            "GitHub enterprise issuer, its own :sub and :aud keys, one repository",
            {"RC-5.1": "pass", "RC-5.2": "pass"}, boundary=True),
    SimRole("security", "gha-enterprise-immutable",
            _github({"StringEquals": {
                f"{GITHUB_ENTERPRISE}:sub": "repo:acme@1234567/infra@7654321:ref:refs/heads/main",
                f"{GITHUB_ENTERPRISE}:aud": "sts.amazonaws.com"}}, issuer=GITHUB_ENTERPRISE),
            "immutable subject form repo:ORG@ID/REPO@ID", {"RC-5.1": "pass", "RC-5.2": "pass"}),
    # G6 / G4: the management account's break-glass role, exempted by the root SCP.
    SimRole("management", "BreakGlassAdmin",
            lambda f: _doc(_allow({"AWS": f"arn:aws:iam::{f.own}:root"},
                                  {"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
            "break-glass admin role named in the root SCP's exemption"),
)

# A service-linked role (path /aws-service-role/): out of RC-6.4's population.
SERVICE_LINKED = ("prod", "elasticloadbalancing.amazonaws.com")


@dataclass(frozen=True)
class SeededRole:
    """A role seeding puts in accounts as plumbing, not as a case; `verdicts` by account name,
    for every account that has it."""

    name: str
    why: str
    verdicts: Mapping[str, Verdicts]


# Both seeded roles trust the management account (the audit role: its runner role), so the
# ACCOUNT analyzers of prod and partner-integrations report them (ExternalAccess); as neither
# fails RC-4.1 (the management account is inside the organization), those findings pass RC-4.2.
# The kit's audit role has its permissions boundary (RC-6.4 passes); Organizations' role has none.
_BOUNDED: Verdicts = {"RC-6.4": "pass"}
_BOUNDED_REPORTED: Verdicts = {"RC-4.2": "pass", "RC-6.4": "pass"}
_UNBOUNDED: Verdicts = {"RC-6.4": "fail"}
_UNBOUNDED_REPORTED: Verdicts = {"RC-4.2": "pass", "RC-6.4": "fail"}
SEEDED_ROLES: tuple[SeededRole, ...] = (
    SeededRole(KIT_AUDIT_ROLE, "the kit's audit role rolecall assumes (deploy/audit-role.yaml), "
               "in every account (_create_roles)",
               {"management": _BOUNDED, "prod": _BOUNDED_REPORTED, "dev": _BOUNDED,
                "partner-integrations": _BOUNDED_REPORTED, "security": _BOUNDED}),
    SeededRole("OrganizationAccountAccessRole",
               "created by Organizations in every member account (create_account)",
               {"prod": _UNBOUNDED_REPORTED, "dev": _UNBOUNDED,
                "partner-integrations": _UNBOUNDED_REPORTED, "security": _UNBOUNDED}),
)


@dataclass(frozen=True)
class SimScp:
    name: str
    targets: tuple[str, ...]  # "root", an OU path ("Workloads") or an account name
    document: dict[str, Any]
    why: str


SCPS: tuple[SimScp, ...] = (
    SimScp("DenyIAMUserCreation", ("root",), _doc({
        "Sid": "NoIAMUsersOrKeys", "Effect": "Deny",
        "Action": ["iam:CreateUser", "iam:CreateAccessKey"], "Resource": "*",
        "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/BreakGlassAdmin"}},
    }), "RC-6.2 for every member account, with an admin-role exemption"),
    SimScp("RequireRoleBoundaries", ("Workloads",), _doc(
        {"Sid": "CreateRoleNeedsBoundary", "Effect": "Deny", "Action": "iam:CreateRole",
         "Resource": "*", "Condition": {"Null": {"iam:PermissionsBoundary": "true"}}},
        {"Sid": "KeepBoundaries", "Effect": "Deny", "Action": "iam:DeleteRolePermissions*",
         "Resource": "*"},
    ), "RC-6.3 for the accounts under Workloads (prod, dev); the delete is a wildcard"),
    SimScp("SecurityCreateRoleBoundaryOnly", ("Security",), _doc(
        {"Sid": "CreateRoleNeedsBoundary", "Effect": "Deny", "Action": "iam:CreateRole",
         "Resource": "*", "Condition": {"Null": {"iam:PermissionsBoundary": "true"}}},
    ), "half of RC-6.3 only: boundaries can still be deleted, so security fails RC-6.3"),
    SimScp("RequireRoleBoundaries-draft", (), _doc(
        {"Effect": "Deny", "Action": "iam:CreateRole", "Resource": "*",
         "Condition": {"Null": {"iam:PermissionsBoundary": "true"}}},
        {"Effect": "Deny", "Action": "iam:DeleteRolePermissionsBoundary", "Resource": "*"},
    ), "would satisfy RC-6.3 but is attached nowhere: covers no account"),
)
# The organization's verdict: SCPs are enabled on the root (_create_scps), so RC-6.1 passes.
SCP_VERDICTS: Verdicts = {"RC-6.1": "pass"}

# Access Analyzer: (account name, analyzer name, type). An ORGANIZATION analyzer would cover
# every account (RC-4.3), so external access is analysed per account, and dev (none) and
# security (an unused-access analyzer only) are left uncovered on purpose.
ANALYZERS: tuple[tuple[str, str, str], ...] = (
    ("management", "mgmt-external-access", "ACCOUNT"),
    ("management", "org-unused-access", "ORGANIZATION_UNUSED_ACCESS"),
    ("prod", "prod-external-access", "ACCOUNT"),
    ("partner-integrations", "partner-external-access", "ACCOUNT"),
    ("security", "security-unused-access", "ACCOUNT_UNUSED_ACCESS"),
)
# Findings an archive rule archived: (analyzer, finding type, account name, "user/x" | "role/x")
ARCHIVED_FINDINGS: tuple[tuple[str, str, str, str], ...] = (
    ("org-unused-access", "UnusedIAMUserPassword", "management", "user/break-glass-admin"),
    ("org-unused-access", "UnusedIAMRole", "prod", "role/old-reporting"),
    ("partner-external-access", "ExternalAccess", "partner-integrations",
     "role/vendor-bare-account-id"),
)
# Identity Center: one permission set, assigned to prod, so the organization passes RC-2.3.
PERMISSION_SET = ("ReadOnly", "PT4H", "prod")
IDENTITY_CENTER_VERDICTS: Verdicts = {"RC-2.3": "pass"}
# The finding a control judges, for the verdicts a user, key or role declares of its finding.
FINDING_TYPES: dict[tuple[str, str], str] = {
    ("user", "RC-3.2"): "UnusedIAMUserPassword",
    ("key", "RC-3.2"): "UnusedIAMUserAccessKey",
    ("role", "RC-3.2"): "UnusedIAMRole",
    ("role", "RC-4.2"): "ExternalAccess",
}


@dataclass
class SimulatedOrganization:
    """Facts known by construction, for the demo's exceptions register and for tests."""

    endpoint_url: str
    seeded_at: datetime
    organization_id: str
    account_ids: dict[str, str] = field(default_factory=dict)  # name -> id
    root_id: str = ""
    ou_ids: dict[str, str] = field(default_factory=dict)  # OU path ("Workloads/Prod") -> id
    scp_ids: dict[str, str] = field(default_factory=dict)  # SCP name -> policy id
    analyzer_setup: AnalyzerSetup | None = None
    instance_arn: str = ""
    permission_set_arn: str = ""

    def user_arn(self, account: str, user: str) -> str:
        return f"arn:aws:iam::{self.account_ids[account]}:user/{user}"

    def role_arn(self, account: str, role: str) -> str:
        return f"arn:aws:iam::{self.account_ids[account]}:role/{role}"

    def analyzer_arn(self, name: str) -> str:
        assert self.analyzer_setup is not None
        spec = next(a for a in self.analyzer_setup.analyzers if a.name == name)
        return self.analyzer_setup.arn(spec)

    def service_linked_role_arn(self) -> str:
        account, service = SERVICE_LINKED
        name = f"AWSServiceRoleFor{service.split('.')[0]}"
        return f"arn:aws:iam::{self.account_ids[account]}:role/aws-service-role/{service}/{name}"

    def intended_role_verdicts(self) -> dict[tuple[str, str], str]:
        """(control, role ARN) -> "pass" / "fail" / "fail:SEVERITY", for every role of ROLES.

        RC-6.4 is included for every role of ROLES (its boundary); the roles seeding adds to
        every account (rolecall-audit, OrganizationAccountAccessRole) are not listed here.
        """
        verdicts = {}
        for role in ROLES:
            arn = self.role_arn(role.account, role.name)
            for control, verdict in role.verdicts.items():
                verdicts[(control, arn)] = verdict
            verdicts[("RC-6.4", arn)] = "pass" if role.boundary else "fail"
        return verdicts


def intended_verdicts() -> dict[VerdictKey, str]:
    """Every control result an audit of the simulated organization should hold, gathered from
    where each case is built: (control, account name, member) -> verdict.

    Members are named: a user ("alice"), a key by its place among its user's keys
    ("svc-backup/access_key_2"), "root", an exception id (RC-1.5), a role ("gha-no-sub"), a
    finding by type and user or role name ("ExternalAccess:public-any-principal"; RC-3.2,
    RC-4.2), "account", and "organization" (RC-2.3, RC-6.1: in the management account).
    Nothing else is in any control's population.
    """
    declared: list[tuple[VerdictKey, str]] = []

    def add(account: str, verdicts: Verdicts, member: str, kind: str = "", about: str = "") -> None:
        """`about`: the user or role a finding of the member is about (the member's own name)."""
        for control, verdict in verdicts.items():
            finding = FINDING_TYPES.get((kind, control))
            name = f"{finding}:{about or member}" if finding else member
            declared.append(((control, account, name), verdict))

    for account in ACCOUNTS:
        add(account.name, account.root_verdicts, "root")
        add(account.name, account.verdicts, "account")
    for user in USERS:
        add(user.account, user.verdicts, user.name, "user")
        for slot, key in enumerate(user.keys, start=1):
            add(user.account, key.verdicts, f"{user.name}/access_key_{slot}", "key", user.name)
    for exception in EXCEPTIONS:
        add(exception.account, exception.verdicts, exception.id)
    for role in ROLES:
        add(role.account, {**role.verdicts, "RC-6.4": "pass" if role.boundary else "fail"},
            role.name, "role")
    for seeded in SEEDED_ROLES:
        for account, verdicts in seeded.verdicts.items():
            add(account, verdicts, seeded.name, "role")
    add("management", {**SCP_VERDICTS, **IDENTITY_CENTER_VERDICTS}, "organization")
    intended: dict[VerdictKey, str] = {}
    for key, verdict in declared:
        if key in intended:
            raise ValueError(f"{key} is declared twice")
        intended[key] = verdict
    return intended


# One boto3 session makes every seeding client: a session per account or key loaded and parsed
# the service models and endpoint data again each time (most of the seeding's CPU).
_BASE = boto3.Session(region_name=REGION)


@dataclass(frozen=True)
class _Clients:
    """Clients with one set of credentials, all pointed at the simulated endpoint."""

    endpoint_url: str
    credentials: dict[str, str]
    region: str = REGION

    def __call__(self, service: str) -> Any:
        return _BASE.client(service, endpoint_url=self.endpoint_url, region_name=self.region,
                            **self.credentials)


def _member_clients(base: _Clients, account_id: str) -> _Clients:
    creds = base("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="rolecall-seed",
    )["Credentials"]
    return _Clients(base.endpoint_url, {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    })


def _create_organization(base: _Clients) -> tuple[str, dict[str, str], str, dict[str, str]]:
    org = base("organizations")
    organization_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou_ids: dict[str, str] = {}

    def ou_for(path: str) -> str:
        parent = root_id
        walked: list[str] = []
        for name in path.split("/"):
            walked.append(name)
            key = "/".join(walked)
            if key not in ou_ids:
                ou_ids[key] = org.create_organizational_unit(ParentId=parent, Name=name)[
                    "OrganizationalUnit"
                ]["Id"]
            parent = ou_ids[key]
        return parent

    account_ids = {"management": MANAGEMENT_ACCOUNT_ID}
    for account in ACCOUNTS:
        if not account.ou_path:
            continue
        status = org.create_account(
            Email=f"aws+{account.name}@example.com", AccountName=account.name
        )["CreateAccountStatus"]
        account_ids[account.name] = status["AccountId"]
        org.move_account(
            AccountId=status["AccountId"],
            SourceParentId=root_id,
            DestinationParentId=ou_for(account.ou_path),
        )
    return organization_id, account_ids, root_id, ou_ids


def _create_user(clients: _Clients, user: SimUser, now: datetime) -> None:
    iam = clients("iam")
    with time_machine.travel(now - timedelta(days=user.age_days), tick=False):
        tags = {"simulated-case": user.why, **user.tags}
        iam.create_user(UserName=user.name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        for group in user.groups:
            iam.add_user_to_group(GroupName=group, UserName=user.name)
        for policy in user.attached:
            iam.attach_user_policy(UserName=user.name, PolicyArn=_policy_arn(clients, policy))
        for name, document in user.inline.items():
            iam.put_user_policy(UserName=user.name, PolicyName=name,
                                PolicyDocument=json.dumps(document))
        if user.console:
            iam.create_login_profile(UserName=user.name, Password="Simulated-Pa55word!")
        if user.mfa:
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=user.name)[
                "VirtualMFADevice"
            ]["SerialNumber"]
            iam.enable_mfa_device(
                UserName=user.name, SerialNumber=serial,
                AuthenticationCode1="123456", AuthenticationCode2="654321",
            )
    for key in user.keys:
        with time_machine.travel(now - timedelta(days=key.age_days), tick=False):
            created = iam.create_access_key(UserName=user.name)["AccessKey"]
        if key.used_days_ago is not None:
            with time_machine.travel(now - timedelta(days=key.used_days_ago), tick=False):
                _record_key_use(created, key.used_with)
        if not key.active:
            iam.update_access_key(
                UserName=user.name, AccessKeyId=created["AccessKeyId"], Status="Inactive"
            )


def _record_key_use(created: dict[str, Any], used_with: tuple[str, str]) -> None:
    """Record the key's last use as moto does for any request signed with it (the credential
    report's last-used date, service and region).

    Directly, not by a real request: the first request to EC2 or CloudFormation imports that
    moto backend (EC2's catalogue of AMIs alone ~0.6 s), ~1.4 s of CPU in all while the demo
    waits for the organization, and nothing reads those backends.
    """
    from moto.iam.models import get_account_id_from, mark_account_as_visited

    service, region = used_with
    key_id = created["AccessKeyId"]
    mark_account_as_visited(get_account_id_from(key_id), key_id, service, region)


def _policy_arn(clients: _Clients, policy: str) -> str:
    """An AWS managed policy's ARN as given; a name: the account's own managed policy."""
    if policy.startswith("arn:"):
        return policy
    account_id = clients("sts").get_caller_identity()["Account"]
    return f"arn:aws:iam::{account_id}:policy/{policy}"


def _add_aws_managed_policies(account_id: str) -> None:
    """AWS managed policies exist in every account; moto loads them only on request (about
    1,300 a backend, MOTO_IAM_LOAD_MANAGED_POLICIES): put in the few the cases attach."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[account_id]["aws"]
    known = json.loads(aws_managed_policies_data)
    for arn in AWS_MANAGED_POLICIES:
        name = arn.rsplit("/", 1)[1]
        policy = AWSManagedPolicy.from_data(name, account_id, "us-east-1", known[name])
        backend.managed_policies.setdefault(policy.arn, policy)


def _create_groups_and_policies(clients: _Clients, account: str, account_id: str) -> None:
    """The account's customer managed policies and groups, before the users that use them."""
    _add_aws_managed_policies(account_id)
    iam = clients("iam")
    for name, document in MANAGED_POLICIES.get(account, {}).items():
        iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))
    for group, (attached, inline) in GROUPS.get(account, {}).items():
        iam.create_group(GroupName=group)
        for policy in attached:
            iam.attach_group_policy(GroupName=group, PolicyArn=_policy_arn(clients, policy))
        for name, document in inline.items():
            iam.put_group_policy(GroupName=group, PolicyName=name, PolicyDocument=json.dumps(document))


def _set_root_credentials(account_id: str, account: SimAccount) -> None:
    """Root MFA and root keys have no API in AWS either (console only): set moto's state."""
    from moto.iam.models import iam_backends

    summary = iam_backends[account_id]["aws"].account_summary
    summary._account_mfa_enabled = 1 if account.root_mfa else 0
    summary._account_access_keys_present = 1 if account.root_access_key else 0


def kit_audit_policy() -> dict[str, Any]:
    """The kit's audit role permissions (deploy/audit-role-policy.json), also its boundary."""
    return json.loads((KIT / "audit-role-policy.json").read_text(encoding="utf-8"))


def kit_audit_trust(management_id: str) -> dict[str, Any]:
    """deploy/audit-role.yaml's trust with its parameters filled in: only the management
    account's runner role, and only with the External ID."""
    return _doc({
        "Sid": "RunnerRoleWithExternalId", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{management_id}:role/{KIT_RUNNER_ROLE}"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": KIT_EXTERNAL_ID}},
    })


def _create_roles(clients: _Clients, management_id: str) -> None:
    """The kit's audit role, as deploy/audit-role.yaml (the StackSet) creates it: the trust,
    an inline policy with the kit's read-only actions and the same actions as its boundary."""
    iam = clients("iam")
    policy = json.dumps(kit_audit_policy())
    boundary = iam.create_policy(
        PolicyName=f"{KIT_AUDIT_ROLE}-boundary", PolicyDocument=policy,
        Description="Permissions boundary of the rolecall audit role",
    )["Policy"]["Arn"]
    iam.create_role(
        RoleName=KIT_AUDIT_ROLE, AssumeRolePolicyDocument=json.dumps(kit_audit_trust(management_id)),
        Description="Read-only audit role assumed by rolecall", MaxSessionDuration=3600,
        PermissionsBoundary=boundary,
    )
    iam.put_role_policy(RoleName=KIT_AUDIT_ROLE, PolicyName="rolecall-read-only",
                        PolicyDocument=policy)


def _create_g4_g6_roles(clients: _Clients, account: str, facts: Facts, now: datetime) -> None:
    """The OIDC providers, boundary policy, roles and service-linked role of one account."""
    iam = clients("iam")
    for issuer in OIDC_PROVIDERS.get(account, ()):
        iam.create_open_id_connect_provider(
            Url=f"https://{issuer}", ClientIDList=["sts.amazonaws.com"],
            ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
        )
    roles = [r for r in ROLES if r.account == account]
    boundary = None
    if any(r.boundary for r in roles):
        boundary = iam.create_policy(
            PolicyName=BOUNDARY_POLICY,
            PolicyDocument=json.dumps(_doc({"Effect": "Allow", "NotAction": "iam:*",
                                            "Resource": "*"})),
            Description="Permissions boundary of workload roles",
        )["Policy"]["Arn"]
    for role in roles:
        params: dict[str, Any] = {
            "RoleName": role.name, "AssumeRolePolicyDocument": json.dumps(role.trust(facts)),
            "Tags": [{"Key": "simulated-case", "Value": role.why[:256]}],
        }
        if role.boundary:
            params["PermissionsBoundary"] = boundary
        with time_machine.travel(now - timedelta(days=role.age_days), tick=False):
            iam.create_role(**params)
    if SERVICE_LINKED[0] == account:
        iam.create_service_linked_role(AWSServiceName=SERVICE_LINKED[1])


def _create_scps(base: _Clients, root_id: str, ou_ids: dict[str, str]) -> dict[str, str]:
    org = base("organizations")
    org.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
    ids = {}
    for scp in SCPS:
        ids[scp.name] = org.create_policy(
            Name=scp.name, Description=scp.why[:512], Type="SERVICE_CONTROL_POLICY",
            Content=json.dumps(scp.document),
        )["Policy"]["PolicySummary"]["Id"]
        for target in scp.targets:
            org.attach_policy(PolicyId=ids[scp.name],
                              TargetId=root_id if target == "root" else ou_ids[target])
    return ids


def _create_identity_center(base: _Clients, account_ids: dict[str, str]) -> tuple[str, str]:
    """A permission set in moto's default instance, assigned to an account and provisioned."""
    sso = base("sso-admin")
    instance = sso.list_instances()["Instances"][0]["InstanceArn"]
    name, duration, account = PERMISSION_SET
    permission_set = sso.create_permission_set(
        InstanceArn=instance, Name=name, SessionDuration=duration,
        Description="Read-only access for engineers",
    )["PermissionSet"]["PermissionSetArn"]
    sso.create_account_assignment(
        InstanceArn=instance, TargetId=account_ids[account], TargetType="AWS_ACCOUNT",
        PermissionSetArn=permission_set, PrincipalType="GROUP",
        PrincipalId="a1b2c3d4-engineers",
    )
    sso.provision_permission_set(InstanceArn=instance, PermissionSetArn=permission_set,
                                 TargetType="AWS_ACCOUNT", TargetId=account_ids[account])
    return instance, permission_set


def _analyzer_setup(sim: SimulatedOrganization) -> AnalyzerSetup:
    ids = sim.account_ids
    return AnalyzerSetup(
        management_account_id=MANAGEMENT_ACCOUNT_ID,
        organization_accounts=frozenset(ids.values()),
        analyzers=tuple(AnalyzerSpec(ids[account], name, kind)
                        for account, name, kind in ANALYZERS),
        archived=frozenset(
            (analyzer, kind, f"arn:aws:iam::{ids[account]}:{resource}")
            for analyzer, kind, account, resource in ARCHIVED_FINDINGS
        ),
        region=REGION,
        created_at=sim.seeded_at,
    )


EVIDENCE_BUCKET = "rolecall-demo-evidence"


def seed(endpoint_url: str, now: datetime | None = None) -> SimulatedOrganization:
    """Create the organization in the (empty) moto server at endpoint_url."""
    now = now or datetime.now(UTC)
    moto_internal.mock_random.seed(SEED)
    base = _Clients(endpoint_url, {"aws_access_key_id": "testing",
                                   "aws_secret_access_key": "testing",
                                   "aws_session_token": "testing"})
    organization_id, account_ids, root_id, ou_ids = _create_organization(base)
    sim = SimulatedOrganization(endpoint_url, now, organization_id, account_ids, root_id, ou_ids)
    for account in ACCOUNTS:
        account_id = account_ids[account.name]
        clients = (
            base if account_id == MANAGEMENT_ACCOUNT_ID else _member_clients(base, account_id)
        )
        _create_groups_and_policies(clients, account.name, account_id)
        for user in USERS:
            if user.account == account.name:
                _create_user(clients, user, now)
        _create_roles(clients, MANAGEMENT_ACCOUNT_ID)
        _create_g4_g6_roles(clients, account.name,
                            Facts(organization_id, account_ids, account_id), now)
        _set_root_credentials(account_id, account)
    # an evidence bucket with Object Lock in the management account, so the demo can show
    # `rolecall audit --demo --upload s3://EVIDENCE_BUCKET/runs` without leaving 127.0.0.1
    base("s3").create_bucket(Bucket=EVIDENCE_BUCKET, ObjectLockEnabledForBucket=True)
    sim.scp_ids = _create_scps(base, root_id, ou_ids)
    sim.instance_arn, sim.permission_set_arn = _create_identity_center(base, account_ids)
    sim.analyzer_setup = _analyzer_setup(sim)
    return sim


def demo_register(sim: SimulatedOrganization) -> str:
    """The demo's exceptions register (EXCEPTIONS), as YAML, naming the simulated users by ARN."""
    today = sim.seeded_at.date()
    entries = [
        {
            "id": e.id, "principal": sim.user_arn(e.account, e.user), "controls": list(e.controls),
            "kind": e.kind, "dependency": e.dependency, "reason": e.reason, "owner": e.owner,
            "approved_by": e.approved_by,
            "ticket": e.id.replace("EXC-", "SEC-"),  # the change ticket that approved it
            "approved_on": (today - timedelta(days=e.approved_days_ago)).isoformat(),
            "expires": (today + timedelta(days=e.expires_in_days)).isoformat(),
        }
        for e in EXCEPTIONS
    ]
    header = (
        "# Exceptions register of the built-in simulated organization (generated by rolecall).\n"
        "# See data/exceptions.example.yaml for what each field means.\n"
    )
    return header + yaml.safe_dump({"exceptions": entries}, sort_keys=False)



# The demo's management responses (reports/management_response.py): what a control owner would
# answer to three of the simulated organization's failing controls, so the demo's Sign-off
# chapter shows filled rows beside "no response recorded".
DEMO_RESPONSES = """\
# Management responses of the built-in simulated organization (generated by rolecall).
# See data/responses.example.yaml for what each field means.
responses:
  - control: RC-1.1
    owner: cloud-platform@example.com
    action: Move the CI and vendor users to IAM roles (GitHub OIDC, IAM Roles Anywhere), then
      delete each user once its workload has moved
    due: 2027-03-31
    ticket: SEC-1101
  - control: RC-1.3
    owner: cloud-platform@example.com
    action: Deactivate access keys unused for 90 days, delete them two weeks later
    due: 2027-01-15
    ticket: https://tickets.example.com/browse/SEC-1102
  - control: RC-4.1
    owner: partner-integrations@example.com
    action: Add an External ID condition to every partner role's trust policy
    due: 2027-02-28
    ticket: SEC-1107
"""

@contextmanager
def serve(port: int = 0) -> Iterator[SimulatedOrganization]:
    """Start a moto server on 127.0.0.1 (Access Analyzer answered by the layer in front of it),
    seed it, and stop it when the block ends."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = LayeredMotoServer(ip_address="127.0.0.1", port=port)
    report_last_use()
    server.start()
    try:
        host, bound_port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{bound_port}"
        moto_internal.moto_api_backend.reset()
        sim = seed(endpoint_url)
        assert server.layer is not None
        server.layer.setup = sim.analyzer_setup  # Access Analyzer exists once seeding is done
        yield sim
    finally:
        server.stop()

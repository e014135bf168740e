"""`rolecall doctor`: check a configuration before a real run, without collecting anything.

A failed audit should not be the first place to learn that a profile has expired, that Identity
Center lives in another region or that one account lacks the audit role. Each check here makes
the calls the audit itself will make, through the same sessions, limits and readers, and says in
one result what it found and, if it failed, what to do about it:

- credentials: the standard boto3 chain finds some, and sts:GetCallerIdentity says whose they are;
- organization, SCPs, Identity Center: the audit's own readers (`organizations.fetch`,
  `organizations.scps`, `identity_center.fetch`) run once with the caller's session, so a pass
  means the audit's organization-level reads will succeed;
- Access Analyzer: one list_analyzers call in the caller's account and region;
- the audit role: per account one sts:AssumeRole (as the collector does, External ID included)
  and one iam:GetAccountSummary with the assumed credentials. GetAccountSummary rather than
  sts:GetCallerIdentity, which needs no permission and so proves nothing the AssumeRole did not:
  it proves the role may read IAM, is one small response, and has no side effect (unlike
  iam:GenerateCredentialReport). The management account is read with the caller's credentials,
  as the collector reads it. Accounts are checked concurrently (`max_workers`);
- signing identity: the key the run would sign with loads (`SigningConfig.identity`: the given
  key, else the organization key of `rolecall keys init`; only --demo signs with the demo key).

The External ID is a secret: it is kept out of the configuration's repr and removed from every
result's text, whatever an endpoint's error message says.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoRegionError,
    ReadTimeoutError,
)

from checks.catalogue import CHECKS
from flows.sources import access_analyzer, identity_center, organizations
from flows.sources.organizations import Account, Organization
from flows.sources.session import CONNECT_TIMEOUT, READ_TIMEOUT, Limits, assume_role_session, base_session
from reports.keys import SigningKeyError
from reports.signing_config import SigningConfig

EXTERNAL_ID_ENV = "ROLECALL_EXTERNAL_ID"  # flows.audit's name for it (not imported: Prefect is slow)
REDACTED = "(External ID)"
CREDENTIALS = "credentials"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's answer: what was checked, whether it passed, what it found, what to do."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class DoctorConfig:
    """The options of `rolecall audit` that decide whether a run can work."""

    role_name: str = "rolecall-audit"  # AuditConfig's default: the deployment kit's audit role
    external_id: str | None = field(default=None, repr=False)  # a secret: never in a repr
    profile: str | None = None
    region: str | None = None
    max_workers: int = 8
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    signing: SigningConfig = field(default_factory=SigningConfig)


class CredentialsError(RuntimeError):
    """The standard chain finds no usable credentials; `fix` says what to do, when known."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix


def caller_session(profile: str | None, region: str | None) -> boto3.Session:
    """The caller's session once the chain has found credentials (no call made), else CredentialsError.

    `rolecall audit` asks this before anything else too: without credentials no call can succeed.
    """
    try:
        session = base_session(profile, region)
        credentials = session.get_credentials()
    except BotoCoreError as error:  # an unknown profile, a malformed config file
        raise CredentialsError(f"AWS configuration: {error}") from error
    if credentials is None:
        raise CredentialsError(
            "no AWS credentials found (environment, --profile, ~/.aws/credentials, SSO or an "
            "instance role)", "sign in to the management account first, or try --demo")
    return session


def reason(error: BaseException) -> str:
    """The service's error code and message, else the exception's type and text."""
    if isinstance(error, ClientError):
        body = error.response.get("Error", {})
        return f"{body.get('Code') or 'ClientError'}: {body.get('Message') or error}"
    return f"{type(error).__name__}: {error}"


def _access_denied(error: BaseException) -> bool:
    return isinstance(error, ClientError) and str(
        error.response.get("Error", {}).get("Code", "")).startswith(("AccessDenied", "Unauthorized"))


def _fix_for(error: BaseException, otherwise: str) -> str:
    """Errors that mean the same whichever call met them get the same advice."""
    if isinstance(error, NoRegionError):
        return "pass --region (or set a region in the profile or $AWS_DEFAULT_REGION)"
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return ("the endpoint did not answer: check the network, a proxy or AWS_ENDPOINT_URL; "
                "raise --connect-timeout/--read-timeout if it is only slow")
    return otherwise


def check_caller(session: boto3.Session, limits: Limits) -> tuple[Check, str | None]:
    """sts:GetCallerIdentity: the credentials work, and whose they are (and the caller's account)."""
    try:
        caller = limits.client(session, "sts").get_caller_identity()
    except Exception as error:
        return Check(CREDENTIALS, False, reason(error), _fix_for(
            error, "sign in again (`aws sso login`, fresh keys) with the management account's "
            "credentials")), None
    return Check(CREDENTIALS, True, f"{caller['Arn']} (account {caller['Account']}, region "
                 f"{session.region_name or 'not set'})"), caller["Account"]


def check_organization(org: Any, caller_account: str | None) -> tuple[Check, Organization | None]:
    """The audit's own tree walk: organization, accounts, OUs."""
    try:
        found = organizations.fetch(org)
    except Exception as error:
        return Check("organization", False, reason(error), _fix_for(
            error, "run with the management or delegated-administrator account's credentials "
            "(organizations:DescribeOrganization and List*, as deploy/management-policy.json "
            "grants); the audit role checks need the account list and were not run")), None
    detail = (f"{found.organization_id}: {len(found.accounts)} accounts in {len(found.units)} OUs, "
              f"management account {found.management_account_id}")
    if caller_account and caller_account != found.management_account_id:
        detail += f"; the caller is in {caller_account} (a delegated administrator)"
    return Check("organization", True, detail), found


def _controls_reading(source: str) -> str:
    """The controls whose rule needs `source`, from the catalogue (no control id is written here)."""
    return ", ".join(c.rule.control_id for c in CHECKS if source in (*c.rule.sources, *c.rule.org_sources))


def check_scps(org: Any) -> Check:
    """The audit's own SCP reader: every SCP's document and targets."""
    try:
        rows = organizations.scps(org)
    except Exception as error:
        return Check("service control policies", False, reason(error), _fix_for(
            error, "grant organizations:ListPolicies, DescribePolicy and ListTargetsForPolicy to "
            f"the caller; without them {_controls_reading('organizations')} say error"))
    return Check("service control policies", True,
                 f"{len(rows['scps'])} SCPs readable, {len(rows['scp_targets'])} attachments")


def check_identity_center(sso: Any) -> Check:
    """The audit's own Identity Center reader, in the region given: an instance must be there."""
    region = sso.meta.region_name
    name = f"IAM Identity Center in {region}"
    try:
        rows = identity_center.fetch(sso)
    except Exception as error:
        return Check(name, False, reason(error), _fix_for(
            error, "grant sso:ListInstances, ListPermissionSets, DescribePermissionSet and "
            f"ListAccountsForProvisionedPermissionSet; without them {_controls_reading('identity_center')} "
            "say error"))
    instances = rows["identity_center_instances"]
    if not instances:
        return Check(name, False, f"no instance in {region}",
                     "pass --region of Identity Center's home region (its console's Settings "
                     "page shows it); an organization without Identity Center fails "
                     f"{_controls_reading('identity_center')}")
    detail = (f"{instances[0]['instance_arn']}: {len(rows['permission_sets'])} permission set(s), "
              f"{len(rows['account_assignments'])} account assignment(s)")
    if not rows["account_assignments"]:
        detail += f" (none assigned to an account: {_controls_reading('identity_center')} will fail)"
    return Check(name, True, detail)


def check_access_analyzer(aa: Any, caller_account: str) -> Check:
    """One list_analyzers call in the caller's account and region: the service answers."""
    region = aa.meta.region_name
    try:
        listed = access_analyzer.analyzers(aa, caller_account)
    except Exception as error:
        return Check("IAM Access Analyzer", False, reason(error), _fix_for(
            error, "grant access-analyzer:ListAnalyzers; an endpoint without Access Analyzer "
            "(moto alone) cannot answer, and "
            f"{_controls_reading('access_analyzer')} will say error"))
    kinds = ", ".join(sorted({a["type"] for a in listed})) or "none yet"
    return Check("IAM Access Analyzer", True,
                 f"answers in {region}: {len(listed)} analyzers in {caller_account} ({kinds})")


def check_account(base: boto3.Session, account: Account, config: DoctorConfig, limits: Limits) -> Check:
    """AssumeRole into a member account (the collector's call), then iam:GetAccountSummary.

    The management account is read with the caller's session, as the collector reads it.
    Never raises: a failure is this account's result.
    """
    status = "" if account.status == "ACTIVE" else f", {account.status}"
    label = f"{account.account_id} ({account.name}{status})"
    session = base
    if not account.is_management:
        try:
            session, _ = assume_role_session(base, account.account_id, config.role_name,
                                             config.external_id, limits)
        except Exception as error:
            return Check(f"assume {config.role_name} in {label}", False, reason(error),
                         _assume_fix(error, config))
    try:
        limits.client(session, "iam").get_account_summary()
    except Exception as error:
        who = "the caller's credentials" if account.is_management else config.role_name
        return Check(f"read IAM in {label} with {who}", False, reason(error), _fix_for(
            error, "give it the kit's read-only policy (deploy/audit-role-policy.json for the "
            "audit role, deploy/management-policy.json for the caller) or the AWS managed "
            "SecurityAudit policy"))
    return Check(f"audit role in {label}", True, "iam:GetAccountSummary answered")


def _assume_fix(error: BaseException, config: DoctorConfig) -> str:
    if not _access_denied(error):
        return _fix_for(error, "rerun; if it persists, look at the account's status in AWS Organizations")
    external_id = (f"check that ${EXTERNAL_ID_ENV} matches the role's sts:ExternalId condition"
                   if config.external_id else
                   f"if the role's trust requires an External ID, set ${EXTERNAL_ID_ENV}")
    return (f"deploy the audit role {config.role_name} to this account (the kit's "
            "deploy/audit-role.yaml, or deploy/audit-role-stackset.yaml for every account), or "
            f"pass --role-name of the role that is there; {external_id}")


def summarize_accounts(results: Sequence[Check], role_name: str) -> list[Check]:
    """One line for the accounts that passed, then one line per account that failed."""
    passed = sum(1 for c in results if c.ok)
    summary = Check("audit role", True, f"IAM readable in {passed} of {len(results)} accounts "
                    f"(member accounts through {role_name}, the management account with the "
                    "caller's credentials)")
    return ([summary] if passed else []) + [c for c in results if not c.ok]


def check_signing(signing: SigningConfig) -> Check:
    """The key the run would sign with loads, and pairs with its certificate."""
    try:
        identity = signing.identity()
    except SigningKeyError as error:
        return Check("signing identity", False, str(error),
                     "create the organization key once with `rolecall keys init`, or check "
                     "--signing-key and --signing-cert, or --signing-p12 and "
                     f"${signing.p12_password_env}")
    if identity.demo:
        return Check("signing identity", True, f"the demo key in {signing.keys_dir} (self-signed, "
                     "not for audit evidence: give --signing-key/--signing-cert or --signing-p12)")
    return Check("signing identity", True,
                 f"{identity.subject}, certificate SHA-256 {identity.fingerprint}")


def redact(checks: Sequence[Check], secret: str | None) -> list[Check]:
    """Every result without the secret, whatever an endpoint's message echoed."""
    if not secret:
        return list(checks)
    return [replace(c, name=c.name.replace(secret, REDACTED), detail=c.detail.replace(secret, REDACTED),
                    fix=c.fix.replace(secret, REDACTED)) for c in checks]


def run_doctor(config: DoctorConfig) -> list[Check]:
    """Every check, in the order a run needs them; AWS checks that need what failed are not run."""
    return redact(_aws_checks(config) + [check_signing(config.signing)], config.external_id)


def _aws_checks(config: DoctorConfig) -> list[Check]:
    limits = Limits(config.connect_timeout, config.read_timeout)
    try:
        session = caller_session(config.profile, config.region)
    except CredentialsError as error:
        return [Check(CREDENTIALS, False, str(error), error.fix or
                      "fix --profile or $AWS_PROFILE (`aws configure list-profiles`)")]
    caller, caller_account = check_caller(session, limits)
    if caller_account is None:
        return [caller]
    checks = [caller]
    try:
        org = limits.client(session, "organizations")
        sso = limits.client(session, "sso-admin")
        aa = limits.client(session, "accessanalyzer")
    except Exception as error:  # NoRegionError for the regional services
        return [*checks, Check("clients", False, reason(error), _fix_for(error, "check the AWS "
                               "configuration"))]
    organization_check, organization = check_organization(org, caller_account)
    checks += [organization_check, check_scps(org), check_identity_center(sso),
               check_access_analyzer(aa, caller_account)]
    if organization is not None:
        with ThreadPoolExecutor(max_workers=config.max_workers) as pool:
            results = list(pool.map(lambda a: check_account(session, a, config, limits),
                                    organization.accounts))
        checks += summarize_accounts(results, config.role_name)
    return checks


def all_passed(checks: Sequence[Check]) -> bool:
    return all(c.ok for c in checks)

"""The control catalogue: every control of the guidance "Do not use IAM Users", as data.

One entry per control; the id (RC-x.y) is the name used in the code, the tests and the report,
so a grep for it finds all four. Semantics are those of ../shared/CONTROLS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("critical", "high", "medium", "low", "info")
STATUSES = ("pass", "fail", "excepted", "error")


@dataclass(frozen=True)
class GuidanceItem:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Control:
    id: str
    guidance_item: str
    title: str
    severity: str
    population: str
    fails_when: str
    remediation: str
    # Judged on the SCPs over each account (the report's coverage table), not on principals.
    scp_coverage: bool = False


GUIDANCE: tuple[GuidanceItem, ...] = (
    GuidanceItem(
        "G1",
        "No IAM users, unless an external dependency relies on them",
        "Unless there is an external dependency that relies on IAM Users and long lived "
        "credentials, move away from their use.",
    ),
    GuidanceItem(
        "G2",
        "People use IAM Identity Center with short-term credentials",
        "People sign in through IAM Identity Center with short-term credentials (federated SSO).",
    ),
    GuidanceItem(
        "G3",
        "Services use IAM roles",
        "Services, internal and external, get access through IAM roles.",
    ),
    GuidanceItem(
        "G4",
        "External parties reach roles with an External ID",
        "External parties assume roles only with an External ID in the trust policy.",
    ),
    GuidanceItem(
        "G5",
        "Deployment roles use OIDC, restricted to specific repositories",
        "Deployment roles use OIDC (e.g. GitHub Actions), restricted to specific repositories.",
    ),
    GuidanceItem(
        "G6",
        "Permission boundaries, enforced through SCPs",
        "Permission boundaries cap roles, enforced through Service Control Policies.",
    ),
)

CONTROLS: tuple[Control, ...] = (
    Control(
        "RC-1.1", "G1", "No IAM users without a documented exception", "high",
        "every IAM user (not the root user) in every account",
        "the user exists and no valid exception names it",
        "Move the workload to an IAM role or the person to IAM Identity Center, then delete the "
        "user; or record an expiring exception naming the external dependency.",
    ),
    Control(
        "RC-1.2", "G1", "Access keys rotated within 90 days", "high",
        "every access key of every IAM user",
        "the key is active and older than 90 days since creation or last rotation "
        "(exceptions do not cover this: excepted users still rotate)",
        "Create a new key, move the dependency to it, deactivate and delete the old key.",
    ),
    Control(
        "RC-1.3", "G1", "Active access keys are in use", "medium",
        "every active access key",
        "never used, or last used more than 90 days before the snapshot",
        "Deactivate and delete keys nobody uses.",
    ),
    Control(
        "RC-1.4", "G1", "Root user has no access key and has MFA", "critical",
        "the root user of every account",
        "the root user has an active access key, or has no MFA",
        "Delete root access keys; enable MFA (or centralize root access and remove root "
        "credentials from member accounts).",
    ),
    Control(
        "RC-1.5", "G1", "Exceptions are complete, current and not stale", "medium",
        "every entry of the exceptions register",
        "the entry has expired, lacks an owner, a reason or the external dependency, runs "
        "longer than 12 months, or names a user that no longer exists (stale: low)",
        "Renew, complete or remove the entry in the exceptions register.",
    ),
    Control(
        "RC-2.1", "G2", "No console passwords for IAM users", "high",
        "every IAM user",
        "it has a console password, unless an exception of kind break-glass names it",
        "Give people access through IAM Identity Center; remove the login profile.",
    ),
    Control(
        "RC-2.2", "G2", "Console users have MFA", "critical",
        "every IAM user with a console password",
        "MFA is not active",
        "Enable MFA for the user now; then remove the console password.",
    ),
    Control(
        "RC-2.3", "G2", "IAM Identity Center is in use", "high",
        "the organization",
        "no IAM Identity Center instance exists, or it has no permission set assigned to any "
        "account",
        "Enable IAM Identity Center and assign permission sets to accounts.",
    ),
    Control(
        "RC-3.1", "G3", "No long-lived keys without a named external dependency", "high",
        "every IAM user",
        "it has an active access key and no valid exception naming the external dependency "
        "that needs the key",
        "Give the service an IAM role (instance profile, IRSA, Roles Anywhere, OIDC) and delete "
        "the key.",
    ),
    Control(
        "RC-3.2", "G3", "No unused access (Access Analyzer)", "medium",
        "IAM Access Analyzer unused-access findings (UnusedIAMUserAccessKey, "
        "UnusedIAMUserPassword, UnusedIAMRole)",
        "the finding is ACTIVE",
        "Remove the unused credential or role (or archive the finding with a documented "
        "reason when it is expected, e.g. a break-glass password).",
    ),
    Control(
        "RC-4.1", "G4", "External principals must supply an External ID", "high",
        "every role whose trust policy lets a principal outside the organization call "
        "sts:AssumeRole",
        "an Allow statement for that principal has no sts:ExternalId condition with "
        "StringEquals (or StringLike without wildcards) and a non-empty value; critical when "
        "the principal is * with no condition at all",
        "Add \"Condition\": {\"StringEquals\": {\"sts:ExternalId\": \"<secret agreed with the "
        "third party>\"}} to every statement that trusts an external account; for * pin "
        "aws:PrincipalOrgID to the organization, or name the account.",
    ),
    Control(
        "RC-4.2", "G4", "Access Analyzer external access comes with an External ID", "high",
        "IAM Access Analyzer external-access findings on roles",
        "the finding is ACTIVE and the role fails RC-4.1",
        "Require sts:ExternalId in the role's trust policy (see RC-4.1), or remove the external "
        "principal; archive the finding only once the access is intended and protected.",
    ),
    Control(
        "RC-4.3", "G4", "Every account is covered by IAM Access Analyzer", "medium",
        "every account in the organization",
        "no ACTIVE external-access analyzer covers it: neither an ORGANIZATION analyzer nor an "
        "ACCOUNT analyzer in the account",
        "Create an organization analyzer in the management or delegated administrator account "
        "(aws accessanalyzer create-analyzer --type ORGANIZATION), or an account analyzer.",
    ),
    Control(
        "RC-4.4", "G4", "Service trust names the source account or resource", "low",
        "every role (not service-linked) trusted by an AWS service principal",
        "info only: the service may assume the role without an aws:SourceAccount or "
        "aws:SourceArn condition (confused deputy)",
        "Add \"Condition\": {\"StringEquals\": {\"aws:SourceAccount\": \"<account id>\"}} or "
        "ArnLike aws:SourceArn naming the resource that uses the role.",
    ),
    Control(
        "RC-5.1", "G5", "GitHub OIDC roles are pinned to one repository", "critical",
        "every role that trusts the GitHub Actions OIDC provider "
        "(token.actions.githubusercontent.com, also an enterprise issuer)",
        "some Allow statement lets a token in without a sub condition whose every value pins "
        "one organization and one repository (repo:ORG/REPO:...); critical when there is no sub "
        "condition or a value like *, high for an org-wide wildcard (repo:ORG/*)",
        "Add StringEquals/StringLike on token.actions.githubusercontent.com:sub with values like "
        "repo:my-org/my-repo:ref:refs/heads/main or repo:my-org/my-repo:environment:prod, in "
        "every statement that trusts the provider.",
    ),
    Control(
        "RC-5.2", "G5", "GitHub OIDC roles require the STS audience", "medium",
        "every role that trusts the GitHub Actions OIDC provider",
        "the aud condition is missing or is not sts.amazonaws.com, or aud/sub/iss are tested "
        "with ForAllValues (true when the claim is absent)",
        "Add StringEquals token.actions.githubusercontent.com:aud = sts.amazonaws.com and test "
        "claims with plain StringEquals/StringLike, not ForAllValues.",
    ),
    Control(
        "RC-5.3", "G5", "Other OIDC roles restrict the subject", "high",
        "every role that trusts another OIDC provider (GitLab, Terraform Cloud, Bitbucket, "
        "CircleCI, EKS, ...)",
        "the trust has no condition restricting that provider's subject claim (PROVIDER:sub)",
        "Add a StringEquals/StringLike condition on <provider>:sub naming the project, "
        "workspace or service account allowed to assume the role.",
    ),
    Control(
        "RC-6.1", "G6", "SCPs are enabled on the organization root", "high",
        "the organization",
        "the SERVICE_CONTROL_POLICY policy type is not enabled on the root",
        "Enable service control policies on the root (aws organizations enable-policy-type "
        "--policy-type SERVICE_CONTROL_POLICY --root-id r-...).",
    ),
    Control(
        "RC-6.2", "G6", "SCPs deny creating IAM users and access keys", "high",
        "every member account (the management account is not governed by SCPs)",
        "no SCP covering it (attached to the root, an OU on its path, or the account) denies "
        "iam:CreateUser and iam:CreateAccessKey; a condition exempting an admin role is allowed",
        "Attach to the root an SCP that denies iam:CreateUser and iam:CreateAccessKey on *, "
        "optionally with ArnNotLike aws:PrincipalArn for a named admin role.",
        scp_coverage=True,
    ),
    Control(
        "RC-6.3", "G6", "SCPs enforce permission boundaries on roles", "medium",
        "every member account (the management account is not governed by SCPs)",
        "no SCP covering it denies iam:CreateRole unless iam:PermissionsBoundary is set, and "
        "denies iam:DeleteRolePermissionsBoundary",
        "Attach an SCP denying iam:CreateRole when iam:PermissionsBoundary is not the approved "
        "boundary (StringNotEquals / Null), and denying iam:DeleteRolePermissionsBoundary.",
        scp_coverage=True,
    ),
    Control(
        "RC-6.4", "G6", "Roles have a permissions boundary", "medium",
        "every role that is not service-linked (/aws-service-role/ path)",
        "it has no permissions boundary attached and no valid exception names it",
        "Attach the approved permissions boundary (aws iam put-role-permissions-boundary), or "
        "record an expiring exception naming the role.",
    ),
)

CONTROLS_BY_ID: dict[str, Control] = {c.id: c for c in CONTROLS}
GUIDANCE_BY_ID: dict[str, GuidanceItem] = {g.id: g for g in GUIDANCE}

# Controls this version evaluates: the whole catalogue.
IMPLEMENTED: tuple[str, ...] = tuple(c.id for c in CONTROLS)


def controls_of(guidance_item: str) -> list[Control]:
    return [c for c in CONTROLS if c.guidance_item == guidance_item]

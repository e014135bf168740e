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
        "Remove the unused credential or role.",
    ),
)

CONTROLS_BY_ID: dict[str, Control] = {c.id: c for c in CONTROLS}
GUIDANCE_BY_ID: dict[str, GuidanceItem] = {g.id: g for g in GUIDANCE}

# Controls this version evaluates; the rest of the catalogue arrives with the G4-G6 work.
IMPLEMENTED: tuple[str, ...] = (
    "RC-1.1", "RC-1.2", "RC-1.3", "RC-1.4", "RC-1.5", "RC-2.1", "RC-2.2", "RC-3.1",
)


def controls_of(guidance_item: str) -> list[Control]:
    return [c for c in CONTROLS if c.guidance_item == guidance_item]

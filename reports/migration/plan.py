"""One plan entry per IAM user: its classification, the target that replaces it, why, when, and
how risky it is meanwhile. Pure functions of the run's facts (reports.migration.facts).

Targets: a person gets an IAM Identity Center permission set built from its effective policies;
a workload an IAM role whose trust fits where it runs (workload_host, trust); a user that is both
gets both; a dormant user is disabled now and deleted DELETE_AFTER_DAYS later; a user an external
dependency relies on is kept until its exception expires. Every generated role carries a
permissions boundary placeholder when the run evaluates the permissions-boundary control.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from reports.migration.classify import Classification, Verdict, classify
from reports.migration.facts import KeyFacts, RunFacts, UserFacts
from reports.migration.permissions import Permissions, merge
from reports.migration.trust import trust_for
from reports.migration.workload_host import Host, place

DELETE_AFTER_DAYS = 30  # between disabling a dormant user and deleting it: time to object
SESSION_DURATION = "PT8H"
BOUNDARY_PLACEHOLDER = "REPLACE-PERMISSIONS-BOUNDARY"
RISKS = ("high", "medium", "low")


class TargetKind(StrEnum):
    permission_set = "identity-center-permission-set"
    role = "iam-role"
    permission_set_and_role = "permission-set-and-iam-role"
    disable_then_delete = "disable-then-delete"
    keep_until_expiry = "keep-until-exception-expiry"


@dataclass(frozen=True)
class GeneratedRole:
    """A role the plan proposes, in the shape of CloudFormation's AWS::IAM::Role properties."""

    account_id: str
    role_name: str
    trust_policy: dict[str, Any]
    permissions_boundary_arn: str | None
    permissions: Permissions
    replaces: str  # the user's ARN

    def properties(self) -> dict[str, Any]:
        out: dict[str, Any] = {"RoleName": self.role_name,
                               "AssumeRolePolicyDocument": self.trust_policy}
        if self.permissions_boundary_arn:
            out["PermissionsBoundary"] = self.permissions_boundary_arn
        out["ManagedPolicyArns"] = list(self.permissions.managed_policy_arns)
        if self.permissions.inline_policy:
            out["Policies"] = [{"PolicyName": "migrated-from-iam-user",
                                "PolicyDocument": self.permissions.inline_policy}]
        out["Tags"] = [{"Key": "rolecall:replaces", "Value": self.replaces}]
        return out


@dataclass(frozen=True)
class GeneratedPermissionSet:
    """A permission set the plan proposes, as CloudFormation's AWS::SSO::PermissionSet."""

    name: str
    permissions: Permissions
    replaces: str

    def properties(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": self.name, "Description": f"Replaces IAM user {self.replaces}",
            "InstanceArn": "REPLACE-IDENTITY-CENTER-INSTANCE-ARN",
            "SessionDuration": SESSION_DURATION,
            "ManagedPolicies": list(self.permissions.managed_policy_arns),
        }
        if self.permissions.inline_policy:
            out["InlinePolicy"] = self.permissions.inline_policy
        return out


@dataclass(frozen=True)
class PlanEntry:
    user: UserFacts
    verdict: Verdict
    target_kind: TargetKind
    target_name: str
    reason: str
    risk: str
    disable_on: date | None = None
    delete_on: date | None = None
    keep_until: date | None = None
    roles: tuple[GeneratedRole, ...] = ()
    permission_sets: tuple[GeneratedPermissionSet, ...] = ()
    brief: str = ""  # the reason without its details (placeholders, checks, notes); "" : all of it

    @property
    def reason_in_brief(self) -> str:
        """What the report's chapter shows per user; plan.csv and plan.md give the whole reason."""
        return self.brief or self.reason

    @property
    def dates(self) -> str:
        parts = [f"disable {self.disable_on}" if self.disable_on else "",
                 f"delete {self.delete_on}" if self.delete_on else "",
                 f"keep until {self.keep_until}" if self.keep_until else ""]
        return ", ".join(p for p in parts if p)

    def policies(self) -> dict[str, dict[str, Any]]:
        """Every generated policy, titled, for plan.md."""
        out = {f"permission set {p.name}": p.properties() for p in self.permission_sets}
        out |= {f"role {r.role_name}": r.properties() for r in self.roles}
        return out


@dataclass(frozen=True)
class Plan:
    run: RunFacts
    planned_on: date
    entries: tuple[PlanEntry, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = ()  # about the plan as a whole (what --deep covered)

    @property
    def roles(self) -> tuple[GeneratedRole, ...]:
        return tuple(r for e in self.entries for r in e.roles)

    def by_target(self) -> list[tuple[str, int]]:
        """(target kind, users), most users first: plan.md and the report's chapter both show it."""
        counts = Counter(e.target_kind.value for e in self.entries)
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def by_account(self) -> list[tuple[tuple[str, str, str], int]]:
        """((account, OU, target kind), users), by account: the second table of both."""
        counts = Counter((f"{e.user.account_name or ''} ({e.user.account_id})".strip(),
                          e.user.ou_path or "(root)", e.target_kind.value) for e in self.entries)
        return sorted(counts.items())


def make_plan(run: RunFacts, planned_on: date, notes: tuple[str, ...] = ()) -> Plan:
    """Every user's entry, the riskiest first, then the oldest."""
    entries = [plan_user(user, run, planned_on) for user in run.users]
    return Plan(run, planned_on, tuple(sorted(entries, key=_order)), notes)


PERMISSION_TARGETS = (TargetKind.permission_set, TargetKind.role,
                      TargetKind.permission_set_and_role)


def plan_user(user: UserFacts, run: RunFacts, planned_on: date) -> PlanEntry:
    verdict = classify(user, run)
    risk = risk_of(user, run)
    kind = verdict.classification
    if kind is Classification.external_dependency:
        assert user.exception is not None
        expires = user.exception.expires
        return PlanEntry(user, verdict, TargetKind.keep_until_expiry,
                         f"keep ({user.exception.exception_id})",
                         f"an external dependency relies on it ({verdict.evidence}): keep it until "
                         f"{expires}; before then, renew the exception or move the dependency to "
                         "a role", risk, keep_until=expires)
    if kind is Classification.dormant:
        delete_on = planned_on + timedelta(days=DELETE_AFTER_DAYS)
        return PlanEntry(user, verdict, TargetKind.disable_then_delete, user.user_name,
                         f"unused ({verdict.evidence}): on {planned_on} deactivate its access keys "
                         f"and delete its console password (reversible); delete the user on "
                         f"{delete_on}, {DELETE_AFTER_DAYS} days later, if nobody has asked for "
                         "it back", risk, disable_on=planned_on, delete_on=delete_on)
    permission_sets = (_permission_set(user),) if kind in (
        Classification.person, Classification.both) else ()
    roles_and_reasons = [_role(user, run)] if kind in (
        Classification.workload, Classification.both) else []
    reasons = [_person_reason(user, p) for p in permission_sets]
    reasons += [why for _, why in roles_and_reasons]
    roles = tuple(role for role, _ in roles_and_reasons)
    target = {Classification.person: TargetKind.permission_set,
              Classification.workload: TargetKind.role,
              Classification.both: TargetKind.permission_set_and_role}[kind]
    names = [p.name for p in permission_sets] + [r.role_name for r in roles]
    return PlanEntry(user, verdict, target, " + ".join(names),
                     " ".join(main + details for main, details in reasons), risk,
                     roles=roles, permission_sets=permission_sets,
                     brief=" ".join(main for main, _ in reasons))


def risk_of(user: UserFacts, run: RunFacts) -> str:
    """high: a console password without MFA, an active key older than key_age_days, or both
    kinds of credential; medium: any other usable credential; low: none."""
    cutoff = run.run_date - timedelta(days=run.key_age_days)
    old_key = any(k.last_rotated is None or k.last_rotated.date() < cutoff
                  for k in user.active_keys)
    console_without_mfa = user.password_enabled and not user.mfa_active
    if console_without_mfa or old_key or (user.password_enabled and user.active_keys):
        return "high"
    return "medium" if user.password_enabled or user.active_keys else "low"


def role_name(user_name: str) -> str:
    return f"{user_name[:59]}-role"  # IAM role names: at most 64 characters


def _permission_set(user: UserFacts) -> GeneratedPermissionSet:
    return GeneratedPermissionSet(user.user_name[:32], merge(user.policies, user.unused), user.arn)


def _person_reason(user: UserFacts, permission_set: GeneratedPermissionSet) -> tuple[str, str]:
    """The step, and its details (MFA, notes) apart: the report shows the step alone."""
    p = permission_set.permissions
    sources = len(user.policies.documents)
    mfa = "" if user.mfa_active else " It has no MFA today: until then it is the riskiest kind."
    notes = "".join(f" Note: {n}." for n in p.notes)
    return (f"A person ({user.groups and 'groups ' + ', '.join(user.groups) + '; ' or ''}"
            f"console sign-in): give them permission set {permission_set.name} in IAM Identity "
            f"Center ({len(p.managed_policy_arns)} AWS managed policies; "
            f"{sources} other policy documents merged into its inline policy), assign it to them "
            f"for account {user.account_id}, then delete the console password and the user.",
            f"{mfa}{notes}")


def _role(user: UserFacts, run: RunFacts) -> tuple[GeneratedRole, tuple[str, str]]:
    """The role, and the step with its details (placeholders, checks, notes) apart."""
    placement = place(user)
    region = _latest_region(user.active_keys)
    trust = trust_for(placement, user.account_id, user.user_name, region)
    boundary = (f"arn:aws:iam::{user.account_id}:policy/{BOUNDARY_PLACEHOLDER}"
                if run.boundaries_required else None)
    permissions = merge(user.policies, user.unused)
    role = GeneratedRole(user.account_id, role_name(user.user_name), trust.document, boundary,
                         permissions, user.arn)
    fill = list(trust.placeholders) + (
        [f"{BOUNDARY_PLACEHOLDER}: the permissions boundary the account's SCP requires"]
        if boundary else [])
    if placement.host is Host.github and not user.github_provider:
        fill.append(f"account {user.account_id} has no GitHub OIDC provider yet: create it first")
    todo = "".join(f" Fill in: {f}." for f in fill) + "".join(
        f" Check: {c}." for c in trust.checks)
    notes = "".join(f" Note: {n}." for n in permissions.notes)
    return role, (f"A workload on {placement.host.value} ({placement.evidence}): create role "
                  f"{role.role_name} used through {trust.how}, with the user's permissions; "
                  f"switch the workload to it, then deactivate and delete the access keys and "
                  "the user.", f"{todo}{notes}")


def _latest_region(keys: Sequence[KeyFacts]) -> str | None:
    used = sorted((k for k in keys if k.last_used and k.region), key=lambda k: k.last_used)
    return used[-1].region if used else None


def _order(entry: PlanEntry) -> tuple[int, float, str, str]:
    """Riskiest first, then oldest (unknown creation last), then by account and name."""
    created = entry.user.created.timestamp() if entry.user.created else float("inf")
    return RISKS.index(entry.risk), created, entry.user.account_id, entry.user.user_name

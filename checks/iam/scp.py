"""What service control policies deny, one policy at a time and along an account's path."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from checks.iam.document import (
    OPERATORS,
    Condition,
    Policy,
    PolicyInput,
    Statement,
    evaluate_condition,
    only_wildcards,
    parse_policy,
)

# --------------------------------------------------------------------------------------------
# G6: what an SCP denies
# --------------------------------------------------------------------------------------------

UNCONDITIONAL, EXEMPTING, CONDITIONAL = "unconditional", "exempting", "conditional"
_EXEMPTION_OPERATORS = ("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike",
                        "ArnNotEquals", "ArnNotLike")
# An exemption that also exempts these ordinary principals exempts everyone, not an admin role.
_ORDINARY_PRINCIPALS = ("arn:aws:iam::111122223333:role/rolecall-ordinary-role",
                        "arn:aws:iam::111122223333:user/rolecall-ordinary-user")


def is_admin_exemption(c: Condition) -> bool:
    """A condition that only spares named admin principals from a Deny
    (e.g. `ArnNotLike aws:PrincipalArn arn:aws:iam::*:role/Admin`)."""
    key = c.key_lower
    if c.base not in _EXEMPTION_OPERATORS or c.qualifier is not None or not c.values:
        return False
    if key == "aws:principalarn":
        matcher = OPERATORS[c.base][0]
        return not any(matcher(p, v) for p in _ORDINARY_PRINCIPALS for v in c.values)
    if key.startswith("aws:principaltag/") or key == "aws:userid":
        return not any(only_wildcards(v) for v in c.values)
    return False


def _resource_unrestricted(st: Statement) -> bool:
    """Resource `*`, or an ARN pattern whose fields after the service are all wildcards."""
    if st.not_resources is not None:
        return False  # NotResource spares the resources it lists
    if st.resources is None:
        return True
    for r in st.resources:
        parts = r.split(":", 5)
        if only_wildcards(r) or (len(parts) == 6 and parts[0] == "arn"
                                  and all(p == "" or only_wildcards(p) for p in parts[3:])):
            return True
    return False


@dataclass(frozen=True)
class DenyRule:
    """A Deny statement whose Action/NotAction covers the action asked about."""

    statement_index: int
    sid: str | None
    kind: str  # UNCONDITIONAL, EXEMPTING (only admin exemptions), CONDITIONAL
    conditions: tuple[Condition, ...]
    resource_unrestricted: bool

    @property
    def denies(self) -> bool:
        return self.kind in (UNCONDITIONAL, EXEMPTING) and self.resource_unrestricted


@dataclass(frozen=True)
class Coverage:
    """How a policy denies one action: every matching Deny and whether any of them counts."""

    action: str
    rules: tuple[DenyRule, ...]

    @property
    def denies(self) -> bool:
        return any(r.denies for r in self.rules)

    @property
    def exemptions(self) -> tuple[Condition, ...]:
        """The admin exemptions of the counting rules (empty when one denies unconditionally)."""
        counting = [r for r in self.rules if r.denies]
        if any(r.kind == UNCONDITIONAL for r in counting):
            return ()
        return tuple(c for r in counting for c in r.conditions)


def _deny_rules(doc: PolicyInput | Policy, action: str,
                allowed: Callable[[Condition], bool]) -> tuple[DenyRule, ...]:
    rules: list[DenyRule] = []
    for st in parse_policy(doc).statements:
        if st.effect != "Deny" or not st.applies_to_action(action):
            continue
        if not st.conditions:
            kind = UNCONDITIONAL
        elif all(allowed(c) for c in st.conditions):
            kind = EXEMPTING
        else:
            kind = CONDITIONAL
        rules.append(DenyRule(st.index, st.sid, kind, st.conditions, _resource_unrestricted(st)))
    return tuple(rules)


def deny_coverage(doc: PolicyInput | Policy, action: str) -> Coverage:
    """Whether a policy (an SCP) denies `action` to everyone but exempted admin principals."""
    return Coverage(action, _deny_rules(doc, action, is_admin_exemption))


def _boundary_condition(c: Condition) -> bool:
    """A condition on iam:PermissionsBoundary that holds when no boundary is given
    (`Null: true`, `StringNotEquals[IfExists]`, `ArnNotLike`, ...), or an admin exemption."""
    if is_admin_exemption(c):
        return True
    known = c.base in OPERATORS or c.base == "Null"
    return c.key_lower == "iam:permissionsboundary" and known and evaluate_condition(c, {})


def boundary_coverage(doc: PolicyInput | Policy) -> Coverage:
    """Whether the policy denies iam:CreateRole when no permissions boundary
    is set. Exemption conditions here are boundary conditions or admin exemptions."""
    return Coverage("iam:CreateRole", _deny_rules(doc, "iam:CreateRole", _boundary_condition))


@dataclass(frozen=True)
class ScpNeed:
    """One thing a G6 control needs denied: its label, the action, and how one SCP denies it."""

    label: str
    action: str
    cover: Callable[[PolicyInput | Policy], Coverage]


def deny_of(action: str) -> Callable[[PolicyInput | Policy], Coverage]:
    def cover(doc: PolicyInput | Policy) -> Coverage:
        return deny_coverage(doc, action)

    return cover


@dataclass(frozen=True)
class ScpLevel:
    """One node on an account's path (root, an OU, the account) and the SCPs attached to it.

    A document of None was attached but could not be read: that level can't deny implicitly.
    """

    label: str  # e.g. "OU ou-sandbox (Sandbox)"
    policies: Mapping[str, PolicyInput | Policy | None]


def allowing_statements(doc: PolicyInput | Policy, action: str) -> tuple[int, ...]:
    """The Allow statements of an SCP that may allow `action`. Action/NotAction decide; a
    Resource or Condition might still let some request through, so they are not read."""
    return tuple(st.index for st in parse_policy(doc).statements
                 if st.effect == "Allow" and st.applies_to_action(action))


@dataclass(frozen=True)
class ImplicitDeny:
    """An allow-list level that denies a need's action: no SCP attached there allows it."""

    need: str
    action: str
    level: str
    policy_ids: tuple[str, ...]


def _implicit_reasons(implicit: Sequence[ImplicitDeny]) -> list[str]:
    """One sentence per allow-list level: which needs it denies and which SCPs are there."""
    by_level: dict[tuple[str, tuple[str, ...]], list[ImplicitDeny]] = {}
    for i in implicit:
        by_level.setdefault((i.level, i.policy_ids), []).append(i)
    return [f"{' and '.join(i.need for i in group)} {'is' if len(group) == 1 else 'are'} denied "
            f"implicitly at {level}: no SCP attached there ({', '.join(ids)}) allows "
            f"{' or '.join(i.action for i in group)}"
            for (level, ids), group in by_level.items()]


def implicit_denial(levels: Sequence[ScpLevel], action: str) -> ScpLevel | None:
    """The first level, root first, whose SCPs were all read and none of which may allow
    `action` (IAM: an SCP action must be allowed at every level). A level without any SCP is
    missing data (AWS keeps one on every node while SCPs are enabled), never a deny."""
    for level in levels:
        docs = list(level.policies.values())
        if docs and all(d is not None for d in docs) and not any(
                allowing_statements(d, action) for d in docs if d is not None):
            return level
    return None


@dataclass(frozen=True)
class ScpVerdict:
    """The answer for one account: passed, why, and which policy and statement deny each action."""

    passed: bool
    reason: str
    evidence: tuple[tuple[str, Coverage], ...]  # (policy id, coverage) for every covering SCP
    implicit: tuple[ImplicitDeny, ...] = ()  # needs denied by an allow-list level only
    denied: tuple[str, ...] = ()  # labels of the needs denied, explicitly or implicitly


def scp_verdict(needs: Sequence[ScpNeed], scps: Mapping[str, PolicyInput | Policy],
                levels: Sequence[ScpLevel] = ()) -> ScpVerdict:
    """One account's SCPs against `needs`: each need denied explicitly by a covering SCP (`scps`, policy
    id -> document) or implicitly by a level of `levels` (root first) that does not allow it."""
    evidence: list[tuple[str, Coverage]] = []
    implicit: list[ImplicitDeny] = []
    denied: list[str] = []
    missing: list[str] = []
    for need in needs:
        found = [(pid, c) for pid, doc in scps.items() if (c := need.cover(doc)).denies]
        evidence.extend(found)
        level = None if found else implicit_denial(levels, need.action)
        if level is not None:
            implicit.append(ImplicitDeny(need.label, need.action, level.label,
                                         tuple(level.policies)))
        if found or level is not None:
            denied.append(need.label)
        else:
            missing.append(need.label)
    if missing:
        return ScpVerdict(False, "no SCP covering the account denies " + " or ".join(missing),
                          tuple(evidence), tuple(implicit), tuple(denied))
    names = sorted({pid for pid, _ in evidence})
    parts = (["denied by " + ", ".join(names)] if names else []) + _implicit_reasons(implicit)
    return ScpVerdict(True, "; ".join(parts), tuple(evidence), tuple(implicit),
                      tuple(denied))

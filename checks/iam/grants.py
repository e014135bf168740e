"""Who a policy lets perform an action: grants, with the Deny guards that restrict them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from checks.iam.document import (
    ASSUME_ROLE,
    EVERYONE,
    Condition,
    Policy,
    PolicyInput,
    Principal,
    Statement,
    parse_policy,
    principal_covers,
)

# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    """A Deny that fires unless one condition holds, so it restricts a grant like an Allow
    condition would (e.g. Deny when StringNotEquals sts:ExternalId)."""

    statement_index: int
    sid: str | None
    condition: Condition  # as written in the Deny
    requires: Condition  # its inverse: what a request must meet for the Deny not to fire

    def __str__(self) -> str:
        sid = f" (Sid {self.sid!r})" if self.sid else ""
        return f"Deny statement {self.statement_index}{sid} unless {self.requires}"


# A negated operator's positive twin: `Deny if NOT x` lets through exactly `x` (key present).
_POSITIVE_OF = {
    "StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress", "NumericNotEquals": "NumericEquals", "DateNotEquals": "DateEquals",
}


def guard_requirement(deny: Statement) -> Condition | None:
    """What a request must meet for this Deny not to fire, when that is one positive condition.

    Only a Condition of exactly one negated operator on one key (plain or IfExists: both are
    true when the key is absent, so the Deny fires then) or `Null KEY true|false` qualifies.
    Several conditions are ANDed (the Deny fires only when all hold) and ForAnyValue is false
    for an absent key: neither guards, so both give None.
    """
    if deny.effect != "Deny" or len(deny.conditions) != 1:
        return None
    (c,) = deny.conditions
    if c.qualifier is not None:
        return None
    if c.base == "Null":
        if len(c.values) == 1 and c.values[0].lower() in ("true", "false") and not c.if_exists:
            return Condition("Null", c.key, ("false" if c.values[0].lower() == "true" else "true",))
        return None
    if c.base in _POSITIVE_OF:
        return Condition(_POSITIVE_OF[c.base], c.key, c.values)
    return None


@dataclass(frozen=True)
class Grant:
    """One principal that an Allow statement lets perform the action, and under which conditions."""

    statement_index: int
    sid: str | None
    principal: Principal
    conditions: tuple[Condition, ...]
    excluded: tuple[Principal, ...] = ()  # NotPrincipal: everyone except these
    conditional_denies: tuple[int, ...] = ()  # Deny statements that may remove it, under conditions
    guards: tuple[Guard, ...] = ()  # those of them that restrict it like an Allow condition

    @property
    def label(self) -> str:
        return f"statement {self.statement_index}" + (f" (Sid {self.sid!r})" if self.sid else "")

    @property
    def effective_conditions(self) -> tuple[Condition, ...]:
        """What a request must meet to get in: the Allow's conditions AND every guard's inverse."""
        return self.conditions + tuple(g.requires for g in self.guards)


def _granted_principals(st: Statement) -> list[tuple[Principal, tuple[Principal, ...]]]:
    if st.principals is not None:
        return [(p, ()) for p in st.principals]
    if st.not_principals is not None and not any(p.is_everyone for p in st.not_principals):
        return [(EVERYONE, st.not_principals)]
    return []  # no Principal element (identity policy) or NotPrincipal "*": grants nobody


def _may_overlap(a: Principal, b: Principal) -> bool:
    """Whether some request could be made by both `a` and `b` (used for NotPrincipal exclusions)."""
    if a.is_everyone or b.is_everyone:
        return True
    if a.kind != b.kind:
        return False
    if a.kind != "AWS":
        return a.value.lower() == b.value.lower()
    if a.account is None or b.account is None:
        return True  # an unreadable account might be the other one's
    return a.account == b.account  # same account: an exclusion there may spare part of it


def _deny_covers(deny: Statement, target: Principal) -> bool:
    """Whether the Deny applies to every request by `target` (then it can remove or guard it)."""
    if deny.principals is not None:
        return any(principal_covers(p, target) for p in deny.principals)
    if deny.not_principals is not None:
        # Deny + NotPrincipal: everyone except those listed. It covers the target only when no
        # exclusion could overlap it (an excluded role of the target's account spares part of
        # it): when in doubt the grant is kept, the conservative direction.
        return not any(_may_overlap(p, target) for p in deny.not_principals)
    return True  # no Principal element: the Deny applies to whoever makes the request


def assume_paths(doc: PolicyInput | Policy, action: str = ASSUME_ROLE) -> list[Grant]:
    """Every (Allow statement, principal) that lets the principal perform `action`.

    Deny statements never grant. A Deny without conditions that covers the principal removes the
    grant; a conditional Deny may not apply to a given request, so the grant stays and the Deny
    is listed in `conditional_denies` (conservative: an audit must not miss a path). A covering
    Deny that is a guard (`guard_requirement`) is also kept in `guards`: IAM lets a request in
    only when no Deny fires, so the guard's inverse restricts the grant.
    """
    policy = parse_policy(doc)
    denies = [s for s in policy.statements if s.effect == "Deny" and s.applies_to_action(action)]
    grants: list[Grant] = []
    for st in policy.statements:
        if st.effect != "Allow" or not st.applies_to_action(action):
            continue
        for principal, excluded in _granted_principals(st):
            covering = [d for d in denies if _deny_covers(d, principal)]
            if any(not d.conditions for d in covering):
                continue
            guards = tuple(Guard(d.index, d.sid, d.conditions[0], req) for d in covering
                           if (req := guard_requirement(d)) is not None)
            grants.append(Grant(st.index, st.sid, principal, st.conditions, excluded,
                                tuple(d.index for d in covering), guards))
    return grants


# --------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A problem with one statement and principal, with the facts an auditor needs.

    `kind` names the problem (e.g. "open-to-everyone"); the guidance module that asked maps it
    to its control and the catalogue's severity.
    """

    kind: str
    statement_index: int
    sid: str | None
    principal: str
    reason: str
    conditions: tuple[Condition, ...] = ()
    guards: tuple[Guard, ...] = ()

    def facts(self) -> dict[str, Any]:
        """JSON-ready evidence."""
        return {
            "kind": self.kind,
            "statement_index": self.statement_index,
            "sid": self.sid,
            "principal": self.principal,
            "reason": self.reason,
            "conditions": [{"operator": c.operator, "key": c.key, "values": list(c.values)}
                           for c in self.conditions],
            "guards": [{"statement_index": g.statement_index, "sid": g.sid,
                        "operator": g.condition.operator, "key": g.condition.key,
                        "values": list(g.condition.values)} for g in self.guards],
        }


def _describe(conditions: Sequence[Condition]) -> str:
    return "; ".join(str(c) for c in conditions) if conditions else "none"


def finding(kind: str, grant: Grant, reason: str) -> Finding:
    guards = f"; guarded by {'; '.join(map(str, grant.guards))}" if grant.guards else ""
    return Finding(kind, grant.statement_index, grant.sid, str(grant.principal),
                   f"{grant.label}: {reason}; conditions: {_describe(grant.conditions)}{guards}",
                   grant.conditions, grant.guards)



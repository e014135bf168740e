"""IAM policy semantics as small pure functions: parse, match, evaluate, and answer G4-G6.

No I/O and no AWS calls: a policy document goes in (a dict, JSON text, or the URL-encoded JSON
IAM returns), typed statements, grants and findings come out. The checks reason over statements
(effect, principals, actions, conditions) instead of searching the JSON text. A trust policy
written with a single Statement object, scalars instead of lists, NotAction or unusual key
casing therefore gets the same verdict as its tidy equivalent.

No maintained Python library evaluates IAM conditions against a request context. policyuniverse
parses statements and expands action wildcards, and parliament lints policies; neither says
whether a condition holds. That is why this module exists.

Decisions where AWS semantics or CONTROLS.md leave room (each is also commented where applied):
- `"Principal": "*"` is the same as `{"AWS": "*"}` (AWS documents them as equivalent), and it
  covers principals of every kind when a Deny uses it.
- Allow with NotPrincipal grants to everyone except the listed principals: we report it as a
  grant to `*` and keep the exclusions on the Grant. A Deny with NotPrincipal covers a principal
  only when no exclusion could overlap it (same value, same account, `*`, or an unknown account).
- Verdicts follow the whole policy (CONTROLS.md "effective meaning"). A Deny without conditions
  that fully covers the granted principal removes the grant (an account principal covers every
  ARN in that account). A Deny with conditions stays on the grant as `conditional_denies`, and
  when it is a *guard* it also restricts the grant: a request gets in only if the Allow's
  conditions hold and the guard does not fire, so the guard's inverse is ANDed to the Allow's
  conditions (`Grant.effective_conditions`) and every G4/G5 rule reads those.
- A guard is a Deny covering the principal whose Condition is exactly one negated operator on
  one key (StringNotEquals, StringNotLike, ArnNotLike, ...; no ForAnyValue/ForAllValues), e.g.
  `StringNotEquals sts:ExternalId X` or `StringNotLike ...:sub repo:org/app:*`. A negated
  operator is true when the key is absent, so the guard also fires when the ExternalId or claim
  is missing: its inverse is the positive operator without IfExists (present and matching).
  `...IfExists` on a negated operator changes nothing here (absent is true either way).
  `Null KEY true` in a Deny is a guard that requires only presence (inverse `Null false`), which
  pins no value, so it satisfies no G4/G5 rule. Not credited: a Deny with several conditions
  (they are ANDed, so it fires only when all hold), ForAnyValue (false when the key is absent:
  the Deny lets a request without the key through), ForAllValues (not credited for symmetry
  with RC-4.1's Allow rule), and positive operators in a Deny (`Deny if StringEquals`).
- A context value given as a list with no ForAnyValue/ForAllValues qualifier matches when any
  of its values matches; a negated operator is then the negation of that.
- Policy variables (`${aws:username}`) are not substituted; they compare as literal text.
- RC-4.1: an AWS principal whose account can't be read (a deleted principal's unique ID, such
  as AROA...) is treated as external. `sts:ExternalId` counts only with StringEquals, or
  StringLike without wildcards (plain or ForAnyValue, never IfExists or ForAllValues), and only
  when every value is non-empty; from a guard, StringNotEquals or wildcard-free StringNotLike.
  That is the control text; StringEqualsIgnoreCase does not count. Organization pins
  (aws:PrincipalOrgID / PrincipalAccount / PrincipalOrgPaths, in the Allow or as a guard) exempt
  only the `*` principal, as CONTROLS.md says. A named account outside the org stays external.
  "Critical: `*` with no condition at all" means no Allow condition and no guard.
- RC-5.1: StringEquals (and StringEqualsIgnoreCase) compare literally, so a sub value with `*`
  or `?` under them admits only that literal text. GitHub subjects never hold `*` or `?` (org,
  repository and git ref names can't), so such a value admits no real token: it is dropped from
  the subjects allowed and reported as a note in RC-5.1's reason ("StringEquals compares
  literally ..."). A statement whose sub condition admits no token lets nobody in; CONTROLS.md
  fails RC-5.1 only for a statement that "lets a token in" loosely, and its severities are
  critical/high only, so such a role passes with the note (it is broken, not exposed).
  StringLike values are classified as patterns. Several sub conditions in one statement (Allow
  or guard) are ANDed, so the most restrictive one decides. ForAllValues and IfExists sub
  conditions still restrict (GitHub always sends `sub`); RC-5.2 reports ForAllValues
  separately. StringEqualsIgnoreCase counts like StringEquals.
- RC-5.3: a "condition on sub" must restrict: a positive operator (in the Allow, or a guard's
  inverse), not IfExists, not ForAllValues, and at least one value that admits less than
  everything (under StringLike not wildcards only; under StringEquals any non-empty literal).
  Only `oidc-provider/` ARNs are in scope (not Cognito, SAML, or the built-in Google, Facebook
  or Amazon providers).
- RC-4.4: a Service grant is confined when a positive String/Arn condition (not IfExists,
  not ForAllValues) tests aws:SourceAccount or aws:SourceArn with values that are not
  wildcards only; a guard on those keys counts the same way.
- G6: a Deny counts when it has no condition, or only conditions that exempt admin
  principals: a negated String/Arn operator on aws:PrincipalArn, aws:PrincipalTag/... or
  aws:userid whose values don't exempt everyone. Its Resource must be unrestricted (`*`, or
  an ARN pattern whose fields after the service are all wildcards).
- G6 allow-lists: an action must be allowed at every level root -> OUs -> account, so a level
  none of whose SCPs may allow it denies it implicitly, and that counts as coverage. An SCP
  "may allow" an action when an Allow statement's Action/NotAction covers it, whatever its
  Resource or Condition (they might let some request through: conservative). A level with an
  unreadable SCP, or with no SCP at all, never denies implicitly: AWS keeps at least one SCP
  on every node while SCPs are enabled, so an empty level is missing data, not a deny.
  Without level information (`levels` not given) only explicit denies count.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

PolicyInput = Mapping[str, Any] | str
Scalar = str | bool | int | float
Context = Mapping[str, Scalar | Sequence[Scalar] | None]

ASSUME_ROLE = "sts:AssumeRole"
ASSUME_ROLE_WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
GITHUB_ISSUER = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"

_ACCOUNT_ID = re.compile(r"\d{12}")
_WILDCARDS = ("*", "?")


# --------------------------------------------------------------------------------------------
# Parsed policy
# --------------------------------------------------------------------------------------------

_PRINCIPAL_KINDS = {k.lower(): k for k in ("AWS", "Service", "Federated", "CanonicalUser")}


@dataclass(frozen=True)
class Principal:
    """One principal of a Principal/NotPrincipal element: its kind and the value as written."""

    kind: str  # AWS, Service, Federated, CanonicalUser
    value: str

    @property
    def is_everyone(self) -> bool:
        """`"*"` / `{"AWS": "*"}`: any principal in any account (and anonymous callers)."""
        return self.kind == "AWS" and self.value == "*"

    @property
    def account(self) -> str | None:
        return principal_account(self.value) if self.kind == "AWS" else None

    def __str__(self) -> str:
        return "*" if self.is_everyone else f"{self.kind}:{self.value}"


EVERYONE = Principal("AWS", "*")


@dataclass(frozen=True)
class Condition:
    """One (operator, key, values) triple of a Condition block, as written in the policy."""

    operator: str
    key: str
    values: tuple[str, ...]

    @property
    def qualifier(self) -> str | None:
        """ForAnyValue, ForAllValues or None."""
        return _split_operator(self.operator)[0]

    @property
    def base(self) -> str:
        """The operator without qualifier or IfExists, in AWS's spelling when known."""
        return _split_operator(self.operator)[1]

    @property
    def if_exists(self) -> bool:
        return _split_operator(self.operator)[2]

    @property
    def negated(self) -> bool:
        return self.base in _OPERATORS and _OPERATORS[self.base][1]

    @property
    def key_lower(self) -> str:
        # IAM compares condition keys case-insensitively.
        return self.key.lower()

    def __str__(self) -> str:
        return f"{self.operator} {self.key} {list(self.values)}"


@dataclass(frozen=True)
class Statement:
    """A statement, with every element normalised to a tuple; None means "element absent"."""

    index: int
    sid: str | None
    effect: str  # "Allow" or "Deny"
    principals: tuple[Principal, ...] | None
    not_principals: tuple[Principal, ...] | None
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    conditions: tuple[Condition, ...]

    def applies_to_action(self, action: str) -> bool:
        """Action lists what the statement covers; NotAction covers every action it doesn't list."""
        if self.actions is not None:
            return any(action_matches(p, action) for p in self.actions)
        if self.not_actions is not None:
            return not any(action_matches(p, action) for p in self.not_actions)
        return False

    @property
    def label(self) -> str:
        return f"statement {self.index}" + (f" (Sid {self.sid!r})" if self.sid else "")


@dataclass(frozen=True)
class Policy:
    version: str | None
    statements: tuple[Statement, ...]


def decode_document(doc: PolicyInput) -> dict[str, Any]:
    """A policy document as a dict: IAM returns trust policies URL-encoded, boto3 sometimes decoded."""
    if isinstance(doc, Mapping):
        return dict(doc)
    if not isinstance(doc, str):
        raise ValueError(f"a policy document must be a dict or a JSON string, not {type(doc).__name__}")
    try:
        decoded = json.loads(doc)
    except json.JSONDecodeError:
        # Not JSON as is: try the URL-encoded form (JSON first, so a literal "%" survives).
        decoded = json.loads(unquote_plus(doc))
    if not isinstance(decoded, dict):
        raise ValueError("a policy document must be a JSON object")
    return decoded


def parse_policy(doc: PolicyInput | Policy) -> Policy:
    """Parse a policy document; `Statement` may be one object or a list."""
    if isinstance(doc, Policy):
        return doc
    raw = decode_document(doc)
    statements = _get(raw, "Statement")
    if statements is None:
        statements = []
    elif isinstance(statements, Mapping):
        statements = [statements]
    elif not isinstance(statements, list):
        raise ValueError("Statement must be an object or a list of objects")
    version = _get(raw, "Version")
    return Policy(
        version=None if version is None else str(version),
        statements=tuple(_parse_statement(i, s) for i, s in enumerate(statements)),
    )


def _get(obj: Mapping[str, Any], name: str) -> Any:
    """Look up a policy element name, tolerating case differences."""
    if name in obj:
        return obj[name]
    lowered = name.lower()
    return next((v for k, v in obj.items() if str(k).lower() == lowered), None)


def _text(value: Any) -> str:
    """A policy value as IAM compares it: JSON booleans are the strings "true"/"false"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _strings(value: Any) -> tuple[str, ...] | None:
    """A string-or-list element as a tuple; None when the element is absent."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return tuple(_text(v) for v in value)
    return (_text(value),)


def _parse_principals(value: Any) -> tuple[Principal, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip() != "*":
            raise ValueError(f"a Principal given as a string must be '*', not {value!r}")
        return (EVERYONE,)  # AWS documents "*" and {"AWS": "*"} as equivalent
    if not isinstance(value, Mapping):
        raise ValueError("Principal must be '*' or an object")
    out: list[Principal] = []
    for kind, ids in value.items():
        canonical = _PRINCIPAL_KINDS.get(str(kind).lower(), str(kind))
        out.extend(Principal(canonical, v.strip()) for v in _strings(ids) or ())
    return tuple(out)


def _parse_conditions(value: Any) -> tuple[Condition, ...]:
    if not value:
        return ()
    if not isinstance(value, Mapping):
        raise ValueError("Condition must be an object")
    out: list[Condition] = []
    for operator, pairs in value.items():
        if not isinstance(pairs, Mapping):
            raise ValueError(f"condition operator {operator!r} must map keys to values")
        out.extend(Condition(str(operator), str(k), _strings(v) or ()) for k, v in pairs.items())
    return tuple(out)


def _parse_statement(index: int, raw: Any) -> Statement:
    if not isinstance(raw, Mapping):
        raise ValueError(f"statement {index} must be an object")
    effect = str(_get(raw, "Effect") or "").strip().capitalize()
    if effect not in ("Allow", "Deny"):
        raise ValueError(f"statement {index}: Effect must be Allow or Deny, not {effect!r}")
    sid = _get(raw, "Sid")
    return Statement(
        index=index,
        sid=None if sid in (None, "") else str(sid),
        effect=effect,
        principals=_parse_principals(_get(raw, "Principal")),
        not_principals=_parse_principals(_get(raw, "NotPrincipal")),
        actions=_strings(_get(raw, "Action")),
        not_actions=_strings(_get(raw, "NotAction")),
        resources=_strings(_get(raw, "Resource")),
        not_resources=_strings(_get(raw, "NotResource")),
        conditions=_parse_conditions(_get(raw, "Condition")),
    )


# --------------------------------------------------------------------------------------------
# Principals and actions
# --------------------------------------------------------------------------------------------


def principal_account(value: str) -> str | None:
    """The account of an AWS principal: a bare 12-digit id or the 5th field of an ARN, else None."""
    value = value.strip()
    if _ACCOUNT_ID.fullmatch(value):
        return value
    parts = value.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and _ACCOUNT_ID.fullmatch(parts[4]):
        return parts[4]
    return None


def _account_principal(value: str) -> str | None:
    """The account when the principal names a whole account (`123...` or `arn:...:root`)."""
    value = value.strip()
    if _ACCOUNT_ID.fullmatch(value):
        return value
    parts = value.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "iam" and parts[5] == "root":
        return principal_account(value)
    return None


def principal_covers(pattern: Principal, target: Principal) -> bool:
    """Whether every request by `target` is also a request by `pattern` (used to apply Denies)."""
    if pattern.is_everyone:
        return True  # "*" in a Deny applies to every caller, whatever its kind
    if pattern.kind != target.kind or target.is_everyone:
        return False
    if pattern.kind == "AWS":
        if pattern.value == target.value:
            return True
        account = _account_principal(pattern.value)
        # An account principal stands for every identity in that account.
        return account is not None and target.account == account
    return pattern.value.lower() == target.value.lower()


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: `*` is any run of characters (also none), `?` exactly one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _has_wildcard(value: str) -> bool:
    return any(w in value for w in _WILDCARDS)


def _only_wildcards(value: str) -> bool:
    return value != "" and all(c in _WILDCARDS for c in value)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, wildcards may span the service prefix (`*`, `iam:Create*`)."""
    return _glob(pattern.strip(), True).fullmatch(action.strip()) is not None


# --------------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------------


def _string_equals(ctx: str, pol: str) -> bool:
    return ctx == pol


def _string_equals_ignore_case(ctx: str, pol: str) -> bool:
    return ctx.casefold() == pol.casefold()


def _string_like(ctx: str, pol: str) -> bool:
    return _glob(pol, False).fullmatch(ctx) is not None


def _arn_like(ctx: str, pol: str) -> bool:
    # AWS: each of the six colon-delimited ARN fields is matched on its own (case-sensitive),
    # so a wildcard in the account field can't swallow the resource. ArnEquals behaves the same.
    ctx_parts, pol_parts = ctx.split(":", 5), pol.split(":", 5)
    if len(ctx_parts) != 6 or len(pol_parts) != 6:
        return False
    return all(_string_like(c, p) for c, p in zip(ctx_parts, pol_parts, strict=True))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> datetime | None:
    """An ISO 8601 date/time or epoch seconds; naive times are UTC."""
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(parse: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Callable[[str, str], bool]:
    """A matcher that parses both sides; a value that doesn't parse never matches."""

    def match(ctx: str, pol: str) -> bool:
        a, b = parse(ctx), parse(pol)
        return a is not None and b is not None and test(a, b)

    return match


def _ip_in(ctx: str, pol: str) -> bool:
    try:
        return ipaddress.ip_address(ctx) in ipaddress.ip_network(pol, strict=False)
    except ValueError:
        return False


def _bool_equals(ctx: str, pol: str) -> bool:
    return ctx.lower() == pol.lower()


Matcher = Callable[[str, str], bool]


def _eq(a: Any, b: Any) -> bool:
    return bool(a == b)


def _lt(a: Any, b: Any) -> bool:
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return bool(a <= b)


def _gt(a: Any, b: Any) -> bool:
    return bool(a > b)


def _ge(a: Any, b: Any) -> bool:
    return bool(a >= b)


# base operator -> (positive matcher, negated). A negated operator is true for a request value
# that matches none of the policy values (AWS: "NOR" across the values of a negated operator).
_OPERATORS: dict[str, tuple[Matcher, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool_equals, False),
    "BinaryEquals": (_string_equals, False),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
}
for _family, _parse in (("Numeric", _number), ("Date", _date)):
    _OPERATORS[f"{_family}Equals"] = (_compare(_parse, _eq), False)
    _OPERATORS[f"{_family}NotEquals"] = (_compare(_parse, _eq), True)
    _OPERATORS[f"{_family}LessThan"] = (_compare(_parse, _lt), False)
    _OPERATORS[f"{_family}LessThanEquals"] = (_compare(_parse, _le), False)
    _OPERATORS[f"{_family}GreaterThan"] = (_compare(_parse, _gt), False)
    _OPERATORS[f"{_family}GreaterThanEquals"] = (_compare(_parse, _ge), False)
_CANONICAL = {name.lower(): name for name in (*_OPERATORS, "Null")}


@lru_cache(maxsize=1024)
def _split_operator(operator: str) -> tuple[str | None, str, bool]:
    """`ForAnyValue:StringLikeIfExists` -> ("ForAnyValue", "StringLike", True), case-insensitively."""
    qualifier: str | None = None
    rest = operator.strip()
    if ":" in rest:
        prefix, rest = rest.split(":", 1)
        qualifier = {"foranyvalue": "ForAnyValue", "forallvalues": "ForAllValues"}.get(prefix.lower(), prefix)
    if_exists = rest.lower().endswith("ifexists") and rest.lower() != "ifexists"
    if if_exists:
        rest = rest[: -len("IfExists")]
    return qualifier, _CANONICAL.get(rest.lower(), rest), if_exists


def _context_values(context: Context, key: str) -> tuple[str, ...] | None:
    """The request's values for a key (keys case-insensitive); None when absent or empty."""
    wanted = key.lower()
    for k, v in context.items():
        if k.lower() == wanted:
            if v is None:
                return None
            values = tuple(_text(x) for x in v) if isinstance(v, list | tuple) else (_text(v),)
            return values or None
    return None


def evaluate_condition(condition: Condition, context: Context) -> bool:
    """Whether one condition holds for a request context, following AWS's documented rules."""
    values = _context_values(context, condition.key)
    if condition.base == "Null":
        # Null "true": the key must be absent; "false": it must be present. Values are ORed.
        return any((v.lower() == "true") == (values is None) for v in condition.values)
    if condition.base not in _OPERATORS:
        raise ValueError(f"unsupported condition operator {condition.operator!r}")
    matcher, negated = _OPERATORS[condition.base]
    if values is None:
        if condition.if_exists:
            return True  # ...IfExists: an absent key passes
        if condition.qualifier == "ForAllValues":
            return True  # every one of no values matches: TRUE for an absent key (the known pitfall)
        if condition.qualifier == "ForAnyValue":
            return False  # there is no value that could match
        # AWS: an absent key fails a positive operator and satisfies a negated one
        # (StringNotEquals, ArnNotLike, ... on a missing key is TRUE).
        return negated

    def matches(value: str) -> bool:
        return any(matcher(value, p) for p in condition.values)

    if condition.qualifier == "ForAllValues":
        return all(matches(v) != negated for v in values)
    if condition.qualifier == "ForAnyValue":
        return any(matches(v) != negated for v in values)
    positive = any(matches(v) for v in values)
    return not positive if negated else positive


def conditions_hold(conditions: Iterable[Condition], context: Context) -> bool:
    """A Condition block holds when every condition does (AND across operators and keys)."""
    return all(evaluate_condition(c, context) for c in conditions)


# --------------------------------------------------------------------------------------------
# Who may perform an action: assume paths
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
    """A failed control on one statement and principal, with the facts an auditor needs."""

    control_id: str
    severity: str
    statement_index: int
    sid: str | None
    principal: str
    reason: str
    conditions: tuple[Condition, ...] = ()
    guards: tuple[Guard, ...] = ()

    def facts(self) -> dict[str, Any]:
        """JSON-ready evidence."""
        return {
            "control_id": self.control_id,
            "severity": self.severity,
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


def _finding(control_id: str, severity: str, grant: Grant, reason: str) -> Finding:
    guards = f"; guarded by {'; '.join(map(str, grant.guards))}" if grant.guards else ""
    return Finding(control_id, severity, grant.statement_index, grant.sid, str(grant.principal),
                   f"{grant.label}: {reason}; conditions: {_describe(grant.conditions)}{guards}",
                   grant.conditions, grant.guards)


# --------------------------------------------------------------------------------------------
# G4: external principals and sts:ExternalId
# --------------------------------------------------------------------------------------------

_PIN_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase", "StringLike")


def _usable_positive(c: Condition, operators: Collection[str]) -> bool:
    """A condition that a request without the key fails: not IfExists, not ForAllValues."""
    return c.base in operators and not c.if_exists and c.qualifier in (None, "ForAnyValue")


def pinned_to_organization(conditions: Iterable[Condition], org_account_ids: Collection[str],
                           org_id: str | None) -> bool:
    """Whether a condition confines the caller to the organization (CONTROLS.md G4, `*` principal)."""
    org = (org_id or "").lower()
    for c in conditions:
        if not _usable_positive(c, _PIN_OPERATORS) or not c.values:
            continue
        key, values = c.key_lower, [v.lower() for v in c.values]
        if key == "aws:principalorgid" and org and all(v == org for v in values):
            return True
        if key == "aws:principalaccount" and all(v in org_account_ids for v in c.values):
            return True
        # Org paths always start with the org id: "o-abc/r-ab12/ou-..." stays inside o-abc.
        if key == "aws:principalorgpaths" and org and all(v.startswith(org + "/") for v in values):
            return True
    return False


def is_external(grant: Grant, org_account_ids: Collection[str], org_id: str | None) -> bool:
    """CONTROLS.md G4: an AWS principal outside the org; `*` unless pinned to the org."""
    if grant.principal.kind != "AWS":
        return False
    if grant.principal.is_everyone:
        return not pinned_to_organization(grant.effective_conditions, org_account_ids, org_id)
    account = grant.principal.account
    return account is None or account not in org_account_ids  # unreadable account: external


def external_grants(doc: PolicyInput | Policy, org_account_ids: Collection[str],
                    org_id: str | None = None) -> list[Grant]:
    """Grants of sts:AssumeRole to external principals: RC-4.1's population for this role."""
    return [g for g in assume_paths(doc, ASSUME_ROLE) if is_external(g, org_account_ids, org_id)]


def _external_id_problem(c: Condition) -> str | None:
    """Why an sts:ExternalId condition does not require an External ID, or None when it does."""
    if c.if_exists:
        return f"{c.operator} lets a request without an ExternalId through"
    if c.qualifier == "ForAllValues":
        return f"{c.operator} is true when ExternalId is absent"
    if c.base not in ("StringEquals", "StringLike") or c.negated or c.qualifier not in (None, "ForAnyValue"):
        return f"{c.operator} does not require an exact ExternalId"
    if not c.values or any(not v.strip() for v in c.values):
        return "an empty ExternalId value"
    if c.base == "StringLike" and any(_has_wildcard(v) for v in c.values):
        return "a wildcard in the StringLike ExternalId value"
    return None


def requires_external_id(conditions: Iterable[Condition]) -> bool:
    """RC-4.1: some condition demands sts:ExternalId with StringEquals (or wildcard-free StringLike).

    Pass a grant's `effective_conditions`, so that a Deny guard (StringNotEquals) counts.
    """
    return any(c.key_lower == "sts:externalid" and _external_id_problem(c) is None for c in conditions)


def external_assume_without_external_id(doc: PolicyInput | Policy, org_account_ids: Collection[str],
                                        org_id: str | None = None) -> list[Finding]:
    """RC-4.1: one finding per external grant of sts:AssumeRole that doesn't require an ExternalId."""
    findings: list[Finding] = []
    for g in external_grants(doc, org_account_ids, org_id):
        if requires_external_id(g.effective_conditions):
            continue
        if g.principal.is_everyone:
            but = f" except {', '.join(map(str, g.excluded))}" if g.excluded else ""
            who = f"any AWS principal (*){but}"
        elif g.principal.account is None:
            who = f"{g.principal.value} (account unknown, treated as external)"
        else:
            who = f"{g.principal.value} (account {g.principal.account}, outside the organization)"
        problems = [p for c in g.effective_conditions if c.key_lower == "sts:externalid"
                    if (p := _external_id_problem(c))]
        why = "; ".join(problems) if problems else "no sts:ExternalId condition"
        # "no condition at all": neither in the Allow nor from a Deny guard
        severity = "critical" if g.principal.is_everyone and not g.effective_conditions else "high"
        findings.append(_finding("RC-4.1", severity, g, f"{who} may call sts:AssumeRole ({why})"))
    return findings


_SOURCE_KEYS = ("aws:sourceaccount", "aws:sourcearn")
_SOURCE_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike")


def service_grants(doc: PolicyInput | Policy) -> list[Grant]:
    """RC-4.4's population for this role: grants of sts:AssumeRole to AWS service principals."""
    return [g for g in assume_paths(doc, ASSUME_ROLE) if g.principal.kind == "Service"]


def pins_source(conditions: Iterable[Condition]) -> bool:
    """RC-4.4: a condition a request must satisfy on aws:SourceAccount or aws:SourceArn, with
    values that are not wildcards only (IfExists and ForAllValues let a request without the key
    through, so they don't count)."""
    return any(c.key_lower in _SOURCE_KEYS and _usable_positive(c, _SOURCE_OPERATORS) and c.values
               and all(not _only_wildcards(v) for v in c.values) for c in conditions)


def service_without_source_findings(doc: PolicyInput | Policy) -> list[Finding]:
    """RC-4.4 (info only): service principals trusted without aws:SourceAccount/aws:SourceArn."""
    return [_finding("RC-4.4", "low", g, f"service {g.principal.value} may assume the role on "
                     "behalf of any account (no aws:SourceAccount or aws:SourceArn condition)")
            for g in service_grants(doc) if not pins_source(g.effective_conditions)]


# --------------------------------------------------------------------------------------------
# G5: OIDC trust (GitHub Actions and other providers)
# --------------------------------------------------------------------------------------------


def oidc_issuer(federated: str) -> str | None:
    """The issuer of an OIDC provider ARN (`...:oidc-provider/HOST/PATH` -> `HOST/PATH`), else None.

    The issuer is also the prefix of that provider's condition keys (`HOST/PATH:sub`).
    """
    marker = ":oidc-provider/"
    at = federated.find(marker)
    return federated[at + len(marker):] if at >= 0 and federated.startswith("arn:") else None


def is_github_issuer(issuer: str) -> bool:
    """GitHub Actions: `token.actions.githubusercontent.com`, or `.../ENTERPRISE` (one segment)."""
    lowered = issuer.lower()
    if lowered == GITHUB_ISSUER:
        return True
    enterprise = lowered.removeprefix(GITHUB_ISSUER + "/")
    return enterprise != lowered and enterprise != "" and "/" not in enterprise


def _oidc_grants(doc: PolicyInput | Policy, github: bool) -> list[tuple[Grant, str]]:
    out: list[tuple[Grant, str]] = []
    for g in assume_paths(doc, ASSUME_ROLE_WEB_IDENTITY):
        if g.principal.kind != "Federated":
            continue
        issuer = oidc_issuer(g.principal.value)
        if issuer is not None and is_github_issuer(issuer) == github:
            out.append((g, issuer))
    return out


def oidc_grants(doc: PolicyInput | Policy, github: bool) -> list[tuple[Grant, str]]:
    """Grants of sts:AssumeRoleWithWebIdentity to OIDC providers, with each provider's issuer:
    GitHub Actions ones (RC-5.1/5.2's population) or every other one (RC-5.3's)."""
    return _oidc_grants(doc, github)


def requires_github_audience(grant: Grant, issuer: str) -> bool:
    """RC-5.2's first half: the grant requires `ISSUER:aud` to be sts.amazonaws.com."""
    aud_key = f"{issuer}:aud".lower()
    return any(_aud_ok(c, aud_key) for c in grant.effective_conditions)


def for_all_values_claims(grant: Grant, issuer: str) -> list[Condition]:
    """RC-5.2's second half: aud/sub/iss conditions written with ForAllValues (true when absent)."""
    claims = {f"{issuer}:{claim}".lower() for claim in ("sub", "aud", "iss")}
    return [c for c in grant.conditions if c.key_lower in claims and c.qualifier == "ForAllValues"]


# How tightly one sub value pins the repository, best first. NOBODY: no real token matches.
NOBODY, PINNED, ORG_WIDE, OPEN = "nobody", "pinned", "org-wide", "open"
_RANK = {NOBODY: -1, PINNED: 0, ORG_WIDE: 1, OPEN: 2}
_SUB_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase", "StringLike")
_LITERAL_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase")  # `*` and `?` are plain text


def classify_github_subject(value: str) -> str:
    """RC-5.1: PINNED for `repo:ORG/REPO[:...]` (also `repo:ORG@ID/REPO@ID:...`); ORG_WIDE when
    only REPO has a wildcard (`repo:ORG/*`); OPEN for `*`, `repo:*`, `repo:ORG*`, anything else.

    A wildcard after the repository (`repo:org/repo:ref:refs/heads/*`) still pins the repository.
    """
    if not value.startswith("repo:"):
        return OPEN
    org, slash, rest = value.removeprefix("repo:").partition("/")
    if not slash or not org or _has_wildcard(org) or ":" in org:
        return OPEN  # the wildcard could match any organization
    repo = rest.split(":", 1)[0]
    if not repo or _has_wildcard(repo):
        return ORG_WIDE
    return PINNED


def _is_sub(c: Condition, issuer: str) -> bool:
    return c.key_lower == f"{issuer}:sub".lower() and c.base in _SUB_OPERATORS and bool(c.values)


def _sub_conditions(grant: Grant, issuer: str) -> list[Condition]:
    """The grant's sub conditions, from the Allow and from Deny guards (both must hold)."""
    return [c for c in grant.effective_conditions if _is_sub(c, issuer)]


def _literal_wildcard(c: Condition, value: str) -> bool:
    """A `*`/`?` under StringEquals is compared as text; no GitHub subject contains one."""
    return c.base in _LITERAL_OPERATORS and _has_wildcard(value)


def _admitted(c: Condition) -> list[str]:
    """The values of a sub condition that a real GitHub token can match."""
    return [v for v in c.values if not _literal_wildcard(c, v)]


def _condition_rank(c: Condition) -> str:
    return max((classify_github_subject(v) for v in _admitted(c)), key=_RANK.__getitem__,
               default=NOBODY)


def _best_sub_condition(grant: Grant, issuer: str) -> tuple[str, Condition | None]:
    """Sub conditions are ANDed: the statement is as tight as its tightest one."""
    best: tuple[str, Condition | None] = (OPEN, None)
    for c in _sub_conditions(grant, issuer):
        rank = _condition_rank(c)
        if best[1] is None or _RANK[rank] < _RANK[best[0]]:
            best = (rank, c)
    return best


def _aud_ok(c: Condition, aud_key: str) -> bool:
    if c.key_lower != aud_key or not _usable_positive(c, _SUB_OPERATORS) or not c.values:
        return False
    if c.base == "StringEqualsIgnoreCase":
        return all(v.lower() == GITHUB_AUDIENCE for v in c.values)
    return all(v == GITHUB_AUDIENCE for v in c.values)


def github_oidc_findings(doc: PolicyInput | Policy) -> list[Finding]:
    """RC-5.1 and RC-5.2 for a trust policy: one finding per offending statement/provider/rule.

    Each Allow statement is judged with the Deny guards that cover it: an unconditioned
    statement defeats a restricted one unless a guard restricts it too.
    """
    findings: list[Finding] = []
    for g, issuer in _oidc_grants(doc, github=True):
        rank, cond = _best_sub_condition(g, issuer)
        if cond is None:
            findings.append(_finding("RC-5.1", "critical", g, f"no {issuer}:sub condition: any "
                                     "GitHub Actions workflow may assume the role"))
        elif rank not in (PINNED, NOBODY):
            loose = [v for v in _admitted(cond) if classify_github_subject(v) != PINNED]
            severity = "critical" if rank == OPEN else "high"
            what = "does not pin one organization" if rank == OPEN else "allows a whole organization"
            findings.append(_finding("RC-5.1", severity, g, f"{cond.operator} {cond.key} {what}: {loose}"))
        if not requires_github_audience(g, issuer):
            findings.append(_finding("RC-5.2", "medium", g,
                                     f"{issuer}:aud is not required to equal {GITHUB_AUDIENCE}"))
        for c in for_all_values_claims(g, issuer):
            findings.append(_finding("RC-5.2", "medium", g,
                                     f"{c.operator} on {c.key} is true when the claim is absent"))
    return findings


def subjects_allowed(doc: PolicyInput | Policy) -> list[str]:
    """Which GitHub subjects may assume the role: per statement, the values of its tightest sub
    condition (patterns for StringLike) that a real token can match, or `*` when a statement
    has none. Order kept, no repeats.
    """
    out: list[str] = []
    for g, issuer in _oidc_grants(doc, github=True):
        _, cond = _best_sub_condition(g, issuer)
        for v in _admitted(cond) if cond is not None else ["*"]:
            if v not in out:
                out.append(v)
    return out


def github_subject_notes(doc: PolicyInput | Policy) -> list[str]:
    """RC-5.1 notes: sub values that StringEquals compares literally, so they admit no token.

    That is a misconfiguration, not an exposure: it is said in the reason and never fails
    RC-5.1 by itself (a literal `repo:org/*` is not an org-wide wildcard).
    """
    notes: list[str] = []
    for g, issuer in _oidc_grants(doc, github=True):
        written = [(g.label, c, c) for c in g.conditions]
        written += [(f"Deny statement {d.statement_index}", d.requires, d.condition) for d in g.guards]
        for where, c, shown in written:
            if not _is_sub(c, issuer):
                continue
            for v in c.values:
                note = (f"{where}: {shown.base} compares literally: {v!r} admits no real subject; "
                        f"use {'StringNotLike' if shown.negated else 'StringLike'}")
                if _literal_wildcard(c, v) and note not in notes:
                    notes.append(note)
    return notes


def _restricts(c: Condition) -> bool:
    """RC-5.3: a condition that a token must positively satisfy, and not with a bare `*`
    (under StringEquals `*` is literal text, so any non-empty value restricts)."""
    if c.base in _LITERAL_OPERATORS:
        admits_less = any(v != "" for v in c.values)
    else:
        admits_less = any(not _only_wildcards(v) for v in c.values)
    return (c.base in _OPERATORS and not c.negated and not c.if_exists
            and c.qualifier != "ForAllValues" and admits_less)


def other_oidc_findings(doc: PolicyInput | Policy) -> list[Finding]:
    """RC-5.3: non-GitHub OIDC providers (GitLab, Terraform Cloud, EKS, ...) without a sub
    condition, in the Allow or as a Deny guard."""
    findings: list[Finding] = []
    for g, issuer in _oidc_grants(doc, github=False):
        key = f"{issuer}:sub".lower()
        if not any(c.key_lower == key and _restricts(c) for c in g.effective_conditions):
            findings.append(_finding("RC-5.3", "high", g, f"no condition restricts {issuer}:sub: "
                                     "any identity of that provider may assume the role"))
    return findings


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
    """RC-6.2: a condition that only spares named admin principals from a Deny
    (e.g. `ArnNotLike aws:PrincipalArn arn:aws:iam::*:role/Admin`)."""
    key = c.key_lower
    if c.base not in _EXEMPTION_OPERATORS or c.qualifier is not None or not c.values:
        return False
    if key == "aws:principalarn":
        matcher = _OPERATORS[c.base][0]
        return not any(matcher(p, v) for p in _ORDINARY_PRINCIPALS for v in c.values)
    if key.startswith("aws:principaltag/") or key == "aws:userid":
        return not any(_only_wildcards(v) for v in c.values)
    return False


def _resource_unrestricted(st: Statement) -> bool:
    """Resource `*`, or an ARN pattern whose fields after the service are all wildcards."""
    if st.not_resources is not None:
        return False  # NotResource spares the resources it lists
    if st.resources is None:
        return True
    for r in st.resources:
        parts = r.split(":", 5)
        if _only_wildcards(r) or (len(parts) == 6 and parts[0] == "arn"
                                  and all(p == "" or _only_wildcards(p) for p in parts[3:])):
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
    """RC-6.3: a condition on iam:PermissionsBoundary that holds when no boundary is given
    (`Null: true`, `StringNotEquals[IfExists]`, `ArnNotLike`, ...), or an admin exemption."""
    if is_admin_exemption(c):
        return True
    known = c.base in _OPERATORS or c.base == "Null"
    return c.key_lower == "iam:permissionsboundary" and known and evaluate_condition(c, {})


def boundary_coverage(doc: PolicyInput | Policy) -> Coverage:
    """RC-6.3's first half: whether the policy denies iam:CreateRole when no permissions boundary
    is set. Exemption conditions here are boundary conditions or admin exemptions."""
    return Coverage("iam:CreateRole", _deny_rules(doc, "iam:CreateRole", _boundary_condition))


@dataclass(frozen=True)
class ScpNeed:
    """One thing a G6 control needs denied: its label, the action, and how one SCP denies it."""

    label: str
    action: str
    cover: Callable[[PolicyInput | Policy], Coverage]


def _deny_of(action: str) -> Callable[[PolicyInput | Policy], Coverage]:
    def cover(doc: PolicyInput | Policy) -> Coverage:
        return deny_coverage(doc, action)

    return cover


SCP_NEEDS: dict[str, tuple[ScpNeed, ...]] = {
    "RC-6.2": (
        ScpNeed("iam:CreateUser", "iam:CreateUser", _deny_of("iam:CreateUser")),
        ScpNeed("iam:CreateAccessKey", "iam:CreateAccessKey", _deny_of("iam:CreateAccessKey")),
    ),
    "RC-6.3": (
        # an implicit deny of iam:CreateRole denies it with or without a boundary: stricter
        ScpNeed("iam:CreateRole without a permissions boundary", "iam:CreateRole",
                boundary_coverage),
        ScpNeed("iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
                _deny_of("iam:DeleteRolePermissionsBoundary")),
    ),
}


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

    control_id: str
    passed: bool
    reason: str
    evidence: tuple[tuple[str, Coverage], ...]  # (policy id, coverage) for every covering SCP
    implicit: tuple[ImplicitDeny, ...] = ()  # needs denied by an allow-list level only
    denied: tuple[str, ...] = ()  # labels of the needs denied, explicitly or implicitly


def scp_verdict(control_id: str, scps: Mapping[str, PolicyInput | Policy],
                levels: Sequence[ScpLevel] = ()) -> ScpVerdict:
    """RC-6.2/6.3 for one account: each need denied explicitly by a covering SCP (`scps`, policy
    id -> document) or implicitly by a level of `levels` (root first) that does not allow it."""
    evidence: list[tuple[str, Coverage]] = []
    implicit: list[ImplicitDeny] = []
    denied: list[str] = []
    missing: list[str] = []
    for need in SCP_NEEDS[control_id]:
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
        return ScpVerdict(control_id, False, "no SCP covering the account denies " + " or ".join(missing),
                          tuple(evidence), tuple(implicit), tuple(denied))
    names = sorted({pid for pid, _ in evidence})
    parts = (["denied by " + ", ".join(names)] if names else []) + _implicit_reasons(implicit)
    return ScpVerdict(control_id, True, "; ".join(parts), tuple(evidence), tuple(implicit),
                      tuple(denied))


def denies_user_creation(scps: Mapping[str, PolicyInput | Policy],
                         levels: Sequence[ScpLevel] = ()) -> ScpVerdict:
    """RC-6.2: the SCPs covering an account (policy id -> document) deny iam:CreateUser and
    iam:CreateAccessKey, possibly in different policies, allowing an admin exemption; with
    `levels`, an allow-list level that doesn't allow the action denies it too."""
    return scp_verdict("RC-6.2", scps, levels)


def enforces_permissions_boundary(scps: Mapping[str, PolicyInput | Policy],
                                  levels: Sequence[ScpLevel] = ()) -> ScpVerdict:
    """RC-6.3: the SCPs deny iam:CreateRole unless iam:PermissionsBoundary is set, and deny
    iam:DeleteRolePermissionsBoundary (explicitly, or implicitly through `levels`)."""
    return scp_verdict("RC-6.3", scps, levels)

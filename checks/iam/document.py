"""Policy documents parsed into typed statements, and IAM's condition operators evaluated.

No I/O: a document goes in (a dict or JSON text, as the snapshot stores it), typed statements
come out, and `evaluate_condition` says whether one condition holds for a request context.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

PolicyInput = Mapping[str, Any] | str
Scalar = str | bool | int | float
Context = Mapping[str, Scalar | Sequence[Scalar] | None]

ASSUME_ROLE = "sts:AssumeRole"
ASSUME_ROLE_WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"

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
        return self.base in OPERATORS and OPERATORS[self.base][1]

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
    """A policy document as a dict, from a dict or JSON text.

    IAM's URL-encoding is undone once, where the document is collected
    (flows/sources/authorization.py); text that is not JSON here is refused, not decoded again,
    so a literal `%` or `+` in a condition value is never changed.
    """
    if isinstance(doc, Mapping):
        return dict(doc)
    if not isinstance(doc, str):
        raise ValueError(f"a policy document must be a dict or a JSON string, not {type(doc).__name__}")
    try:
        decoded = json.loads(doc)
    except json.JSONDecodeError as error:
        raise ValueError(f"a policy document must be JSON: {error}") from None
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


def has_wildcard(value: str) -> bool:
    return any(w in value for w in _WILDCARDS)


def only_wildcards(value: str) -> bool:
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
OPERATORS: dict[str, tuple[Matcher, bool]] = {
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
    OPERATORS[f"{_family}Equals"] = (_compare(_parse, _eq), False)
    OPERATORS[f"{_family}NotEquals"] = (_compare(_parse, _eq), True)
    OPERATORS[f"{_family}LessThan"] = (_compare(_parse, _lt), False)
    OPERATORS[f"{_family}LessThanEquals"] = (_compare(_parse, _le), False)
    OPERATORS[f"{_family}GreaterThan"] = (_compare(_parse, _gt), False)
    OPERATORS[f"{_family}GreaterThanEquals"] = (_compare(_parse, _ge), False)
_CANONICAL = {name.lower(): name for name in (*OPERATORS, "Null")}


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
    if condition.base not in OPERATORS:
        raise ValueError(f"unsupported condition operator {condition.operator!r}")
    matcher, negated = OPERATORS[condition.base]
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

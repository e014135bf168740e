"""Concrete requests against whole policies: IAM's evaluation logic, written a second time.

The guidance modules decide symbolically, from checks/iam's reading of statements ("every
external grant requires an ExternalId", "the sub condition pins acme/app"). Their Great
Expectations restatements read the facts computed here instead: answers to concrete questions
("may account 999999999999 assume the role without an ExternalId?", "is a token from
repo:acme/app-evil admitted?") from an evaluator that imports nothing else from checks/. A
semantic mistake in either then shows as a disagreement (the control's rows become `error`)
instead of passing twice, which is all a cross-check sharing the code it checks could prove.

Evaluation, as IAM documents it (policy evaluation logic):
- an explicit Deny whose principal, action, resource and conditions all match wins;
- otherwise an Allow that matches allows; otherwise the request is implicitly denied;
- SCPs: every level root -> OUs -> account needs an Allow, and no SCP anywhere may Deny.
Conditions: the operators of a Condition block are ANDed, and so are the keys under one operator;
the values of one key are ORed. A negated operator holds when no value matches, and when the key
is absent; `...IfExists` holds when the key is absent; `Null` tests presence; ForAnyValue is
false for an absent key, ForAllValues true. ArnEquals and ArnLike both compare the six ARN
fields one by one, with wildcards. An operator this module does not know makes the answer
unknown (None), never a guess.

The questions are existential ("is there a request from that caller, with the ExternalId
absent or guessed, that gets in?"). Keys the question does not fix are searched over candidate
values: absent, each value the policy names for the key (wildcards filled in), and strangers'
values. Past MAX_CONTEXTS combinations the answer is unknown (None).

Callers, as the questions model them:
- a stranger is a role in an account outside the organization (999999999999, and any outside
  account the policy names in a principal key); its aws:PrincipalOrgID and OrgPaths are any
  the policy names except the organization's, or a stranger's;
- a principal the policy names outside the organization keeps its account and, like a
  stranger, is in no organization or another one (never the audited one);
- an account principal (`123456789012`, `arn:aws:iam::123456789012:root`) stands for every
  identity of that account; `"*"` in an Allow admits AWS callers, in a Deny every caller.
- GitHub tokens never hold `*` or `?` in sub, and always carry sub, aud and iss (so ForAllValues
  on a GitHub claim changes no request: the guidance module reads that from the policy text).
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_CONTEXTS = 50_000
ASSUME_ROLE = "sts:AssumeRole"
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
GITHUB = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
STRANGER_ACCOUNT = "999999999999"
STRANGER_ACCOUNTS = (STRANGER_ACCOUNT, "000000000000")  # no digit in common
STRANGER_ORG = "o-rolecallstranger"
GUESSED_EXTERNAL_ID = "rolecall-guessed-external-id"
# Two strangers with no character in common: a pattern with any literal character misses one.
STRANGER_SUBJECTS = ("rolecall-stranger-subject", "0000")
STRANGER_SOURCES = (("999999999999", "arn:aws:lambda:us-east-1:999999999999:function:stranger"),
                    ("000000000000", "arn:aws:s3:::rolecall-0000"))
FILLS = ("", "rolecall-probe")  # what a `*` in a policy value is replaced by, in turn

Context = dict[str, tuple[str, ...]]  # lower-cased key -> values (absent keys are missing)


class Unknown(Exception):
    """The question cannot be answered (operator not known, too many combinations)."""


# ----------------------------------------------------------------------------------------
# Reading a policy (independently of checks/iam/document.py)
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """One statement, as this module reads it."""

    effect: str
    principal: tuple[tuple[str, str], ...] | None  # (kind, value); ("*", "*") for "*"
    not_principal: tuple[tuple[str, str], ...] | None
    action: tuple[str, ...] | None
    not_action: tuple[str, ...] | None
    resource: tuple[str, ...] | None
    not_resource: tuple[str, ...] | None
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (operator, key, values)


def _field(raw: Mapping[str, Any], name: str) -> Any:
    for key, value in raw.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return value
    return None


def _texts(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return tuple("true" if v is True else "false" if v is False else str(v) for v in items)


def _principals(value: Any) -> tuple[tuple[str, str], ...] | None:
    if value is None:
        return None
    if value == "*":
        return (("*", "*"),)
    if not isinstance(value, Mapping):
        raise Unknown(f"Principal is neither * nor an object: {value!r}")
    out = []
    for kind, values in value.items():
        out += [(str(kind).lower(), v) for v in _texts(values) or ()]
    return tuple(out)


def read_policy(doc: str | Mapping[str, Any]) -> tuple[Rule, ...]:
    """The statements of a policy document (JSON text or a dict)."""
    raw = json.loads(doc) if isinstance(doc, str) else doc
    if not isinstance(raw, Mapping):
        raise Unknown("the policy is not a JSON object")
    statements = _field(raw, "Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    rules = []
    for st in statements:
        if not isinstance(st, Mapping):
            raise Unknown("a statement is not an object")
        conditions = []
        for operator, block in (_field(st, "Condition") or {}).items():
            if not isinstance(block, Mapping):
                raise Unknown(f"condition {operator} is not an object")
            for key, values in block.items():
                conditions.append((str(operator), str(key).lower(), _texts(values) or ()))
        rules.append(Rule(
            effect=str(_field(st, "Effect")), principal=_principals(_field(st, "Principal")),
            not_principal=_principals(_field(st, "NotPrincipal")),
            action=_texts(_field(st, "Action")), not_action=_texts(_field(st, "NotAction")),
            resource=_texts(_field(st, "Resource")), not_resource=_texts(_field(st, "NotResource")),
            conditions=tuple(conditions)))
    return tuple(rules)


# ----------------------------------------------------------------------------------------
# Requests and matching
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    """Who makes the request: kind ("aws", "service", "federated"), identity and account."""

    kind: str
    arn: str
    account: str | None = None

    def named_by(self, kind: str, value: str) -> bool:
        if kind == "*":
            return True
        if kind != self.kind:
            return False
        if self.kind != "aws":
            return value.lower() == self.arn.lower()
        if value == self.arn:
            return True
        return self.account is not None and value in (self.account, f"arn:aws:iam::{self.account}:root")


@dataclass(frozen=True)
class Request:
    caller: Caller
    action: str
    resource: str = "*"
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _like_plain(pattern: str, text: str) -> bool:
    """Glob with only `*` and `?` special (fnmatch also treats `[` specially)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _glob(pattern: str, text: str, ignore_case: bool = False) -> bool:
    if ignore_case:
        pattern, text = pattern.lower(), text.lower()
    return _like_plain(pattern, text)


def _arn_like(pattern: str, text: str) -> bool:
    p, t = pattern.split(":", 5), text.split(":", 5)
    if len(p) != 6 or len(t) != 6:
        return _glob(pattern, text)
    return all(_glob(a, b) for a, b in zip(p, t, strict=True))


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError as error:
        raise _NoMatch from error


def _date(text: str) -> datetime:
    try:
        if re.fullmatch(r"\d+", text):
            return datetime.fromtimestamp(int(text), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as error:
        raise _NoMatch from error


class _NoMatch(Exception):
    """A value that cannot be compared (not a number, date or address) does not match."""


def _ip(context: str, policy: str) -> bool:
    try:
        return ipaddress.ip_address(context) in ipaddress.ip_network(policy, strict=False)
    except ValueError as error:
        raise _NoMatch from error


_MATCH = {
    "stringequals": lambda c, p: c == p,
    "stringequalsignorecase": lambda c, p: c.lower() == p.lower(),
    "stringlike": lambda c, p: _glob(p, c),
    "arnequals": lambda c, p: _arn_like(p, c),
    "arnlike": lambda c, p: _arn_like(p, c),
    "numericequals": lambda c, p: _number(c) == _number(p),
    "numericlessthan": lambda c, p: _number(c) < _number(p),
    "numericlessthanequals": lambda c, p: _number(c) <= _number(p),
    "numericgreaterthan": lambda c, p: _number(c) > _number(p),
    "numericgreaterthanequals": lambda c, p: _number(c) >= _number(p),
    "dateequals": lambda c, p: _date(c) == _date(p),
    "datelessthan": lambda c, p: _date(c) < _date(p),
    "datelessthanequals": lambda c, p: _date(c) <= _date(p),
    "dategreaterthan": lambda c, p: _date(c) > _date(p),
    "dategreaterthanequals": lambda c, p: _date(c) >= _date(p),
    "bool": lambda c, p: c.lower() == p.lower(),
    "binaryequals": lambda c, p: c == p,
    "ipaddress": _ip,
}
_NEGATED = {
    "stringnotequals": "stringequals", "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike", "arnnotequals": "arnequals", "arnnotlike": "arnlike",
    "numericnotequals": "numericequals", "datenotequals": "dateequals",
    "notipaddress": "ipaddress",
}


def _matches(base: str, context_value: str, policy_values: Sequence[str]) -> bool:
    test = _MATCH[base]
    for p in policy_values:
        try:
            if test(context_value, p):
                return True
        except _NoMatch:
            continue
    return False


def condition_holds(operator: str, key: str, values: Sequence[str],
                    context: Mapping[str, tuple[str, ...]]) -> bool:
    """One operator/key pair of a Condition block, for one request context."""
    name = operator.lower()
    qualifier = None
    for prefix in ("foranyvalue:", "forallvalues:"):
        if name.startswith(prefix):
            qualifier, name = prefix[:-1], name[len(prefix):]
    if_exists = name.endswith("ifexists")
    name = name.removesuffix("ifexists")
    present = context.get(key)
    if name == "null":
        want_absent = [v.lower() == "true" for v in values]
        return any(w == (present is None) for w in want_absent)
    negated = name in _NEGATED
    base = _NEGATED.get(name, name)
    if base not in _MATCH:
        raise Unknown(f"operator {operator} is not known to the request evaluator")
    if present is None:
        if qualifier == "forallvalues" or if_exists:
            return True
        if qualifier == "foranyvalue":
            return False
        return negated
    hits = [_matches(base, v, values) for v in present]
    if qualifier == "forallvalues":
        return all(not h for h in hits) if negated else all(hits)
    if qualifier == "foranyvalue":
        return any(not h for h in hits) if negated else any(hits)
    return not any(hits) if negated else any(hits)


def _principal_matches(rule: Rule, caller: Caller) -> bool:
    """`"*"` admits AWS callers in an Allow (as `{"AWS": "*"}`), every caller in a Deny."""
    for kind, value in rule.principal or ():
        if (kind, value) in (("*", "*"), ("aws", "*")):
            if rule.effect == "Deny" or caller.kind == "aws":
                return True
        elif caller.named_by(kind, value):
            return True
    return False


def _applies(rule: Rule, request: Request) -> bool:
    """Principal, action and resource match (conditions are tested apart)."""
    caller = request.caller
    if rule.principal is not None and not _principal_matches(rule, caller):
        return False
    if rule.not_principal is not None and any(
            (k, v) in (("*", "*"), ("aws", "*")) or caller.named_by(k, v) for k, v in rule.not_principal):
        return False
    if rule.action is not None and not any(_glob(a, request.action, True) for a in rule.action):
        return False
    if rule.not_action is not None and any(_glob(a, request.action, True) for a in rule.not_action):
        return False
    if rule.resource is not None and not any(_glob(r, request.resource) for r in rule.resource):
        return False
    return not (rule.not_resource is not None and any(_glob(r, request.resource) for r in rule.not_resource))


def _conditions_hold(rule: Rule, request: Request) -> bool:
    return all(condition_holds(op, key, values, request.context) for op, key, values in rule.conditions)


def decide(rules: Sequence[Rule], request: Request) -> str:
    """"deny" (explicit), "allow", or "implicit" (no Allow matched)."""
    matching = [r for r in rules if _applies(r, request) and _conditions_hold(r, request)]
    if any(r.effect == "Deny" for r in matching):
        return "deny"
    return "allow" if any(r.effect == "Allow" for r in matching) else "implicit"


def allows(rules: Sequence[Rule], request: Request) -> bool:
    return decide(rules, request) == "allow"


def scp_allows(levels: Sequence[Sequence[Sequence[Rule] | None]], request: Request) -> bool | None:
    """Whether SCPs let the request through: an Allow at every level, no Deny at any.

    A level is the SCPs attached to one node (root, OU, account); an SCP that could not be read
    is None: it might allow or deny anything, so an answer that depends on it is None.
    """
    uncertain = False
    for level in levels:
        readable = [p for p in level if p is not None]
        if any(decide(p, request) == "deny" for p in readable):
            return False
        if len(readable) < len(level):
            uncertain = True
        elif not any(allows(p, request) for p in readable):
            return False
    return None if uncertain else True


# ----------------------------------------------------------------------------------------
# Searching the request context
# ----------------------------------------------------------------------------------------

def fills(value: str, extra: Iterable[str] = ()) -> list[str]:
    """A policy value with its wildcards filled in: `repo:acme/*` -> `repo:acme/`, ..."""
    out = []
    for fill in (*FILLS, *extra):
        out.append(value.replace("*", fill).replace("?", fill[:1] or "r"))
    return list(dict.fromkeys(out))


def _base(operator: str) -> str:
    name = operator.lower().split(":")[-1].removesuffix("ifexists")
    return _NEGATED.get(name, name)


def _tries(base: str, value: str) -> list[str]:
    """Context values worth trying against one policy value under one operator."""
    if base == "bool":
        return ["true", "false"]
    if base.startswith("numeric"):
        try:
            n = float(value)
        except ValueError:
            return []
        return [value, str(n - 1), str(n + 1)]
    if base.startswith("date"):
        return [value, "1970-01-01T00:00:00Z", "2999-01-01T00:00:00Z"]
    if base == "ipaddress":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return []
        return [str(network.network_address), "198.51.100.7"]
    return [value, *fills(value), "rolecall-stranger"]  # a context value may be any text, `*` too


def _policy_values(rules: Iterable[Rule]) -> dict[str, list[str]]:
    """Per condition key, the context values worth trying (besides the key being absent)."""
    by_key: dict[str, list[str]] = {}
    for rule in rules:
        for operator, key, values in rule.conditions:
            bucket = by_key.setdefault(key, [])
            for v in values:
                bucket.extend(t for t in _tries(_base(operator), v) if t not in bucket)
            if not bucket:
                bucket.append("rolecall-stranger")  # Null alone: present with some value
    return by_key


def contexts(rules: Sequence[Rule], fixed: Mapping[str, Sequence[str | None]]
             ) -> Iterator[dict[str, tuple[str, ...]]]:
    """Every request context worth trying: `fixed` keys take their listed values (None:
    absent), every other key the rules test takes its candidates. Raises Unknown past
    MAX_CONTEXTS."""
    by_key = _policy_values(rules)
    keys = [k for k in by_key if k not in fixed]
    choices = [list(fixed[k]) for k in fixed] + [[None, *by_key[k]] for k in keys]
    total = 1
    for c in choices:
        total *= max(len(c), 1)
    if total > MAX_CONTEXTS:
        raise Unknown(f"{total} request contexts to try, more than {MAX_CONTEXTS}")
    names = [*fixed, *keys]
    for combo in itertools.product(*choices):
        yield {k: (v,) for k, v in zip(names, combo, strict=True) if v is not None}


def _meets_alone(rule: Rule, key: str) -> str | None | bool:
    """A value (None: absent) for `key` that meets every condition of `rule` on it; False if none."""
    tests = [(op, values) for op, k, values in rule.conditions if k == key]
    for candidate in [None, *_policy_values([rule]).get(key, [])]:
        context = {key: (candidate,)} if candidate is not None else {}
        if all(condition_holds(op, key, values, context) for op, values in tests):
            return candidate
    return False


def some_request_allowed(rules: Sequence[Rule], caller: Caller, action: str,
                         fixed: Mapping[str, Sequence[str | None]], resource: str = "*") -> bool:
    """Is there a context (fixed keys as given, others searched) in which the caller gets in?

    For each Allow that applies: a key that no Deny tests and the question does not fix is
    chosen on its own (any value meeting that Allow's conditions on it); the others are
    searched together, so that a Deny is tried against every combination that matters.
    """
    base = Request(caller, action, resource)
    relevant = [r for r in rules if _applies(r, base)]
    denies = [r for r in relevant if r.effect == "Deny"]
    deny_keys = {k for d in denies for _, k, _ in d.conditions}
    for allow in (r for r in relevant if r.effect == "Allow"):
        searched: dict[str, Sequence[str | None]] = dict(fixed)
        for key in {k for _, k, _ in allow.conditions} - deny_keys - set(fixed):
            value = _meets_alone(allow, key)
            if value is False:
                break
            searched[key] = [value]  # type: ignore[list-item]
        else:
            for context in contexts([allow, *denies], searched):
                request = Request(caller, action, resource, context)
                if _conditions_hold(allow, request) and not any(
                        _conditions_hold(d, request) for d in denies):
                    return True
    return False


# ----------------------------------------------------------------------------------------
# The questions G4 and G5 ask of a trust policy
# ----------------------------------------------------------------------------------------

_ACCOUNT = re.compile(r"^\d{12}$")
_PRINCIPAL_KEYS = ("aws:principalaccount", "aws:principalarn", "aws:principalorgid",
                   "aws:principalorgpaths")


def _account_of(value: str) -> str | None:
    if _ACCOUNT.match(value):
        return value
    parts = value.split(":")
    return parts[4] if len(parts) >= 6 and parts[0] == "arn" and _ACCOUNT.match(parts[4]) else None


def _allow_principals(rules: Sequence[Rule], kind: str) -> list[str]:
    out: list[str] = []
    for rule in rules:
        if rule.effect != "Allow":
            continue
        for k, v in rule.principal or ():
            if (k == kind or (kind == "aws" and k == "*")) and v not in out:
                out.append(v)
        if rule.not_principal is not None and kind == "aws" and "*" not in out:
            out.append("*")
    return out


def _values_of(rules: Sequence[Rule], key: str) -> list[str]:
    return [v for r in rules for _, k, values in r.conditions if k == key for v in values]


def _outside_accounts(rules: Sequence[Rule], named_arns: list[str],
                      org_accounts: Collection[str]) -> list[str]:
    """Accounts a stranger may be in: two of ours, and any outside account the policy names."""
    accounts = list(STRANGER_ACCOUNTS)
    accounts += [f for v in _values_of(rules, "aws:principalaccount") for f in fills(v)]
    accounts += [a for a in map(_account_of, named_arns) if a]
    return [a for a in dict.fromkeys(accounts) if _ACCOUNT.match(a) and a not in org_accounts]


Keys = dict[str, list[str | None]]


def _external_callers(rules: Sequence[Rule], org_accounts: Collection[str],
                      org_id: str | None) -> list[tuple[str, Caller, Keys]]:
    """Callers outside the organization, each with the principal value of the policy it stands
    for and the principal keys it may present."""
    org = (org_id or "").lower()
    org_ids = _values_of(rules, "aws:principalorgid")
    paths = [f for v in _values_of(rules, "aws:principalorgpaths") for f in fills(v)]
    named_arns = [f for v in _values_of(rules, "aws:principalarn")
                  for f in fills(v, (STRANGER_ACCOUNT,))]
    stranger_path = f"{STRANGER_ORG}/r-0000/"
    callers: list[tuple[str, Caller, Keys]] = []
    for value in _allow_principals(rules, "aws"):
        if value == "*":
            for account in _outside_accounts(rules, named_arns, org_accounts):
                arn = f"arn:aws:iam::{account}:role/rolecall-stranger"
                callers.append((value, Caller("aws", arn, account), {
                    "aws:principalaccount": [account],
                    "aws:principalarn": list(dict.fromkeys(
                        [arn, *[v for v in named_arns if _account_of(v) == account]])),
                    "aws:principalorgid": [None, STRANGER_ORG,  # None: in no organization
                                           *[v for v in org_ids if v.lower() != org]],
                    "aws:principalorgpaths": [stranger_path, None, *[
                        p for p in paths if not p.lower().startswith(org + "/")]],
                }))
            continue
        account = _account_of(value)
        if account is not None and account in org_accounts:
            continue
        whole_account = account is not None and (_ACCOUNT.match(value) or value.endswith(":root"))
        arn = f"arn:aws:iam::{account}:role/rolecall-stranger" if whole_account else value
        keys: Keys = {  # outside the organization: in none, or in another
            "aws:principalorgid": [None, STRANGER_ORG, *[v for v in org_ids if v.lower() != org]],
            "aws:principalorgpaths": [None, stranger_path, *[
                p for p in paths if not p.lower().startswith(org + "/")]],
        }
        if account is None:  # a unique id (AROA...): any account, any ARN
            keys["aws:principalaccount"] = [None, STRANGER_ACCOUNT,
                                            *_values_of(rules, "aws:principalaccount")]
            keys["aws:principalarn"] = [None, *named_arns]
        else:
            keys["aws:principalaccount"] = [account]
            keys["aws:principalarn"] = list(dict.fromkeys(
                [arn, *[v for v in named_arns if _account_of(v) == account]]))
        callers.append((value, Caller("aws", arn, account), keys))
    return callers


def _exact_external_ids(rules: Sequence[Rule]) -> set[str]:
    """The ExternalIds a request must name exactly: non-empty values compared as text
    (StringEquals, StringNotEquals in a guard) or StringLike values without wildcards."""
    exact = set()
    for rule in rules:
        for operator, key, values in rule.conditions:
            literal = _base(operator) == "stringequals"
            exact |= {v for v in values if key == "sts:externalid" and v.strip()
                      and (literal or ("*" not in v and "?" not in v))}
    return exact


def _guessed_external_ids(rules: Sequence[Rule]) -> list[str | None]:
    """ExternalIds a caller who does not know the secret might send."""
    written = _values_of(rules, "sts:externalid")
    guesses: list[str | None] = [None, "", GUESSED_EXTERNAL_ID]
    for v in written:  # case variants: StringEqualsIgnoreCase admits them
        guesses += [*fills(v), v.swapcase(), v.upper(), v.lower(), v.title()]
    exact = _exact_external_ids(rules)
    return list(dict.fromkeys(g for g in guesses if g is None or g not in exact))


def external_callers_admitted_without_external_id(
        doc: str | Mapping[str, Any], org_accounts: Collection[str], org_id: str | None) -> int:
    """How many principals of the policy (`*` is one) let a caller from outside the organization
    in with no, an empty or a guessed ExternalId."""
    rules = read_policy(doc)
    guesses = _guessed_external_ids(rules)
    admitted: set[str] = set()
    for value, caller, keys in _external_callers(rules, org_accounts, org_id):
        if value not in admitted and some_request_allowed(
                rules, caller, ASSUME_ROLE, {**keys, "sts:externalid": guesses}):
            admitted.add(value)
    return len(admitted)


def services_admitted_from_any_source(doc: str | Mapping[str, Any]) -> int:
    """How many service principals get in with no aws:SourceAccount/SourceArn, or from every
    stranger's source (the trust confines them to no particular source)."""
    rules = read_policy(doc)
    unconfined = 0
    for service in _allow_principals(rules, "service"):
        caller = Caller("service", service)
        base = {"aws:principalservicename": [service]}
        absent = some_request_allowed(rules, caller, ASSUME_ROLE, {
            **base, "aws:sourceaccount": [None], "aws:sourcearn": [None]})
        everywhere = all(some_request_allowed(rules, caller, ASSUME_ROLE, {
            **base, "aws:sourceaccount": [account], "aws:sourcearn": [arn]})
            for account, arn in STRANGER_SOURCES)
        unconfined += absent or everywhere
    return unconfined


def _issuer(provider: str) -> str | None:
    marker = ":oidc-provider/"
    return provider.split(marker, 1)[1] if provider.startswith("arn:") and marker in provider else None


def _is_github(issuer: str) -> bool:
    host, _, enterprise = issuer.lower().partition("/")
    return host == GITHUB and "/" not in enterprise


def _oidc_providers(rules: Sequence[Rule], github: bool) -> list[tuple[str, str]]:
    return [(p, issuer) for p in _allow_principals(rules, "federated")
            if (issuer := _issuer(p)) is not None and _is_github(issuer) == github]


def _repository(sub: str) -> str | None:
    """ORG/REPO of a GitHub subject `repo:ORG/REPO:...`, else None."""
    if not sub.startswith("repo:"):
        return None
    org_repo = sub.removeprefix("repo:").split(":", 1)[0]
    org, slash, repo = org_repo.partition("/")
    return org_repo if slash and org and repo else None


def _github_subjects(rules: Sequence[Rule], issuer: str) -> tuple[list[str], set[str]]:
    """Subjects to try (real tokens only: no `*` or `?`) and the repositories named literally."""
    written = _values_of(rules, f"{issuer}:sub".lower())
    named = {r for v in written if (r := _repository(v)) and "*" not in r and "?" not in r}
    orgs = {r.split("/")[0] for r in named} | {
        v.removeprefix("repo:").split("/")[0] for v in written if v.startswith("repo:")}
    tries = [f for v in written for f in fills(v)]
    tries += ["repo:rolecall-stranger/rolecall-stranger:ref:refs/heads/main", "0000"]
    tries += [f"repo:{o}/rolecall-stranger:ref:refs/heads/main" for o in orgs
              if o and "*" not in o and "?" not in o]
    return list(dict.fromkeys(t for t in tries if "*" not in t and "?" not in t)), named


def github_providers_admitting_other_repositories(doc: str | Mapping[str, Any]) -> int:
    """GitHub providers from which a token of a repository the trust does not name gets in."""
    rules = read_policy(doc)
    loose = 0
    for provider, issuer in _oidc_providers(rules, github=True):
        subjects, named = _github_subjects(rules, issuer)
        caller = Caller("federated", provider)
        foreign = [s for s in subjects if _repository(s) not in named]
        loose += some_request_allowed(rules, caller, WEB_IDENTITY,
                                      {f"{issuer}:sub".lower(): foreign})
    return loose


def github_providers_admitting_other_audiences(doc: str | Mapping[str, Any]) -> int:
    """GitHub providers from which a token whose aud is absent or not sts.amazonaws.com gets in."""
    rules = read_policy(doc)
    loose = 0
    for provider, issuer in _oidc_providers(rules, github=True):
        key = f"{issuer}:aud".lower()
        # a workflow chooses its token's audience, so any text is possible, `*` too
        audiences = [None, "rolecall-stranger-audience",
                     *[f for v in _values_of(rules, key) for f in (v, *fills(v))]]
        others = list(dict.fromkeys(a for a in audiences if a is None or a.lower() != STS_AUDIENCE))
        loose += some_request_allowed(rules, Caller("federated", provider), WEB_IDENTITY, {key: others})
    return loose


def other_providers_admitting_any_subject(doc: str | Mapping[str, Any]) -> int:
    """Other OIDC providers from which a token gets in without a sub, or whatever its sub."""
    rules = read_policy(doc)
    loose = 0
    for provider, issuer in _oidc_providers(rules, github=False):
        key = f"{issuer}:sub".lower()
        caller = Caller("federated", provider)
        absent = some_request_allowed(rules, caller, WEB_IDENTITY, {key: [None]})
        anyone = all(some_request_allowed(rules, caller, WEB_IDENTITY, {key: [s]})
                     for s in STRANGER_SUBJECTS)
        loose += absent or anyone
    return loose


# ----------------------------------------------------------------------------------------
# The questions G6 asks of an account's SCP chain
# ----------------------------------------------------------------------------------------

ORDINARY_ROLE = "rolecall-ordinary-role"


def ordinary_caller(account_id: str) -> Caller:
    """A role of the account with no tags: not an admin any SCP exemption could name."""
    return Caller("aws", f"arn:aws:iam::{account_id}:role/{ORDINARY_ROLE}", account_id)


def read_scp(doc: str | None) -> tuple[Rule, ...] | None:
    """An SCP's statements, or None when it was not collected or cannot be read."""
    if doc is None:
        return None
    try:
        return read_policy(doc)
    except (Unknown, ValueError, TypeError, AttributeError):
        return None


def ordinary_request_allowed(levels: Sequence[Sequence[Sequence[Rule] | None]], account_id: str,
                             action: str, resource: str,
                             fixed: Mapping[str, Sequence[str | None]] | None = None) -> bool | None:
    """Is there a request by an ordinary role of the account that the SCP chain lets through?

    levels: root first, each the SCPs attached to that node (read_scp). None when the answer
    depends on an SCP that could not be read.
    """
    every = [r for level in levels for p in level if p is not None for r in p]
    caller = ordinary_caller(account_id)
    identity: dict[str, Sequence[str | None]] = {
        "aws:principalarn": [caller.arn], "aws:principalaccount": [account_id],
        "aws:userid": [f"AROARDINARYROLE:{ORDINARY_ROLE}"],
        **{k: [None] for k in _tag_keys(every)}, **(fixed or {})}
    unsure = False
    for context in contexts(every, identity):
        try:
            verdict = scp_allows(levels, Request(caller, action, resource, context))
        except Unknown:
            verdict = None
        if verdict:
            return True
        unsure = unsure or verdict is None
    return None if unsure else False


def _tag_keys(rules: Iterable[Rule]) -> list[str]:
    """The ordinary caller has no tags: aws:PrincipalTag/* keys are absent."""
    return list(dict.fromkeys(k for r in rules for _, k, _ in r.conditions
                              if k.startswith("aws:principaltag/")))

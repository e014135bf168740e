"""Questions about trust policies: external principals, External IDs, service principals, OIDC."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from checks.iam.document import (
    ASSUME_ROLE,
    ASSUME_ROLE_WEB_IDENTITY,
    OPERATORS,
    Condition,
    Policy,
    PolicyInput,
    evaluate_condition,
    has_wildcard,
    only_wildcards,
)
from checks.iam.grants import Finding, Grant, assume_paths, finding

GITHUB_ISSUER = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"

# Finding kinds: what is wrong with a grant (the guidance modules map them to severities).
OPEN_TO_EVERYONE = "open-to-everyone"  # `*` with no condition at all, no External ID
EXTERNAL = "external-without-external-id"
SERVICE_UNCONFINED = "service-without-source"
NO_SUBJECT = "no-subject-condition"  # GitHub: any workflow may assume the role
SUBJECT_OPEN = "subject-not-pinned-to-an-organization"
SUBJECT_ORG_WIDE = "subject-organization-wide"
NO_AUDIENCE = "audience-not-required"
FOR_ALL_VALUES = "claim-tested-with-for-all-values"
OTHER_NO_SUBJECT = "other-provider-without-subject"
# --------------------------------------------------------------------------------------------
# G4: external principals and sts:ExternalId
# --------------------------------------------------------------------------------------------

_PIN_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase", "StringLike")


def _usable_positive(c: Condition, operators: Collection[str]) -> bool:
    """A condition that a request without the key fails: not IfExists, not ForAllValues."""
    return c.base in operators and not c.if_exists and c.qualifier in (None, "ForAnyValue")


def pinned_to_organization(conditions: Iterable[Condition], org_account_ids: Collection[str],
                           org_id: str | None) -> bool:
    """Whether a condition confines the caller to the organization (for a `*` principal)."""
    org = (org_id or "").lower()
    for c in conditions:
        key, values = c.key_lower, [v.lower() for v in c.values]
        # aws:PrincipalAccount is in every AWS request, with one value: ...IfExists and the
        # set qualifiers change nothing on it
        always_there = key == "aws:principalaccount"
        if not (_usable_positive(c, _PIN_OPERATORS) or (always_there and c.base in _PIN_OPERATORS)) \
                or not c.values:
            continue
        if key == "aws:principalorgid" and org and all(v == org for v in values):
            return True
        if key == "aws:principalaccount" and all(v in org_account_ids for v in c.values):
            return True
        # Org paths always start with the org id: "o-abc/r-ab12/ou-..." stays inside o-abc.
        if key == "aws:principalorgpaths" and org and all(v.startswith(org + "/") for v in values):
            return True
    return False


def _account_ruled_out(conditions: Iterable[Condition], account: str) -> bool:
    """A condition on aws:PrincipalAccount that no identity of `account` meets (e.g. a guard
    `StringNotEquals PrincipalAccount ORG`). The key is in every AWS request, with one value,
    so the condition can be evaluated for that account exactly."""
    context = {"aws:PrincipalAccount": account}
    return any(c.key_lower == "aws:principalaccount" and (c.base in OPERATORS or c.base == "Null")
               and not evaluate_condition(c, context) for c in conditions)


def is_external(grant: Grant, org_account_ids: Collection[str], org_id: str | None) -> bool:
    """An AWS principal outside the org that the grant can admit; `*` unless pinned to the org."""
    if grant.principal.kind != "AWS":
        return False
    if pinned_to_organization(grant.effective_conditions, org_account_ids, org_id):
        return False  # no caller outside the organization meets the pin, named or `*`
    if grant.principal.is_everyone:
        return True
    account = grant.principal.account
    if account is None:
        return True  # unreadable account: external
    return account not in org_account_ids and not _account_ruled_out(grant.effective_conditions, account)


def external_grants(doc: PolicyInput | Policy, org_account_ids: Collection[str],
                    org_id: str | None = None) -> list[Grant]:
    """Grants of sts:AssumeRole to external principals."""
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
    if c.base == "StringLike" and any(has_wildcard(v) for v in c.values):
        return "a wildcard in the StringLike ExternalId value"
    return None


def requires_external_id(conditions: Iterable[Condition]) -> bool:
    """Some condition demands sts:ExternalId with StringEquals (or wildcard-free StringLike).

    Pass a grant's `effective_conditions`, so that a Deny guard (StringNotEquals) counts.
    """
    return any(c.key_lower == "sts:externalid" and _external_id_problem(c) is None for c in conditions)


def external_assume_without_external_id(doc: PolicyInput | Policy, org_account_ids: Collection[str],
                                        org_id: str | None = None) -> list[Finding]:
    """One finding per external grant of sts:AssumeRole that doesn't require an ExternalId."""
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
        kind = OPEN_TO_EVERYONE if g.principal.is_everyone and not g.effective_conditions else EXTERNAL
        findings.append(finding(kind, g, f"{who} may call sts:AssumeRole ({why})"))
    return findings


_SOURCE_KEYS = ("aws:sourceaccount", "aws:sourcearn")
_SOURCE_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike")


def service_grants(doc: PolicyInput | Policy) -> list[Grant]:
    """Grants of sts:AssumeRole to AWS service principals."""
    return [g for g in assume_paths(doc, ASSUME_ROLE) if g.principal.kind == "Service"]


def pins_source(conditions: Iterable[Condition]) -> bool:
    """A condition a request must satisfy on aws:SourceAccount or aws:SourceArn, with
    values that are not wildcards only (IfExists and ForAllValues let a request without the key
    through, so they don't count). Under StringEquals a `*` is literal text and pins too."""
    return any(c.key_lower in _SOURCE_KEYS and _usable_positive(c, _SOURCE_OPERATORS) and c.values
               and (c.base in _LITERAL_OPERATORS or all(not only_wildcards(v) for v in c.values))
               for c in conditions)


def service_without_source_findings(doc: PolicyInput | Policy) -> list[Finding]:
    """Service principals trusted without aws:SourceAccount/aws:SourceArn."""
    return [finding(SERVICE_UNCONFINED, g, f"service {g.principal.value} may assume the role on "
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
    GitHub Actions ones or every other one."""
    return _oidc_grants(doc, github)


def requires_github_audience(grant: Grant, issuer: str) -> bool:
    """The grant requires `ISSUER:aud` to be sts.amazonaws.com."""
    aud_key = f"{issuer}:aud".lower()
    return any(_aud_ok(c, aud_key) for c in grant.effective_conditions)


def for_all_values_claims(grant: Grant, issuer: str) -> list[Condition]:
    """aud/sub/iss conditions written with ForAllValues (true when absent)."""
    claims = {f"{issuer}:{claim}".lower() for claim in ("sub", "aud", "iss")}
    return [c for c in grant.conditions if c.key_lower in claims and c.qualifier == "ForAllValues"]


# How tightly one sub value pins the repository, best first. NOBODY: no real token matches.
NOBODY, PINNED, ORG_WIDE, OPEN = "nobody", "pinned", "org-wide", "open"
_RANK = {NOBODY: -1, PINNED: 0, ORG_WIDE: 1, OPEN: 2}
_SUB_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase", "StringLike")
_LITERAL_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase")  # `*` and `?` are plain text


def classify_github_subject(value: str) -> str:
    """PINNED for `repo:ORG/REPO[:...]` (also `repo:ORG@ID/REPO@ID:...`); ORG_WIDE when
    only REPO has a wildcard (`repo:ORG/*`); OPEN for `*`, `repo:*`, `repo:ORG*`, anything else.

    A wildcard after the repository (`repo:org/repo:ref:refs/heads/*`) still pins the repository.
    """
    if not value.startswith("repo:"):
        return OPEN
    org, slash, rest = value.removeprefix("repo:").partition("/")
    if not slash or not org or has_wildcard(org) or ":" in org:
        return OPEN  # the wildcard could match any organization
    repo = rest.split(":", 1)[0]
    if not repo or has_wildcard(repo):
        return ORG_WIDE
    return PINNED


def _is_sub(c: Condition, issuer: str) -> bool:
    return c.key_lower == f"{issuer}:sub".lower() and c.base in _SUB_OPERATORS and bool(c.values)


def _sub_conditions(grant: Grant, issuer: str) -> list[Condition]:
    """The grant's sub conditions, from the Allow and from Deny guards (both must hold)."""
    return [c for c in grant.effective_conditions if _is_sub(c, issuer)]


def _literal_wildcard(c: Condition, value: str) -> bool:
    """A `*`/`?` under StringEquals is compared as text; no GitHub subject contains one."""
    return c.base in _LITERAL_OPERATORS and has_wildcard(value)


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
    """GitHub subject and audience findings: one per offending statement, provider and problem.

    Each Allow statement is judged with the Deny guards that cover it: an unconditioned
    statement defeats a restricted one unless a guard restricts it too.
    """
    findings: list[Finding] = []
    for g, issuer in _oidc_grants(doc, github=True):
        rank, cond = _best_sub_condition(g, issuer)
        if cond is None:
            findings.append(finding(NO_SUBJECT, g, f"no {issuer}:sub condition: any "
                                     "GitHub Actions workflow may assume the role"))
        elif rank not in (PINNED, NOBODY):
            loose = [v for v in _admitted(cond) if classify_github_subject(v) != PINNED]
            kind = SUBJECT_OPEN if rank == OPEN else SUBJECT_ORG_WIDE
            what = "does not pin one organization" if rank == OPEN else "allows a whole organization"
            findings.append(finding(kind, g, f"{cond.operator} {cond.key} {what}: {loose}"))
        if not requires_github_audience(g, issuer):
            findings.append(finding(NO_AUDIENCE, g,
                                     f"{issuer}:aud is not required to equal {GITHUB_AUDIENCE}"))
        for c in for_all_values_claims(g, issuer):
            findings.append(finding(FOR_ALL_VALUES, g,
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
    """Sub values that StringEquals compares literally, so they admit no token.

    That is a misconfiguration, not an exposure: it is said in the reason and is never
    a finding by itself (a literal `repo:org/*` is not an org-wide wildcard).
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
    """A condition that a token must positively satisfy, none of whose values is a bare `*`
    (the values are ORed, so one `*` admits every subject). Under StringEquals `*` and ''
    are literal text: they admit only themselves, so every value restricts."""
    if c.base in _LITERAL_OPERATORS:
        admits_less = bool(c.values)
    else:
        admits_less = bool(c.values) and not any(only_wildcards(v) for v in c.values)
    return (c.base in OPERATORS and not c.negated and not c.if_exists
            and c.qualifier != "ForAllValues" and admits_less)


def other_oidc_findings(doc: PolicyInput | Policy) -> list[Finding]:
    """Non-GitHub OIDC providers (GitLab, Terraform Cloud, EKS, ...) without a sub
    condition, in the Allow or as a Deny guard."""
    findings: list[Finding] = []
    for g, issuer in _oidc_grants(doc, github=False):
        key = f"{issuer}:sub".lower()
        if not any(c.key_lower == key and _restricts(c) for c in g.effective_conditions):
            findings.append(finding(OTHER_NO_SUBJECT, g, f"no condition restricts {issuer}:sub: "
                                     "any identity of that provider may assume the role"))
    return findings



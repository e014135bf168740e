"""What each IAM user is, decided by a rule table: the first rule that matches gives the one reason.

| order | classification      | matches when                                                  |
|-------|---------------------|---------------------------------------------------------------|
| 1     | external-dependency | a register entry valid on the run date lets the user exist     |
|       |                     | (it covers the "no IAM users" control)                        |
| 2     | dormant             | no usable credential; or, older than unused_credential_days,  |
|       |                     | no sign-in and no key use within unused_credential_days       |
| 3     | both                | a console password and an active access key                   |
| 4     | person              | a console password, no active access key                      |
| 5     | workload            | active access keys, no console password                       |

Rule 2 uses the run's own unused_credential_days (the threshold the G1 unused-key control judged
with), in calendar days as G1 counts them: a use on the day `run date - threshold` is within it.
A user younger than the threshold is not dormant: it has not had the time to be used. The rules
cover every user (a user with no usable credential is dormant), so no user goes unclassified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from reports.migration.facts import RunFacts, UserFacts


class Classification(StrEnum):
    external_dependency = "external-dependency"
    dormant = "dormant"
    both = "both"
    person = "person"
    workload = "workload"


@dataclass(frozen=True)
class Verdict:
    classification: Classification
    evidence: str  # the facts that decided it, in words


@dataclass(frozen=True)
class ClassificationRule:
    classification: Classification
    matches: Callable[[UserFacts, RunFacts], bool]
    evidence: Callable[[UserFacts, RunFacts], str]


def last_use(user: UserFacts) -> datetime | None:
    """The latest sign-in or key use of the user, None if never."""
    uses = [user.password_last_used, *(k.last_used for k in user.keys)]
    return max((u for u in uses if u is not None), default=None)


def _day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.date()


def _cutoff(run: RunFacts) -> date:
    return run.run_date - timedelta(days=run.unused_credential_days)


def _usable(user: UserFacts) -> bool:
    return user.password_enabled or bool(user.active_keys)


def is_dormant(user: UserFacts, run: RunFacts) -> bool:
    if not _usable(user):
        return True
    created, used = _day(user.created), _day(last_use(user))
    old_enough = created is None or created < _cutoff(run)
    return old_enough and (used is None or used < _cutoff(run))


def _excepted_evidence(user: UserFacts, run: RunFacts) -> str:
    e = user.exception
    assert e is not None
    return (f"{e.kind} exception {e.exception_id} is valid until {e.expires}: "
            f"{e.dependency or 'dependency not named'}")


def _dormant_evidence(user: UserFacts, run: RunFacts) -> str:
    if not _usable(user):
        return "no console password and no active access key: nothing can use it"
    used = _day(last_use(user))
    since = f"last used {used}" if used else "never used"
    return (f"{since}; nothing within {run.unused_credential_days} days of {run.run_date} "
            f"(created {_day(user.created) or 'on an unknown date'})")


def credentials(user: UserFacts) -> str:
    """The user's credentials and their last use, in words."""
    parts = []
    if user.password_enabled:
        signed_in = _day(user.password_last_used)
        parts.append(f"console password (last sign-in {signed_in or 'never'}), "
                     f"MFA {'active' if user.mfa_active else 'not active'}")
    for key in user.active_keys:
        used = _day(key.last_used)
        where = f" ({key.service or 'service unknown'}, {key.region or 'region unknown'})" \
            if used else ""
        parts.append(f"access key {key.slot} (last used {used or 'never'}{where})")
    return "; ".join(parts) or "no credentials"


RULES: tuple[ClassificationRule, ...] = (
    ClassificationRule(Classification.external_dependency,
                       lambda u, r: u.exception is not None, _excepted_evidence),
    ClassificationRule(Classification.dormant, is_dormant, _dormant_evidence),
    ClassificationRule(Classification.both,
                       lambda u, r: u.password_enabled and bool(u.active_keys),
                       lambda u, r: credentials(u)),
    ClassificationRule(Classification.person,
                       lambda u, r: u.password_enabled and not u.active_keys,
                       lambda u, r: credentials(u)),
    ClassificationRule(Classification.workload,
                       lambda u, r: bool(u.active_keys) and not u.password_enabled,
                       lambda u, r: credentials(u)),
)


def classify(user: UserFacts, run: RunFacts) -> Verdict:
    """The first rule of RULES that matches the user."""
    for rule in RULES:
        if rule.matches(user, run):
            return Verdict(rule.classification, rule.evidence(user, run))
    raise AssertionError(f"no classification rule matches {user.arn}: RULES must cover every user")

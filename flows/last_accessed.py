"""IAM service last-accessed details per user, for `rolecall plan --deep`, within a call budget.

IAM answers in two steps: GenerateServiceLastAccessedDetails starts a job (one call), and
GetServiceLastAccessedDetails (one call per poll; MaxItems 1000 holds every service in one page,
a further page costs one more) returns it once COMPLETED. A user costs two calls at best, one
more per extra poll, and a member account one AssumeRole first (as the audit does: its role
name and External ID). All of an account's jobs are started before the first is polled, so they
run side by side on IAM's side and the first poll usually finds them done. No IAM waiter exists
for these jobs, and a custom one would throw away the completed response it waited for (one
call more per user), so the poll is written out.

A user whose call is denied or throttled past the retries (flows/sources/session.py's limits)
loses its own deep data only; users past the budget are named as skipped. Nothing is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from flows.sources.session import AccountClients, Limits, assume_role_session, error_code

DEFAULT_BUDGET = 200
POLL_ROUNDS = 5  # polls of an account's jobs still IN_PROGRESS, before giving them up
POLL_DELAY = 2.0  # seconds before the second round of polls; doubled each round after
GRANULARITY = "ACTION_LEVEL"
MAX_ITEMS = 1000  # services per page of GetServiceLastAccessedDetails (IAM's maximum)


@dataclass(frozen=True)
class LastAccessed:
    """One user's completed job: its id and ServicesLastAccessed as IAM returned them."""

    job_id: str
    services: tuple[dict[str, Any], ...]


@dataclass
class DeepResult:
    """What --deep found: per user ARN its details, or why it has none; the calls spent."""

    budget: int
    found: dict[str, LastAccessed] = field(default_factory=dict)
    lacking: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # not asked: the budget ran out
    calls: int = 0

    @property
    def left(self) -> int:
        return self.budget - self.calls


def fetch_last_accessed(
    base: boto3.Session,
    users: Sequence[tuple[str, str]],
    *,
    management_account_id: str | None,
    role_name: str,
    external_id: str | None,
    budget: int = DEFAULT_BUDGET,
    limits: Limits | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeepResult:
    """Details for (account id, user ARN) pairs, in the order given (the plan's: riskiest first),
    spending at most `budget` API calls."""
    limits = limits or Limits()
    result = DeepResult(budget)
    by_account: dict[str, list[str]] = {}
    for account_id, arn in users:
        by_account.setdefault(account_id, []).append(arn)
    for account_id, arns in by_account.items():
        member = account_id != management_account_id
        if result.left < 2 + member:  # one user at least: its job and one poll
            result.skipped.extend(arns)
            continue
        if member:
            result.calls += 1
            try:
                session, _ = assume_role_session(base, account_id, role_name, external_id, limits)
            except Exception as error:
                for arn in arns:
                    result.lacking[arn] = f"AssumeRole into {account_id} failed: " \
                                          f"{error_code(error)}"
                continue
            clients = AccountClients(session, account_id, limits)
        else:
            clients = AccountClients(base, account_id, limits)
        _account(clients, arns, result, sleep)
    return result


def _account(clients: AccountClients, arns: list[str], result: DeepResult,
             sleep: Callable[[float], None]) -> None:
    """Start a job per user while a poll of each started one stays affordable, then poll."""
    iam = clients.client("iam", source="last_accessed")
    spent_before = result.calls
    jobs: dict[str, str] = {}

    def spent() -> int:
        return spent_before + clients.calls

    for arn in arns:
        if result.budget - spent() < 2 + len(jobs):  # this job, and a poll of each job
            result.skipped.append(arn)
            continue
        try:
            jobs[arn] = iam.generate_service_last_accessed_details(
                Arn=arn, Granularity=GRANULARITY)["JobId"]
        except Exception as error:
            result.lacking[arn] = f"GenerateServiceLastAccessedDetails: {error_code(error)}"
    for round_ in range(POLL_ROUNDS):
        if round_:
            sleep(POLL_DELAY * 2 ** (round_ - 1))
        for arn, job_id in list(jobs.items()):
            if result.budget - spent() < 1:
                break
            try:
                done = _poll(iam, job_id, lambda: result.budget - spent())
            except Exception as error:
                result.lacking[arn] = f"GetServiceLastAccessedDetails: {error_code(error)}"
                del jobs[arn]
                continue
            if done is None:
                continue
            del jobs[arn]
            if isinstance(done, str):
                result.lacking[arn] = done
            else:
                result.found[arn] = done
        if not jobs:
            break
    for arn in jobs:
        result.lacking[arn] = ("job still IN_PROGRESS when the budget or the polls ran out "
                               f"(job {jobs[arn]})")
    result.calls = spent()


def _poll(iam: Any, job_id: str, left: Callable[[], int]) -> LastAccessed | str | None:
    """The completed job (every page), why it failed, or None while IN_PROGRESS."""
    page = iam.get_service_last_accessed_details(JobId=job_id, MaxItems=MAX_ITEMS)
    status = page["JobStatus"]
    if status == "FAILED":
        return f"job {job_id} FAILED: {page.get('Error', {}).get('Message', 'no reason given')}"
    if status != "COMPLETED":
        return None
    services = list(page.get("ServicesLastAccessed", []))
    while page.get("IsTruncated"):
        if left() < 1:
            return f"job {job_id}: the budget ran out before its last page"
        page = iam.get_service_last_accessed_details(JobId=job_id, MaxItems=MAX_ITEMS,
                                                     Marker=page["Marker"])
        services.extend(page.get("ServicesLastAccessed", []))
    return LastAccessed(job_id, tuple(services))

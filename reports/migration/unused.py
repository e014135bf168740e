"""What a user has not used, and on what evidence: the services and actions a replacement's
policies may leave out.

Two sources give the same shape: an ACTIVE IAM Access Analyzer UnusedPermission finding on the
user (its get_finding_v2 details, as the snapshot holds them), and IAM's service last-accessed
details that `rolecall plan --deep` asks for. Only what the evidence names is unused: a service
whose detail lists actions is unused for those actions alone, never as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class UnusedAccess:
    """Services unused as a whole and single actions unused (lower case, `service:action`),
    with the evidence; no evidence means unused permissions are not known."""

    evidence: tuple[str, ...] = ()
    services: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    unknown_because: str = "no ACTIVE UnusedPermission finding on the user"
    deep_lacking: str = ""  # why `plan --deep` got no last-accessed details for the user

    @property
    def known(self) -> bool:
        return bool(self.evidence)

    @property
    def anything(self) -> bool:
        return bool(self.services or self.actions)


NOT_KNOWN = UnusedAccess()


def _action(service: str, action: str) -> str:
    """`s3:GetObject` whether the source writes `GetObject` or `s3:GetObject`."""
    return (action if ":" in action else f"{service}:{action}").lower()


def from_findings(findings: Iterable[tuple[str, list[dict[str, Any]] | None]]) -> UnusedAccess:
    """The union of the user's ACTIVE UnusedPermission findings, given as (finding id,
    findingDetails or None when not fetched)."""
    found = list(findings)
    if not found:
        return NOT_KNOWN
    fetched = [(fid, details) for fid, details in found if details is not None]
    if not fetched:
        ids = ", ".join(fid for fid, _ in found)
        return UnusedAccess(unknown_because=f"the details of UnusedPermission finding {ids} "
                            "were not fetched (the audit's call budget)")
    services: set[str] = set()
    actions: set[str] = set()
    for _, details in fetched:
        for detail in details:
            unused = detail.get("unusedPermissionDetails")
            if not unused or not unused.get("serviceNamespace"):
                continue
            namespace = unused["serviceNamespace"].lower()
            listed = [a["action"] for a in unused.get("actions") or [] if a.get("action")]
            if listed:
                actions.update(_action(namespace, a) for a in listed)
            else:
                services.add(namespace)
    return UnusedAccess(tuple(f"Access Analyzer finding {fid}" for fid, _ in fetched),
                        frozenset(services), frozenset(actions))


def from_last_accessed(job_id: str, services_last_accessed: list[Mapping[str, Any]],
                       since: datetime) -> UnusedAccess:
    """What GetServiceLastAccessedDetails (ACTION_LEVEL) shows unused since `since`: services
    never authenticated to since then, and, of the services used, tracked actions not used
    since then."""
    services: set[str] = set()
    actions: set[str] = set()
    for service in services_last_accessed:
        namespace = str(service["ServiceNamespace"]).lower()
        if not _used_since(service.get("LastAuthenticated"), since):
            services.add(namespace)
            continue
        for tracked in service.get("TrackedActionsLastAccessed") or []:
            if tracked.get("ActionName") and not _used_since(tracked.get("LastAccessedTime"),
                                                             since):
                actions.add(_action(namespace, tracked["ActionName"]))
    return UnusedAccess((f"IAM service last accessed details (job {job_id}, not used since "
                         f"{since.date()})",), frozenset(services), frozenset(actions))


def _used_since(last: datetime | None, since: datetime) -> bool:
    return last is not None and last >= since


def with_deep(finding: UnusedAccess, deep: UnusedAccess | None, lacking: str | None
              ) -> UnusedAccess:
    """`--deep`'s evidence, asked for today, replaces the finding's (made on the run date: the
    user may have used a service since); where --deep got nothing, the finding stays, and why
    --deep got nothing is said."""
    if deep is not None:
        return deep
    return replace(finding, deep_lacking=lacking) if lacking else finding

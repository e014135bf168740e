"""The replacement's permissions, from the user's effective policies: AWS managed policies stay
attachments (by ARN), every other document (the user's and its groups' inline policies, customer
managed policies) is merged into one inline policy, each statement's Sid naming where it came
from. An Identity Center permission set takes the same two parts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from reports.migration.facts import EffectivePolicies

INLINE_LIMIT = 32_768  # characters of a permission set's inline policy (IAM Identity Center quota)
VERSION = "2012-10-17"


@dataclass(frozen=True)
class Permissions:
    managed_policy_arns: tuple[str, ...]
    inline_policy: dict[str, Any] | None
    notes: tuple[str, ...] = ()  # what could not be carried over, or needs a look


def merge(policies: EffectivePolicies) -> Permissions:
    """AWS managed ARNs kept, every other document merged into one inline policy."""
    notes: list[str] = []
    if not policies.known:
        notes.append("this run did not collect the users' policies: permissions unknown, "
                     "rerun the audit with this version")
    statements: list[dict[str, Any]] = []
    for number, source in enumerate(policies.documents, start=1):
        if source.document is None:
            notes.append(f"{source.source}: document not in the snapshot, not carried over")
            continue
        found = source.document.get("Statement", [])
        for index, statement in enumerate(found if isinstance(found, list) else [found], start=1):
            statements.append({**statement, "Sid": _sid(number, index, source.source)})
    inline = {"Version": VERSION, "Statement": statements} if statements else None
    if inline and len(json.dumps(inline, separators=(",", ":"))) > INLINE_LIMIT:
        notes.append(f"the merged inline policy is over {INLINE_LIMIT} characters: split it into "
                     "customer managed policies")
    if not inline and not policies.aws_managed and policies.known:
        notes.append("the user holds no permissions")
    return Permissions(policies.aws_managed, inline, tuple(notes))


def _sid(number: int, index: int, source: str) -> str:
    """A Sid (letters and digits only) naming the source: `P2S1GroupOpsInlinePolicyLogs`."""
    words = "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", source) if w)
    return f"P{number}S{index}{words}"[:100]

"""The replacement's permissions, from the user's effective policies: AWS managed policies stay
attachments (by ARN), every other document (the user's and its groups' inline policies, customer
managed policies) is merged into one inline policy, each statement's Sid naming where it came
from. An Identity Center permission set takes the same two parts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from reports.migration.facts import EffectivePolicies
from reports.migration.unused import NOT_KNOWN, UnusedAccess

INLINE_LIMIT = 32_768  # characters of a permission set's inline policy (IAM Identity Center quota)
VERSION = "2012-10-17"


@dataclass(frozen=True)
class Permissions:
    managed_policy_arns: tuple[str, ...]
    inline_policy: dict[str, Any] | None
    notes: tuple[str, ...] = ()  # what could not be carried over, or needs a look
    left_out: tuple[str, ...] = ()  # actions (`s3:*` for a whole service) left out as unused


@dataclass(frozen=True)
class Narrowed:
    """One statement after the unused actions were left out (None: nothing of it is left)."""

    statement: dict[str, Any] | None
    left_out: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # why something unused stays (a wildcard, NotAction, Deny)


def merge(policies: EffectivePolicies, unused: UnusedAccess = NOT_KNOWN) -> Permissions:
    """AWS managed ARNs kept, every other document merged into one inline policy, without what
    `unused` shows unused."""
    notes: list[str] = []
    left_out: list[str] = []
    kept: list[str] = []
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
            narrowed = narrow(statement, unused)
            left_out.extend(narrowed.left_out)
            kept.extend(narrowed.kept)
            if narrowed.statement is not None:
                statements.append({**narrowed.statement, "Sid": _sid(number, index, source.source)})
    inline = {"Version": VERSION, "Statement": statements} if statements else None
    if inline and len(json.dumps(inline, separators=(",", ":"))) > INLINE_LIMIT:
        notes.append(f"the merged inline policy is over {INLINE_LIMIT} characters: split it into "
                     "customer managed policies")
    if not inline and not policies.aws_managed and policies.known:
        notes.append("the user holds no permissions")
    notes.extend(_unused_notes(unused, left_out, kept, policies.aws_managed))
    return Permissions(policies.aws_managed, inline, tuple(notes),
                       tuple(dict.fromkeys(left_out)))


def narrow(statement: dict[str, Any], unused: UnusedAccess) -> Narrowed:
    """The statement without the actions `unused` names, never wider: only Allow statements
    lose actions (a Deny losing one would allow more); an action goes when its whole service is
    unused or it is itself named unused; a wildcard (`s3:Get*`, `*`) and NotAction stay as
    they are, since leaving out part of them would need the list of every action they cover."""
    if not unused.anything or statement.get("Effect") != "Allow":
        return Narrowed(statement)
    if "Action" not in statement:
        return Narrowed(statement, kept=("a NotAction statement is kept as it is",))
    listed = statement["Action"]
    actions = [listed] if isinstance(listed, str) else list(listed)
    keep: list[str] = []
    dropped: list[str] = []
    kept: list[str] = []
    for action in actions:
        service, _, name = action.lower().partition(":")
        wildcard = "*" in name or "?" in name or action == "*"
        if service in unused.services or (not wildcard and action.lower() in unused.actions):
            dropped.append(action)
        else:
            keep.append(action)
            covered = sorted(a for a in unused.actions if fnmatchcase(a, action.lower()))
            if action == "*" or covered:
                kept.append(f"{action} is a wildcard covering unused actions "
                            f"({', '.join(covered[:5]) or 'unused services'}): kept")
    if not dropped:
        return Narrowed(statement, kept=tuple(kept))
    if not keep:
        return Narrowed(None, tuple(dropped), tuple(kept))
    return Narrowed({**statement, "Action": keep}, tuple(dropped), tuple(kept))


def _unused_notes(unused: UnusedAccess, left_out: list[str], kept: list[str],
                  aws_managed: tuple[str, ...]) -> list[str]:
    """What the plan says of unused permissions: left out, on which evidence, or not known."""
    deep = [f"--deep got no last-accessed details ({unused.deep_lacking})"] \
        if unused.deep_lacking else []
    if not unused.known:
        return [*deep, f"unused permissions not known ({unused.unknown_because}): "
                       "nothing left out"]
    evidence = "; ".join(unused.evidence)
    notes = [f"left out as unused, on the evidence of {evidence}: "
             f"{', '.join(dict.fromkeys(left_out))}" if left_out else
             f"nothing left out of the merged policy, on the evidence of {evidence}"]
    notes += [f"{k} (never widened)" for k in dict.fromkeys(kept)] + deep
    if aws_managed and unused.anything:
        notes.append("AWS managed policies are attached as they are: the unused permissions "
                     "they grant stay")
    return notes


def _sid(number: int, index: int, source: str) -> str:
    """A Sid (letters and digits only) naming the source: `P2S1GroupOpsInlinePolicyLogs`."""
    words = "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", source) if w)
    return f"P{number}S{index}{words}"[:100]

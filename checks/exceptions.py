"""The exceptions register: a YAML file of IAM users (and roles, for RC-6.4) tolerated, and why.

Loading is strict: a register that cannot be read exactly (bad YAML, a wrong type, an unknown
control or kind, a duplicate id, a missing principal/controls/kind/expires/id) raises
`RegisterError` naming the entry and the field, because a half-read register could silently
except something. Gaps an auditor should see rather than a crash (no owner, no reason, no
dependency, expired, too long, stale) load fine and become `Problem`s, reported by RC-1.5;
an entry with any problem other than "stale" excepts nothing.

Decisions where CONTROLS.md is silent:
- `dependency` is required for kind `external-dependency` only; a break-glass user exists for
  people locked out, it has no external dependency to name. `reason` and `owner` are required
  for both kinds. `approved_by` is recorded but not required (CONTROLS.md does not list it).
- "Runs longer than 12 months": expires - approved_on > 366 days; without `approved_on`,
  expires - run date > 366 days.
- `expires` is the last day the entry is valid: it is expired when expires < run date.
- Principals compare case-insensitively (IAM user names are unique regardless of case).
- Controls no exception can cover are a load error, not a silent no-op: RC-1.2 (CONTROLS.md:
  excepted users still rotate), RC-1.4 (the root user is not an IAM user), RC-1.5 (the register
  cannot except itself), RC-2.2 (a console password without MFA is never acceptable).
- Entries are numbered from 1 in error messages.
- A principal is an IAM user ARN, or an IAM role ARN for an entry that lists only controls on
  roles (RC-6.4: a role that may run without a permissions boundary). Anything else is a load
  error on `principal`; so is a user entry listing RC-6.4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from checks.catalogue import CONTROLS_BY_ID

KINDS: tuple[str, ...] = ("external-dependency", "break-glass")
MAX_TERM_DAYS = 366
NOT_EXCEPTABLE: dict[str, str] = {
    "RC-1.2": "excepted users still rotate their keys",
    "RC-1.4": "the root user is not an IAM user",
    "RC-1.5": "the register cannot except its own entries",
    "RC-2.2": "a console password without MFA is never acceptable",
}
USER_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):user/\S+$")
ROLE_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/\S+$")
ROLE_CONTROLS: tuple[str, ...] = ("RC-6.4",)  # controls whose members are roles, not users


class RegisterError(ValueError):
    """The register cannot be used; the message names the entry and the field."""


@dataclass(frozen=True)
class Problem:
    """Why an entry cannot except anything (or, for `stale`, why it should be removed)."""

    code: str  # expired, missing-owner, missing-reason, missing-dependency, too-long, stale
    severity: str  # medium, or low for stale
    message: str


class Entry(BaseModel):
    """One register entry, as written in the YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str = Field(min_length=1)
    # controls before principal: the principal's validator needs them (role ARNs: RC-6.4 only)
    controls: tuple[str, ...] = Field(min_length=1)
    principal: str
    kind: Literal["external-dependency", "break-glass"]
    dependency: str | None = None
    reason: str | None = None
    owner: str | None = None
    approved_by: str | None = None
    expires: date
    approved_on: date | None = None

    @field_validator("dependency", "reason", "owner", "approved_by", mode="before")
    @classmethod
    def _blank_is_missing(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("expires", "approved_on", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        # The YAML loader keeps dates as text, so a bad date is reported here, by field.
        if value is None or isinstance(value, date):
            return value
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError(f"invalid date {_quote(value)}, expected YYYY-MM-DD")
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"invalid date {_quote(value)}") from None

    @field_validator("principal")
    @classmethod
    def _principal_arn(cls, value: str, info: ValidationInfo) -> str:
        controls = info.data.get("controls")
        if USER_ARN.match(value):
            on_roles = [c for c in controls or () if c in ROLE_CONTROLS]
            if on_roles:
                raise ValueError(f"{', '.join(on_roles)} applies to roles, not to the IAM user "
                                 f"{_quote(value)}")
            return value
        if ROLE_ARN.match(value):
            if controls and all(c in ROLE_CONTROLS for c in controls):
                return value
            raise ValueError(f"not an IAM user ARN {_quote(value)} (a role ARN may only be "
                             f"excepted from {', '.join(ROLE_CONTROLS)})")
        raise ValueError(f"not an IAM user ARN {_quote(value)}")

    @field_validator("controls")
    @classmethod
    def _known_controls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for control_id in value:
            if control_id not in CONTROLS_BY_ID:
                raise ValueError(f"unknown control {_quote(control_id)}")
            if control_id in NOT_EXCEPTABLE:
                raise ValueError(
                    f"{control_id} cannot be excepted: {NOT_EXCEPTABLE[control_id]}"
                )
        return tuple(dict.fromkeys(value))

    @property
    def account_id(self) -> str:
        match = USER_ARN.match(self.principal) or ROLE_ARN.match(self.principal)
        return match.group(1) if match else ""

    @property
    def is_role(self) -> bool:
        return ROLE_ARN.match(self.principal) is not None

    @property
    def principal_key(self) -> str:
        return principal_key(self.principal)


@dataclass(frozen=True)
class Register:
    """The loaded register; `source` names the file in messages and evidence."""

    entries: tuple[Entry, ...] = ()
    source: str = "exceptions.yaml"


def principal_key(arn: str) -> str:
    """The form principals are compared in: IAM user names are unique regardless of case."""
    return arn.lower()


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text, so `2026-13-01` is a field error, not a crash."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_register(path: Path | str) -> Register:
    """Read and validate the register file; raise RegisterError on anything unreadable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RegisterError(f"{path.name}: cannot read: {error.strerror or error}") from None
    return parse_register(text, source=path.name)


def parse_register(text: str, source: str = "exceptions.yaml") -> Register:
    """Validate register text; every entry is checked and all errors are reported together."""
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise RegisterError(f"{source}: not valid YAML{where}: {problem}") from None
    if not isinstance(document, dict) or "exceptions" not in document:
        raise RegisterError(f"{source}: expected a top-level 'exceptions:' list")
    unknown = sorted(str(k) for k in document if k != "exceptions")
    if unknown:
        raise RegisterError(f"{source}: unknown top-level key(s): {', '.join(unknown)}")
    raw_entries = document["exceptions"] or []
    if not isinstance(raw_entries, list):
        raise RegisterError(f"{source}: exceptions: expected a list of entries")

    errors: list[str] = []
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_entries, start=1):
        label = _entry_label(source, number, raw)
        if not isinstance(raw, dict):
            errors.append(f"{label}: expected a mapping of fields")
            continue
        ident = raw.get("id")
        if isinstance(ident, str) and ident.strip() in seen:
            errors.append(f"{label}: id: duplicate id, first used by entry {seen[ident.strip()]}")
        elif isinstance(ident, str):
            seen[ident.strip()] = number
        try:
            entries.append(Entry.model_validate(raw))
        except ValidationError as error:
            errors.extend(f"{label}: {_field_message(e)}" for e in error.errors())
    if errors:
        raise RegisterError("\n".join(errors))
    return Register(entries=tuple(entries), source=source)


def entry_problems(
    entry: Entry, as_of: date, existing_user_arns: set[str] | None
) -> list[Problem]:
    """Everything wrong with an entry on `as_of`.

    `existing_user_arns` (compared case-insensitively) is the users known to exist; None means
    existence is unknown (the account was not collected) and staleness is not judged.
    """
    problems: list[Problem] = []
    if entry.expires < as_of:
        days = (as_of - entry.expires).days
        problems.append(Problem(
            "expired", "medium",
            f"expired on {entry.expires} ({days} days before the run date {as_of})",
        ))
    if entry.owner is None:
        problems.append(Problem("missing-owner", "medium", "no owner"))
    if entry.reason is None:
        problems.append(Problem("missing-reason", "medium", "no reason"))
    if entry.kind == "external-dependency" and entry.dependency is None:
        problems.append(Problem(
            "missing-dependency", "medium",
            "kind external-dependency but no dependency names what relies on the user",
        ))
    start, start_name = term_start(entry, as_of)
    term = (entry.expires - start).days
    if term > MAX_TERM_DAYS:
        problems.append(Problem(
            "too-long", "medium",
            f"runs {term} days from {start} ({start_name}) to {entry.expires} "
            f"(limit {MAX_TERM_DAYS})",
        ))
    if existing_user_arns is not None and not _exists(entry.principal, existing_user_arns):
        problems.append(Problem(
            "stale", "low", f"names {entry.principal}, which does not exist in the snapshot"
        ))
    return problems


def term_start(entry: Entry, as_of: date) -> tuple[date, str]:
    """Where the 12-month term is measured from: approved_on, else the run date."""
    if entry.approved_on is not None:
        return entry.approved_on, "approved_on"
    return as_of, "the run date"


def is_valid(entry: Entry, as_of: date) -> bool:
    """Usable on `as_of`: not expired, complete, within 12 months (staleness is irrelevant)."""
    return not entry_problems(entry, as_of, None)


def valid_exception_for(
    register: Register,
    principal_arn: str,
    control_id: str,
    as_of: date,
    kind: str | None = None,
) -> Entry | None:
    """The valid entry that excepts `principal_arn` for `control_id`, if any.

    When several match, the one that expires last wins (ties: smallest id), the same choice
    `valid_exception_rows` lets the SQL join make.
    """
    key = principal_key(principal_arn)
    matches = [
        e for e in register.entries
        if e.principal_key == key and control_id in e.controls
        and (kind is None or e.kind == kind) and is_valid(e, as_of)
    ]
    if not matches:
        return None
    return sorted(matches, key=lambda e: (-e.expires.toordinal(), e.id))[0]


def valid_exception_rows(register: Register, as_of: date) -> list[dict[str, Any]]:
    """One row per (valid entry, control): what the vectorised exception join matches on."""
    return [
        {
            "principal_key": e.principal_key, "control_id": control_id, "kind": e.kind,
            "exception_id": e.id, "expires": e.expires,
        }
        for e in register.entries if is_valid(e, as_of)
        for control_id in e.controls
    ]


def _exists(arn: str, existing: Iterable[str]) -> bool:
    key = principal_key(arn)
    if key in existing or arn in existing:  # type: ignore[operator]
        return True
    return any(principal_key(a) == key for a in existing)


def _entry_label(source: str, number: int, raw: Any) -> str:
    ident = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(ident, str) and ident:
        return f'{source}: entry {number} (id "{ident}")'
    return f"{source}: entry {number}"


def _field_message(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "entry"
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return f"{field}: missing"
    if kind == "extra_forbidden":
        return f"{field}: unknown field"
    if kind == "literal_error":
        return f"{field}: must be one of {', '.join(KINDS)}, got {_quote(value)}"
    if kind == "value_error":
        return f"{field}: {error['ctx']['error']}"
    if kind in ("tuple_type", "list_type"):
        return f"{field}: expected a list, got {_quote(value)}"
    if kind in ("too_short", "string_too_short"):
        return f"{field}: must not be empty"
    return f"{field}: {error['msg'].lower()}, got {_quote(value)}"


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)

"""The exceptions register: a YAML file of IAM users (and roles, for controls on roles) tolerated, and why.

Loading is strict: a register that cannot be read exactly (bad YAML, a wrong type, an unknown
control or kind, a duplicate id, a missing principal/controls/kind/expires/id) raises
`RegisterError` naming the entry and the field, because a half-read register could silently
except something. The file is hostile input too, so loading is bounded: at most
MAX_REGISTER_BYTES (checked on the open file before reading), UTF-8 only, no YAML anchors or
aliases (refused at the first one, before anything expands), no key given twice in a mapping
(YAML would keep the last one silently), at most MAX_ENTRIES entries, MAX_NODES values and
MAX_DEPTH levels.

Gaps an auditor should see rather than a crash (no owner, no reason, no dependency, expired,
too long, stale) load fine and become `Problem`s, reported by the register's own control
(checks/g1_no_iam_users.py, with the severity of each problem from its catalogue entry);
an entry with any problem other than "stale" excepts nothing.

Decisions where CONTROLS.md is silent:
- `dependency` is required for kind `external-dependency` only; a break-glass user exists for
  people locked out, it has no external dependency to name. `reason` and `owner` are required
  for both kinds. `approved_by` is recorded but not required (CONTROLS.md does not list it).
- "Runs longer than 12 months": expires - approved_on > 366 days; without `approved_on`,
  expires - run date > 366 days.
- `expires` is the last day the entry is valid: it is expired when expires < run date.
- Principals compare case-insensitively (IAM user names are unique regardless of case).
- Controls no exception can cover (`Control.never_excepted`, with the reason, in each control's
  home) are a load error, not a silent no-op.
- Entries are numbered from 1 in error messages.
- `ticket` (optional) is the approval's reference: an http(s) URL (at most MAX_TICKET_URL
  characters, with a host, no user name or password in it) or an id (TICKET_ID: a letter, then
  letters, digits and . _ - # /, at least one digit, at most 64 characters: SEC-1234,
  CHG0030001, INC-2026-017). Anything else is a load error on `ticket`; blank is missing. A
  missing ticket is a problem ("missing-ticket") only when the run's settings require one
  (`require_exception_ticket`, a DuckDB variable read by checks/register_facts.py).
- The 12-month term and the ticket requirement are a `RegisterPolicy`; the run's settings
  (`exception_max_days`, `require_exception_ticket`) decide it, MAX_TERM_DAYS and "not required"
  when unset.
- A principal is an IAM user ARN, or an IAM role ARN for an entry that lists only controls on
  roles (`Control.excepted_principal == "role"`: a role that may run without a permissions
  boundary). Anything else is a load error on `principal`; so is a user entry listing one.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from checks.catalogue import CONTROLS, CONTROLS_BY_ID
from checks.g1_no_iam_users import MAX_TERM_DAYS as MAX_TERM_DAYS  # re-exported
from checks.g1_no_iam_users import RC_1_5 as REGISTER_CONTROL

KINDS: tuple[str, ...] = ("external-dependency", "break-glass")
NOT_EXCEPTABLE: dict[str, str] = {c.id: c.never_excepted for c in CONTROLS if c.never_excepted}
USER_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):user/\S+$")
ROLE_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):role/\S+$")
# controls whose members are roles, not users
ROLE_CONTROLS: tuple[str, ...] = tuple(c.id for c in CONTROLS if c.excepted_principal == "role")
# An approval reference: a ticket id (SEC-1234, CHG0030001) or an http(s) URL to the ticket.
TICKET_ID = re.compile(r"[A-Za-z][A-Za-z0-9._#/-]{0,62}[A-Za-z0-9]")
MAX_TICKET_URL = 2048


class StrictInputError(ValueError):
    """A strictly loaded YAML file cannot be used; the message names the file, entry and field."""


class RegisterError(StrictInputError):
    """The register cannot be used; the message names the entry and the field."""


@dataclass(frozen=True)
class RegisterPolicy:
    """What the run's settings ask of an entry: its longest term and whether it needs a ticket."""

    max_term_days: int = MAX_TERM_DAYS
    require_ticket: bool = False


def check_ticket(value: Any) -> str | None:
    """The ticket as given (blank: None), or ValueError saying what a ticket may be."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a ticket id or URL as text, got {_quote(value)}")
    ticket = value.strip()
    if not ticket:
        return None
    if ticket.lower().startswith(("http://", "https://")):
        parts = urlsplit(ticket) if len(ticket) <= MAX_TICKET_URL else None
        if parts is None:
            raise ValueError(f"URL longer than {MAX_TICKET_URL} characters")
        if not parts.hostname or any(c.isspace() or not c.isprintable() for c in ticket):
            raise ValueError(f"not a usable URL {_quote(ticket)}")
        if parts.username is not None or parts.password is not None:
            raise ValueError("URL carries a user name or password; give the ticket's plain URL")
        return ticket
    if TICKET_ID.fullmatch(ticket) and any(c.isdigit() for c in ticket):
        return ticket
    raise ValueError(
        f"not a ticket id or URL {_quote(ticket)}: expected an id such as SEC-1234 (a letter, "
        "then letters, digits and . _ - # /, with a digit, at most 64 characters) or an "
        "http(s) URL"
    )


def iso_date(value: Any) -> Any:
    """A YYYY-MM-DD text as a date (the strict loaders keep dates as text), else ValueError."""
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise ValueError(f"invalid date {_quote(value)}, expected YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"invalid date {_quote(value)}") from None


@dataclass(frozen=True)
class Problem:
    """Why an entry cannot except anything (or, for `stale`, why it should be removed)."""

    code: str  # expired, missing-owner, missing-reason, missing-dependency, too-long, stale
    severity: str  # the register control's, by problem code (stale: low)
    message: str


class Entry(BaseModel):
    """One register entry, as written in the YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str = Field(min_length=1)
    # controls before principal: the principal's validator needs them (role ARNs: ROLE_CONTROLS)
    controls: tuple[str, ...] = Field(min_length=1)
    principal: str
    kind: Literal["external-dependency", "break-glass"]
    dependency: str | None = None
    reason: str | None = None
    owner: str | None = None
    approved_by: str | None = None
    expires: date
    approved_on: date | None = None
    ticket: str | None = None  # the approval's reference: an id or an http(s) URL

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
        return iso_date(value)

    @field_validator("ticket", mode="before")
    @classmethod
    def _ticket(cls, value: Any) -> Any:
        return check_ticket(value)

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


MAX_REGISTER_BYTES = 1024 * 1024  # a 3,700-entry register is 1 MiB; a bigger file is not a register
MAX_ENTRIES = 10_000  # minimal entries are ~150 bytes: more than 1 MiB holds, whatever the layout
MAX_DEPTH = 20  # a register nests 5 deep (document, list, entry, controls, control)
MAX_NODES = 200_000  # YAML values: 1 MiB of real entries has ~85,000; bounds time and memory
MAX_ERRORS_SHOWN = 50  # one line each; a register that bad needs its first errors fixed first


class _Refused(yaml.MarkedYAMLError):
    """YAML the register never needs and the loader will not follow (anchors, aliases, depth)."""


class _StrictComposer(Composer):
    """Composer that stops at the first anchor or alias, before anything can expand.

    YAML aliases let 375 bytes describe gigabytes ("billion laughs"); a register has no use for
    them, so the first `&anchor` or `*alias` event ends the load. Nesting is capped too, because
    composing recurses and a deep `[[[[...` would otherwise end in RecursionError, and so is the
    number of values, so 1 MiB of `[a,a,a,...` cannot cost more than a real register does.
    """

    _depth = 0
    _nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise _Refused(None, None, f"YAML aliases are not allowed (*{event.anchor})",
                           event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise _Refused(None, None, f"YAML anchors are not allowed (&{event.anchor})",
                           event.start_mark)
        if self._depth >= MAX_DEPTH:
            raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep",
                           event.start_mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(None, None, f"more than {MAX_NODES} YAML values, far more than "
                           f"{MAX_ENTRIES} entries need", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Constructing(SafeConstructor):
    """SafeConstructor whose value errors (an integer of 5,000 digits) carry the value's line."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as error:
            raise ConstructorError(None, None, f"cannot read the value: {error}",
                                   node.start_mark) from None


def _loader_class(with_libyaml: bool = yaml.__with_libyaml__) -> type:
    """libyaml's parser (C) under the strict Python composer when PyYAML was built with it: a
    1 MiB register loads in about 2 s instead of 7 s with the pure-Python parser."""
    loader: type
    if with_libyaml:
        from yaml._yaml import CParser

        class _CLoader(_StrictComposer, CParser, _Constructing, Resolver):  # type: ignore[misc]
            def __init__(self, stream: str) -> None:
                CParser.__init__(self, stream)
                _StrictComposer.__init__(self)
                _Constructing.__init__(self)
                Resolver.__init__(self)

        loader = _CLoader
    else:
        class _PyLoader(Reader, Scanner, Parser, _StrictComposer, _Constructing, Resolver):
            def __init__(self, stream: str) -> None:
                Reader.__init__(self, stream)
                Scanner.__init__(self)
                Parser.__init__(self)
                _StrictComposer.__init__(self)
                _Constructing.__init__(self)
                Resolver.__init__(self)

        loader = _PyLoader
    # Dates stay text, so `2026-13-01` is a field error, not a crash. No merge keys (`<<`):
    # without aliases they only obscure which value a field has; `<<` is then an unknown field.
    loader.yaml_implicit_resolvers = {  # type: ignore[attr-defined]
        first: [(tag, rx) for tag, rx in resolvers
                if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:merge")]
        for first, resolvers in Resolver.yaml_implicit_resolvers.items()
    }
    return loader


_Loader = _loader_class()


def load_register(path: Path | str) -> Register:
    """Read and validate the register file; raise RegisterError on anything unreadable."""
    name, text = read_bounded_text(path, MAX_REGISTER_BYTES, "an exceptions register",
                                   RegisterError)
    return parse_register(text, source=name)


def read_bounded_text(
    path: Path | str, max_bytes: int, what: str, error: type[StrictInputError]
) -> tuple[str, str]:
    """(file name, UTF-8 text) of a small input file, or `error` naming the file.

    The file is opened once and checked on its descriptor (a regular file, at most `max_bytes`)
    before a byte is read, so a folder, a FIFO or a 50 MB file is refused at once; non-blocking
    open keeps a FIFO from hanging the open itself. `what` names the file's kind in messages.
    """
    path = Path(path)
    name = path.name or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as oserror:
        raise error(f"{name}: cannot read: {oserror.strerror or oserror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{name}: cannot read: is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{name}: cannot read: not a regular file")
        if info.st_size > max_bytes:
            raise error(_too_large(name, info.st_size, max_bytes, what))
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(max_bytes + 1)  # the file may grow after fstat
    except OSError as oserror:
        raise error(f"{name}: cannot read: {oserror.strerror or oserror}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise error(_too_large(name, len(data), max_bytes, what))
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        start = decode_error.start
        line = data.count(b"\n", 0, start) + 1
        raise error(
            f"{name}: not UTF-8 text: byte 0x{data[start]:02x} at offset {start} "
            f"(line {line}) cannot be decoded; save the file as UTF-8"
        ) from None


def parse_register(text: str, source: str = "exceptions.yaml") -> Register:
    """Validate register text; every entry is checked and all errors are reported together."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_REGISTER_BYTES:
        raise RegisterError(_too_large(source, size))
    document = load_strict_yaml(text, source, entries_key="exceptions",
                                entry_label=_entry_label, error=RegisterError)
    raw_entries = top_level_entries(document, source, "exceptions", RegisterError, MAX_ENTRIES,
                                    f"more than the limit of {MAX_ENTRIES}")

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
        if len(errors) > MAX_ERRORS_SHOWN:
            more = len(errors) - MAX_ERRORS_SHOWN
            errors = [*errors[:MAX_ERRORS_SHOWN], f"{source}: ... and {more} more errors"]
        raise RegisterError("\n".join(errors))
    return Register(entries=tuple(entries), source=source)


def top_level_entries(document: Any, source: str, key: str, error: type[StrictInputError],
                      max_entries: int, too_many: str) -> list[Any]:
    """The list under a file's one top-level key (`exceptions:`, `responses:`); any other
    top-level key, a non-list or more than `max_entries` entries is refused with `error`."""
    if not isinstance(document, dict) or key not in document:
        raise error(f"{source}: expected a top-level '{key}:' list")
    unknown = sorted(_quote(k) if not isinstance(k, str) else _printable(k)
                     for k in document if k != key)
    if unknown:
        raise error(f"{source}: unknown top-level key(s): {', '.join(unknown)}")
    raw_entries = document[key] or []
    if not isinstance(raw_entries, list):
        raise error(f"{source}: {key}: expected a list of entries")
    if len(raw_entries) > max_entries:
        raise error(f"{source}: {key}: {len(raw_entries)} entries, {too_many}")
    return raw_entries


def load_strict_yaml(
    text: str, source: str, *, entries_key: str,
    entry_label: Callable[[str, int, Any], str], error: type[StrictInputError],
) -> Any:
    """One YAML document, composed strictly (no anchors, aliases, duplicate keys, no implicit
    dates, bounded depth and size) and built; anything else is `error` naming `source`.

    `entries_key` is the top-level list of entries; `entry_label(source, number, raw)` names an
    entry of it in duplicate-key messages (raw: the entry's scalar fields, or None).
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(loader, node, source, source, entries_key, entry_label)
        return loader.construct_document(node)
    except _Refused as refused:
        raise error(f"{source}: {refused.problem}{_where(refused.problem_mark)}") from None
    except yaml.reader.ReaderError as reader_error:
        offset = text.find(chr(reader_error.character))
        line = text.count("\n", 0, offset) + 1 if offset >= 0 else 0
        raise error(f"{source}: not valid YAML at line {line}: character "
                    f"#x{reader_error.character:04x} is not allowed "
                    f"({reader_error.reason})") from None
    except yaml.YAMLError as yaml_error:
        problem = getattr(yaml_error, "problem", None) or str(yaml_error)
        context = getattr(yaml_error, "context", None)
        problem = f"{context}, {problem}" if context else problem
        where = _where(getattr(yaml_error, "problem_mark", None))
        raise error(f"{source}: not valid YAML{where}: {problem}") from None
    except _DuplicateKey as duplicate:
        raise error(str(duplicate)) from None
    except RecursionError:  # a safety net under MAX_DEPTH
        raise error(f"{source}: nested too deeply") from None
    finally:
        loader.dispose()


class _DuplicateKey(ValueError):
    """A key given twice in one mapping (the message names both lines)."""


def _refuse_duplicate_keys(loader: Any, node: Node, source: str, label: str, entries_key: str,
                           entry_label: Callable[[str, int, Any], str],
                           entries: bool = False) -> None:
    """Refuse a key given twice in one mapping, at any depth: YAML would keep the last silently.

    A second `principal:` would move an entry to another user, a second `exceptions:` drop every
    entry before it, so both lines are named. `entries`: `node` is the list of entries.
    """
    if isinstance(node, SequenceNode):
        for number, item in enumerate(node.value, start=1):
            item_label = (entry_label(source, number, _node_fields(item)) if entries
                          else f"{label}[{number}]")
            _refuse_duplicate_keys(loader, item, source, item_label, entries_key, entry_label)
    elif isinstance(node, MappingNode):
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                continue  # refused as an unhashable key when the mapping is built
            key = loader.construct_object(key_node)
            line = key_node.start_mark.line + 1
            name = _printable(key) if isinstance(key, str) else _quote(key)
            if key in first_line:
                raise _DuplicateKey(f"{label}: {name}: duplicate key, at line {first_line[key]} "
                                    f"and again at line {line}")
            first_line[key] = line
            _refuse_duplicate_keys(loader, value_node, source, f"{label}: {name}", entries_key,
                                   entry_label, entries=label == source and key == entries_key)


def _node_fields(node: Node) -> dict[str, str] | None:
    """The scalar fields of an entry node (its `id`, `control`...), for labels, before the entry
    is built."""
    if isinstance(node, MappingNode):
        return {key_node.value: value_node.value for key_node, value_node in node.value
                if isinstance(key_node, ScalarNode) and isinstance(value_node, ScalarNode)}
    return None


def _where(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def _too_large(name: str, size: int, limit: int = MAX_REGISTER_BYTES,
               what: str = "an exceptions register") -> str:
    return (f"{name}: {size} bytes, more than the limit of {limit} bytes "
            f"({_size_words(limit)}) for {what}")


def _size_words(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB" if size % (1024 * 1024) == 0 else f"{size // 1024} KiB"


def _problem(code: str, message: str) -> Problem:
    return Problem(code, REGISTER_CONTROL.severity_of(code), message)


def entry_problems(
    entry: Entry, as_of: date, existing_user_arns: set[str] | None,
    policy: RegisterPolicy = RegisterPolicy(),
) -> list[Problem]:
    """Everything wrong with an entry on `as_of`, under the run's `policy`.

    `existing_user_arns` (compared case-insensitively) is the users known to exist; None means
    existence is unknown (the account was not collected) and staleness is not judged.
    """
    problems: list[Problem] = []
    if entry.expires < as_of:
        days = (as_of - entry.expires).days
        problems.append(_problem("expired",
            f"expired on {entry.expires} ({days} days before the run date {as_of})",
        ))
    if entry.owner is None:
        problems.append(_problem("missing-owner", "no owner"))
    if entry.reason is None:
        problems.append(_problem("missing-reason", "no reason"))
    if entry.kind == "external-dependency" and entry.dependency is None:
        problems.append(_problem("missing-dependency",
            "kind external-dependency but no dependency names what relies on the user",
        ))
    start, start_name = term_start(entry, as_of)
    term = (entry.expires - start).days
    if term > policy.max_term_days:
        problems.append(_problem("too-long",
            f"runs {term} days from {start} ({start_name}) to {entry.expires} "
            f"(limit {policy.max_term_days})",
        ))
    if policy.require_ticket and entry.ticket is None:
        problems.append(_problem("missing-ticket",
            "no ticket: the run's settings require the approval's reference "
            "(require_exception_ticket)",
        ))
    if existing_user_arns is not None and not _exists(entry.principal, existing_user_arns):
        problems.append(_problem("stale", f"names {entry.principal}, which does not exist in the snapshot"
        ))
    return problems


def term_start(entry: Entry, as_of: date) -> tuple[date, str]:
    """Where the 12-month term is measured from: approved_on, else the run date."""
    if entry.approved_on is not None:
        return entry.approved_on, "approved_on"
    return as_of, "the run date"


def is_valid(entry: Entry, as_of: date, policy: RegisterPolicy = RegisterPolicy()) -> bool:
    """Usable on `as_of`: not expired, complete, within the term (staleness is irrelevant)."""
    return not entry_problems(entry, as_of, None, policy)


def valid_exception_for(
    register: Register,
    principal_arn: str,
    control_id: str,
    as_of: date,
    kind: str | None = None,
    policy: RegisterPolicy = RegisterPolicy(),
) -> Entry | None:
    """The valid entry that excepts `principal_arn` for `control_id`, if any.

    When several match, the one that expires last wins (ties: smallest id), the same choice
    `valid_exception_rows` lets the SQL join make.
    """
    key = principal_key(principal_arn)
    matches = [
        e for e in register.entries
        if e.principal_key == key and control_id in e.controls
        and (kind is None or e.kind == kind) and is_valid(e, as_of, policy)
    ]
    if not matches:
        return None
    return sorted(matches, key=lambda e: (-e.expires.toordinal(), e.id))[0]


def valid_exception_rows(
    register: Register, as_of: date, policy: RegisterPolicy = RegisterPolicy()
) -> list[dict[str, Any]]:
    """One row per (valid entry, control): what the vectorised exception join matches on."""
    return [
        {
            "principal_key": e.principal_key, "control_id": control_id, "kind": e.kind,
            "exception_id": e.id, "expires": e.expires,
        }
        for e in register.entries if is_valid(e, as_of, policy)
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
        return f"{source}: entry {number} (id {_quote(ident)})"
    return f"{source}: entry {number}"


def _field_message(error: Any) -> str:
    field = ".".join(_printable(str(part)) for part in error["loc"]) or "entry"
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
    return f'"{_printable(value)}"' if isinstance(value, str) else _printable(repr(value))


def _printable(text: str, limit: int = 200) -> str:
    """Text from the register as messages show it: escaped (no terminal control sequences from a
    hostile file) and cut short (a 1 MB value must not become a 1 MB error line)."""
    length = len(text)
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else f"{text[:limit]}... ({length} characters)"


# The message helpers, for the other strict loaders (reports/management_response.py).
quote = _quote
printable = _printable

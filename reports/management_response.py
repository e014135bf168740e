"""Management responses: per failing control, who owns the fix, what will be done, by when, and
under which ticket; rendered into the report's Sign-off chapter.

The file is YAML and hostile input like the exceptions register, so it is loaded the same way
(checks/exceptions.py: bounded size, UTF-8 only, no anchors, aliases, duplicate keys or implicit
dates) and validated strictly: an unknown field, an unknown control id, a control answered twice,
a missing field or a bad date or ticket is a `ResponseError` naming the file, the entry (numbered
from 1, with its control) and the field, one line each, all at once.

    responses:
      - control: RC-x.y
        owner: cloud-platform@example.com
        action: Move the two remaining deploy users to GitHub OIDC roles
        due: 2027-01-31
        ticket: SEC-1234            # an id or an http(s) URL, as in the register
        comment: optional text

Whether a control failed is the run's business, not the file's: the chapter lists every failing
control (without a response: "no response recorded") and, apart, responses to controls that did
not fail in this run, so nothing given is silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from checks.catalogue import CONTROLS_BY_ID
from checks.exceptions import (
    StrictInputError,
    check_ticket,
    iso_date,
    load_strict_yaml,
    printable,
    quote,
    read_bounded_text,
    top_level_entries,
)

MAX_RESPONSES_BYTES = 256 * 1024  # one response per control: a few KiB; 256 KiB is generous
MAX_RESPONSES = len(CONTROLS_BY_ID)  # one per catalogue control at most
MAX_TEXT = 2000  # characters of one field: a planned action is a paragraph, not a document
MAX_ERRORS_SHOWN = 50


class ResponseError(StrictInputError):
    """The management response file cannot be used; the message names entry and field."""


class Response(BaseModel):
    """Management's answer to one failing control."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    control: str = Field(min_length=1)
    owner: str = Field(min_length=1, max_length=MAX_TEXT)
    action: str = Field(min_length=1, max_length=MAX_TEXT)
    due: date
    ticket: str
    comment: str | None = Field(default=None, max_length=MAX_TEXT)

    @field_validator("control")
    @classmethod
    def _known_control(cls, value: str) -> str:
        if value not in CONTROLS_BY_ID:
            raise ValueError(f"unknown control {quote(value)}")
        return value

    @field_validator("due", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        return iso_date(value)

    @field_validator("ticket", mode="before")
    @classmethod
    def _ticket(cls, value: Any) -> Any:
        ticket = check_ticket(value)
        if ticket is None:
            raise ValueError("must not be empty")
        return ticket

    @field_validator("comment", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


@dataclass(frozen=True)
class ManagementResponses:
    """The loaded file; `source` names it in the report."""

    responses: tuple[Response, ...] = ()
    source: str = "responses.yaml"

    def for_control(self, control_id: str) -> Response | None:
        return next((r for r in self.responses if r.control == control_id), None)


def load_responses(path: Path | str) -> ManagementResponses:
    """Read and validate a management response file; ResponseError on anything unusable."""
    name, text = read_bounded_text(path, MAX_RESPONSES_BYTES, "a management response file",
                                   ResponseError)
    return parse_responses(text, source=name)


def parse_responses(text: str, source: str = "responses.yaml") -> ManagementResponses:
    """Validate response file text; every entry is checked and all errors reported together."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_RESPONSES_BYTES:
        raise ResponseError(f"{source}: more than the limit of {MAX_RESPONSES_BYTES} bytes "
                            "for a management response file")
    document = load_strict_yaml(text, source, entries_key="responses", entry_label=_label,
                                error=ResponseError)
    raw_entries = top_level_entries(document, source, "responses", ResponseError, MAX_RESPONSES,
                                    f"more than one per control ({MAX_RESPONSES})")
    errors: list[str] = []
    responses: list[Response] = []
    first: dict[str, int] = {}
    for number, raw in enumerate(raw_entries, start=1):
        label = _label(source, number, raw)
        if not isinstance(raw, dict):
            errors.append(f"{label}: expected a mapping of fields")
            continue
        control = raw.get("control")
        if isinstance(control, str) and control.strip() in first:
            errors.append(f"{label}: control: answered twice, first by entry "
                          f"{first[control.strip()]}")
        elif isinstance(control, str):
            first[control.strip()] = number
        try:
            responses.append(Response.model_validate(raw))
        except ValidationError as error:
            errors.extend(f"{label}: {_field_message(e)}" for e in error.errors())
    if errors:
        if len(errors) > MAX_ERRORS_SHOWN:
            errors = [*errors[:MAX_ERRORS_SHOWN],
                      f"{source}: ... and {len(errors) - MAX_ERRORS_SHOWN} more errors"]
        raise ResponseError("\n".join(errors))
    return ManagementResponses(responses=tuple(responses), source=source)


def _label(source: str, number: int, raw: Any) -> str:
    control = raw.get("control") if isinstance(raw, dict) else None
    if isinstance(control, str) and control.strip():
        return f"{source}: entry {number} (control {quote(control.strip())})"
    return f"{source}: entry {number}"


def _field_message(error: Any) -> str:
    field = ".".join(printable(str(part)) for part in error["loc"]) or "entry"
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return f"{field}: missing"
    if kind == "extra_forbidden":
        return f"{field}: unknown field"
    if kind == "value_error":
        return f"{field}: {error['ctx']['error']}"
    if kind == "string_too_short":
        return f"{field}: must not be empty"
    if kind == "string_too_long":
        return f"{field}: longer than {MAX_TEXT} characters"
    return f"{field}: {error['msg'].lower()}, got {quote(value)}"


# --- The Sign-off chapter's table ------------------------------------------------------------

class ControlLike(Protocol):
    """What the chapter needs of a control (reports/view.py ControlSection fits)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class ResponseRow:
    """One row of the management responses table."""

    control_id: str
    title: str
    status: str  # the control's status word in this run
    failed: int  # failing results of the control
    response: Response | None  # None: no response recorded
    overdue: bool  # the due date is before the run date

    @property
    def ticket_link(self) -> str | None:
        ticket = self.response.ticket if self.response else None
        return ticket if ticket and ticket.lower().startswith(("http://", "https://")) else None


@dataclass(frozen=True)
class Signoff:
    """The Sign-off chapter: responses to failing controls, then responses to the others."""

    failing: tuple[ResponseRow, ...]
    not_failing: tuple[ResponseRow, ...]  # responses given for controls that did not fail
    source: str | None  # the response file's name; None: no file was given

    @property
    def unanswered(self) -> int:
        return sum(1 for r in self.failing if r.response is None)


def signoff_rows(
    controls: Sequence[ControlLike], failed: dict[str, int],
    responses: ManagementResponses | None, run_date: date | None,
) -> Signoff:
    """Every failing control (failed > 0) with its response or none, in catalogue order; then
    every response to a control that did not fail, so no response given is dropped."""
    given = responses or ManagementResponses()

    def row(control: ControlLike) -> ResponseRow:
        response = given.for_control(control.id)
        overdue = bool(response and run_date and response.due < run_date)
        return ResponseRow(control.id, control.title, control.status, failed.get(control.id, 0),
                           response, overdue)

    failing = tuple(row(c) for c in controls if failed.get(c.id, 0) > 0)
    not_failing = tuple(row(c) for c in controls
                        if failed.get(c.id, 0) == 0 and given.for_control(c.id) is not None)
    return Signoff(failing, not_failing, responses.source if responses else None)

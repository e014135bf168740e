"""What a control is made of, so that each guidance module (checks/g1_*.py .. g6_*.py) can hold
all of its controls in one place: the catalogue entry, the rule, and the GX restatement.

The registry (checks/catalogue.py) gathers the modules' `CHECKS`; nothing below it names a
control.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.expectation import Expect

SEVERITIES = ("critical", "high", "medium", "low", "info")
STATUSES = ("pass", "fail", "excepted", "error")
COVERAGES = ("full", "partial")


@dataclass(frozen=True)
class Requirement:
    """A framework requirement a control gives evidence for (checks/frameworks.py registers the
    frameworks and builds these from their requirement tables, so ids are never typed twice).

    coverage: "full" when the control tests everything the requirement's text asks of an AWS
      organization's IAM, "partial" when it tests only part (note says which part).
    source: the published text or public mapping the id and title were taken from.
    """

    framework: str
    id: str
    title: str
    coverage: str
    source: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.coverage not in COVERAGES:
            raise ValueError(f"{self.framework} {self.id}: coverage must be one of {COVERAGES}, "
                             f"not {self.coverage!r}")
        if not (self.framework and self.id and self.title and self.source):
            raise ValueError(f"requirement {self!r} needs a framework, an id, a title and a source")


@dataclass(frozen=True)
class GuidanceItem:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Control:
    """A control's catalogue entry, with the semantics of ../shared/CONTROLS.md.

    severity_when: the catalogue's other severities, by the kind of problem a member has (a
      finding kind of checks/iam, or a register problem code); `severity` otherwise.
    never_excepted: why no register entry can cover the control (loading such an entry fails).
    excepted_principal: what a register entry for the control names: an IAM user, or a role.
    scp_coverage: judged on the SCPs over each account (the report's coverage table).
    requirements: the framework requirements the control gives evidence for (checks/frameworks.py).
    """

    id: str
    guidance_item: str
    title: str
    severity: str
    population: str
    fails_when: str
    remediation: str
    severity_when: Mapping[str, str] = field(default_factory=dict)
    never_excepted: str = ""
    excepted_principal: str = "user"
    scp_coverage: bool = False
    settings: tuple[str, ...] = ()  # the settings (checks/settings.py) its verdicts depend on
    requirements: tuple[Requirement, ...] = ()

    def severity_of(self, kind: str | None) -> str:
        return self.severity_when.get(kind or "", self.severity)


@dataclass(frozen=True)
class Rule:
    """A control's rule: the query that lists its population with outcomes, and how to treat it.

    query: SQL returning checks.results.RULE_COLUMNS, then `facts`, one row per member.
    sources: collection sources (collection_errors.source) the query reads; a failed one blocks
      the account for this control. An uncollected account with no recorded error blocks all.
    org_sources: sources collected once for the organization; a failure of one turns every
      member into `error` (see checks/results.py).
    exception_kinds: register kinds that can except a fail; empty means exceptions never apply.
    per_account: False when members do not depend on an account's collection (register
      entries, the organization itself, SCP coverage).
    notes_query: optional SQL returning one text column: what the report should say about the
      population besides its rows (e.g. the management account is not governed by SCPs).
    """

    control: Control
    resource_type: str
    query: str
    facts: tuple[str, ...]
    sources: tuple[str, ...] = ()
    exception_kinds: tuple[str, ...] = ()
    per_account: bool = True
    org_sources: tuple[str, ...] = ()
    notes_query: str | None = None

    @property
    def control_id(self) -> str:
        return self.control.id

    @property
    def table(self) -> str:
        """Temp table holding this rule's evaluated members (with facts, for GX)."""
        return "outcome_" + self.control_id.replace("-", "_").replace(".", "_")


@dataclass(frozen=True)
class Check:
    """One control's home entry: its rule (and through it the catalogue entry), the Great
    Expectations restatement of that rule, and the independent count completeness compares
    the population with.

    expect: builds the control's expectations on its guidance item's facts dataframe; each says
      which count it reproduces (checks/validate.py). gx_facts: the fact columns they read
      (a subset of the rule's facts, or covered_by_valid_exception).
    population_count: SQL counting the population from the snapshot's own tables, or None when
      there is no independent count.
    """

    rule: Rule
    expect: Callable[[Expect], list[Any]]
    gx_facts: tuple[str, ...]
    population_count: str | None = None
    # the GX restatement counts answers of concrete requests (checks/iam/requests.py), not the
    # rule's own facts: the report's method section says so
    requests_cross_check: bool = False

    @property
    def control(self) -> Control:
        return self.rule.control

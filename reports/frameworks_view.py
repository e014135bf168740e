"""The report's framework chapter as data: for each framework, requirement -> controls -> verdict.

Built from the catalogue's mappings (Control.requirements, checks/frameworks.py) and the run's
per-control counts, never from the snapshot directly, so the chapter cannot disagree with the
controls chapter. A requirement's verdict is the worst of its controls' verdicts: one failing
control makes the requirement fail, whatever the others say.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from checks.control import Control
from checks.counts import Counts, total
from checks.frameworks import FRAMEWORKS, Framework, framework

# Worst first. "not evaluated": the run did not evaluate the control (deselected, or unknown to
# this version); the requirement then lacks evidence, which is worse than an excepted result.
VERDICTS = ("fail", "error", "not evaluated", "excepted", "pass")


@dataclass(frozen=True)
class MappedControl:
    """One control as evidence for one requirement."""

    control_id: str
    title: str
    coverage: str  # full | partial
    note: str
    counts: Counts
    verdict: str


@dataclass(frozen=True)
class RequirementRow:
    """One requirement of a framework, the controls mapped to it, and its verdict."""

    id: str
    title: str
    source: str
    controls: tuple[MappedControl, ...]

    @property
    def verdict(self) -> str:
        return worst(c.verdict for c in self.controls)

    @property
    def coverage(self) -> str:
        """Full when some control covers the requirement fully, else partial."""
        return "full" if any(c.coverage == "full" for c in self.controls) else "partial"

    @property
    def counts(self) -> Counts:
        return total(c.counts for c in self.controls)


@dataclass(frozen=True)
class FrameworkSection:
    """One framework and every requirement of it that some control maps to."""

    framework: Framework
    requirements: tuple[RequirementRow, ...]
    # where the run's settings differ from the framework's profile (reports/view.py fills it)
    profile_gaps: tuple[str, ...] = ()

    @property
    def verdicts(self) -> dict[str, int]:
        """Requirements by verdict, worst first, zero counts left out."""
        counted = [r.verdict for r in self.requirements]
        return {v: counted.count(v) for v in VERDICTS if v in counted}


def control_verdict(counts: Counts, *, evaluated: bool) -> str:
    """pass, fail, error, excepted or not evaluated, from a control's result counts."""
    if not evaluated:
        return "not evaluated"
    if counts.failed:
        return "fail"
    if counts.error:
        return "error"
    if counts.excepted:
        return "excepted"
    return "pass"


def worst(verdicts: Iterable[str]) -> str:
    """The worst verdict of several; none at all is "not evaluated"."""
    rank = {v: i for i, v in enumerate(VERDICTS)}
    return min(verdicts, key=rank.__getitem__, default="not evaluated")


def requirement_sort_key(requirement_id: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order: CIS 1.4 before 1.10, NIST AC-2 before AC-2(1) before AC-3."""
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in re.findall(r"\d+|[A-Za-z]+", requirement_id))


def framework_sections(
    controls: Iterable[Control],
    summaries: Mapping[str, Counts],
    evaluated: Collection[str],
    framework_id: str | None = None,
) -> tuple[FrameworkSection, ...]:
    """Every registered framework (or only `framework_id`) with its mapped requirements.

    summaries: the run's counts per control id; evaluated: the control ids the run evaluated.
    A framework no control maps to is still listed, with no requirements, so the chapter says so.
    Raises ValueError for an unknown framework id.
    """
    wanted = (framework(framework_id),) if framework_id is not None else FRAMEWORKS
    controls = tuple(controls)
    sections = []
    for fw in wanted:
        rows: dict[str, list[MappedControl]] = {}
        titles: dict[str, tuple[str, str]] = {}
        for control in controls:
            for req in control.requirements:
                if req.framework != fw.id:
                    continue
                counts = summaries.get(control.id, Counts())
                titles[req.id] = (req.title, req.source)
                rows.setdefault(req.id, []).append(MappedControl(
                    control.id, control.title, req.coverage, req.note, counts,
                    control_verdict(counts, evaluated=control.id in evaluated)))
        sections.append(FrameworkSection(fw, tuple(
            RequirementRow(rid, *titles[rid], tuple(rows[rid]))
            for rid in sorted(rows, key=requirement_sort_key))))
    return tuple(sections)

"""Framework mappings (checks/frameworks.py, Control.requirements) and the framework chapter's
rows (reports/frameworks_view.py)."""

from __future__ import annotations

import dataclasses

import pytest

from checks.catalogue import CONTROLS, CONTROLS_BY_ID, controls_of
from checks.control import Requirement
from checks.counts import Counts
from checks.frameworks import (
    CIS_AWS,
    FRAMEWORKS,
    FRAMEWORKS_BY_ID,
    NIST_800_53,
    PROFILES,
    cis,
    framework,
)
from checks.settings import Settings, resolve
from reports.frameworks_view import (
    control_verdict,
    framework_sections,
    requirement_sort_key,
    worst,
)

# G1 controls that no requirement of a framework covers, and why (stated, not silently skipped).
NO_CIS_REQUIREMENT = {
    "RC-1.5": "CIS AWS 3.0 has no recommendation on an exceptions register (its IAM section "
              "checks credentials, not the approvals that allow them)",
}
SOURCE_PREFIXES = ("https://github.com/prowler-cloud/prowler/blob/",
                   "https://github.com/turbot/steampipe-mod-aws-compliance/blob/")


def mappings() -> list[tuple[str, Requirement]]:
    return [(c.id, r) for c in CONTROLS for r in c.requirements]


def test_every_requirement_names_a_registered_framework() -> None:
    assert {r.framework for _, r in mappings()} <= set(FRAMEWORKS_BY_ID)


@pytest.mark.parametrize(("control_id", "req"), mappings(), ids=lambda v: getattr(v, "id", v))
def test_every_requirement_has_an_id_title_and_a_pinned_public_source(
    control_id: str, req: Requirement
) -> None:
    assert req.id.strip() and req.title.strip()
    assert req.source.startswith(SOURCE_PREFIXES), req.source
    # pinned to a commit, so the id can be checked against exactly what was read
    assert len(req.source.split("/blob/")[1].split("/")[0]) == 40
    assert req.coverage in ("full", "partial")
    assert req.coverage == "full" or req.note, f"{control_id} {req.id}: say what partial leaves out"


def test_requirements_come_from_the_framework_tables() -> None:
    for _, req in mappings():
        assert FRAMEWORKS_BY_ID[req.framework].requirements[req.id] == (req.title, req.source)


def test_no_control_maps_the_same_requirement_twice() -> None:
    for control in CONTROLS:
        keys = [(r.framework, r.id) for r in control.requirements]
        assert len(keys) == len(set(keys)), control.id


@pytest.mark.parametrize("control", controls_of("G1"), ids=lambda c: c.id)
def test_every_g1_control_maps_to_cis_and_nist(control: object) -> None:
    frameworks = {r.framework for r in control.requirements}  # type: ignore[attr-defined]
    assert NIST_800_53.id in frameworks
    if control.id not in NO_CIS_REQUIREMENT:  # type: ignore[attr-defined]
        assert CIS_AWS.id in frameworks


def test_an_id_not_in_the_table_is_refused() -> None:
    with pytest.raises(ValueError, match="has no requirement '1.99'"):
        cis("1.99", "full")


def test_coverage_is_full_or_partial() -> None:
    with pytest.raises(ValueError, match="coverage must be one of"):
        cis("1.14", "mostly")


def test_frameworks_are_described_and_their_profiles_use_known_settings() -> None:
    for fw in FRAMEWORKS:
        assert fw.name and fw.version and fw.publisher and fw.source.startswith("https://")
        assert set(fw.profile) <= set(Settings.model_fields) - {"origins", "framework"}
        Settings(**fw.profile)  # valid values


def test_cis_profile_sets_its_45_days_unused_and_settings_take_it() -> None:
    assert CIS_AWS.requirements["1.12"][0] == "Ensure credentials unused for 45 days or greater are disabled"
    settings = resolve(file_values={"framework": "cis-aws-3.0"}, profiles=PROFILES)
    assert (settings.unused_credential_days, settings.origin("unused_credential_days")) == (45, "profile")
    assert settings.key_age_days == 90


def test_unknown_framework_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="cis-aws-3.0"):
        framework("cis-aws-9")


# --- the chapter's rows -----------------------------------------------------------------------------


def test_control_verdict_from_counts() -> None:
    assert control_verdict(Counts(passed=3), evaluated=True) == "pass"
    assert control_verdict(Counts(), evaluated=True) == "pass"
    assert control_verdict(Counts(passed=1, excepted=1), evaluated=True) == "excepted"
    assert control_verdict(Counts(excepted=1, error=1), evaluated=True) == "error"
    assert control_verdict(Counts(failed=1, error=1), evaluated=True) == "fail"
    assert control_verdict(Counts(failed=1), evaluated=False) == "not evaluated"


def test_worst_verdict() -> None:
    assert worst(["pass", "excepted"]) == "excepted"
    assert worst(["pass", "not evaluated"]) == "not evaluated"
    assert worst(["error", "fail", "pass"]) == "fail"
    assert worst([]) == "not evaluated"


def test_requirement_ids_sort_naturally() -> None:
    ids = ["1.14", "1.4", "AC-3", "AC-2(3)", "1.10", "AC-2", "AC-2(1)"]
    assert sorted(ids, key=requirement_sort_key) == ["1.4", "1.10", "1.14", "AC-2", "AC-2(1)",
                                                     "AC-2(3)", "AC-3"]


def test_a_requirement_is_as_bad_as_its_worst_control() -> None:
    # CIS 1.12 is mapped by RC-1.3 and RC-3.2: RC-3.2 failing fails the requirement.
    summaries = {"RC-1.3": Counts(passed=4), "RC-3.2": Counts(passed=1, failed=2)}
    (cis_section,) = framework_sections(CONTROLS, summaries, {"RC-1.3", "RC-3.2"}, "cis-aws-3.0")
    row = next(r for r in cis_section.requirements if r.id == "1.12")

    assert [(c.control_id, c.verdict) for c in row.controls] == [("RC-1.3", "pass"), ("RC-3.2", "fail")]
    assert row.verdict == "fail"
    assert row.coverage == "partial"
    assert row.counts == Counts(passed=5, failed=2)


def test_a_control_the_run_did_not_evaluate_leaves_its_requirement_without_a_pass() -> None:
    summaries = {"RC-1.2": Counts(passed=2)}
    (section,) = framework_sections(CONTROLS, summaries, {"RC-1.2"}, "cis-aws-3.0")
    verdicts = {r.id: r.verdict for r in section.requirements}

    assert verdicts["1.14"] == "pass"
    assert verdicts["1.4"] == "not evaluated"


def test_scoping_to_one_framework_returns_only_its_rows() -> None:
    everything = framework_sections(CONTROLS, {}, set())
    (pci_only,) = framework_sections(CONTROLS, {}, set(), "pci-dss-4.0.1")

    assert [s.framework.id for s in everything] == [f.id for f in FRAMEWORKS]
    assert pci_only.framework.id == "pci-dss-4.0.1"
    assert [r.id for r in pci_only.requirements] == ["7.2.5", "8.2.6", "8.6.3"]
    with pytest.raises(ValueError, match="unknown framework"):
        framework_sections(CONTROLS, {}, set(), "sox")


def test_every_mapping_appears_once_in_the_chapter() -> None:
    sections = framework_sections(CONTROLS, {}, {c.id for c in CONTROLS})
    shown = sorted((s.framework.id, r.id, c.control_id)
                   for s in sections for r in s.requirements for c in r.controls)
    assert shown == sorted((r.framework, r.id, cid) for cid, r in mappings())


def test_a_framework_no_control_maps_to_is_listed_empty() -> None:
    bare = [dataclasses.replace(c, requirements=()) for c in CONTROLS]
    (section,) = framework_sections(bare, {}, set(), "soc2-2017")
    assert section.requirements == ()
    assert CONTROLS_BY_ID["RC-1.1"].requirements  # the catalogue itself is untouched

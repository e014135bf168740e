"""Missing data: a control whose data was not collected says `error` with the reason; the rest
are unaffected. Organization-level sources (organizations, identity_center, and Access Analyzer
in the management account) leave every member `error`; per-account failures block one account.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checks_fixtures import (
    ACCOUNT,
    EXTERNAL,
    NOW,
    ORG_ID,
    OTHER,
    add_role,
    add_rows,
    allow,
    collection_error,
    judge,
    new_snapshot,
    role_arn,
    row,
    run,
    set_organization,
    statuses,
    trust,
)

ORG_CONTROLS = ("RC-2.3", "RC-3.2", "RC-4.1", "RC-4.2", "RC-4.3", "RC-6.1", "RC-6.2", "RC-6.3",
                "RC-6.4")


def _organization(tmp_path: Path) -> Any:
    """ACCOUNT is the management account; OTHER a member with an externally trusted role."""
    con = new_snapshot(tmp_path / "s.duckdb", (ACCOUNT, OTHER))
    set_organization(con)
    add_role(con, "vendor", trust(allow({"AWS": EXTERNAL})), OTHER)
    add_rows(con, "access_analyzer_findings", *(
        {"account_id": account, "analyzer_arn": f"arn:aws:access-analyzer:eu-west-1:{account}:"
         "analyzer/a", "finding_id": f"f-{account}", "finding_type": "UnusedIAMRole",
         "resource": role_arn("old", account), "resource_owner_account": account,
         "status": "ACTIVE", "created_at": NOW, "updated_at": NOW}
        for account in (ACCOUNT, OTHER)))
    add_rows(con, "access_analyzers", *(
        {"account_id": account, "arn": f"arn:aws:access-analyzer:eu-west-1:{account}:"
         "analyzer/a", "name": "a", "type": "ACCOUNT", "status": "ACTIVE"}
        for account in (ACCOUNT, OTHER)))
    add_rows(con, "org_roots", {"root_id": "r-root", "name": "Root", "scp_enabled": True})
    add_rows(con, "account_parents", {"account_id": OTHER, "parent_id": "r-root", "depth": 1})
    return con


def test_org_and_account_level_failures_error_only_the_controls_that_need_them(
    tmp_path: Path,
) -> None:
    con = _organization(tmp_path)
    collection_error(con, OTHER, "access_analyzer", "ListAnalyzers")
    collection_error(con, ACCOUNT, "identity_center", "ListInstances",
                     "UnknownOperationException", "no such service")
    collection_error(con, ACCOUNT, "organizations", "ListPolicies")
    summary = run(con, tmp_path)
    assert summary.errors == []  # GX agrees: unknown facts are not counted as failures

    rc_2_3 = row(con, "RC-2.3", ORG_ID)
    assert (rc_2_3["status"], rc_2_3["reason"]) == (
        "error", "not evaluated: identity_center collection failed for the organization: "
        "ListInstances UnknownOperationException: no such service")
    assert rc_2_3["evidence"] == '{"instances":null,"instance_arns":null,"permission_sets":null,' \
        '"assigned_permission_sets":null,"assigned_accounts":null}'
    for control_id in ("RC-6.1", "RC-6.2", "RC-6.3"):
        assert set(statuses(con, control_id).values()) == {"error"}, control_id
    assert row(con, "RC-6.2", OTHER)["reason"].startswith(
        "not evaluated: organizations collection failed for the organization: ListPolicies")

    # Access Analyzer failed in OTHER only: OTHER gets one error row per control that needs it
    for control_id in ("RC-3.2", "RC-4.2", "RC-4.3"):
        result = row(con, control_id, OTHER)
        assert (result["status"], result["resource_type"]) == ("error", "account"), control_id
        assert result["reason"].startswith("not evaluated: access_analyzer collection failed")
    assert statuses(con, "RC-3.2")[f"f-{ACCOUNT}"] == "fail"
    assert statuses(con, "RC-4.3")[ACCOUNT] == "pass"
    # unaffected: trust policies and boundaries come from the IAM authorization details
    assert statuses(con, "RC-4.1") == {role_arn("vendor", OTHER): "fail"}
    assert statuses(con, "RC-6.4") == {role_arn("vendor", OTHER): "fail"}


def test_access_analyzer_failing_in_the_management_account_errors_every_member(
    tmp_path: Path,
) -> None:
    con = _organization(tmp_path)
    collection_error(con, ACCOUNT, "access_analyzer", "ListAnalyzers")
    judge(con, *ORG_CONTROLS)
    assert statuses(con, "RC-4.3") == {ACCOUNT: "error", OTHER: "error"}
    assert statuses(con, "RC-3.2") == {ACCOUNT: "error", f"f-{OTHER}": "error"}
    assert row(con, "RC-3.2", f"f-{OTHER}")["reason"] == (
        "not evaluated: access_analyzer collection failed for the organization: ListAnalyzers "
        "AccessDenied: not authorized")
    assert statuses(con, "RC-4.1") == {role_arn("vendor", OTHER): "fail"}
    assert statuses(con, "RC-6.2") == {OTHER: "fail"}  # no SCP denies anything


def test_uncollected_iam_blocks_role_controls_but_not_scp_coverage(tmp_path: Path) -> None:
    con = _organization(tmp_path)
    collection_error(con, OTHER, "authorization", "GetAccountAuthorizationDetails")
    judge(con, *ORG_CONTROLS)
    for control_id in ("RC-4.1", "RC-6.4"):
        result = row(con, control_id, OTHER)
        assert (result["status"], result["resource_type"]) == ("error", "account")
    # SCP coverage needs organization data only
    assert statuses(con, "RC-6.2") == {OTHER: "fail"}

"""Centralized root access (issue 11): RC-1.4 for member roots whose credentials IAM removed.

Two halves. A case table on hand-built snapshots, one per state of the organization's
features (on, off with only RootSessions enabled, the features call failed), with GX's
cross-check of every verdict. Then the collector and a full audit against the simulated
organization, whose layer (simulated/root_access.py) answers iam:ListOrganizationsFeatures over
HTTP; the feature is switched with the real API, as in AWS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import duckdb
import pytest
from checks_fixtures import NOW, new_snapshot, row, run

from checks.validate import ValidationSummary
from flows.audit import AuditConfig, run_audit
from flows.collect import collect_account, collect_organization
from flows.sources import organizations
from flows.sources.session import base_session
from reports.render import render_html
from reports.signing_config import SigningConfig
from reports.view import build_view
from simulated import organization as simulated
from simulated.organization import SimulatedOrganization
from simulated.root_access import set_root_credentials, state_of
from store import snapshot

REMOVED = "centralized root access: root credentials removed"
DENIED = {"source": "organization_features",
          "operation": "ListOrganizationsFeatures", "error_code": "AccessDenied",
          "message": "not authorized to perform: iam:ListOrganizationsFeatures",
          "occurred_at": NOW}


class RootAccessCase(NamedTuple):
    """A root user's credentials (None: unknown), where its account sits and the organization's
    features, and the RC-1.4 status and reason it must get."""

    name: str
    features: str  # "on", "sessions-only" (RootCredentialsManagement off), "failed"
    password: bool | None
    key: bool | None  # an access key, active or not
    mfa: bool | None
    status: str
    reason: str  # a part of the reason
    management: bool = False
    inactive_report_key: bool = False  # the credential report's root row holds an inactive key
    not_in: str = ""  # a part the reason must not have


CASES = [
    RootAccessCase("member-credentials-removed", "on", password=False, key=False, mfa=False,
                   status="pass", reason=REMOVED),
    RootAccessCase("member-password-left", "on", password=True, key=False, mfa=False,
                   status="fail", reason="root user has no MFA (from the account summary); "
                   "centralized root access is enabled, but this root user's credentials are not "
                   "all known to be removed (password present, access key absent)"),
    RootAccessCase("member-password-unknown", "on", password=None, key=False, mfa=False,
                   status="fail", reason="(password unknown, access key absent)"),
    RootAccessCase("member-key-left", "on", password=False, key=True, mfa=False, status="fail",
                   reason="root user has an active access key; root user has no MFA"),
    RootAccessCase("member-inactive-key-in-report", "on", password=False, key=False, mfa=False,
                   inactive_report_key=True, status="fail",
                   reason="(from the credential report); centralized root access is enabled, but "
                   "this root user's credentials are not all known to be removed (password "
                   "absent, access key present)"),
    RootAccessCase("member-mfa-unknown", "on", password=False, key=False, mfa=None,
                   status="error", reason="root user access keys or MFA state unknown"),
    RootAccessCase("member-with-mfa", "on", password=True, key=False, mfa=True, status="pass",
                   reason="root user has MFA and no active access key (from the account summary)"),
    RootAccessCase("management-credentials-removed", "on", password=False, key=False, mfa=False,
                   management=True, status="fail",
                   reason="root user has no MFA (from the account summary); centralized root "
                   "access does not cover the management account"),
    RootAccessCase("sessions-only-credentials-removed", "sessions-only", password=False, key=False,
                   mfa=False, status="fail",
                   reason="root user has no MFA (from the account summary)", not_in="centralized"),
    RootAccessCase("failed-credentials-removed", "failed", password=False, key=False, mfa=False,
                   status="fail",
                   reason="root user has no MFA (from the account summary); with no password, "
                   "access key or MFA device it would pass if centralized root access is "
                   "enabled, which is not known (organization_features collection failed: "
                   "ListOrganizationsFeatures AccessDenied: not authorized"),
    RootAccessCase("failed-password-left", "failed", password=True, key=False, mfa=False,
                   status="fail", reason="root user has no MFA (from the account summary)",
                   not_in="would pass"),
    RootAccessCase("failed-management-credentials-removed", "failed", password=False, key=False,
                   mfa=False, management=True, status="fail",
                   reason="root user has no MFA (from the account summary)", not_in="would pass"),
]
FEATURE_STATES = ("on", "sessions-only", "failed")
MANAGEMENT = "100000000000"


def account_of(case: RootAccessCase) -> str:
    return MANAGEMENT if case.management else f"2{CASES.index(case):011d}"


def build(path: Path, features: str) -> duckdb.DuckDBPyConnection:
    """One snapshot holding every case of one feature state, root facts as AWS gives them."""
    cases = [c for c in CASES if c.features == features]
    con = new_snapshot(path, (MANAGEMENT, *(account_of(c) for c in cases if not c.management)))
    con.execute("UPDATE accounts SET is_management = (account_id = ?)", [MANAGEMENT])
    con.execute("UPDATE run SET management_account_id = ?", [MANAGEMENT])
    for case in cases:
        account = account_of(case)
        snapshot.insert_rows(con, "account_summary", [{
            "account_id": account, "root_mfa_enabled": case.mfa,
            "root_access_keys_present": case.key or case.inactive_report_key,
            "root_password_present": case.password,
        }])
        if case.inactive_report_key:  # AWS's report: the password is not_supported (NULL)
            snapshot.insert_rows(con, "credential_report", [{
                "account_id": account, "user": "<root_account>",
                "arn": f"arn:aws:iam::{account}:root", "mfa_active": case.mfa,
                "access_key_1_active": False, "access_key_1_last_rotated": NOW,
                "access_key_2_active": False,
            }])
    if features == "failed":
        snapshot.insert_rows(con, "collection_errors", [{**DENIED, "account_id": MANAGEMENT}])
    else:
        enabled = {"on": {"RootCredentialsManagement", "RootSessions"},
                   "sessions-only": {"RootSessions"}}[features]
        snapshot.insert_rows(con, "organization_features", [
            {"organization_id": "o-rolecall", "feature": f, "enabled": f in enabled,
             "basis": "listed by iam:ListOrganizationsFeatures"}
            for f in ("RootCredentialsManagement", "RootSessions")])
    return con


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[dict[str, tuple[duckdb.DuckDBPyConnection, ValidationSummary]]]:
    out = {}
    for features in FEATURE_STATES:
        folder = tmp_path_factory.mktemp(features)
        con = build(folder / "s.duckdb", features)
        out[features] = (con, run(con, folder))
    yield out
    for con, _ in out.values():
        con.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rc_1_4_with_centralized_root_access(evaluated: Any, case: RootAccessCase) -> None:
    con, _ = evaluated[case.features]
    result = row(con, "RC-1.4", f"arn:aws:iam::{account_of(case)}:root")
    assert (result["status"], result["severity"]) == (case.status, "critical")
    assert case.reason in result["reason"], result["reason"]
    assert not case.not_in or case.not_in not in result["reason"], result["reason"]


@pytest.mark.parametrize("features", FEATURE_STATES)
def test_gx_confirms_rc_1_4_in_every_feature_state(evaluated: Any, features: str) -> None:
    _, summary = evaluated[features]
    control = summary.controls["RC-1.4"]
    assert control.cross_check == "ok"
    assert control.gx_unexpected["fail"] == control.counts.failed
    assert control.counts.failed > 0
    if features == "on":  # the centralized pass is among them, and GX agreed with it
        assert control.counts.passed >= 2


def test_the_evidence_names_the_facts_that_decided(evaluated: Any) -> None:
    con, _ = evaluated["on"]
    case = CASES[0]
    (evidence,) = con.execute(
        "SELECT evidence FROM control_results WHERE control_id = 'RC-1.4' AND account_id = ?",
        [account_of(case)]).fetchone()
    assert '"root_centrally_managed":true' in evidence.replace(" ", "")
    assert '"root_password_present":false' in evidence.replace(" ", "")


def test_a_failed_features_call_is_a_gap_of_the_run_not_an_error_row(evaluated: Any) -> None:
    con, _ = evaluated["failed"]
    assert con.execute("SELECT count(*) FROM control_results WHERE control_id = 'RC-1.4' "
                       "AND status = 'error'").fetchone() == (0,)
    from store.coverage import coverage

    seen = coverage(con)
    assert not seen.complete and [g.source for g in seen.source_gaps] == ["organization_features"]


@pytest.mark.parametrize(("features", "shown"), [
    ("on", "Centralized root access on: IAM manages the root credentials of member accounts "
           "centrally (enabled: RootCredentialsManagement, RootSessions)"),
    ("sessions-only", "Centralized root access off (enabled: RootSessions, not root credentials "
                      "management)"),
    ("failed", "Centralized root access unknown: every root user is judged as if it were off"),
])
def test_the_cover_says_whether_the_feature_is_on(evaluated: Any, features: str, shown: str) -> None:
    con, _ = evaluated[features]
    view = build_view(con)
    text = " ".join(_strip_tags(render_html(view)).split())
    assert shown in text
    if features == "failed":
        assert view.root_access.basis.startswith("collection failed: ListOrganizationsFeatures "
                                                 "AccessDenied")


def _strip_tags(html: str) -> str:
    """Text of the HTML: inline tags vanish, the others separate words."""
    inline = re.sub(r"</?(?:strong|span|em|a)\b[^>]*>", "", html)
    return re.sub(r"<[^>]+>", " ", inline)


# --- against the simulated organization ---------------------------------------------------------



@pytest.fixture
def iam() -> Iterator[Any]:
    """The management account's IAM client; afterwards the organization is as seeded again
    (feature off, trusted access never enabled)."""
    yield base_session().client("iam")
    state = state_of(simulated.MANAGEMENT_ACCOUNT_ID)
    state.trusted, state.enabled = False, set()


def _features(sim: SimulatedOrganization) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    session = base_session()
    data, clients = collect_organization(session, organizations.fetch(session.client("organizations")))
    assert [p.operation for p in clients.payloads].count("ListOrganizationsFeatures") == 1
    return data.rows.get("organization_features", []), data.errors


def test_the_built_in_organization_has_the_feature_off(sim: SimulatedOrganization) -> None:
    rows, errors = _features(sim)
    assert errors == []
    assert {r["feature"]: r["enabled"] for r in rows} == {
        "RootCredentialsManagement": False, "RootSessions": False}
    assert all(r["basis"].startswith("ServiceAccessNotEnabledException: trusted access for IAM")
               for r in rows)


def test_the_feature_switched_on_and_off_through_the_real_api(sim: SimulatedOrganization,
                                                              iam: Any) -> None:
    iam.enable_organizations_root_credentials_management()
    rows, errors = _features(sim)
    assert errors == []
    assert {r["feature"]: r["enabled"] for r in rows} == {
        "RootCredentialsManagement": True, "RootSessions": False}
    assert {r["organization_id"] for r in rows} == {sim.organization_id}
    iam.disable_organizations_root_credentials_management()
    rows, _ = _features(sim)
    assert [r["enabled"] for r in rows] == [False, False]
    assert rows[0]["basis"] == "listed by iam:ListOrganizationsFeatures"


def test_a_refused_features_call_is_an_error_of_its_own_source(sim: SimulatedOrganization) -> None:
    """From a member account's credentials IAM refuses the call: that source fails, no other."""
    dev = sim.account_ids["dev"]
    creds = base_session().client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{dev}:role/OrganizationAccountAccessRole",
        RoleSessionName="root-access-test")["Credentials"]
    member = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"], region_name=simulated.REGION)
    organization = organizations.fetch(base_session().client("organizations"))
    data, _ = collect_organization(member, organization)
    refused = [e for e in data.errors if e["source"] == "organization_features"]
    assert [(e["operation"], e["error_code"]) for e in refused] == [
        ("ListOrganizationsFeatures", "AccountNotManagementOrDelegatedAdministratorException")]
    assert "organization_features" not in data.rows


def test_the_account_summary_says_whether_the_root_has_a_password(sim: SimulatedOrganization
                                                                  ) -> None:
    session = base_session()
    accounts = {a.name: a for a in organizations.fetch(session.client("organizations")).accounts}
    prod, _ = collect_account(session, accounts["prod"], role_name="OrganizationAccountAccessRole",
                              external_id=None)
    assert prod.rows["account_summary"][0]["root_password_present"] is True


@pytest.mark.slow
def test_an_audit_with_the_feature_on_passes_a_member_root_without_credentials(
    sim: SimulatedOrganization, iam: Any, tmp_path: Path, prefect_server: None,
) -> None:
    """dev's root has no MFA (a failure of the demo); with its credentials removed and the feature
    on it passes, while the management account's root is judged as before."""
    dev = sim.account_ids["dev"]
    iam.enable_organizations_root_credentials_management()
    set_root_credentials(dev, password=False, access_keys=False, mfa=False)
    try:
        result = run_audit(AuditConfig(out_dir=tmp_path, simulated=True,
                                       endpoint_url=sim.endpoint_url,
                                       signing=SigningConfig(keys_dir=tmp_path / "keys")))
    finally:  # back to the demo's dev: a password, no MFA
        set_root_credentials(dev, password=True, access_keys=False, mfa=False)
    with duckdb.connect(str(result.run_dir / "snapshot.duckdb"), read_only=True) as con:
        verdicts = dict(con.execute(
            "SELECT account_id, status || ': ' || reason FROM control_results "
            "WHERE control_id = 'RC-1.4'").fetchall())
        features = con.execute("SELECT feature, enabled FROM organization_features "
                               "ORDER BY 1").fetchall()
    assert verdicts[dev] == f"pass: {REMOVED} (no password, no access key, no MFA device)"
    assert verdicts[sim.account_ids["management"]].startswith("pass: root user has MFA")
    assert verdicts[sim.account_ids["partner-integrations"]].startswith(
        "fail: root user has an active access key")
    assert features == [("RootCredentialsManagement", True), ("RootSessions", False)]
    html = " ".join(_strip_tags((result.run_dir / "report.html").read_text()).split())
    assert "Centralized root access on:" in html

"""The simulated organization holds the G4-G6 facts its cases were built on, as the collectors see them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from flows.collect import collect_account, collect_organization
from flows.sources import organizations
from flows.sources.session import base_session
from simulated import organization as simulated
from simulated.organization import ROLES, SCPS, SimulatedOrganization


@pytest.fixture(scope="module")
def collected() -> Iterator[tuple[SimulatedOrganization, dict[str, Any], dict[str, Any]]]:
    """The seeded organization, its org-level rows, and each account's rows by account name."""
    with simulated.serve() as sim:
        saved = os.environ["AWS_ENDPOINT_URL"]
        os.environ["AWS_ENDPOINT_URL"] = sim.endpoint_url
        try:
            session = base_session()
            organization = organizations.fetch(session.client("organizations"))
            org_data, _ = collect_organization(session, organization)
            names = {v: k for k, v in sim.account_ids.items()}
            accounts = {}
            for account in organization.accounts:
                data, _ = collect_account(session, account,
                                          role_name="OrganizationAccountAccessRole",
                                          external_id=None)
                assert not data.errors, data.errors
                accounts[names[account.account_id]] = data.rows
            yield sim, org_data.rows, accounts
        finally:
            os.environ["AWS_ENDPOINT_URL"] = saved


def test_every_role_exists_with_its_boundary_and_the_service_linked_role_has_none(
    collected: Any,
) -> None:
    sim, _, accounts = collected
    roles = {r["arn"]: r for rows in accounts.values() for r in rows["iam_roles"]}
    for role in ROLES:
        row = roles[sim.role_arn(role.account, role.name)]
        assert (row["permissions_boundary_arn"] is not None) is role.boundary, role.name
    linked = roles[sim.service_linked_role_arn()]
    assert linked["path"].startswith("/aws-service-role/")
    assert linked["permissions_boundary_arn"] is None


def test_oidc_providers_are_where_the_federated_roles_need_them(collected: Any) -> None:
    _, _, accounts = collected
    urls = {name: sorted(p["url"] for p in rows.get("oidc_providers", []))
            for name, rows in accounts.items()}
    assert urls["prod"] == sorted(simulated.OIDC_PROVIDERS["prod"])
    assert urls["security"] == [simulated.GITHUB_ENTERPRISE]
    assert urls["dev"] == urls["management"] == urls["partner-integrations"] == []


def test_scps_are_enabled_and_attached_as_built(collected: Any) -> None:
    sim, org_rows, _ = collected
    assert org_rows["org_roots"][0]["scp_enabled"] is True
    targets: dict[str, set[str]] = {}
    for t in org_rows["scp_targets"]:
        targets.setdefault(t["policy_id"], set()).add(t["target_id"])
    ids = sim.scp_ids
    assert targets[ids["DenyIAMUserCreation"]] == {sim.root_id}
    assert targets[ids["RequireRoleBoundaries"]] == {sim.ou_ids["Workloads"]}
    assert targets[ids["SecurityCreateRoleBoundaryOnly"]] == {sim.ou_ids["Security"]}
    assert ids["RequireRoleBoundaries-draft"] not in targets
    documents = {s["policy_id"]: s["document"] for s in org_rows["scps"]}
    for scp in SCPS:
        assert documents[ids[scp.name]] == scp.document


def test_ancestor_chains_lead_from_each_account_to_the_root(collected: Any) -> None:
    sim, org_rows, _ = collected
    chains: dict[str, list[str]] = {}
    for p in sorted(org_rows["account_parents"], key=lambda p: p["depth"]):
        chains.setdefault(p["account_id"], []).append(p["parent_id"])
    ids, ous = sim.account_ids, sim.ou_ids
    assert chains[ids["prod"]] == [ous["Workloads/Prod"], ous["Workloads"], sim.root_id]
    assert chains[ids["security"]] == [ous["Security"], sim.root_id]
    assert chains[ids["management"]] == [sim.root_id]


def test_identity_center_has_a_permission_set_provisioned_to_an_account(collected: Any) -> None:
    sim, org_rows, _ = collected
    assert [r["instance_arn"] for r in org_rows["identity_center_instances"]] == [
        sim.instance_arn]
    assert [p["name"] for p in org_rows["permission_sets"]] == [simulated.PERMISSION_SET[0]]
    assert {a["permission_set_arn"] for a in org_rows["account_assignments"]} == {
        sim.permission_set_arn}


def test_intended_verdicts_name_every_role_and_rc_6_4_follows_the_boundary(
    collected: Any,
) -> None:
    sim, _, _ = collected
    verdicts = sim.intended_role_verdicts()
    assert {arn for _, arn in verdicts} == {sim.role_arn(r.account, r.name) for r in ROLES}
    assert verdicts[("RC-4.1", sim.role_arn("partner-integrations", "public-any-principal"))] \
        == "fail:critical"
    assert verdicts[("RC-6.4", sim.role_arn("prod", "gha-org-wide"))] == "fail"

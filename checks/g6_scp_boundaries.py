"""G6: permission boundaries cap roles, enforced through Service Control Policies.

RC-6.1 .. RC-6.4, each with its catalogue entry, its rule and its Great Expectations
restatement. RC-6.1 (the organization) and RC-6.4 (roles) are SQL over the snapshot. RC-6.2
and RC-6.3 need IAM policy semantics (checks/iam/scp.py): for every member account, the SCPs
covering it are those attached to the root, to an OU on its path (account_parents) or to the
account itself (scp_targets). An action is denied when a covering SCP denies it, or when a level
of the chain root -> OUs -> account has SCPs none of which allows it (an allow-list strategy:
IAM needs an Allow at every level). Each distinct chain is judged once, each SCP once per
action. The facts, with the chain and what each attached policy denies (explicitly, or
implicitly at its level), go into the temp table `scp_facts` that the rules' queries read.

Decisions where CONTROLS.md is silent:
- RC-6.1 has one member, the organization: resource_id = run.organization_id, account_id = the
  management account.
- The management account (accounts.is_management or run.management_account_id) is not in
  RC-6.2/6.3's population: SCPs never apply to it. The control summary says so (notes), and so
  does RC-6.1's evidence (`scps_govern_management_account`: false).
- RC-6.2/6.3 depend on organization data only: an account whose IAM could not be collected is
  still judged; an Organizations failure makes every member `error`.
- When SCPs are not enabled on the root, no SCP applies: every member account fails RC-6.2/6.3.
- Implicit denies (checks/iam/scp.py decides when a level denies): the reason names the level
  and its SCPs; in the evidence chain that node lists the needs in `implicitly_denies`, and its
  policies are `covers: true` with `denies_implicitly`, as they are what denies.
- A member account whose parents were not collected is `error`; so is an account that fails
  while an SCP covering it could not be read or evaluated (it might have covered).
- RC-6.2: a Deny may exempt named admin principals (ArnNotLike aws:PrincipalArn ...).
- RC-6.3: an implicit deny of iam:CreateRole denies it with or without a boundary (stricter).
- RC-6.4: service-linked roles are out of the population; a valid register entry of either kind
  naming the role (a role ARN, allowed for RC-6.4 only) excepts it.

The GX restatements of RC-6.2/6.3 do not reread these verdicts: for each need they read whether
checks/iam/requests.py, a separate request evaluator, lets a concrete request by an ordinary
role of the account (no tags, not an exempted admin) through the account's SCP chain (PROBES).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from checks.control import Check, Control, GuidanceItem, Rule
from checks.expectation import FALSE, TRUE, Expect
from checks.frameworks import iso, nist, soc2
from checks.iam import requests
from checks.iam.document import Policy, parse_policy
from checks.iam.scp import (
    Coverage,
    ScpLevel,
    ScpNeed,
    ScpVerdict,
    boundary_coverage,
    deny_of,
    scp_verdict,
)
from checks.results import load_facts

ITEM = GuidanceItem(
    "G6",
    "Permission boundaries, enforced through SCPs",
    "Permission boundaries cap roles, enforced through Service Control Policies.",
)

RC_6_1 = Control(
    "RC-6.1", "G6", "SCPs are enabled on the organization root", "high",
    "the organization",
    "the SERVICE_CONTROL_POLICY policy type is not enabled on the root",
    "Enable service control policies on the root (aws organizations enable-policy-type "
    "--policy-type SERVICE_CONTROL_POLICY --root-id r-...).",
    requirements=(
        nist("AC-3", "partial", "the organization can enforce access policy on member accounts"),
    ),
)

RC_6_2 = Control(
    "RC-6.2", "G6", "SCPs deny creating IAM users and access keys", "high",
    "every member account (the management account is not governed by SCPs)",
    "no SCP covering it (attached to the root, an OU on its path, or the account) denies "
    "iam:CreateUser and iam:CreateAccessKey; a condition exempting an admin role is allowed",
    "Attach to the root an SCP that denies iam:CreateUser and iam:CreateAccessKey on *, "
    "optionally with ArnNotLike aws:PrincipalArn for a named admin role.",
    scp_coverage=True,
    requirements=(
        nist("AC-3", "partial", "creating IAM users and access keys is denied by policy in every "
             "member account"),
        soc2("CC6.2", "partial", "credentials are not issued outside the approved path"),
    ),
)

RC_6_3 = Control(
    "RC-6.3", "G6", "SCPs enforce permission boundaries on roles", "medium",
    "every member account (the management account is not governed by SCPs)",
    "no SCP covering it denies iam:CreateRole unless iam:PermissionsBoundary is set, and "
    "denies iam:DeleteRolePermissionsBoundary",
    "Attach an SCP denying iam:CreateRole when iam:PermissionsBoundary is not the approved "
    "boundary (StringNotEquals / Null), and denying iam:DeleteRolePermissionsBoundary.",
    scp_coverage=True,
    requirements=(
        nist("AC-6", "partial", "new roles are bounded by the approved permissions boundary"),
        iso("A.8.2", "partial", "privileged rights of new roles are restricted by policy"),
    ),
)

RC_6_4 = Control(
    "RC-6.4", "G6", "Roles have a permissions boundary", "medium",
    "every role that is not service-linked (/aws-service-role/ path)",
    "it has no permissions boundary attached and no valid exception names it",
    "Attach the approved permissions boundary (aws iam put-role-permissions-boundary), or "
    "record an expiring exception naming the role.",
    excepted_principal="role",
    requirements=(
        nist("AC-6", "partial", "every role carries a permissions boundary"),
        soc2("CC6.3", "partial", "least privilege through permissions boundaries on roles"),
        iso("A.8.2", "partial", "the rights roles can hold are restricted"),
    ),
)


# What RC-6.2 and RC-6.3 need denied (label, action, coverage of one SCP document), and the
# fact column of each need, in the same order.
NEEDS: dict[str, tuple[ScpNeed, ...]] = {
    RC_6_2.id: (
        ScpNeed("iam:CreateUser", "iam:CreateUser", deny_of("iam:CreateUser")),
        ScpNeed("iam:CreateAccessKey", "iam:CreateAccessKey", deny_of("iam:CreateAccessKey")),
    ),
    RC_6_3.id: (
        ScpNeed("iam:CreateRole without a permissions boundary", "iam:CreateRole",
                boundary_coverage),
        ScpNeed("iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
                deny_of("iam:DeleteRolePermissionsBoundary")),
    ),
}
NEED_FACTS: dict[str, tuple[str, str]] = {
    RC_6_2.id: ("denies_create_user", "denies_create_access_key"),
    RC_6_3.id: ("denies_create_role_without_boundary", "denies_delete_boundary"),
}



@dataclass(frozen=True)
class Probe:
    """A concrete request standing for one need: an ordinary role of the account asks for
    `action` on `resource` ({account} filled in), with `fixed` context keys (None: absent)."""

    fact: str  # True when some such request gets through the SCP chain
    action: str
    resource: str
    fixed: Mapping[str, Sequence[str | None]] = field(default_factory=dict)


PROBES: dict[str, tuple[Probe, Probe]] = {
    RC_6_2.id: (
        Probe("create_user_allowed", "iam:CreateUser", "arn:aws:iam::{account}:user/rolecall-probe"),
        Probe("create_access_key_allowed", "iam:CreateAccessKey",
              "arn:aws:iam::{account}:user/rolecall-probe"),
    ),
    RC_6_3.id: (
        Probe("create_role_without_boundary_allowed", "iam:CreateRole",
              "arn:aws:iam::{account}:role/rolecall-probe", {"iam:permissionsboundary": [None]}),
        Probe("delete_boundary_allowed", "iam:DeleteRolePermissionsBoundary",
              "arn:aws:iam::{account}:role/rolecall-probe"),
    ),
}
_LEVEL_KINDS = {"ROOT": "root", "ORGANIZATIONAL_UNIT": "OU", "ACCOUNT": "account"}
Chain = tuple[tuple[str, tuple[str, ...]], ...]  # (level label, attached policy ids), root first


def _column(control_id: str) -> str:
    return control_id.replace("-", "_").replace(".", "_").lower()


SCP_FACT_TYPES: dict[str, str] = {
    "account_id": "VARCHAR",
    "account_name": "VARCHAR",
    "scps_enabled": "BOOLEAN",
    "problem": "VARCHAR",  # why the account can't be judged, else NULL
    "covering_policies": "VARCHAR[]",
    "unreadable_policies": "VARCHAR[]",
    **{f"{_column(c)}_passed": "BOOLEAN" for c in NEEDS},
    **{f"{_column(c)}_reason": "VARCHAR" for c in NEEDS},
    **{f"{_column(c)}_chain": "JSON" for c in NEEDS},
    **{fact: "BOOLEAN" for facts in NEED_FACTS.values() for fact in facts},
    **{probe.fact: "BOOLEAN" for probes in PROBES.values() for probe in probes},
}


@dataclass
class _Org:
    roots: dict[str, tuple[str | None, bool | None]]  # root id -> (name, scp_enabled)
    ous: dict[str, str | None]  # ou id -> name
    accounts: dict[str, str | None]  # member account id -> name
    parents: dict[str, list[str]]  # account -> ancestors, root first
    scps: dict[str, tuple[str | None, str | None]]  # policy id -> (name, document)
    targets: dict[str, list[str]]  # target id -> policy ids


def _read(con: duckdb.DuckDBPyConnection) -> _Org:
    roots = {r: (n, e) for r, n, e in con.execute(
        "SELECT root_id, name, scp_enabled FROM org_roots ORDER BY root_id").fetchall()}
    ous = dict(con.execute("SELECT ou_id, name FROM org_units").fetchall())
    accounts = dict(con.execute(
        "SELECT account_id, any_value(name) FROM accounts WHERE account_id NOT IN "
        "(SELECT account_id FROM management) GROUP BY account_id ORDER BY account_id").fetchall())
    parents: dict[str, list[str]] = {}
    for account_id, parent_id, _ in con.execute(
            "SELECT DISTINCT account_id, parent_id, depth FROM account_parents "
            "ORDER BY account_id, depth DESC").fetchall():
        parents.setdefault(account_id, []).append(parent_id)
    scps = {p: (n, d) for p, n, d in con.execute(
        "SELECT policy_id, any_value(name), any_value(CAST(document AS VARCHAR)) FROM scps "
        "GROUP BY policy_id").fetchall()}
    targets: dict[str, list[str]] = {}
    for policy_id, target_id in con.execute(
            "SELECT DISTINCT policy_id, target_id FROM scp_targets ORDER BY policy_id").fetchall():
        targets.setdefault(target_id, []).append(policy_id)
    return _Org(roots, ous, accounts, parents, scps, targets)


class _Judge:
    """Each SCP parsed and judged once per need; each distinct chain once per control."""

    def __init__(self, org: _Org) -> None:
        self.org = org
        self.parsed: dict[str, Policy | str] = {}  # policy id -> Policy, or why not
        self.coverage: dict[tuple[str, str, int], Coverage | None] = {}
        self.verdicts: dict[tuple[str, Chain], ScpVerdict] = {}
        self.statements: dict[str, tuple[requests.Rule, ...] | None] = {}
        self.answers: dict[tuple[Chain, str | None, str], bool | None] = {}

    def request_allowed(self, chain: Chain, account_id: str, probe: Probe) -> bool | None:
        """The request evaluator's answer for one probe; shared by accounts with the same chain
        unless an SCP of the chain names the account."""
        ids = [p for _, level in chain for p in level]
        for p in ids:
            if p not in self.statements:
                self.statements[p] = requests.read_scp(self.org.scps.get(p, (None, None))[1])
        named = any(account_id in (self.org.scps.get(p, (None, None))[1] or "") for p in ids)
        key = (chain, account_id if named else None, probe.fact)
        if key not in self.answers:
            levels = [[self.statements[p] for p in level] for _, level in chain]
            try:
                self.answers[key] = requests.ordinary_request_allowed(
                    levels, account_id, probe.action, probe.resource.format(account=account_id),
                    probe.fixed)
            except requests.Unknown:
                self.answers[key] = None
        return self.answers[key]

    def document(self, policy_id: str) -> Policy | str:
        if policy_id not in self.parsed:
            name, doc = self.org.scps.get(policy_id, (None, None))
            if doc is None:
                self.parsed[policy_id] = f"SCP {policy_id} is attached but was not collected"
            else:
                try:
                    self.parsed[policy_id] = parse_policy(doc)
                except (ValueError, TypeError) as error:
                    self.parsed[policy_id] = f"SCP {policy_id} could not be parsed: {error}"
        return self.parsed[policy_id]

    def covers(self, control_id: str, policy_id: str, need: int) -> Coverage | None:
        """How the SCP denies the control's need; None when it can't be read or evaluated."""
        key = (control_id, policy_id, need)
        if key not in self.coverage:
            doc = self.document(policy_id)
            result: Coverage | None = None
            if isinstance(doc, Policy):
                try:
                    result = NEEDS[control_id][need].cover(doc)
                except (ValueError, TypeError):
                    result = None
            self.coverage[key] = result
        return self.coverage[key]

    def unreadable(self, policy_id: str) -> str | None:
        doc = self.document(policy_id)
        if isinstance(doc, str):
            return doc
        for control_id, needs in NEEDS.items():
            for i in range(len(needs)):
                if self.covers(control_id, policy_id, i) is None:
                    return f"SCP {policy_id} could not be evaluated"
        return None

    def readable(self, policy_id: str) -> Policy | None:
        """The parsed SCP, or None when it can't be read or evaluated (it might allow anything)."""
        doc = self.document(policy_id)
        return doc if isinstance(doc, Policy) and not self.unreadable(policy_id) else None

    def verdict(self, control_id: str, chain: Chain) -> ScpVerdict:
        key = (control_id, chain)
        if key not in self.verdicts:
            covering = sorted({p for _, ids in chain for p in ids})
            docs = {p: d for p in covering if isinstance(d := self.document(p), Policy)}
            levels = [ScpLevel(label, {p: self.readable(p) for p in ids})
                      for label, ids in chain]
            self.verdicts[key] = scp_verdict(NEEDS[control_id], docs, levels)
        return self.verdicts[key]

    def policy_evidence(self, control_id: str, policy_id: str,
                        implicit: list[str]) -> dict[str, Any]:
        """What one attached SCP denies; `implicit`: needs its level denies as an allow-list."""
        name = self.org.scps.get(policy_id, (None, None))[0]
        entry: dict[str, Any] = {"policy_id": policy_id, "name": name}
        problem = self.unreadable(policy_id)
        if problem:
            return {**entry, "covers": None, "problem": problem}
        denies, statements, exemptions = [], [], []
        for i, need in enumerate(NEEDS[control_id]):
            label = need.label
            cov = self.covers(control_id, policy_id, i)
            assert cov is not None
            if cov.denies:
                denies.append(label)
                statements += [{"statement_index": r.statement_index, "sid": r.sid,
                                "denies": label, "kind": r.kind}
                               for r in cov.rules if r.denies]
                exemptions += [str(c) for c in cov.exemptions]
        return {**entry, "covers": bool(denies or implicit), "denies": denies,
                "denies_implicitly": implicit, "statements": statements,
                "admin_exemptions": list(dict.fromkeys(exemptions))}


def _node(org: _Org, node_id: str, account_id: str) -> tuple[str, str | None]:
    if node_id in org.roots:
        return "ROOT", org.roots[node_id][0]
    if node_id == account_id:
        return "ACCOUNT", org.accounts.get(account_id)
    return "ORGANIZATIONAL_UNIT", org.ous.get(node_id)


def _level_label(org: _Org, node_id: str, account_id: str) -> str:
    """How a reason names a level: `OU ou-sandbox (Sandbox)`."""
    kind, name = _node(org, node_id, account_id)
    return f"{_LEVEL_KINDS[kind]} {node_id}" + (f" ({name})" if name and name != node_id else "")


def account_facts(judge: _Judge, account_id: str, scps_enabled: bool | None) -> dict[str, Any]:
    """RC-6.2 and RC-6.3 facts of one member account."""
    org = judge.org
    row: dict[str, Any] = {"account_id": account_id, "account_name": org.accounts.get(account_id),
                           "scps_enabled": scps_enabled}
    ancestors = org.parents.get(account_id)
    if scps_enabled is None:
        return {**row, "problem": "the organization root (and whether SCPs are enabled) was "
                                  "not collected"}
    if not ancestors:
        return {**row, "problem": "the account's parents (root and OUs) were not collected"}
    chain = [r for r in org.roots if r not in ancestors] + ancestors + [account_id]
    covering = sorted({p for node in chain for p in org.targets.get(node, ())})
    unreadable = [p for p in covering if judge.unreadable(p)]
    row.update(covering_policies=covering, unreadable_policies=unreadable, problem=None)
    # Levels without an SCP are left out: they never deny (missing data), and leaving them out
    # lets accounts with the same attachments share one verdict.
    levels: Chain = tuple((_level_label(org, node, account_id), tuple(org.targets[node]))
                          for node in chain if org.targets.get(node))
    for control_id, labels in NEED_FACTS.items():
        c = _column(control_id)
        verdict = judge.verdict(control_id, levels)
        implicit = {(d.level, d.need) for d in verdict.implicit}
        row[f"{c}_chain"] = []
        for node in chain:
            kind, name = _node(org, node, account_id)
            here = [n.label for n in NEEDS[control_id]
                    if (_level_label(org, node, account_id), n.label) in implicit]
            row[f"{c}_chain"].append({
                "id": node, "type": kind, "name": name, "implicitly_denies": here,
                "policies": [judge.policy_evidence(control_id, p, here)
                             for p in org.targets.get(node, ())]})
        for need, fact in zip(NEEDS[control_id], labels, strict=True):
            row[fact] = scps_enabled and need.label in verdict.denied
        for probe in PROBES[control_id]:  # no SCP applies when they are not enabled
            row[probe.fact] = judge.request_allowed(levels, account_id, probe) if scps_enabled else True
        passed = scps_enabled and verdict.passed
        if not scps_enabled:
            reason = "SCPs are not enabled on the root: no SCP applies to the account"
        elif not passed and unreadable:
            reason = (f"{verdict.reason}, but " + "; ".join(
                judge.unreadable(p) or p for p in unreadable) + " (it might)")
            passed = None
            row.update({fact: None for fact in labels})  # unknown, as the verdict
        else:
            reason = verdict.reason
        row[f"{c}_passed"] = passed
        row[f"{c}_reason"] = reason
    return row


def load_scp_facts(con: duckdb.DuckDBPyConnection) -> None:
    """Judge every member account's SCP coverage into temp table `scp_facts`."""
    org = _read(con)
    enabled: bool | None = None
    if org.roots:
        enabled = any(bool(e) for _, e in org.roots.values())
    judge = _Judge(org)
    rows = [account_facts(judge, a, enabled) for a in org.accounts]
    load_facts(con, "scp_facts", rows, SCP_FACT_TYPES)


_MANAGEMENT_NOTE = """
    SELECT format('management account {} is not governed by SCPs: not in the population', m.account_id)
    FROM management m ORDER BY m.account_id
"""
_ORG_ROW = """
    (SELECT min(account_id) FROM management) AS account_id,
    coalesce((SELECT any_value(organization_id) FROM run), (SELECT min(account_id) FROM management),
             'organization') AS resource_id,
    NULL::VARCHAR AS principal_arn
"""

# RC-6.1 --------------------------------------------------------------------------------------------

RULE_6_1 = Rule(
    control=RC_6_1,
    resource_type="organization",
    per_account=False,
    org_sources=("organizations",),
    facts=("root_ids", "scp_enabled", "policy_types", "management_account_id",
           "scps_govern_management_account"),
    query=f"""
        WITH root AS (
            SELECT count(*) AS roots, bool_or(scp_enabled) AS scp_enabled,
                   list(root_id ORDER BY root_id) AS root_ids,
                   to_json(list(policy_types ORDER BY root_id)) AS policy_types
            FROM org_roots)
        SELECT {_ORG_ROW},
               CASE WHEN roots = 0 THEN 'error' WHEN scp_enabled THEN 'pass' ELSE 'fail' END
                   AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN roots = 0 THEN 'the organization root was not collected'
                    WHEN scp_enabled
                        THEN format('SERVICE_CONTROL_POLICY is enabled on root {{}}',
                                    array_to_string(root_ids, ', '))
                    ELSE format('SERVICE_CONTROL_POLICY is not enabled on root {{}}',
                                array_to_string(root_ids, ', '))
               END AS reason,
               root_ids, CASE WHEN roots > 0 THEN coalesce(scp_enabled, false) END AS scp_enabled,
               policy_types, (SELECT min(account_id) FROM management) AS management_account_id,
               false AS scps_govern_management_account
        FROM root
    """,
)


def _expect_6_1(x: Expect) -> list[Any]:
    return [x.check(x.e.ExpectColumnValuesToBeInSet, "fail", "SCPs are enabled on the root",
                    column="scp_enabled", value_set=[TRUE])]


CHECK_6_1 = Check(RULE_6_1, _expect_6_1, ("scp_enabled",), population_count="SELECT count(*) FROM org_roots")

# RC-6.2, RC-6.3 ------------------------------------------------------------------------------------

def _scp_rule(control: Control) -> Rule:
    c = _column(control.id)
    facts = ("account_name", "scps_enabled", *NEED_FACTS[control.id], "covering_policies",
             "unreadable_policies", *(p.fact for p in PROBES[control.id]), f"{c}_chain")
    selected = ", ".join(f"{f} AS chain" if f.endswith("_chain") else f for f in facts)
    return Rule(
        control=control,
        resource_type="account",
        per_account=False,  # organization data only: judged even when the account's IAM is not
        org_sources=("organizations",),
        facts=tuple("chain" if f.endswith("_chain") else f for f in facts),
        notes_query=_MANAGEMENT_NOTE,
        query=f"""
            SELECT account_id, account_id AS resource_id, NULL::VARCHAR AS principal_arn,
                   CASE WHEN problem IS NOT NULL OR {c}_passed IS NULL THEN 'error'
                        WHEN {c}_passed THEN 'pass' ELSE 'fail' END AS outcome,
                   NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
                   coalesce(problem, {c}_reason) AS reason,
                   {selected}
            FROM scp_facts
        """,
    )


def _scp_expectations(x: Expect) -> list[Any]:
    """Each need's concrete request is refused, on disjoint rows."""
    in_set = x.e.ExpectColumnValuesToBeInSet
    first, second = PROBES[x.control_id]
    return [
        x.check(in_set, "fail", f"an ordinary role is refused {first.action}",
                column=first.fact, value_set=[FALSE]),
        x.check(in_set, "fail", f"an ordinary role is refused {second.action}",
                x.unflagged(first.fact), column=second.fact, value_set=[FALSE]),
    ]


_MEMBER_ACCOUNTS = "SELECT count(*) FROM accounts WHERE is_management IS NOT TRUE"
CHECK_6_2 = Check(_scp_rule(RC_6_2), _scp_expectations,
                  tuple(p.fact for p in PROBES[RC_6_2.id]), population_count=_MEMBER_ACCOUNTS,
                  requests_cross_check=True)
CHECK_6_3 = Check(_scp_rule(RC_6_3), _scp_expectations,
                  tuple(p.fact for p in PROBES[RC_6_3.id]), population_count=_MEMBER_ACCOUNTS,
                  requests_cross_check=True)

# RC-6.4 --------------------------------------------------------------------------------------------

RULE_6_4 = Rule(
    control=RC_6_4,
    resource_type="iam_role",
    sources=("authorization",),
    exception_kinds=("external-dependency", "break-glass"),
    facts=("role_name", "path", "has_boundary", "permissions_boundary_arn"),
    query="""
        SELECT account_id, arn AS resource_id, arn AS principal_arn,
               CASE WHEN permissions_boundary_arn IS NULL THEN 'fail' ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN permissions_boundary_arn IS NULL
                        THEN format('role {} has no permissions boundary', role_name)
                    ELSE format('role {} has permissions boundary {}', role_name,
                                permissions_boundary_arn)
               END AS reason,
               role_name, path, permissions_boundary_arn IS NOT NULL AS has_boundary,
               permissions_boundary_arn
        FROM iam_roles
        WHERE NOT starts_with(coalesce(path, ''), '/aws-service-role/')
    """,
)


def _expect_6_4(x: Expect) -> list[Any]:
    in_set = x.e.ExpectColumnValuesToBeInSet
    return [
        x.check(in_set, "fail+excepted", "roles have a permissions boundary", column="has_boundary",
                value_set=[TRUE]),
        x.check(in_set, "fail", "only excepted roles lack a permissions boundary",
                x.unflagged("covered_by_valid_exception"), column="has_boundary", value_set=[TRUE]),
    ]


CHECK_6_4 = Check(RULE_6_4, _expect_6_4, ("covered_by_valid_exception", "has_boundary"),
                  population_count="SELECT count(*) FROM iam_roles "
                                   "WHERE coalesce(path, '') <> '/aws-service-role/'")

CHECKS: tuple[Check, ...] = (CHECK_6_1, CHECK_6_2, CHECK_6_3, CHECK_6_4)
FACT_LOADERS = (load_scp_facts,)

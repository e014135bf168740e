"""Roles judged by their trust policy: the machinery G4 and G5 share.

Trust policies are judged in Python (checks/iam), once per distinct document: roles of one
organization share few documents (a deployment role template, the service roles), so 250,000
roles with a hundred distinct trust policies cost a hundred evaluations. A guidance module
computes its facts per document into its own temp table (one bulk insert); each rule's query
joins that table to iam_roles and decides its outcome in SQL, and checks/results.py turns that
into control_results rows like every other rule.

Decisions where CONTROLS.md is silent:
- The organization's accounts are the `accounts` table; its id is run.organization_id.
- A role whose trust policy is missing or cannot be evaluated is `error` in every control that
  reads the table (it might belong to any of their populations).
- Severity of a failing role is its worst finding's, each finding's from the catalogue.
- Each document is also put to checks/iam/requests.py, the independent request evaluator, for
  the facts the GX restatements read. When it cannot answer (an operator it does not know, too
  many contexts to search) those facts are NULL and `requests_problem` says why: a failing role
  then makes GX's count differ from the rule's, and the control's rows become `error`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import duckdb

from checks.control import SEVERITIES, Control, Rule
from checks.iam.document import Policy, parse_policy
from checks.iam.grants import Finding
from checks.iam.requests import Unknown
from checks.results import load_facts

# The key a role's facts are found under: its trust policy as stored ('' when missing).
DOC = "coalesce(CAST(trust_policy AS VARCHAR), '')"
SERVICE_LINKED = "starts_with(coalesce(r.path, ''), '/aws-service-role/')"
# A guidance module's facts of one parsed trust policy: (policy, org account ids, org id) -> facts.
PolicyFacts = Callable[[Policy, Collection[str], str | None], dict[str, Any]]
# The same from concrete requests (checks/iam/requests.py): (JSON text, org account ids, org id).
RequestFacts = Callable[[str, Collection[str], str | None], dict[str, Any]]


def worst_severity(control: Control, findings: Sequence[Finding]) -> str | None:
    """The catalogue's severity of the worst finding, None when there is none."""
    return min((control.severity_of(f.kind) for f in findings), key=SEVERITIES.index, default=None)


def evidence(control: Control, findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """The findings as JSON-ready evidence, each with the control's severity for it."""
    return [{**f.facts(), "severity": control.severity_of(f.kind)} for f in findings]


def reasons(findings: Sequence[Finding]) -> str:
    return " | ".join(f.reason for f in findings)


def unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def document_facts(doc: str, org_account_ids: Collection[str], org_id: str | None,
                   facts_of: PolicyFacts, requests_of: RequestFacts) -> dict[str, Any]:
    """The facts of one stored trust policy (JSON text, '' when missing), or why it can't be judged."""
    if not doc:
        return {"doc": doc, "parse_error": "the trust policy was not collected"}
    try:
        facts = facts_of(parse_policy(doc), org_account_ids, org_id)
    except (ValueError, TypeError, AttributeError) as error:
        return {"doc": doc, "parse_error": f"the trust policy could not be evaluated: {error}"}
    try:
        answers, problem = requests_of(doc, org_account_ids, org_id), None
    except (Unknown, ValueError, TypeError, AttributeError, RecursionError) as error:
        answers, problem = {}, f"the request evaluator cannot answer: {error}"
    return {"doc": doc, "parse_error": None, **facts, **answers, "requests_problem": problem}


def load_trust_facts(con: duckdb.DuckDBPyConnection, table: str, facts_of: PolicyFacts,
                     requests_of: RequestFacts, types: Mapping[str, str]) -> None:
    """Judge every distinct trust policy of the snapshot once, into temp table `table`."""
    org_accounts = {a for (a,) in con.execute("SELECT account_id FROM accounts").fetchall()}
    org_id = con.execute("SELECT any_value(organization_id) FROM run").fetchone()
    docs = [d for (d,) in con.execute(f"SELECT DISTINCT {DOC} FROM iam_roles").fetchall()]
    org = org_id[0] if org_id else None
    rows = [document_facts(doc, org_accounts, org, facts_of, requests_of) for doc in docs]
    load_facts(con, table, rows, {**types, "requests_problem": "VARCHAR"})


def role_rule(control: Control, table: str, facts: tuple[str, ...], population: str, failing: str,
              severity: str, reason: str, extra_where: str = "") -> Rule:
    """A trust control: roles whose judged trust policy (a row of `table`, alias t) puts them in
    `population`; `failing`, `severity` and `reason` are SQL over t."""
    selected = ", ".join(f"t.{f}" if f != "role_name" else "r.role_name" for f in facts)
    query = f"""
        SELECT r.account_id, r.arn AS resource_id, r.arn AS principal_arn,
               CASE WHEN t.parse_error IS NOT NULL THEN 'error'
                    WHEN {failing} THEN 'fail' ELSE 'pass' END AS outcome,
               {severity} AS severity, NULL::VARCHAR AS exception_id,
               format('role {{}}: {{}}', r.role_name,
                      coalesce(t.parse_error, {reason})) AS reason,
               {selected}
        FROM iam_roles r JOIN {table} t ON t.doc = {DOC.replace('trust_policy', 'r.trust_policy')}
        WHERE (t.parse_error IS NOT NULL OR {population}) {extra_where}
    """
    return Rule(control=control, resource_type="iam_role", sources=("authorization",),
                facts=facts, query=query)


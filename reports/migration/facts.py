"""What the plan knows of each IAM user, read once from a run's snapshot.

Everything comes from tables the audit already filled (credential report, authorization details,
the exceptions register as judged on the run date), so a plan needs no AWS access. Snapshots made
before the effective-policy tables existed still plan: their users simply have no policies known,
and the entry says so.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from checks.g1_no_iam_users import RC_1_1
from reports.migration.unused import NOT_KNOWN, UnusedAccess, from_findings
from reports.scope_view import run_settings

AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"
GITHUB_ISSUER = "token.actions.githubusercontent.com"


@dataclass(frozen=True)
class KeyFacts:
    """One access key, as the credential report describes it."""

    slot: int
    active: bool
    last_rotated: datetime | None
    last_used: datetime | None
    service: str | None
    region: str | None


@dataclass(frozen=True)
class ExceptionFacts:
    """A register entry valid on the run date that lets the user exist (covers the "no IAM users"
    control)."""

    exception_id: str
    kind: str
    dependency: str
    expires: date


@dataclass(frozen=True)
class PolicyDocument:
    """A policy document the user holds, and where it comes from (for the reason and the Sids)."""

    source: str  # e.g. "inline policy deploy", "group ops: inline policy logs"
    document: dict[str, Any] | None  # None: a customer managed policy whose document is unknown


@dataclass(frozen=True)
class EffectivePolicies:
    """The user's permissions: AWS managed policy ARNs, and every other document."""

    aws_managed: tuple[str, ...] = ()
    documents: tuple[PolicyDocument, ...] = ()
    known: bool = True  # false: the run did not collect the effective-policy tables


@dataclass(frozen=True)
class UserFacts:
    account_id: str
    account_name: str | None
    ou_path: str | None
    user_name: str
    arn: str
    created: datetime | None
    tags: dict[str, str]
    groups: tuple[str, ...]
    password_enabled: bool
    password_last_used: datetime | None
    mfa_active: bool
    keys: tuple[KeyFacts, ...]
    exception: ExceptionFacts | None
    policies: EffectivePolicies
    github_provider: bool  # the account has GitHub Actions' OIDC provider
    unused: UnusedAccess = NOT_KNOWN  # what it has not used (Access Analyzer, or plan --deep)

    @property
    def active_keys(self) -> tuple[KeyFacts, ...]:
        return tuple(k for k in self.keys if k.active)


@dataclass(frozen=True)
class RunFacts:
    """The run's date and the thresholds its controls were judged with (reused, never restated)."""

    run_id: str
    run_date: date
    unused_credential_days: int
    key_age_days: int
    boundaries_required: bool  # the run evaluates the permissions-boundary control
    users: tuple[UserFacts, ...] = field(default_factory=tuple)


def load(con: duckdb.DuckDBPyConnection) -> RunFacts:
    """The run's facts and every IAM user's, from a snapshot connection (only read)."""
    from checks.g6_scp_boundaries import RC_6_4

    run_id, started = con.execute("SELECT run_id, started_at FROM run").fetchone() or (None, None)
    if started is None:
        raise ValueError("the snapshot has no run row with started_at: not a finished run")
    settings = run_settings(con)
    return RunFacts(
        run_id=run_id, run_date=started.astimezone(UTC).date(),
        unused_credential_days=settings.unused_credential_days,
        key_age_days=settings.key_age_days,
        boundaries_required=settings.selects(RC_6_4.id, RC_6_4.guidance_item),
        users=tuple(_users(con)),
    )


def _users(con: duckdb.DuckDBPyConnection) -> list[UserFacts]:
    keys = _keys(con)
    exceptions = _exceptions(con)
    policies = _PolicyIndex(con)
    unused = _unused_permissions(con)
    github = {a for (a,) in con.execute(
        "SELECT account_id FROM oidc_providers WHERE lower(url) = ?", [GITHUB_ISSUER]).fetchall()}
    rows = con.execute("""
        SELECT u.account_id, a.name, a.ou_path, u.user_name, u.arn, u.create_date, u.tags,
               u.groups, u.attached_policies, c.password_enabled, c.password_last_used,
               c.mfa_active
        FROM iam_users u
        LEFT JOIN accounts a ON a.account_id = u.account_id
        LEFT JOIN credential_report c ON c.account_id = u.account_id AND c.arn = u.arn
        ORDER BY u.account_id, u.user_name
    """).fetchall()
    users = []
    for (account_id, account_name, ou_path, user_name, arn, created, tags, groups, attached,
         password_enabled, password_last_used, mfa_active) in rows:
        group_names = tuple(_json(groups) or ())
        users.append(UserFacts(
            account_id=account_id, account_name=account_name, ou_path=ou_path,
            user_name=user_name, arn=arn, created=created, tags=_json(tags) or {},
            groups=group_names, password_enabled=bool(password_enabled),
            password_last_used=password_last_used, mfa_active=bool(mfa_active),
            keys=tuple(keys.get(arn, ())), exception=exceptions.get(arn.lower()),
            policies=policies.of(account_id, arn, group_names, _json(attached) or []),
            github_provider=account_id in github,
            unused=from_findings(unused.get(arn, ())),
        ))
    return users


def _keys(con: duckdb.DuckDBPyConnection) -> dict[str, list[KeyFacts]]:
    region = "last_used_region" if _has_column(con, "iam_access_keys", "last_used_region") \
        else "NULL"
    out: dict[str, list[KeyFacts]] = defaultdict(list)
    for arn, slot, active, rotated, used, service, used_region in con.execute(f"""
            SELECT user_arn, key_slot, active, last_rotated, last_used_date, last_used_service,
                   {region} FROM iam_access_keys ORDER BY user_arn, key_slot""").fetchall():
        out[arn].append(KeyFacts(slot, bool(active), rotated, used, service, used_region))
    return out


def _unused_permissions(con: duckdb.DuckDBPyConnection
                        ) -> dict[str, list[tuple[str, list[dict[str, Any]] | None]]]:
    """ACTIVE UnusedPermission findings on users: user ARN -> [(finding id, details or None)]."""
    out: dict[str, list[tuple[str, list[dict[str, Any]] | None]]] = defaultdict(list)
    if not _has_table(con, "access_analyzer_findings"):
        return out
    for resource, finding_id, details in con.execute(
            "SELECT resource, finding_id, details FROM access_analyzer_findings "
            "WHERE finding_type = 'UnusedPermission' AND upper(status) = 'ACTIVE' "
            "AND resource_type = 'AWS::IAM::User' ORDER BY resource, finding_id").fetchall():
        out[resource].append((finding_id, _json(details)))
    return out


def _exceptions(con: duckdb.DuckDBPyConnection) -> dict[str, ExceptionFacts]:
    """Valid entries that cover the "no IAM users" control, by principal (lower case, as the
    register compares them); the one that runs longest wins."""
    out: dict[str, ExceptionFacts] = {}
    for exception_id, principal, controls, kind, dependency, expires in con.execute(
            "SELECT exception_id, principal, controls, kind, dependency, expires FROM exceptions "
            "WHERE valid AND expires IS NOT NULL ORDER BY expires").fetchall():
        if RC_1_1.id in (_json(controls) or []):
            out[principal.lower()] = ExceptionFacts(exception_id, kind, dependency or "", expires)
    return out


class _PolicyIndex:
    """The effective-policy tables, indexed once, so each user's policies are a few lookups."""

    TABLES = ("iam_user_policies", "iam_groups", "iam_group_policies", "iam_managed_policies")

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.known = all(_has_table(con, t) for t in self.TABLES)
        self.user_inline: dict[str, list[PolicyDocument]] = defaultdict(list)
        self.group_attached: dict[tuple[str, str], list[str]] = {}
        self.group_inline: dict[tuple[str, str], list[PolicyDocument]] = defaultdict(list)
        self.managed: dict[str, dict[str, Any] | None] = {}
        if not self.known:
            return
        for arn, name, document in con.execute(
                "SELECT user_arn, policy_name, document FROM iam_user_policies "
                "ORDER BY user_arn, policy_name").fetchall():
            self.user_inline[arn].append(PolicyDocument(f"inline policy {name}", _json(document)))
        for account_id, group, attached in con.execute(
                "SELECT account_id, group_name, attached_policies FROM iam_groups").fetchall():
            self.group_attached[(account_id, group)] = _json(attached) or []
        for account_id, group, name, document in con.execute(
                "SELECT account_id, group_name, policy_name, document FROM iam_group_policies "
                "ORDER BY policy_name").fetchall():
            self.group_inline[(account_id, group)].append(
                PolicyDocument(f"group {group}: inline policy {name}", _json(document)))
        for arn, document in con.execute(
                "SELECT policy_arn, document FROM iam_managed_policies").fetchall():
            self.managed[arn] = _json(document)

    def of(self, account_id: str, user_arn: str, groups: tuple[str, ...],
           attached: list[str]) -> EffectivePolicies:
        if not self.known:
            return EffectivePolicies(aws_managed=tuple(a for a in attached if _aws_managed(a)),
                                     known=False)
        managed_arns = [(a, "attached") for a in attached]
        documents = list(self.user_inline.get(user_arn, ()))
        for group in groups:
            managed_arns += [(a, f"group {group}") for a in self.group_attached.get(
                (account_id, group), ())]
            documents += self.group_inline.get((account_id, group), ())
        aws_managed: list[str] = []
        for arn, via in managed_arns:
            if _aws_managed(arn):
                aws_managed.append(arn)
                continue
            name = arn.rsplit("/", 1)[-1]
            documents.append(PolicyDocument(f"{via}: managed policy {name}", self.managed.get(arn)))
        return EffectivePolicies(tuple(dict.fromkeys(aws_managed)), tuple(documents))


def _aws_managed(arn: str) -> bool:
    return arn.startswith(AWS_MANAGED_PREFIX)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
                            "AND database_name = current_database()", [table]).fetchone()[0])


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = ? "
        "AND database_name = current_database()", [table, column]).fetchone()[0])

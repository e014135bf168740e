"""The DuckDB snapshot: one file per run, typed tables plus every raw API payload.

The schema is the contract between collection (flows/sources), the checks and the report, and
the thing auditors query with SQL, so each column carries its meaning in `SCHEMA`.
A run is built in a `<run-id>.partial` folder and renamed only when complete, so a crash
never leaves something that looks like a finished run, and finished runs are never reopened
for writing.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

# The credential report's name for an account's root user (a row of credential_report, not a user).
ROOT_USER = "<root_account>"

# table -> [(column, type, meaning)]
SCHEMA: dict[str, list[tuple[str, str, str]]] = {
    "run": [
        ("run_id", "VARCHAR", "UTC timestamp that names the run folder, e.g. 20261128T002654Z"),
        ("started_at", "TIMESTAMPTZ", "when collection started; 'now' for every age rule"),
        ("finished_at", "TIMESTAMPTZ", "when the snapshot was complete"),
        ("tool_version", "VARCHAR", "rolecall version that made the run"),
        ("organization_id", "VARCHAR", "AWS Organizations id (o-...)"),
        ("management_account_id", "VARCHAR", "account the run started from"),
        ("endpoint_url", "VARCHAR", "AWS_ENDPOINT_URL in force, NULL for real AWS"),
        ("simulated", "BOOLEAN", "true when the data comes from the built-in simulated organization"),
        ("config", "JSON", "the run's configuration (no secrets)"),
        ("period", "VARCHAR", "the month (YYYY-MM) the run stands as evidence for"),
        ("region", "VARCHAR", "region of the base session: STS, Identity Center, Access Analyzer"),
    ],
    "caller_identities": [
        ("account_id", "VARCHAR", "account the identity acted in"),
        ("session", "VARCHAR", "base (the caller's own credentials) or assumed-role (the audit role)"),
        ("arn", "VARCHAR", "sts:GetCallerIdentity Arn: who collected"),
        ("principal_id", "VARCHAR", "sts:GetCallerIdentity UserId (role id and session name)"),
        ("identity_account", "VARCHAR", "sts:GetCallerIdentity Account"),
    ],
    "accounts": [
        ("account_id", "VARCHAR", "12-digit account id"),
        ("name", "VARCHAR", "account name in AWS Organizations"),
        ("email", "VARCHAR", "root e-mail address of the account"),
        ("status", "VARCHAR", "ACTIVE, SUSPENDED, ..."),
        ("ou_path", "VARCHAR", "path of OU names from the root, e.g. Root/Workloads/Prod"),
        ("is_management", "BOOLEAN", "true for the organization's management account"),
        ("collected", "BOOLEAN", "true when every IAM source of the account was collected"),
        ("error", "VARCHAR", "why the account, or part of it, was not collected"),
        ("api_calls", "INTEGER", "AWS API calls made for this account"),
    ],
    "credential_report": [
        ("account_id", "VARCHAR", "account the report belongs to"),
        ("user", "VARCHAR", "user name; <root_account> for the root user"),
        ("arn", "VARCHAR", "ARN of the user"),
        ("user_creation_time", "TIMESTAMPTZ", "when the user was created"),
        ("password_enabled", "BOOLEAN", "the user has a console password"),
        ("password_last_used", "TIMESTAMPTZ", "last console sign-in, NULL if never/unknown"),
        ("password_last_changed", "TIMESTAMPTZ", "last password change"),
        ("mfa_active", "BOOLEAN", "an MFA device is active for the user"),
        ("access_key_1_active", "BOOLEAN", "key slot 1 holds an active key"),
        ("access_key_1_last_rotated", "TIMESTAMPTZ", "creation or last rotation of key 1"),
        ("access_key_1_last_used_date", "TIMESTAMPTZ", "last use of key 1, NULL if never"),
        ("access_key_1_last_used_service", "VARCHAR", "service of key 1's last use"),
        ("access_key_1_last_used_region", "VARCHAR", "region of key 1's last use"),
        ("access_key_2_active", "BOOLEAN", "key slot 2 holds an active key"),
        ("access_key_2_last_rotated", "TIMESTAMPTZ", "creation or last rotation of key 2"),
        ("access_key_2_last_used_date", "TIMESTAMPTZ", "last use of key 2, NULL if never"),
        ("access_key_2_last_used_service", "VARCHAR", "service of key 2's last use"),
        ("access_key_2_last_used_region", "VARCHAR", "region of key 2's last use"),
        ("cert_1_active", "BOOLEAN", "signing certificate 1 is active"),
        ("cert_2_active", "BOOLEAN", "signing certificate 2 is active"),
        ("generated_time", "TIMESTAMPTZ", "when AWS generated the report"),
    ],
    "account_summary": [
        ("account_id", "VARCHAR", "account"),
        ("root_mfa_enabled", "BOOLEAN", "iam:GetAccountSummary AccountMFAEnabled"),
        ("root_access_keys_present", "BOOLEAN", "iam:GetAccountSummary AccountAccessKeysPresent"),
        ("root_password_present", "BOOLEAN",
         "iam:GetAccountSummary AccountPasswordPresent, NULL when the endpoint does not report it"),
        ("users", "INTEGER", "number of IAM users"),
        ("roles", "INTEGER", "number of IAM roles"),
    ],
    "iam_users": [
        ("account_id", "VARCHAR", "account"),
        ("user_name", "VARCHAR", "user name"),
        ("user_id", "VARCHAR", "unique id (AIDA...)"),
        ("arn", "VARCHAR", "ARN of the user"),
        ("path", "VARCHAR", "IAM path"),
        ("create_date", "TIMESTAMPTZ", "when the user was created"),
        ("permissions_boundary_arn", "VARCHAR", "permissions boundary policy, NULL if none"),
        ("groups", "JSON", "group names"),
        ("attached_policies", "JSON", "managed policy ARNs attached to the user"),
        ("inline_policy_names", "JSON", "names of inline policies"),
        ("tags", "JSON", "tags as {key: value}"),
    ],
    "iam_user_policies": [
        ("account_id", "VARCHAR", "account"),
        ("user_name", "VARCHAR", "user the inline policy is embedded in"),
        ("user_arn", "VARCHAR", "ARN of the user"),
        ("policy_name", "VARCHAR", "name of the inline policy"),
        ("document", "JSON", "the policy document, decoded"),
    ],
    "iam_groups": [
        ("account_id", "VARCHAR", "account"),
        ("group_name", "VARCHAR", "group name (iam_users.groups names its members' groups)"),
        ("group_id", "VARCHAR", "unique id (AGPA...)"),
        ("arn", "VARCHAR", "ARN of the group"),
        ("path", "VARCHAR", "IAM path"),
        ("create_date", "TIMESTAMPTZ", "when the group was created"),
        ("attached_policies", "JSON", "managed policy ARNs attached to the group"),
    ],
    "iam_group_policies": [
        ("account_id", "VARCHAR", "account"),
        ("group_name", "VARCHAR", "group the inline policy is embedded in"),
        ("group_arn", "VARCHAR", "ARN of the group"),
        ("policy_name", "VARCHAR", "name of the inline policy"),
        ("document", "JSON", "the policy document, decoded"),
    ],
    "iam_managed_policies": [
        ("account_id", "VARCHAR", "account"),
        ("policy_arn", "VARCHAR", "ARN of a customer managed policy of the account (AWS managed "
         "policies are public and named by ARN only)"),
        ("policy_name", "VARCHAR", "policy name"),
        ("path", "VARCHAR", "IAM path"),
        ("default_version_id", "VARCHAR", "the version in force, e.g. v3"),
        ("attachment_count", "INTEGER", "users, groups and roles it is attached to"),
        ("is_attachable", "BOOLEAN", "it can be attached to a user, group or role"),
        ("document", "JSON", "the default version's document, decoded"),
    ],
    "iam_roles": [
        ("account_id", "VARCHAR", "account"),
        ("role_name", "VARCHAR", "role name"),
        ("role_id", "VARCHAR", "unique id (AROA...)"),
        ("arn", "VARCHAR", "ARN of the role"),
        ("path", "VARCHAR", "IAM path; /aws-service-role/ for service-linked roles"),
        ("create_date", "TIMESTAMPTZ", "when the role was created"),
        ("trust_policy", "JSON", "the assume-role (trust) policy document, decoded"),
        ("permissions_boundary_arn", "VARCHAR", "permissions boundary policy, NULL if none"),
        ("last_used_date", "TIMESTAMPTZ", "RoleLastUsed.LastUsedDate"),
        ("attached_policies", "JSON", "managed policy ARNs attached to the role"),
        ("tags", "JSON", "tags as {key: value}"),
    ],
    "iam_access_keys": [
        ("account_id", "VARCHAR", "account"),
        ("user_name", "VARCHAR", "owner of the key"),
        ("user_arn", "VARCHAR", "ARN of the owner"),
        ("key_slot", "INTEGER", "1 or 2, the credential report's slot"),
        ("access_key_id", "VARCHAR", "AKIA... where list_access_keys was needed, else NULL"),
        ("active", "BOOLEAN", "the key is Active"),
        ("last_rotated", "TIMESTAMPTZ", "creation or last rotation"),
        ("last_used_date", "TIMESTAMPTZ", "last use, NULL if never used"),
        ("last_used_service", "VARCHAR", "service of the last use"),
        ("last_used_region", "VARCHAR", "region of the last use, NULL if never used or unknown"),
        ("resource_id", "VARCHAR", "stable id used in control_results: <user arn>/access_key_<slot>"),
    ],
    "oidc_providers": [
        ("account_id", "VARCHAR", "account"),
        ("arn", "VARCHAR", "provider ARN"),
        ("url", "VARCHAR", "issuer host and path, from the ARN"),
    ],
    "saml_providers": [
        ("account_id", "VARCHAR", "account"),
        ("arn", "VARCHAR", "provider ARN"),
        ("valid_until", "TIMESTAMPTZ", "metadata expiry"),
        ("create_date", "TIMESTAMPTZ", "when the provider was created"),
    ],
    "org_roots": [
        ("root_id", "VARCHAR", "organization root id (r-...)"),
        ("name", "VARCHAR", "root name"),
        ("scp_enabled", "BOOLEAN", "SERVICE_CONTROL_POLICY is ENABLED on the root"),
        ("policy_types", "JSON", "the root's PolicyTypes as returned"),
    ],
    "org_units": [
        ("ou_id", "VARCHAR", "OU id (ou-...)"),
        ("name", "VARCHAR", "OU name"),
        ("parent_id", "VARCHAR", "parent OU or root id"),
        ("path", "VARCHAR", "path of names from the root, e.g. Root/Workloads/Prod"),
    ],
    "account_parents": [
        ("account_id", "VARCHAR", "member account"),
        ("parent_id", "VARCHAR", "an ancestor: OU id or root id"),
        ("depth", "INTEGER", "1 for the direct parent, increasing towards the root"),
    ],
    "scps": [
        ("policy_id", "VARCHAR", "policy id (p-...)"),
        ("name", "VARCHAR", "policy name"),
        ("description", "VARCHAR", "policy description"),
        ("aws_managed", "BOOLEAN", "AWS managed (e.g. FullAWSAccess)"),
        ("document", "JSON", "the policy document, decoded"),
    ],
    "scp_targets": [
        ("policy_id", "VARCHAR", "SCP id"),
        ("target_id", "VARCHAR", "root, OU or account id the SCP is attached to"),
        ("target_type", "VARCHAR", "ROOT, ORGANIZATIONAL_UNIT or ACCOUNT"),
        ("target_name", "VARCHAR", "name of the target"),
    ],
    "access_analyzers": [
        ("account_id", "VARCHAR", "account the analyzer was listed in"),
        ("arn", "VARCHAR", "analyzer ARN"),
        ("name", "VARCHAR", "analyzer name"),
        ("type", "VARCHAR", "ACCOUNT, ORGANIZATION, ACCOUNT_UNUSED_ACCESS, ORGANIZATION_UNUSED_ACCESS"),
        ("status", "VARCHAR", "ACTIVE, CREATING, DISABLED, FAILED"),
        ("region", "VARCHAR", "region of the analyzer"),
    ],
    "access_analyzer_findings": [
        ("account_id", "VARCHAR", "account the findings were listed in"),
        ("analyzer_arn", "VARCHAR", "analyzer that produced the finding"),
        ("finding_id", "VARCHAR", "finding id"),
        ("finding_type", "VARCHAR", "ExternalAccess, UnusedIAMRole, UnusedIAMUserAccessKey, ..."),
        ("resource", "VARCHAR", "ARN of the resource the finding is about"),
        ("resource_type", "VARCHAR", "AWS::IAM::Role, AWS::IAM::User, ..."),
        ("resource_owner_account", "VARCHAR", "account that owns the resource"),
        ("status", "VARCHAR", "ACTIVE, ARCHIVED or RESOLVED"),
        ("created_at", "TIMESTAMPTZ", "when the finding was created"),
        ("updated_at", "TIMESTAMPTZ", "when it last changed"),
        ("details", "JSON", "get_finding_v2 details where fetched"),
    ],
    "identity_center_instances": [
        ("instance_arn", "VARCHAR", "IAM Identity Center instance ARN"),
        ("identity_store_id", "VARCHAR", "identity store id"),
        ("owner_account_id", "VARCHAR", "account that owns the instance"),
        ("status", "VARCHAR", "ACTIVE, ..."),
    ],
    "permission_sets": [
        ("instance_arn", "VARCHAR", "instance"),
        ("permission_set_arn", "VARCHAR", "permission set ARN"),
        ("name", "VARCHAR", "permission set name"),
        ("session_duration", "VARCHAR", "ISO-8601 session duration"),
    ],
    "account_assignments": [
        ("instance_arn", "VARCHAR", "instance"),
        ("permission_set_arn", "VARCHAR", "permission set provisioned to the account"),
        ("account_id", "VARCHAR", "account with at least one assignment of the permission set"),
    ],
    "organization_features": [
        ("organization_id", "VARCHAR", "organization the centralized root access features belong to"),
        ("feature", "VARCHAR", "RootCredentialsManagement or RootSessions"),
        ("enabled", "BOOLEAN", "the feature is enabled for the organization's member accounts"),
        ("basis", "VARCHAR", "how it is known: iam:ListOrganizationsFeatures, or a refusal meaning off"),
    ],
    "exceptions": [
        ("exception_id", "VARCHAR", "id of the register entry"),
        ("principal", "VARCHAR", "ARN the entry excepts"),
        ("controls", "JSON", "control ids the entry covers"),
        ("kind", "VARCHAR", "external-dependency or break-glass"),
        ("dependency", "VARCHAR", "what relies on the IAM user"),
        ("reason", "VARCHAR", "why the exception exists"),
        ("owner", "VARCHAR", "who answers for it"),
        ("approved_by", "VARCHAR", "who approved it"),
        ("ticket", "VARCHAR", "the approval's reference: a ticket id or an http(s) URL, or NULL"),
        ("approved_on", "DATE", "day the exception was approved, NULL if not recorded"),
        ("expires", "DATE", "last day the exception is valid"),
        ("valid", "BOOLEAN", "usable on the run date (not expired, complete, within 12 months)"),
        ("problems", "JSON", "why the entry is not valid, or is stale"),
    ],
    "collection_errors": [
        ("account_id", "VARCHAR", "account whose collection failed"),
        ("source", "VARCHAR", "credential_report, authorization, providers, ..."),
        ("operation", "VARCHAR", "AWS API operation that failed"),
        ("error_code", "VARCHAR", "AWS error code, e.g. AccessDenied"),
        ("message", "VARCHAR", "error message as received"),
        ("occurred_at", "TIMESTAMPTZ", "when it happened"),
    ],
    "raw_payloads": [
        ("account_id", "VARCHAR", "account the call was made in"),
        ("source", "VARCHAR", "collector module"),
        ("operation", "VARCHAR", "AWS API operation"),
        ("page", "INTEGER", "page number for paginated calls, from 0"),
        ("received_at", "TIMESTAMPTZ", "when the response arrived"),
        ("payload", "JSON", "the response as received (ResponseMetadata removed)"),
    ],
    "control_results": [
        ("control_id", "VARCHAR", "RC-x.y"),
        ("guidance_item", "VARCHAR", "G1..G6"),
        ("account_id", "VARCHAR", "account of the resource"),
        ("resource_id", "VARCHAR", "ARN for IAM entities, 12-digit id for accounts"),
        ("resource_type", "VARCHAR", "iam_user, access_key, root_user, exception, account, ..."),
        ("status", "VARCHAR", "pass, fail, excepted or error"),
        ("severity", "VARCHAR", "critical, high, medium, low, info"),
        ("reason", "VARCHAR", "the facts that decide the status"),
        ("exception_id", "VARCHAR", "register entry that excepts a fail, else NULL"),
        ("evidence", "JSON", "the facts as data"),
    ],
}


def ddl() -> str:
    return "\n".join(
        f"CREATE TABLE IF NOT EXISTS {table} ("
        + ", ".join(f'"{name}" {kind}' for name, kind, _ in columns)
        + ");"
        for table, columns in SCHEMA.items()
    )


# DuckDB takes up to 80% of RAM by default: comparing 880,000 failures with the previous run's
# used 1.8 GB. Capped, it spills to disk and stays within the 2 GB budget of a 1,000-account
# run, a few tenths of a second slower. Spill files go to the system temp folder, never into a
# run folder.
DUCKDB_MEMORY_LIMIT = "1GB"


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A snapshot connection with rolecall's memory cap."""
    return duckdb.connect(str(path), read_only=read_only, config={
        "memory_limit": DUCKDB_MEMORY_LIMIT,
        "temp_directory": str(Path(tempfile.gettempdir()) / "rolecall-duckdb-spill"),
    })


def create(path: Path) -> duckdb.DuckDBPyConnection:
    """Open a new snapshot file with every table of SCHEMA."""
    con = connect(path)
    con.execute(ddl())
    return con


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def table_names(con: duckdb.DuckDBPyConnection, database: str | None = None) -> list[str]:
    """Tables of a snapshot (the connection's own, or an attached one), whatever schema version
    wrote it."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = coalesce(?, current_database()) "
        "AND schema_name = 'main' AND NOT temporary ORDER BY table_name", [database]).fetchall()
    return [name for (name,) in rows]


def insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: Iterable[Mapping[str, Any]]
) -> int:
    """Insert dict rows in one statement; missing keys are NULL, dicts and lists become JSON.

    Rows go through a pandas frame: one bulk insert instead of one statement per row, which is
    what keeps loading ~500,000 principals in seconds.
    """
    columns = SCHEMA[table]
    rows = list(rows)
    if not rows:
        return 0
    try:
        _insert(con, table, columns, rows)
    except duckdb.Error as error:
        # A JSON response may carry a lone UTF-16 surrogate ("\ud800"), which no UTF-8 text
        # holds: DuckDB refuses the whole batch. One odd value must not cost the run, so the
        # batch goes again with U+FFFD in its place (the check runs only when DuckDB refused).
        if "surrogate" not in str(error):
            raise
        _insert(con, table, columns, rows, clean=True)
    return len(rows)


def _insert(con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str, str]],
            rows: list[Mapping[str, Any]], *, clean: bool = False) -> None:
    import pandas as pd  # imported here: `rolecall sql` reads SCHEMA and starts faster without it

    frame = pd.DataFrame(
        {
            name: [_json(row.get(name)) for row in rows]
            if kind == "JSON" else
            [_without_lone_surrogates(row.get(name)) for row in rows] if clean else
            [row.get(name) for row in rows]
            for name, kind, _ in columns
        }
    )
    selects = ", ".join(f'CAST(frame."{name}" AS {kind})' for name, kind, _ in columns)
    con.register("frame", frame)
    try:
        con.execute(f"INSERT INTO {table} SELECT {selects} FROM frame")
    finally:
        con.unregister("frame")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    return _LONE_SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


# Compact JSON, as DuckDB's own to_json writes the evidence column. Datetimes and dataclasses go
# through str() as json.dumps(default=str) did, so a timestamp reads the same in every snapshot.
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _json(value: Any) -> str | None:
    """JSON text of a value; the empty lists and maps most rows carry skip the encoder.

    orjson encodes the raw payloads and trust policies of a 10,000-account run about four times
    faster than the standard library; what it refuses (integers past 64 bits, lone surrogates)
    goes through json.
    """
    if value is None:
        return None
    if not value and isinstance(value, (list, dict)):
        return "[]" if isinstance(value, list) else "{}"
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:  # also a lone surrogate, which DuckDB's JSON would refuse
        return _without_lone_surrogates(
            json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":")))


@dataclass
class AccountData:
    """Everything collected for one account, as plain rows per table."""

    account_id: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    api_calls: int = 0
    credential_report_csv: str | None = None

    def add(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rows.setdefault(table, []).extend(dict(r) for r in rows)


def now_utc() -> datetime:
    return datetime.now(UTC)


class SnapshotWriter:
    """Buffers collected rows per table and bulk-inserts them every `flush_rows` rows.

    Accounts arrive one at a time from the collectors; writing them as they come keeps memory
    bounded for 1,000-account organizations, and buffering keeps inserts few.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, flush_rows: int = 200_000) -> None:
        self.con, self.flush_rows = con, flush_rows
        self.buffer: dict[str, list[Mapping[str, Any]]] = {}
        self.buffered = 0

    def add(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        buffered = self.buffer.setdefault(table, [])
        before = len(buffered)
        buffered.extend(rows)  # read, never changed: no copy (AccountData already made one)
        self.buffered += len(buffered) - before
        if self.buffered >= self.flush_rows:
            self.flush()

    def add_account(self, data: AccountData, payloads: Sequence[Any] = ()) -> None:
        for table, rows in data.rows.items():
            self.add(table, rows)
        self.add("collection_errors", data.errors)
        self.add(
            "raw_payloads",
            (
                {
                    "account_id": data.account_id, "source": p.source, "operation": p.operation,
                    "page": p.page, "received_at": p.received_at,
                    # JSON text already (flows/sources/session.py evidence_json), or values
                    "payload": orjson.Fragment(p.body) if isinstance(p.body, bytes) else p.body,
                }
                for p in payloads
            ),
        )

    def flush(self) -> None:
        for table, rows in self.buffer.items():
            insert_rows(self.con, table, rows)
        self.buffer, self.buffered = {}, 0

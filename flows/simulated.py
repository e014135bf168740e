"""The built-in simulated organization: a moto server on 127.0.0.1 seeded with every G1-G3 case.

Everything is created through real boto3 calls against the moto server, and age is real age:
old users and keys are created, and keys are used, under a clock moved back with time-machine,
so the credential report that rolecall later downloads says what AWS would say. Ages are
relative to the moment of seeding, so verdicts do not drift as the calendar moves on.
The demo, `rolecall simulate` and the tests all use this one module.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import time_machine
import yaml
from moto.moto_api import _internal as moto_internal
from moto.server import ThreadedMotoServer

MANAGEMENT_ACCOUNT_ID = "123456789012"  # moto's default account: the caller's own account
REGION = "us-east-1"
SEED = 20261128
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@dataclass(frozen=True)
class SimKey:
    """An access key: created `age_days` ago, last used `used_days_ago` ago (None: never)."""

    age_days: int
    used_days_ago: int | None
    active: bool = True


@dataclass(frozen=True)
class SimUser:
    account: str
    name: str
    console: bool = False
    mfa: bool = False
    keys: tuple[SimKey, ...] = ()
    age_days: int = 500
    why: str = ""


@dataclass(frozen=True)
class SimAccount:
    name: str
    ou_path: str  # "" for the management account, which stays under the root
    root_mfa: bool = True
    root_access_key: bool = False


ACCOUNTS: tuple[SimAccount, ...] = (
    SimAccount("management", ""),
    SimAccount("prod", "Workloads/Prod"),
    SimAccount("dev", "Workloads/Dev", root_mfa=False),
    SimAccount("partner-integrations", "Shared", root_access_key=True),
    SimAccount("security", "Security"),
)

USERS: tuple[SimUser, ...] = (
    SimUser("management", "break-glass-admin", console=True, mfa=True,
            why="break-glass console user with MFA, covered by a break-glass exception"),
    SimUser("prod", "alice", console=True, mfa=False, why="console user without MFA"),
    SimUser("prod", "bob", console=True, mfa=True, why="console user with MFA"),
    SimUser("prod", "svc-ci-deployer", keys=(SimKey(age_days=20, used_days_ago=1),),
            why="programmatic service user, key rotated recently and used yesterday"),
    SimUser("prod", "svc-backup",
            keys=(SimKey(age_days=400, used_days_ago=2), SimKey(age_days=5, used_days_ago=None)),
            why="two keys: one 400 days old but used, one new and never used"),
    SimUser("dev", "svc-legacy-etl", keys=(SimKey(age_days=200, used_days_ago=150),),
            why="key older than 90 days, last used 150 days ago"),
    SimUser("dev", "svc-unused", keys=(SimKey(age_days=10, used_days_ago=None),),
            why="active key never used"),
    SimUser("dev", "svc-retired", keys=(SimKey(age_days=300, used_days_ago=None, active=False),),
            why="only an inactive old key"),
    SimUser("partner-integrations", "svc-vendor-sftp",
            keys=(SimKey(age_days=30, used_days_ago=3),),
            why="vendor needs static keys; covered by a valid external-dependency exception"),
    SimUser("partner-integrations", "svc-old-integration",
            keys=(SimKey(age_days=60, used_days_ago=10),),
            why="covered by an exception that has expired"),
    SimUser("partner-integrations", "svc-report-export",
            keys=(SimKey(age_days=45, used_days_ago=7),),
            why="named by an exception that is missing its owner"),
)


@dataclass
class SimulatedOrganization:
    """Facts known by construction, for the demo's exceptions register and for tests."""

    endpoint_url: str
    seeded_at: datetime
    organization_id: str
    account_ids: dict[str, str] = field(default_factory=dict)  # name -> id

    def user_arn(self, account: str, user: str) -> str:
        return f"arn:aws:iam::{self.account_ids[account]}:user/{user}"


def _session(**credentials: str) -> boto3.Session:
    return boto3.Session(region_name=REGION, **credentials)


class _Clients:
    """Clients of one session, all pointed at the simulated endpoint."""

    def __init__(self, session: boto3.Session, endpoint_url: str) -> None:
        self.session, self.endpoint_url = session, endpoint_url

    def __call__(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)


def _member_clients(base: _Clients, account_id: str) -> _Clients:
    creds = base("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="rolecall-seed",
    )["Credentials"]
    session = _session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    return _Clients(session, base.endpoint_url)


def _create_organization(base: _Clients) -> tuple[str, dict[str, str]]:
    org = base("organizations")
    organization_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou_ids: dict[str, str] = {}

    def ou_for(path: str) -> str:
        parent = root_id
        walked: list[str] = []
        for name in path.split("/"):
            walked.append(name)
            key = "/".join(walked)
            if key not in ou_ids:
                ou_ids[key] = org.create_organizational_unit(ParentId=parent, Name=name)[
                    "OrganizationalUnit"
                ]["Id"]
            parent = ou_ids[key]
        return parent

    account_ids = {"management": MANAGEMENT_ACCOUNT_ID}
    for account in ACCOUNTS:
        if not account.ou_path:
            continue
        status = org.create_account(
            Email=f"aws+{account.name}@example.com", AccountName=account.name
        )["CreateAccountStatus"]
        account_ids[account.name] = status["AccountId"]
        org.move_account(
            AccountId=status["AccountId"],
            SourceParentId=root_id,
            DestinationParentId=ou_for(account.ou_path),
        )
    return organization_id, account_ids


def _create_user(clients: _Clients, user: SimUser, now: datetime) -> None:
    iam = clients("iam")
    with time_machine.travel(now - timedelta(days=user.age_days), tick=False):
        iam.create_user(UserName=user.name, Tags=[{"Key": "simulated-case", "Value": user.why}])
        if user.console:
            iam.create_login_profile(UserName=user.name, Password="Simulated-Pa55word!")
        if user.mfa:
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=user.name)[
                "VirtualMFADevice"
            ]["SerialNumber"]
            iam.enable_mfa_device(
                UserName=user.name, SerialNumber=serial,
                AuthenticationCode1="123456", AuthenticationCode2="654321",
            )
    for key in user.keys:
        with time_machine.travel(now - timedelta(days=key.age_days), tick=False):
            created = iam.create_access_key(UserName=user.name)["AccessKey"]
        if key.used_days_ago is not None:
            # A real signed request with the key is what makes AWS (and moto) record its use.
            with time_machine.travel(now - timedelta(days=key.used_days_ago), tick=False):
                _session(
                    aws_access_key_id=created["AccessKeyId"],
                    aws_secret_access_key=created["SecretAccessKey"],
                ).client("sts", endpoint_url=clients.endpoint_url).get_caller_identity()
        if not key.active:
            iam.update_access_key(
                UserName=user.name, AccessKeyId=created["AccessKeyId"], Status="Inactive"
            )


def _set_root_credentials(account_id: str, account: SimAccount) -> None:
    """Root MFA and root keys have no API in AWS either (console only): set moto's state."""
    from moto.iam.models import iam_backends

    summary = iam_backends[account_id]["aws"].account_summary
    summary._account_mfa_enabled = 1 if account.root_mfa else 0
    summary._account_access_keys_present = 1 if account.root_access_key else 0


def _create_roles(clients: _Clients, management_id: str) -> None:
    """A few ordinary roles so that the role tables are not empty (G4-G6 grow them)."""
    iam = clients("iam")
    iam.create_role(
        RoleName="rolecall-audit",
        AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{management_id}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "rolecall-demo"}},
            }],
        }),
        Description="Read-only audit role assumed by rolecall",
    )


def seed(endpoint_url: str, now: datetime | None = None) -> SimulatedOrganization:
    """Create the organization in the (empty) moto server at endpoint_url."""
    now = now or datetime.now(UTC)
    moto_internal.mock_random.seed(SEED)
    base = _Clients(
        _session(
            aws_access_key_id="testing", aws_secret_access_key="testing",
            aws_session_token="testing",
        ),
        endpoint_url,
    )
    organization_id, account_ids = _create_organization(base)
    sim = SimulatedOrganization(endpoint_url, now, organization_id, account_ids)
    for account in ACCOUNTS:
        account_id = account_ids[account.name]
        clients = (
            base if account_id == MANAGEMENT_ACCOUNT_ID else _member_clients(base, account_id)
        )
        for user in USERS:
            if user.account == account.name:
                _create_user(clients, user, now)
        _create_roles(clients, MANAGEMENT_ACCOUNT_ID)
        _set_root_credentials(account_id, account)
    return sim


def demo_register(sim: SimulatedOrganization) -> str:
    """The demo's exceptions register, as YAML, naming the simulated users by ARN."""
    today = sim.seeded_at.date()

    def iso(d: date) -> str:
        return d.isoformat()

    entries = [
        {
            "id": "EXC-001", "principal": sim.user_arn("management", "break-glass-admin"),
            "controls": ["RC-1.1", "RC-2.1"], "kind": "break-glass",
            "dependency": "Emergency access when IAM Identity Center is unavailable",
            "reason": "Break-glass console user, credentials in the safe, MFA enforced",
            "owner": "cloud-platform@example.com", "approved_by": "CISO",
            "approved_on": iso(today - timedelta(days=60)),
            "expires": iso(today + timedelta(days=120)),
        },
        {
            "id": "EXC-002", "principal": sim.user_arn("partner-integrations", "svc-vendor-sftp"),
            "controls": ["RC-1.1", "RC-3.1"], "kind": "external-dependency",
            "dependency": "Acme SFTP gateway only accepts static AWS access keys",
            "reason": "Vendor has no support for role assumption; migration planned",
            "owner": "integrations@example.com", "approved_by": "Head of Security",
            "approved_on": iso(today - timedelta(days=30)),
            "expires": iso(today + timedelta(days=150)),
        },
        {
            "id": "EXC-003",
            "principal": sim.user_arn("partner-integrations", "svc-old-integration"),
            "controls": ["RC-1.1", "RC-3.1"], "kind": "external-dependency",
            "dependency": "Legacy reporting tool of a former partner",
            "reason": "Partner contract ended; exception was not renewed",
            "owner": "integrations@example.com", "approved_by": "Head of Security",
            "approved_on": iso(today - timedelta(days=200)),
            "expires": iso(today - timedelta(days=10)),
        },
        {
            "id": "EXC-004",
            "principal": sim.user_arn("partner-integrations", "svc-report-export"),
            "controls": ["RC-1.1", "RC-3.1"], "kind": "external-dependency",
            "dependency": "Finance export job run by an external bookkeeper",
            "reason": "Bookkeeper's tool needs static keys",
            "owner": "", "approved_by": "Head of Security",
            "approved_on": iso(today - timedelta(days=20)),
            "expires": iso(today + timedelta(days=90)),
        },
        {
            "id": "EXC-005", "principal": sim.user_arn("dev", "svc-deleted-last-month"),
            "controls": ["RC-1.1"], "kind": "external-dependency",
            "dependency": "Old CI server",
            "reason": "CI server was decommissioned; the user is gone but the entry remains",
            "owner": "dev-team@example.com", "approved_by": "Head of Security",
            "approved_on": iso(today - timedelta(days=90)),
            "expires": iso(today + timedelta(days=90)),
        },
    ]
    header = (
        "# Exceptions register of the built-in simulated organization (generated by rolecall).\n"
        "# See data/exceptions.example.yaml for what each field means.\n"
    )
    return header + yaml.safe_dump({"exceptions": entries}, sort_keys=False)


@contextmanager
def serve(port: int = 0) -> Iterator[SimulatedOrganization]:
    """Start a moto server on 127.0.0.1, seed it, and stop it when the block ends."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        host, bound_port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{bound_port}"
        moto_internal.moto_api_backend.reset()
        yield seed(endpoint_url)
    finally:
        server.stop()

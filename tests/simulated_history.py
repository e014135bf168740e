"""Audits of the simulated organization with changes in between: a history to query.

`audit_three_times`: between the runs a user is deleted, then a user and a key are created, so
one-run answers differ from run to run and the history has something to show.
`audit_three_months`: three consecutive periods, users removed and one brought back: the
migration plan's burn-down.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.audit import AuditConfig, run_audit
from reports.signing_config import SigningConfig
from simulated import organization as simulated
from tests.simulated_iam import member_iam


@dataclass
class History:
    runs_root: Path
    run_dirs: list[Path]  # oldest first
    sim: simulated.SimulatedOrganization

    def count(self, run_dir: Path, sql: str) -> list[tuple]:
        with duckdb.connect(str(run_dir / "snapshot.duckdb"), read_only=True) as con:
            return con.execute(sql).fetchall()


Change = Callable[[simulated.SimulatedOrganization], None]


def audit_three_times(tmp: Path) -> History:
    """Three audits of a fresh simulated organization, changed between the runs: alice deleted,
    then carol created with a key (every run stands for the default period)."""

    def remove_alice(sim: simulated.SimulatedOrganization) -> None:
        prod = member_iam(sim, "prod")
        prod.delete_login_profile(UserName="alice")
        prod.delete_user(UserName="alice")

    def create_carol(sim: simulated.SimulatedOrganization) -> None:
        dev = member_iam(sim, "dev")
        dev.create_user(UserName="carol")
        dev.create_access_key(UserName="carol")

    return audit_runs(tmp, [remove_alice, create_carol])


def three_months() -> list[str]:
    """The three months before the current one, oldest first (a run may not stand for a month
    that has not begun)."""
    today = date.today()
    months = []
    for back in (3, 2, 1):
        year, month = divmod(today.year * 12 + today.month - 1 - back, 12)
        months.append(f"{year:04d}-{month + 1:02d}")
    return months


def audit_three_months(tmp: Path) -> History:
    """Three monthly audits (periods: the three months before this one): between the first and
    the second, alice (prod, console) and svc-legacy-etl (dev, access key) are removed; before
    the third, alice is back with a console password: a user that reappears."""

    def remove_two(sim: simulated.SimulatedOrganization) -> None:
        remove_user(member_iam(sim, "prod"), "alice")
        remove_user(member_iam(sim, "dev"), "svc-legacy-etl")

    def bring_alice_back(sim: simulated.SimulatedOrganization) -> None:
        prod = member_iam(sim, "prod")
        prod.create_user(UserName="alice")
        prod.create_login_profile(UserName="alice", Password="Simulated-Pa55word!")

    return audit_runs(tmp, [remove_two, bring_alice_back], periods=three_months())


def remove_user(iam: Any, name: str) -> None:
    """Delete a user the way IAM requires: its credentials, policies and groups first."""
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_login_profile(UserName=name)
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
        iam.delete_user_policy(UserName=name, PolicyName=policy)
    for policy in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=name, PolicyArn=policy["PolicyArn"])
    for group in iam.list_groups_for_user(UserName=name)["Groups"]:
        iam.remove_user_from_group(GroupName=group["GroupName"], UserName=name)
    for device in iam.list_mfa_devices(UserName=name)["MFADevices"]:
        iam.deactivate_mfa_device(UserName=name, SerialNumber=device["SerialNumber"])
    iam.delete_user(UserName=name)


def audit_runs(tmp: Path, changes: Sequence[Change],
               periods: Sequence[str | None] | None = None) -> History:
    """One audit of a fresh simulated organization, then one more after each change (standing
    for periods[i] when given). The server stops and the environment is restored before
    returning: other tests keep their own."""
    periods = list(periods) if periods is not None else [None] * (len(changes) + 1)
    assert len(periods) == len(changes) + 1
    with simulated.serve() as sim, pytest.MonkeyPatch.context() as env:
        for key, value in {**simulated.FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": sim.endpoint_url}.items():
            env.setenv(key, value)
        register_path = tmp / "exceptions.yaml"
        register_path.write_text(simulated.demo_register(sim))
        config = AuditConfig(out_dir=tmp / "runs", exceptions_path=register_path,
                             simulated=True, endpoint_url=sim.endpoint_url,
                             signing=SigningConfig(keys_dir=tmp / "keys"))
        run_dirs = [run_audit(config.model_copy(update={"period": periods[0]})).run_dir]
        for change, period in zip(changes, periods[1:], strict=True):
            change(sim)
            run_dirs.append(run_audit(config.model_copy(update={"period": period})).run_dir)
    return History(tmp / "runs", run_dirs, sim)


def fingerprint(root: Path) -> dict[str, str]:
    """Every file under root with its SHA-256: proof that nothing changed."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}

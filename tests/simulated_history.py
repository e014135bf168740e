"""Three audits of the simulated organization with changes in between: a history to query.

Between the runs a user is deleted, then a user and a key are created, so one-run answers
differ from run to run and the history has something to show.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

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


def audit_three_times(tmp: Path) -> History:
    """Three audits of a fresh simulated organization, changed between the runs. The server
    stops and the environment is restored before returning: other tests keep their own."""
    with simulated.serve() as sim, pytest.MonkeyPatch.context() as env:
        for key, value in {**simulated.FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": sim.endpoint_url}.items():
            env.setenv(key, value)
        register_path = tmp / "exceptions.yaml"
        register_path.write_text(simulated.demo_register(sim))
        config = AuditConfig(out_dir=tmp / "runs", exceptions_path=register_path,
                             simulated=True, endpoint_url=sim.endpoint_url,
                             signing=SigningConfig(keys_dir=tmp / "keys"))

        first = run_audit(config)
        prod = member_iam(sim, "prod")
        prod.delete_login_profile(UserName="alice")
        prod.delete_user(UserName="alice")
        second = run_audit(config)
        dev = member_iam(sim, "dev")
        dev.create_user(UserName="carol")
        dev.create_access_key(UserName="carol")
        third = run_audit(config)
    return History(tmp / "runs", [first.run_dir, second.run_dir, third.run_dir], sim)


def fingerprint(root: Path) -> dict[str, str]:
    """Every file under root with its SHA-256: proof that nothing changed."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}

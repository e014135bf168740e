"""Two audits of the simulated organization with a change in between: what the second reports."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from flows.audit import AuditConfig, AuditResult, run_audit
from reports.history import changes
from reports.signing_config import SigningConfig
from simulated import organization as simulated
from tests.simulated_iam import member_iam


@pytest.fixture
def simulated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[simulated.SimulatedOrganization]:
    with simulated.serve() as sim:
        for key, value in {**simulated.FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": sim.endpoint_url}.items():
            monkeypatch.setenv(key, value)
        yield sim


def test_second_run_lists_the_removed_user_as_resolved_and_the_new_key_as_new(
    simulated_env: simulated.SimulatedOrganization, tmp_path: Path, prefect_server: None
) -> None:
    sim = simulated_env
    register_path = tmp_path / "exceptions.yaml"
    register_path.write_text(simulated.demo_register(sim))
    config = AuditConfig(out_dir=tmp_path / "runs", exceptions_path=register_path,
                         simulated=True, endpoint_url=sim.endpoint_url,
                         signing=SigningConfig(keys_dir=tmp_path / "keys"))
    # a run killed two days ago and one (perhaps still running) started a minute ago
    killed, running = tmp_path / "runs" / "20261101T000000Z.partial", tmp_path / "runs" / "x.partial"
    for folder in (killed, running):
        (folder / "evidence").mkdir(parents=True)
        (folder / "evidence" / "run.json").write_text("{}")
    two_days_ago = time.time() - 2 * 86400
    for path in (killed / "evidence" / "run.json", killed / "evidence", killed):
        os.utime(path, (two_days_ago, two_days_ago))

    first: AuditResult = run_audit(config)
    assert not killed.exists() and running.exists()  # the next run removes only the stale one
    iam = member_iam(sim, "prod")
    iam.delete_login_profile(UserName="alice")
    iam.delete_user(UserName="alice")
    iam.create_access_key(UserName="bob")
    second: AuditResult = run_audit(config)

    alice, bob = sim.user_arn("prod", "alice"), sim.user_arn("prod", "bob")
    with duckdb.connect(str(second.run_dir / "snapshot.duckdb"), read_only=True) as con:
        found = changes(con, first.run_dir)
    assert found.baseline_run_id == first.run_id

    def ids(control: str, kind: str) -> set[str]:
        return {c.resource_id for c in getattr(found.for_control(control), f"{kind}_rows")}

    for control in ("RC-1.1", "RC-2.1", "RC-2.2"):
        assert ids(control, "resolved") == {alice}, control
        assert ids(control, "new") == set(), control
    assert ids("RC-3.1", "new") == {bob}
    assert ids("RC-1.3", "new") == {f"{bob}/access_key_1"}  # active, never used
    assert ids("RC-1.2", "new") == set()  # a new key is not old
    assert found.for_control("RC-1.1").persisting == 8
    html = (second.run_dir / "report.html").read_text()
    assert first.run_id in html and alice in html and f"{bob}/access_key_1" in html

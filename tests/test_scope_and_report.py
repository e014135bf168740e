"""The scope-and-method chapter of a real demo run (who collected, the period, the limitations)
and `rolecall report RUN`: a framework-scoped report made again from the snapshot, signed as a
new artifact beside the run, which stays untouched."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC
from pathlib import Path

import pytest

from flows.audit import period_of
from reports.verify import all_passed, verify_run
from tests.demo_run import DemoRun, run_cli

RESPONSES = """responses:
  - control: RC-1.1
    owner: iam-team@example.org
    action: Move the CI users to roles
    due: 2027-03-31
    ticket: SEC-4242
"""


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_run_records_who_collected_in_every_account(demo: DemoRun) -> None:
    members = {a for (a,) in demo.query("SELECT account_id FROM accounts WHERE NOT is_management")}
    rows = demo.query("SELECT account_id, session, arn, identity_account FROM caller_identities")
    base = [r for r in rows if r[1] == "base"]
    assumed = {r[0]: r for r in rows if r[1] == "assumed-role"}
    assert len(base) == 1
    assert set(assumed) == members
    for account, (_, _, arn, identity_account) in assumed.items():
        assert arn == f"arn:aws:sts::{account}:assumed-role/rolecall-audit/rolecall-audit"
        assert identity_account == account


def test_the_run_stands_for_the_month_before_it(demo: DemoRun) -> None:
    ((period, started, region),) = demo.query("SELECT period, started_at, region FROM run")
    assert period == period_of(started.astimezone(UTC))
    assert period < started.astimezone(UTC).strftime("%Y-%m") and region


def test_the_report_states_scope_method_settings_and_limitations(demo: DemoRun) -> None:
    html = (demo.run_dir / "report.html").read_text(encoding="utf-8")
    scope = html[html.index('<section id="scope"'):]
    scope = scope[:scope.index("</section>")]
    ((period, management),) = demo.query("SELECT period, management_account_id FROM run")
    for expected in (f"{period} (ends ", management, "assumed-role/rolecall-audit",
                     "Population testing, no sampling", "unused_credential_days",
                     "Great Expectations + concrete requests",
                     "simulated organization: this report is a demonstration",
                     "The management account is not governed by SCPs"):
        assert expected in scope, expected
    assert "sts::&lt;account&gt;:assumed-role" in scope  # one line for the role in every account
    assert f"<th>Period</th><td>{period} " in html  # on the cover too


def test_report_renders_a_framework_scoped_signed_artifact_and_leaves_the_run_alone(
        demo: DemoRun, tmp_path: Path) -> None:
    run = shutil.copytree(demo.run_dir, tmp_path / demo.run_dir.name)
    before = tree_digest(run)
    responses = tmp_path / "responses.yaml"
    responses.write_text(RESPONSES)
    code, output = run_cli("report", str(run), "--framework", "cis-aws-3.0",
                           "--responses", str(responses))
    assert code == 0, output
    assert tree_digest(run) == before
    (made,) = (tmp_path / f"{run.name}.reports").iterdir()
    assert made.name.endswith("-cis-aws-3.0-responses")
    assert all_passed(verify_run(made)), [c.line() for c in verify_run(made)]
    manifest = json.loads((made / "manifest.json").read_text())
    derived = manifest["configuration"]["derived_from"]
    assert derived == {"run_id": run.name, "manifest_sha256": hashlib.sha256(
        (run / "manifest.json").read_bytes()).hexdigest()}
    html = (made / "report.html").read_text(encoding="utf-8")
    frameworks = html[html.index('<section id="frameworks"'):]
    frameworks = frameworks[:frameworks.index("</section>")]
    assert "CIS" in frameworks and "NIST" not in frameworks and "ISO/IEC" not in frameworks
    assert "iam-team@example.org" in html and "SEC-4242" in html
    # the demo run's own responses are not carried over: the file given is the one rendered
    assert "partner-integrations@example.com" not in html
    # the findings explorer's evidence links lead back into the run folder
    start = html.index('id="explorer-meta">') + len('id="explorer-meta">')
    meta = json.loads(html[start:html.index("</script>", start)])
    assert meta["evidence_base"] == f"../../{run.name}/"
    assert (made / meta["evidence_base"] / "evidence" / "controls" / "RC-1.1.csv").is_file()


def test_report_refuses_a_run_that_does_not_verify(demo: DemoRun, tmp_path: Path) -> None:
    run = shutil.copytree(demo.run_dir, tmp_path / demo.run_dir.name)
    accounts = run / "evidence" / "accounts.csv"
    data = bytearray(accounts.read_bytes())
    data[-2] ^= 0x01
    accounts.write_bytes(bytes(data))
    code, output = run_cli("report", str(run), "--framework", "cis-aws-3.0")
    assert code == 2 and "does not verify" in output and "Traceback" not in output
    assert not (tmp_path / f"{run.name}.reports").exists() or not any(
        (tmp_path / f"{run.name}.reports").iterdir())


@pytest.mark.parametrize("args, message", [
    (["--framework", "cis-aws-9"], "unknown; known: cis-aws-3.0"),
    (["--responses", "{bad}"], "unknown"),
])
def test_report_refuses_bad_input_in_one_line(demo: DemoRun, tmp_path: Path, args: list[str],
                                              message: str) -> None:
    bad = tmp_path / "responses.yaml"
    bad.write_text(RESPONSES.replace("owner:", "ownr:"))
    code, output = run_cli("report", str(demo.run_dir), *[a.replace("{bad}", str(bad)) for a in args])
    assert code == 2 and message in output and "Traceback" not in output
    assert not (demo.run_dir.parent / f"{demo.run_dir.name}.reports").exists()

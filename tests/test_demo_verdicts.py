"""The exact verdict of every control for every member of the simulated organization.

Each case of simulated/organization.py declares, next to its `why`, the verdict per control it
was built to have; `intended_verdicts()` gathers them. The demo run must hold exactly those
control results: no member missing, none extra, the same status, and the same severity where
one is declared ("fail:high").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from simulated import organization as simulated
from simulated.organization import EVIDENCE_BUCKET, VerdictKey
from tests.demo_run import DemoRun, run_cli

INTENDED = simulated.intended_verdicts()
CONTROLS = sorted({control for control, _, _ in INTENDED})


def _member(control: str, resource: str, exception_id: str | None, finding_type: str | None,
            finding_resource: str | None) -> str:
    """The name `intended_verdicts` gives the member of a control_results row."""
    if control == "RC-1.5":
        return exception_id or ""
    if finding_type and finding_resource:
        return f"{finding_type}:{finding_resource.rsplit('/', 1)[1]}"
    if resource.endswith(":root"):
        return "root"
    for kind in (":user/", ":role/"):
        if kind in resource:
            return resource.split(kind, 1)[1]
    return "account" if resource.isdigit() else "organization"


@pytest.fixture(scope="module")
def results(demo: DemoRun) -> dict[VerdictKey, tuple[str, str]]:
    """Every control result of the demo run: (control, account name, member) -> (status, severity)."""
    rows = demo.query(
        """
        SELECT c.control_id, replace(coalesce(a.name, c.account_id), 'master', 'management'),
               c.resource_id, c.exception_id, f.finding_type, f.resource, c.status, c.severity
        FROM control_results c LEFT JOIN accounts a USING (account_id)
        LEFT JOIN access_analyzer_findings f ON f.finding_id = c.resource_id
        """
    )
    found: dict[VerdictKey, tuple[str, str]] = {}
    for control, account, resource, exception_id, finding_type, finding_resource, *result in rows:
        key = (control, account, _member(control, resource, exception_id, finding_type,
                                         finding_resource))
        assert key not in found, f"two results for {key}"
        found[key] = (result[0], result[1])
    return found


def _as_declared(result: tuple[str, str], declared: str | None) -> str:
    """A result written as its declaration is: with the severity only where one is declared."""
    status, severity = result
    return f"{status}:{severity}" if declared and ":" in declared else status


@pytest.mark.parametrize("control", CONTROLS)
def test_every_member_has_exactly_the_declared_verdict(
    results: dict[VerdictKey, tuple[str, str]], control: str
) -> None:
    declared = {key: verdict for key, verdict in INTENDED.items() if key[0] == control}
    actual = {key: _as_declared(result, declared.get(key))
              for key, result in results.items() if key[0] == control}
    assert actual == declared


def test_every_result_is_of_a_control_with_declared_verdicts(
    results: dict[VerdictKey, tuple[str, str]],
) -> None:
    assert sorted({control for control, _, _ in results}) == CONTROLS


def test_exceptions_are_recorded_on_the_rows_they_except(demo: DemoRun) -> None:
    rows = demo.query(
        "SELECT control_id, resource_id, exception_id FROM control_results "
        "WHERE status = 'excepted' ORDER BY 1, 2"
    )
    assert {(c, r.split('/')[-1], e) for c, r, e in rows} == {
        ("RC-1.1", "break-glass-admin", "EXC-001"),
        ("RC-2.1", "break-glass-admin", "EXC-001"),
        ("RC-1.1", "svc-vendor-sftp", "EXC-002"),
        ("RC-3.1", "svc-vendor-sftp", "EXC-002"),
    }


def test_demo_exits_1_because_controls_fail_and_prints_the_run_folder(demo: DemoRun) -> None:
    assert demo.exit_code == 1, demo.output
    assert str(demo.run_dir) in demo.output.replace("\n", "")
    assert "RC-1.1" in demo.output


def test_the_demo_run_is_stored_under_object_lock_and_keeps_the_audits_exit_code(demo: DemoRun) -> None:
    stored = re.search(r"Stored (\d+) objects at (s3://\S+)/, each read back as signed and locked "
                       r"\(COMPLIANCE\) until (\d{4}-\d{2}-\d{2})", demo.output)
    assert stored, demo.output
    manifest = json.loads((demo.run_dir / "manifest.json").read_text())
    assert int(stored.group(1)) == len(manifest["files"]) + 2  # every file, the manifest, its signature
    assert stored.group(2) == f"s3://{EVIDENCE_BUCKET}/runs/{demo.run_dir.name}"
    assert demo.exit_code == 1  # the audit's own code: the upload succeeded


def test_run_folder_holds_the_evidence_pack(demo: DemoRun) -> None:
    for name in ("snapshot.duckdb", "report.html", "report.pdf", "evidence"):
        assert (demo.run_dir / name).exists(), name
    assert (demo.run_dir / "report.pdf").read_bytes().startswith(b"%PDF")
    evidence = demo.run_dir / "evidence"
    assert sorted(p.name for p in (evidence / "gx").glob("*.json")) == [
        *(f"G{n}.json" for n in range(1, 7)), "completeness.json"
    ]
    reports = sorted(p.stem for p in (evidence / "credential_reports").glob("*.csv"))
    assert reports == sorted(demo.account_ids().values())
    assert (evidence / "controls" / "RC-1.1.csv").read_text().count("\n") == 12  # header + 11
    assert (evidence / "accounts.csv").read_text().count("\n") == 6  # header + 5
    assert not list(demo.run_dir.parent.glob("*.partial"))


def test_every_account_was_collected_within_the_call_budget(demo: DemoRun) -> None:
    rows = demo.query("SELECT name, ou_path, collected, error, api_calls FROM accounts")
    assert len(rows) == 5
    for name, _ou_path, collected, error, api_calls in rows:
        assert collected and error is None, (name, error)
        assert 0 < api_calls <= 30
    paths = {name: path for name, path, *_ in rows}
    assert paths["prod"] == "Root/Workloads/Prod" and paths["security"] == "Root/Security"


def test_snapshot_keeps_raw_payloads_and_typed_tables(demo: DemoRun) -> None:
    operations = {op for (op,) in demo.query("SELECT DISTINCT operation FROM raw_payloads")}
    assert {"AssumeRole", "GetCredentialReport", "GetAccountAuthorizationDetails",
            "GetAccountSummary", "ListOpenIDConnectProviders", "ListSAMLProviders"} <= operations
    (secret_kept,) = demo.query(
        "SELECT count(*) FROM raw_payloads WHERE payload::VARCHAR LIKE '%SecretAccessKey%'"
    )[0]
    assert secret_kept == 0
    (run,) = demo.query("SELECT run_id, simulated, organization_id, finished_at FROM run")
    assert run[0] == demo.run_dir.name and run[1] is True and run[2].startswith("o-") and run[3]
    (policy_type,) = demo.query(
        "SELECT json_type(trust_policy) FROM iam_roles WHERE role_name = 'rolecall-audit' LIMIT 1"
    )[0]
    assert policy_type == "OBJECT"


def test_rolecall_simulate_serves_the_same_organization_over_http(
    demo: DemoRun, tmp_path: Path
) -> None:
    """`rolecall simulate` + the real CLI pointed at it by AWS_ENDPOINT_URL = the demo's verdicts."""
    from prefect.settings import PREFECT_API_URL

    port = _free_port()
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    rolecall = str(Path(sys.executable).with_name("rolecall"))
    server = subprocess.Popen([rolecall, "simulate", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        printed = ""
        for line in server.stdout:  # type: ignore[union-attr]
            printed += line
            if "Ctrl-C stops the server" in line:
                break
        register = re.search(r"--exceptions (\S+)", printed)
        assert register, printed
        assert f"AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in printed
        audit = subprocess.run(
            [rolecall, "audit", "--exceptions", register.group(1), "--out", str(tmp_path)],
            env={**env, **simulated.FAKE_CREDENTIALS,
                 "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"},
            capture_output=True, text=True, timeout=300,
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert audit.returncode == 1, audit.stdout + audit.stderr
    over_http = DemoRun(audit.returncode, audit.stdout, next(tmp_path.iterdir()))
    verdicts = "SELECT control_id, resource_id, status, severity FROM control_results ORDER BY ALL"
    assert over_http.query(verdicts) == demo.query(verdicts)
    assert over_http.query("SELECT simulated, endpoint_url FROM run") == [
        (False, f"http://127.0.0.1:{port}")
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_run_that_breaks_half_way_stays_partial_and_touches_no_earlier_run(
    demo: DemoRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reports import render

    def digest(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    before = digest(demo.run_dir)

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render, "render_report", disk_full)  # the flow imports it when it renders
    code, output = run_cli("audit", "--demo", "--out", str(demo.run_dir.parent))
    assert code == 2 and "No space left on device" in output
    partial = [p for p in demo.run_dir.parent.iterdir() if p.name.endswith(".partial")]
    assert len(partial) == 1 and (partial[0] / "snapshot.duckdb").exists()
    assert digest(demo.run_dir) == before
    shutil.rmtree(partial[0])  # keep the module's other tests independent of this one


def test_the_demo_run_verifies_with_rolecall_openssl_and_pyhanko(demo: DemoRun) -> None:
    code, output = run_cli("verify", str(demo.run_dir))
    assert code == 0, output
    assert output.count("PASS") == 7 and "PASS  run id" in output and "FAIL" not in output
    cert = Path(os.environ["ROLECALL_KEYS_DIR"]) / "demo-signing-cert.pem"
    code, output = run_cli("verify", str(demo.run_dir), "--ca", str(cert))
    assert code == 0, output
    openssl = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
         "-in", str(demo.run_dir / "manifest.json.p7s"),
         "-content", str(demo.run_dir / "manifest.json"), "-CAfile", str(cert), "-out", os.devnull],
        capture_output=True, text=True,
    )
    assert openssl.returncode == 0 and "Verification successful" in openssl.stderr
    pyhanko = subprocess.run(
        [str(Path(sys.executable).with_name("pyhanko")), "sign", "validate", "--trust", str(cert),
         "--trust-replace", "--pretty-print", str(demo.run_dir / "report.pdf")],
        capture_output=True, text=True,
    )
    assert pyhanko.returncode == 0, pyhanko.stdout + pyhanko.stderr
    assert "The signature covers the entire file." in pyhanko.stdout
    assert "The signature is judged VALID." in pyhanko.stdout


TAMPERED = ["report.pdf", "report.html", "snapshot.duckdb", "evidence/controls/RC-1.1.csv",
            "manifest.json", "manifest.json.p7s"]


@pytest.mark.parametrize("target", TAMPERED)
def test_verify_names_the_file_whose_byte_was_flipped(
    demo: DemoRun, tmp_path: Path, target: str
) -> None:
    copy = Path(shutil.copytree(demo.run_dir, tmp_path / demo.run_dir.name))
    path = copy / target
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code, output = run_cli("verify", str(copy))
    assert code == 1
    failing = [line for line in output.splitlines() if line.startswith("FAIL")]
    assert failing and any(target in line for line in failing), output


def test_verify_names_an_added_and_a_removed_file(demo: DemoRun, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(demo.run_dir, tmp_path / demo.run_dir.name))
    (copy / "evidence" / "extra.txt").write_text("not part of the run")
    (copy / "evidence" / "controls" / "RC-2.2.csv").unlink()
    code, output = run_cli("verify", str(copy))
    assert code == 1
    assert "evidence/extra.txt" in output and "evidence/controls/RC-2.2.csv" in output

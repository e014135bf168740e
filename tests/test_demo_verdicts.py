"""The exact verdict of every control for every principal of the simulated organization.

The organization is built in simulated/organization.py; each case below is known by construction
(see the `why` of each simulated user).
"""

from __future__ import annotations

import hashlib
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
from tests.demo_run import DemoRun, run_cli, run_demo

MANAGEMENT = "management"

# (control, account name, resource) -> (status, severity); resource is a user name, a user
# name with /access_key_N, "root", or an exception id.
EXPECTED: dict[tuple[str, str, str], str] = {
    # RC-1.1 every IAM user
    ("RC-1.1", MANAGEMENT, "break-glass-admin"): "excepted",
    ("RC-1.1", "prod", "alice"): "fail",
    ("RC-1.1", "prod", "bob"): "fail",
    ("RC-1.1", "prod", "svc-ci-deployer"): "fail",
    ("RC-1.1", "prod", "svc-backup"): "fail",
    ("RC-1.1", "dev", "svc-legacy-etl"): "fail",
    ("RC-1.1", "dev", "svc-unused"): "fail",
    ("RC-1.1", "dev", "svc-retired"): "fail",
    ("RC-1.1", "partner-integrations", "svc-vendor-sftp"): "excepted",
    ("RC-1.1", "partner-integrations", "svc-old-integration"): "fail",
    ("RC-1.1", "partner-integrations", "svc-report-export"): "fail",
    # RC-1.2 every access key: active and older than 90 days fails
    ("RC-1.2", "prod", "svc-ci-deployer/access_key_1"): "pass",
    ("RC-1.2", "prod", "svc-backup/access_key_1"): "fail",
    ("RC-1.2", "prod", "svc-backup/access_key_2"): "pass",
    ("RC-1.2", "dev", "svc-legacy-etl/access_key_1"): "fail",
    ("RC-1.2", "dev", "svc-unused/access_key_1"): "pass",
    ("RC-1.2", "dev", "svc-retired/access_key_1"): "pass",
    ("RC-1.2", "partner-integrations", "svc-vendor-sftp/access_key_1"): "pass",
    ("RC-1.2", "partner-integrations", "svc-old-integration/access_key_1"): "pass",
    ("RC-1.2", "partner-integrations", "svc-report-export/access_key_1"): "pass",
    # RC-1.3 every active key: never used or unused for 90 days fails
    ("RC-1.3", "prod", "svc-ci-deployer/access_key_1"): "pass",
    ("RC-1.3", "prod", "svc-backup/access_key_1"): "pass",
    ("RC-1.3", "prod", "svc-backup/access_key_2"): "fail",
    ("RC-1.3", "dev", "svc-legacy-etl/access_key_1"): "fail",
    ("RC-1.3", "dev", "svc-unused/access_key_1"): "fail",
    ("RC-1.3", "partner-integrations", "svc-vendor-sftp/access_key_1"): "pass",
    ("RC-1.3", "partner-integrations", "svc-old-integration/access_key_1"): "pass",
    ("RC-1.3", "partner-integrations", "svc-report-export/access_key_1"): "pass",
    # RC-1.4 the root user of every account
    ("RC-1.4", MANAGEMENT, "root"): "pass",
    ("RC-1.4", "prod", "root"): "pass",
    ("RC-1.4", "dev", "root"): "fail",
    ("RC-1.4", "partner-integrations", "root"): "fail",
    ("RC-1.4", "security", "root"): "pass",
    # RC-1.5 every entry of the exceptions register
    ("RC-1.5", MANAGEMENT, "EXC-001"): "pass",
    ("RC-1.5", "partner-integrations", "EXC-002"): "pass",
    ("RC-1.5", "partner-integrations", "EXC-003"): "fail",
    ("RC-1.5", "partner-integrations", "EXC-004"): "fail",
    ("RC-1.5", "dev", "EXC-005"): "fail",
    # RC-2.1 every IAM user: a console password fails unless a break-glass exception names it
    ("RC-2.1", MANAGEMENT, "break-glass-admin"): "excepted",
    ("RC-2.1", "prod", "alice"): "fail",
    ("RC-2.1", "prod", "bob"): "fail",
    ("RC-2.1", "prod", "svc-ci-deployer"): "pass",
    ("RC-2.1", "prod", "svc-backup"): "pass",
    ("RC-2.1", "dev", "svc-legacy-etl"): "pass",
    ("RC-2.1", "dev", "svc-unused"): "pass",
    ("RC-2.1", "dev", "svc-retired"): "pass",
    ("RC-2.1", "partner-integrations", "svc-vendor-sftp"): "pass",
    ("RC-2.1", "partner-integrations", "svc-old-integration"): "pass",
    ("RC-2.1", "partner-integrations", "svc-report-export"): "pass",
    # RC-2.2 every console user: no MFA fails
    ("RC-2.2", MANAGEMENT, "break-glass-admin"): "pass",
    ("RC-2.2", "prod", "alice"): "fail",
    ("RC-2.2", "prod", "bob"): "pass",
    # RC-3.1 every IAM user: an active key without an external-dependency exception fails
    ("RC-3.1", MANAGEMENT, "break-glass-admin"): "pass",
    ("RC-3.1", "prod", "alice"): "pass",
    ("RC-3.1", "prod", "bob"): "pass",
    ("RC-3.1", "prod", "svc-ci-deployer"): "fail",
    ("RC-3.1", "prod", "svc-backup"): "fail",
    ("RC-3.1", "dev", "svc-legacy-etl"): "fail",
    ("RC-3.1", "dev", "svc-unused"): "fail",
    ("RC-3.1", "dev", "svc-retired"): "pass",
    ("RC-3.1", "partner-integrations", "svc-vendor-sftp"): "excepted",
    ("RC-3.1", "partner-integrations", "svc-old-integration"): "fail",
    ("RC-3.1", "partner-integrations", "svc-report-export"): "fail",
}

# severity of a fail where it differs from the control's own
EXPECTED_SEVERITY = {("RC-1.5", "dev", "EXC-005"): "low"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> DemoRun:
    return run_demo(tmp_path_factory.mktemp("runs"))


def _key(demo: DemoRun, control: str, account_id: str, resource: str, exception_id: str | None,
         names: dict[str, str]) -> tuple[str, str, str]:
    name = names[account_id]
    if control == "RC-1.5":
        return control, name, exception_id or ""
    if resource.endswith(":root"):
        return control, name, "root"
    return control, name, resource.split(":user/", 1)[1]


def test_every_principal_has_exactly_the_expected_verdict(demo: DemoRun) -> None:
    names = {v: k for k, v in demo.account_ids().items()}
    names = {k: ("management" if v == "master" else v) for k, v in names.items()}
    controls = sorted({control for control, _, _ in EXPECTED})
    rows = demo.query(
        "SELECT control_id, account_id, resource_id, exception_id, status, severity "
        "FROM control_results WHERE list_contains(?, control_id)", [controls]
    )
    actual = {}
    severities = {}
    for control, account_id, resource, exception_id, status, severity in rows:
        key = _key(demo, control, account_id, resource, exception_id, names)
        assert key not in actual, f"two results for {key}"
        actual[key] = status
        severities[key] = severity
    assert actual == EXPECTED
    for key, severity in EXPECTED_SEVERITY.items():
        assert severities[key] == severity


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
    from flows import audit

    def digest(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    before = digest(demo.run_dir)

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit, "render_report", disk_full)
    code, output = run_cli("audit", "--demo", "--out", str(demo.run_dir.parent))
    assert code == 2 and "No space left on device" in output
    partial = [p for p in demo.run_dir.parent.iterdir() if p.name.endswith(".partial")]
    assert len(partial) == 1 and (partial[0] / "snapshot.duckdb").exists()
    assert digest(demo.run_dir) == before
    shutil.rmtree(partial[0])  # keep the module's other tests independent of this one


# G2.3-G6, constructed in simulated/organization.py (ROLES, SCPS, ANALYZERS, ARCHIVED_FINDINGS; each
# with its `why`). Roles by name; findings as "<finding type>:<resource name>"; accounts and the
# organization by "account"/"organization".
PARTNER = "partner-integrations"
ROLE_CASES: dict[str, tuple[str, dict[str, str]]] = {
    # role: (account, {control: status}) for RC-4.1, RC-4.4, RC-5.x and RC-6.4
    "vendor-acme-externalid": (PARTNER, {"RC-4.1": "pass", "RC-6.4": "pass"}),
    "vendor-globex-no-externalid": (PARTNER, {"RC-4.1": "fail", "RC-6.4": "fail"}),
    "public-any-principal": (PARTNER, {"RC-4.1": "fail", "RC-6.4": "fail"}),
    "org-any-principal-pinned": (PARTNER, {"RC-6.4": "pass"}),
    "vendor-bare-account-id": (PARTNER, {"RC-4.1": "fail", "RC-6.4": "fail"}),
    "vendor-externalid-wildcard": (PARTNER, {"RC-4.1": "fail", "RC-6.4": "fail"}),
    "vendor-externalid-ifexists": (PARTNER, {"RC-4.1": "fail", "RC-6.4": "fail"}),
    "vendor-externalid-stringlike-exact": (PARTNER, {"RC-4.1": "pass", "RC-6.4": "pass"}),
    "cross-account-from-prod": (PARTNER, {"RC-6.4": "fail"}),
    "ec2-no-source-account": (PARTNER, {"RC-4.4": "fail", "RC-6.4": "fail"}),
    "events-with-source-arn": (PARTNER, {"RC-4.4": "pass", "RC-6.4": "pass"}),
    "sns-lowercase-source-account": (PARTNER, {"RC-4.4": "pass", "RC-6.4": "pass"}),
    "contractor-no-externalid": ("dev", {"RC-4.1": "fail", "RC-6.4": "pass"}),
    "legacy-batch": ("dev", {"RC-4.4": "pass", "RC-6.4": "fail"}),
    "old-reporting": ("prod", {"RC-4.4": "pass", "RC-6.4": "fail"}),
    "gha-deploy-main": ("prod", {"RC-5.1": "pass", "RC-5.2": "pass", "RC-6.4": "pass"}),
    "gha-org-wide": ("prod", {"RC-5.1": "fail", "RC-5.2": "pass", "RC-6.4": "fail"}),
    "gha-any-repo": ("prod", {"RC-5.1": "fail", "RC-5.2": "pass", "RC-6.4": "fail"}),
    "gha-no-sub": ("prod", {"RC-5.1": "fail", "RC-5.2": "pass", "RC-6.4": "fail"}),
    "gha-two-statements": ("prod", {"RC-5.1": "fail", "RC-5.2": "fail", "RC-6.4": "fail"}),
    "gha-no-aud": ("prod", {"RC-5.1": "pass", "RC-5.2": "fail", "RC-6.4": "fail"}),
    "gha-forallvalues-sub": ("prod", {"RC-5.1": "pass", "RC-5.2": "fail", "RC-6.4": "fail"}),
    "gha-mixed-case-keys": ("prod", {"RC-5.1": "pass", "RC-5.2": "pass", "RC-6.4": "pass"}),
    "gitlab-no-sub": ("prod", {"RC-5.3": "fail", "RC-6.4": "fail"}),
    "tfc-workspace": ("prod", {"RC-5.3": "pass", "RC-6.4": "pass"}),
    "gha-enterprise-infra": ("security", {"RC-5.1": "pass", "RC-5.2": "pass", "RC-6.4": "pass"}),
    "gha-enterprise-immutable": ("security", {"RC-5.1": "pass", "RC-5.2": "pass",
                                              "RC-6.4": "fail"}),
    "BreakGlassAdmin": (MANAGEMENT, {"RC-6.4": "fail"}),
}
# Roles every account has, without a boundary: rolecall-audit everywhere, the
# OrganizationAccountAccessRole in members.
ROLES_EVERYWHERE = {"rolecall-audit": "fail", "OrganizationAccountAccessRole": "fail"}

EXPECTED_FINDINGS = {
    ("RC-3.2", "dev", "UnusedIAMRole:legacy-batch"): "fail",
    ("RC-3.2", "dev", "UnusedIAMUserAccessKey:svc-legacy-etl"): "fail",
    ("RC-3.2", "dev", "UnusedIAMUserAccessKey:svc-unused"): "fail",
    ("RC-3.2", MANAGEMENT, "UnusedIAMUserPassword:break-glass-admin"): "pass",  # archived
    ("RC-3.2", "prod", "UnusedIAMRole:old-reporting"): "pass",  # archived
    ("RC-3.2", "prod", "UnusedIAMUserPassword:alice"): "fail",
    ("RC-3.2", "prod", "UnusedIAMUserPassword:bob"): "fail",
    ("RC-3.2", "prod", "UnusedIAMUserAccessKey:svc-backup"): "fail",
    # RC-4.2: an ACTIVE external-access finding fails only when the role fails RC-4.1
    ("RC-4.2", PARTNER, "ExternalAccess:OrganizationAccountAccessRole"): "pass",
    ("RC-4.2", PARTNER, "ExternalAccess:cross-account-from-prod"): "pass",
    ("RC-4.2", PARTNER, "ExternalAccess:org-any-principal-pinned"): "pass",
    ("RC-4.2", PARTNER, "ExternalAccess:public-any-principal"): "fail",
    ("RC-4.2", PARTNER, "ExternalAccess:rolecall-audit"): "pass",
    ("RC-4.2", PARTNER, "ExternalAccess:vendor-acme-externalid"): "pass",
    ("RC-4.2", PARTNER, "ExternalAccess:vendor-bare-account-id"): "pass",  # archived
    ("RC-4.2", PARTNER, "ExternalAccess:vendor-externalid-ifexists"): "fail",
    ("RC-4.2", PARTNER, "ExternalAccess:vendor-externalid-stringlike-exact"): "pass",
    ("RC-4.2", PARTNER, "ExternalAccess:vendor-externalid-wildcard"): "fail",
    ("RC-4.2", PARTNER, "ExternalAccess:vendor-globex-no-externalid"): "fail",
    ("RC-4.2", "prod", "ExternalAccess:OrganizationAccountAccessRole"): "pass",
    ("RC-4.2", "prod", "ExternalAccess:rolecall-audit"): "pass",
}

EXPECTED_ACCOUNTS = {
    # RC-4.3: dev has no analyzer, security only an unused-access one
    "RC-4.3": {MANAGEMENT: "pass", "prod": "pass", "dev": "fail", PARTNER: "pass",
               "security": "fail"},
    # RC-6.2/6.3: members only (the management account is not governed by SCPs)
    "RC-6.2": {"prod": "pass", "dev": "pass", PARTNER: "pass", "security": "pass"},
    "RC-6.3": {"prod": "pass", "dev": "pass", PARTNER: "fail", "security": "fail"},
}

EXPECTED_SEVERITIES = {
    ("RC-4.1", "public-any-principal"): "critical",
    ("RC-4.1", "vendor-globex-no-externalid"): "high",
    ("RC-5.1", "gha-org-wide"): "high",
    ("RC-5.1", "gha-any-repo"): "critical",
    ("RC-5.1", "gha-no-sub"): "critical",
    ("RC-5.1", "gha-two-statements"): "critical",
    ("RC-4.4", "ec2-no-source-account"): "low",
}


def _demo_rows(demo: DemoRun, controls: list[str]) -> list[tuple]:
    return demo.query(
        """
        SELECT c.control_id, replace(a.name, 'master', 'management'), c.resource_id,
               f.finding_type, f.resource, c.status, c.severity
        FROM control_results c JOIN accounts a USING (account_id)
        LEFT JOIN access_analyzer_findings f ON f.finding_id = c.resource_id
        WHERE list_contains(?, c.control_id)
        """,
        [controls],
    )


def test_every_role_has_exactly_the_expected_g4_g5_g6_verdicts(demo: DemoRun) -> None:
    expected = {}
    for role, (account, verdicts) in ROLE_CASES.items():
        for control, status in verdicts.items():
            expected[(control, account, role)] = status
    for account in demo.account_ids():
        name = "management" if account == "master" else account
        for role, status in ROLES_EVERYWHERE.items():
            if role == "OrganizationAccountAccessRole" and name == MANAGEMENT:
                continue
            expected[("RC-6.4", name, role)] = status
    rows = _demo_rows(demo, ["RC-4.1", "RC-4.4", "RC-5.1", "RC-5.2", "RC-5.3", "RC-6.4"])
    actual = {(c, a, r.split(":role/", 1)[1]): s for c, a, r, _, _, s, _ in rows}
    assert len(actual) == len(rows)
    assert actual == expected
    severities = {(c, r.split(":role/", 1)[1]): sev for c, _, r, _, _, _, sev in rows}
    for key, severity in EXPECTED_SEVERITIES.items():
        assert severities[key] == severity, key


def test_every_access_analyzer_finding_has_the_expected_verdict(demo: DemoRun) -> None:
    rows = _demo_rows(demo, ["RC-3.2", "RC-4.2"])
    actual = {(c, a, f"{ftype}:{resource.rsplit('/', 1)[1]}"): s
              for c, a, _, ftype, resource, s, _ in rows}
    assert len(actual) == len(rows)
    assert actual == EXPECTED_FINDINGS


def test_account_and_organization_controls_have_the_expected_verdicts(demo: DemoRun) -> None:
    rows = _demo_rows(demo, ["RC-2.3", "RC-4.3", "RC-6.1", "RC-6.2", "RC-6.3"])
    actual: dict[str, dict[str, str]] = {}
    for control, account, resource, _, _, status, _ in rows:
        actual.setdefault(control, {})[account if resource.isdigit() else "organization"] = status
    assert actual == {**EXPECTED_ACCOUNTS, "RC-2.3": {"organization": "pass"},
                      "RC-6.1": {"organization": "pass"}}
    (errors,) = demo.query("SELECT count(*) FROM control_results WHERE status = 'error'")[0]
    assert errors == 0


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

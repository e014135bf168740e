"""`rolecall doctor` on the simulated organization: what passes, what fails and says so, what it costs.

Failures come from tests/fault_proxy.py in front of the simulated organization: moto's AssumeRole
succeeds whether the role exists or not (its docstring says so), so deleting the role would not
make it fail; the proxy answers one account's AssumeRole with AccessDenied, as AWS does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from flows import doctor
from flows.doctor import Check, DoctorConfig, check_signing, run_doctor
from reports.signing_config import SigningConfig
from simulated import organization as simulated
from simulated.organization import SimulatedOrganization
from tests.demo_run import run_cli
from tests.fault_proxy import Fault, fault_proxy
from tests.signing_fixtures import make_ca, make_leaf, write_pem

SECRET = "xid-7Hq2-doctor-secret"  # an External ID: must appear in no output


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedOrganization]:
    with simulated.serve() as organization:
        yield organization


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """`at(url)` points boto3 at url for the rest of the test."""
    return lambda url: monkeypatch.setenv("AWS_ENDPOINT_URL", url)


def config(tmp_path: Path, **options: object) -> DoctorConfig:
    return DoctorConfig(signing=SigningConfig(keys_dir=tmp_path / "keys", demo=True), **options)  # type: ignore[arg-type]


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


def fail_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL")]


def member_ids(sim: SimulatedOrganization) -> set[str]:
    return {i for n, i in sim.account_ids.items() if n != "management"}


def test_every_check_passes_on_the_simulated_organization(sim: SimulatedOrganization, at, tmp_path: Path
                                                           ) -> None:
    at(sim.endpoint_url)
    checks = run_doctor(config(tmp_path))
    assert failed(checks) == []
    by_name = {c.name: c for c in checks}
    assert list(by_name) == ["credentials", "organization", "service control policies",
                             "IAM Identity Center in us-east-1", "IAM Access Analyzer", "audit role",
                             "signing identity"]
    assert f"account {simulated.MANAGEMENT_ACCOUNT_ID}" in by_name["credentials"].detail
    assert sim.organization_id in by_name["organization"].detail
    # the simulated organization's SCPs and FullAWSAccess, which AWS attaches to the root
    assert f"{len(sim.scp_ids) + 1} SCPs readable" in by_name["service control policies"].detail
    assert sim.instance_arn in by_name["IAM Identity Center in us-east-1"].detail
    total = len(sim.account_ids)
    assert f"IAM readable in {total} of {total} accounts" in by_name["audit role"].detail
    assert "demo key" in by_name["signing identity"].detail


def test_an_account_whose_role_cannot_be_assumed_is_one_failing_line_and_exit_1(
    sim: SimulatedOrganization, at, tmp_path: Path,
) -> None:
    """Through the CLI: one FAIL line, naming the account, its error and what to do; and the
    doctor collects nothing: per member account one AssumeRole and one GetAccountSummary."""
    prod = sim.account_ids["prod"]
    with fault_proxy(sim.endpoint_url, [Fault("deny", "sts", "AssumeRole", prod)]) as proxy:
        at(proxy.endpoint_url)
        code, output = run_cli("doctor", "--role-name", "rolecall-audit", "--external-id", SECRET)
    assert code == 1, output
    lines = fail_lines(output)
    assert len(lines) == 1, output
    assert f"assume rolecall-audit in {prod} (prod)" in lines[0]
    assert "AccessDenied" in lines[0] and "-> deploy the audit role rolecall-audit" in lines[0]
    assert "--role-name" in lines[0] and "$ROLECALL_EXTERNAL_ID" in lines[0]
    total = len(sim.account_ids)
    assert f"IAM readable in {total - 1} of {total} accounts" in output
    assert SECRET not in output
    calls: dict[str, list[str]] = {}
    for call in proxy.calls:
        if call.operation in ("AssumeRole", "GetAccountSummary"):
            calls.setdefault(call.account, []).append(call.operation)
    assert calls.pop(prod) == ["AssumeRole"]  # denied: nothing read there
    assert calls.pop(simulated.MANAGEMENT_ACCOUNT_ID) == ["GetAccountSummary"]  # the caller's own
    assert set(calls) == member_ids(sim) - {prod}
    assert all(ops == ["AssumeRole", "GetAccountSummary"] for ops in calls.values())
    collecting = {"GenerateCredentialReport", "GetCredentialReport",
                  "GetAccountAuthorizationDetails", "ListFindingsV2", "GetFindingV2"}
    assert not collecting & {c.operation for c in proxy.calls}


def test_a_role_that_cannot_read_iam_fails_that_account_only(sim: SimulatedOrganization, at,
                                                             tmp_path: Path) -> None:
    dev = sim.account_ids["dev"]
    with fault_proxy(sim.endpoint_url, [Fault("deny", "iam", "GetAccountSummary", dev)]) as proxy:
        at(proxy.endpoint_url)
        configured = config(tmp_path, role_name="OrganizationAccountAccessRole")
        checks = run_doctor(configured)
    [failure] = failed(checks)
    assert failure.name == f"read IAM in {dev} (dev) with OrganizationAccountAccessRole"
    assert failure.detail.startswith("AccessDenied") and "SecurityAudit" in failure.fix


def test_an_organization_that_cannot_be_read_fails_and_no_account_is_tried(
    sim: SimulatedOrganization, at, tmp_path: Path,
) -> None:
    deny = [Fault("deny", "organizations", "DescribeOrganization")]
    with fault_proxy(sim.endpoint_url, deny) as proxy:
        at(proxy.endpoint_url)
        checks = run_doctor(config(tmp_path))
    [failure] = failed(checks)
    assert failure.name == "organization" and "AccessDenied" in failure.detail
    assert "management or delegated-administrator" in failure.fix
    assert "audit role" not in {c.name for c in checks}
    assert not {"AssumeRole", "GetAccountSummary"} & {c.operation for c in proxy.calls}


def test_identity_center_that_does_not_answer_names_the_region(sim: SimulatedOrganization, at,
                                                               tmp_path: Path) -> None:
    with fault_proxy(sim.endpoint_url, [Fault("deny", "sso", "ListInstances")]) as proxy:
        at(proxy.endpoint_url)
        checks = run_doctor(config(tmp_path, region="eu-west-1"))
    [failure] = failed(checks)
    assert failure.name == "IAM Identity Center in eu-west-1"
    assert "sso:ListInstances" in failure.fix


def test_a_signing_key_that_does_not_load_fails_that_check(sim: SimulatedOrganization, at,
                                                           tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    cert.write_text("not a certificate\n")
    at(sim.endpoint_url)
    code, output = run_cli("doctor", "--signing-key", str(key), "--signing-cert", str(cert))
    assert code == 1
    [line] = fail_lines(output)
    assert line.startswith("FAIL  signing identity") and str(key) in " ".join(output.split())
    assert "Traceback" not in output


def test_signing_identity_checks_that_key_and_certificate_belong_together(tmp_path: Path) -> None:
    ca_key, ca_cert = make_ca()
    key, cert = make_leaf(ca_key, ca_cert)
    other_key, _ = make_leaf(ca_key, ca_cert)
    key_path, cert_path = write_pem(tmp_path, "org", key, cert)
    other_key_path, _ = write_pem(tmp_path, "other", other_key, cert)
    good = check_signing(SigningConfig(key=key_path, cert=cert_path))
    assert good.ok and "Example Org evidence signing" in good.detail and "demo" not in good.detail
    bad = check_signing(SigningConfig(key=other_key_path, cert=cert_path))
    assert not bad.ok and "does not belong to the certificate" in bad.detail
    assert "--signing-key" in bad.fix


def test_no_credentials_is_a_clear_failing_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # the chain's last step, never asked here
    code, output = run_cli("doctor")
    assert code == 1 and "Traceback" not in output
    [line] = fail_lines(output)
    flat = " ".join(line.split())
    assert flat.startswith("FAIL credentials no AWS credentials found")
    assert "sign in to the management account first, or try --demo" in flat
    assert "signing identity" in output  # what needs no AWS is still checked


def test_an_unknown_profile_is_a_failing_credentials_line(tmp_path: Path) -> None:
    code, output = run_cli("doctor", "--profile", "no-such-profile")
    assert code == 1
    [line] = fail_lines(output)
    assert "credentials" in line and "no-such-profile" in line and "--profile" in line


def test_an_endpoint_that_does_not_answer_says_so(tmp_path: Path) -> None:
    """conftest points boto3 at a closed port: the first call fails, fast, with its reason."""
    checks = run_doctor(config(tmp_path, connect_timeout=1, read_timeout=1))
    [failure] = failed(checks)
    assert failure.name == "credentials" and "EndpointConnectionError" in failure.detail
    assert "endpoint did not answer" in failure.fix


def test_the_external_id_never_appears_even_when_an_error_echoes_it(
    sim: SimulatedOrganization, at, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def echoing(base: object, account_id: str, role_name: str, external_id: str | None,
                limits: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": f"bad ExternalId {external_id}"}},
                          "AssumeRole")

    at(sim.endpoint_url)
    monkeypatch.setattr(doctor, "assume_role_session", echoing)
    configured = config(tmp_path, external_id=SECRET)
    checks = run_doctor(configured)
    assert len(failed(checks)) == len(member_ids(sim))
    text = repr(checks) + repr(configured)
    assert SECRET not in text and "bad ExternalId (External ID)" in text
    assert f"${doctor.EXTERNAL_ID_ENV} matches" in failed(checks)[0].fix  # sent: compare it


def test_doctor_demo_end_to_end_exits_0(tmp_path: Path) -> None:
    environment = dict(os.environ)
    code, output = run_cli("doctor", "--demo", "--keys-dir", str(tmp_path / "keys"))
    assert code == 0, output
    assert "All 7 checks passed." in output and not fail_lines(output)
    assert dict(os.environ) == environment  # the simulated environment is undone

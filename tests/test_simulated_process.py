"""The demo's simulated organization in its child process: it answers, and it is gone once the
block that started it ends (the child exits at once instead of stopping its server gracefully)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

from simulated.process import FAKE_CREDENTIALS, simulated_subprocess
from tests.ports import port_open


def test_the_child_answers_with_the_seeded_organization_then_stops_with_the_block(
        tmp_path: Path) -> None:
    register = tmp_path / "register.yaml"
    with simulated_subprocess(register) as sim:
        address = urlsplit(sim.endpoint_url)
        assert address.hostname == "127.0.0.1"
        organizations = boto3.client(
            "organizations", endpoint_url=sim.endpoint_url, region_name="us-east-1",
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        found = organizations.describe_organization()["Organization"]["Id"]
        assert found == sim.organization_id
        assert "svc-" in register.read_text()  # the register names the seeded users
    assert address.port is not None
    assert not port_open(address.port)


def test_a_child_that_dies_before_it_is_ready_is_a_clear_error(tmp_path: Path) -> None:
    # a register path that cannot be written: the child fails while seeding
    with pytest.raises(RuntimeError, match="did not start"), \
            simulated_subprocess(tmp_path / "missing" / "register.yaml"):
        pass

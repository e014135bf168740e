"""IAM of a simulated member account, reached the way rolecall reaches it (AssumeRole)."""

from __future__ import annotations

from typing import Any

import boto3

from simulated import organization as simulated


def member_iam(sim: simulated.SimulatedOrganization, account: str) -> Any:
    """An IAM client in the named member account ('prod', 'dev', ...), to change it between runs."""
    creds = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{sim.account_ids[account]}:role/OrganizationAccountAccessRole",
        RoleSessionName="test-change",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=simulated.REGION,
    ).client("iam")

"""Trust policies for the roles that replace workload users, written to pass rolecall's own G4/G5
controls: every AWS service principal is pinned to the account with aws:SourceAccount (or the
trust anchor with aws:SourceArn), and a GitHub Actions trust admits one repository's main branch
with the audience sts.amazonaws.com. Placeholders are upper case and start with REPLACE-, so a
plan cannot be applied by accident before someone fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checks.g4_external_id import RC_4_4
from reports.migration.workload_host import Host, Placement

GITHUB = "token.actions.githubusercontent.com"
PLACEHOLDER_REPOSITORY = "REPLACE-ORG/REPLACE-REPO"
TRUST_ANCHOR_PLACEHOLDER = "REPLACE-TRUST-ANCHOR-ID"
VERSION = "2012-10-17"

# Services that may not send aws:SourceAccount when they assume a role (reported against peers'
# confused-deputy checks, e.g. prowler-cloud/prowler#2810 and #7021): the condition stays, so the
# role passes G4's service-principal control (RC_4_4), and the plan says what to check and
# what to do if credentials fail.
SOURCE_ACCOUNT_UNCONFIRMED = frozenset({"ec2.amazonaws.com"})

# host -> (service principal, actions, how the service uses the role)
SERVICES: dict[Host, tuple[str, tuple[str, ...], str]] = {
    Host.ec2: ("ec2.amazonaws.com", ("sts:AssumeRole",),
               "an EC2 instance profile holding the role"),
    Host.ecs: ("ecs-tasks.amazonaws.com", ("sts:AssumeRole",), "the ECS task role"),
    Host.lambda_: ("lambda.amazonaws.com", ("sts:AssumeRole",),
                   "the Lambda function's execution role"),
    Host.eks: ("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession"),
               "an EKS Pod Identity association for the pod's service account"),
}


@dataclass(frozen=True)
class Trust:
    document: dict[str, Any]
    how: str  # how the workload gets the role, for the reason
    placeholders: tuple[str, ...] = ()  # what someone must fill in before creating the role
    checks: tuple[str, ...] = ()  # what someone must confirm once the role is in use


def trust_for(placement: Placement, account_id: str, user_name: str,
              region: str | None) -> Trust:
    """The trust policy of the role replacing the user, for where its workload runs."""
    if placement.host in SERVICES:
        principal, actions, how = SERVICES[placement.host]
        checks = (f"that {principal} gets credentials with the aws:SourceAccount condition; if "
                  f"it does not, remove the condition ({RC_4_4.id} then reports the role, "
                  "informational)",) if principal in SOURCE_ACCOUNT_UNCONFIRMED else ()
        return Trust(_document(_allow({"Service": principal}, actions, {
            "StringEquals": {"aws:SourceAccount": account_id}})), how, checks=checks)
    if placement.host is Host.github:
        return _github(placement, account_id)
    return _roles_anywhere(account_id, user_name, region)


def _github(placement: Placement, account_id: str) -> Trust:
    repository = placement.repository or PLACEHOLDER_REPOSITORY
    condition = {"StringEquals": {
        f"{GITHUB}:aud": "sts.amazonaws.com",
        f"{GITHUB}:sub": f"repo:{repository}:ref:refs/heads/main",
    }}
    provider = f"arn:aws:iam::{account_id}:oidc-provider/{GITHUB}"
    placeholders = () if placement.repository else (
        f"{PLACEHOLDER_REPOSITORY}: the repository is not known (no repository tag names it); "
        "fill in the one repository whose main branch deploys",)
    return Trust(_document(_allow({"Federated": provider}, ("sts:AssumeRoleWithWebIdentity",),
                                  condition)),
                 "GitHub Actions OIDC (aws-actions/configure-aws-credentials)", placeholders)


def _roles_anywhere(account_id: str, user_name: str, region: str | None) -> Trust:
    anchor = (f"arn:aws:rolesanywhere:{region or 'REPLACE-REGION'}:{account_id}:"
              f"trust-anchor/{TRUST_ANCHOR_PLACEHOLDER}")
    condition = {
        "StringEquals": {"aws:PrincipalTag/x509Subject/CN": user_name},
        "ArnEquals": {"aws:SourceArn": anchor},
    }
    placeholders = (f"{TRUST_ANCHOR_PLACEHOLDER}: the trust anchor of the workload's CA",) + (
        ("REPLACE-REGION: the trust anchor's region",) if region is None else ())
    return Trust(_document(_allow({"Service": "rolesanywhere.amazonaws.com"},
                                  ("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"),
                                  condition)),
                 f"IAM Roles Anywhere, with a certificate whose subject CN is {user_name}",
                 placeholders)


def _allow(principal: dict[str, str], actions: tuple[str, ...],
           condition: dict[str, Any]) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal,
            "Action": actions[0] if len(actions) == 1 else list(actions), "Condition": condition}


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": list(statements)}

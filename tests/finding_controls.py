"""Findings of checks/iam read the way the guidance modules read them: the control a finding
fails and the catalogue's severity for it, and the two SCP questions of G6."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checks.g4_external_id import KIND_CONTROLS as G4_KINDS
from checks.g5_deployment_oidc import KIND_CONTROLS as G5_KINDS
from checks.g6_scp_boundaries import NEEDS, RC_6_2, RC_6_3
from checks.iam.grants import Finding
from checks.iam.scp import ScpLevel, ScpVerdict, scp_verdict

KIND_CONTROLS = {**G4_KINDS, **G5_KINDS}


def control_id(finding: Finding) -> str:
    return KIND_CONTROLS[finding.kind].id


def severity(finding: Finding) -> str:
    return KIND_CONTROLS[finding.kind].severity_of(finding.kind)


def denies_user_creation(scps: Mapping[str, Any], levels: Sequence[ScpLevel] = ()) -> ScpVerdict:
    """RC-6.2's question on the SCPs covering one account."""
    return scp_verdict(NEEDS[RC_6_2.id], scps, levels)


def enforces_permissions_boundary(scps: Mapping[str, Any], levels: Sequence[ScpLevel] = ()) -> ScpVerdict:
    """RC-6.3's question on the SCPs covering one account."""
    return scp_verdict(NEEDS[RC_6_3.id], scps, levels)

"""The control catalogue: the registry of the guidance modules' controls, as data.

Each guidance item has one module (checks/g1_*.py .. g6_*.py) holding, for each of its
controls, the catalogue entry, the rule, the facts it needs and its Great Expectations
restatement; the module lists them in `CHECKS`. This module gathers them; validate, the report,
the exports and the CLI iterate what it gathers, and nothing else names a control.
Semantics are those of ../shared/CONTROLS.md.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from checks import (
    g1_no_iam_users,
    g2_identity_center,
    g3_service_roles,
    g4_external_id,
    g5_deployment_oidc,
    g6_scp_boundaries,
)
from checks.control import SEVERITIES, STATUSES, Check, Control, GuidanceItem

__all__ = ["SEVERITIES", "STATUSES", "Control", "GuidanceItem"]

MODULES = (g1_no_iam_users, g2_identity_center, g3_service_roles, g4_external_id,
           g5_deployment_oidc, g6_scp_boundaries)

GUIDANCE: tuple[GuidanceItem, ...] = tuple(m.ITEM for m in MODULES)
CHECKS: tuple[Check, ...] = tuple(c for m in MODULES for c in m.CHECKS)
CONTROLS: tuple[Control, ...] = tuple(c.control for c in CHECKS)
# Facts computed in Python before the rules run (each loads one temp table its rules read).
FACT_LOADERS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = tuple(
    load for m in MODULES for load in m.FACT_LOADERS)

CONTROLS_BY_ID: dict[str, Control] = {c.id: c for c in CONTROLS}
CHECKS_BY_ID: dict[str, Check] = {c.control.id: c for c in CHECKS}
GUIDANCE_BY_ID: dict[str, GuidanceItem] = {g.id: g for g in GUIDANCE}

# Controls this version evaluates: the whole catalogue.
IMPLEMENTED: tuple[str, ...] = tuple(c.id for c in CONTROLS)


def controls_of(guidance_item: str) -> list[Control]:
    return [c for c in CONTROLS if c.guidance_item == guidance_item]

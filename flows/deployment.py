"""The monthly deployment: prefect.yaml declares it, `rolecall serve` serves it with flow.serve.

prefect.yaml is the one place its name, schedule and parameters are written down, so a
Prefect work pool (`prefect deploy`) and `rolecall serve` run the same thing; the command line
only overrides. The parameters are validated as an AuditConfig before anything is served: a
typo is one clear error now, not a failed run on the first of next month.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from prefect.client.schemas.schedules import CronSchedule
from pydantic import ValidationError

from flows.audit import AuditConfig

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"
DEFAULT_DEPLOYMENT = "monthly"


class DeploymentError(ValueError):
    """prefect.yaml, or an override, does not describe a deployment that can be served."""


@dataclass(frozen=True)
class Deployment:
    name: str
    cron: str
    timezone: str
    config: AuditConfig
    description: str = ""
    tags: tuple[str, ...] = ()


def load_deployment(path: Path = PREFECT_YAML, name: str = DEFAULT_DEPLOYMENT, *,
                    cron: str | None = None, timezone: str | None = None,
                    overrides: dict[str, Any] | None = None) -> Deployment:
    """Deployment `name` of prefect.yaml, with the command line's overrides applied."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise DeploymentError(f"{path}: {error}") from error
    found = [d for d in document.get("deployments") or [] if isinstance(d, dict) and d.get("name") == name]
    if len(found) != 1:
        raise DeploymentError(f"{path}: no single deployment named {name!r}")
    entry = found[0]
    schedules = entry.get("schedules") or [{}]
    cron = cron or schedules[0].get("cron")
    timezone = timezone or schedules[0].get("timezone") or "UTC"
    if not cron or len(str(cron).split()) != 5:
        raise DeploymentError(f"{path}: deployment {name!r}: a five-field cron schedule is needed, "
                              f"got {cron!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise DeploymentError(f"unknown time zone {timezone!r}") from error
    try:  # Prefect's own reading of the schedule, so a served deployment cannot fail on it later
        CronSchedule(cron=str(cron), timezone=timezone)
    except ValidationError as error:
        raise DeploymentError(f"{path}: deployment {name!r}: the schedule {cron!r} is not a cron "
                              f"schedule Prefect accepts") from error
    parameters = {**((entry.get("parameters") or {}).get("config") or {}), **(overrides or {})}
    try:
        config = AuditConfig.model_validate(parameters)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise DeploymentError(f"{path}: deployment {name!r}: parameters.config: {problems}") from error
    return Deployment(name=name, cron=str(cron), timezone=timezone, config=config,
                      description=str(entry.get("description") or ""),
                      tags=tuple(str(t) for t in entry.get("tags") or ()))


def serve(deployment: Deployment) -> None:
    """Serve the audit flow on its schedule until interrupted (Prefect's runner starts each run
    in a process of its own, with this process's environment)."""
    from prefect.schedules import Cron

    from flows.audit import audit

    audit.serve(
        name=deployment.name,
        schedules=[Cron(deployment.cron, timezone=deployment.timezone)],
        parameters={"config": deployment.config.model_dump(mode="json")},
        description=deployment.description or None,
        tags=list(deployment.tags),
        print_starting_message=True,
    )

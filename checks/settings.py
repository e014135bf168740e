"""The thresholds and the control selection a run is judged with, and where each value came from.

Rules read the thresholds as DuckDB variables (`getvariable('key_age_days')`), set by
checks/results.py `prepare` before any rule runs, so one SQL text serves every configuration and
the snapshot's `run.config` records the values used. The defaults are rolecall's reading of
../shared/CONTROLS.md; a framework profile (checks/frameworks.py) may set its own (CIS: 45 days
unused), and the configuration file (flows/configuration.py) overrides both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field

# The settings rules read as DuckDB variables, in the order the report prints them.
VARIABLES = ("key_age_days", "unused_credential_days", "exception_max_days",
             "require_exception_ticket")

Origin = Literal["default", "profile", "file", "option"]


class Settings(BaseModel):
    """What a run is judged with; every field has a documented default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_age_days: int = Field(default=90, ge=1, le=3650,
                              description="an active access key older than this many days fails")
    unused_credential_days: int = Field(
        default=90, ge=1, le=3650,
        description="an active access key not used for more than this many days fails")
    exception_max_days: int = Field(
        default=366, ge=1, le=3650,
        description="an exception may run at most this many days from its approval")
    require_exception_ticket: bool = Field(
        default=False, description="an exception without an approval ticket fails")
    controls: tuple[str, ...] = Field(
        default=(), description="controls or guidance items to run (empty: all)")
    exclude_controls: tuple[str, ...] = Field(
        default=(), description="controls or guidance items left out")
    framework: str | None = Field(
        default=None, description="framework profile whose settings apply (checks/frameworks.py)")
    # setting -> where its value came from (default, profile, file, option); the method section
    origins: dict[str, Origin] = Field(default_factory=dict)

    def selects(self, control_id: str, guidance_item: str) -> bool:
        """Whether the run evaluates the control."""
        wanted = not self.controls or control_id in self.controls or guidance_item in self.controls
        dropped = control_id in self.exclude_controls or guidance_item in self.exclude_controls
        return wanted and not dropped

    def apply(self, con: duckdb.DuckDBPyConnection) -> None:
        """Set the thresholds as DuckDB variables for the rules of this connection."""
        for name in VARIABLES:
            value = getattr(self, name)  # validated int or bool: safe to inline
            literal = str(value).lower() if isinstance(value, bool) else str(int(value))
            con.execute(f"SET VARIABLE {name} = {literal}")

    def origin(self, name: str) -> Origin:
        return self.origins.get(name, "default")

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def unknown_selection(settings: Settings, control_ids: Iterable[str],
                      guidance_ids: Iterable[str]) -> list[str]:
    """Names in `controls`/`exclude_controls` that are neither a control nor a guidance item."""
    known = set(control_ids) | set(guidance_ids)
    return [v for v in (*settings.controls, *settings.exclude_controls) if v not in known]


def resolve(*, file_values: Mapping[str, Any] | None = None,
            option_values: Mapping[str, Any] | None = None,
            profiles: Mapping[str, Mapping[str, Any]] | None = None) -> Settings:
    """Defaults, then the framework profile, then the file, then command-line options.

    `profiles` maps framework ids to their settings (checks/frameworks.py); a profile named in the
    file or on the command line that it does not know is an error.
    """
    layers: list[tuple[Origin, Mapping[str, Any]]] = [
        ("file", file_values or {}), ("option", option_values or {})]
    framework = next((v["framework"] for _, v in reversed(layers) if v.get("framework")), None)
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    if framework is not None:
        known = profiles or {}
        if framework not in known:
            raise ValueError(f"unknown framework profile {framework!r}; known: "
                             f"{', '.join(sorted(known)) or 'none'}")
        for name, value in known[framework].items():
            values[name], origins[name] = value, "profile"
    for origin, layer in layers:
        for name, value in layer.items():
            if value is None:
                continue
            values[name], origins[name] = value, origin
    return Settings(**values, origins=origins)


def describe(settings: Settings) -> Iterable[tuple[str, str, str, str]]:
    """(name, value, origin, meaning) per setting, for the report's method section."""
    for name, field in Settings.model_fields.items():
        if name == "origins":
            continue
        value = getattr(settings, name)
        shown = ", ".join(value) if isinstance(value, tuple) else value
        if shown in ((), "", None):
            shown = "all" if name == "controls" else "none"
        origin = settings.origin(name)
        if origin == "profile":
            origin = f"profile {settings.framework}"
        yield name, str(shown).lower() if isinstance(value, bool) else str(shown), origin, (
            field.description or "")

"""The configuration file (rolecall.toml): thresholds, the controls to run, the framework profile,
the signing identity and the time-stamping service, in one versioned file.

Its path comes from `--config` or `$ROLECALL_CONFIG`; there is no implicit lookup in the working
directory, so what a run was judged with never depends on where the command was started. Loading
is strict (an unknown key is an error naming it) and paths in the file are relative to the file.
Precedence, lowest first: rolecall's defaults, the framework profile, the file, command-line
options (checks/settings.py `resolve`). The run records the result in `run.config`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from checks.catalogue import CONTROLS_BY_ID, GUIDANCE_BY_ID
from checks.frameworks import PROFILES
from checks.settings import Settings, resolve, unknown_selection

CONFIG_ENV = "ROLECALL_CONFIG"
MAX_BYTES = 256 * 1024


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Section):
    key_age_days: int | None = None
    unused_credential_days: int | None = None
    exception_max_days: int | None = None


class Exceptions(_Section):
    file: Path | None = None  # the exceptions register, like --exceptions
    require_ticket: bool | None = None


class Controls(_Section):
    run: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)


class Signing(_Section):
    key: Path | None = None
    cert: Path | None = None
    p12: Path | None = None
    p12_password_env: str | None = None  # the *name* of the variable holding the password
    tsa_url: str | None = None


class ConfigFile(_Section):
    framework: str | None = None
    thresholds: Thresholds = Thresholds()
    exceptions: Exceptions = Exceptions()
    controls: Controls = Controls()
    signing: Signing = Signing()


def config_path(option: Path | None) -> Path | None:
    """The file named by --config, else by $ROLECALL_CONFIG, else none."""
    if option is not None:
        return option
    value = os.environ.get(CONFIG_ENV)
    return Path(value) if value else None


def load(path: Path) -> ConfigFile:
    """Read and check the file; ConfigError names the file and the first bad key."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration file ({error.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES // 1024} KiB; is it the right file?")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    try:
        config = ConfigFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{path}: {where}: {message}") from None
    return _relative_to(config, path.parent)


def _relative_to(config: ConfigFile, folder: Path) -> ConfigFile:
    """Paths in the file are relative to the file, not to the working directory."""
    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else folder / p

    signing = config.signing.model_copy(update={
        "key": fix(config.signing.key), "cert": fix(config.signing.cert),
        "p12": fix(config.signing.p12)})
    exceptions = config.exceptions.model_copy(update={"file": fix(config.exceptions.file)})
    return config.model_copy(update={"signing": signing, "exceptions": exceptions})


def settings_from(config: ConfigFile | None, path: Path | None = None,
                  **options: Any) -> Settings:
    """The run's settings: defaults < framework profile < the file < command-line `options`
    (None means "not given")."""
    file_values: dict[str, Any] = {}
    if config is not None:
        file_values = {
            "framework": config.framework,
            **config.thresholds.model_dump(),
            "require_exception_ticket": config.exceptions.require_ticket,
            "controls": tuple(config.controls.run) or None,
            "exclude_controls": tuple(config.controls.exclude) or None,
        }
    try:
        settings = resolve(file_values=file_values, option_values=options, profiles=PROFILES)
        unknown = unknown_selection(settings, CONTROLS_BY_ID, GUIDANCE_BY_ID)
        if unknown:
            raise ValueError(f"unknown control or guidance item {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(CONTROLS_BY_ID)} and {', '.join(GUIDANCE_BY_ID)}")
        return settings
    except (ValidationError, ValueError) as error:
        where = f"{path}: " if path else ""
        if isinstance(error, ValidationError):
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{where}{field}: {first['msg']}") from None
        raise ConfigError(f"{where}{error}") from None

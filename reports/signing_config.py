"""Which signing material a run uses, by path: what the flow takes instead of the key itself.

A flow's parameters are stored in Prefect's database, so the flow is given where the key is, never
the key: paths and the *name* of the environment variable that holds a password. The key is loaded
inside the run (and once before it, by the CLI, so a bad key stops the run before any AWS call).

No silent demo key: without a key or a PKCS#12 file, a run signs with the organization key
`rolecall keys init` created in the per-user keys folder; only a demo run (`demo=True`) may fall
back to the self-signed demo key, and anything else is a SigningKeyError that says what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pyhanko.sign.timestamps import HTTPTimeStamper

from reports.keys import (
    DEFAULT_P12_PASSWORD_ENV,
    SigningIdentity,
    SigningKeyError,
    default_keys_dir,
    demo_signer,
    load_pkcs12,
    load_signer,
    organization_signer,
)
from reports.timestamps import timestamper

NO_IDENTITY = (
    "no signing key: give --signing-key and --signing-cert (or --signing-p12), or create the "
    "organization key once with `rolecall keys init` (it goes to {keys_dir})"
)


class SigningConfig(BaseModel):
    """Key and certificate files, a PKCS#12 file, the organization key in keys_dir, or (only for
    a demo) the demo key in keys_dir; `tsa_url` asks an RFC 3161 service for trusted time."""

    model_config = ConfigDict(frozen=True)

    key: Path | None = None
    cert: Path | None = None
    p12: Path | None = None
    p12_password_env: str = DEFAULT_P12_PASSWORD_ENV
    # $ROLECALL_KEYS_DIR, else $XDG_DATA_HOME/rolecall/keys, else ~/.local/share/rolecall/keys
    keys_dir: Path = Field(default_factory=default_keys_dir)
    demo: bool = False
    tsa_url: str | None = None

    @field_validator("keys_dir", mode="before")
    @classmethod
    def _default_keys_dir(cls, value: Any) -> Any:
        """None (an option not given) means the per-user folder, never the working directory."""
        return default_keys_dir() if value is None else value

    def identity(self) -> SigningIdentity:
        """Load the signer; SigningKeyError names the file and what is wrong with it."""
        if self.p12 is not None:
            if self.key or self.cert:
                raise SigningKeyError("give either --signing-p12 or --signing-key/--signing-cert, not both")
            return load_pkcs12(self.p12, password_env=self.p12_password_env)
        if self.key or self.cert:
            if not (self.key and self.cert):
                raise SigningKeyError("--signing-key and --signing-cert go together")
            return load_signer(self.key, self.cert)
        if self.demo:  # a demo signs with the demo key and says so on the cover
            return demo_signer(self.keys_dir)
        organization = organization_signer(self.keys_dir)
        if organization is None:
            raise SigningKeyError(NO_IDENTITY.format(keys_dir=self.keys_dir))
        return organization

    def timestamper(self) -> HTTPTimeStamper | None:
        """pyHanko's HTTP time-stamping client for tsa_url (TimestampError for a URL that is not
        http(s)), or None without one."""
        return timestamper(self.tsa_url) if self.tsa_url else None

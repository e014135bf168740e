"""Which signing material a run uses, by path: what the flow takes instead of the key itself.

A flow's parameters are stored in Prefect's database, so the flow is given where the key is, never
the key: paths and the *name* of the environment variable that holds a password. The key is loaded
inside the run (and once before it, by the CLI, so a bad key stops the run before any AWS call).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from reports.keys import (
    DEFAULT_KEYS_DIR,
    DEFAULT_P12_PASSWORD_ENV,
    KEYS_DIR_ENV,
    SigningIdentity,
    SigningKeyError,
    demo_signer,
    load_pkcs12,
    load_signer,
)


class SigningConfig(BaseModel):
    """Key and certificate files, a PKCS#12 file, or (neither given) the demo key in keys_dir."""

    model_config = ConfigDict(frozen=True)

    key: Path | None = None
    cert: Path | None = None
    p12: Path | None = None
    p12_password_env: str = DEFAULT_P12_PASSWORD_ENV
    # the CLI's --keys-dir default too: $ROLECALL_KEYS_DIR, else data/keys
    keys_dir: Path = Field(default_factory=lambda: Path(os.environ.get(KEYS_DIR_ENV) or DEFAULT_KEYS_DIR))

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
        return demo_signer(self.keys_dir)

"""`rolecall attest` (sign-off countersignatures) and `rolecall keys init` (the organization key).

Registered on the main app by cli.main (`register`); this module never imports cli.main (no
import circle), so it has its own console and one-line error, in the main module's style.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

DEFAULT_P12_PASSWORD_ENV = "ROLECALL_P12_PASSWORD"  # reports.keys's, repeated: no pyHanko import at start

EXIT_ERROR = 2
# Not a terminal (CI, a pipe): Rich would assume 80 columns and fold the lines.
console = Console(width=None if Console().is_terminal else 120)
err_console = Console(stderr=True)

keys_app = typer.Typer(
    help="The organization's own signing key, kept in the per-user keys folder.",
    no_args_is_help=True,
)


class Role(StrEnum):
    preparer = "preparer"
    reviewer = "reviewer"
    management = "management"


KeysDirOption = Annotated[Path | None, typer.Option(
    "--keys-dir", envvar="ROLECALL_KEYS_DIR", show_default=False,
    help="The per-user keys folder. Default: $XDG_DATA_HOME/rolecall/keys, else "
    "~/.local/share/rolecall/keys.")]


def _fail(message: str) -> None:
    """One line for the user, exit 2 (as cli.main's errors)."""
    err_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(EXIT_ERROR)


def register(app: typer.Typer) -> None:
    app.command(help=(
        "Countersign a finished run as preparer, reviewer or management.\n\n"
        "Adds a further PAdES signature to report.pdf (an incremental update: the run's own "
        "signature stays valid) and attestations/NN-ROLE.json with its detached CMS signature "
        "(.p7s): the run id, the role, the statement, the SHA-256 of manifest.json and of the "
        "PDF before this signature. Signs with --signing-key/--signing-cert, --signing-p12, or "
        "the organization key of `rolecall keys init`. If anything fails (a bad key, the "
        "time-stamping service) the run is left exactly as it was.\n\n"
        "Exit 0 when countersigned, 2 when not (the error says why)."))(attest)
    app.add_typer(keys_app, name="keys")


def attest(
    run: Annotated[Path, typer.Argument(help="The finished run folder to countersign.")],
    role: Annotated[Role, typer.Option("--role", help="Who signs off.")],
    statement: Annotated[str, typer.Option(
        "--statement", help="What the attester states, e.g. 'Reviewed: findings agreed with "
        "the control owners.' Signed word for word.")],
    signing_key: Annotated[Path | None, typer.Option(
        "--signing-key", help="PEM private key of the attester (with --signing-cert).")] = None,
    signing_cert: Annotated[Path | None, typer.Option(
        "--signing-cert", help="PEM certificate of --signing-key.")] = None,
    signing_p12: Annotated[Path | None, typer.Option(
        "--signing-p12", help="PKCS#12 file with the attester's key and certificate.")] = None,
    p12_password_env: Annotated[str, typer.Option(
        "--p12-password-env", help="Environment variable that holds the PKCS#12 password.")]
        = DEFAULT_P12_PASSWORD_ENV,
    keys_dir: KeysDirOption = None,
    tsa_url: Annotated[str | None, typer.Option(
        "--tsa-url", envvar="ROLECALL_TSA_URL",
        help="RFC 3161 time-stamping service for trusted time on both signatures.")] = None,
) -> None:
    """Countersign a run (see the command's help)."""
    from reports.attest import AttestError, attest_run
    from reports.keys import SigningKeyError
    from reports.signing_config import SigningConfig

    try:
        signing = SigningConfig(key=signing_key, cert=signing_cert, p12=signing_p12,
                                p12_password_env=p12_password_env, keys_dir=keys_dir, tsa_url=tsa_url)
        identity = signing.identity()
        done = attest_run(run, identity, role=role.value, statement=statement,
                          timestamper=signing.timestamper())
    except (SigningKeyError, AttestError) as error:  # TimestampError too: one line naming the URL
        _fail(str(error))
    trusted = f"; trusted time from {tsa_url}" if tsa_url else "; no trusted time (no --tsa-url)"
    console.print(
        f"Countersigned {run} as {role.value}: report.pdf (signature {done.field_name}) and "
        f"{done.record.relative_to(run)} (+ .p7s), signed by {identity.subject} (certificate "
        f"SHA-256 {identity.fingerprint}){trusted}.\nCheck it: rolecall verify {run}",
        highlight=False, soft_wrap=True,
    )


@keys_app.command("init", help=(
    "Create the organization's self-signed signing key and certificate in the per-user keys "
    "folder; real runs sign with it when no --signing-key/--signing-p12 is given.\n\n"
    "Prints the certificate's path and SHA-256 fingerprint: give both to the auditor, who "
    "checks runs with `rolecall verify RUN --ca CERT`. An existing key is kept unless --force. "
    "Exit 0 when created, 2 when not."))
def keys_init(
    subject: Annotated[str | None, typer.Option(
        "--subject", help="Distinguished name, e.g. 'CN=Example Org evidence signing,O=Example "
        "Org'. Default: CN=rolecall evidence signing (USER@HOST).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an existing organization key (runs signed with the old one "
        "still verify against the old certificate).")] = False,
    keys_dir: KeysDirOption = None,
) -> None:
    """Create the organization key (see the command's help)."""
    from reports.keys import (
        ORG_CERT_FILE,
        ORG_KEY_FILE,
        SigningKeyError,
        create_organization_key,
        default_keys_dir,
    )

    folder = keys_dir or default_keys_dir()
    try:
        identity = create_organization_key(folder, subject=subject, force=force)
    except SigningKeyError as error:
        _fail(str(error))
    console.print(
        f"Organization signing key created for {identity.subject}\n"
        f"  private key:  {folder / ORG_KEY_FILE}  (mode 0600: keep it private and backed up)\n"
        f"  certificate:  {folder / ORG_CERT_FILE}\n"
        f"  certificate SHA-256: {identity.fingerprint}\n"
        "Give the auditor the certificate and its fingerprint; they check a run with "
        f"`rolecall verify RUN --ca {folder / ORG_CERT_FILE}`.",
        highlight=False, soft_wrap=True,
    )

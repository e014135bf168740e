"""`rolecall publish securityhub`: a run's findings into AWS Security Hub (BatchImportFindings).

Registered on the main app by cli.main; this module never imports cli.main (no import circle),
so it has its own console and one-line error. The findings, batching and what was resolved since
the previous run come from reports.asff; this module only wires them to boto3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

EXIT_SOME_FAILED = 1
EXIT_ERROR = 2
DEFAULT_RUNS = Path("data/runs")
# Not a terminal (CI, a pipe): Rich would assume 80 columns and fold the lines.
console = Console(width=None if Console().is_terminal else 120)
err_console = Console(stderr=True)

publish_app = typer.Typer(help="Send a run's findings where the team triages them.",
                          no_args_is_help=True)


def _fail(message: str) -> None:
    """One line for the user, exit 2 (as cli.main's errors)."""
    err_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(EXIT_ERROR)


@publish_app.command(help=(
    "Import a run's control results into AWS Security Hub as ASFF findings (BatchImportFindings, "
    "100 a call). Finding ids are stable (control, account, resource), so a later run updates the "
    "same findings; failures of the previous run of the same organization whose resource has no "
    "result now are sent as PASSED / RESOLVED. Credentials come from the normal AWS chain "
    "(AWS_ENDPOINT_URL respected).\n\n"
    "Exit 0 when every finding was accepted, 1 when some were refused (listed), 2 when the call "
    "itself was refused or the run cannot be read."))
def securityhub(
    run: Annotated[str, typer.Argument(
        help="Run id, 'latest', or a run folder's path.")] = "latest",
    runs: Annotated[Path, typer.Option(
        "--runs", "--out", help="Folder that holds the runs (audit's --out).")] = DEFAULT_RUNS,
    region: Annotated[str | None, typer.Option(
        "--region", help="Security Hub region; default: the profile's, else the run's.",
        show_default=False)] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="AWS profile to publish with.", show_default=False)] = None,
) -> None:
    """Publish a run to Security Hub (see the command's help)."""
    import boto3
    import duckdb
    from botocore.exceptions import BotoCoreError, ClientError

    from cli.query import QueryError, resolve_run
    from reports import asff

    try:
        run_dir = resolve_run(runs, run)
    except QueryError as error:
        _fail(str(error))
    try:
        with duckdb.connect(str(run_dir / asff.SNAPSHOT), read_only=True) as con:
            run_region = asff.run_row(con)["region"]
        session = boto3.Session(profile_name=profile, region_name=region)
        region_name = region or session.region_name or run_region or "us-east-1"
        caller = session.client("sts", region_name=region_name).get_caller_identity()["Account"]
        destination = asff.Destination(caller, region_name)
        client = session.client("securityhub", region_name=region_name)
        previous = asff.previous_run(run_dir)
        with duckdb.connect(str(run_dir / asff.SNAPSHOT), read_only=True) as con:
            sent, failed = _import(client, asff.findings(con, destination))
            resolved_sent, resolved_failed = (
                _import(client, asff.resolved_findings(con, previous, destination))
                if previous else (0, []))
    except (ClientError, BotoCoreError) as error:
        _fail(f"Security Hub refused the import: {error}")
    except (duckdb.Error, ValueError, OSError) as error:
        _fail(f"cannot read run {run_dir.name}: {error}")
    failed += resolved_failed
    since = f" since run {previous.name}" if previous else ""
    console.print(f"Sent {sent} findings of run {run_dir.name} and {resolved_sent} resolved{since} "
                  f"to Security Hub ({destination.region}, account {destination.account_id}); "
                  f"{len(failed)} refused.", highlight=False, soft_wrap=True)
    for refused in failed[:20]:
        err_console.print(Text(f"  {refused.get('Id')}: {refused.get('ErrorCode')} "
                               f"{refused.get('ErrorMessage')}"), soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _import(client: Any, findings: Any) -> tuple[int, list[dict[str, Any]]]:
    """BatchImportFindings in batches of 100; return how many were sent and the refused ones."""
    from reports.asff import batches

    sent, failed = 0, []
    for batch in batches(findings):
        answer = client.batch_import_findings(Findings=batch)
        sent += len(batch)
        failed += answer.get("FailedFindings", [])
    return sent, failed

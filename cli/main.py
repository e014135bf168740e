"""The `rolecall` command: a thin layer over the audit flow."""

from __future__ import annotations

import os

# Prefect reads its settings at import: keep its own logs quiet and its local server patient.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import importlib  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from enum import StrEnum  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated  # noqa: E402

import duckdb  # noqa: E402
import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from cli.query import Session, execute, statement_title  # noqa: E402
from cli.query_formats import OutputFormat  # noqa: E402
from store.run_folder import enclosing_run_folder  # noqa: E402

app = typer.Typer(
    help="Audit an AWS organization against the guidance 'Do not use IAM Users' and produce "
    "an evidence pack (DuckDB snapshot, Great Expectations results, HTML and PDF report).",
    no_args_is_help=True,
    add_completion=False,
)
# Not a terminal (CI, a pipe): Rich would assume 80 columns and fold the summary table.
console = Console(width=None if Console().is_terminal else 120)
err_console = Console(stderr=True)

DEFAULT_EXCEPTIONS = Path("data/exceptions.yaml")
DEFAULT_RUNS = Path("data/runs")
# 0: every control passes; 1: a control fails or has an error row; 2: no run (bad input, no
# access, nothing collected: nothing signed); 3: a signed run that could not see everything.
EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INCOMPLETE = 0, 1, 2, 3
DEBUG = False  # --debug: show the traceback behind an expected error


@app.callback()
def main(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks and Prefect's own log lines behind an error.")] = False,
) -> None:
    """Audit an AWS organization against the guidance 'Do not use IAM Users'."""
    global DEBUG
    DEBUG = debug


@contextmanager
def simulated_environment() -> Iterator[Path]:
    """The simulated organization on 127.0.0.1 (in a child process) and the AWS environment that
    points boto3 at it; yields the path of its exceptions register."""
    from simulated.process import FAKE_CREDENTIALS, simulated_subprocess

    with ExitStack() as stack:
        register_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rolecall-")))
        sim = stack.enter_context(simulated_subprocess(register_dir / "simulated-exceptions.yaml"))
        saved = {k: os.environ.get(k) for k in (*FAKE_CREDENTIALS, "AWS_ENDPOINT_URL", "AWS_PROFILE")}
        os.environ.update(FAKE_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = sim.endpoint_url
        os.environ.pop("AWS_PROFILE", None)
        stack.callback(_restore_environment, saved)
        yield sim.register


def _restore_environment(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@app.command(help=(
    "Collect, snapshot, validate, report and sign.\n\n"
    "Exit 0: every control passes (excepted counts as passing); 1: a control fails or could not "
    "be evaluated; 2: no run was made (bad input, no access, nothing could be collected); 3: the "
    "run is signed but some accounts or sources could not be collected (it says which)."))
def audit(
    demo: Annotated[bool, typer.Option(
        "--demo", help="Audit the built-in simulated organization (moto on 127.0.0.1); "
        "no AWS account needed and nothing leaves this machine.")] = False,
    out: Annotated[Path, typer.Option(
        "--out", help="Folder that holds one sub-folder per run.")] = DEFAULT_RUNS,
    role_name: Annotated[str, typer.Option(
        "--role-name", help="Audit role assumed in every member account.")]
        = "OrganizationAccountAccessRole",
    external_id: Annotated[str | None, typer.Option(
        "--external-id", envvar="ROLECALL_EXTERNAL_ID",
        help="External ID sent when assuming the audit role.")] = None,
    exceptions: Annotated[Path | None, typer.Option(
        "--exceptions", help="Exceptions register (YAML). Default: data/exceptions.yaml when it "
        "exists; the demo uses its own.")] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="AWS profile of the management (or delegated admin) account; "
        "default: the standard boto3 credential chain.")] = None,
    region: Annotated[str | None, typer.Option(
        "--region", help="AWS region for API calls; default: the boto3 chain.")] = None,
    max_workers: Annotated[int, typer.Option(
        "--max-workers", min=1, max=64, help="Accounts collected at the same time.")] = 8,
    connect_timeout: Annotated[float, typer.Option(
        "--connect-timeout", min=0.1, help="Seconds to wait for a connection to an AWS "
        "endpoint, per attempt.")] = 10.0,
    read_timeout: Annotated[float, typer.Option(
        "--read-timeout", min=0.1, help="Seconds to wait for an AWS response, per attempt.")]
        = 30.0,
    account_deadline: Annotated[float, typer.Option(
        "--account-deadline", min=1, help="Seconds one account's collection may take; what is "
        "not collected by then is recorded as a Deadline error (its controls: error).")] = 300.0,
    signing_key: Annotated[Path | None, typer.Option(
        "--signing-key", help="PEM private key that signs the PDF and the manifest "
        "(with --signing-cert).")] = None,
    signing_cert: Annotated[Path | None, typer.Option(
        "--signing-cert", help="PEM certificate of --signing-key.")] = None,
    signing_p12: Annotated[Path | None, typer.Option(
        "--signing-p12", help="PKCS#12 file with key and certificate; its password is read "
        "from the environment variable named by --p12-password-env.")] = None,
    p12_password_env: Annotated[str, typer.Option(
        "--p12-password-env", help="Environment variable that holds the PKCS#12 password.")]
        = "ROLECALL_P12_PASSWORD",
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", exists=True, file_okay=False,
        help="Run folder to report changes against; default: the newest earlier complete run "
        "under --out.")] = None,
    keys_dir: Annotated[Path, typer.Option(
        "--keys-dir", envvar="ROLECALL_KEYS_DIR",
        help="Where the demo signing key is created once when no key is given.")]
        = Path("data/keys"),
) -> None:
    """Collect, snapshot, validate, report and sign (exit codes in the command's help)."""
    from checks.exceptions import RegisterError, load_register

    if demo and exceptions:
        _fail("--demo uses the simulated organization's own exceptions register; "
              "drop --exceptions or --demo")
    if exceptions is None and not demo and DEFAULT_EXCEPTIONS.exists():
        exceptions = DEFAULT_EXCEPTIONS
    # Everything that can be checked without AWS is checked before the first call.
    if exceptions is not None:
        try:
            load_register(exceptions)
        except RegisterError as error:
            _fail(str(error))
    from flows.prefect_api import prefect_api, wait_until_healthy
    from reports.keys import SigningKeyError
    from reports.signing_config import SigningConfig

    signing = SigningConfig(key=signing_key, cert=signing_cert, p12=signing_p12,
                            p12_password_env=p12_password_env, keys_dir=keys_dir)
    try:
        signing.identity()
    except SigningKeyError as error:
        _fail(str(error))
    _check_writable(out)
    if not demo:
        _check_credentials(profile, region)
    started = time.monotonic()
    with ExitStack() as stack:
        # The Prefect API and the simulated organization boot in their own processes while
        # this one imports its libraries.
        api_url = stack.enter_context(prefect_api())
        if demo:
            exceptions = stack.enter_context(simulated_environment())
        from flows.audit import EXTERNAL_ID_ENV, AuditConfig, NothingCollected, run_audit

        if external_id:  # the flow reads it from the environment: never a stored parameter
            os.environ[EXTERNAL_ID_ENV] = external_id

        _quiet_prefect_console()
        # Great Expectations takes 5-10 s to import; do it while the accounts are collected.
        threading.Thread(target=importlib.import_module, args=("great_expectations",),
                         daemon=True).start()

        config = AuditConfig(
            out_dir=out, role_name=role_name, exceptions_path=exceptions, signing=signing,
            profile=profile, region=region, max_workers=max_workers, simulated=demo,
            baseline=baseline, endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
            connect_timeout=connect_timeout, read_timeout=read_timeout,
            account_deadline=account_deadline,
        )
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=console, transient=True) as progress:
            bar = progress.add_task("Collecting accounts", total=None)

            def on_account(account_id: str, total: int) -> None:
                progress.update(bar, total=total, advance=1 if account_id else 0,
                                description=f"Collecting accounts {account_id}".rstrip())

            try:
                if api_url:
                    wait_until_healthy(api_url, float(
                        os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
                result = run_audit(config, on_account)
            except NothingCollected as error:
                _fail(str(error))
            except Exception as error:  # the flow's own error, shown without a traceback
                _fail(f"the audit run failed: {type(error).__name__}: {error}")
    code = print_summary(result.run_dir, time.monotonic() - started)
    raise typer.Exit(code)


def _check_writable(out: Path) -> None:
    """The runs folder exists (or can be made) and takes a new file: found now, not after collecting."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".rolecall-write-test-"):
            pass
    except OSError as error:
        _fail(f"the runs folder {out} cannot be written ({error.strerror or error}); "
              "give a writable folder with --out")


def _check_credentials(profile: str | None, region: str | None) -> None:
    """AWS credentials are found by the standard chain; without them no call can succeed."""
    from botocore.exceptions import BotoCoreError

    from flows.sources.session import base_session

    try:
        credentials = base_session(profile, region).get_credentials()
    except BotoCoreError as error:
        _fail(f"AWS configuration: {error}")
    if credentials is None:
        _fail("no AWS credentials found (environment, --profile, ~/.aws/credentials, SSO or an "
              "instance role); sign in to the management account first, or try --demo")


def _quiet_prefect_console() -> None:
    """Prefect prints a failed task's or flow's traceback on the console; the CLI says what
    failed in one line instead (--debug keeps Prefect's lines). Its logs still reach its API."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    if DEBUG:
        return
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):  # "": where Prefect puts it
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL + 1)


def print_summary(run_dir: Path, seconds: float) -> int:
    """The summary table of a finished run, read back from its snapshot; an incomplete run
    says so before anything else and exits EXIT_INCOMPLETE, whatever its results."""
    from checks.counts import counts_by_control
    from store.coverage import coverage

    with duckdb.connect(str(run_dir / "snapshot.duckdb"), read_only=True) as con:
        seen = coverage(con)
        counts = counts_by_control(con)
    from checks.catalogue import CONTROLS_BY_ID

    if not seen.complete:
        console.print(Text(seen.headline(), style="bold yellow"), soft_wrap=True)
        for gap in seen.source_gaps:
            console.print(Text(f"  {gap.source}: {gap.first_reason}"), soft_wrap=True)

    table = Table(title=f"rolecall — {run_dir.name}", title_justify="left")
    for name in ("control", "title", "population", "pass", "fail", "excepted", "error"):
        table.add_column(name, justify="right" if name not in ("control", "title") else "left")
    failing = False
    for control_id, c in counts.items():
        failing = failing or bool(c.failed or c.error)
        table.add_row(
            control_id, CONTROLS_BY_ID[control_id].title, str(c.population), str(c.passed),
            f"[red]{c.failed}[/red]" if c.failed else "0", str(c.excepted),
            f"[yellow]{c.error}[/yellow]" if c.error else "0",
        )
    console.print(table)
    console.print(f"Accounts collected: {seen.accounts_collected} of {seen.accounts}")
    console.print(f"Run folder: {run_dir}")
    console.print(f"Report: {run_dir / 'report.pdf'}  ({seconds:.1f} s)")
    runs = "" if run_dir.parent == DEFAULT_RUNS else f" --runs {run_dir.parent}"
    console.print(f'Query it: .venv/bin/rolecall sql{runs} "SELECT account_id, user_name FROM iam_users"  '
                  "(rolecall schema lists the tables)", highlight=False, soft_wrap=True)
    if not seen.complete:
        console.print(f"Incomplete: exit {EXIT_INCOMPLETE}. `rolecall sql{runs} --run {run_dir.name} "
                      "\"SELECT * FROM collection_errors\"` lists every error.", highlight=False,
                      soft_wrap=True)
        return EXIT_INCOMPLETE
    return EXIT_FAIL if failing else EXIT_PASS


@app.command()
def simulate(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port).")]
        = 5000,
) -> None:
    """Serve the built-in simulated organization on 127.0.0.1 until Ctrl-C.

    A moto server, so the real CLI can be pointed at it with AWS_ENDPOINT_URL.
    """
    from simulated import organization as simulated

    with simulated.serve(port) as sim:
        kept = Path(tempfile.gettempdir()) / f"rolecall-simulated-exceptions-{os.getpid()}.yaml"
        kept.write_text(simulated.demo_register(sim))
        console.print(f"Simulated organization {sim.organization_id} on {sim.endpoint_url}")
        console.print("Point rolecall at it with:\n")
        for key, value in simulated.FAKE_CREDENTIALS.items():
            console.print(f"  export {key}={value}")
        console.print(f"  export AWS_ENDPOINT_URL={sim.endpoint_url}")
        console.print(f"  .venv/bin/rolecall audit --exceptions {kept} --out DIR\n")
        console.print("Ctrl-C stops the server.")
        # SIGTERM (a service manager, `kill`) stops it as Ctrl-C does; so does SIGINT even where
        # the shell started us with it ignored (a background job of a script).
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("Stopped.")
        finally:
            kept.unlink(missing_ok=True)


@app.command(help=(
    "Check a run folder: the manifest's CMS signature, that the folder's name is the run id "
    "signed in the manifest, every file's hash, no file missing or added, and the PDF's "
    "signature.\n\nExit 0 only when every check passes, 1 when one fails, 2 when --ca is not "
    "a readable certificate."))
def verify(
    run_dir: Annotated[Path, typer.Argument(help="The run folder to check.", exists=True,
                                            file_okay=False)],
    ca: Annotated[Path | None, typer.Option(
        "--ca", help="CA (or the signer's own) certificate, PEM, that must vouch for the "
        "signer; without it the signer is reported as self-asserted.")] = None,
) -> None:
    """Check a run folder (see the command's help)."""
    from reports.verify import all_passed, verify_run

    _check_ca(ca)
    checks = verify_run(run_dir, ca)
    for check in checks:
        colour = "green" if check.ok else "red"
        console.print(f"[{colour}]{'PASS' if check.ok else 'FAIL'}[/{colour}]  {check.name}: "
                      f"{check.detail}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_PASS if all_passed(checks) else EXIT_FAIL)


@app.command(help=(
    "Ask a snapshot a question in SQL, read-only: one run (default: the latest) or, with "
    "--history, every complete run at once.\n\n`rolecall schema` lists the tables; "
    "docs/queries.sql has examples. A statement that would write is refused and no file of any "
    "run folder changes; a query reads no file beyond the snapshots except in folders given "
    "with --allow-path. Exit 2 on a query error."))
def sql(
    query: Annotated[str | None, typer.Argument(
        help="SQL to run (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); read from stdin "
        "when omitted.", show_default=False)] = None,
    run: Annotated[str | None, typer.Option(
        "--run", help="Run id, 'latest' (the default), or a run folder's path.",
        show_default=False)] = None,
    history: Annotated[bool, typer.Option(
        "--history", help="Query every complete run at once: each table is a view over all "
        "runs with a leading run_id column.")] = False,
    runs: Annotated[Path, typer.Option(
        "--runs", "--out", help="Folder that holds the runs (audit's --out).")] = DEFAULT_RUNS,
    fmt: Annotated[OutputFormat, typer.Option(
        "--format", "-f", help="table (default, for people), csv, json, or parquet (needs "
        "--output).")] = OutputFormat.table,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the result to this file instead of stdout.")] = None,
    max_rows: Annotated[int, typer.Option(
        "--max-rows", min=1, help="Rows shown by --format table.")] = 1000,
    verify: Annotated[bool, typer.Option(
        "--verify", help="First check each queried run as `rolecall verify` does (manifest "
        "signature, every file's hash, PDF signature); refuse to answer if one fails.")] = False,
    ca: Annotated[Path | None, typer.Option(
        "--ca", help="With --verify: CA certificate (PEM) that must vouch for the signer.")] = None,
    allow_path: Annotated[list[Path] | None, typer.Option(
        "--allow-path", help="Folder whose files a query may read (read_csv, read_parquet, "
        "read_json...), e.g. to join a list of your own; repeatable. Without it a query reads "
        "only the snapshots.", show_default=False)] = None,
) -> None:
    """Ask a snapshot a question in SQL, read-only."""
    from cli.query import (
        QueryError,
        allowed_folders,
        open_history,
        open_run,
        read_statements,
        resolve_run,
    )
    from cli.query_formats import parquet_staging_path
    from reports.keys import DEFAULT_KEYS_DIR, KEYS_DIR_ENV

    if history and run is not None:
        _fail("give either --run or --history, not both")
    if fmt is OutputFormat.parquet and output is None:
        _fail("--format parquet writes a file: give --output FILE")
    if output is not None and (inside := enclosing_run_folder(output)) is not None:
        _fail(f"{output} is inside the run folder {inside}, which is signed evidence; "
              "write the result somewhere else")
    text = query if query is not None else sys.stdin.read()
    try:
        statements = read_statements(text)
        if fmt is not OutputFormat.table and len(statements) > 1:
            raise QueryError(f"--format {fmt.value} takes one statement; got {len(statements)}")
        # The demo signing key's folders are never readable, even inside an allowed folder.
        keys_dirs = [DEFAULT_KEYS_DIR]
        if env_keys := os.environ.get(KEYS_DIR_ENV):
            keys_dirs.append(Path(env_keys))
        allow = allowed_folders(allow_path or [], protected=keys_dirs)
        # the one file the session itself writes: the Parquet export before its rename
        staging = parquet_staging_path(output) if fmt is OutputFormat.parquet and output else None
        session = (open_history(runs, allow=allow, write_file=staging) if history
                   else open_run(resolve_run(runs, run or "latest"), allow=allow, write_file=staging))
        try:
            if verify:  # exactly the runs the session reads
                _verify_before_query(session.runs, ca)
            _write_results(session, statements, fmt, output, max_rows)
        finally:
            session.close()
    except QueryError as error:
        _fail(str(error))
    except OSError as error:  # --output in a missing or read-only folder, a closed pipe
        _fail(f"cannot write {output or 'the result'}: {error.strerror or error}")


def _check_ca(ca: Path | None) -> None:
    """A --ca that is no certificate at all is bad input (exit 2): nothing could be verified."""
    from reports.verify import TrustAnchorError, load_ca

    if ca is not None:
        try:
            load_ca(ca)
        except TrustAnchorError as error:
            _fail(f"--ca {error}")


def _verify_before_query(run_dirs: list[Path], ca: Path | None) -> None:
    from reports.verify import all_passed, verify_run

    _check_ca(ca)
    for run_dir in run_dirs:
        checks = verify_run(run_dir, ca)
        if not all_passed(checks):
            failed = "; ".join(f"{c.name}: {c.detail}" for c in checks if not c.ok)
            _fail(f"run {run_dir.name} does not verify, so it is not queried: {failed}")
    err_console.print(f"Verified {len(run_dirs)} run{'s' if len(run_dirs) != 1 else ''}: "
                      "manifest signature, file hashes and PDF signature.", highlight=False)


def _write_results(session: Session, statements: list[str], fmt: OutputFormat,
                   output: Path | None, max_rows: int) -> None:
    from cli.query_formats import write_csv, write_json, write_parquet, write_table

    if fmt is OutputFormat.parquet:
        assert output is not None
        rows = write_parquet(session, statements[0], output)
        err_console.print(f"{rows} rows written to {output}")
        return
    with ExitStack() as stack:
        stream = stack.enter_context(output.open("w", newline="")) if output else sys.stdout
        if fmt is OutputFormat.table:
            target = Console(file=stream, width=200) if output else console
            for statement in statements:
                if len(statements) > 1:
                    target.print(Text(statement_title(statement), style="bold"))
                write_table(execute(session, statement), target, max_rows=max_rows)
        elif fmt is OutputFormat.csv:
            write_csv(execute(session, statements[0]), stream)
        else:
            write_json(execute(session, statements[0]), stream)


@app.command()
def schema(
    history: Annotated[bool, typer.Option(
        "--history", help="Show the history views (every table with a leading run_id).")] = False,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="Print Markdown, as in the README.")] = False,
) -> None:
    """Every table and view `rolecall sql` can query, with each column's type and meaning."""
    from cli.query import schema_markdown, schema_rows

    if markdown:
        sys.stdout.write(schema_markdown())
        return
    for name, kind, columns in schema_rows(history):
        table = Table(title=f"{name} ({kind})", title_justify="left")
        for heading in ("column", "type", "meaning"):
            table.add_column(heading, overflow="fold")
        for column, type_, meaning in columns:
            table.add_row(column, type_, meaning)
        console.print(table)


class ExportFormat(StrEnum):
    parquet = "parquet"
    ocsf = "ocsf"


@app.command(help=(
    "Export a run for other tools: Parquet files of every table, or OCSF Compliance Findings "
    "(the format AWS Security Hub and Prowler use).\n\nThe run folder itself is never written "
    "to; provenance.json ties the export to the signed run."))
def export(
    run: Annotated[str, typer.Argument(
        help="Run id, 'latest', or a run folder's path.")] = "latest",
    fmt: Annotated[ExportFormat, typer.Option(
        "--format", "-f", help="parquet: one <table>.parquet per snapshot table; ocsf: every "
        "control result as an OCSF Compliance Finding in findings.ocsf.json.")]
        = ExportFormat.parquet,
    runs: Annotated[Path, typer.Option(
        "--runs", "--out", help="Folder that holds the runs (audit's --out).")] = DEFAULT_RUNS,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Folder to write into; default: data/exports/RUN-ID/FORMAT.",
        show_default=False)] = None,
) -> None:
    """Export a run for other tools (see the command's help)."""
    from cli.query import QueryError, resolve_run
    from reports.export import ExportError, export_ocsf, export_parquet
    from reports.export_provenance import ProvenanceError, snapshot_matches_manifest, write_provenance

    try:
        run_dir = resolve_run(runs, run)
    except QueryError as error:
        _fail(str(error))
    target = output or Path("data/exports") / run_dir.name / fmt.value
    snapshot_path = run_dir / "snapshot.duckdb"
    try:
        checked = snapshot_matches_manifest(run_dir)
        if fmt is ExportFormat.parquet:
            files = export_parquet(snapshot_path, target)
            what = f"{len(files)} tables as Parquet"
        else:
            files = [target / "findings.ocsf.json"]
            what = f"{export_ocsf(snapshot_path, files[0])} OCSF Compliance Findings"
        provenance = write_provenance(run_dir, target, files, fmt.value, version("rolecall"), checked)
    except (ExportError, ProvenanceError, duckdb.Error, OSError) as error:
        _fail(f"the export failed: {error}")
    console.print(f"{what} of run {run_dir.name} written to {target}/ "
                  f"(hashes and source run in {provenance.name})", highlight=False, soft_wrap=True)


class RunsFormat(StrEnum):
    table = "table"
    json = "json"


@app.command("runs", help=(
    "List the run folders and their states.\n\n"
    "Every folder under the runs folder with its state: complete (signed: "
    "manifest.json.p7s present), unsigned (not evidence), partial (in progress or killed) or "
    "stale (a partial untouched for a day; the next audit removes it); for complete runs, the "
    "accounts collected and whether that is every account of the organization.\n\n"
    "A signature file present is not a signature checked: `rolecall verify RUN-FOLDER` checks it."))
def runs_command(
    runs_dir: Annotated[Path, typer.Option(
        "--runs", "--out", help="Folder that holds the runs (audit's --out).")] = DEFAULT_RUNS,
    fmt: Annotated[RunsFormat, typer.Option(
        "--format", "-f", help="table (default, for people) or json.")] = RunsFormat.table,
) -> None:
    """List the run folders and their states (see the command's help)."""
    import json
    from datetime import UTC, datetime

    from store.run_folder import list_runs

    if not runs_dir.is_dir():
        _fail(f"{runs_dir}: no such folder of runs" if not runs_dir.exists()
              else f"{runs_dir}: not a folder")
    try:
        listings = list_runs(runs_dir)
    except OSError as error:
        _fail(f"{runs_dir}: cannot list: {error.strerror or error}")
    now = datetime.now(UTC)
    if fmt is RunsFormat.json:
        rows = [{
            "run_id": r.run_id, "path": str(r.path), "state": r.state,
            "last_modified": r.last_modified.isoformat(),
            "age_seconds": round((now - r.last_modified).total_seconds()),
            "accounts": r.accounts, "accounts_collected": r.collected,
            "complete_in_scope": r.complete_in_scope, "note": r.note or None,
        } for r in listings]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if not listings:
        console.print(f"No runs in {runs_dir}.", highlight=False)
        return
    states = {"complete": "[green]complete[/green]", "unsigned": "[red]unsigned[/red]",
              "partial": "[yellow]partial[/yellow]", "stale": "[red]stale[/red]"}
    table = Table(title=f"Runs in {runs_dir}", title_justify="left")
    for heading in ("run", "state", "last written", "accounts collected", "scope", "note"):
        table.add_column(heading, overflow="fold")
    for r in listings:
        accounts = "" if r.accounts is None else f"{r.collected} of {r.accounts}"
        scope = {True: "complete", False: "[yellow]incomplete[/yellow]", None: ""}[
            r.complete_in_scope]
        note = r.note or {"partial": "in progress or killed",
                          "stale": "killed; the next audit removes it"}.get(r.state, "")
        table.add_row(Text(r.path.name), states.get(r.state, r.state),
                      f"{_age((now - r.last_modified).total_seconds())} ago", accounts, scope, Text(note))
    console.print(table)


def _age(seconds: float) -> str:
    """A duration as people read it in a listing: the two largest units."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def _fail(message: str) -> None:
    """One line for the user; the traceback only with --debug."""
    if DEBUG and sys.exc_info()[0] is not None:
        err_console.print_exception()
    # soft_wrap: a pipe gets the message on one line; Text: brackets in DuckDB's messages are not markup
    err_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(EXIT_ERROR)

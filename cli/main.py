"""The `rolecall` command: a thin layer over the audit flow."""

from __future__ import annotations

import os
import re

# Prefect reads its settings at import: keep its own logs quiet and its local server patient.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from reports.garbage_collection import collect_less_often  # noqa: E402

collect_less_often()  # before the libraries below are imported: reports/garbage_collection.py

import atexit  # noqa: E402
import gc  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from enum import StrEnum  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Annotated, Any  # noqa: E402

import duckdb  # noqa: E402
import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from checks.control import SEVERITIES  # noqa: E402
from cli.query import Session, execute, statement_title  # noqa: E402
from cli.query_formats import OutputFormat  # noqa: E402
from flows.warm_imports import import_in_background  # noqa: E402
from store.run_folder import enclosing_run_folder  # noqa: E402

if TYPE_CHECKING:  # imported where used: pyHanko takes seconds to import
    from reports.evidence_store import S3Location, StoredRun
    from reports.signing_config import SigningConfig
    from reports.verify import Check

# At exit the interpreter's last garbage collections walk every object the libraries made
# (Great Expectations, WeasyPrint, Prefect): 1.5-3 s after the run is already written. Frozen,
# they are skipped; memory goes back to the system with the process. Registered first, so it
# runs after every other exit handler (Prefect's log shipping, temporary folders' clean-up).
atexit.register(gc.freeze)

app = typer.Typer(
    help="Audit an AWS organization against the guidance 'Do not use IAM Users' and produce "
    "an evidence pack (DuckDB snapshot, Great Expectations results, HTML and PDF report).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
)
# Not a terminal (CI, a pipe): Rich would assume 80 columns and fold the summary table.
console = Console(width=None if Console().is_terminal else 120)
err_console = Console(stderr=True)

# The modules an audit run imports, the heaviest last (Great Expectations 5-10 s, WeasyPrint,
# pyHanko): the flow first, then validation, the report and its signature. Prefect imports two
# modules only when a flow is first called (FastAPI's encoders for the flow's parameters, 0.1 s,
# and its visualization helpers): imported here, they load while the API boots, not after.
RUN_MODULES = ("flows.audit", "flows.progress", "fastapi.encoders",
               "prefect.utilities.visualization", "checks.gx_import", "checks.validate",
               "reports.render", "reports.sign")

DEFAULT_EXCEPTIONS = Path("data/exceptions.yaml")
DEFAULT_RUNS = Path("data/runs")
# 0: every control passes; 1: a control fails or has an error row; 2: no run (bad input, no
# access, nothing collected: nothing signed); 3: a signed run that could not see everything.
EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INCOMPLETE = 0, 1, 2, 3
# audit --upload: the run is signed locally but could not be stored under Object Lock.
EXIT_UPLOAD_FAILED = 4
DEBUG = False  # --debug: show the traceback behind an expected error
QUIET = False  # -q: no progress bar and no summary table, only the verdict and where the run is
VERBOSE = False  # -v: Prefect's run log on the console


def _print_version(value: bool) -> None:
    if value:
        console.print(f"rolecall {version('rolecall')}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks and Prefect's own log lines behind an error.")] = False,
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print rolecall's version and exit.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar and no summary table: one line with the verdict, "
        "the exit code and the run folder (errors are still printed).")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also print Prefect's run log (INFO) on stderr: every task, "
        "retry and account as it is collected.")] = False,
) -> None:
    """Audit an AWS organization against the guidance 'Do not use IAM Users'."""
    global DEBUG, QUIET, VERBOSE
    if quiet and verbose:
        _fail("--quiet and --verbose contradict each other; give one")
    DEBUG, QUIET, VERBOSE = debug, quiet, verbose
    if verbose:  # read by Prefect when it is first imported, which happens after this
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"


DEMO_RESPONSES_FILE = "simulated-responses.yaml"


@contextmanager
def simulated_environment() -> Iterator[Path]:
    """The simulated organization on 127.0.0.1 (in a child process) and the AWS environment that
    points boto3 at it; yields the path of its exceptions register (its management responses,
    DEMO_RESPONSES_FILE, lie beside it)."""
    from simulated.organization import DEMO_RESPONSES
    from simulated.process import FAKE_CREDENTIALS, simulated_subprocess

    with ExitStack() as stack:
        register_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rolecall-")))
        sim = stack.enter_context(simulated_subprocess(register_dir / "simulated-exceptions.yaml"))
        (register_dir / DEMO_RESPONSES_FILE).write_text(DEMO_RESPONSES, encoding="utf-8")
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


# The run a command reads (export, plan): one definition, so they name runs alike.
RunArgument = Annotated[str, typer.Argument(help="Run id, 'latest', or a run folder's path.")]

# Options `audit` and `doctor` share: one definition each, so a run and its check agree.
DEFAULT_ROLE_NAME = "rolecall-audit"  # the deployment kit's audit role (deploy/audit-role.yaml)
DEFAULT_P12_PASSWORD_ENV = "ROLECALL_P12_PASSWORD"
RoleNameOption = Annotated[str, typer.Option(
    "--role-name", help="Audit role assumed in every member account; the default is the "
    "deployment kit's (deploy/audit-role.yaml).")]
ExternalIdOption = Annotated[str | None, typer.Option(
    "--external-id", envvar="ROLECALL_EXTERNAL_ID",
    help="External ID sent when assuming the audit role.")]
ProfileOption = Annotated[str | None, typer.Option(
    "--profile", help="AWS profile of the management (or delegated admin) account; "
    "default: the standard boto3 credential chain.")]
RegionOption = Annotated[str | None, typer.Option(
    "--region", help="AWS region for API calls; default: the boto3 chain.")]
MaxWorkersOption = Annotated[int, typer.Option(
    "--max-workers", min=1, max=64, help="Accounts collected (doctor: checked) at the same time.")]
ConnectTimeoutOption = Annotated[float, typer.Option(
    "--connect-timeout", min=0.1, help="Seconds to wait for a connection to an AWS "
    "endpoint, per attempt.")]
ReadTimeoutOption = Annotated[float, typer.Option(
    "--read-timeout", min=0.1, help="Seconds to wait for an AWS response, per attempt.")]
SigningKeyOption = Annotated[Path | None, typer.Option(
    "--signing-key", help="PEM private key that signs the PDF and the manifest "
    "(with --signing-cert).")]
SigningCertOption = Annotated[Path | None, typer.Option(
    "--signing-cert", help="PEM certificate of --signing-key.")]
SigningP12Option = Annotated[Path | None, typer.Option(
    "--signing-p12", help="PKCS#12 file with key and certificate; its password is read "
    "from the environment variable named by --p12-password-env.")]
P12PasswordEnvOption = Annotated[str, typer.Option(
    "--p12-password-env", help="Environment variable that holds the PKCS#12 password.")]
KeysDirOption = Annotated[Path | None, typer.Option(
    "--keys-dir", envvar="ROLECALL_KEYS_DIR", show_default=False,
    help="The per-user keys folder: the organization key of `rolecall keys init`, used when "
    "no key is given, and the demo key. Default: $XDG_DATA_HOME/rolecall/keys, else "
    "~/.local/share/rolecall/keys.")]
TsaUrlOption = Annotated[str | None, typer.Option(
    "--tsa-url", envvar="ROLECALL_TSA_URL",
    help="RFC 3161 time-stamping service: the signatures get trusted time (PDF: PAdES B-T; "
    "manifest: a signature-time-stamp). Asked once before anything else; if it fails, nothing "
    "is signed.")]
# reports.evidence_store.DEFAULT_RETENTION_DAYS, repeated so the CLI starts without importing
# pyHanko (tests/test_evidence_store.py holds the two equal).
DEFAULT_RETENTION_DAYS = 400
# The gates --fail-on offers: the catalogue's severities but info, which never gates a run.
Severity = StrEnum("Severity", {s: s for s in SEVERITIES if s != "info"})  # type: ignore[misc]


ResponsesOption = Annotated[Path | None, typer.Option(
    "--responses", help="Management response file (YAML): per failing control the owner, the "
    "planned action, the due date and the ticket; rendered in the Sign-off chapter. See "
    "data/responses.example.yaml.", show_default=False)]
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="Configuration file (TOML): thresholds, controls, framework profile, "
    "signing; default: $ROLECALL_CONFIG. See rolecall.example.toml.", show_default=False)]
FrameworkOption = Annotated[str | None, typer.Option(
    "--framework", help="Framework profile whose settings apply (e.g. cis-aws-3.0: 45 days "
    "unused); overrides the configuration file's.", show_default=False)]
RetentionDaysOption = Annotated[int, typer.Option(
    "--retention-days", envvar="ROLECALL_RETENTION_DAYS", min=1, max=36_500,
    help="Days each stored object stays under compliance-mode Object Lock: nobody, root "
    "included, can delete it or shorten that. Default: an annual audit cycle plus a month.")]


class TaskRunnerChoice(StrEnum):
    threads = "threads"
    dask = "dask"


@app.command(help=(
    "Collect, snapshot, validate, report and sign.\n\n"
    "Exit 0: every control passes (excepted counts as passing); 1: a control fails or could not "
    "be evaluated; 2: no run was made (bad input, no access, nothing could be collected); 3: the "
    "run is signed but some accounts or sources could not be collected (it says which); 4: with "
    "--upload, the run is signed but could not be stored (the error says why)."))
def audit(
    demo: Annotated[bool, typer.Option(
        "--demo", help="Audit the built-in simulated organization (moto on 127.0.0.1); "
        "no AWS account needed and nothing leaves this machine.")] = False,
    out: Annotated[Path, typer.Option(
        "--out", help="Folder that holds one sub-folder per run.")] = DEFAULT_RUNS,
    role_name: RoleNameOption = DEFAULT_ROLE_NAME,
    external_id: ExternalIdOption = None,
    exceptions: Annotated[Path | None, typer.Option(
        "--exceptions", help="Exceptions register (YAML). Default: data/exceptions.yaml when it "
        "exists; the demo uses its own.")] = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    max_workers: MaxWorkersOption = 8,
    connect_timeout: ConnectTimeoutOption = 10.0,
    read_timeout: ReadTimeoutOption = 30.0,
    account_deadline: Annotated[float, typer.Option(
        "--account-deadline", min=1, help="Seconds one account's collection may take; what is "
        "not collected by then is recorded as a Deadline error (its controls: error).")] = 300.0,
    signing_key: SigningKeyOption = None,
    signing_cert: SigningCertOption = None,
    signing_p12: SigningP12Option = None,
    p12_password_env: P12PasswordEnvOption = DEFAULT_P12_PASSWORD_ENV,
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", exists=True, file_okay=False,
        help="Run folder to report changes against; default: the newest earlier complete run "
        "under --out.")] = None,
    keys_dir: KeysDirOption = None,
    tsa_url: TsaUrlOption = None,
    upload: Annotated[str | None, typer.Option(
        "--upload", help="After a signed run, store it at s3://BUCKET/PREFIX/RUN-ID under S3 "
        "Object Lock (compliance mode) and read it back, as `rolecall upload` does.",
        show_default=False)] = None,
    retention_days: RetentionDaysOption = DEFAULT_RETENTION_DAYS,
    config_file: ConfigOption = None,
    period: Annotated[str | None, typer.Option(
        "--period", metavar="YYYY-MM", help="The month the run stands as evidence for; default: "
        "the calendar month before today (UTC).", show_default=False)] = None,
    framework: FrameworkOption = None,
    responses: ResponsesOption = None,
    fail_on: Annotated[Severity | None, typer.Option(
        "--fail-on", help="CI gate: exit 1 only for fails of this severity or above (and for "
        "errors); fails below it exit 0. Default: any fail or error exits 1.",
        show_default=False)] = None,
    controls: Annotated[list[str] | None, typer.Option(
        "--controls", help="Run only these controls or guidance items (repeat, or comma-"
        "separated control ids or guidance items, e.g. G1,G4); overrides the configuration file.",
        show_default=False)] = None,
    exclude_controls: Annotated[list[str] | None, typer.Option(
        "--exclude-controls", help="Leave these controls or guidance items out.",
        show_default=False)] = None,
    task_runner: Annotated[TaskRunnerChoice, typer.Option(
        "--task-runner", help="Where the accounts are collected: threads of this process "
        "(--max-workers), or the workers of a Dask cluster, each assuming the roles itself. "
        "Validation, reports and signing stay on this machine.")] = TaskRunnerChoice.threads,
    dask_address: Annotated[str | None, typer.Option(
        "--dask-address", metavar="tcp://HOST:PORT", help="With --task-runner dask: the "
        "scheduler of a running Dask cluster; default: a local cluster of worker processes.",
        show_default=False)] = None,
) -> None:
    """Collect, snapshot, validate, report and sign (exit codes in the command's help)."""
    from checks.exceptions import RegisterError, load_register

    if dask_address and task_runner is not TaskRunnerChoice.dask:
        _fail("--dask-address goes with --task-runner dask")

    file_config, settings = _load_configuration(
        config_file, framework=framework, controls=_names(controls),
        exclude_controls=_names(exclude_controls))
    if exceptions is None and not demo and file_config is not None \
            and file_config.exceptions.file is not None:
        exceptions = file_config.exceptions.file
    if period is not None:
        _check_period(period)
    _load_responses(responses)

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

    started = time.monotonic()
    own_api = not os.environ.get("PREFECT_API_URL")  # else prefect_api() starts a temporary one
    with ExitStack() as stack:
        # The Prefect API boots in its own process (~3.5 s, the longest wait of a small run)
        # while this one checks the signing key and the AWS credentials and imports its
        # libraries; a check that fails ends the block, which stops the server.
        api_url = stack.enter_context(prefect_api())
        # each signing option not given is taken from the configuration file's [signing] section
        signing = _signing_config(file_config, key=signing_key, cert=signing_cert, p12=signing_p12,
                                  p12_password_env=p12_password_env, keys_dir=keys_dir,
                                  demo=demo, tsa_url=tsa_url)
        _check_signing(signing)
        _check_writable(out)
        if not demo:
            _check_credentials(profile, region)
        # with --demo the bucket is the simulated organization's own, checked once it runs
        destination = (_check_upload_destination(upload, profile, region)
                       if upload and not demo else None)
        _check_workers_reach(api_url, dask_address)
        # While the Prefect API and the simulated organization boot in their own processes,
        # this one would only wait: it imports what the run needs, in the order it needs it
        # (the imports below then find the modules loaded, or wait for them to be).
        import_in_background(*RUN_MODULES)
        if demo:
            exceptions = stack.enter_context(simulated_environment())
            if responses is None:  # the simulated organization's own, as for the register
                responses = exceptions.with_name(DEMO_RESPONSES_FILE)
            if upload:
                destination = _check_upload_destination(upload, profile, region)
        from flows.audit import EXTERNAL_ID_ENV, AuditConfig, NothingCollected, run_audit
        from flows.progress import AccountsProgress, listening

        if external_id:  # the flow reads it from the environment: never a stored parameter
            os.environ[EXTERNAL_ID_ENV] = external_id

        _quiet_prefect_console()

        config = AuditConfig(
            out_dir=out, role_name=role_name, exceptions_path=exceptions, signing=signing,
            profile=profile, region=region, max_workers=max_workers, simulated=demo,
            baseline=baseline, endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
            connect_timeout=connect_timeout, read_timeout=read_timeout,
            account_deadline=account_deadline, settings=settings, period=period,
            responses_path=responses,
        )
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=console, transient=True, disable=QUIET) as progress:
            bar = progress.add_task("Collecting accounts", total=None)

            def on_progress(step: AccountsProgress) -> None:
                progress.update(bar, total=step.total, completed=step.done,
                                description=f"Collecting accounts {step.account_id}".rstrip())

            try:
                if api_url:
                    wait_until_healthy(api_url, float(
                        os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
                with listening(on_progress):
                    result = run_audit(config, runner=task_runner.value, dask_address=dask_address,
                                       heartbeats=not own_api)
            except NothingCollected as error:
                _fail(str(error))
            except Exception as error:  # the flow's own error, shown without a traceback
                _fail(f"the audit run failed: {type(error).__name__}: {error}")
        code = print_summary(result.run_dir, time.monotonic() - started,
                             fail_on.value if fail_on else None)
        if destination is not None:  # while a demo's simulated organization still answers
            code = _upload_after_audit(result.run_dir, destination, retention_days, profile, region,
                                       code)
    raise typer.Exit(code)


def _load_configuration(option: Path | None, **options: Any) -> tuple[Any, Any]:
    """The configuration file (--config or $ROLECALL_CONFIG) and the run's settings; a bad file
    or value is one line and exit 2, before any AWS call."""
    from flows.configuration import ConfigError, config_path, load, settings_from

    path = config_path(option)
    try:
        file_config = load(path) if path is not None else None
        return file_config, settings_from(file_config, path, **options)
    except ConfigError as error:
        _fail(str(error))
        raise  # unreachable: _fail exits


def _names(values: list[str] | None) -> tuple[str, ...] | None:
    """Repeated or comma-separated option values as one tuple; None when not given."""
    if not values:
        return None
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


def _check_period(period: str) -> None:
    """YYYY-MM of a month that has begun (UTC)."""
    from datetime import UTC, datetime

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        _fail(f"--period {period!r}: expected a month as YYYY-MM, e.g. 2026-11")
    if period > datetime.now(UTC).strftime("%Y-%m"):
        _fail(f"--period {period}: that month has not begun; a run can only stand for a month "
              "that has started")


def _check_workers_reach(api_url: str | None, dask_address: str | None) -> None:
    """Dask workers report their task runs to this run's Prefect API: workers on other machines
    cannot reach one on 127.0.0.1 (the temporary one this command starts, without
    $PREFECT_API_URL)."""
    from urllib.parse import urlsplit

    def local(url: str) -> bool:
        host = urlsplit(url if "://" in url else f"tcp://{url}").hostname or ""
        return host in ("localhost", "::1") or host.startswith("127.")

    if dask_address and api_url and local(api_url) and not local(dask_address):
        _fail(f"the Dask workers at {dask_address} cannot reach the Prefect API at {api_url}: "
              "set PREFECT_API_URL to a Prefect server they can reach")


def _check_writable(out: Path) -> None:
    """The runs folder exists (or can be made) and takes a new file: found now, not after collecting."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".rolecall-write-test-"):
            pass
    except OSError as error:
        _fail(f"the runs folder {out} cannot be written ({error.strerror or error}); "
              "give a writable folder with --out")


def _check_signing(signing: SigningConfig) -> None:
    """The signing key loads and matches its certificate; a time-stamping URL answers."""
    from reports.keys import SigningKeyError

    try:
        signing.identity()
        if signing.tsa_url:
            from reports.timestamps import probe

            probe(signing.tsa_url)
    except SigningKeyError as error:  # a TimestampError too: one line naming the URL
        _fail(str(error))


def _check_credentials(profile: str | None, region: str | None) -> None:
    """AWS credentials are found by the standard chain; without them no call can succeed."""
    from flows.doctor import CredentialsError, caller_session

    try:
        caller_session(profile, region)
    except CredentialsError as error:
        _fail(f"{error}; {error.fix}" if error.fix else str(error))


def _quiet_prefect_console() -> None:
    """Prefect prints a failed task's or flow's traceback on the console; the CLI says what
    failed in one line instead (--debug keeps Prefect's lines). Its logs still reach its API."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    if DEBUG or VERBOSE:
        return
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):  # "": where Prefect puts it
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL + 1)


def print_summary(run_dir: Path, seconds: float, fail_on: str | None = None) -> int:
    """The summary table of a finished run, read back from its snapshot; an incomplete run
    says so before anything else and exits EXIT_INCOMPLETE, whatever its results."""
    from checks.counts import counts_by_control, verdict
    from store.coverage import coverage

    with duckdb.connect(str(run_dir / "snapshot.duckdb"), read_only=True) as con:
        seen = coverage(con)
        counts = counts_by_control(con)
    from checks.catalogue import CONTROLS_BY_ID

    said = verdict(counts, complete=seen.complete, fail_on=fail_on)
    if QUIET:
        console.print(f"{said.word} (exit {said.exit_code}): {run_dir}", highlight=False,
                      soft_wrap=True)
        return said.exit_code

    if not seen.complete:
        console.print(Text(seen.headline(), style="bold yellow"), soft_wrap=True)
        for gap in seen.source_gaps:
            console.print(Text(f"  {gap.source}: {gap.first_reason}"), soft_wrap=True)

    table = Table(title=f"rolecall — {run_dir.name}", title_justify="left")
    for name in ("control", "title", "population", "pass", "fail", "excepted", "error"):
        table.add_column(name, justify="right" if name not in ("control", "title") else "left")
    for control_id, c in counts.items():
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
    if fail_on is not None:
        console.print(f"Gate --fail-on {fail_on}: {said.word} (exit {said.exit_code})", highlight=False)
    return said.exit_code


@app.command(help=(
    "Check a configuration before a real run, collecting nothing.\n\nThe credentials (and whose "
    "they are), the organization, its SCPs, IAM Identity Center in --region, IAM Access "
    "Analyzer, the audit role in every account (one AssumeRole and one iam:GetAccountSummary "
    "each), and the signing key.\n\n"
    "One line per check and per failing account, with what to do. Exit 0 when every check "
    "passes, 1 when one fails, 2 on bad usage. The External ID is never printed."))
def doctor(
    demo: Annotated[bool, typer.Option(
        "--demo", help="Check the built-in simulated organization (moto on 127.0.0.1), the "
        "one `audit --demo` audits.")] = False,
    role_name: RoleNameOption = DEFAULT_ROLE_NAME,
    external_id: ExternalIdOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
    max_workers: MaxWorkersOption = 8,
    connect_timeout: ConnectTimeoutOption = 10.0,
    read_timeout: ReadTimeoutOption = 30.0,
    signing_key: SigningKeyOption = None,
    signing_cert: SigningCertOption = None,
    signing_p12: SigningP12Option = None,
    p12_password_env: P12PasswordEnvOption = DEFAULT_P12_PASSWORD_ENV,
    keys_dir: KeysDirOption = None,
) -> None:
    """Check a configuration before a real run (see the command's help)."""
    from flows.doctor import DoctorConfig, all_passed, run_doctor
    from reports.signing_config import SigningConfig

    config = DoctorConfig(
        role_name=role_name, external_id=external_id, profile=profile, region=region,
        max_workers=max_workers, connect_timeout=connect_timeout, read_timeout=read_timeout,
        signing=SigningConfig(key=signing_key, cert=signing_cert, p12=signing_p12,
                              p12_password_env=p12_password_env, keys_dir=keys_dir, demo=demo),
    )
    with ExitStack() as stack:
        if demo:
            stack.enter_context(simulated_environment())
        checks = run_doctor(config)
    for check in checks:
        line = Text.assemble(("ok  " if check.ok else "FAIL", "green" if check.ok else "bold red"),
                             f"  {check.name}  {check.detail}")
        if check.fix and not check.ok:
            line.append(f"  -> {check.fix}")
        console.print(line, soft_wrap=True)
    failed = sum(1 for c in checks if not c.ok)
    console.print(f"{failed} of {len(checks)} checks failed." if failed else
                  f"All {len(checks)} checks passed.", highlight=False)
    raise typer.Exit(EXIT_PASS if all_passed(checks) else EXIT_FAIL)


@app.command(help=(
    "Serve the monthly audit deployment of prefect.yaml on its schedule until Ctrl-C.\n\n"
    "Prefect's flow.serve. Each run is a Prefect flow run named audit-<organization>-<YYYY-MM>, with its "
    "log and a summary artifact. Uses $PREFECT_API_URL, else a local Prefect server with its scheduler "
    "that lives as long as this command. The External ID is read from $ROLECALL_EXTERNAL_ID."))
def serve(
    prefect_yaml: Annotated[Path, typer.Option(
        "--prefect-yaml", help="The deployment file.")] = Path("prefect.yaml"),
    deployment: Annotated[str, typer.Option(
        "--deployment", help="Name of the deployment in --prefect-yaml.")] = "monthly",
    cron: Annotated[str | None, typer.Option(
        "--cron", help="Override the schedule (five cron fields, e.g. '0 6 1 * *').")] = None,
    timezone: Annotated[str | None, typer.Option(
        "--timezone", help="Override the schedule's IANA time zone, e.g. Europe/Berlin.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Override the runs folder of the deployment's parameters.")] = None,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Serve audits of the built-in simulated organization (127.0.0.1 only).")]
        = False,
) -> None:
    """Serve the monthly deployment (help above)."""
    from flows.prefect_api import prefect_api, wait_until_healthy

    overrides: dict[str, object] = {"out_dir": str(out)} if out else {}
    with ExitStack() as stack:
        # Before Prefect is imported (flows.deployment imports it), so that Prefect takes this
        # server and does not start an ephemeral one of its own, which has no scheduler.
        api_url = stack.enter_context(prefect_api(services=True))
        if demo:
            register = stack.enter_context(simulated_environment())
            overrides.update(simulated=True, exceptions_path=str(register),
                             endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        from flows.deployment import DeploymentError, load_deployment
        from flows.deployment import serve as serve_deployment
        from reports.keys import SigningKeyError

        try:
            served = load_deployment(prefect_yaml, deployment, cron=cron, timezone=timezone,
                                     overrides=overrides)
            served.config.signing_identity()
        except (DeploymentError, SigningKeyError) as error:
            _fail(str(error))
        _check_writable(served.config.out_dir)
        if not demo:
            _check_credentials(served.config.profile, served.config.region)
        if api_url:
            wait_until_healthy(api_url, float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
        console.print(f"Serving {served.name!r}: cron {served.cron!r} ({served.timezone}), runs into "
                      f"{served.config.out_dir}; Prefect API {os.environ.get('PREFECT_API_URL')}",
                      highlight=False, soft_wrap=True)
        serve_deployment(served)


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
    "signature.\n\nEvery signature is listed: who, which role (run signer, preparer, reviewer, "
    "management), when (the signer's clock, and the trusted time of its timestamp, checked to "
    "cover that signature), what it covers, and whether it was added after the report was "
    "signed (`rolecall attest`).\n\n"
    "A stored run, s3://BUCKET/PREFIX/RUN-ID, is checked in place the same way, "
    "plus that every object is under compliance-mode Object Lock and was written once.\n\n"
    "Exit 0 only when every check passes, 1 when one fails, 2 when --ca is not a readable "
    "certificate or there is no run to check."))
def verify(
    run: Annotated[str, typer.Argument(
        help="The run folder to check, or a stored run: s3://BUCKET/PREFIX/RUN-ID.")],
    ca: Annotated[Path | None, typer.Option(
        "--ca", help="CA (or the signer's own) certificate, PEM, that must vouch for the "
        "signer; without it the signer is reported as self-asserted.")] = None,
    tsa_ca: Annotated[Path | None, typer.Option(
        "--tsa-ca", help="Certificate, PEM, of the time-stamping authority that must vouch for "
        "every timestamp; without it the TSA's certificate in each token is self-asserted.")]
        = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="With s3://: AWS profile; default: the standard boto3 chain.")] = None,
    region: Annotated[str | None, typer.Option(
        "--region", help="With s3://: AWS region; default: the boto3 chain.")] = None,
) -> None:
    """Check a run folder or a stored run (see the command's help)."""
    from reports.evidence_store import EvidenceStoreError, is_s3_url, parse_s3_url, verify_stored_run
    from reports.verify import all_passed, verify_run

    _check_ca(ca)
    _check_ca(tsa_ca)
    if is_s3_url(run):
        try:
            location = parse_s3_url(run)
            checks = verify_stored_run(_s3_client(profile, region), location, ca,
                                       tsa_cert=tsa_ca)
        except EvidenceStoreError as error:
            _fail(str(error))
    elif Path(run).is_dir():
        checks = verify_run(Path(run), ca, tsa_ca)
    else:
        _fail(f"{run}: no such run folder (give a run folder or s3://BUCKET/PREFIX/RUN-ID)")
    _print_checks(checks)
    raise typer.Exit(EXIT_PASS if all_passed(checks) else EXIT_FAIL)


def _print_checks(checks: list[Check], failed_only: bool = False) -> None:
    for check in checks:
        if failed_only and check.ok:
            continue
        colour = "green" if check.ok else "red"
        console.print(f"[{colour}]{'PASS' if check.ok else 'FAIL'}[/{colour}]  {check.name}: "
                      f"{check.detail}", highlight=False, soft_wrap=True)


def _s3_client(profile: str | None, region: str | None) -> Any:
    """An S3 client from the standard boto3 chain, with the retries and timeouts of every client."""
    from botocore.exceptions import BotoCoreError

    from flows.sources.session import Limits, base_session
    from reports.evidence_store import EvidenceStoreError

    try:
        return base_session(profile, region).client("s3", config=Limits().config())
    except BotoCoreError as error:
        raise EvidenceStoreError(f"AWS configuration: {error}") from error


@app.command(help=(
    "Store a finished, signed run in S3 where it cannot be altered.\n\nEvery file under "
    "s3://BUCKET/PREFIX/RUN-ID with Object Lock retention in compliance mode, then read every "
    "object back and check its SHA-256 against the signed manifest.\n\n"
    "Refused, with nothing written: a bucket without Object Lock, a run that is not finished or "
    "does not verify, a run already stored at that prefix. Exit 0 when every object reads back "
    "as signed and locked, 1 when one does not, 2 when refused or S3 fails."))
def upload(
    run: Annotated[str, typer.Argument(help="Run id, 'latest', or a run folder's path.")],
    destination: Annotated[str, typer.Argument(
        help="s3://BUCKET/PREFIX: the run is stored under PREFIX/RUN-ID.")],
    runs: Annotated[Path, typer.Option(
        "--runs", "--out", help="Folder that holds the runs (audit's --out).")] = DEFAULT_RUNS,
    retention_days: RetentionDaysOption = DEFAULT_RETENTION_DAYS,
    ca: Annotated[Path | None, typer.Option(
        "--ca", help="CA certificate (PEM) that must vouch for the signer before uploading.")]
        = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="AWS profile; default: the standard boto3 chain.")] = None,
    region: Annotated[str | None, typer.Option(
        "--region", help="AWS region; default: the boto3 chain.")] = None,
) -> None:
    """Store a signed run under S3 Object Lock (see the command's help)."""
    from cli.query import QueryError, resolve_run
    from reports.evidence_store import EvidenceStoreError, parse_s3_url, upload_run

    _check_ca(ca)
    try:
        location = parse_s3_url(destination)
        run_dir = resolve_run(runs, run)
        stored = upload_run(_s3_client(profile, region), run_dir, location, retention_days, ca)
    except (EvidenceStoreError, QueryError) as error:
        _fail(str(error))
    _print_checks(stored.checks)
    _print_stored(stored)
    raise typer.Exit(EXIT_PASS if stored.ok else EXIT_FAIL)


def _print_stored(stored: StoredRun) -> None:
    if stored.ok:
        console.print(f"Stored {len(stored.checks)} objects at {stored.location.url}/, each read back "
                      f"as signed and locked (COMPLIANCE) until {stored.retain_until:%Y-%m-%d}. "
                      f"Check it any time: rolecall verify {stored.location.url}",
                      highlight=False, soft_wrap=True)
    else:
        failed = sum(not c.ok for c in stored.checks)
        err_console.print(Text.assemble(("error: ", "bold red"), (
            f"{failed} of {len(stored.checks)} objects at {stored.location.url}/ do not read back as "
            "signed and locked")), soft_wrap=True)


def _check_upload_destination(upload: str, profile: str | None, region: str | None) -> S3Location:
    """audit --upload: the URL parses and the bucket has Object Lock, found before collecting."""
    from reports.evidence_store import EvidenceStoreError, parse_s3_url, require_object_lock

    try:
        location = parse_s3_url(upload)
        require_object_lock(_s3_client(profile, region), location.bucket)
    except EvidenceStoreError as error:
        _fail(f"--upload: {error}")
    return location


def _upload_after_audit(run_dir: Path, destination: S3Location, retention_days: int,
                        profile: str | None, region: str | None, code: int) -> int:
    """The audit's own exit code when the run is stored and reads back; EXIT_UPLOAD_FAILED (the
    run stays signed on disk) when it is not, so a CI gate never takes missing evidence for 0."""
    from reports.evidence_store import EvidenceStoreError, upload_run

    try:
        stored = upload_run(_s3_client(profile, region), run_dir, destination, retention_days)
    except EvidenceStoreError as error:
        err_console.print(Text.assemble(("error: ", "bold red"), f"--upload: {error}"), soft_wrap=True)
        return EXIT_UPLOAD_FAILED
    _print_checks(stored.checks, failed_only=True)
    _print_stored(stored)
    return code if stored.ok else EXIT_UPLOAD_FAILED


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
    from reports.keys import DEFAULT_KEYS_DIR, KEYS_DIR_ENV, LEGACY_KEYS_DIR

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
        keys_dirs = [DEFAULT_KEYS_DIR, LEGACY_KEYS_DIR]
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
    asff = "asff"


@app.command(help=(
    "Export a run for other tools: Parquet files of every table, or OCSF Compliance Findings "
    "(the format AWS Security Hub and Prowler use).\n\nThe run folder itself is never written "
    "to; provenance.json ties the export to the signed run."))
def export(
    run: RunArgument = "latest",
    fmt: Annotated[ExportFormat, typer.Option(
        "--format", "-f", help="parquet: one <table>.parquet per snapshot table; ocsf: every "
        "control result as an OCSF Compliance Finding in findings.ocsf.json; asff: as AWS Security "
        "Finding Format in findings.asff.json (what `rolecall publish securityhub` sends).")]
        = ExportFormat.parquet,
    runs: Annotated[Path, typer.Option(
        "--runs", "--out", help="Folder that holds the runs (audit's --out).")] = DEFAULT_RUNS,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Folder to write into; default: data/exports/RUN-ID/FORMAT.",
        show_default=False)] = None,
    status: Annotated[list[str] | None, typer.Option(
        "--status", help="ocsf and asff: only results with these statuses (repeat, or comma-"
        "separated: fail,error); default: every result.", show_default=False)] = None,
) -> None:
    """Export a run for other tools (see the command's help)."""
    from checks.control import STATUSES

    statuses = _names(status)
    if statuses and (unknown := [s for s in statuses if s not in STATUSES]):
        _fail(f"--status {', '.join(unknown)}: unknown; known: {', '.join(STATUSES)}")
    if statuses and fmt is ExportFormat.parquet:
        _fail("--status filters findings: give it with --format ocsf or asff")
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
        elif fmt is ExportFormat.asff:
            from reports.asff import export_asff

            files = [target / "findings.asff.json"]
            what = f"{export_asff(snapshot_path, files[0], statuses)} ASFF findings"
        else:
            files = [target / "findings.ocsf.json"]
            what = f"{export_ocsf(snapshot_path, files[0], statuses)} OCSF Compliance Findings"
        provenance = write_provenance(run_dir, target, files, fmt.value, version("rolecall"), checked,
                                      statuses)
    except (ExportError, ProvenanceError, duckdb.Error, OSError) as error:
        _fail(f"the export failed: {error}")
    console.print(f"{what} of run {run_dir.name} written to {target}/ "
                  f"(hashes and source run in {provenance.name})", highlight=False, soft_wrap=True)


@app.command(help=(
    "Propose a way out for every IAM user of a run: what it is (person, workload, both, dormant, "
    "external dependency), what replaces it (an IAM Identity Center permission set, an IAM role "
    "whose trust passes rolecall's own controls, disable-then-delete, or keep until the "
    "exception expires), why, and when.\n\nWrites plan.csv and plan.md; the run folder is only "
    "read. Permissions an ACTIVE Access Analyzer UnusedPermission finding names unused are left "
    "out of the generated policies. --deep also asks IAM, today, for each user's service "
    "last-accessed details (two calls a user at best, within --deep-budget) and leaves out the "
    "services not used within the run's unused threshold.\n\nExit 0: written; 3: written, but "
    "the run could not see every account; 2: nothing written."))
def plan(
    run: RunArgument = "latest",
    runs: Annotated[Path, typer.Option(
        "--runs", help="Folder that holds the runs (audit's --out).")] = DEFAULT_RUNS,
    output: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Folder to write into; default: data/plans/RUN-ID.",
        show_default=False)] = None,
    deep: Annotated[bool, typer.Option(
        "--deep", help="Ask IAM for each user's service last-accessed details "
        "(GenerateServiceLastAccessedDetails) to narrow the generated policies.")] = False,
    deep_budget: Annotated[int, typer.Option(
        "--deep-budget", min=1, help="API calls --deep may make in all (AssumeRole, job, "
        "polls); users past it are named as skipped.")] = 200,
    role_name: RoleNameOption = DEFAULT_ROLE_NAME,
    external_id: ExternalIdOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Write a migration plan for a run's IAM users (see the command's help)."""
    from datetime import UTC, datetime

    from cli.query import QueryError, resolve_run
    from reports.export_provenance import ProvenanceError, snapshot_matches_manifest
    from reports.migration import facts
    from reports.migration.plan import make_plan
    from reports.migration.write import PlanWriteError, write_plan
    from store.snapshot import connect

    try:
        run_dir = resolve_run(runs, run)
    except QueryError as error:
        _fail(str(error))
    target = output or Path("data/plans") / run_dir.name
    try:
        snapshot_matches_manifest(run_dir)
        with connect(run_dir / "snapshot.duckdb", read_only=True) as con:
            run_facts = facts.load(con)
            (unseen,) = con.execute(
                "SELECT count(*) FROM accounts WHERE collected IS NOT TRUE").fetchone()
            (management,) = con.execute(
                "SELECT any_value(account_id) FROM accounts WHERE is_management").fetchone()
        today = datetime.now(UTC).date()
        migration = make_plan(run_facts, today)
        if deep:
            migration = _deep_plan(migration, management, role_name, external_id, profile,
                                   region, deep_budget)
        write_plan(migration, target)
    except (ProvenanceError, PlanWriteError, ValueError, duckdb.Error, OSError) as error:
        _fail(f"the plan failed: {error}")
    console.print(f"migration plan of {len(migration.entries)} IAM users of run {run_dir.name} "
                  f"written to {target}/ (plan.csv, plan.md)", highlight=False, soft_wrap=True)
    for note in migration.notes:
        console.print(note, highlight=False, soft_wrap=True)
    if unseen:
        err_console.print(f"INCOMPLETE RUN: {unseen} accounts were not fully collected; the plan "
                          "may miss some of their users", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INCOMPLETE)


def _deep_plan(migration: Any, management: str | None, role_name: str, external_id: str | None,
               profile: str | None, region: str | None, budget: int) -> Any:
    """The plan again, with IAM's service last-accessed details of the users that get
    generated permissions (riskiest first) in place of their Access Analyzer evidence."""
    from dataclasses import replace
    from datetime import UTC, datetime, time, timedelta

    from flows.last_accessed import fetch_last_accessed
    from flows.sources.session import base_session
    from reports.migration.plan import PERMISSION_TARGETS, make_plan
    from reports.migration.unused import from_last_accessed, with_deep

    run = migration.run
    wanted = [(e.user.account_id, e.user.arn) for e in migration.entries
              if e.target_kind in PERMISSION_TARGETS]
    result = fetch_last_accessed(base_session(profile, region), wanted,
                                 management_account_id=management, role_name=role_name,
                                 external_id=external_id, budget=budget)
    since = datetime.combine(migration.planned_on - timedelta(days=run.unused_credential_days),
                             time(0), UTC)
    skipped = set(result.skipped)
    users = tuple(replace(u, unused=with_deep(
        u.unused,
        from_last_accessed(f.job_id, list(f.services), since)
        if (f := result.found.get(u.arn)) else None,
        result.lacking.get(u.arn) or (f"past --deep-budget {budget}" if u.arn in skipped
                                      else None))) for u in run.users)
    note = (f"--deep: IAM service last-accessed details for {len(result.found)} of "
            f"{len(wanted)} users with generated permissions, {result.calls} of {budget} calls "
            f"spent; services not used since {since.date()} are left out.")
    if result.lacking:
        note += f" Lacking for {len(result.lacking)}: " + "; ".join(
            f"{arn} ({why})" for arn, why in result.lacking.items()) + "."
    if result.skipped:
        note += (f" Skipped for the budget ({len(result.skipped)}): "
                 + ", ".join(result.skipped) + ".")
    return make_plan(replace(run, users=users), migration.planned_on, (note,))


class RunsFormat(StrEnum):
    table = "table"
    json = "json"


@app.command(help=(
    "Render a finished run's report again from its snapshot, without collecting: scoped to one "
    "framework (--framework) and/or with the management's responses (--responses), signed as a "
    "new artifact of that run in RUN.reports/STAMP-SCOPE/ (the run itself is never written "
    "to). The run is verified first.\n\n"
    "Exit 0 when the report is written, 2 when not (the error says why)."))
def report(
    run: Annotated[Path, typer.Argument(help="The finished run folder.")],
    framework: Annotated[str | None, typer.Option(
        "--framework", help="Only this framework's chapter: one of `rolecall report --help`'s "
        "ids (cis-aws-3.0, nist-800-53-r5, soc2-2017, iso27001-2022, pci-dss-4.0.1).",
        show_default=False)] = None,
    responses: ResponsesOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for the new report folder; default: RUN.reports beside the run.",
        show_default=False)] = None,
    ca: Annotated[Path | None, typer.Option(
        "--ca", help="CA certificate the run's signatures must chain to.")] = None,
    signing_key: SigningKeyOption = None,
    signing_cert: SigningCertOption = None,
    signing_p12: SigningP12Option = None,
    p12_password_env: P12PasswordEnvOption = DEFAULT_P12_PASSWORD_ENV,
    keys_dir: KeysDirOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Render a run's report again (see the command's help)."""
    from checks.frameworks import FRAMEWORKS_BY_ID
    from flows.audit import tool_version
    from flows.derived_report import SourceRunError, render_derived_report
    from reports.keys import SigningKeyError

    if framework is not None and framework not in FRAMEWORKS_BY_ID:
        _fail(f"--framework {framework!r}: unknown; known: {', '.join(sorted(FRAMEWORKS_BY_ID))}")
    if not (run / "snapshot.duckdb").is_file():
        _fail(f"{run}: not a finished run folder (no snapshot.duckdb)")
    _check_ca(ca)
    loaded = _load_responses(responses)
    file_config, _ = _load_configuration(config_file)
    with duckdb.connect(str(run / "snapshot.duckdb"), read_only=True) as con:
        simulated = con.execute("SELECT bool_or(simulated) FROM run").fetchone()
    try:
        signing = _signing_config(file_config, key=signing_key, cert=signing_cert, p12=signing_p12,
                                  p12_password_env=p12_password_env, keys_dir=keys_dir,
                                  demo=bool(simulated and simulated[0]))
        identity = signing.identity()
        folder = render_derived_report(run, identity, tool_version=tool_version(),
                                       framework=framework, responses=loaded, out_root=out,
                                       ca_cert=ca, timestamper=signing.timestamper())
    except (SigningKeyError, SourceRunError) as error:
        _fail(str(error))
    console.print(f"Report written and signed: {folder / 'report.pdf'}\n"
                  f"Check it: rolecall verify {folder}", highlight=False, soft_wrap=True)


def _load_responses(path: Path | None) -> Any:
    """The management response file, checked before anything else runs (exit 2 when bad)."""
    if path is None:
        return None
    from reports.management_response import ResponseError, load_responses

    try:
        return load_responses(path)
    except ResponseError as error:
        _fail(str(error))


def _signing_config(file_config: Any, **given: Any) -> Any:
    """SigningConfig from the options, each option not given taken from the configuration
    file's [signing] section; a value it refuses is one line and exit 2."""
    from pydantic import ValidationError

    from reports.signing_config import SigningConfig

    section = file_config.signing if file_config is not None else None
    values = {k: v for k, v in given.items() if v is not None}
    if section is not None:
        for name in ("key", "cert", "p12", "p12_password_env", "tsa_url"):
            if values.get(name) is None and getattr(section, name) is not None:
                values[name] = getattr(section, name)
    if values.get("p12_password_env") == DEFAULT_P12_PASSWORD_ENV and section is not None \
            and section.p12_password_env:
        values["p12_password_env"] = section.p12_password_env
    try:
        return SigningConfig(**values)
    except ValidationError as error:
        first = error.errors()[0]
        _fail(f"signing: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        raise  # unreachable: _fail exits


class CatalogueFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


@app.command("controls", help=(
    "List the control catalogue without a run: id, guidance item, severity, title, what fails, "
    "the settings it reads, the framework requirements it maps to, and its home module."))
def controls_command(
    fmt: Annotated[CatalogueFormat, typer.Option("--format", "-f", help="Output format.")]
        = CatalogueFormat.table,
) -> None:
    """List the catalogue (see the command's help)."""
    import csv
    import json

    from checks.catalogue import CONTROLS, controls_markdown, home_of

    rows = [{
        "id": c.id, "guidance_item": c.guidance_item, "severity": c.severity, "title": c.title,
        "population": c.population, "fails_when": c.fails_when, "settings": list(c.settings),
        "requirements": [f"{r.framework} {r.id} ({r.coverage})" for r in c.requirements],
        "home": home_of(c),
    } for c in CONTROLS]
    if fmt is CatalogueFormat.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    elif fmt is CatalogueFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, "settings": " ".join(r["settings"]),
                          "requirements": "; ".join(r["requirements"])} for r in rows)
    elif fmt is CatalogueFormat.markdown:
        sys.stdout.write(controls_markdown() + "\n")
    else:
        table = Table(title=f"rolecall controls ({len(rows)})", title_justify="left")
        for name in ("control", "guidance", "severity", "title", "fails when"):
            table.add_column(Text(name), overflow="fold")
        for r in rows:
            table.add_row(*(Text(str(r[k])) for k in ("id", "guidance_item", "severity", "title",
                                                      "fails_when")))
        console.print(table)


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


from cli.signing_commands import register as _register_signing_commands  # noqa: E402

_register_signing_commands(app)  # rolecall attest, rolecall keys init

from cli.publish_command import publish_app  # noqa: E402

app.add_typer(publish_app, name="publish")  # rolecall publish securityhub

"""An audit run's progress as lines of its Prefect run log.

Prefect keeps those lines with the flow run, so the UI shows what a run did, and the CLI's
progress bar listens to the very same records: no callable has to travel as a flow parameter,
which a deployment could not serialise. The lines say what happened, never a secret: no
External ID, no key, no register content.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prefect.logging import get_run_logger

# The logger of Prefect's flow-run log lines (prefect/logging/logging.yml).
FLOW_RUN_LOGGER = "prefect.flow_runs"
_FIELD = "rolecall_progress"


@dataclass(frozen=True)
class AccountsProgress:
    """`done` of `total` accounts collected; `account_id` the last one ('' before the first)."""

    done: int
    total: int
    account_id: str = ""


def run_logger() -> logging.LoggerAdapter[Any]:
    """The current flow run's logger, at INFO at least: with PREFECT_LOGGING_LEVEL=WARNING
    (the CLI's default, to keep Prefect's own chatter off the console) Prefect would drop
    rolecall's lines before they reach the run log."""
    logger = logging.getLogger(FLOW_RUN_LOGGER)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    return get_run_logger()  # type: ignore[return-value]


def accounts(logger: logging.LoggerAdapter[Any], progress: AccountsProgress, detail: str = "") -> None:
    """One line per collected account (and one when the organization is listed)."""
    if progress.account_id:
        message = f"collected account {progress.account_id} ({progress.done} of {progress.total})"
    else:
        message = f"organization listed: {progress.total} accounts to collect"
    logger.info(message + (f": {detail}" if detail else ""), extra={_FIELD: progress})


@contextmanager
def listening(on_progress: Callable[[AccountsProgress], None]) -> Iterator[None]:
    """Call `on_progress` for every accounts-progress line logged in this process meanwhile."""

    class Listener(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            progress = getattr(record, _FIELD, None)
            if isinstance(progress, AccountsProgress):
                on_progress(progress)

    logger = logging.getLogger(FLOW_RUN_LOGGER)
    listener = Listener()
    logger.addHandler(listener)
    try:
        yield
    finally:
        logger.removeHandler(listener)

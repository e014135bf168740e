"""The IAM credential report: generate, wait, download, decode, and turn into rows.

One report answers, for every user of an account, password, MFA and both access keys' age
and last use in two API calls; it is what keeps collection under 30 calls per account.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ROOT_USER = "<root_account>"
_NOT_A_DATE = {"N/A", "not_supported", "no_information", ""}


class ReportNotReady(RuntimeError):
    """The report was still being generated when the wait ran out."""


@dataclass(frozen=True)
class Started:
    """The first GenerateCredentialReport's answer, and when it came (time.monotonic())."""

    state: str
    at: float


def start(iam: Any, *, clock: Callable[[], float] = time.monotonic) -> Started:
    """Ask for the report (one GenerateCredentialReport): AWS generates it while the account's
    other sources are read, and `fetch(iam, started=...)` then waits only for what is left."""
    return Started(iam.generate_credential_report()["State"], clock())


def fetch(
    iam: Any,
    *,
    started: Started | None = None,
    max_polls: int = 8,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str, datetime | None]:
    """Generate the report (or take `started`'s answer as the first poll), wait while it is
    STARTED/INPROGRESS, and download it. The first wait is 0.5 s from the first answer, so
    time already spent since `started` is not waited again; then 1 s, 2 s... up to 8 s."""
    delay = 0.5
    for poll in range(max_polls):
        if poll == 0 and started is not None:
            state, waited = started.state, clock() - started.at
        else:
            state, waited = iam.generate_credential_report()["State"], 0.0
        if state == "COMPLETE":
            break
        if delay > waited:
            sleep(delay - waited)
        delay = min(delay * 2, 8.0)
    else:
        raise ReportNotReady(f"credential report still not complete after {max_polls} polls")
    response = iam.get_credential_report()
    content = response["Content"]
    text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
    return text, response.get("GeneratedTime")


def parse(text: str, account_id: str, generated_time: datetime | None) -> list[dict[str, Any]]:
    """One row per user (and the root user when AWS includes it), typed."""
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    if not lines:
        return []
    header = next(csv.reader([lines[0]]))
    rows = []
    for line in lines[1:]:
        raw = dict(zip(header, fields(line, header), strict=True))
        rows.append(
            {
                "account_id": account_id,
                "user": raw["user"],
                "arn": raw["arn"],
                "user_creation_time": _date(raw.get("user_creation_time")),
                "password_enabled": _bool(raw.get("password_enabled")),
                "password_last_used": _date(raw.get("password_last_used")),
                "password_last_changed": _date(raw.get("password_last_changed")),
                "mfa_active": _bool(raw.get("mfa_active")),
                "access_key_1_active": _bool(raw.get("access_key_1_active")),
                "access_key_1_last_rotated": _date(raw.get("access_key_1_last_rotated")),
                "access_key_1_last_used_date": _date(raw.get("access_key_1_last_used_date")),
                "access_key_1_last_used_service": _text(
                    raw.get("access_key_1_last_used_service")
                ),
                "access_key_1_last_used_region": _text(
                    raw.get("access_key_1_last_used_region")
                ),
                "access_key_2_active": _bool(raw.get("access_key_2_active")),
                "access_key_2_last_rotated": _date(raw.get("access_key_2_last_rotated")),
                "access_key_2_last_used_date": _date(raw.get("access_key_2_last_used_date")),
                "access_key_2_last_used_service": _text(
                    raw.get("access_key_2_last_used_service")
                ),
                "access_key_2_last_used_region": _text(
                    raw.get("access_key_2_last_used_region")
                ),
                "cert_1_active": _bool(raw.get("cert_1_active")),
                "cert_2_active": _bool(raw.get("cert_2_active")),
                "generated_time": generated_time,
            }
        )
    return rows


def fields(line: str, header: list[str]) -> list[str]:
    """The fields of one report line, whether or not the writer quoted commas.

    IAM names may hold commas (user names: letters, digits and +=,.@_-; paths: any printable
    ASCII), and the report is not always quoted (moto's never is). Every column after `arn`
    is a flag, a date, a region or a service, none of which holds a comma, and neither user
    names nor paths hold a colon: so an unquoted line is split as the user, then the ARN from
    the first ",arn:", then the fixed columns, and the ARN must end with the user's name.
    """
    parsed = next(csv.reader([line]))
    if len(parsed) == len(header):
        return parsed
    fixed = len(header) - 2
    if header[:2] != ["user", "arn"] or len(parsed) < len(header):
        raise ValueError(
            f"credential report line has {len(parsed)} fields, its header {len(header)}: "
            f"{line[:120]!r}"
        )
    parts = line.split(",")
    user, found, arn = ",".join(parts[:-fixed]).partition(",arn:")
    arn = "arn:" + arn
    if not found or not (user == ROOT_USER or arn.endswith("/" + user)):
        raise ValueError(f"credential report line: cannot tell user from ARN in {line[:120]!r}")
    return [user, arn, *parts[-fixed:]]


def access_keys(report_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every access key the report knows of: a slot with a rotation date holds a key."""
    keys = []
    for row in report_rows:
        if row["user"] == ROOT_USER:
            continue
        for slot in (1, 2):
            last_rotated = row[f"access_key_{slot}_last_rotated"]
            if last_rotated is None:
                continue
            keys.append(
                {
                    "account_id": row["account_id"],
                    "user_name": row["user"],
                    "user_arn": row["arn"],
                    "key_slot": slot,
                    "access_key_id": None,
                    "active": row[f"access_key_{slot}_active"],
                    "last_rotated": last_rotated,
                    "last_used_date": row[f"access_key_{slot}_last_used_date"],
                    "last_used_service": row[f"access_key_{slot}_last_used_service"],
                    "last_used_region": row[f"access_key_{slot}_last_used_region"],
                    "resource_id": f"{row['arn']}/access_key_{slot}",
                }
            )
    return keys


def _bool(value: str | None) -> bool | None:
    if value in (None, "", "N/A", "not_supported"):
        return None
    return value.lower() == "true"


def _date(value: str | None) -> datetime | None:
    if value is None or value in _NOT_A_DATE:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _text(value: str | None) -> str | None:
    return None if value is None or value in _NOT_A_DATE else value

"""Trusted time: RFC 3161 timestamps from a time-stamping authority (TSA), and what verify checks.

A signature made with `--tsa-url` carries a signature-time-stamp token (PAdES B-T for the PDF, the
CMS unsigned attribute for manifest.json.p7s and attestations): the TSA signs the hash of the
signature value together with its own clock, so the time no longer rests on the signer's word.

A TSA that cannot be reached, refuses, or answers with junk is one TimestampError naming the URL;
callers make their signatures in memory or beside the target and only publish once every token is
in, so a failing TSA leaves nothing half-signed.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from asn1crypto import cms, tsp
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError

from reports.keys import SigningKeyError

TSA_TIMEOUT_SECONDS = 15
DIGEST = "sha256"


class TimestampError(SigningKeyError):
    """The time-stamping service gave no usable timestamp; the message names its URL."""


def check_tsa_url(url: str) -> str:
    """An http(s) URL without credentials: the URL is recorded in the run's configuration and in
    Prefect's database, where no secret may go."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise TimestampError("--tsa-url: the URL holds credentials, which would be stored with "
                             "the run; use a service that needs none")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TimestampError(f"--tsa-url {url!r}: give the http(s) URL of an RFC 3161 "
                             "time-stamping service")
    return url


def timestamper(url: str) -> HTTPTimeStamper:
    return HTTPTimeStamper(check_tsa_url(url), timeout=TSA_TIMEOUT_SECONDS)


def tsa_failure(url: str, exc: BaseException) -> TimestampError:
    """One line: which service, and the innermost reason (a refused connection, a bad reply)."""
    reasons = []
    cause: BaseException | None = exc
    while cause is not None and len(reasons) < 3:
        text = str(cause).strip() or type(cause).__name__
        if text not in reasons:
            reasons.append(text)
        cause = cause.__cause__ or cause.__context__
    reason = "; ".join(reasons).replace("\n", " ")
    return TimestampError(f"the time-stamping service {url} gave no timestamp ({reason}); "
                          "nothing was signed")


TSA_ERRORS = (TimestampRequestError, SigningError, OSError, ValueError)


def probe(url: str) -> None:
    """Ask the service for one timestamp now, so a wrong URL stops a run before any AWS call."""
    try:
        asyncio.run(timestamper(url).async_timestamp(hashlib.sha256(b"rolecall").digest(), DIGEST))
    except TimestampError:
        raise
    except TSA_ERRORS as exc:
        raise tsa_failure(url, exc) from exc


@dataclass(frozen=True)
class TokenFacts:
    """What a signature-time-stamp token says: the TSA's time and name, and whether its message
    imprint is the hash of the very signature it is attached to."""

    time: datetime
    tsa: str
    covers_signature: bool


def signature_token(signer_info: cms.SignerInfo) -> cms.SignedData | None:
    """The signature-time-stamp token of one signer, if it has one (RFC 3161 appendix A)."""
    attributes = signer_info["unsigned_attrs"]
    if not attributes:
        return None
    for attribute in attributes:
        if attribute["type"].native == "signature_time_stamp_token":
            return attribute["values"][0]["content"]
    return None


def token_facts(signer_info: cms.SignerInfo) -> TokenFacts | None:
    """Read the token of signer_info and compare its imprint with the signature value's hash
    ourselves, rather than trusting any one validator's reading of it."""
    token = signature_token(signer_info)
    if token is None:
        return None
    info = token["encap_content_info"]["content"].parsed
    if not isinstance(info, tsp.TSTInfo):
        raise ValueError("the signature-time-stamp token does not hold a TSTInfo")
    imprint = info["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    expected = hashlib.new(algorithm, signer_info["signature"].native).digest()
    tsa_name = info["tsa"]
    if tsa_name and tsa_name.name == "directory_name":
        name = tsa_name.chosen
        tsa = str(name.native.get("common_name") or name.human_friendly)
    else:
        tsa = str(tsa_name.native) if tsa_name else "unnamed TSA"
    return TokenFacts(
        time=info["gen_time"].native,
        tsa=tsa,
        covers_signature=imprint["hashed_message"].native == expected,
    )

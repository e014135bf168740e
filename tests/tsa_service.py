"""A local RFC 3161 time-stamping service on 127.0.0.1 for the trusted-time tests.

pyHanko's `DummyTimeStamper` (its own test TSA) answers the requests, served over real HTTP by
werkzeug, so the product's HTTP client (`HTTPTimeStamper`) is exercised end to end. A second
service, `lying_tsa`, forwards every request to an honest one after swapping the message imprint
for the hash of other bytes: it returns a genuine, validly signed token that covers the wrong data.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps import DummyTimeStamper
from werkzeug.serving import WSGIRequestHandler, make_server

TSA_CN = "rolecall test TSA"
CONTENT_TYPE = "application/timestamp-reply"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class TsaService:
    url: str
    cert_pem: Path  # the TSA's certificate, for a verifier that wants to anchor it


def make_tsa_certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A self-signed TSA certificate with the critical extendedKeyUsage timeStamping RFC 3161 wants."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TSA_CN)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def honest_tsa(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> WsgiApp:
    stamper = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=keys.PrivateKeyInfo.load(key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )),
    )

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        reply = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(reply)))])
        return [reply]

    return app


def lying_tsa(upstream_url: str) -> WsgiApp:
    """Answers each request with the upstream's token for sha256(b"other bytes"), same nonce."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request = tsp.TimeStampReq.load(body)
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        swapped = tsp.TimeStampReq({
            "version": request["version"],
            "message_imprint": tsp.MessageImprint({
                "hash_algorithm": imprint["hash_algorithm"],
                "hashed_message": hashlib.new(algorithm, b"other bytes").digest(),
            }),
            "nonce": request["nonce"],
            "cert_req": request["cert_req"],
        })
        reply = requests.post(upstream_url, data=swapped.dump(), timeout=10,
                              headers={"Content-Type": "application/timestamp-query"}).content
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(reply)))])
        return [reply]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """One log line per timestamp request would only be noise in a test's output."""


@contextmanager
def serving(app: WsgiApp) -> Iterator[str]:
    """Serve app on 127.0.0.1 (a free port) in a thread; yields its URL and stops it afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@contextmanager
def tsa_services(folder: Path) -> Iterator[tuple[TsaService, TsaService]]:
    """An honest TSA and a lying one in front of it, both on 127.0.0.1."""
    key, cert = make_tsa_certificate()
    cert_pem = folder / "tsa-cert.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with serving(honest_tsa(key, cert)) as honest_url, serving(lying_tsa(honest_url)) as lying_url:
        yield TsaService(honest_url, cert_pem), TsaService(lying_url, cert_pem)


def closed_port_url() -> str:
    """A 127.0.0.1 URL where nothing listens (the port was free a moment ago)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"

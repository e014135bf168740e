"""A fault-injecting HTTP proxy on 127.0.0.1, in front of the simulated organization (test utility).

boto3 is pointed at the proxy (AWS_ENDPOINT_URL); the proxy forwards each request unchanged to
the moto server and answers the requests a `Fault` matches with what AWS, a load balancer or a
dying endpoint would send instead: throttling, 5xx with an XML or a plain-text body, a truncated
body, AccessDenied, no answer at all (a hang), or, after `die_after` requests, nothing (the
listening socket is closed: connections are refused).

A request is matched on its SigV4 service, its operation (Action, X-Amz-Target or, for REST
services, the method and path matched against botocore's model) and the account it acts in.
The account comes from the access key of the Authorization header: the proxy reads every
AssumeRole it forwards (RoleArn in, AccessKeyId out), so it knows which account each assumed
role's key belongs to, as moto does; any other key is `default_account`'s (the caller's own).

Draws are seeded and keyed by (fault, account, operation, request body, occurrence), not by
arrival order, so concurrent collection gets the same faults in every run of a seed.
Bounded: at most `max_requests` requests and `max_faults` faults, and the proxy stops itself
after `max_seconds`; a hang lasts at most `hang_seconds` and ends when the proxy stops.
"""

from __future__ import annotations

import hashlib
import http.client
import random
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.session

KINDS = ("throttle", "5xx", "5xx-plain", "malformed", "deny", "hang")
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request")
_ASSUMED = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")
_ROLE_ACCOUNT = re.compile(r"^arn:[^:]+:iam::(\d{12}):role/")
# SigV4 signing name -> botocore model of the REST services the simulated organization serves
_REST_MODELS = {"access-analyzer": "accessanalyzer"}
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
               "transfer-encoding", "upgrade", "content-length", "server", "date"}


@dataclass(frozen=True)
class Fault:
    """What to answer instead of the real response, and to which requests.

    service: SigV4 signing name (iam, sts, organizations, sso, access-analyzer); None: any.
    operation: e.g. "GetAccountAuthorizationDetails"; None: any. account: 12 digits; None: any.
    rate: chance per matching request. times: at most this many (None: no limit of its own).
    """

    kind: str
    service: str | None = None
    operation: str | None = None
    account: str | None = None
    rate: float = 1.0
    times: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {KINDS}")

    def matches(self, call: Call) -> bool:
        return ((self.service is None or self.service == call.service)
                and (self.operation is None or self.operation == call.operation)
                and (self.account is None or self.account == call.account))


@dataclass(frozen=True)
class Call:
    """One request as the proxy understood it, and the fault it got (None: forwarded)."""

    service: str
    operation: str
    account: str
    fault: str | None = None


@dataclass
class FaultProxy:
    upstream: str
    faults: Sequence[Fault] = ()
    seed: int = 0
    default_account: str = "123456789012"
    die_after: int | None = None
    max_requests: int = 20_000
    max_faults: int = 5_000
    max_seconds: float = 180.0
    hang_seconds: float = 5.0
    calls: list[Call] = field(default_factory=list)
    _keys: dict[str, str] = field(default_factory=dict)
    _seen: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    _used: Counter[int] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _timer: threading.Timer | None = None

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "start the proxy first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def faulted(self, kind: str | None = None) -> list[Call]:
        """The calls that got a fault (of `kind`)."""
        with self._lock:
            return [c for c in self.calls if c.fault and (kind is None or c.fault == kind)]

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="fault-proxy").start()
        self._timer = threading.Timer(self.max_seconds, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Close the listening socket (connections are refused from now on); idempotent."""
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()  # wakes every hang
        if self._timer is not None:
            self._timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- deciding -------------------------------------------------------------------------------

    def decide(self, call: Call, body: bytes) -> str | None:
        """The fault for this request (None: forward it); 'die' once the endpoint must go."""
        with self._lock:
            count = len(self.calls)
            if count >= self.max_requests or (self.die_after is not None
                                              and count >= self.die_after):
                self.calls.append(Call(call.service, call.operation, call.account, "die"))
                return "die"
            chosen = None
            digest = hashlib.sha256(body).hexdigest()[:16]
            for index, fault in enumerate(self.faults):
                if not fault.matches(call):
                    continue
                key = (index, call.account, call.service, call.operation, digest)
                self._seen[key] += 1
                draw = random.Random(f"{self.seed}:{key}:{self._seen[key]}").random()
                if (draw < fault.rate and sum(self._used.values()) < self.max_faults
                        and (fault.times is None or self._used[index] < fault.times)):
                    self._used[index] += 1
                    chosen = fault.kind
                    break
            self.calls.append(Call(call.service, call.operation, call.account, chosen))
            return chosen

    def account_of(self, access_key: str) -> str:
        with self._lock:
            return self._keys.get(access_key, self.default_account)

    def learn(self, access_key: str, account: str) -> None:
        with self._lock:
            self._keys[access_key] = account


@contextmanager
def fault_proxy(upstream: str, faults: Sequence[Fault] = (), **options: Any
                ) -> Iterator[FaultProxy]:
    """A started proxy in front of `upstream`, stopped when the block ends."""
    proxy = FaultProxy(upstream, faults, **options).start()
    try:
        yield proxy
    finally:
        proxy.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hung handler must not hold up stop()


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.0"  # one request per connection: a dead proxy refuses the next

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET  # noqa: N815

    def _handle(self) -> None:
        proxy = self.owner
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        call, assumed = self._understand(body)
        kind = proxy.decide(call, body)
        if kind == "die":
            self.close_connection = True
            threading.Thread(target=proxy.stop, daemon=True).start()
            return  # no response: the client sees the connection closed
        if kind == "hang":
            proxy._stopped.wait(proxy.hang_seconds)
            self.close_connection = True
            return
        if kind in ("throttle", "5xx", "5xx-plain", "deny"):
            self._reply(*_error_response(kind, call, self._protocol(body)))
            return
        status, headers, payload = self._forward(body)
        if assumed and status == 200:
            match = _ASSUMED.search(payload.decode("utf-8", "replace"))
            if match:
                proxy.learn(match.group(1), assumed)
        if kind == "malformed":
            payload = payload[: max(1, len(payload) // 2)]
        self._reply(status, headers, payload)

    # --- understanding a request ----------------------------------------------------------------

    def _understand(self, body: bytes) -> tuple[Call, str | None]:
        """The call, and the account an AssumeRole goes into (None for other calls)."""
        scope = _SCOPE.search(self.headers.get("Authorization", ""))
        access_key, service = (scope.group(1), scope.group(2)) if scope else ("", "?")
        params = self._params(body)
        target = self.headers.get("X-Amz-Target")
        if target:
            operation = target.rsplit(".", 1)[-1]
        elif "Action" in params:
            operation = params["Action"]
        else:
            operation = _rest_operation(service, self.command, urlsplit(self.path).path)
        account = self.owner.account_of(access_key)
        assumed = None
        if operation == "AssumeRole":
            match = _ROLE_ACCOUNT.match(params.get("RoleArn", ""))
            if match:
                account = assumed = match.group(1)
        return Call(service, operation, account), assumed

    def _params(self, body: bytes) -> dict[str, str]:
        query = urlsplit(self.path).query
        if "x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            query = f"{query}&{body.decode('utf-8', 'replace')}"
        return {k: v[0] for k, v in parse_qs(query).items()}

    def _protocol(self, body: bytes) -> str:
        if self.headers.get("X-Amz-Target"):
            return "json"
        return "query" if "Action" in self._params(body) else "rest-json"

    # --- answering ------------------------------------------------------------------------------

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = urlsplit(self.owner.upstream)
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, kept, payload
        finally:
            connection.close()

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _error_response(kind: str, call: Call, protocol: str
                    ) -> tuple[int, list[tuple[str, str]], bytes]:
    """The status, headers and body AWS (or a load balancer in front of it) would send."""
    if kind == "5xx-plain":
        return 503, [("Content-Type", "text/plain")], b"Service Unavailable"
    if kind == "5xx":
        return 503, [("Content-Type", "text/xml")], (
            b"<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>"
            b"<Message>Service is unavailable, try again later</Message></Error>"
            b"<RequestId>fault-proxy</RequestId></ErrorResponse>")
    if kind == "throttle":
        status, code, message = 400, "Throttling", "Rate exceeded"
        if protocol != "query":
            status, code = (429 if protocol == "rest-json" else 400), "ThrottlingException"
    else:  # deny
        status, code = (403, "AccessDenied") if protocol == "query" else (
            403 if protocol == "rest-json" else 400, "AccessDeniedException")
        message = (f"User is not authorized to perform: {call.service}:{call.operation} "
                   f"in account {call.account} (fault proxy)")
    if protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>fault-proxy</RequestId>"
                f"</ErrorResponse>").encode()
        return status, [("Content-Type", "text/xml")], body
    body = f'{{"__type": "{code}", "message": "{message}"}}'.encode()
    content_type = "application/json" if protocol == "rest-json" else "application/x-amz-json-1.1"
    return status, [("Content-Type", content_type), ("x-amzn-ErrorType", code)], body


_REST_ROUTES: dict[str, list[tuple[str, re.Pattern[str], str]]] = {}
_ROUTES_LOCK = threading.Lock()


def _rest_operation(service: str, method: str, path: str) -> str:
    """The operation of a REST request, from botocore's model (its method and requestUri)."""
    model_name = _REST_MODELS.get(service)
    if model_name is None:
        return f"{method} {path}"
    with _ROUTES_LOCK:
        if model_name not in _REST_ROUTES:
            model = botocore.session.get_session().get_service_model(model_name)
            routes = []
            for name in model.operation_names:
                http = model.operation_model(name).http
                uri = http["requestUri"].split("?", 1)[0]
                pattern = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(uri))
                pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
                routes.append((http["method"], re.compile(f"^{pattern}/?$"), name))
            # literal paths first: /analyzer before /analyzer/{name}
            routes.sort(key=lambda r: (r[1].pattern.count("[^/]+"), -len(r[1].pattern)))
            _REST_ROUTES[model_name] = routes
    for route_method, pattern, name in _REST_ROUTES[model_name]:
        if route_method == method and pattern.match(path):
            return name
    return f"{method} {path}"


"""IAM Access Analyzer for the simulated organization: moto has none, so this layer answers it.

A small WSGI middleware in front of moto's app. Requests signed for the `access-analyzer`
service (the SigV4 credential scope of the Authorization header) are answered here; everything
else goes to moto. The collector in flows/sources/access_analyzer.py therefore runs unchanged,
over HTTP, exactly as against AWS, in the demo, in `rolecall simulate` and in the tests.

What the analyzers report is computed, at request time, from moto's current IAM state:
- ExternalAccess (ACCOUNT / ORGANIZATION analyzers): one finding per role and per AWS principal
  in an Allow statement of its trust policy that lies outside the analyzer's zone of trust (the
  account, or the organization's accounts); `*` is outside unless an ORGANIZATION analyzer sees
  it pinned with aws:PrincipalOrgID. Conditions do not suppress a finding (as in AWS: an
  ExternalId is shown in the finding's condition, not treated as closing access). Federated
  and Service principals give no finding here (a simplification the controls do not rely on).
- UnusedIAMUserAccessKey, UnusedIAMUserPassword, UnusedIAMRole (…_UNUSED_ACCESS analyzers):
  active keys never used or unused for more than UNUSED_DAYS, console passwords never used or
  unused that long, and roles older than UNUSED_DAYS not used within it (service-linked roles
  excluded), as the service's default 90-day tracking period does.
- UnusedPermission (…_UNUSED_ACCESS analyzers): moto keeps no service last-accessed data, so
  which services and actions a user has not used is given by the seeding code
  (`AnalyzerSetup.unused_permissions`, botocore's UnusedPermissionDetails, one per service).
Which analyzers exist, and which findings an archive rule archived, is Access Analyzer's own
state: `AnalyzerSetup`, given by the seeding code.

Every response body is validated against botocore's model of the operation's output shape
(what botocore's Stubber does) before it is serialized, so a response the real service could
not send fails loudly instead of teaching the collector something false.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from simulated.root_access import RootAccessLayer

UNUSED_DAYS = 90
SERVICE = "access-analyzer"
EXTERNAL_TYPES = ("ACCOUNT", "ORGANIZATION")
UNUSED_TYPES = ("ACCOUNT_UNUSED_ACCESS", "ORGANIZATION_UNUSED_ACCESS")
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_ACCOUNT_IN_ARN = re.compile(r"^arn:[^:]+:(?:iam|sts)::(\d{12}):")
_log = logging.getLogger(__name__)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class InvalidSimulatedResponse(ValueError):
    """A response that botocore's model of Access Analyzer says the service could not send."""


@dataclass(frozen=True)
class AnalyzerSpec:
    account_id: str
    name: str
    type: str
    status: str = "ACTIVE"


@dataclass
class AnalyzerSetup:
    """Access Analyzer's own state: its analyzers and the findings archive rules archived."""

    management_account_id: str
    organization_accounts: frozenset[str]
    analyzers: tuple[AnalyzerSpec, ...] = ()
    # (analyzer name, finding type, resource ARN) of archived findings
    archived: frozenset[tuple[str, str, str]] = frozenset()
    # user ARN -> its unusedPermissionDetails, one per service not (fully) used
    unused_permissions: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    region: str = "us-east-1"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def arn(self, spec: AnalyzerSpec) -> str:
        return f"arn:aws:access-analyzer:{self.region}:{spec.account_id}:analyzer/{spec.name}"


# --- responses checked against botocore's model ----------------------------------------------

_MODEL = botocore.session.get_session().get_service_model("accessanalyzer")


def output_shape(operation: str) -> Shape:
    shape = _MODEL.operation_model(operation).output_shape
    assert shape is not None
    return shape


def render(operation: str, body: dict[str, Any]) -> bytes:
    """The JSON body of `operation`'s response, refused unless it fits the output shape."""
    report = ParamValidator().validate(body, output_shape(operation))
    if report.has_errors():
        raise InvalidSimulatedResponse(f"{operation}: {report.generate_report()}")
    return json.dumps(body, default=_iso).encode()


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return _utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- findings computed from moto's IAM state --------------------------------------------------


def _iam(account_id: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["aws"]


def _trust(role: Any) -> dict[str, Any]:
    document = role.assume_role_policy_document
    if isinstance(document, str):
        document = json.loads(unquote(document) if document.startswith("%") else document)
    return document


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_account(principal: str) -> str:
    """The account of an AWS principal, or '*' for everyone."""
    if principal == "*":
        return "*"
    if re.fullmatch(r"\d{12}", principal):
        return principal
    match = _ACCOUNT_IN_ARN.match(principal)
    return match.group(1) if match else "*"


def _flat_conditions(statement: dict[str, Any]) -> dict[str, str]:
    """The statement's condition as Access Analyzer shows it: key -> value(s), as strings."""
    flat: dict[str, str] = {}
    for block in (statement.get("Condition") or {}).values():
        for key, value in block.items():
            flat[key] = ",".join(str(v) for v in _as_list(value))
    return flat


def _external_principals(
    document: dict[str, Any], zone: frozenset[str], organization: bool, organization_id: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    for statement in _as_list(document.get("Statement", [])):
        if statement.get("Effect") != "Allow" or not isinstance(statement.get("Principal"), dict):
            continue
        actions = [a.lower() for a in _as_list(statement.get("Action", []))]
        if not any(a in ("sts:assumerole", "sts:*", "*") for a in actions):
            continue
        for principal in _as_list(statement["Principal"].get("AWS", [])):
            account = _principal_account(str(principal))
            if account == "*" and organization:
                pins = {k.lower(): v for k, v in _flat_conditions(statement).items()}
                if pins.get("aws:principalorgid") == organization_id:
                    continue
            if account == "*" or account not in zone:
                yield str(principal), statement


def _finding(setup: AnalyzerSetup, spec: AnalyzerSpec, finding_type: str, resource: str,
             resource_type: str, owner: str, details: dict[str, Any] | list[dict[str, Any]],
             extra: str = "") -> dict:
    arn = setup.arn(spec)
    archived = (spec.name, finding_type, resource) in setup.archived
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}|{finding_type}|{resource}|{extra}")),
        "findingType": finding_type, "resource": resource, "resourceType": resource_type,
        "resourceOwnerAccount": owner, "status": "ARCHIVED" if archived else "ACTIVE",
        "createdAt": setup.created_at, "updatedAt": setup.created_at,
        "analyzedAt": setup.created_at, "_details": details,
    }


def _organization_id(setup: AnalyzerSetup) -> str:
    from moto.organizations.models import organizations_backends

    org = organizations_backends[setup.management_account_id]["aws"].org
    return org.id if org else ""


def findings_of(setup: AnalyzerSetup, spec: AnalyzerSpec, now: datetime) -> list[dict[str, Any]]:
    """Every finding the analyzer has now, with its details under the private key `_details`."""
    organization = spec.type.startswith("ORGANIZATION")
    zone = setup.organization_accounts if organization else frozenset({spec.account_id})
    found: list[dict[str, Any]] = []
    if spec.type in EXTERNAL_TYPES:
        organization_id = _organization_id(setup)
        for account in sorted(zone):
            for role in sorted(_iam(account).roles.values(), key=lambda r: r.arn):
                for principal, statement in _external_principals(
                    _trust(role), zone, organization, organization_id
                ):
                    condition = _flat_conditions(statement)
                    details = {"externalAccessDetails": {
                        "action": ["sts:AssumeRole"], "condition": condition,
                        "isPublic": principal == "*" and not condition,
                        "principal": {"AWS": principal},
                    }}
                    found.append(_finding(setup, spec, "ExternalAccess", role.arn,
                                          "AWS::IAM::Role", account, details, principal))
    if spec.type in UNUSED_TYPES:
        for account in sorted(zone):
            found.extend(_unused(setup, spec, account, now))
    return found


def _unused(setup: AnalyzerSetup, spec: AnalyzerSpec, account: str, now: datetime
            ) -> Iterable[dict[str, Any]]:
    limit = now - timedelta(days=UNUSED_DAYS)

    def stale(last: datetime | None) -> bool:
        return last is None or _utc(last) < limit

    iam = _iam(account)
    for user in sorted(iam.users.values(), key=lambda u: u.arn):
        for key in user.access_keys:
            last = key.last_used.timestamp if key.last_used else None
            if key.status == "Active" and stale(last):
                detail: dict[str, Any] = {"accessKeyId": key.access_key_id}
                if last:
                    detail["lastAccessed"] = _utc(last)
                yield _finding(setup, spec, "UnusedIAMUserAccessKey", user.arn, "AWS::IAM::User",
                               account, {"unusedIamUserAccessKeyDetails": detail},
                               key.access_key_id)
        if user.password and stale(user.password_last_used):
            yield _finding(setup, spec, "UnusedIAMUserPassword", user.arn, "AWS::IAM::User",
                           account, {"unusedIamUserPasswordDetails": {}})
        if unused := setup.unused_permissions.get(user.arn):
            yield _finding(setup, spec, "UnusedPermission", user.arn, "AWS::IAM::User", account,
                           [{"unusedPermissionDetails": d} for d in unused])
    for role in sorted(iam.roles.values(), key=lambda r: r.arn):
        if role.path.startswith("/aws-service-role/") or _utc(role.create_date) >= limit:
            continue
        if stale(role.last_used):
            yield _finding(setup, spec, "UnusedIAMRole", role.arn, "AWS::IAM::Role", account,
                           {"unusedIamRoleDetails": {}})


# --- the REST-JSON API ------------------------------------------------------------------------


class ServiceError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _page(items: list[dict[str, Any]], token: str | None, size: int) -> tuple[list, str | None]:
    start = int(token) if token and token.isdigit() else 0
    end = start + max(1, min(size, 1000))
    return items[start:end], (str(end) if end < len(items) else None)


class AccessAnalyzerLayer:
    """WSGI middleware: Access Analyzer requests answered from `setup`, the rest passed to moto."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]],
                 setup: AnalyzerSetup | None = None) -> None:
        self.app, self.setup = app, setup

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not scope or scope.group(3) != SERVICE:
            return self.app(environ, start_response)
        try:
            operation, body = self.answer(environ, scope.group(1))
            payload, status = render(operation, body), "200 OK"
            headers = [("Content-Type", "application/json")]
        except ServiceError as error:
            payload = json.dumps({"message": error.message}).encode()
            status = f"{error.status} {error.code}"
            headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.code)]
        except InvalidSimulatedResponse as error:
            _log.error("simulated Access Analyzer built an invalid response: %s", error)
            payload = json.dumps({"message": str(error)}).encode()
            status = "500 InvalidSimulatedResponse"
            headers = [("Content-Type", "application/json"),
                       ("x-amzn-ErrorType", "InvalidSimulatedResponse")]
        start_response(status, [*headers, ("Content-Length", str(len(payload)))])
        return [payload]

    def answer(self, environ: Environ, access_key: str) -> tuple[str, dict[str, Any]]:
        from moto.iam.models import get_account_id_from

        account = get_account_id_from(access_key)
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        setup = self.setup or AnalyzerSetup(account, frozenset({account}))
        mine = [a for a in setup.analyzers if a.account_id == account]
        if method == "GET" and path == "/analyzer":
            listed = [a for a in mine if a.type == query.get("type", a.type)]
            page, token = _page(
                [self._describe(setup, a) for a in listed], query.get("nextToken"),
                int(query.get("maxResults", 100)),
            )
            return "ListAnalyzers", {"analyzers": page, **({"nextToken": token} if token else {})}
        if method == "POST" and path == "/findingv2":
            request = json.loads(_read_body(environ) or b"{}")
            spec = self._analyzer(setup, mine, request.get("analyzerArn"))
            found = _filtered(findings_of(setup, spec, datetime.now(UTC)), request.get("filter"))
            page, token = _page(found, request.get("nextToken"), request.get("maxResults", 100))
            listed = [{k: v for k, v in f.items() if k != "_details"} for f in page]
            return "ListFindingsV2", {"findings": listed, **({"nextToken": token} if token else {})}
        if method == "GET" and path.startswith("/findingv2/"):
            spec = self._analyzer(setup, mine, query.get("analyzerArn"))
            finding_id = unquote(path.removeprefix("/findingv2/"))
            for finding in findings_of(setup, spec, datetime.now(UTC)):
                if finding["id"] == finding_id:
                    details = finding.pop("_details")
                    listed = details if isinstance(details, list) else [details]
                    return "GetFindingV2", {**finding, "findingDetails": listed}
            raise ServiceError(404, "ResourceNotFoundException", f"Finding {finding_id} not found")
        raise ServiceError(404, "UnknownOperationException",
                           f"the simulated Access Analyzer has no {method} {path}")

    @staticmethod
    def _describe(setup: AnalyzerSetup, spec: AnalyzerSpec) -> dict[str, Any]:
        described: dict[str, Any] = {
            "arn": setup.arn(spec), "name": spec.name, "type": spec.type,
            "createdAt": setup.created_at, "status": spec.status,
        }
        if spec.type in UNUSED_TYPES:
            described["configuration"] = {"unusedAccess": {"unusedAccessAge": UNUSED_DAYS}}
        return described

    @staticmethod
    def _analyzer(setup: AnalyzerSetup, mine: list[AnalyzerSpec], arn: str | None
                  ) -> AnalyzerSpec:
        for spec in mine:
            if setup.arn(spec) == arn:
                return spec
        raise ServiceError(404, "ResourceNotFoundException", f"Analyzer {arn} not found")


def _filtered(found: list[dict[str, Any]], criteria: dict[str, Any] | None) -> list[dict]:
    """The `eq` filters the simulation supports; anything else is refused, not ignored."""
    for key, criterion in (criteria or {}).items():
        if set(criterion) != {"eq"} or key not in (
            "findingType", "status", "resourceType", "resourceOwnerAccount", "resource"
        ):
            raise ServiceError(400, "ValidationException",
                               f"the simulated Access Analyzer cannot filter on {key} {criterion}")
        found = [f for f in found if f.get(key) in criterion["eq"]]
    return found


def _read_body(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def make_layered_server(host: str, port: int, layer_setup: AnalyzerSetup | None = None) -> Any:
    """A werkzeug server running moto's app behind the layers (Access Analyzer, then IAM's
    centralized root access, simulated/root_access.py), as ThreadedMotoServer builds it."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    moto_app = RootAccessLayer(DomainDispatcherApplication(create_backend_app))
    layer = AccessAnalyzerLayer(moto_app, layer_setup)
    server = make_server(host, port, layer, True, request_handler=MotoRequestHandler)
    server.layer = layer  # type: ignore[attr-defined]
    return server


class LayeredMotoServer(ThreadedMotoServer):
    """moto's ThreadedMotoServer with Access Analyzer answered by the layer; `layer.setup` is
    set once the organization is seeded."""

    def __init__(self, ip_address: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.layer: AccessAnalyzerLayer | None = None

    def _server_entry(self) -> None:
        self._server = make_layered_server(self._ip_address, self._port)
        self.layer = self._server.layer  # type: ignore[attr-defined]
        self._server_ready_event.set()
        self._server.serve_forever()

"""IAM centralized root access for the simulated organization: moto has none, so this layer answers it.

A WSGI middleware in front of moto's app, stacked under the Access Analyzer layer by
simulated/access_analyzer.py (`make_layered_server`). IAM query requests (SigV4 scope `iam`)
whose Action is one of the organization-features operations are answered here:
ListOrganizationsFeatures, Enable/DisableOrganizationsRootCredentialsManagement and
Enable/DisableOrganizationsRootSessions. GetAccountSummary is answered here too, from moto's
own summary plus the AccountPasswordPresent entry moto lacks. Everything else goes to moto.

The switch is the real API: `iam.enable_organizations_root_credentials_management()` from the
management account turns the feature on, `disable_...` off, as in AWS. AWS needs trusted access
for IAM in Organizations first and moto refuses iam.amazonaws.com as a service principal, so
here the first Enable stands for both, as the IAM console's one "Enable" button does; until
then ListOrganizationsFeatures refuses with ServiceAccessNotEnabledException, as AWS does
without trusted access. That is the built-in organization's default: the feature is off.

`set_root_credentials` is what a member's root credentials look like after the management
account's "delete root user credentials" task (or before it): password, access keys, MFA.

State lives on moto's own IAM backends (features on the management account's, the root password
beside moto's AccountMFAEnabled), so moto's reset clears it with everything else. Every body is
checked against botocore's model of the operation's output before it is sent.
"""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator

SERVICE = "iam"
FEATURES = ("RootCredentialsManagement", "RootSessions")
_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_TOGGLES = {
    "EnableOrganizationsRootCredentialsManagement": ("RootCredentialsManagement", True),
    "DisableOrganizationsRootCredentialsManagement": ("RootCredentialsManagement", False),
    "EnableOrganizationsRootSessions": ("RootSessions", True),
    "DisableOrganizationsRootSessions": ("RootSessions", False),
}
ANSWERED = ("ListOrganizationsFeatures", "GetAccountSummary", *_TOGGLES)
_log = logging.getLogger(__name__)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class InvalidSimulatedResponse(ValueError):
    """A response that botocore's model of IAM says the service could not send."""


class ServiceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class RootAccessState:
    """The organization's enabled features; `trusted` once trusted access for IAM is on."""

    trusted: bool = False
    enabled: set[str] = field(default_factory=set)


# --- state kept on moto's backends ------------------------------------------------------------


def _iam(account_id: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["aws"]


def state_of(management_account_id: str) -> RootAccessState:
    """The organization's state, kept on its management account's IAM backend."""
    backend = _iam(management_account_id)
    state = getattr(backend, "rolecall_root_access", None)
    if state is None:
        state = RootAccessState()
        backend.rolecall_root_access = state
    return state


def set_root_credentials(account_id: str, *, password: bool, access_keys: bool, mfa: bool) -> None:
    """Whether the account's root user has a password, access keys and an MFA device (as
    GetAccountSummary will say); all False is a root whose credentials were removed."""
    summary = _iam(account_id).account_summary
    summary._account_password_present = int(password)
    summary._account_access_keys_present = int(access_keys)
    summary._account_mfa_enabled = int(mfa)


def _summary_map(account_id: str) -> dict[str, int]:
    summary = _iam(account_id).account_summary
    # the simulated roots were signed into (MFA was set up on most): a password unless removed
    return {**summary.summary_map,
            "AccountPasswordPresent": getattr(summary, "_account_password_present", 1)}


def _organization(account_id: str) -> Any:
    """The organization the caller manages; refusals as IAM words them."""
    from moto.organizations.models import organizations_backends

    org = organizations_backends[account_id]["aws"].org
    if org is None:
        if account_id in organizations_backends.master_accounts:
            raise ServiceError("AccountNotManagementOrDelegatedAdministratorException",
                               "The request was rejected because the account making the request "
                               "is not the management account or delegated administrator account "
                               "for centralized root access.")
        raise ServiceError("OrganizationNotFoundException",
                           "The request was rejected because no organization is associated "
                           "with your account.")
    if org.feature_set != "ALL":
        raise ServiceError("OrganizationNotInAllFeaturesModeException",
                           "The request was rejected because your organization does not have "
                           "All features enabled.")
    return org


# --- the query API ----------------------------------------------------------------------------

_MODEL = botocore.session.get_session().get_service_model("iam")


def _output(operation: str) -> Shape:
    shape = _MODEL.operation_model(operation).output_shape
    assert shape is not None
    return shape


def render(operation: str, result: dict[str, Any]) -> bytes:
    """The XML body of `operation`'s response, refused unless it fits the output shape."""
    shape = _output(operation)
    report = ParamValidator().validate(result, shape)
    if report.has_errors():
        raise InvalidSimulatedResponse(f"{operation}: {report.generate_report()}")
    return (
        f'<{operation}Response xmlns="{_NAMESPACE}"><{operation}Result>'
        f"{_members(shape, result)}</{operation}Result>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    ).encode()


def _members(shape: Shape, value: dict[str, Any]) -> str:
    return "".join(f"<{name}>{_xml(shape.members[name], value[name])}</{name}>"  # type: ignore[attr-defined]
                   for name in shape.members if name in value)  # type: ignore[attr-defined]


def _xml(shape: Shape, value: Any) -> str:
    if shape.type_name == "structure":
        return _members(shape, value)
    if shape.type_name == "list":
        return "".join(f"<member>{_xml(shape.member, v)}</member>"  # type: ignore[attr-defined]
                       for v in value)
    if shape.type_name == "map":
        return "".join(f"<entry><key>{_xml(shape.key, k)}</key>"  # type: ignore[attr-defined]
                       f"<value>{_xml(shape.value, v)}</value></entry>"  # type: ignore[attr-defined]
                       for k, v in value.items())
    if shape.type_name == "boolean":
        return "true" if value else "false"
    return escape(str(value))


def _error(code: str, message: str) -> bytes:
    return (f'<ErrorResponse xmlns="{_NAMESPACE}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
            "</ErrorResponse>").encode()


class RootAccessLayer:
    """WSGI middleware: the organization-features operations and GetAccountSummary answered here,
    every other request passed to moto with its body intact."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not scope or scope.group(3) != SERVICE:
            return self.app(environ, start_response)
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        action = _action(environ, body)
        if action not in ANSWERED:
            return self.app(environ, start_response)
        try:
            payload, status = render(action, self.answer(action, scope.group(1))), "200 OK"
        except ServiceError as error:
            payload, status = _error(error.code, error.message), "400 Bad Request"
        except InvalidSimulatedResponse as error:
            _log.error("simulated IAM built an invalid response: %s", error)
            payload, status = _error("InternalFailure", str(error)), "500 Internal Server Error"
        start_response(status, [("Content-Type", "text/xml"),
                                ("Content-Length", str(len(payload)))])
        return [payload]

    def answer(self, action: str, access_key: str) -> dict[str, Any]:
        from moto.iam.models import get_account_id_from

        account = get_account_id_from(access_key)
        if action == "GetAccountSummary":
            return {"SummaryMap": _summary_map(account)}
        org = _organization(account)
        state = state_of(account)
        feature, on = _TOGGLES.get(action, ("", False))
        if feature and on:
            state.trusted = True  # the console's one "Enable" turns trusted access on too
        if not state.trusted:
            raise ServiceError("ServiceAccessNotEnabledException",
                               "The request was rejected because trusted access is not enabled "
                               "for IAM in Organizations.")
        if feature:
            state.enabled = state.enabled | {feature} if on else state.enabled - {feature}
        enabled = [f for f in FEATURES if f in state.enabled]
        return {"OrganizationId": org.id, "EnabledFeatures": enabled}


def _read_body(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _action(environ: Environ, body: bytes) -> str:
    """The query API's Action, from the form body or the query string."""
    for text in (body.decode("utf-8", "replace"), environ.get("QUERY_STRING", "")):
        found = parse_qs(text).get("Action")
        if found:
            return found[0]
    return ""

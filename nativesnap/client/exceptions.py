"""The client's exceptions: one base, one class per fault the API answers.

An API error carries what the server said: its message (from Nova's fault
body, ``{"itemNotFound": {"code": 404, "message": "..."}}``), the HTTP status,
the fault's name and the request id (header ``X-OpenStack-Request-Id``) to
look the request up in the service log.
"""

REQUEST_ID_HEADER = "X-OpenStack-Request-Id"


class ClientException(Exception):
    """Base of every error the client raises."""

    http_status = None

    def __init__(self, message, http_status=None, request_id=None,
                 fault_name=None, method=None, url=None):
        super().__init__(message)
        self.message = message
        if http_status is not None:
            self.http_status = http_status
        self.request_id = request_id
        self.fault_name = fault_name
        self.method = method
        self.url = url

    def __str__(self):
        text = self.message
        # The status only when the API said it (not for a lookup the client
        # made itself, such as a name that matches nothing).
        if self.http_status is not None and (self.url or self.request_id):
            text += f" (HTTP {self.http_status})"
        if self.request_id:
            text += f" (Request-ID: {self.request_id})"
        return text


# --- errors the API answers ---------------------------------------------------


class HttpError(ClientException):
    """The API answered with an error status."""


class BadRequest(HttpError):
    http_status = 400


class Unauthorized(HttpError):
    http_status = 401


class Forbidden(HttpError):
    http_status = 403


class NotFound(HttpError):
    http_status = 404


class MethodNotAllowed(HttpError):
    http_status = 405


class NotAcceptable(HttpError):
    http_status = 406


class Conflict(HttpError):
    http_status = 409


class RequestTooLarge(HttpError):
    http_status = 413


class UnsupportedMediaType(HttpError):
    http_status = 415


class ServerError(HttpError):
    """A 5xx the API has no more specific class for (500: computeFault)."""
    http_status = 500


class HTTPNotImplemented(ServerError):
    http_status = 501


class ServiceUnavailable(ServerError):
    http_status = 503


_BY_STATUS = {cls.http_status: cls for cls in (
    BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
    NotAcceptable, Conflict, RequestTooLarge, UnsupportedMediaType, ServerError,
    HTTPNotImplemented, ServiceUnavailable)}


def fault_message(response):
    """(fault name, message) of an error response; tolerant of other bodies."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and len(body) == 1:
        name, inner = next(iter(body.items()))
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return name, inner["message"]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        # keystone's and keystonemiddleware's error body.
        return None, str(body["error"].get("message") or body["error"])
    text = (response.text or "").strip()
    return None, text[:500] or (response.reason or f"HTTP {response.status_code}")


def from_response(response, method=None, url=None):
    """The typed exception for an error ``requests.Response``."""
    status = response.status_code
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else HttpError
    name, message = fault_message(response)
    return cls(message, http_status=status,
               request_id=response.headers.get(REQUEST_ID_HEADER),
               fault_name=name, method=method, url=url or response.url)


# --- errors of the client itself ----------------------------------------------


class ConnectionFailed(ClientException):
    """The API could not be reached (refused, timed out, TLS, no endpoint)."""


class AuthenticationFailed(ClientException):
    """The client could not obtain credentials (keystone, missing settings)."""


class UnsupportedVersion(ClientException):
    """No microversion both this client and the server support."""


class ResourceFailure(ClientException):
    """A resource that was waited for went to a failure status."""

    def __init__(self, message, resource=None):
        super().__init__(message)
        self.resource = resource


class WaitTimeout(ClientException):
    """A bounded wait ran out before the resource reached its status."""

    def __init__(self, message, resource=None):
        super().__init__(message)
        self.resource = resource


class NoUniqueMatch(ClientException):
    """A name matches several resources: use the id."""

"""The WSGI plumbing: requests, responses, faults, controller dispatch.

Modelled on Nova's API layer: a static route list maps to one controller per
resource; a handler declares the errors it expects (``expected_errors``) and
its success code (``response``); a NativesnapException becomes Nova's fault
body with the code it carries; anything unexpected becomes a 500 whose trace
is logged and never sent.
"""

import functools
import json
import time
import urllib.parse

from oslo_log import log as logging
from oslo_utils import uuidutils
import routes
import webob
import webob.dec
import webob.exc

from nativesnap.api import microversion
from nativesnap.api import validation
from nativesnap.conf import CONF
from nativesnap import context as ns_context
from nativesnap import exception

LOG = logging.getLogger(__name__)

JSON = "application/json"
# What json.dumps writes, without its check for circular references: a
# body is a tree of fresh dicts and lists, and a 1000-snapshot page pays
# about a tenth of its encoding for the check.
_ENCODE = json.JSONEncoder(check_circular=False).encode

# Nova's fault names, by HTTP code.
FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    500: "computeFault",
    501: "notImplemented",
    502: "badGateway",
    503: "serviceUnavailable",
}

# Codes any handler may answer without listing them: they come from the
# framework itself (validation, auth, microversions, body size, overload).
_FRAMEWORK_CODES = {400, 401, 403, 406, 413, 503}


class Request(webob.Request):
    """A request with nativesnap's attributes set by the middleware."""

    @property
    def context(self):
        return self.environ["nativesnap.context"]

    @property
    def api_version(self):
        return self.environ.get("nativesnap.api_version", microversion.MIN_VERSION)

    @property
    def request_id(self):
        return self.environ.get("nativesnap.request_id")

    def base_url(self):
        # Every item of a list asks for it (its links): work it out once.
        url = self.environ.get("nativesnap.base_url")
        if url is None:
            url = (CONF.api.public_endpoint or self.host_url).rstrip("/")
            self.environ["nativesnap.base_url"] = url
        return url

    def is_version(self, version):
        return self.api_version >= version


def fault_response(code, message, request=None, headers=None):
    name = FAULT_NAMES.get(code, "computeFault")
    body = json.dumps({name: {"code": code, "message": message}})
    response = webob.Response(status=code, content_type=JSON, charset="utf-8",
                              body=body.encode("utf-8"))
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def exception_response(exc):
    """The fault answer for a NativesnapException (its code, its message)."""
    headers = {}
    if exc.code == 401:
        headers["WWW-Authenticate"] = 'Token realm="nativesnap"'
    return fault_response(exc.code, exc.message, headers=headers)


def internal_error_response(request_id):
    return fault_response(500, "Unexpected error while handling the request; the "
                               f"service log has the details (request {request_id}).")


class ResponseObject:
    """What a handler returns when it needs a code or headers of its own."""

    def __init__(self, body=None, code=None, headers=None):
        self.body = body
        self.code = code
        self.headers = headers or {}


def response(code):
    """Decorator: the success code of a handler (200 unless said)."""
    def decorator(func):
        func.wsgi_code = code
        return func
    return decorator


def expected_errors(errors):
    """Decorator: the error codes a handler may answer.

    A NativesnapException with another code is a bug in the handler or below:
    it is logged with its trace and answered as a 500.
    """
    errors = {errors} if isinstance(errors, int) else set(errors)

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except exception.NativesnapException as e:
                if e.code in errors or e.code in _FRAMEWORK_CODES:
                    raise
                LOG.exception("Unexpected %d from %s", e.code, func.__qualname__)
                raise UnexpectedError() from e
        wrapper.expected_errors = errors
        return wrapper
    return decorator


class UnexpectedError(Exception):
    """Raised for an error a handler did not expect; answered as a 500."""


class Controller:
    """Base of the resource controllers."""

    #: Action name -> (method name, body schema), for POST .../action routes.
    actions = {}

    def dispatch_action(self, req, body, **kwargs):
        if not isinstance(body, dict) or len(body) != 1:
            raise exception.ValidationError(
                where="request body",
                reason="an action body is an object with exactly one key, the "
                       f"action: one of {', '.join(sorted(self.actions))}")
        name = next(iter(body))
        if name not in self.actions:
            raise exception.ValidationError(
                where="request body",
                reason=f"unknown action '{str(name)[:40]}'; this resource "
                       f"accepts: {', '.join(sorted(self.actions))}")
        method_name, schema = self.actions[name]
        validation.validate(schema, body)
        return getattr(self, method_name)(req, body=body, **kwargs)


class Resource:
    """Calls a controller method for a matched route and serialises the answer."""

    def __init__(self, controller):
        self.controller = controller

    def __call__(self, req, action, path_args):
        method = getattr(self.controller, action)
        # Path ids are UUIDs, but for those a controller describes in its
        # ``path_schemas`` (os-quota-sets' project id: keystone's are 32 hex
        # digits, noauth2's any name).
        schemas = getattr(self.controller, "path_schemas", {})
        for name, value in path_args.items():
            if name in schemas:
                validation.validate(schemas[name], value,
                                    where=f"path parameter {name}")
            else:
                path_args[name] = validation.check_uuid(name, value)
        kwargs = dict(path_args)
        if req.method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = parse_body(req)
        result = method(req, **kwargs)
        code = getattr(method, "wsgi_code", 200)
        headers = {}
        if isinstance(result, ResponseObject):
            code = result.code or code
            headers = result.headers
            result = result.body
        resp = webob.Response(status=code)
        if result is not None and code != 204:
            resp.content_type = JSON
            resp.charset = "utf-8"
            resp.body = _ENCODE(result).encode("utf-8")
        for key, value in headers.items():
            resp.headers[key] = value
        return resp


def parse_body(req):
    if not req.body:
        raise exception.ValidationError(
            where="request body", reason="the body is empty; send a JSON object")
    ctype = req.content_type
    if ctype and ctype != JSON:
        raise exception.ValidationError(
            where="Content-Type",
            reason=f"'{ctype[:60]}' is not supported; send application/json")
    try:
        body = json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise exception.ValidationError(
            where="request body", reason=f"the body is not valid JSON ({e})"
        ) from None
    check_no_surrogates(body)
    return body


def check_no_surrogates(value):
    """JSON's \\u escapes can spell a lone UTF-16 surrogate, which is no
    character: no database can store it. Refuse it as invalid input."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as e:
                raise exception.ValidationError(
                    where="request body",
                    reason=f"a string holds the unpaired UTF-16 surrogate "
                           f"{item[e.start]!a}; send text as valid Unicode"
                ) from None


def _check_url_text(req):
    """The path and query string must be UTF-8 once percent-decoded; webob
    would raise UnicodeDecodeError deep in a handler otherwise."""
    for where, read in (("URL path", lambda: req.path_info),
                        ("query string", lambda: req.GET)):
        try:
            read()
        except UnicodeDecodeError:
            raise exception.ValidationError(
                where=where, reason="it is not UTF-8 once percent-decoded"
            ) from None


def logged_path_qs(req):
    """The request's path and query string for the log, percent-encoded as
    received when they are not UTF-8 (webob's path_qs would raise)."""
    try:
        return req.path_qs
    except UnicodeDecodeError:
        raw = (req.environ.get("SCRIPT_NAME", "")
               + req.environ.get("PATH_INFO", "")).encode("latin-1")
        path = urllib.parse.quote(raw, safe="/:@!$&'()*+,;=-._~")
        query = req.environ.get("QUERY_STRING")
        return f"{path}?{query}" if query else path


class Router:
    """A static route list: (path, {method: (controller, action)}).

    A known path with another method answers 405 with an Allow header; an
    unknown path answers 404.
    """

    def __init__(self, route_list):
        self.mapper = routes.Mapper()
        self.mapper.explicit = True
        self.mapper.minimization = False
        self.routes = route_list
        # routes keeps match defaults as strings, so each route carries the
        # index of its handler table rather than the table itself.
        self._handlers = []
        for index, (path, methods) in enumerate(route_list):
            self._handlers.append(
                {m: (Resource(c), a) for m, (c, a) in methods.items()})
            self.mapper.connect(path, route_index=str(index))
            if path != "/":
                self.mapper.connect(path + "/", route_index=str(index))

    def __call__(self, req):
        path = req.path_info
        # routes anchors its patterns with "$", which also matches before a
        # final newline: "/v1/servers/\n" was the server listing. Every route
        # but "/" also takes a trailing "/", after which "$" is the very end.
        match = self.mapper.match(path + "/" if path.endswith("\n") else path)
        if match is None:
            raise exception.NotFound(
                f"No resource at {req.path_info[:200]}; see GET /v1 for the API.")
        handlers = self._handlers[int(match.pop("route_index"))]
        method = req.method
        if method == "HEAD" and "GET" in handlers:
            method = "GET"
        if method not in handlers:
            allowed = ", ".join(sorted(handlers))
            return fault_response(405, f"{req.method} is not allowed on this "
                                       f"resource; allowed: {allowed}.",
                                  headers={"Allow": allowed})
        resource, action = handlers[method]
        return resource(req, action, dict(match))


class APIApplication:
    """The complete application: request id, size limit, microversion, auth
    (noauth2 or keystone), routing, and the answer's common headers.

    ``public_paths`` answer without authentication; a path matching
    ``agent_paths`` (a compiled pattern whose named groups are passed on) is
    authenticated by ``agent_auth`` instead of ``auth``: the bare-metal
    agents, who hold their node's token and no user's."""

    def __init__(self, router, auth, public_paths, agent_paths=None,
                 agent_auth=None):
        self.router = router
        self.auth = auth
        self.public_paths = public_paths
        self.agent_paths = agent_paths
        self.agent_auth = agent_auth

    @webob.dec.wsgify(RequestClass=Request)
    def __call__(self, req):
        request_id = "req-" + uuidutils.generate_uuid()
        req.environ["nativesnap.request_id"] = request_id
        # oslo.log takes the context of its log lines from a thread-local that
        # the last context made in this thread set: start every request with an
        # anonymous one of its own, or a request refused before authentication
        # is logged with the identity and request id of the thread's last one.
        ns_context.RequestContext(request_id=request_id, overwrite=True)
        started = time.monotonic()
        version = None
        try:
            resp = self._handle(req)
            version = req.environ.get("nativesnap.api_version")
        except exception.NativesnapException as e:
            resp = exception_response(e)
            version = req.environ.get("nativesnap.api_version")
        except Exception:
            LOG.exception("Unexpected error handling %s %s (request %s)",
                          req.method, logged_path_qs(req).split("?")[0],
                          request_id)
            resp = internal_error_response(request_id)
        if microversion.is_compute_path(req.environ.get("PATH_INFO", "")):
            resp.headers.update(microversion.compute_headers())
        else:
            version = version or microversion.MIN_VERSION
            resp.headers[microversion.HEADER] = (
                f"{microversion.SERVICE_TYPE} {microversion.fmt(version)}")
            resp.headers["Vary"] = microversion.HEADER
        resp.headers["X-OpenStack-Request-Id"] = request_id
        duration_ms = (time.monotonic() - started) * 1000
        # Method, path, status, duration, request id; never headers (tokens).
        LOG.info('%s "%s %s" status: %s time: %.1f ms', request_id, req.method,
                 logged_path_qs(req)[:500], resp.status_code, duration_ms)
        return resp

    def _handle(self, req):
        limit = CONF.api.max_request_body_size
        if req.content_length is not None and req.content_length > limit:
            raise exception.RequestTooLarge(limit=limit)
        if req.method in ("POST", "PUT", "PATCH") and req.content_length is None:
            # Chunked bodies: read at most one byte past the limit.
            data = req.body_file.read(limit + 1)
            if len(data) > limit:
                raise exception.RequestTooLarge(limit=limit)
            req.body = data
        _check_url_text(req)
        if microversion.is_compute_path(req.environ.get("PATH_INFO", "")):
            # Nova's corner for Cinder: Nova's headers, not our negotiation.
            microversion.parse_compute_headers(req.headers)
        else:
            req.environ["nativesnap.api_version"] = microversion.parse_header(
                req.headers.get(microversion.HEADER))
        self._authenticate(req)
        try:
            return self.router(req)
        except UnexpectedError:
            return internal_error_response(req.request_id)

    def _authenticate(self, req):
        path = req.path_info
        if path.rstrip("/") in self.public_paths:
            return
        agent = self.agent_paths.match(path) if self.agent_paths else None
        if agent is not None and self.agent_auth is not None:
            req.environ["nativesnap.context"] = self.agent_auth(
                req, **agent.groupdict())
        else:
            req.environ["nativesnap.context"] = self.auth(req)

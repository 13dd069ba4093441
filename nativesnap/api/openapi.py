"""The OpenAPI 3.1 description of API v1, generated from the live route list
and the very schemas the handlers enforce, so it cannot drift from them."""

import copy

from nativesnap.api import microversion
from nativesnap.api.schemas import responses
from nativesnap import version

_FRAMEWORK_ERRORS = {
    400: "The request is malformed (body, query or header); nothing was changed.",
    401: "No valid X-Auth-Token.",
    403: "Policy does not allow this caller to do this.",
    406: "The requested microversion is not served.",
    413: "The body is larger than [api] max_request_body_size.",
    503: "The service is shutting down or its task queue is full.",
}
_ERROR_TEXT = {404: "No such resource visible to the caller.",
               405: "Method not allowed on this path.",
               409: "The resource's state does not allow this now (e.g. a task "
                    "is running on the server).",
               500: "Unexpected error; the service log has the details."}
_SUCCESS_TEXT = {200: "OK", 201: "Created", 202: "Accepted; the work continues "
                 "in the background", 204: "No content"}
# Operations a bare-metal agent calls: its node's token, no policy.
_AGENT_SECURITY = [{"agentToken": []}]
_AGENT_401 = ("No valid X-Agent-Token for this node (the same answer when the "
              "node is not enrolled).")


def _clean(schema):
    """JSON Schema 2020-12 is OpenAPI 3.1's dialect: copy it as it is."""
    return copy.deepcopy(schema)


def _query_parameters(schema):
    required = set(schema.get("required", ()))
    params = []
    for name, prop in sorted(schema.get("properties", {}).items()):
        param = {"name": name, "in": "query", "required": name in required}
        if prop.get("contentMediaType") == "application/json" and \
                "contentSchema" in prop:
            # A string holding JSON (e.g. delete_info): documented as what
            # the JSON must be, so clients and fuzzers send such JSON.
            param["content"] = {"application/json": {
                "schema": _clean(prop["contentSchema"])}}
            if prop.get("description"):
                param["description"] = prop["description"]
        else:
            param["schema"] = _clean(prop)
        params.append(param)
    return params


def _path_parameters(path, controller):
    """Each path parameter: a UUID, unless the controller says otherwise in
    its ``path_schemas`` (e.g. a project id)."""
    names = [part[1:-1] for part in path.split("/")
             if part.startswith("{") and part.endswith("}")]
    schemas = getattr(controller, "path_schemas", {})
    return [{"name": n, "in": "path", "required": True,
             "schema": _clean(schemas[n]) if n in schemas else
             {"type": "string", "format": "uuid"}} for n in names]


def _body_schema(controller, method_name, func):
    if method_name == "action" and controller.actions:
        schemas = [schema for _, schema in controller.actions.values()]
        return schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    return getattr(func, "body_schema", None)


def _operation(path, http_method, controller, method_name, public,
               agent=False):
    func = getattr(controller, method_name)
    op_name = f"{type(controller).__name__}.{method_name}"
    codes = getattr(func, "wsgi_codes", None) or (getattr(func, "wsgi_code", 200),)
    operation = {
        "operationId": f"{type(controller).__name__[:-len('Controller')]}_"
                       f"{method_name}".lower(),
        "summary": (func.__doc__ or op_name).strip().splitlines()[0],
        "parameters": _path_parameters(path, controller) + _query_parameters(
            getattr(func, "query_schema", {})),
        "responses": {},
    }
    texts = getattr(func, "success_texts", {})
    for code in codes:
        answer = {"description": texts.get(code) or _SUCCESS_TEXT.get(code,
                                                                      "OK")}
        schema = responses.BY_OPERATION.get((op_name, code))
        if schema is not None and code != 204:
            answer["content"] = {"application/json": {"schema": schema}}
        operation["responses"][str(code)] = answer
    # Every route parses the microversion header: a malformed one is a 400,
    # a version not served a 406, public routes included.
    errors = set(getattr(func, "expected_errors", ())) | {400, 406, 500}
    if agent:
        errors |= {401, 503}
    elif not public:
        errors |= {401, 403, 503}
    if http_method in ("POST", "PUT", "PATCH"):
        errors |= {400, 413}
    for code in sorted(errors):
        operation["responses"][str(code)] = {
            "description": (_AGENT_401 if agent and code == 401 else
                            _FRAMEWORK_ERRORS.get(code) or _ERROR_TEXT.get(
                                code, "Error")),
            "content": {"application/json": {"schema": responses.fault}},
        }
    body = _body_schema(controller, method_name, func)
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _clean(body)}}}
    if public:
        operation["security"] = []
    elif agent:
        operation["security"] = copy.deepcopy(_AGENT_SECURITY)
    return operation


def build(route_list, public_paths, agent_paths=None):
    """The document; ``agent_paths`` (a compiled pattern) matches the route
    templates a bare-metal agent calls with X-Agent-Token."""
    paths = {}
    for path, methods in route_list:
        public = path.rstrip("/") in public_paths
        agent = bool(agent_paths and agent_paths.match(path))
        item = {}
        for http_method, (controller, method_name) in sorted(methods.items()):
            item[http_method.lower()] = _operation(path, http_method, controller,
                                                   method_name, public, agent)
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "nativesnap API",
            "version": version.VERSION,
            "description": "Native VM snapshots as a first-class resource. "
                           f"Microversions {microversion.fmt(microversion.MIN_VERSION)}"
                           f"-{microversion.fmt(microversion.MAX_VERSION)} via the "
                           f"'{microversion.HEADER}: {microversion.SERVICE_TYPE} "
                           "1.N' header.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "components": {"securitySchemes": {
            "token": {
                "type": "apiKey", "in": "header", "name": "X-Auth-Token",
                "description": "noauth2: '<user>:<project>'; keystone: a "
                               "token."},
            "agentToken": {
                "type": "apiKey", "in": "header", "name": "X-Agent-Token",
                "description": "A bare-metal node's agent token, as enrolled "
                               "(heartbeats only)."}}},
        "security": [{"token": []}],
        "paths": paths,
    }

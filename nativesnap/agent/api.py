"""The agent's HTTP API: four routes, one token, JSON everywhere.

Why so small: the conductor is the only client, and everything the agent can
do destroys or discloses a whole disk, so the surface is kept to what the
conductor needs (docs/baremetal-agent.md):

    GET  /v1/status            version, busy, the root device (or why none)
    POST /v1/commands          start snapshot.stream_image / deploy.write_image
    GET  /v1/commands          the commands kept
    GET  /v1/commands/{id}     one command's status, progress, result, error

Every request, status included, must carry ``X-Agent-Token`` equal to the
token the agent was started with (compared in constant time); otherwise 401.
Errors are ``{"error": "..."}`` with 400, 401, 404, 405, 409 or 413. The
access log names method, path and status, never headers or bodies.
"""

import hmac
import json
import logging

import webob
import webob.exc

from nativesnap.agent import commands as agent_commands
from nativesnap.agent import rootdev

LOG = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
TOKEN_HEADER = "X-Agent-Token"


def json_response(status, body):
    response = webob.Response(status=status, content_type="application/json",
                              charset="utf-8")
    response.text = json.dumps(body)
    response.cache_control = "no-store"
    return response


def error(status, message):
    return json_response(status, {"error": message})


class AgentApp:
    """The WSGI application.

    ``runner`` is a :class:`~nativesnap.agent.commands.CommandRunner`;
    ``find_root_device()`` returns a :class:`~nativesnap.agent.rootdev.BlockDevice`
    or raises :class:`~nativesnap.agent.rootdev.RootDeviceError`.
    """

    def __init__(self, token, runner, find_root_device, version):
        if not token:
            raise ValueError("the agent token must not be empty")
        self._token = token.encode()
        self.runner = runner
        self.find_root_device = find_root_device
        self.version = version

    def __call__(self, environ, start_response):
        request = webob.Request(environ)
        try:
            response = self._dispatch(request)
        except Exception:
            LOG.exception("unexpected error on %s %s", request.method, request.path)
            response = error(500, "internal error (see the agent's log)")
        LOG.info("%s %s %s", request.method, request.path, response.status_code)
        return response(environ, start_response)

    def _authorised(self, request):
        given = request.headers.get(TOKEN_HEADER, "").encode()
        return hmac.compare_digest(given, self._token)

    def _dispatch(self, request):
        if not self._authorised(request):
            return error(401, f"missing or wrong {TOKEN_HEADER} header")
        parts = [p for p in request.path_info.split("/") if p]
        routes = {
            ("v1", "status"): {"GET": self.status},
            ("v1", "commands"): {"GET": self.list_commands,
                                 "POST": self.start_command},
        }
        if len(parts) == 3 and parts[:2] == ["v1", "commands"]:
            methods = {"GET": lambda req: self.show_command(req, parts[2])}
        else:
            methods = routes.get(tuple(parts))
        if methods is None:
            return error(404, f"no such resource: {request.path_info}")
        handler = methods.get(request.method)
        if handler is None:
            response = error(405, f"{request.method} is not allowed on "
                                  f"{request.path_info}")
            response.allow = sorted(methods)
            return response
        return handler(request)

    def status(self, request):
        body = {"version": self.version, "busy": self.runner.busy,
                "root_device": None}
        try:
            body["root_device"] = self.find_root_device().as_dict()
        except rootdev.RootDeviceError as exc:
            body["root_device_error"] = str(exc)
        return json_response(200, body)

    def list_commands(self, request):
        return json_response(200, {"commands": [c.as_dict()
                                                for c in self.runner.list()]})

    def show_command(self, request, command_id):
        command = self.runner.get(command_id)
        if command is None:
            return error(404, f"no such command: {command_id}")
        return json_response(200, command.as_dict())

    def start_command(self, request):
        length = request.content_length
        if length is not None and length > MAX_BODY:
            return error(413, f"the body is larger than {MAX_BODY} bytes")
        raw = request.body_file.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return error(413, f"the body is larger than {MAX_BODY} bytes")
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return error(400, f"the body is not valid JSON: {exc}")
        try:
            name, params = agent_commands.validate(body)
        except agent_commands.InvalidRequest as exc:
            return error(400, str(exc))
        try:
            started = self.runner.start(name, params)
        except agent_commands.Busy as exc:
            return error(409, str(exc))
        response = json_response(202, started)
        response.location = f"/v1/commands/{started['id']}"
        return response

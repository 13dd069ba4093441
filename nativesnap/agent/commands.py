"""Command requests: their JSON Schemas and the runner that executes them.

Why one command at a time: both commands own the whole root disk (one reads
it end to end, the other overwrites it), so a second one while the first runs
is refused (409) rather than queued; the conductor retries or waits. Commands
run in a background thread so the HTTP request answers at once (202) and the
conductor polls ``GET /v1/commands/{id}``; the last few finished commands are
kept for that poll (``keep``), older ones are forgotten.

Why validation is strict and quiet: the parameters carry a WebDAV password.
Unknown keys are refused (a typo must not silently drop an option), URLs must
be plain http(s) without credentials in them (credentials travel in their own
fields, never in a URL that ends up in a log), and no error message or
command record ever contains a password.
"""

import itertools
import logging
import threading
import time
import urllib.parse
import uuid

import jsonschema

LOG = logging.getLogger(__name__)

STREAM_IMAGE = "snapshot.stream_image"
WRITE_IMAGE = "deploy.write_image"

_URL = {"type": "string", "minLength": 8, "maxLength": 2048,
        "pattern": "^https?://"}
_CREDENTIALS = {
    "username": {"type": "string", "minLength": 1, "maxLength": 255},
    "password": {"type": "string", "maxLength": 1024},
}
PARAMS_SCHEMAS = {
    STREAM_IMAGE: {
        "type": "object",
        "properties": {"url": _URL, **_CREDENTIALS,
                       "image_name": {"type": "string", "minLength": 1,
                                      "maxLength": 255}},
        "required": ["url", "image_name"],
        "dependentRequired": {"password": ["username"]},
        "additionalProperties": False,
    },
    WRITE_IMAGE: {
        "type": "object",
        "properties": {"url": _URL, **_CREDENTIALS,
                       "expected_sha256": {"type": "string",
                                           "pattern": "^[0-9a-fA-F]{64}$"}},
        "required": ["url"],
        "dependentRequired": {"password": ["username"]},
        "additionalProperties": False,
    },
}
REQUEST_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "enum": sorted(PARAMS_SCHEMAS)},
                   "params": {"type": "object"}},
    "required": ["name", "params"],
    "additionalProperties": False,
}
SENSITIVE = frozenset({"password"})


class InvalidRequest(ValueError):
    """The request body is not a valid command (its message is safe to
    return to the client and to log)."""


class Busy(Exception):
    """A command is already running."""


def _describe(error, prefix):
    path = ".".join(str(p) for p in error.absolute_path)
    where = f"{prefix}.{path}" if path else prefix
    if SENSITIVE & {str(p) for p in error.absolute_path}:
        # jsonschema's own message quotes the offending value.
        return f"invalid {where}: fails '{error.validator}' ({error.validator_value!r})"
    return f"invalid {where}: {error.message}"


def _check_url(url):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("params.url must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest("params.url must not contain credentials; "
                             "use params.username and params.password")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidRequest("params.url must not contain whitespace or control characters")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise InvalidRequest(f"params.url has an invalid port: {exc}") from None


def validate(body):
    """Check a ``POST /v1/commands`` body; return ``(name, params)`` or
    raise :class:`InvalidRequest`."""
    validator = jsonschema.Draft202012Validator(REQUEST_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is not None:
        raise InvalidRequest(_describe(error, "body"))
    name, params = body["name"], body["params"]
    validator = jsonschema.Draft202012Validator(PARAMS_SCHEMAS[name])
    error = jsonschema.exceptions.best_match(validator.iter_errors(params))
    if error is not None:
        raise InvalidRequest(_describe(error, "params"))
    _check_url(params["url"])
    return name, params


class Command:
    """One command's record, as ``GET /v1/commands/{id}`` shows it."""

    def __init__(self, name):
        self.id = str(uuid.uuid4())
        self.name = name
        self.status = "running"
        self.progress = 0
        self.result = None
        self.error = None
        self.started_at = time.time()
        self.finished_at = None

    def set_progress(self, percent):
        self.progress = max(self.progress, min(99, int(percent)))

    def as_dict(self):
        return {"id": self.id, "name": self.name, "status": self.status,
                "progress": self.progress, "result": self.result,
                "error": self.error}


class CommandRunner:
    """Runs at most one command at a time in a background thread.

    ``handlers`` maps a command name to ``handler(params, command)`` which
    returns the result dict or raises; ``command.set_progress(percent)``
    reports progress.
    """

    def __init__(self, handlers, keep=10):
        self._handlers = handlers
        self._keep = keep
        self._lock = threading.Lock()
        self._commands = {}       # id -> Command, oldest first
        self._running = None
        self._counter = itertools.count(1)

    @property
    def busy(self):
        return self._running is not None

    def get(self, command_id):
        with self._lock:
            return self._commands.get(command_id)

    def list(self):
        with self._lock:
            return list(self._commands.values())

    def start(self, name, params):
        """Start command ``name``; return its record as it was at the start
        (the thread may already have moved it on). Raises :class:`Busy`."""
        with self._lock:
            if self._running is not None:
                raise Busy(f"command {self._running.id} ({self._running.name}) "
                           "is still running")
            command = Command(name)
            self._running = command
            self._commands[command.id] = command
            finished = [c for c in self._commands.values() if c.status != "running"]
            for old in finished[:max(0, len(self._commands) - self._keep)]:
                del self._commands[old.id]
        started = command.as_dict()
        thread = threading.Thread(target=self._run, args=(command, params),
                                  name=f"command-{next(self._counter)}",
                                  daemon=True)
        thread.start()
        return started

    def _run(self, command, params):
        LOG.info("command %s (%s) started", command.id, command.name)
        try:
            result = self._handlers[command.name](params, command)
        except Exception as exc:
            LOG.error("command %s (%s) failed: %s", command.id, command.name, exc)
            LOG.debug("command %s traceback", command.id, exc_info=True)
            command.error = str(exc) or exc.__class__.__name__
            command.status = "failed"
        else:
            command.result = result
            command.progress = 100
            command.status = "succeeded"
            LOG.info("command %s (%s) succeeded", command.id, command.name)
        finally:
            command.finished_at = time.time()
            with self._lock:
                self._running = None

    def wait_idle(self, timeout):
        """Wait (bounded) for the running command to end; True if idle."""
        deadline = time.monotonic() + timeout
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.busy

"""Run the ``nativesnap`` and ``openstack`` commands as a user would: a
subprocess of the venv's console script, configured by the environment only,
every run bounded."""

import atexit
import json
import os
import shutil
import subprocess
import tempfile

from tests import fixtures

# The API's [api] max_limit in these tests (client_fixtures.client_api): every
# listing longer than this comes in several pages that the client must follow.
PAGE_SIZE = 3

NATIVESNAP = os.path.join(fixtures.BIN, "nativesnap")
OPENSTACK = os.path.join(fixtures.BIN, "openstack")

# A HOME of its own: no clouds.yaml or shell settings of the machine leak in.
_HOME = tempfile.mkdtemp(prefix="nativesnap-cli-home-")
atexit.register(shutil.rmtree, _HOME, True)


def clean_env(**extra):
    """The environment of a CLI run: no NATIVESNAP_*/OS_* of the caller."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NATIVESNAP_", "OS_"))}
    env.update(HOME=_HOME, LC_ALL="C.UTF-8", COLUMNS="200")
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def run(api, *args, token, timeout=120, env=None, url=None):
    """``nativesnap ARGS`` against ``api`` with NATIVESNAP_URL/TOKEN."""
    environ = clean_env(NATIVESNAP_URL=url or (api.url if api else None),
                        NATIVESNAP_TOKEN=token, **(env or {}))
    return subprocess.run([NATIVESNAP, *args], capture_output=True, text=True,
                          timeout=timeout, env=environ, stdin=subprocess.DEVNULL)


def ok(result):
    """stdout of a run that must exit 0."""
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout: {result.stdout}\n"
        f"stderr: {result.stderr}")
    return result.stdout


def ok_json(result):
    return json.loads(ok(result))


def fails(result, *words):
    """A run that must exit 1 with every one of ``words`` on stderr; stderr."""
    assert result.returncode == 1, (
        f"exit {result.returncode}\nstdout: {result.stdout}\n"
        f"stderr: {result.stderr}")
    for word in words:
        assert word.lower() in result.stderr.lower(), (word, result.stderr)
    return result.stderr


def openstack(api, *args, token, timeout=120):
    """``openstack --os-endpoint URL --os-token TOKEN ARGS`` (noauth2 through
    keystoneauth's admin_token plugin, which openstackclient picks when it is
    given an endpoint and a token)."""
    return subprocess.run(
        [OPENSTACK, "--os-endpoint", api.url, "--os-token", token, *args],
        capture_output=True, text=True, timeout=timeout, env=clean_env(),
        stdin=subprocess.DEVNULL)


class IdentityStub:
    """A minimal keystone v3 on 127.0.0.1 for the CLI's OS_* path: version
    discovery and POST /v3/auth/tokens for one user, answering a token whose
    catalog has the ``snapshot`` service at ``endpoint``. The token it issues
    is a noauth2 token (``user:project``), so a noauth2 nativesnap-api
    accepts it. It records the password requests it got."""

    def __init__(self, endpoint, token, username="demo", password="secret"):
        import http.server
        import threading

        stub = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(200, {"version": stub.version()})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append(body)
                user = body["auth"]["identity"]["password"]["user"]
                if (user.get("name"), user.get("password")) != (username,
                                                                password):
                    self._send(401, {"error": {"code": 401,
                                               "message": "wrong password"}})
                    return
                self._send(201, stub.token_body(),
                           [("X-Subject-Token", token)])

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v3"
        self.endpoint = endpoint
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    def version(self):
        return {"id": "v3.14", "status": "stable",
                "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": self.url + "/"}],
                "media-types": [{
                    "base": "application/json",
                    "type": "application/vnd.openstack.identity-v3+json"}]}

    def token_body(self):
        domain = {"id": "default", "name": "Default"}
        return {"token": {
            "methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
            "issued_at": "2026-01-01T00:00:00.000000Z",
            "user": {"id": "u-demo", "name": "demo", "domain": domain},
            "project": {"id": "p-demo", "name": "demo", "domain": domain},
            "roles": [{"id": "r-admin", "name": "admin"}],
            "catalog": [{"type": "snapshot", "name": "nativesnap", "id": "svc",
                         "endpoints": [{"id": "ep", "interface": "public",
                                        "region": "RegionOne",
                                        "region_id": "RegionOne",
                                        "url": self.endpoint}]}]}}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

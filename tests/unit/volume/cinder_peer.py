"""A scripted stand-in for Cinder (and, for one answer, Keystone) in this
process, for the unit tests of nativesnap/volume/cinder.py: a stdlib HTTP server
that answers from a script, one step per request, and records what it was sent."""

import http.server
import json
import threading

from oslo_config import cfg

from nativesnap.conf import cinder as cinder_conf
from nativesnap.volume import cinder


SNAPSHOT_ID = "6f1c7f76-2d0e-4f43-9a57-2a1a4b3b8e01"
VOLUME_ID = "0b8e9b0c-5d8c-4f0a-a1f9-54b0f4b2f1aa"
PROJECT = "0a1b2c3d4e5f"
SECRET_TOKEN = "s3cr3t-admin-token-4f9d"
WAIT = 15  # bound of every wait; never reached when the code works

# Steps of the scripted peer, one per request.
DROP = ("drop",)  # read the request, close the connection without an answer


def answer(status, body=None, delay=None, headers=None):
    return ("answer", status, body, delay, headers or {})


ACCEPTED = answer(202)


class Peer(http.server.ThreadingHTTPServer):
    """Answers requests from ``script`` in order (the last step repeats) and
    records each one: method, path, headers, JSON body."""

    daemon_threads = True

    def __init__(self, script):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script)
        self.seen = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends every delayed answer early
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def next_step(self, record):
        with self.lock:
            self.seen.append(record)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # the test output stays readable
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        record = {"method": self.command, "path": self.path,
                  "headers": dict(self.headers),
                  "body": json.loads(raw) if raw else None}
        step = self.server.next_step(record)
        if step[0] == "drop":
            self.close_connection = True
            return
        _, status, body, delay, headers = step
        if delay:
            self.server.release.wait(delay)
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _handle


def make_conf(tmp_path, **options):
    """A ConfigOpts with [cinder] registered, read from a file as the services
    read theirs (auth plugin options only exist once a plugin is loaded, so
    they cannot be set as overrides)."""
    path = tmp_path / "nativesnap.conf"
    lines = ["[cinder]"] + [f"{key} = {value}" for key, value in options.items()]
    path.write_text("\n".join(lines) + "\n")
    conf = cfg.ConfigOpts()
    cinder_conf.register_opts(conf)
    conf([], project="nativesnap", default_config_files=[str(path)],
         default_config_dirs=[])
    return conf


def noauth_api(tmp_path, peer, **options):
    settings = {"auth_type": "noauth", "user_id": "nativesnap",
                "endpoint": f"{peer.url}/v3",
                "endpoint_template": f"{peer.url}/v3/%(project_id)s",
                "http_retry_delay": "0.01", "timeout": "5"}
    settings.update(options)
    return cinder.CinderAPI(make_conf(tmp_path, **settings))


def token_api(tmp_path, peer, **options):
    settings = {"auth_type": "admin_token", "token": SECRET_TOKEN,
                "endpoint": f"{peer.url}/v3",
                "endpoint_template": f"{peer.url}/v3/%(project_id)s",
                "http_retry_delay": "0.01", "timeout": "5"}
    settings.update(options)
    return cinder.CinderAPI(make_conf(tmp_path, **settings))


# --- configuration -------------------------------------------------------------


def keystone_token(cinder_url, project):
    return {"token": {
        "methods": ["password"], "expires_at": "2999-01-01T00:00:00.000000Z",
        "issued_at": "2024-01-01T00:00:00.000000Z",
        "user": {"id": "u1", "name": "nativesnap",
                 "domain": {"id": "default", "name": "Default"}},
        "project": {"id": project, "name": "service",
                    "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": "r1", "name": "admin"}],
        "catalog": [{"type": "volumev3", "name": "cinderv3", "id": "c1",
                     "endpoints": [{"id": "e1", "interface": "internal",
                                    "region": "RegionOne", "region_id": "RegionOne",
                                    "url": f"{cinder_url}/v3/{project}"}]}]}}

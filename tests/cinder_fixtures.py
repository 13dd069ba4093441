"""pytest plugin: a real cinder-api, the peer nativesnap calls back.

Use it from a test module with::

    pytest_plugins = ["tests.cinder_fixtures"]

Fixture:
  cinder  (session) Cinder's own ``cinder-api`` (the pip package ``cinder``, run
          by this venv's python) on 127.0.0.1 and a free port, with a sqlite
          database made by ``cinder-manage db sync``, ``auth_strategy = noauth``
          and oslo.messaging's in-memory ``fake://`` transport (no message
          queue: a status update needs none, and the cast a snapshot creation
          makes goes nowhere). Volumes and snapshots are made and read through
          Cinder's object layer by ``tests/cinder_tool.py`` in a process of its
          own, so Cinder's global CONF never meets nativesnap's.

Its log and database stay under the fixture's directory; the log's tail is
added to the report of every failing test that used the fixture.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from tests import fixtures

BIN = os.path.dirname(sys.executable)
API_PASTE = os.path.join(sys.prefix, "etc", "cinder", "api-paste.ini")
# The user nativesnap calls Cinder as: with Cinder's noauth the token is
# "<user>:<project>" and every such user is an administrator.
NATIVESNAP_USER = "nativesnap"
START_TIMEOUT = 90
TOOL_TIMEOUT = 60


def _require(path, what):
    if not os.path.exists(path):
        raise RuntimeError(f"{what} not found at {path}: install the test extra "
                           "(.venv/bin/pip install -c constraints.txt -e '.[test]')")


class CinderTool:
    """``tests/cinder_tool.py`` serving requests on a pipe (one JSON line each)."""

    def __init__(self, conf_path, log_path):
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cinder_tool", "--config-file", conf_path],
            cwd=fixtures.REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True, bufsize=1)
        self._answers = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="cinder-tool-reader",
                         daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._answers.put(line)
        self._answers.put(None)  # the tool ended

    def call(self, op, **args):
        with self._lock:
            self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
            self.proc.stdin.flush()
            try:
                line = self._answers.get(timeout=TOOL_TIMEOUT)
            except queue.Empty:
                raise RuntimeError(f"cinder_tool gave no answer to {op} within "
                                   f"{TOOL_TIMEOUT} s; log {self.log_path}") from None
        if line is None:
            raise RuntimeError(f"cinder_tool ended (exit {self.proc.wait(10)}); its "
                               f"log:\n{_tail(self.log_path)}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"cinder_tool {op}({args}) failed: {answer['error']}\n"
                               f"{answer.get('trace', '')}")
        return answer["result"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()  # the tool ends at end of input
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class CinderServer:
    """A real cinder-api on 127.0.0.1 with its own sqlite database."""

    def __init__(self, base_dir):
        self.dir = base_dir
        self.port = fixtures.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.endpoint = f"{self.url}/v3"
        self.endpoint_template = f"{self.endpoint}/%(project_id)s"
        # With noauth Cinder's routes only match a project id of [0-9a-f-]+.
        self.project_id = uuid.uuid4().hex
        self.conf_path = os.path.join(base_dir, "cinder.conf")
        self.log_path = os.path.join(base_dir, "cinder-api.log")
        self.proc = None
        self.tool = None
        self._write_config()

    def _write_config(self):
        state = os.path.join(self.dir, "state")
        os.makedirs(state, exist_ok=True)
        sections = {
            "DEFAULT": {
                "auth_strategy": "noauth",
                "osapi_volume_listen": "127.0.0.1",
                "osapi_volume_listen_port": str(self.port),
                "osapi_volume_workers": "1",
                "api_paste_config": API_PASTE,
                "transport_url": "fake://",
                "state_path": state,
                "log_file": self.log_path,
                "debug": "false",
                "enabled_backends": "",
                # Quotas from these options instead of the database's default
                # class (10 snapshots), so a long test run never hits one.
                "use_default_quota_class": "false",
                "quota_volumes": "-1",
                "quota_snapshots": "-1",
                "quota_gigabytes": "-1",
            },
            "database": {"connection":
                         f"sqlite:///{os.path.join(self.dir, 'cinder.sqlite')}"},
            "oslo_concurrency": {"lock_path": os.path.join(state, "lock")},
            "coordination": {"backend_url": f"file://{os.path.join(state, 'coordination')}"},
        }
        with open(self.conf_path, "w") as f:
            for section, values in sections.items():
                f.write(f"[{section}]\n")
                for key, value in values.items():
                    f.write(f"{key} = {value}\n")

    def db_sync(self):
        manage = os.path.join(BIN, "cinder-manage")
        _require(manage, "cinder-manage")
        out = subprocess.run([manage, "--config-file", self.conf_path, "db", "sync"],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"cinder-manage db sync failed ({out.returncode}):\n"
                               f"{out.stderr[-4000:]}\n{_tail(self.log_path)}")

    def start(self, timeout=START_TIMEOUT):
        api = os.path.join(BIN, "cinder-api")
        _require(api, "cinder-api")
        _require(API_PASTE, "Cinder's api-paste.ini")
        self._out = open(os.path.join(self.dir, "cinder-api.out"), "ab")
        # A session of its own: cinder-api forks a worker, and stop() signals
        # the group it leads (its own processes only).
        self.proc = subprocess.Popen([api, "--config-file", self.conf_path],
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cinder-api exited with {self.proc.returncode}; "
                                   f"log:\n{_tail(self.log_path)}")
            try:
                if requests.get(self.url + "/", timeout=2).status_code == 300:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"cinder-api did not answer within {timeout} s; "
                               f"log:\n{_tail(self.log_path)}")
        self.tool = CinderTool(self.conf_path, os.path.join(self.dir, "cinder-tool.log"))
        return self

    def stop(self, timeout=30):
        if self.tool is not None:
            self.tool.stop()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._out.close()

    # --- what the tests use -------------------------------------------------

    def nativesnap_conf(self, **cinder_options):
        """Sections for ``tests.fixtures.APIServer(extra_conf=...)``: nativesnap
        calls this Cinder with the noauth plugin, quick retries."""
        options = {
            "auth_type": "noauth",
            "user_id": NATIVESNAP_USER,
            "endpoint": self.endpoint,
            "endpoint_template": self.endpoint_template,
            "http_retries": "3",
            "http_retry_delay": "0.1",
            "timeout": "30",
        }
        options.update({key: str(value) for key, value in cinder_options.items()})
        return {"cinder": options}

    def create_volume(self, size_gb=1, status="in-use", volume_id=None,
                      project_id=None):
        """A volume row made by Cinder's object layer; returns its id."""
        return self.tool.call("create_volume", size_gb=size_gb, status=status,
                              volume_id=volume_id,
                              project_id=project_id or self.project_id)["id"]

    def create_snapshot(self, volume_id, status="creating", snapshot_id=None,
                        progress=None, project_id=None):
        """A snapshot row of ``volume_id`` made by Cinder's object layer."""
        return self.tool.call("create_snapshot", volume_id=volume_id, status=status,
                              snapshot_id=snapshot_id, progress=progress,
                              project_id=project_id or self.project_id)["id"]

    def snapshot(self, snapshot_id):
        """The snapshot as Cinder's database holds it (status, progress...)."""
        return self.tool.call("show_snapshot", snapshot_id=snapshot_id)

    def volume(self, volume_id):
        return self.tool.call("show_volume", volume_id=volume_id)

    def requests_logged(self, method, path_part):
        """How many requests ``METHOD ...path_part...`` cinder-api has served."""
        needle = f'"{method} '
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f
                       if "eventlet.wsgi.server" in line and needle in line
                       and path_part in line)

    def wait_logged(self, method, path_part, count=1, timeout=30):
        """Wait (bounded) until cinder-api has logged ``count`` such requests.

        cinder-api writes a request's log line after sending its answer, so a
        client can hold the answer before the line is there.
        """
        deadline = time.monotonic() + timeout
        while (seen := self.requests_logged(method, path_part)) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(f"cinder-api logged {seen} {method} "
                                     f"...{path_part}... within {timeout} s, "
                                     f"not {count}")
            time.sleep(0.05)
        return seen

    def log_tail(self, chars=6000):
        return _tail(self.log_path, chars)


def _tail(path, chars=6000):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-chars:]
    except FileNotFoundError:
        return f"({path} was not written)"


@pytest.fixture(scope="session")
def cinder(tmp_path_factory):
    server = CinderServer(str(tmp_path_factory.mktemp("cinder")))
    server.db_sync()
    server.start()
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("cinder")
    if report.failed and isinstance(server, CinderServer):
        report.sections.append((f"cinder-api log (tail of {server.log_path})",
                                server.log_tail()))

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

  cinder_keystone  (session) the same cinder-api with ``auth_strategy =
          keystone`` behind the session's real Keystone (needs
          ``tests.keystone_fixtures`` among the module's plugins): Cinder's own
          keystonemiddleware validates tokens as the service user ``cinder``
          (role ``service`` on project ``service``, added by the fixture), a
          probe filter after it (tests/cinder_service_token_probe.py) records
          what it made of each request's user and service tokens
          (``records()``), and Cinder is in Keystone's catalog as
          ``volumev3`` while it runs. Volumes belong to project-A by default;
          ``nativesnap_conf()`` gives ``[cinder]`` and ``[service_user]`` for
          nativesnap's service user. The session's summary prints its start
          time.

Their logs and databases stay under each fixture's directory; the log's tail is
added to the report of every failing test that used one.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests import fixtures, wsgi_peers

BIN = os.path.dirname(sys.executable)
API_PASTE = os.path.join(sys.prefix, "etc", "cinder", "api-paste.ini")
# The user nativesnap calls Cinder as: with Cinder's noauth the token is
# "<user>:<project>" and every such user is an administrator.
NATIVESNAP_USER = "nativesnap"
# Cinder's own service user in the test Keystone, and Cinder's catalog entry.
CINDER_USER = "cinder"
CINDER_SERVICE_TYPE = "volumev3"
CINDER_SERVICE_NAME = "cinderv3"
START_TIMEOUT = 90
TOOL_TIMEOUT = 60
# The Keystone-auth cinder-apis started, for the summary line with their time.
_STARTED = []


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
                               f"log:\n{wsgi_peers.tail(self.log_path)}")
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


class CinderServer(wsgi_peers.Peer):
    """A real cinder-api on 127.0.0.1 with its own sqlite database."""

    label = "cinder-api"
    # cinder-api's own access lines (eventlet's, written after the answer).
    access_marker = "eventlet.wsgi.server"

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
        with open(self.conf_path, "w") as f:
            for section, values in self._sections().items():
                f.write(f"[{section}]\n")
                for key, value in values.items():
                    f.write(f"{key} = {value}\n")

    def _sections(self):
        """cinder.conf, section by section."""
        state = os.path.join(self.dir, "state")
        os.makedirs(state, exist_ok=True)
        return {
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

    def db_sync(self):
        manage = os.path.join(BIN, "cinder-manage")
        wsgi_peers.require(manage, "cinder-manage")
        out = subprocess.run([manage, "--config-file", self.conf_path, "db", "sync"],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"cinder-manage db sync failed ({out.returncode}):\n"
                               f"{out.stderr[-4000:]}\n{wsgi_peers.tail(self.log_path)}")

    def start(self, timeout=START_TIMEOUT):
        api = os.path.join(BIN, "cinder-api")
        wsgi_peers.require(api, "cinder-api")
        wsgi_peers.require(API_PASTE, "Cinder's api-paste.ini")
        self._out = open(os.path.join(self.dir, "cinder-api.out"), "ab")
        # A session of its own: cinder-api forks a worker, and stop() signals
        # the group it leads (its own processes only).
        self.proc = subprocess.Popen([api, "--config-file", self.conf_path],
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=self._env())
        wsgi_peers.wait_answering(self, self.url + "/", 300, timeout, self.stop,
                                  interval=0.2)
        self.tool = CinderTool(self.conf_path, os.path.join(self.dir, "cinder-tool.log"))
        return self

    def _env(self):
        """cinder-api's environment (None: the test process's)."""
        return None

    def stop(self, timeout=30):
        if self.tool is not None:
            self.tool.stop()
        if self.proc is None:
            return
        wsgi_peers.stop_group(self.proc, timeout)
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


class KeystoneCinderServer(CinderServer):
    """A real cinder-api with ``auth_strategy = keystone`` behind the test
    Keystone (``tests.keystone_fixtures.KeystoneServer``): its own
    keystonemiddleware validates every token with Keystone as Cinder's
    service user ``cinder`` (role ``service`` on project ``service``), and
    the probe filter (tests/cinder_service_token_probe.py) right after it
    records what keystonemiddleware made of each request (``records()``).

    ``project_id`` is project-A's: volumes made through the tool belong to
    it unless told otherwise. ``nativesnap_conf()`` is nativesnap's
    ``[cinder]`` (its service user's Keystone credentials, Cinder from the
    catalog) and ``[service_user]`` (send_service_user_token).
    """

    def __init__(self, base_dir, keystone):
        from tests import keystone_fixtures as ks

        self.keystone = keystone
        self.user = keystone.add_user(CINDER_USER, ks.SERVICE_PROJECT, "service")
        self.api_paste_path = os.path.join(base_dir, "api-paste.ini")
        self.probe_path = os.path.join(base_dir, "service-token-probe.jsonl")
        self.start_seconds = None
        super().__init__(base_dir)
        self.project_id = keystone.projects["project-A"]

    def _sections(self):
        from tests import keystone_fixtures as ks

        self._write_api_paste()
        sections = super()._sections()
        sections["DEFAULT"].update(auth_strategy="keystone",
                                   api_paste_config=self.api_paste_path)
        sections["keystone_authtoken"] = {
            "www_authenticate_uri": self.keystone.auth_url,
            "auth_url": self.keystone.auth_url,
            "auth_type": "password",
            "username": self.user.name,
            "password": self.user.password,
            "project_name": ks.SERVICE_PROJECT,
            "user_domain_id": ks.DOMAIN,
            "project_domain_id": ks.DOMAIN,
            "region_name": ks.REGION,
            "interface": "public",
            # A service token counts only with one of these roles (Nova's
            # and Cinder's recommended setting).
            "service_token_roles": "service",
            "service_token_roles_required": "true",
            "http_connect_timeout": "5",
            "http_request_max_retries": "1",
        }
        return sections

    def _write_api_paste(self):
        """Cinder's api-paste.ini with the probe after ``authtoken`` in the
        Keystone pipelines."""
        wsgi_peers.require(API_PASTE, "Cinder's api-paste.ini")
        with open(API_PASTE) as f:
            paste = f.read()
        needle = " authtoken keystonecontext "
        if paste.count(needle) != 2:
            raise RuntimeError(f"{API_PASTE} no longer has its two Keystone "
                               f"pipelines with '{needle.strip()}': the probe "
                               "cannot be placed")
        paste = paste.replace(needle, " authtoken servicetokenprobe keystonecontext ")
        paste += ("\n[filter:servicetokenprobe]\n"
                  "paste.filter_factory = "
                  "tests.cinder_service_token_probe:filter_factory\n"
                  f"record_file = {self.probe_path}\n")
        with open(self.api_paste_path, "w") as f:
            f.write(paste)

    def _env(self):
        # The probe filter is imported by cinder-api from this repository.
        path = os.environ.get("PYTHONPATH")
        return dict(os.environ, PYTHONPATH=fixtures.REPO + (
            os.pathsep + path if path else ""))

    def nativesnap_conf(self, **cinder_options):
        """Sections for ``tests.fixtures.APIServer(extra_conf=...)``: nativesnap
        finds Cinder in the catalog (``volumev3``, see the ``cinder_keystone``
        fixture); ``[cinder]`` has its service user's credentials (for work
        with no user behind it), ``[service_user]`` sends that user's token
        beside a user's."""
        from tests import keystone_fixtures as ks

        service = self.keystone.users[ks.SERVICE_USER]
        credentials = {
            "auth_type": "password",
            "auth_url": self.keystone.auth_url,
            "username": service.name,
            "password": service.password,
            "project_name": ks.SERVICE_PROJECT,
            "user_domain_id": ks.DOMAIN,
            "project_domain_id": ks.DOMAIN,
        }
        options = dict(credentials, region_name=ks.REGION, http_retries="3",
                       http_retry_delay="0.1", timeout="30")
        options.update({key: str(value) for key, value in cinder_options.items()})
        return {"cinder": options,
                "service_user": dict(credentials, send_service_user_token="true",
                                     timeout="30")}

    def records(self):
        """The probe's records so far, oldest first (a request's record is
        written before its answer is sent)."""
        try:
            with open(self.probe_path, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []


@pytest.fixture(scope="session")
def cinder_keystone(tmp_path_factory, keystone):
    """A KeystoneCinderServer, in the catalog as ``volumev3`` (name
    ``cinderv3``, public endpoint ``.../v3/%(project_id)s``) while it runs.
    Needs ``tests.keystone_fixtures`` among the module's plugins."""
    began = time.monotonic()
    server = KeystoneCinderServer(str(tmp_path_factory.mktemp("cinder-keystone")),
                                  keystone)
    server.db_sync()
    server.start()
    try:
        keystone.register_service_endpoint(CINDER_SERVICE_TYPE, CINDER_SERVICE_NAME,
                                           server.endpoint_template)
    except BaseException:
        server.stop()
        raise
    server.start_seconds = time.monotonic() - began
    _STARTED.append(server)
    yield server
    try:
        keystone.remove_service(CINDER_SERVICE_TYPE)
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter):
    for server in _STARTED:
        terminalreporter.write_line(
            f"cinder-api with Keystone auth: made, started and in the catalog in "
            f"{server.start_seconds:.1f} s (tests/cinder_fixtures.py; log "
            f"{server.log_path})")


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
    # Every CinderServer the test used: ``cinder``'s, ``cinder_keystone``'s.
    wsgi_peers.attach_log_tail(item, outcome.get_result(), CinderServer)

"""Real parts the tests use: a PostgreSQL database, a running nativesnap-api.

A part that cannot be had fails the test loudly; nothing is skipped.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import requests
import sqlalchemy as sa

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def postgresql_admin_url():
    """URL of the real PostgreSQL that the test set-up started.

    ``make test`` passes it in NATIVESNAP_TEST_PG_URL; run by hand, the start
    script is called (it is idempotent and fast when the server runs).
    """
    url = os.environ.get("NATIVESNAP_TEST_PG_URL")
    if url:
        return url
    out = subprocess.run([os.path.join(REPO, "tools", "start-postgresql")],
                         check=True, capture_output=True, text=True, timeout=120)
    url = out.stdout.strip()
    os.environ["NATIVESNAP_TEST_PG_URL"] = url
    return url


def rabbitmq_url():
    """oslo.messaging transport URL (rabbit://) of the real RabbitMQ broker
    that the test set-up started.

    ``make test`` passes it in NATIVESNAP_TEST_RABBIT_URL; run by hand, the
    start script is called (it is idempotent and fast when the broker runs).
    """
    url = os.environ.get("NATIVESNAP_TEST_RABBIT_URL")
    if url:
        return url
    out = subprocess.run([os.path.join(REPO, "tools", "start-rabbitmq")],
                         check=True, capture_output=True, text=True, timeout=240)
    url = out.stdout.strip()
    os.environ["NATIVESNAP_TEST_RABBIT_URL"] = url
    return url


def broker_conf(url=None, rpc_response_timeout=5, **more):
    """[DEFAULT] options of an API and its computes over the broker at
    ``url`` (the shared one by default), on a control exchange of their
    own, which keeps other tests' messages apart."""
    return {"transport_url": url or rabbitmq_url(),
            "control_exchange": f"nativesnap-test-{uuid.uuid4().hex[:8]}",
            "rpc_response_timeout": str(rpc_response_timeout),
            **{key: str(value) for key, value in more.items()}}


@contextlib.contextmanager
def postgresql_database():
    """A fresh, empty PostgreSQL database, dropped afterwards; yields its URL."""
    admin_url = sa.engine.make_url(postgresql_admin_url())
    name = f"nativesnap_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            # Only our own sessions: an autovacuum worker visiting the
            # database runs as the superuser and may not be terminated by
            # us; DROP DATABASE stops it by itself.
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND usename = current_user "
                "AND pid <> pg_backend_pid()"), {"name": name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


def sqlite_url(directory):
    return f"sqlite:///{os.path.join(directory, 'nativesnap.sqlite')}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_conf(path, sections, extra=None):
    """An ini file of ``sections``, updated by ``extra`` ({section: {k: v}})."""
    sections = {name: dict(values) for name, values in sections.items()}
    for section, values in (extra or {}).items():
        sections.setdefault(section, {}).update(values)
    with open(path, "w") as f:
        for section, values in sections.items():
            f.write(f"[{section}]\n")
            for key, value in values.items():
                f.write(f"{key} = {value}\n")


class ServiceProcess:
    """A real nativesnap service process, its output in ``log_path``;
    ``ready()`` says when it serves. Every wait is bounded."""

    command = None
    env = None

    def __init__(self, conf_paths, log_path):
        self.conf_paths = conf_paths
        self.log_path = log_path
        self.proc = None

    def ready(self):
        raise NotImplementedError

    def start(self, timeout=30):
        self.log = open(self.log_path, "ab")
        args = [os.path.join(BIN, self.command)]
        for path in self.conf_paths:
            args += ["--config-file", path]
        self.proc = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT,
            env=None if self.env is None else dict(os.environ, **self.env))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited with "
                                   f"{self.proc.returncode}; log:\n"
                                   f"{self.read_log()[-4000:]}")
            if self.ready():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.command} did not serve within {timeout} s; "
                           f"log:\n{self.read_log()[-4000:]}")

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout=30):
        """SIGTERM, then wait (bounded); returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class ComputeService(ServiceProcess):
    """A real nativesnap-compute process beside an APIServer: the API's
    configuration (database, broker) plus a file of its own that names its
    host and drivers (later files win)."""

    command = "nativesnap-compute"

    def __init__(self, api, host, drivers=("libvirt",), extra_conf=None):
        conf_path = os.path.join(api.state_dir, f"compute-{host}.conf")
        super().__init__([api.conf_path, conf_path],
                         os.path.join(api.state_dir, f"compute-{host}.log"))
        self.host = host
        write_conf(conf_path, {"DEFAULT": {
            "host": host, "enabled_drivers": ",".join(drivers)}}, extra_conf)

    def start(self, timeout=60):
        return super().start(timeout)

    def ready(self):
        return "nativesnap-compute of host" in self.read_log()


class APIServer(ServiceProcess):
    """A real nativesnap-api process (cheroot) on 127.0.0.1 with its own
    state directory and database."""

    command = "nativesnap-api"

    def __init__(self, state_dir, db_url, drivers=("fake",), extra_conf=None,
                 env=None):
        self.conf_path = os.path.join(state_dir, "nativesnap.conf")
        super().__init__([self.conf_path], os.path.join(state_dir, "api.log"))
        self.state_dir = state_dir
        # Extra environment of the process (e.g. a PATH with a wrapper first).
        self.env = env
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        write_conf(self.conf_path, {
            "DEFAULT": {"state_path": state_dir, "enabled_drivers": ",".join(drivers),
                        "host": "test-host", "status_sync_interval": "0",
                        "shutdown_timeout": "10", "debug": "false"},
            "api": {"host": "127.0.0.1", "port": str(self.port)},
            "database": {"connection": db_url},
            "fake": {"task_delay": "1.5"},
        }, extra_conf)

    def manage(self, *args):
        return subprocess.run(
            [os.path.join(BIN, "nativesnap-manage"), "--config-file",
             self.conf_path, *args], check=True, capture_output=True, text=True,
            timeout=120, env=None if self.env is None else dict(os.environ,
                                                                **self.env))

    def ready(self):
        try:
            requests.get(self.url + "/v1", timeout=1)
        except requests.ConnectionError:
            return False
        return True

    def request(self, method, path, token="admin:admin-project", json=None,
                headers=None, data=None, timeout=30):
        hdrs = {}
        if token is not None:
            hdrs["X-Auth-Token"] = token
        hdrs.update(headers or {})
        url = path if path.startswith("http") else self.url + path
        return requests.request(method, url, json=json, data=data, headers=hdrs,
                                timeout=timeout)

    def wait_for(self, predicate, timeout=30, interval=0.05, what="condition"):
        """Poll ``predicate`` until it returns a true value (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(interval)

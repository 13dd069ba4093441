"""A RabbitMQ node of a test's own, which the test may stop and start again.

The broker of ``tools/start-rabbitmq`` (node ``nativesnap@localhost`` on
127.0.0.1:5672) serves every test running at the time; stopping it to see
what nativesnap does without a broker would cut all of them. A test that
stops the broker runs this one instead: Debian's ``rabbitmq-server``, started
the way ``tools/start-rabbitmq`` starts the shared node (as the ``rabbitmq``
user with the package's Erlang cookie, a clean environment, its own
``rabbitmq-env.conf``, no plugins, in a session of its own), but with

- its own node name (``nstest<hex>@localhost``), AMQP port and Erlang
  distribution port, both on 127.0.0.1 and chosen free;
- its own configuration, pid file, mnesia (state) and log directories, all
  under one temporary directory (``dir``), removed by ``cleanup()``;
- a user of its own with a generated password, made by the broker itself at
  its first boot (``default_user``/``default_pass``: no ``rabbitmqctl`` call,
  each of which boots an Erlang VM). The database in ``dir`` keeps it, so a
  node started again serves the same ``url``.

It registers its name with the machine's epmd (Erlang's port mapper, on
127.0.0.1:4369, shared with the other nodes; the node starts it if none
runs). ``rabbitmqctl`` reaches it with ``RABBITMQ_CONF_ENV_FILE=<dir>/
rabbitmq-env.conf``, as the shared node's.

``start()`` returns once an AMQP client logs in with the user (bounded);
``stop()`` is a clean shutdown (SIGTERM to the Erlang VM, bounded, then
SIGKILL); ``url`` is the oslo.messaging transport URL.

Measured on this project's 2-core machine (``start_seconds`` keeps each
start's figure), a start takes 3.5 to 7 s until the user logs in over
AMQP (first starts on an empty mnesia directory: 3.4, 6.7 s; starts again on
the same directory: 5.2, 6.2 s), nearly all of it the Erlang VM's and
RabbitMQ's own boot, longer when the machine is busy; a stop takes about
1.1 s.

Every wait is bounded; whatever cannot be had raises BrokerError.
"""

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import kombu

LIB = "/usr/lib/rabbitmq/bin"
RABBIT_HOME = "/var/lib/rabbitmq"   # the rabbitmq user's home: its Erlang cookie
HOST = "127.0.0.1"


class BrokerError(Exception):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise BrokerError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class PrivateRabbitMQ:
    def __init__(self, user="nstest"):
        if not os.access(os.path.join(LIB, "rabbitmq-server"), os.X_OK):
            raise BrokerError("RabbitMQ is not installed (run tools/setup-host)")
        account = pwd.getpwnam("rabbitmq")
        # Under /tmp, not pytest's tmp_path: the rabbitmq user must reach it.
        self.dir = tempfile.mkdtemp(prefix="nsrmq-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        suffix = secrets.token_hex(4)
        self.node = f"nstest{suffix}@localhost"
        self.port = _free_port()
        self.dist_port = _free_port()
        self.user = user
        self.password = secrets.token_hex(16)
        self.url = f"rabbit://{user}:{self.password}@{HOST}:{self.port}/"
        self.env_file = os.path.join(self.dir, "rabbitmq-env.conf")
        self.pid_file = os.path.join(self.dir, "rabbitmq.pid")
        self.log_dir = os.path.join(self.dir, "log")
        self.startup_log = os.path.join(self.log_dir, "startup.log")
        self.proc = None
        self.start_seconds = None
        for sub in ("mnesia", "log"):
            os.makedirs(os.path.join(self.dir, sub))
            os.chown(os.path.join(self.dir, sub), account.pw_uid, account.pw_gid)
        self._write_config()

    def _write_config(self):
        conf = os.path.join(self.dir, "rabbitmq.conf")
        plugins = os.path.join(self.dir, "enabled_plugins")
        dist_args = "-kernel inet_dist_use_interface {127,0,0,1}"
        with open(self.env_file, "w") as f:
            f.write(f"NODENAME={self.node}\n"
                    f"CONFIG_FILE={conf}\n"
                    f"ENABLED_PLUGINS_FILE={plugins}\n"
                    f"PID_FILE={self.pid_file}\n"
                    f"MNESIA_BASE={os.path.join(self.dir, 'mnesia')}\n"
                    f"LOG_BASE={self.log_dir}\n"
                    f"DIST_PORT={self.dist_port}\n"
                    "ERL_EPMD_ADDRESS=127.0.0.1\n"
                    f'SERVER_ADDITIONAL_ERL_ARGS="{dist_args}"\n'
                    f'CTL_ERL_ARGS="{dist_args}"\n')
        with open(conf, "w") as f:
            f.write(f"listeners.tcp.default = {HOST}:{self.port}\n"
                    "log.console = false\n"
                    f"default_user = {self.user}\n"
                    f"default_pass = {self.password}\n")
        with open(plugins, "w") as f:
            f.write("[].\n")
        # The broker runs as rabbitmq and reads its files; the password is
        # the test's, on a throw-away node bound to loopback.
        for name in ("rabbitmq.conf", "rabbitmq-env.conf", "enabled_plugins"):
            os.chmod(os.path.join(self.dir, name), 0o644)
        account = pwd.getpwnam("rabbitmq")
        os.chown(self.dir, account.pw_uid, account.pw_gid)

    def _command(self, program, *args):
        return ["runuser", "-u", "rabbitmq", "--", "env", "-i", "-C", self.dir,
                f"HOME={RABBIT_HOME}", "LANG=C.UTF-8",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                f"RABBITMQ_CONF_ENV_FILE={self.env_file}",
                os.path.join(LIB, program), *args]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=60):
        """Start the node; return once the user logs in over AMQP."""
        if self.running():
            raise BrokerError(f"node {self.node} is already running")
        began = time.monotonic()
        with open(self.startup_log, "ab") as log:
            # In the foreground of a session of its own: the package's script
            # stays the Erlang VM's parent, as with tools/start-rabbitmq.
            self.proc = subprocess.Popen(
                self._command("rabbitmq-server"), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait(self._serves, timeout,
              f"RabbitMQ node {self.node} to serve AMQP on {HOST}:{self.port} "
              f"(logs in {self.log_dir})")
        self.start_seconds = time.monotonic() - began
        return self

    def _serves(self):
        if self.proc.poll() is not None:
            raise BrokerError(f"rabbitmq-server exited ({self.proc.returncode})"
                              f"; log:\n{self.log_tail()}")
        try:
            with socket.create_connection((HOST, self.port), timeout=1):
                pass
        except OSError:
            return False
        conn = kombu.Connection(f"amqp://{self.user}:{self.password}@{HOST}:"
                                f"{self.port}//", connect_timeout=2)
        try:
            conn.connect()
            return True
        except Exception:  # still booting, or the user is not made yet
            return False
        finally:
            conn.release()

    def log_tail(self, size=3000):
        text = ""
        for name in sorted(os.listdir(self.log_dir)):
            with open(os.path.join(self.log_dir, name), "rb") as f:
                text += f"--- {name}\n" + f.read()[-size:].decode(errors="replace")
        return text

    def _beam_pid(self):
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/comm") as f:
                return pid if f.read().strip() == "beam.smp" else None
        except (OSError, ValueError):
            return None

    def stop(self, timeout=30):
        """Shut the node down cleanly (SIGTERM to its Erlang VM) and wait
        for it; SIGKILL to its session if it is not gone in ``timeout``."""
        if not self.running():
            return
        pid = self._beam_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        else:  # still booting: its pid file is not written yet
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BrokerError(f"RabbitMQ node {self.node} did not stop within "
                              f"{timeout} s of SIGTERM; killed") from None
        _wait(lambda: self._beam_pid() is None, 10, "the Erlang VM to exit")

    def kill(self):
        """SIGKILL the node's whole session (the VM and its helpers)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid = self._beam_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)

    def cleanup(self):
        """Stop the node (if it runs) and remove its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

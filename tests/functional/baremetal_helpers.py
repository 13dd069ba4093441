"""Real parts for the bare-metal agent tests: a block device with a GPT and
an ext4 filesystem of known files (a loop device over a sparse file), the
WebDAV server of tools/start-webdav, and nativesnap-agent as a process.

Every wait is bounded; everything made is removed by its ``cleanup``/``stop``.
"""

import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import requests

from tests import fixtures

MiB = 1 << 20
GiB = 1 << 30
PART_START = 2048 * 512            # the GPT partition's first byte
AGENT = os.path.join(fixtures.REPO, ".venv", "bin", "nativesnap-agent")
WEBDAV_STATE_DIR = os.environ.get("WEBDAV_STATE_DIR", "/var/lib/nativesnap-webdav")


def _run(*argv, timeout=120, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def sha256_file(path, limit=None):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        remaining = limit
        while remaining is None or remaining > 0:
            chunk = f.read(4 * MiB if remaining is None else min(4 * MiB, remaining))
            if not chunk:
                break
            digest.update(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    return digest.hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class LoopDevice:
    """A loop device over a sparse file: GPT, one ext4 partition, files."""

    path: str                   # /dev/loopN
    backing: str
    size: int
    files: dict                 # name -> sha256 of its content
    part_offset: int
    part_size: int

    def sha256(self):
        return sha256_file(self.path)

    def read_files(self):
        """name -> sha256 of every file, read from the partition with
        debugfs through a read-only loop device over the partition (no
        partition device nodes needed)."""
        part = _run("losetup", "-r", "-f", "--show", "-o", str(self.part_offset),
                    "--sizelimit", str(self.part_size), self.path).stdout.strip()
        try:
            listing = _run("debugfs", "-R", "ls -p /", part).stdout
            names = [line.split("/")[5] for line in listing.splitlines()
                     if line.count("/") >= 6 and line.split("/")[2].startswith("10")]
            found = {}
            for name in names:
                proc = subprocess.Popen(["debugfs", "-R", f"cat /{name}", part],
                                        stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
                digest = hashlib.sha256()
                while chunk := proc.stdout.read(4 * MiB):
                    digest.update(chunk)
                assert proc.wait(timeout=60) == 0
                found[name] = digest.hexdigest()
            return found
        finally:
            _run("losetup", "-d", part)

    def overwrite(self, offset, data):
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)

    def cleanup(self):
        subprocess.run(["losetup", "-d", self.path], capture_output=True,
                       timeout=30, check=False)
        if os.path.exists(self.backing):
            os.unlink(self.backing)


def make_block_device(workdir, size=4 * GiB, data_mib=512, file_mib=64, seed=1):
    """A loop device of ``size`` bytes (sparse) holding a GPT with one ext4
    partition filled with ``data_mib`` MiB of pseudo-random files of
    ``file_mib`` MiB each. Returns a :class:`LoopDevice`."""
    backing = os.path.join(workdir, f"disk-{seed}.img")
    with open(backing, "wb") as f:
        f.truncate(size)
    _run("sgdisk", "-q", "-n", f"1:{PART_START // 512}:0", "-t", "1:8300",
         "-c", "1:root", backing)
    part_end = (size - 34 * 512) // 4096 * 4096   # before the backup GPT
    part_size = part_end - PART_START
    rng = random.Random(seed)
    files = {}
    with tempfile.TemporaryDirectory(dir=workdir) as content:
        left = data_mib
        index = 0
        while left > 0:
            mib = min(file_mib, left)
            data = rng.randbytes(mib * MiB)
            name = f"data-{index:03d}.bin"
            with open(os.path.join(content, name), "wb") as out:
                out.write(data)
            files[name] = hashlib.sha256(data).hexdigest()
            left -= mib
            index += 1
        _run("mkfs.ext4", "-q", "-F", "-E", f"offset={PART_START}", "-d", content,
             "-L", "root", backing, f"{part_size // 1024}k", timeout=300)
    # direct I/O: reads of the device go to the file once, not through two
    # page caches (≈ 8x faster here for a sparse 4 GiB file)
    path = _run("losetup", "--direct-io=on", "-f", "--show", backing).stdout.strip()
    return LoopDevice(path, backing, size, files, PART_START, part_size)


def blank_device(workdir, size=4 * GiB, seed=2):
    """A loop device of ``size`` zero bytes (sparse): a node not deployed yet."""
    backing = os.path.join(workdir, f"disk-{seed}.img")
    with open(backing, "wb") as f:
        f.truncate(size)
    path = _run("losetup", "--direct-io=on", "-f", "--show", backing).stdout.strip()
    return LoopDevice(path, backing, size, {}, PART_START,
                      (size - 34 * 512) // 4096 * 4096 - PART_START)


def start_webdav():
    """tools/start-webdav; returns ``(base_url, (user, password))``."""
    url = _run(os.path.join(fixtures.REPO, "tools", "start-webdav"),
               timeout=90).stdout.strip()
    with open(os.path.join(WEBDAV_STATE_DIR, "admin-credentials")) as f:
        user, _, password = f.read().strip().partition(":")
    return url, (user, password)


def webdav_path(url):
    """The file on disk behind a WebDAV URL of tools/start-webdav."""
    relative = url.split("/", 3)[3]
    return os.path.join(WEBDAV_STATE_DIR, "data", relative)


class Agent:
    """nativesnap-agent as a real process on 127.0.0.1."""

    def __init__(self, workdir, *extra, token=None, device=None, tls=None,
                 port=None):
        self.workdir = workdir
        self.token = token or "test-token-" + os.urandom(8).hex()
        self.port = port or free_port()
        self.token_file = os.path.join(workdir, f"token-{self.port}")
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        self.argv = [AGENT, "--listen", f"127.0.0.1:{self.port}",
                     "--token-file", self.token_file, *extra]
        if device:
            self.argv += ["--allow-loop-devices", "--root-device-hint",
                          json.dumps({"name": device})]
        self.verify = True
        scheme = "http"
        if tls:
            cert, key = tls
            self.argv += ["--cert-file", cert, "--key-file", key]
            self.verify = cert
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, f"agent-{self.port}.log")
        self.proc = None
        self.session = requests.Session()
        self.session.trust_env = False

    def start(self, timeout=20):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log,
                                         stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited {self.proc.returncode}: "
                                     f"{self.log_text()[-2000:]}")
            try:
                self.get("/v1/status")
                return self
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise AssertionError("agent not answering: " + self.log_text()[-2000:])
                time.sleep(0.1)

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def request(self, method, path, token=None, **kwargs):
        headers = {"X-Agent-Token": self.token if token is None else token}
        return self.session.request(method, self.url + path, headers=headers,
                                    timeout=30, verify=self.verify, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def command(self, name, params):
        response = self.request("POST", "/v1/commands",
                                json={"name": name, "params": params})
        assert response.status_code == 202, response.text
        return response.json()

    def wait(self, command_id, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.get(f"/v1/commands/{command_id}").json()
            if body["status"] != "running":
                return body
            time.sleep(0.1)
        raise AssertionError(f"command {command_id} still running after {timeout} s")

    def stop(self, timeout=20):
        self.session.close()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode if self.proc else None


def self_signed_cert(workdir):
    """``(cert, key)`` PEM files for CN/SAN 127.0.0.1, made with openssl."""
    cert = os.path.join(workdir, "agent.crt")
    key = os.path.join(workdir, "agent.key")
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert, timeout=60)
    return cert, key


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


# --- the service and enrolled nodes (test_baremetal_driver, _redfish) ---------

ADMIN = "admin:admin-project"


def expect(resp, code):
    """The JSON body of a response that must answer ``code``."""
    assert resp.status_code == code, f"{resp.status_code} {resp.text[:500]}"
    return resp.json()


class Service:
    """The service under test, restartable on its database and with
    failpoints (``[fault_injection] failpoints``)."""

    def __init__(self, state, webdav_url, heartbeat_timeout):
        self.state = state
        self.conf = {"baremetal": {
            "webdav_url": webdav_url,
            "heartbeat_timeout": str(heartbeat_timeout),
            "poll_interval": "0.2", "agent_timeout": "10"}}
        # One port for every start: the agents heartbeat to it.
        self.port = fixtures.free_port()
        self.api = None
        self.synced = False
        self.start()

    def start(self, failpoints=""):
        conf = dict(self.conf, fault_injection={"failpoints": failpoints},
                    api={"host": "127.0.0.1", "port": str(self.port)})
        self.api = fixtures.APIServer(self.state,
                                      fixtures.sqlite_url(self.state),
                                      drivers=("baremetal",), extra_conf=conf)
        self.api.port = self.port
        self.api.url = f"http://127.0.0.1:{self.port}"
        if not self.synced:
            self.api.manage("db", "sync")
            self.synced = True
        self.api.start(timeout=60)
        return self.api

    def restart(self, failpoints=""):
        self.api.stop()
        return self.start(failpoints)

    def kill9(self):
        self.api.proc.send_signal(signal.SIGKILL)
        self.api.proc.wait(10)


def enrol(api, name, agent_url, token, power=None):
    """Enrol a node (``power``: its power body, ``none`` when None)."""
    body = {"node": {"name": name, "agent_url": agent_url,
                     "agent_token": token}}
    if power is not None:
        body["node"]["power"] = power
    return expect(api.request("POST", "/v1/baremetal/nodes", token=ADMIN,
                              json=body), 201)["node"]


class Node:
    """An enrolled node and its agent (started and stopped by the test)."""

    def __init__(self, service, workdir, name, device, power=None):
        self.service = service
        self.workdir = workdir
        self.device = device
        self.port = free_port()
        self.token = "node-token-" + os.urandom(8).hex()
        self.record = enrol(service.api, name, f"http://127.0.0.1:{self.port}",
                            self.token, power)
        self.agent = None

    @property
    def id(self):
        return self.record["id"]

    def start_agent(self):
        self.agent = Agent(
            self.workdir, "--conductor-url", self.service.api.url, "--node-id",
            self.id, "--heartbeat-interval", "1", token=self.token,
            device=self.device.path, port=self.port).start()
        return self.agent

    def stop_agent(self, kill=False):
        if self.agent is None:
            return
        if kill:
            self.agent.proc.send_signal(signal.SIGKILL)
            self.agent.proc.wait(10)
        else:
            self.agent.stop()
        self.agent = None

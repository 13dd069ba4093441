"""The pieces that bench/libvirt and bench/run share: statistics, the machine
and the code a report names, the HTTP client, the nativesnap-api process and
its clean-up, the test guests and how data is written inside them, and the
timed operations (create, delete, spawn, revert) through the real API.

Every wait is bounded; polling is at a fixed cadence (one request started
every ``poll_interval``). Nothing here asserts a timing: the callers record
samples and read them against their targets.

Imported by the scripts after they put the repository and bench/ on
sys.path (``from tests import ...`` needs the repository).
"""

import contextlib
import dataclasses
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import libvirt
import requests

from tests import fixtures
from tests import guest as guestlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1024 * 1024
GIB = 1024 * MIB

REQUEST_TIMEOUT = 10       # s, every HTTP request
TASK_TIMEOUT = 120         # s, a create/delete/spawn/revert task to end
AGENT_TIMEOUT = 90         # s, the guest agent to answer after a revert
BOOT_TIMEOUT = 90          # s, a guest to boot (agent answering)
GUEST_WRITE_TIMEOUT = 300  # s, writing data inside a guest


class BenchError(Exception):
    """The benchmark could not run (as opposed to: a target was missed)."""


# --- statistics --------------------------------------------------------------------

def percentile(sorted_values, p):
    """Linear-interpolated percentile (0..100) of an already sorted list."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def summary(values_ms):
    values = sorted(values_ms)
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "median_ms": round(statistics.median(values), 1),
        "mean_ms": round(statistics.fmean(values), 1),
        "p10_ms": round(percentile(values, 10), 1),
        "p90_ms": round(percentile(values, 90), 1),
        "min_ms": round(values[0], 1),
        "max_ms": round(values[-1], 1),
    }


# --- the machine and the code ------------------------------------------------------

def _first_line(argv):
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout:
            return out.stdout.splitlines()[0].strip()
    return None


def _version(number):
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def machine_info(conn):
    cpu_model = None
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    mem_total_kib = None
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_total_kib = int(line.split()[1])
                    break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_total_kib": mem_total_kib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "libvirt_daemon": _version(conn.getLibVersion()),
        "libvirt_python": _version(__import__("libvirt").getVersion()),
        "qemu": _version(conn.getVersion()),
        "qemu_system": _first_line([guestlib.EMULATOR, "--version"]),
        "qemu_img": _first_line(["qemu-img", "--version"]),
        "accelerator": "TCG (domain type 'qemu'; KVM is not used)",
        "hostname": platform.node(),
    }


def git_info():
    def git(*args):
        out = subprocess.run(["git", "-C", REPO, *args], capture_output=True,
                             text=True, timeout=30)
        return out.stdout.strip() if out.returncode == 0 else None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"),
            "dirty": None if status is None else bool(status)}


def loadavg():
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return [float(x) for x in f.read().split()[:3]]
    except (OSError, ValueError):
        return None


# --- HTTP --------------------------------------------------------------------------

class Client:
    """One keep-alive session to the service on 127.0.0.1 (no proxies)."""

    def __init__(self, base_url, token, poll_interval):
        if not base_url.startswith("http://127.0.0.1:"):
            raise BenchError(f"refusing to talk to {base_url}: 127.0.0.1 only")
        self.base_url = base_url
        self.poll_interval = poll_interval
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["X-Auth-Token"] = token
        self.get_latencies = []

    def close(self):
        self.session.close()

    def call(self, method, path, json_body=None):
        return self.session.request(method, self.base_url + path, json=json_body,
                                    timeout=REQUEST_TIMEOUT)

    def get(self, path):
        started = time.perf_counter()
        resp = self.call("GET", path)
        self.get_latencies.append((time.perf_counter() - started) * 1000)
        return resp

    def poll(self, probe, timeout, what):
        """Call ``probe()`` at a fixed cadence (one call started every
        ``poll_interval`` s, or back to back if a call takes longer) until it
        returns a value that is not None; returns (value, perf_counter when
        that call returned). Bounded by ``timeout``."""
        deadline = time.perf_counter() + timeout
        while True:
            started = time.perf_counter()
            value = probe()
            done = time.perf_counter()
            if value is not None:
                return value, done
            if done >= deadline:
                raise BenchError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(max(0.0, started + self.poll_interval - time.perf_counter()))


def expect(resp, code, what):
    if resp.status_code != code:
        raise BenchError(f"{what}: expected HTTP {code}, got {resp.status_code}: "
                         f"{resp.text[:800]}")
    return resp.json() if resp.content else None


# --- the guests ----------------------------------------------------------------------

@dataclasses.dataclass
class Subject:
    """A booted, adopted guest with a data disk of ``size_gib``."""
    size_gib: int
    guest: guestlib.Guest
    server_id: str

    @property
    def tag(self):
        return f"{self.size_gib}GiB"


HOOK_LOG = "/run/fsfreeze-hook.log"


def hook_span_ms(guest):
    """The test guest's qemu-ga runs an fsfreeze hook that logs the guest's
    uptime before FIFREEZE ("freeze") and after FITHAW ("thaw"): the part of
    frozen_ms spent inside the guest (at /proc/uptime's 10 ms resolution),
    or None without that log."""
    events = guest.fsfreeze_hook_log()
    freezes = [t for event, t in events if event == "freeze"]
    thaws = [t for event, t in events if event == "thaw"]
    if len(freezes) != 1 or len(thaws) != 1:
        return None
    return (thaws[0] - freezes[0]) * 1000


class ProcessWatch(threading.Thread):
    """Notes when a process becomes a zombie and when it is gone (reaped),
    polling /proc every millisecond for at most 30 s."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.zombie = self.gone = None
        self.start()

    def run(self):
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            try:
                with open(f"/proc/{self.pid}/stat", encoding="ascii") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                self.gone = time.perf_counter()
                return
            if state == "Z" and self.zombie is None:
                self.zombie = time.perf_counter()
            time.sleep(0.001)


def ping_agent(guest):
    """None until the guest agent answers a guest-ping, then True."""
    try:
        guest.agent("guest-ping", timeout=1)
        return True
    except guestlib.AgentError:
        return None


class Bench:
    """A benchmark run: its work directory, nativesnap-api (libvirt driver,
    fresh sqlite), the libvirt connection, the guests it booted and the
    servers it spawned, and the samples it recorded. ``teardown()`` removes
    all of it whatever state the run stopped in."""

    token = "admin:bench"            # noauth2: an admin of project "bench"
    work_prefix = "nativesnap-bench-"

    def __init__(self, args, plan):
        self.args = args
        self.plan = plan
        self.work_dir = None
        self.api = None
        self.client = None
        self.conn = None
        self.guests = []
        self.spawned = []           # server ids spawned and not yet deleted
        self.results = {}           # figure key -> {"samples_ms", "warmup_ms", ...}
        self.notes = {}
        self.log_lines = []

    # --- reporting while running -------------------------------------------------

    def say(self, message):
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        self.log_lines.append(line)
        print(line, file=sys.stderr, flush=True)

    def record(self, key, value_ms, warmup=False, **extra):
        entry = self.results.setdefault(key, {"samples_ms": [], "warmup_ms": []})
        entry["warmup_ms" if warmup else "samples_ms"].append(round(value_ms, 1))
        for name, value in extra.items():
            entry.setdefault(name, []).append(value)

    # --- set-up and tear-down ---------------------------------------------------

    def setup(self):
        self.work_dir = tempfile.mkdtemp(prefix=self.work_prefix,
                                         dir=self.args.work_dir)
        os.chmod(self.work_dir, 0o755)
        self.say(f"work directory {self.work_dir}")
        self.conn = guestlib.connect()
        started = time.monotonic()
        self.images = guestlib.build_guest()
        self.say(f"test guest images ready ({time.monotonic() - started:.1f} s): "
                 f"kernel {self.images.kernel_version}")
        state = os.path.join(self.work_dir, "state")
        os.makedirs(state)
        # Options of the service under test ({section: {key: value}}), e.g.
        # bench/run --conf libvirt.live_memory_snapshots=false.
        self.api = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                      drivers=("libvirt",),
                                      extra_conf=getattr(self.args, "conf", None))
        self.api.manage("db", "sync")
        self.api.start(timeout=60)
        self.client = Client(self.api.url, self.token, self.args.poll_ms / 1000.0)
        self.say(f"nativesnap-api (libvirt driver) on {self.api.url}")

    def images_for(self, size_gib):
        """Guest images whose data-disk template has ``size_gib`` GiB of
        virtual size: the 1 GiB template, or a resized copy of it."""
        virtual = json.loads(subprocess.run(
            ["qemu-img", "info", "--output=json", self.images.disk_template],
            check=True, capture_output=True, text=True, timeout=60).stdout
        )["virtual-size"]
        if virtual == size_gib * 1024 ** 3:
            return self.images
        path = os.path.join(self.work_dir, f"data-{size_gib}G.qcow2")
        if not os.path.exists(path):
            shutil.copyfile(self.images.disk_template, path)
            subprocess.run(["qemu-img", "resize", "-q", path, f"{size_gib}G"],
                           check=True, capture_output=True, timeout=60)
        return dataclasses.replace(self.images, disk_template=path,
                                   disk_size=f"{size_gib}G")

    def teardown(self):
        """Remove everything, whatever state the run stopped in; returns the
        problems met (reported, they do not hide the run's own error)."""
        problems = []
        for server_id in list(self.spawned):
            try:
                self.delete_server(server_id)
            except Exception as e:  # then remove the domain directly
                problems.append(f"DELETE spawned server {server_id}: {e}")
                with contextlib.suppress(Exception):
                    clone = guestlib.Guest.attach(self.conn, server_id)
                    if clone is not None:
                        if clone.domain.isActive():
                            clone.domain.destroy()
                        guestlib.Guest._undefine(clone.domain)
        for guest in reversed(self.guests):
            try:
                guest.cleanup()
            except Exception as e:
                problems.append(str(e))
        self.guests.clear()
        if self.client is not None:
            self.client.close()
        if self.api is not None:
            try:
                self.api.stop(timeout=30)
            except Exception as e:
                problems.append(f"stopping nativesnap-api: {e}")
                self.api.kill()
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        if self.work_dir and not self.args.keep:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        elif self.work_dir:
            self.say(f"kept {self.work_dir}")
        return problems

    # --- the operations, timed ------------------------------------------------------

    def snapshot_view(self, server_id, snapshot_id):
        resp = self.client.get(f"/v1/servers/{server_id}/snapshots/{snapshot_id}")
        if resp.status_code == 404:
            return None
        return expect(resp, 200, "show the snapshot")["snapshot"]

    def server_view(self, server_id):
        resp = self.client.get(f"/v1/servers/{server_id}")
        return expect(resp, 200, "show the server")["server"]

    def create(self, subject, name, **fields):
        """POST a snapshot; returns (its view once it left `creating`,
        ms from the POST to that view)."""
        path = f"/v1/servers/{subject.server_id}/snapshots"
        started = time.perf_counter()
        resp = self.client.call("POST", path, {"snapshot": dict(fields, name=name)})
        snapshot_id = expect(resp, 202, "create a snapshot")["snapshot"]["id"]

        def settled():
            view = self.snapshot_view(subject.server_id, snapshot_id)
            if view is None:
                raise BenchError(f"snapshot {snapshot_id} vanished while creating")
            return None if view["status"] == "creating" else view
        view, done = self.client.poll(settled, TASK_TIMEOUT,
                                      f"snapshot {snapshot_id} to be created")
        if view["status"] != "available":
            raise BenchError(f"snapshot {snapshot_id} is {view['status']}: "
                             f"{view['fault']}")
        return view, (done - started) * 1000

    def delete_snapshot(self, subject, snapshot_id):
        path = f"/v1/servers/{subject.server_id}/snapshots/{snapshot_id}"
        started = time.perf_counter()
        expect(self.client.call("DELETE", path), 202, "delete a snapshot")

        def gone():
            view = self.snapshot_view(subject.server_id, snapshot_id)
            if view is None:
                return True
            if view["status"] not in ("deleting",):
                raise BenchError(f"deleting snapshot {snapshot_id}: it is "
                                 f"{view['status']}: {view['fault']}")
            return None
        _, done = self.client.poll(gone, TASK_TIMEOUT,
                                   f"snapshot {snapshot_id} to be deleted")
        return (done - started) * 1000

    def adopt(self, guest, name):
        """POST /v1/servers adopting ``guest``'s domain; returns the server id."""
        resp = self.client.call("POST", "/v1/servers", {"server": {
            "name": name, "driver": "libvirt", "hypervisor_ref": guest.name}})
        return expect(resp, 201, "adopt the guest")["server"]["id"]

    def _domain_defined(self, uuid):
        try:
            self.conn.lookupByUUIDString(uuid)
            return True
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return False
            raise

    def spawn(self, snapshot_id, linked, power_on=False):
        """POST /v1/servers from a snapshot; returns (server id, its view once
        it left BUILD, times in ms from the POST): ``built_ms`` until it left
        BUILD; with ``power_on`` also ``defined_ms``, until libvirt knows the
        new domain (its disks are made and it is defined, QEMU not started:
        the time before boot), and ``agent_ms``, until the new guest's agent
        answers (booted)."""
        started = time.perf_counter()
        resp = self.client.call("POST", "/v1/servers", {"server": {
            "name": f"bench-{'linked' if linked else 'full'}",
            "snapshot_id": snapshot_id, "linked": linked, "power_on": power_on}})
        server_id = expect(resp, 202, "spawn a server")["server"]["id"]
        self.spawned.append(server_id)
        seen = {}

        def built():
            # The service defines the domain (named by the server id) once
            # its disks are ready, then starts it: libvirt tells when the
            # first happened, the API only when both are done.
            if power_on and "defined" not in seen and self._domain_defined(server_id):
                seen["defined"] = time.perf_counter()
            view = self.server_view(server_id)
            return None if view["status"] == "BUILD" else view
        view, done = self.client.poll(built, TASK_TIMEOUT,
                                      f"spawned server {server_id} to leave BUILD")
        if view["status"] == "ERROR":
            raise BenchError(f"spawning server {server_id} failed: {view['fault']}")
        times = {"built_ms": (done - started) * 1000}
        if power_on:
            if view["status"] != "ACTIVE":
                raise BenchError(f"spawned server {server_id} is {view['status']}, "
                                 "not ACTIVE, with power_on")
            # Defined and started between two polls: the poll that saw it
            # running is the bound.
            times["defined_ms"] = (seen.get("defined", done) - started) * 1000
            clone = guestlib.Guest.attach(self.conn, server_id)
            if clone is None:
                raise BenchError(f"no libvirt domain for spawned server {server_id}")
            _, agent_done = self.client.poll(lambda: ping_agent(clone), BOOT_TIMEOUT,
                                             f"the agent of spawned server {server_id}")
            times["agent_ms"] = (agent_done - started) * 1000
        return server_id, view, times

    def delete_server(self, server_id):
        started = time.perf_counter()
        resp = self.client.call("DELETE", f"/v1/servers/{server_id}")
        if resp.status_code not in (204, 404):
            raise BenchError(f"DELETE server {server_id}: HTTP {resp.status_code}: "
                             f"{resp.text[:500]}")
        elapsed = (time.perf_counter() - started) * 1000
        self.spawned.remove(server_id)
        return elapsed

    def revert(self, subject, snapshot_id):
        """POST revert; returns (ms until task_state is null, ms until the
        guest agent answers), both from the POST."""
        started = time.perf_counter()
        resp = self.client.call("POST", f"/v1/servers/{subject.server_id}/action",
                                {"revert": {"snapshot_id": snapshot_id}})
        expect(resp, 202, "revert")

        def idle():
            view = self.server_view(subject.server_id)
            return None if view["task_state"] is not None else view
        view, task_done = self.client.poll(idle, TASK_TIMEOUT,
                                           "the revert task to end")
        if view["fault"] is not None:
            raise BenchError(f"revert to {snapshot_id} failed: {view['fault']}")
        if view["status"] != "ACTIVE":
            raise BenchError(f"after the revert the server is {view['status']}")
        _, agent_done = self.client.poll(lambda: ping_agent(subject.guest),
                                         AGENT_TIMEOUT,
                                         "the guest agent after the revert")
        return (task_done - started) * 1000, (agent_done - started) * 1000

    # --- the figures ----------------------------------------------------------------


# --- data written inside a guest -----------------------------------------------------

PATTERN = "/run/ram/pattern"    # on the guest's 32 MiB tmpfs
PATTERN_MIB = 4


def ensure_pattern(guest):
    """A 4 MiB random pattern in the guest's tmpfs, made once (a boot or a
    disk-only revert loses it): /dev/urandom under TCG gives ≈ 8 MB/s, cat of
    the pattern ≈ 75-80 MB/s. Not zeros: qemu-img convert and the mirror skip
    zero clusters, which would make every copy unrealistically cheap."""
    guest.sh(f"[ -s {PATTERN} ] || head -c {PATTERN_MIB * MIB} /dev/urandom "
             f"> {PATTERN}", timeout=120)


def write_pattern(guest, mib, path=None, raw_offset_mib=None):
    """Write ``mib`` MiB (the pattern repeated) inside the guest, into the
    file ``path`` (replaced) or onto its data disk /dev/vda from
    ``raw_offset_mib`` on (past its filesystem), then sync. Returns where."""
    if (path is None) == (raw_offset_mib is None):
        raise ValueError("write_pattern: a path or a raw offset, one of them")
    ensure_pattern(guest)
    loops = max(1, mib // PATTERN_MIB)
    gen = (f"i=0; while [ $i -lt {loops} ]; do cat {PATTERN}; i=$((i+1)); done")
    if path is not None:
        script = f"{gen} > {shlex.quote(path)} && sync"
        where = f"file {path}"
    else:
        script = (f"{gen} | dd of=/dev/vda bs=1M seek={int(raw_offset_mib)} "
                  "2>/dev/null && sync")
        where = f"raw /dev/vda from {int(raw_offset_mib)} MiB"
    guest.sh(script, timeout=max(GUEST_WRITE_TIMEOUT, mib // 4))
    return where


def disk_info(path):
    """qemu-img info of a disk a running domain has open (-U)."""
    return json.loads(subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", path], check=True,
        capture_output=True, text=True, timeout=60).stdout)


# --- running a benchmark ------------------------------------------------------------

def uptime():
    """`uptime`'s line (load averages over 1, 5 and 15 minutes): other work
    on this shared machine skews every figure, so reports say how busy it was."""
    return _first_line(["uptime"])


def _terminate(signum, _frame):
    raise SystemExit(f"signal {signum}, cleaning up")


def execute(bench, prog):
    """setup(), machine_info(), run(), then teardown() whatever happened
    (an error, Ctrl-C, SIGTERM). Returns (machine, error or None); prints
    the error and the service log's tail."""
    signal.signal(signal.SIGTERM, _terminate)
    error = machine = None
    try:
        bench.setup()
        machine = machine_info(bench.conn)
        bench.run()
    except BaseException as e:  # noqa: B036 - clean up, then report
        error = e
        if not isinstance(e, (KeyboardInterrupt, SystemExit)):
            traceback.print_exc()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the clean-up finish
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        api_log_tail = None
        if (error is not None and bench.api is not None
                and not isinstance(error, (KeyboardInterrupt, SystemExit))):
            with contextlib.suppress(Exception):
                api_log_tail = bench.api.read_log()[-6000:]
        for problem in bench.teardown():
            print(f"{prog}: clean-up: {problem}", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if error is not None:
        if api_log_tail:
            print("--- nativesnap-api log (tail) ---\n" + api_log_tail,
                  file=sys.stderr)
        print(f"{prog}: could not run: {error}", file=sys.stderr)
    return machine, error


def write_json(path, report):
    """Write the report atomically (a reader never sees half a file)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


# --- a writer inside the guest (frozen time seen by the guest) -----------------

# The writer (docs/performance.md, "Frozen time"): appends a
# line to a file of the frozen filesystem in a loop, each write timed with
# busybox's microsecond $EPOCHREALTIME before and after it; a write issued
# while the filesystem is frozen blocks until the thaw. Builtins only (no
# fork a write), every stream redirected (guest-exec returns once the pipes
# close). Its log is on /run, a tmpfs the freeze leaves alone.
WRITER = (": > /data/.writer; mkfifo /run/w.fifo 2>/dev/null; while :; do "
          "a=$EPOCHREALTIME; echo x >&3; b=$EPOCHREALTIME; echo \"$a $b\"; "
          "read -t 0.001 _ <&4; done 3>>/data/.writer 4<>/run/w.fifo "
          ">/run/writer.log 2>/dev/null </dev/null & echo $! > /run/writer.pid")
WRITER_LEAD = 0.1           # s the writer runs before and after the measured call


def iso_epoch(text):
    """Epoch seconds of an API time stamp (ISO 8601, UTC)."""
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.timestamp()


class GuestWriter:
    """WRITER in the guest around a block: ``stall_ms`` is the longest write
    the guest saw take (a write blocked by a freeze returns at the thaw);
    ``writes`` how many it made. Microsecond clock, one write every ≈ 1.3 ms
    (TCG), so a stall is under-counted by one cadence at most."""

    def __init__(self, guest):
        self.guest = guest
        self.stall_ms = self.writes = None

    def __enter__(self):
        self.guest.sh(WRITER)
        time.sleep(WRITER_LEAD)
        return self

    def __exit__(self, *exc):
        time.sleep(WRITER_LEAD)
        self.guest.sh("read p < /run/writer.pid; kill $p; rm -f /data/.writer")
        if exc[0] is not None:
            return False
        spans = []
        for line in self.guest.read_file("/run/writer.log").decode(
                "ascii", "replace").splitlines():
            fields = line.split()
            if len(fields) == 2:
                try:
                    spans.append(float(fields[1]) - float(fields[0]))
                except ValueError:
                    pass        # the line the kill cut
        if not spans:
            raise BenchError("the guest's writer wrote nothing (/run/writer.log)")
        self.writes = len(spans)
        self.stall_ms = round(max(spans) * 1000, 1)
        return False


# --- data written from the host, and the guest's console ticks ----------------------

PREFILL_CHUNK_MIB = 256     # one qemu-io write (its buffer) of a prefill
PREFILL_TIMEOUT = 900       # s, a whole prefill
# The guest's tick on its serial console (a file on the host): its own clock
# (/proc/uptime), then a 1 ms wait (read -t on an idle fifo). Shell builtins
# only: a loop that forked a sleep every tick dirtied enough RAM to stretch
# the live save's final pass (paused 210 ms instead of ≈ 40-60 ms at 128 MiB).
TICKER = ("mkfifo /run/tick.fifo 2>/dev/null; while :; do read t _ < /proc/uptime; "
          "echo \"tick $t\"; read -t 0.001 x <&3; done 3<> /run/tick.fifo "
          "> /dev/ttyS0 2>&1 & echo $! > /run/ticker.pid")
CONSOLE_POLL = 0.001        # s, how often the console file's size is read


def _allocated(path):
    return json.loads(subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", path], check=True,
        capture_output=True, text=True, timeout=60).stdout).get("actual-size") or 0


def prefill(path, mib, offset_mib):
    """``mib`` MiB of non-zero data into the qcow2 at ``path`` (a guest's
    data disk, before boot) from ``offset_mib`` on, past the filesystem, in
    writes of PREFILL_CHUNK_MIB (qemu-io holds one write in memory), each
    chunk a different byte; checked by the disk's allocation afterwards."""
    commands = []
    for index, start in enumerate(range(0, mib, PREFILL_CHUNK_MIB)):
        length = min(PREFILL_CHUNK_MIB, mib - start)
        commands += ["-c", f"write -q -P {1 + index % 255} {offset_mib + start}M "
                           f"{length}M"]
    done = subprocess.run(["qemu-io", "-f", "qcow2", *commands, path],
                          capture_output=True, text=True, timeout=PREFILL_TIMEOUT)
    allocated = _allocated(path) or 0
    if done.returncode != 0 or done.stderr.strip() or allocated < mib * MIB:
        raise BenchError(f"qemu-io prefill of {path}: exit {done.returncode}, "
                         f"{allocated} bytes allocated: {done.stderr.strip()[-2000:]}")


class ConsoleWatch(threading.Thread):
    """Times, from the host, when a guest's console file grows (every
    CONSOLE_POLL), between start() and finish()."""

    def __init__(self, path):
        super().__init__(name="console-watch", daemon=True)
        self.path = path
        self.offset = os.path.getsize(path)
        self.growth = []            # monotonic times the file was seen larger
        self.done = threading.Event()
        self.end_offset = None

    def run(self):
        size = self.offset
        while not self.done.is_set():
            now = os.path.getsize(self.path)
            if now != size:
                self.growth.append(time.monotonic())
                size = now
            time.sleep(CONSOLE_POLL)

    def finish(self):
        if not self.done.is_set():
            self.done.set()
            if self.ident is not None:
                self.join(10)
            self.end_offset = os.path.getsize(self.path)

    def longest_stall_ms(self):
        if len(self.growth) < 2:
            raise BenchError(f"the guest did not tick on its console ({self.path})")
        return max(b - a for a, b in zip(self.growth, self.growth[1:])) * 1000

    def guest_clock_gap_ms(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            text = f.read(self.end_offset - self.offset).decode("ascii", "replace")
        ticks = []
        for line in text.splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[0] == "tick":
                try:
                    ticks.append(float(fields[1]))
                except ValueError:
                    pass        # a line cut by the start of the window
        return max((b - a for a, b in zip(ticks, ticks[1:])), default=0.0) * 1000


# --- main ------------------------------------------------------------------------------

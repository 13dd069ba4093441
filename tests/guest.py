"""The tiny test guest: a real libvirt/QEMU (TCG) domain with a guest agent.

``build_guest()`` runs ``tools/build-test-guest`` (a Debian cloud kernel and a
busybox initramfs with ``qemu-ga``; cached), ``Guest`` defines and boots a
domain from it with 1-3 ext4 data disks (vda -> /data, vdb -> /data1,
vdc -> /data2, a tmpfs at /run/ram) and runs commands *inside* it through the
guest agent, so a test can write data, take a snapshot, revert and check the
data from the guest's point of view.

No pytest here: the fixtures are in ``tests/functional/guest_fixtures.py``.
"""

import base64
import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import threading
import time
import uuid

import libvirt
import libvirt_qemu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_SCRIPT = os.path.join(REPO, "tools", "build-test-guest")
START_LIBVIRTD = os.path.join(REPO, "tools", "start-libvirtd")
LIBVIRT_URI = os.environ.get("NATIVESNAP_TEST_LIBVIRT_URI", "qemu:///system")
EMULATOR = "/usr/bin/qemu-system-x86_64"
NAME_PREFIX = "nativesnap-test-"
AGENT_CHANNEL = "org.qemu.guest_agent.0"
# vda, vdb, vdc... -> where the guest's start-up mounts each ext4 disk.
MOUNTPOINTS = ("/data", "/data1", "/data2", "/data3")
MAX_DISKS = len(MOUNTPOINTS)
# Bytes per guest-file-write: a 256 KiB chunk (≈ 350 KB of base64 in one JSON
# message) breaks qemu-ga 7.2's input ("JSON parse error") and libvirt then
# reports the agent "not available for now"; 128 KiB works. Reads come back in
# larger chunks (a reply is bounded by libvirt's 4 MiB RPC strings).
WRITE_CHUNK = 64 * 1024
READ_CHUNK = 1024 * 1024
UNDEFINE_FLAGS = (libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                  | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
                  | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
                  | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)


class GuestError(Exception):
    """The guest did not boot, or a command inside it failed."""


class AgentError(GuestError):
    """The guest agent (or libvirt talking to it) answered with an error."""

    def __init__(self, command, message, error_class=None):
        super().__init__(f"{command}: {message}")
        self.command = command
        self.error_class = error_class


# --- building --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GuestImages:
    """What tools/build-test-guest produced."""
    kernel: str
    initrd: str
    disk_template: str
    disk_size: str
    kernel_version: str
    cache_key: str
    build_seconds: float


_built = {}
_build_lock = threading.Lock()


def build_guest(output_dir=None, disk_size=None, timeout=600):
    """Run tools/build-test-guest once per process and output dir (it is
    itself cached on disk, ≈ 0.2 s when current) and return its GuestImages.

    ``output_dir`` defaults to $NATIVESNAP_TEST_GUEST_DIR, else the script's
    default (/var/cache/nativesnap/test-guest)."""
    output_dir = output_dir or os.environ.get("NATIVESNAP_TEST_GUEST_DIR")
    key = (output_dir, disk_size)
    with _build_lock:
        if key not in _built:
            env = dict(os.environ)
            if disk_size:
                env["NATIVESNAP_TEST_DISK_SIZE"] = str(disk_size)
            argv = [BUILD_SCRIPT] + ([output_dir] if output_dir else [])
            start = time.monotonic()
            proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                                  timeout=timeout)
            elapsed = time.monotonic() - start
            if proc.returncode != 0:
                raise GuestError(f"{BUILD_SCRIPT} failed ({proc.returncode}):\n"
                                 f"{proc.stderr[-4000:]}")
            out = dict(line.split("=", 1) for line in proc.stdout.splitlines()
                       if "=" in line)
            _built[key] = GuestImages(
                kernel=out["KERNEL"], initrd=out["INITRD"],
                disk_template=out["DISK_TEMPLATE"], disk_size=out["DISK_SIZE"],
                kernel_version=out["KERNEL_VERSION"], cache_key=out["CACHE_KEY"],
                build_seconds=elapsed)
        return _built[key]


# --- libvirt -------------------------------------------------------------------


def _quiet_libvirt_errors():
    # libvirt-python prints every error to stderr unless a handler is set; the
    # errors still raise libvirtError. Polling the agent during boot would spam.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def connect(uri=LIBVIRT_URI):
    """A connection to libvirtd; starts it (tools/start-libvirtd, idempotent)
    if it does not answer."""
    _quiet_libvirt_errors()
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError:
        if uri != "qemu:///system":
            raise
    proc = subprocess.run([START_LIBVIRTD], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        raise GuestError(f"tools/start-libvirtd failed:\n{proc.stderr[-4000:]}")
    return libvirt.open(uri)


@dataclasses.dataclass(frozen=True)
class DiskSpec:
    """How to make one disk, where the defaults will not do (e.g. a Cinder
    volume: a file named ``volume-<volume id>`` whose serial is the volume id).

    ``file_name``: a plain file name in the guest's directory (default
    ``<uuid>.qcow2``); ``serial``: the disk's <serial> (default 20 hex digits);
    ``blank_size``: make an empty qcow2 of that virtual size (e.g. "64M")
    instead of the ext4 template (the guest then sees a raw block device)."""
    file_name: str | None = None
    serial: str | None = None
    blank_size: str | None = None


@dataclasses.dataclass
class GuestDisk:
    target: str        # vda, vdb, vdc
    path: str          # the qcow2 file the domain was defined with
    serial: str        # <serial>, visible in the guest at /sys/block/<target>/serial
    mountpoint: str    # where the guest mounts it


DOMAIN_XML = """<domain type='{virt_type}'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>{on_reboot}</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{emulator}</emulator>
{disks}
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='{console_log}' append='on'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='{channel}'/>
    </channel>
    <memballoon model='none'/>
  </devices>
</domain>
"""

DISK_XML = """    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{path}'/>
      <target dev='{target}' bus='virtio'/>
      <serial>{serial}</serial>
    </disk>"""


def _xml_escape(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace("'", "&apos;"))


class Guest:
    """One test domain and its files, all in ``<base_dir>/<name>/``.

    ``disk_mode``: "copy" (default) gives each disk a full standalone copy of
    the template (≈ 1.5 MiB, no backing file); "overlay" a fresh qcow2 overlay
    on the shared template (a linked clone: a chain of two from the start).

    Use ``boot()`` (define + start + wait for the agent), then the in-guest
    helpers; ``cleanup()`` destroys, undefines and removes everything, also
    after a test added snapshots or overlays.
    """

    def __init__(self, conn, base_dir, images=None, disks=1, memory_mib=128, vcpus=1,
                 disk_mode="copy", virt_type="qemu", cmdline_extra="",
                 on_reboot="destroy"):
        # ``disks``: how many default disks, or a list with a DiskSpec (or
        # None for the default) per disk.
        specs = ([None] * disks if isinstance(disks, int) else list(disks))
        specs = [spec or DiskSpec() for spec in specs]
        if not 1 <= len(specs) <= MAX_DISKS:
            raise ValueError(f"disks must be 1..{MAX_DISKS}, not {len(specs)}")
        for spec in specs:
            name = spec.file_name
            if name is not None and (not name or "/" in name
                                     or name in (".", "..")):
                raise ValueError(f"file_name must be a plain file name, "
                                 f"not {name!r}")
        if disk_mode not in ("copy", "overlay"):
            raise ValueError(f"disk_mode must be 'copy' or 'overlay', not {disk_mode!r}")
        self.conn = conn
        self.images = images or build_guest()
        self.uuid = str(uuid.uuid4())
        self.name = NAME_PREFIX + self.uuid[:8]
        self.memory_mib = memory_mib
        self.vcpus = vcpus
        self.disk_mode = disk_mode
        self.virt_type = virt_type
        self.on_reboot = on_reboot
        self.cmdline = " ".join(filter(None, [
            "console=ttyS0", "panic=-1", "quiet", "mitigations=off", cmdline_extra]))
        self.dir = os.path.join(os.path.abspath(base_dir), self.name)
        self.console_log_path = os.path.join(self.dir, "console.log")
        self.domain = None
        self.boot_seconds = None   # start() -> first answered guest-ping
        self.disks = []
        os.makedirs(self.dir)
        try:
            for index, spec in enumerate(specs):
                disk_id = uuid.uuid4()
                name = spec.file_name or f"{disk_id}.qcow2"
                disk = GuestDisk(target="vd" + "abcd"[index],
                                 path=os.path.join(self.dir, name),
                                 serial=spec.serial or disk_id.hex[:20],
                                 mountpoint=MOUNTPOINTS[index])
                if spec.blank_size:
                    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                                    disk.path, spec.blank_size], check=True,
                                   capture_output=True, timeout=60)
                else:
                    self._make_disk(disk.path)
                self.disks.append(disk)
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _make_disk(self, path):
        template = self.images.disk_template
        if self.disk_mode == "copy":
            shutil.copyfile(template, path)
        else:
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                            "-b", template, path], check=True, capture_output=True,
                           timeout=60)

    def __repr__(self):
        return f"<Guest {self.name} {self.uuid} disks={[d.target for d in self.disks]}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # --- life cycle -----------------------------------------------------------

    def xml(self):
        disks = "\n".join(DISK_XML.format(path=_xml_escape(d.path), target=d.target,
                                          serial=_xml_escape(d.serial))
                          for d in self.disks)
        return DOMAIN_XML.format(
            virt_type=self.virt_type, name=self.name, uuid=self.uuid,
            memory_mib=self.memory_mib, vcpus=self.vcpus,
            kernel=_xml_escape(self.images.kernel), initrd=_xml_escape(self.images.initrd),
            cmdline=_xml_escape(self.cmdline), on_reboot=self.on_reboot,
            emulator=EMULATOR, disks=disks, console_log=_xml_escape(self.console_log_path),
            channel=AGENT_CHANNEL)

    def define(self):
        self.domain = self.conn.defineXML(self.xml())
        return self.domain

    def start(self, timeout=60):
        """Start the defined domain and wait for its agent; returns the
        seconds from start to the first answered guest-ping."""
        began = time.monotonic()
        self.domain.create()
        self.wait_for_agent(timeout, began=began)
        self.boot_seconds = time.monotonic() - began
        return self.boot_seconds

    def boot(self, timeout=60):
        """define() + start(); returns self."""
        if self.domain is None:
            self.define()
        self.start(timeout)
        return self

    def wait_for_agent(self, timeout=60, began=None):
        """Poll guest-ping until it answers (bounded); fail fast, with the
        console's tail, if the domain stops."""
        began = time.monotonic() if began is None else began
        deadline = began + timeout
        last = None
        while True:
            if not self.domain.isActive():
                raise GuestError(f"{self.name} stopped while booting ({last}); console:\n"
                                 f"{self.console_log()[-3000:]}")
            try:
                self.agent("guest-ping", timeout=2)
                return
            except AgentError as e:
                last = e
            if time.monotonic() >= deadline:
                raise GuestError(f"{self.name}: guest agent did not answer within "
                                 f"{timeout} s ({last}); console:\n"
                                 f"{self.console_log()[-3000:]}")
            time.sleep(0.1)

    def console_log(self):
        try:
            with open(self.console_log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def lookup(self):
        """The domain by UUID as libvirt has it now (the test may have
        redefined or restored it), or None."""
        try:
            return self.conn.lookupByUUIDString(self.uuid)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def cleanup(self):
        """Destroy, undefine (with snapshot/checkpoint metadata, NVRAM, managed
        save) and remove the guest's directory. Idempotent; raises GuestError
        at the end if the domain could not be removed."""
        problems = []
        dom = None
        try:
            dom = self.lookup()
        except libvirt.libvirtError as e:
            problems.append(f"lookup: {e}")
        if dom is not None:
            for attempt in range(3):
                try:
                    if dom.isActive():
                        dom.destroy()
                    break
                except libvirt.libvirtError as e:
                    if attempt == 2:
                        problems.append(f"destroy: {e}")
                    time.sleep(0.5)
            try:
                if dom.isPersistent():
                    self._undefine(dom)
            except libvirt.libvirtError as e:
                if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    problems.append(f"undefine: {e}")
        self.domain = None
        shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise GuestError(f"cleaning up {self.name}: {'; '.join(problems)}")

    @staticmethod
    def _undefine(dom):
        try:
            dom.undefineFlags(UNDEFINE_FLAGS)
            return
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return
            first = e
        # Some metadata libvirt will not drop with the domain: drop it one by one.
        try:
            for snap in dom.listAllSnapshots():
                snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
            for checkpoint in dom.listAllCheckpoints():
                checkpoint.delete(libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)
            dom.undefineFlags(UNDEFINE_FLAGS)
        except libvirt.libvirtError as e:
            raise libvirt.libvirtError(f"{first}; then: {e}") from e

    # --- the guest agent --------------------------------------------------------

    def agent(self, command, arguments=None, timeout=10):
        """Send one agent command; returns its "return" value."""
        message = {"execute": command}
        if arguments is not None:
            message["arguments"] = arguments
        try:
            reply = libvirt_qemu.qemuAgentCommand(self.domain, json.dumps(message),
                                                  int(timeout), 0)
        except libvirt.libvirtError as e:
            raise AgentError(command, str(e)) from e
        reply = json.loads(reply)
        if "error" in reply:
            err = reply["error"]
            raise AgentError(command, err.get("desc", err), err.get("class"))
        return reply.get("return")

    def ping(self):
        self.agent("guest-ping", timeout=5)

    def stop_agent(self, timeout=30):
        """Stop qemu-ga for good (init no longer respawns it) and wait until
        libvirt reports it gone."""
        self.exec(["/bin/sh", "-c", "touch /run/no-agent; "
                   "(sleep 0.3; killall qemu-ga) >/dev/null 2>&1 &"])
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.agent("guest-ping", timeout=1)
            except AgentError:
                return
            if time.monotonic() >= deadline:
                raise GuestError(f"{self.name}: the agent still answers after "
                                 f"{timeout} s")
            time.sleep(0.1)

    @classmethod
    def attach(cls, conn, ref):
        """A Guest for an existing domain (e.g. one nativesnap spawned), by
        UUID; None when there is no such domain. It owns no files: cleanup is
        the creator's business."""
        try:
            dom = conn.lookupByUUIDString(ref)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise
        guest = cls.__new__(cls)
        guest.conn = conn
        guest.uuid = dom.UUIDString()
        guest.name = dom.name()
        guest.domain = dom
        guest.disks = []
        guest.dir = None
        guest.console_log_path = ""
        return guest

    def exec(self, argv, input_data=None, timeout=60, env=None):
        """Run argv inside the guest (guest-exec, then bounded guest-exec-status
        polling); returns (exitcode, stdout bytes, stderr bytes). A process
        killed by a signal returns -signal. Meant for small outputs (libvirt
        caps a reply at 4 MiB): read big files with read_file()."""
        args = {"path": argv[0], "arg": [str(a) for a in argv[1:]],
                "capture-output": True}
        if input_data is not None:
            args["input-data"] = base64.b64encode(input_data).decode()
        if env is not None:
            args["env"] = [f"{k}={v}" for k, v in env.items()]
        pid = self.agent("guest-exec", args)["pid"]
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            status = self.agent("guest-exec-status", {"pid": pid})
            if status.get("exited"):
                break
            if time.monotonic() >= deadline:
                raise GuestError(f"{shlex.join(map(str, argv))} still running in "
                                 f"{self.name} after {timeout} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        out = base64.b64decode(status.get("out-data", ""))
        err = base64.b64decode(status.get("err-data", ""))
        code = status.get("exitcode")
        if code is None:
            code = -status.get("signal", 0)
        return code, out, err

    def run(self, argv, input_data=None, timeout=60):
        """exec() that raises GuestError unless the exit code is 0; returns stdout."""
        code, out, err = self.exec(argv, input_data=input_data, timeout=timeout)
        if code != 0:
            raise GuestError(f"{shlex.join(map(str, argv))} in {self.name} exited {code}: "
                             f"{err.decode(errors='replace').strip()}")
        return out

    def sh(self, script, timeout=60):
        """Run a shell script (busybox sh) in the guest; returns stdout as text."""
        return self.run(["/bin/sh", "-c", script], timeout=timeout).decode()

    def write_file(self, path, data):
        """Write bytes to a file in the guest (guest-file-open/write/close)."""
        handle = self.agent("guest-file-open", {"path": path, "mode": "wb"})
        with self._closing(handle):
            view = memoryview(data)
            while view:
                chunk = view[:WRITE_CHUNK]
                written = self.agent("guest-file-write", {
                    "handle": handle,
                    "buf-b64": base64.b64encode(chunk).decode()})["count"]
                if written <= 0:
                    raise GuestError(f"guest-file-write to {path} wrote {written} bytes")
                view = view[written:]
            self.agent("guest-file-flush", {"handle": handle})

    def read_file(self, path):
        """The bytes of a file in the guest (guest-file-open/read/close)."""
        handle = self.agent("guest-file-open", {"path": path, "mode": "rb"})
        parts = []
        with self._closing(handle):
            while True:
                reply = self.agent("guest-file-read", {"handle": handle,
                                                       "count": READ_CHUNK})
                parts.append(base64.b64decode(reply.get("buf-b64", "")))
                if reply.get("eof") or reply.get("count", 0) == 0:
                    break
        return b"".join(parts)

    @contextlib.contextmanager
    def _closing(self, handle):
        """guest-file-close afterwards; a failed close does not hide the
        error that made the body fail."""
        try:
            yield
        except BaseException:
            try:
                self.agent("guest-file-close", {"handle": handle})
            except AgentError:
                pass
            raise
        self.agent("guest-file-close", {"handle": handle})

    def sha256(self, path):
        """sha256 of a file, computed inside the guest (busybox sha256sum)."""
        return self.run(["sha256sum", path]).split()[0].decode()

    def write_random(self, path, size, timeout=300):
        """Write ``size`` random bytes (from the guest's /dev/urandom) to
        ``path`` in the guest, sync, and return their sha256 (computed in the
        guest)."""
        script = ('head -c "$1" /dev/urandom > "$2.tmp" && mv "$2.tmp" "$2" && sync && '
                  'sha256sum "$2"')
        out = self.run(["/bin/sh", "-c", script, "sh", str(int(size)), path],
                       timeout=timeout)
        return out.split()[0].decode()

    def sync(self):
        self.run(["sync"])

    def exists(self, path):
        return self.exec(["test", "-e", path])[0] == 0

    def mounts(self):
        """The guest's /proc/mounts as a list of (device, mountpoint, fstype, options)."""
        rows = []
        for line in self.read_file("/proc/mounts").decode().splitlines():
            fields = line.split()
            if len(fields) >= 4:
                rows.append((fields[0], fields[1], fields[2], fields[3]))
        return rows

    def fsfreeze_status(self):
        """'thawed' or 'frozen' (guest-fsfreeze-status)."""
        return self.agent("guest-fsfreeze-status")

    def fsfreeze_freeze(self, mountpoints=None, timeout=30):
        """Freeze (all, or the given mountpoints); returns how many froze."""
        if mountpoints is None:
            return self.agent("guest-fsfreeze-freeze", timeout=timeout)
        return self.agent("guest-fsfreeze-freeze-list", {"mountpoints": list(mountpoints)},
                          timeout=timeout)

    def fsfreeze_thaw(self, timeout=30):
        """Thaw; returns how many filesystems thawed."""
        return self.agent("guest-fsfreeze-thaw", timeout=timeout)

    def fsfreeze_hook_log(self):
        """[(event, guest uptime s)] from the fsfreeze hook (freeze/thaw)."""
        if not self.exists("/run/fsfreeze-hook.log"):
            return []
        return [(event, float(t)) for event, t in
                (line.split() for line in
                 self.read_file("/run/fsfreeze-hook.log").decode().splitlines())]

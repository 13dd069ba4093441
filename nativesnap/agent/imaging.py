"""The two commands that touch the root disk: stream it out, write it back.

``snapshot.stream_image``: the device becomes a qcow2 image sent with one
chunked HTTP PUT (qcow2stream.generate is the body, so nothing is buffered
beyond one 4 MiB read), basic auth, the sha256 of exactly the bytes sent.
Progress: pass 1 (the scan) is 0-50 %, pass 2 (the upload) 50-100 %.

``deploy.write_image``: ``qemu-img convert -n -m 1 -O raw`` straight from the
http(s) URL onto the device. Why qemu-img: it reads only the image's
allocated clusters over HTTP range requests and writes zeros for the rest
(with ``-n`` it assumes nothing about the target, so old data on the device
is overwritten). ``-m 1`` because qemu's curl driver hangs with parallel
requests. The password goes to qemu through a ``secret`` object read from a
0600 file that is removed at once; the command line carries only its id. The
device is then read back (its page cache dropped first, the writes having
bypassed it with ``-t none``) for ``device_sha256``. ``bytes_read`` is the
image's size as the server reports it (qemu reads each cluster once).

Every wait is bounded: the PUT by connect/read timeouts and the command's
deadline, qemu-img by the deadline (then killed).
"""

import hashlib
import json
import logging
import os
import re
import subprocess
import tempfile
import threading
import time

import requests

from nativesnap.agent import qcow2stream

LOG = logging.getLogger(__name__)

READ_CHUNK = 4 << 20
CONNECT_TIMEOUT = 10
HTTP_READ_TIMEOUT = 120
QEMU_HTTP_TIMEOUT = 60      # seconds qemu's curl driver waits on one request
_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


class CommandError(Exception):
    """A command failed for a reason its message states."""


class Deadline:
    def __init__(self, seconds):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self):
        return self.at - time.monotonic()

    def check(self, what):
        if self.remaining() <= 0:
            raise CommandError(f"{what} did not finish within {self.seconds} s")


def _session():
    """A requests session that ignores proxy settings from the environment:
    the image store is reached directly (docs/baremetal-agent.md)."""
    session = requests.Session()
    session.trust_env = False
    return session


def _auth(params):
    if params.get("username") is None:
        return None
    return (params["username"], params.get("password", ""))


def sha256_device(path, progress=None):
    """The sha256 of the whole device, its page cache dropped first (so the
    device itself is read, not what was just written)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = qcow2stream.device_size(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    _, digest = qcow2stream.read_device(
        path, progress=progress and (lambda done: progress(done / size)))
    return digest


class _Counted:
    """The upload body: counts and hashes what is sent, enforces the
    deadline between chunks."""

    def __init__(self, chunks, deadline):
        self.chunks = chunks
        self.deadline = deadline
        self.sent = 0
        self.digest = hashlib.sha256()

    def __iter__(self):
        for chunk in self.chunks:
            self.deadline.check("the upload")
            self.digest.update(chunk)
            self.sent += len(chunk)
            yield chunk


def _http_failure(response, action):
    text = (response.text or "")[:200].strip()
    return CommandError(f"{action} {response.url} answered HTTP "
                        f"{response.status_code} {response.reason}"
                        + (f": {text}" if text else ""))


def stream_image(device, params, command, timeout, ca_file=None):
    """``snapshot.stream_image``: image ``device`` to ``params["url"]``."""
    deadline = Deadline(timeout)
    LOG.info("streaming %s as qcow2 to %s (image %r)", device, params["url"],
             params["image_name"])
    _preflight(params, ca_file)
    size = _size(device)
    scan = qcow2stream.scan(
        device, progress=lambda done: command.set_progress(50 * done / size))
    deadline.check("reading the device")
    image_bytes = qcow2stream.image_size(scan)
    body = _Counted(qcow2stream.generate(
        scan, progress=lambda done: command.set_progress(50 + 50 * done / image_bytes)),
        deadline)
    try:
        with _session() as session:
            response = session.put(
                params["url"], data=iter(body), auth=_auth(params),
                headers={"Content-Type": "application/octet-stream"},
                timeout=(CONNECT_TIMEOUT, HTTP_READ_TIMEOUT),
                verify=ca_file or True)
    except requests.RequestException as exc:
        raise CommandError(f"upload to {params['url']} failed: "
                           f"{exc.__class__.__name__}: {exc}") from None
    if response.status_code not in (200, 201, 204):
        raise _http_failure(response, "PUT")
    if body.sent != image_bytes:
        raise CommandError(f"sent {body.sent} bytes, the image has {image_bytes}")
    result = {"device": device, "virtual_size": scan.size,
              "allocated_bytes": scan.allocated_bytes, "bytes_sent": body.sent,
              "sha256": body.digest.hexdigest(),
              "device_sha256": scan.device_sha256,
              "cluster_size": qcow2stream.CLUSTER_SIZE}
    LOG.info("streamed %s: %d bytes sent for %d allocated of %d", device,
             body.sent, scan.allocated_bytes, scan.size)
    return result


def _preflight(params, ca_file):
    """Refused credentials fail the command before the device is read (a
    server refusing the PUT itself would only say so after pass 1): an
    OPTIONS request, which any WebDAV server answers; only 401/403 count."""
    try:
        with _session() as session:
            response = session.options(params["url"], auth=_auth(params),
                                       timeout=(CONNECT_TIMEOUT, HTTP_READ_TIMEOUT),
                                       verify=ca_file or True)
    except requests.RequestException as exc:
        raise CommandError(f"cannot reach {params['url']}: "
                           f"{exc.__class__.__name__}: {exc}") from None
    if response.status_code in (401, 403):
        raise _http_failure(response, "OPTIONS")


def _size(device):
    fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return qcow2stream.device_size(fd)
    finally:
        os.close(fd)


def _probe(params, ca_file):
    """HEAD the image: a clear error for a wrong URL or credentials before
    qemu-img runs; its size (Content-Length) is ``bytes_read``."""
    try:
        with _session() as session:
            response = session.head(params["url"], auth=_auth(params),
                                    timeout=(CONNECT_TIMEOUT, HTTP_READ_TIMEOUT),
                                    verify=ca_file or True, allow_redirects=True)
    except requests.RequestException as exc:
        raise CommandError(f"cannot reach {params['url']}: "
                           f"{exc.__class__.__name__}: {exc}") from None
    if response.status_code != 200:
        raise _http_failure(response, "HEAD")
    return int(response.headers.get("Content-Length") or 0)


def _qemu_source(params, secret_id):
    scheme = params["url"].split(":", 1)[0].lower()
    source = {"driver": scheme, "url": params["url"],
              "timeout": QEMU_HTTP_TIMEOUT}
    if scheme == "https":
        source["sslverify"] = True
    if params.get("username") is not None:
        source["username"] = params["username"]
        source["password-secret"] = secret_id
    return "json:" + json.dumps({"driver": "qcow2", "file": source})


def _run_qemu_img(argv, deadline, progress):
    """Run qemu-img with ``-p``; feed its percentage to ``progress``; kill it
    at the deadline."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = []

    def read_stdout():
        for piece in iter(lambda: proc.stdout.read1(256), b""):
            for match in _PROGRESS.findall(piece):
                progress(float(match))

    readers = [threading.Thread(target=read_stdout, daemon=True),
               threading.Thread(target=lambda: stderr.append(proc.stderr.read()),
                                daemon=True)]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=max(1, deadline.remaining()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
        raise CommandError(f"qemu-img convert did not finish within "
                           f"{deadline.seconds} s and was killed") from None
    finally:
        for reader in readers:
            reader.join(timeout=5)
    if proc.returncode != 0:
        message = b"".join(stderr).decode(errors="replace").strip()[-500:]
        raise CommandError(f"qemu-img convert failed (exit {proc.returncode}): {message}")


def write_image(device, params, command, timeout, ca_file=None, workdir=None):
    """``deploy.write_image``: write the qcow2 image at ``params["url"]``
    onto ``device`` and read it back."""
    deadline = Deadline(timeout)
    LOG.info("writing %s from %s", device, params["url"])
    bytes_read = _probe(params, ca_file)
    with tempfile.TemporaryDirectory(prefix="nativesnap-agent-", dir=workdir) as tmp:
        argv = ["qemu-img", "convert", "-p", "-n", "-m", "1", "-t", "none",
                "-O", "raw"]
        if params.get("username") is not None:
            secret = os.path.join(tmp, "secret")
            fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(params.get("password", ""))
            argv += ["--object", f"secret,id=sec0,file={secret}"]
        argv += [_qemu_source(params, "sec0"), device]
        _run_qemu_img(argv, deadline,
                      lambda percent: command.set_progress(0.8 * percent))
    deadline.check("writing the image")
    device_sha256 = sha256_device(
        device, progress=lambda done: command.set_progress(80 + 20 * done))
    expected = params.get("expected_sha256")
    if expected and expected.lower() != device_sha256:
        raise CommandError(f"the device's sha256 after writing is {device_sha256}, "
                           f"expected {expected.lower()}")
    LOG.info("wrote %s: %d bytes of image, device sha256 %s", device,
             bytes_read, device_sha256)
    return {"device": device, "bytes_read": bytes_read,
            "device_sha256": device_sha256}

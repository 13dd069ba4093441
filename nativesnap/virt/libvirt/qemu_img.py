"""qemu-img, run with argument lists (never a shell) and a timeout on every call.

Files in use by a running QEMU are read with ``-U`` (force-share): qemu-img
refuses to open them otherwise.
"""

import json
import os
import re
import subprocess
import time

from oslo_log import log as logging

from nativesnap import exception

LOG = logging.getLogger(__name__)

QEMU_IMG = "qemu-img"
_PROGRESS_RE = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


class QemuImgError(exception.DriverError):
    pass


def _env():
    # Untranslated messages: the fault quotes them, and a full disk is told
    # apart by its strerror text (qemu-img has no exit code for it).
    return dict(os.environ, LC_ALL="C")


def _free_space(directory):
    try:
        st = os.statvfs(directory)
    except OSError:
        return "unknown"
    return f"{st.f_bavail * st.f_frsize // 1024} KiB"


def _failure(args, verb, stderr, where):
    """The error of a failed qemu-img: InsufficientStorage (507) when the disk
    it wrote to is full, else QemuImgError, quoting qemu-img's message."""
    message = stderr.strip()[:500]
    if "No space left on device" in message:
        place = (f"the filesystem of {where} is full ({_free_space(where)} free); "
                 if where else "")
        return exception.InsufficientStorage(
            verb=verb, reason=f"{place}qemu-img {args[0]} failed: {message}")
    return QemuImgError(driver="libvirt", verb=verb,
                        reason=f"qemu-img {args[0]} failed: {message}")


def _run(args, timeout, verb, where=None):
    argv = [QEMU_IMG, *args]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout,
                              check=False, env=_env())
    except subprocess.TimeoutExpired:
        raise QemuImgError(driver="libvirt", verb=verb,
                           reason=f"qemu-img {args[0]} did not finish within "
                                  f"{timeout} s") from None
    if done.returncode != 0:
        raise _failure(args, verb, done.stderr.decode(errors="replace"), where)
    return done.stdout.decode(errors="replace")


def info(path, backing_chain=False, force_share=True, timeout=60):
    args = ["info", "--output=json"]
    if backing_chain:
        args.append("--backing-chain")
    if force_share:
        args.append("-U")
    args.append(path)
    return json.loads(_run(args, timeout, "read image information"))


def create_overlay(path, backing, backing_format="qcow2", timeout=60):
    """A new qcow2 file reading through to ``backing`` (absolute path)."""
    _run(["create", "-q", "-f", "qcow2", "-F", backing_format, "-b", backing, path],
         timeout, "create an overlay", where=os.path.dirname(path))
    os.chmod(path, 0o600)


def _run_with_progress(args, timeout, verb, progress, cancel_check=None,
                       where=None):
    """Run a long qemu-img command with -p and report its percentage."""
    argv = [QEMU_IMG, *args]
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env())
    os.set_blocking(proc.stdout.fileno(), False)
    buffer = b""
    try:
        if progress is not None:
            # Reported at once, so a copy is seen to start however fast it
            # ends (a small one ends before the first poll below).
            progress(0)
        while proc.poll() is None:
            if time.monotonic() > deadline:
                raise QemuImgError(driver="libvirt", verb=verb,
                                   reason=f"qemu-img {args[0]} did not finish "
                                          f"within {timeout} s")
            chunk = proc.stdout.read() or b""
            buffer = (buffer + chunk)[-256:]
            found = _PROGRESS_RE.findall(buffer)
            if found and progress is not None:
                progress(int(float(found[-1])))
            elif cancel_check is not None:
                cancel_check()
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    with proc.stdout, proc.stderr:
        stderr = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise _failure(args, verb, stderr, where)


def convert(source, dest, progress=None, timeout=3600, force_share=True,
            output_format="qcow2"):
    """Copy ``source`` (with its backing chain) into a standalone image of
    ``output_format`` (qcow2 or raw: a fixed list, never user text)."""
    if output_format not in ("qcow2", "raw"):
        raise ValueError(f"output format {output_format!r}")
    args = ["convert", "-p", "-O", output_format]
    if force_share:
        args.append("-U")
    args += [source, dest]
    _run_with_progress(args, timeout, "copy a disk", progress,
                       where=os.path.dirname(dest))
    os.chmod(dest, 0o600)


def commit(top, timeout=3600, progress=None):
    """Merge ``top`` into its backing file (offline)."""
    _run_with_progress(["commit", "-p", "-d", top], timeout, "merge a layer", progress)


def rebase(path, new_backing, backing_format="qcow2", timeout=3600, progress=None):
    """Safe rebase: ``path`` keeps reading the same data on a new backing file
    (``None``: no backing file, the data is copied in)."""
    args = ["rebase", "-p"]
    if new_backing:
        args += ["-F", backing_format, "-b", new_backing]
    else:
        args += ["-b", ""]
    args.append(path)
    _run_with_progress(args, timeout, "rebase a layer", progress)


def rebase_unsafe(path, new_backing, backing_format="qcow2", timeout=60):
    """Point ``path`` at a new backing file that reads the same as the old
    one (metadata only, no data is copied)."""
    _run(["rebase", "-u", "-F", backing_format, "-b", new_backing, path], timeout,
         "rebase a layer")


def holds_data(path, timeout=60):
    """True when ``path`` itself (not its backing chain) holds any data."""
    extents = json.loads(_run(["map", "--output=json", "-U", path], timeout,
                              "map an image"))
    return any(e.get("data") and e.get("depth") == 0 for e in extents)


def compare(a, b, timeout=600):
    """True when both images read the same (``qemu-img compare``)."""
    done = subprocess.run([QEMU_IMG, "compare", "-U", a, b], capture_output=True,
                          timeout=timeout, check=False)
    if done.returncode in (0, 1):
        return done.returncode == 0
    raise QemuImgError(driver="libvirt", verb="compare images",
                       reason=done.stderr.decode(errors="replace").strip()[:500])

"""The image-copy snapshot path that OpenStack Nova's libvirt driver takes today,
reimplemented against libvirt so that bench/run can time it beside nativesnap.

Mirrors ``nova/virt/libvirt/driver.py`` (``LibvirtDriver.snapshot()`` and
``_live_snapshot()``), for one qcow2 disk without a backing file:

cold_snapshot (Nova when a live snapshot is not possible)
    ``guest.save_memory_state()`` = ``dom.managedSave()`` (the guest is suspended to
    disk), ``snapshot_extract()`` = ``qemu-img convert -O qcow2`` of the whole disk,
    ``_snapshot_domain()`` = ``dom.create()`` (libvirt resumes from the managed
    save), then the image is handed to the image service: here a copy into an
    image-store directory. ``paused_ms`` runs from managedSave() to the return of
    create(), as in Nova the guest is down for save + convert + restore.

live_snapshot (Nova's default when the hypervisor allows it)
    ``create_cow_image()`` = ``qemu-img create -f qcow2`` of a delta of the disk's
    virtual size (with the disk's backing file as its backing, here none);
    ``_set_quiesced(True)`` = ``dom.fsFreeze()`` through the guest agent;
    ``dev.rebase(delta, copy=True, reuse_ext=True, shallow=True)`` = a mirror of
    the active disk into the delta, polled until the job is ready
    (``is_job_complete()``: cur == end); ``dev.abort_job()`` = ``blockJobAbort``
    without pivot, which leaves the delta a point-in-time copy;
    ``_set_quiesced(False)`` = ``dom.fsThaw()``; then ``extract_snapshot()`` =
    ``qemu-img convert -O qcow2`` of the delta into the image, and the upload
    (here a copy into the image store).

    Nova freezes *before* the mirror starts and thaws after the abort, so the
    guest stays frozen for the whole copy (``freeze="nova"``, the default).
    ``freeze="late"`` freezes only once the mirror is ready, just around the
    abort: a gentler variant (what a careful reimplementation would do), timed
    too so the comparison is not against Nova's worst case only.

Differences from Nova, all in the baseline's favour or neutral:

* Nova issues ``blockRebase(..., COPY|REUSE_EXT|SHALLOW)``, which libvirt refuses
  on a persistent domain, so Nova undefines the domain around the copy and
  redefines it afterwards. Here ``blockCopy(SHALLOW|REUSE_EXT|TRANSIENT_JOB)``
  does the same mirror on the persistent domain without the undefine/redefine.
* Nova polls the job every 0.5 s; here every ``poll_s`` (default 10 ms), and the
  cold path's restore is not followed by Nova's extra waits.
* The image service upload is a local file copy (no network, no Glance).
"""

import contextlib
import json
import os
import shutil
import subprocess
import time

import libvirt

QEMU_IMG_TIMEOUT = 1800     # s, one qemu-img convert
JOB_TIMEOUT = 1800          # s, a block job to become ready
SAVE_TIMEOUT_NOTE = "libvirt's own: managedSave/create block until done"


class BaselineError(Exception):
    pass


def _ms(seconds):
    return round(seconds * 1000.0, 1)


def disk_info(path, force_share=True):
    argv = ["qemu-img", "info", "--output=json"] + (["-U"] if force_share else []) + [path]
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True,
                                     timeout=60).stdout)


def qemu_img_convert(src, dst, force_share=False):
    argv = ["qemu-img", "convert", "-O", "qcow2"] + (["-U"] if force_share else []) \
        + [src, dst]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT)
    if proc.returncode != 0:
        raise BaselineError(f"{' '.join(argv)}: {proc.stderr.strip()}")


def store_image(src, store_dir, name):
    """Hand the image to the 'image service': copy it into store_dir (a local
    stand-in for the Glance upload; no fsync, in the baseline's favour)."""
    os.makedirs(store_dir, exist_ok=True)
    dst = os.path.join(store_dir, name)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout, 8 * 1024 * 1024)
    return dst


def active_disk(dom, target):
    """(source path, format) of the disk at ``target`` in the live XML."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(dom.XMLDesc(0))
    for disk in root.findall("./devices/disk"):
        tgt = disk.find("target")
        if tgt is not None and tgt.get("dev") == target:
            src = disk.find("source")
            drv = disk.find("driver")
            return src.get("file"), (drv.get("type") if drv is not None else "raw")
    raise BaselineError(f"no disk {target} in {dom.name()}")


def cold_snapshot(conn, dom, target, work_dir, store_dir, name):
    """Nova's cold snapshot. Returns a dict of timings (ms) and sizes. The domain
    is running again (restored from the managed save) when it returns, also
    after an error in the convert."""
    disk, _fmt = active_disk(dom, target)
    out = os.path.join(work_dir, f"{name}.cold.qcow2")
    t0 = time.perf_counter()
    dom.managedSave(0)
    t_saved = time.perf_counter()
    try:
        qemu_img_convert(disk, out)
        t_converted = time.perf_counter()
    finally:
        # Nova's _snapshot_domain(): start the domain again; libvirt restores it
        # from the managed save image.
        if not dom.isActive():
            dom.create()
    t_resumed = time.perf_counter()
    try:
        stored = store_image(out, store_dir, f"{name}.cold.qcow2")
        t_stored = time.perf_counter()
        size = os.path.getsize(stored)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(out)
    with contextlib.suppress(OSError):
        os.unlink(stored)
    return {
        "total_ms": _ms(t_stored - t0),
        "paused_ms": _ms(t_resumed - t0),
        "save_ms": _ms(t_saved - t0),
        "convert_ms": _ms(t_converted - t_saved),
        "restore_ms": _ms(t_resumed - t_converted),
        "store_ms": _ms(t_stored - t_resumed),
        "image_bytes": size,
    }


def _job_ready(dom, target):
    info = dom.blockJobInfo(target, 0)
    if not info:
        raise BaselineError(f"the block job on {target} vanished")
    return info["end"] > 0 and info["cur"] == info["end"]


def live_snapshot(conn, dom, target, work_dir, store_dir, name, freeze="nova",
                  poll_s=0.01):
    """Nova's live snapshot (see the module's doc). Returns a dict of timings
    (ms). Whatever fails, the job is aborted and the guest thawed."""
    if freeze not in ("nova", "late"):
        raise ValueError(freeze)
    disk, _fmt = active_disk(dom, target)
    info = disk_info(disk)
    if info.get("backing-filename"):
        raise BaselineError("the baseline handles a disk without a backing file")
    delta = os.path.join(work_dir, f"{name}.delta")
    out = os.path.join(work_dir, f"{name}.live.qcow2")
    stored = None
    t0 = time.perf_counter()
    # create_cow_image(backing=None, delta, virtual size)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", delta,
                    str(info["virtual-size"])], check=True, capture_output=True,
                   timeout=60)
    xml = (f"<disk type='file'><source file='{delta}'/>"
           f"<driver type='qcow2'/></disk>")
    flags = (libvirt.VIR_DOMAIN_BLOCK_COPY_SHALLOW
             | libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT
             | libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB)
    # One definition of frozen time for every method (docs/performance.md,
    # "Frozen time"): from the freeze request to the thaw call's return.
    freeze_requested = frozen_at = thawed_at = None
    job = False
    try:
        if freeze == "nova":
            freeze_requested = time.perf_counter()
            dom.fsFreeze(None, 0)
            frozen_at = time.perf_counter()
        dom.blockCopy(target, xml, None, flags)
        job = True
        t_copy = time.perf_counter()
        deadline = t_copy + JOB_TIMEOUT
        while not _job_ready(dom, target):
            if time.perf_counter() > deadline:
                raise BaselineError(f"block copy not ready after {JOB_TIMEOUT} s")
            time.sleep(poll_s)
        t_ready = time.perf_counter()
        if freeze == "late":
            freeze_requested = time.perf_counter()
            dom.fsFreeze(None, 0)
            frozen_at = time.perf_counter()
        abort_requested = time.perf_counter()
        dom.blockJobAbort(target, 0)   # no pivot: the delta keeps the copy
        job = False
        t_aborted = time.perf_counter()
        dom.fsThaw(None, 0)
        thawed_at = time.perf_counter()
    finally:
        if job:
            with contextlib.suppress(libvirt.libvirtError):
                dom.blockJobAbort(target, 0)
        if frozen_at is not None and thawed_at is None:
            with contextlib.suppress(libvirt.libvirtError):
                dom.fsThaw(None, 0)
    try:
        # extract_snapshot(): flatten the delta into the image to upload.
        qemu_img_convert(delta, out)
        t_converted = time.perf_counter()
        # Nova keeps the delta until the upload ends; dropping it here, left
        # out of the times, only makes room for the 16 GiB of data of the
        # 64 GiB disk (three copies of it would not fit beside the guests).
        os.unlink(delta)
        t_dropped = time.perf_counter()
        stored = store_image(out, store_dir, f"{name}.live.qcow2")
        t_stored = time.perf_counter()
        size = os.path.getsize(stored)
    finally:
        for path in (delta, out, stored):
            if path:
                with contextlib.suppress(OSError):
                    os.unlink(path)
    return {
        "total_ms": _ms(t_stored - t0 - (t_dropped - t_converted)),
        "frozen_ms": _ms(thawed_at - freeze_requested),
        # Its parts: the freeze call, what ran frozen before the switch (Nova:
        # the whole mirror), the switch (the job's abort), the thaw call.
        "window": {
            "freeze_call_ms": _ms(frozen_at - freeze_requested),
            "copy_ms": _ms(abort_requested - frozen_at),
            "switch_ms": _ms(t_aborted - abort_requested),
            "thaw_call_ms": _ms(thawed_at - t_aborted),
        },
        # The figure earlier runs published (the freeze call left out).
        "frozen_after_freeze_returned_ms": _ms(thawed_at - frozen_at),
        "mirror_ms": _ms(t_ready - t_copy),
        "abort_ms": _ms(t_aborted - (frozen_at if freeze == "late" else t_ready)),
        "convert_ms": _ms(t_converted - thawed_at),
        "store_ms": _ms(t_stored - t_dropped),
        "image_bytes": size,
        "freeze": freeze,
    }

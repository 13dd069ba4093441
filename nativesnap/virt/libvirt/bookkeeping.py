"""What the driver's verbs (``driver.py``) and start-up reconciliation
(``reconcile.py``) must agree on: where a server's files are, which files
nativesnap may delete, how the server's record of its snapshots is read, and
which of a domain's disks snapshots cover.

They are defined once, here, because reconciliation undoes or completes what
a verb began: if the two judged a file or a disk differently, a roll-back
could remove a file the verb would have kept, or one nativesnap never made
(docs/libvirt.md, "Where the files are" and "Start-up reconciliation").
"""

import errno
import os

from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt.libvirt import attached_volumes
from nativesnap.virt.libvirt import xml as lxml_xml


def server_path(server_id):
    """The server's own directory under ``overlay_path`` (not made)."""
    return os.path.join(CONF.libvirt.overlay_path, server_id)


def server_dir(server_id):
    """The server's own directory under ``overlay_path``, made if needed."""
    path = server_path(server_id)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise exception.InsufficientStorage(
                verb="create the server's directory",
                reason=f"[libvirt] overlay_path {CONF.libvirt.overlay_path} "
                       f"is full: {e.strerror}") from e
        raise
    return path


def owned(path):
    """Only files under overlay_path were made by nativesnap; nothing else
    (an adopted domain's own disks) is ever deleted."""
    root = os.path.realpath(CONF.libvirt.overlay_path) + os.sep
    return path is not None and os.path.realpath(path).startswith(root)


def unlink(path):
    """Remove ``path`` if nativesnap owns it; a file already gone is fine."""
    if owned(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def info(server):
    """A copy of the server's driver_info, its "snapshots" map included, to
    change and hand back as the verb's new driver_info."""
    copied = dict(server.driver_info or {})
    copied["snapshots"] = dict(copied.get("snapshots") or {})
    return copied


def disks(dom):
    """The domain's disks that snapshots cover (writable, not shared)."""
    return [d for d in lxml_xml.disks(dom.XMLDesc(0)) if d.is_snapshottable]


def own_disks(dom):
    """The server's own disks and, apart, its Cinder volumes
    ({target: (disk, volume id)}), which are left out of server snapshots
    unless include_volumes asks for them."""
    return attached_volumes.split(disks(dom))

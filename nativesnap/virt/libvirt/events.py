"""libvirt's event loop, one per process.

Domain lifecycle events (a memory snapshot times the guest's pause by them,
see ``memory.py``) reach a client only through an event loop the client
registers *before* it opens its first connection: libvirt ties each
connection to the event implementation present when it was opened. The
loop is libvirt's own default implementation, run by one daemon thread;
``start()`` is idempotent and is called by ``host.Host`` before every open.

The same loop also lets libvirt send its keepalive messages, so a libvirtd
that stops answering is noticed by the connection itself (``isAlive()``
turns false), which ``host.Host`` already handles by reconnecting.
"""

import threading
import time

from oslo_log import log as logging

try:
    import libvirt
except ImportError:
    libvirt = None

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_thread = None
# After a failed iteration (libvirt reports -1 only for an internal error)
# the loop waits before the next, so that a broken loop cannot spin a core.
_RETRY_SECONDS = 1.0


def start():
    """Register libvirt's default event implementation and run it in a
    daemon thread, once per process. Returns True when the loop runs."""
    global _thread
    if libvirt is None:
        return False
    with _lock:
        if _thread is None:
            libvirt.virEventRegisterDefaultImpl()
            _thread = threading.Thread(target=_run, name="nativesnap-libvirt-events",
                                       daemon=True)
            _thread.start()
    return True


def running():
    return _thread is not None and _thread.is_alive()


def _run():
    while True:
        try:
            if libvirt.virEventRunDefaultImpl() < 0:
                LOG.error("libvirt's event loop reported an error")
                time.sleep(_RETRY_SECONDS)
        except Exception:
            LOG.exception("libvirt's event loop failed")
            time.sleep(_RETRY_SECONDS)

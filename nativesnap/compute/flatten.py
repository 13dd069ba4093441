"""Background flattens: the copies a clone still needs after the task that
made it has ended (docs/rbd.md).

A full spawn or an export of a Ceph RBD snapshot is a clone, usable at once;
the driver then makes it independent of the snapshot (``flatten``) while the
guest runs or the image is read. That copy grows with the data, so it runs
here, on a small pool of its own (``[rbd] flatten_workers``), not in the
task's worker and not under the server's lock. Its progress is saved on the
server or image (``flatten_progress``: 0-100, 100 when done); a service
restarted after a crash finds the unfinished ones in the records and runs
them again (a driver's flatten is idempotent). A snapshot whose clone is still
being flattened waits in ``deleting`` (the driver's delete waits), so nothing
a clone needs is removed.
"""

from concurrent import futures
import threading

from oslo_log import log as logging

from nativesnap.common import failpoints
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj

LOG = logging.getLogger(__name__)

# Progress is saved in steps of this many percent (not every callback).
SAVE_STEP = 5


class Flattener:
    def __init__(self, manager):
        self.manager = manager
        self._pool = None
        self._lock = threading.Lock()
        self._running = set()  # ("server" | "image", id)
        self._stopping = threading.Event()

    def _executor(self):
        with self._lock:
            if self._pool is None:
                self._pool = futures.ThreadPoolExecutor(
                    max_workers=CONF.rbd.flatten_workers,
                    thread_name_prefix="flatten")
            return self._pool

    def start_server(self, context, server, handle):
        """Flatten a full spawn's disk; ``server.flatten_progress`` is 0."""
        self._start(context, "server", server.id, server.driver, handle)

    def start_image(self, context, image, driver_name, handle):
        """Flatten an export's clone; ``image.flatten_progress`` is 0."""
        self._start(context, "image", image.id, driver_name, handle)

    def resume(self, context):
        """Start again the flattens a stopped service left unfinished."""
        for server in server_obj.ServerList.get_flattening(context,
                                                           self.manager.host):
            LOG.info("Resuming the flatten of server %s's disk", server.id)
            self._start(context, "server", server.id, server.driver,
                        server.flatten_ref)
        for image in image_obj.ImageList.get_flattening(context,
                                                        self.manager.host):
            LOG.info("Resuming the flatten of image %s", image.id)
            self._start(context, "image", image.id,
                        self._driver_of_image(context, image), image.location)

    @staticmethod
    def _driver_of_image(context, image):
        try:
            return server_obj.Server.get_by_id(context, image.server_id).driver
        except exception.NotFound:
            return "libvirt"  # the only driver that exports by clone

    def _start(self, context, kind, record_id, driver_name, handle):
        key = (kind, record_id)
        with self._lock:
            if key in self._running:
                return
            self._running.add(key)
        self._executor().submit(self._run, context, kind, record_id,
                                driver_name, handle)

    def _load(self, context, kind, record_id):
        if kind == "server":
            return server_obj.Server.get_by_id(context, record_id)
        return image_obj.Image.get_by_id(context, record_id)

    @staticmethod
    def _save(record, percent):
        """Only ``flatten_progress``, whatever task holds a server's lock
        (the flatten is not one of its tasks)."""
        record.flatten_progress = percent
        if isinstance(record, server_obj.Server):
            record.save(check_task=False)
        else:
            record.save()

    def _run(self, context, kind, record_id, driver_name, handle):
        try:
            record = self._load(context, kind, record_id)
            saved = [record.flatten_progress or 0]

            def progress(percent):
                if self._stopping.is_set():  # the driver's flatten stops here
                    raise exception.TaskCancelled(
                        task="flatten", server_id=record_id,
                        reason="the compute service is stopping")
                percent = max(0, min(99, int(percent)))
                failpoints.hit("manager.flatten.progress")
                if percent >= saved[0] + SAVE_STEP:
                    saved[0] = percent
                    self._save(record, percent)

            self.manager.drivers[driver_name].flatten(context, handle, progress)
            self._save(record, 100)
            LOG.info("The %s %s no longer depends on its snapshot (flattened)",
                     kind, record_id)
        except exception.NotFound:
            LOG.info("The %s %s was removed while it was being flattened",
                     kind, record_id)
        except exception.TaskCancelled:
            LOG.info("The flatten of %s %s stopped with the service; it is "
                     "resumed when the service starts", kind, record_id)
        except Exception:
            LOG.exception("Flattening the %s %s failed; it stays a clone of "
                          "its snapshot (tried again when the compute "
                          "service starts)", kind, record_id)
        finally:
            with self._lock:
                self._running.discard((kind, record_id))

    def running(self):
        """(kind, id) of the flattens running or queued now."""
        with self._lock:
            return set(self._running)

    def stop(self):
        """Stop the running flattens at their next progress step (resumed at
        the next start) and wait for them: the driver may then close its
        connections."""
        self._stopping.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

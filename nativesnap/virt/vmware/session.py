"""One vCenter session, shared by every request of the vSphere driver.

Logging in costs a round trip and a session on vCenter (which limits them),
so the driver logs in once and keeps the session: a call that finds it
expired (``NotAuthenticated``) logs in again on the same SOAP stub, so the
managed object references the driver holds stay valid. A call cut by a
connection error is repeated a bounded number of times (``[vmware]
api_retry_count``), a call that changes something only when it cannot have
reached vCenter (the connection was refused). TLS is verified against
``[vmware] ca_file`` unless ``insecure`` says otherwise.

Every call is bounded: its connection and its answer by ``[vmware]
connect_timeout``, and a vSphere task -- the call that starts it, the reads
that follow it, the repetitions -- by ``[vmware] task_timeout`` from its
start, each socket given only the time left. A call vCenter did not answer
in time is not repeated: it would wait as long again (docs/vmware.md).

Reads go through the PropertyCollector (``RetrievePropertiesEx``) with only
the properties asked for, one round trip for any number of objects and
properties (docs/vmware.md).
"""

import contextlib
import http.client
import ssl
import threading
import time

from oslo_log import log as logging
from pyVim import connect
from pyVmomi import vim
from pyVmomi import vmodl

from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt.vmware import faults

LOG = logging.getLogger(__name__)

DRIVER = "vmware"
RETRY_DELAY = 0.5  # doubled for each repetition
CANCEL_TIMEOUT = 5  # cancelling a task, and reading its state after, at most

# Errors of the transport: nothing is known of the call's effect, but for a
# refused connection, which never reached vCenter.
_TRANSPORT_ERRORS = (OSError, http.client.HTTPException, ssl.SSLError)


class Session:
    def __init__(self):
        self._lock = threading.Lock()
        self._stub = None
        self._content = None
        # This thread's deadline (a vSphere task's) and its current call's
        # socket timeout: the session is shared by the request threads.
        self._local = threading.local()

    # --- connecting -----------------------------------------------------------

    def _ssl_context(self):
        conf = CONF.vmware
        if conf.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=conf.ca_file)

    def connect(self):
        """Log in (raises DriverError saying why vCenter refused)."""
        conf = CONF.vmware
        if not conf.host or not conf.username:
            raise exception.DriverError(
                driver=DRIVER, verb="connect",
                reason="[vmware] host and username are not set")
        with self._lock:
            try:
                stub = connect.SmartStubAdapter(
                    host=conf.host, port=conf.port,
                    sslContext=self._ssl_context(),
                    httpConnectionTimeout=conf.connect_timeout)
                self._bound_sockets(stub)
                content = vim.ServiceInstance("ServiceInstance",
                                              stub).RetrieveContent()
                content.sessionManager.Login(conf.username, conf.password)
            except vim.fault.InvalidLogin:
                raise exception.DriverError(
                    driver=DRIVER, verb="log in to vCenter",
                    reason=f"{conf.host} refused user {conf.username!r} and "
                           "its password ([vmware] username, password)"
                ) from None
            except Exception as e:  # vCenter's fault, or none answering
                raise exception.DriverError(
                    driver=DRIVER, verb="connect to vCenter",
                    reason=f"{conf.host}:{conf.port}: {faults.describe(e)}"
                ) from e
            self._stub, self._content = stub, content
        LOG.info("Connected to vCenter %s:%s (%s %s) as %s", conf.host,
                 conf.port, content.about.fullName, content.about.apiVersion,
                 conf.username)

    def _bound_sockets(self, stub):
        """Each connection of ``stub`` serves a call with the socket timeout
        that call was given (``call``): a new connection is made with it, a
        pooled one has it set before the request goes out."""
        scheme, get_connection = stub.scheme, stub.GetConnection

        def make(*args, **kwargs):
            kwargs["timeout"] = self._socket_timeout()
            return scheme(*args, **kwargs)

        def get():
            conn = get_connection()
            if conn.sock is not None:
                conn.sock.settimeout(self._socket_timeout())
            return conn

        stub.scheme = make
        stub.GetConnection = get

    def _socket_timeout(self):
        timeout = getattr(self._local, "timeout", None)
        return timeout if timeout is not None else CONF.vmware.connect_timeout

    # --- deadlines ------------------------------------------------------------

    @contextlib.contextmanager
    def deadline(self, seconds, option="[vmware] task_timeout"):
        """This thread's calls within ``seconds`` from now (``option`` names
        the setting in messages): each socket is given at most the time
        left, no call is made or repeated once it has passed."""
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = (time.monotonic() + seconds, seconds, option)
        try:
            yield
        finally:
            self._local.deadline = previous

    def time_left(self):
        """Seconds left to this thread's deadline, or None without one."""
        deadline = getattr(self._local, "deadline", None)
        return None if deadline is None else deadline[0] - time.monotonic()

    def _bound(self, verb):
        """(socket timeout, the bound in s, the option that set it) for this
        thread's next call; NoAnswer when its deadline has passed."""
        connect_timeout = CONF.vmware.connect_timeout
        deadline = getattr(self._local, "deadline", None)
        if deadline is None:
            return connect_timeout, connect_timeout, "[vmware] connect_timeout"
        left = deadline[0] - time.monotonic()
        if left <= 0:
            raise faults.NoAnswer(
                driver=DRIVER, verb=verb,
                reason=f"the {deadline[1]:g} s of {deadline[2]} ran out before "
                       "the call could be made")
        if left < connect_timeout:
            return left, deadline[1], deadline[2]
        return connect_timeout, connect_timeout, "[vmware] connect_timeout"

    def _relogin(self):
        conf = CONF.vmware
        with self._lock:
            LOG.info("The vCenter session expired; logging in again")
            self._content.sessionManager.Login(conf.username, conf.password)

    def logout(self):
        with self._lock:
            content, self._content, self._stub = self._content, None, None
        if content is None:
            return
        try:
            content.sessionManager.Logout()
        except Exception as e:  # a session that is gone needs no logout
            LOG.debug("vCenter logout: %s", faults.describe(e))

    @property
    def content(self):
        if self._content is None:
            raise exception.DriverError(driver=DRIVER, verb="reach vCenter",
                                        reason="the driver is not connected")
        return self._content

    def managed(self, cls, moid):
        """A managed object of ``cls`` by its id, on this session's stub."""
        if self._stub is None:
            self.content  # raises: not connected
        return cls(moid, self._stub)

    # --- calling --------------------------------------------------------------

    def call(self, fn, *args, changes=False, verb="call vCenter", **kwargs):
        """``fn(*args, **kwargs)``, bounded (``[vmware] connect_timeout``, and
        this thread's deadline), logged in again when the session expired and
        repeated (bounded) when the connection failed before vCenter could
        answer: a change only when the connection was refused, never a call
        vCenter did not answer in time."""
        attempts = CONF.vmware.api_retry_count + 1
        delay = RETRY_DELAY
        for attempt in range(1, attempts + 1):
            timeout, limit, option = self._bound(verb)
            self._local.timeout = timeout
            try:
                return fn(*args, **kwargs)
            except vim.fault.NotAuthenticated:
                if attempt == attempts:
                    raise exception.DriverError(
                        driver=DRIVER, verb=verb,
                        reason="vCenter kept answering NotAuthenticated") from None
                self._relogin()
            except _TRANSPORT_ERRORS as e:
                silent = isinstance(e, TimeoutError)
                repeatable = not silent and (
                    not changes or isinstance(e, ConnectionRefusedError))
                left = self.time_left()
                if (attempt == attempts or not repeatable
                        or (left is not None and left <= delay)):
                    cls = faults.NoAnswer if silent else exception.DriverError
                    raise cls(
                        driver=DRIVER, verb=verb,
                        reason=faults.transport_cause(e, limit, option)
                        + ("; the call is not repeated, its effect is unknown"
                           if changes and not repeatable else "")) from e
                LOG.warning("vCenter call to %s failed (%s); attempt %d of %d",
                            verb, faults.describe(e), attempt, attempts)
                time.sleep(delay)
                delay *= 2
            except vmodl.MethodFault as e:
                raise faults.translate(e, verb) from None
            finally:
                self._local.timeout = None

    def retrieve(self, objs, props_by_type, verb="read from vCenter"):
        """{object: {property path: value}} of ``objs``, in one round trip
        (and its continuations): only the paths of ``props_by_type``
        ({managed type: [paths]}). Unset properties are missing."""
        collector = vmodl.query.PropertyCollector
        spec = collector.FilterSpec(
            objectSet=[collector.ObjectSpec(obj=o) for o in objs],
            propSet=[collector.PropertySpec(type=t, pathSet=list(paths))
                     for t, paths in props_by_type.items()])

        def fetch():
            pc = self.content.propertyCollector
            found = {}
            result = pc.RetrievePropertiesEx([spec], collector.RetrieveOptions())
            while result is not None:
                for content in result.objects:
                    found[content.obj] = {p.name: p.val for p in content.propSet}
                if not result.token:
                    break
                result = pc.ContinueRetrievePropertiesEx(result.token)
            return found

        return self.call(fetch, verb=verb)

    def run_task(self, method, *args, verb, progress=None, **kwargs):
        """Start a vSphere task with ``method(*args, **kwargs)`` and follow it
        to its end (``wait_task``), all within ``[vmware] task_timeout``."""
        with self.deadline(CONF.vmware.task_timeout):
            task = self.call(method, *args, changes=True, verb=verb, **kwargs)
            return self.wait_task(task, verb, progress=progress)

    def wait_task(self, task, verb, progress=None, timeout=None):
        """The result of a vSphere task once it succeeded; its fault,
        translated, when it failed; DriverError once this thread's deadline
        (else ``timeout``, default ``[vmware] task_timeout``) has passed, the
        task then cancelled (``_give_up``)."""
        if timeout is not None or self.time_left() is None:
            with self.deadline(timeout or CONF.vmware.task_timeout):
                return self._follow(task, verb, progress)
        return self._follow(task, verb, progress)

    def _follow(self, task, verb, progress):
        while True:
            try:
                info = self._task_info(task, verb)
            except faults.NoAnswer as e:  # vCenter silent until the deadline
                return self._give_up(task, verb, e.kwargs["reason"])
            state = info.get("info.state")
            if state == vim.TaskInfo.State.success:
                return info.get("info.result")
            if state == vim.TaskInfo.State.error:
                raise faults.translate(info.get("info.error"), verb)
            if progress is not None and info.get("info.progress") is not None:
                try:
                    progress(info["info.progress"])
                except exception.TaskCancelled:
                    self._cancel(task)
                    raise
            left = self.time_left()
            if left > 0:
                time.sleep(min(CONF.vmware.task_poll_interval, left))
                left = self.time_left()
            if left <= 0:
                return self._give_up(task, verb)

    def _task_info(self, task, verb):
        paths = ["info.state", "info.progress", "info.error", "info.result"]
        return self.retrieve([task], {vim.Task: paths},
                             verb=f"follow the task to {verb}").get(task, {})

    def _give_up(self, task, verb, cause=None):
        """At the task's deadline: cancel it and read its state once more
        (unless vCenter did not answer the cancel), each within CANCEL_TIMEOUT
        (or ``[vmware] connect_timeout``). Its result if it ended well after
        all; else DriverError saying whether it was cancelled or may still
        run."""
        _, limit, option = self._local.deadline
        reason = (f"{cause} while the task was followed" if cause else
                  f"the vSphere task did not end within {limit:g} s ({option})")
        error = self._cancel(task)
        state = {}
        if not isinstance(error, faults.NoAnswer):
            try:
                with self.deadline(min(CANCEL_TIMEOUT, CONF.vmware.connect_timeout),
                                   "the bound of a cancel"):
                    state = self._task_info(task, verb)
            except exception.NativesnapException:
                pass
        if state.get("info.state") == vim.TaskInfo.State.success:
            LOG.info("vSphere task %s to %s ended as it was cancelled",
                     task._moId, verb)
            return state.get("info.result")
        if error is not None or state.get("info.state") != vim.TaskInfo.State.error:
            fate = (f"it could not be cancelled "
                    f"({error.kwargs.get('reason') or error.message})"
                    if error is not None else "vCenter did not confirm its cancel")
            reason += f"; vSphere task {task._moId}: {fate} and may still run"
        else:
            reason += f"; vSphere task {task._moId} was cancelled"
        raise exception.DriverError(driver=DRIVER, verb=verb, reason=reason)

    def _cancel(self, task):
        """Cancel ``task`` with a call of its own, bounded by CANCEL_TIMEOUT
        (or ``[vmware] connect_timeout``): the task's deadline may have
        passed. None when vCenter took it, else the DriverError why not."""
        try:
            with self.deadline(min(CANCEL_TIMEOUT, CONF.vmware.connect_timeout),
                               "the bound of a cancel"):
                self.call(task.CancelTask, changes=True, verb="cancel a task")
        except exception.NativesnapException as e:
            LOG.warning("Could not cancel vSphere task %s: %s", task._moId, e)
            return e
        return None

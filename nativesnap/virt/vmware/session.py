"""One vCenter session, shared by every request of the vSphere driver.

Logging in costs a round trip and a session on vCenter (which limits them),
so the driver logs in once and keeps the session: a call that finds it
expired (``NotAuthenticated``) logs in again on the same SOAP stub, so the
managed object references the driver holds stay valid. A call cut by a
connection error is repeated a bounded number of times (``[vmware]
api_retry_count``), a call that changes something only when it cannot have
reached vCenter (the connection was refused). TLS is verified against
``[vmware] ca_file`` unless ``insecure`` says otherwise.

Reads go through the PropertyCollector (``RetrievePropertiesEx``) with only
the properties asked for, one round trip for any number of objects and
properties (docs/vmware.md).
"""

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

# Errors of the transport: nothing is known of the call's effect, but for a
# refused connection, which never reached vCenter.
_TRANSPORT_ERRORS = (OSError, http.client.HTTPException, ssl.SSLError)


class Session:
    def __init__(self):
        self._lock = threading.Lock()
        self._stub = None
        self._content = None

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
        """``fn(*args, **kwargs)``, logged in again when the session expired
        and repeated (bounded) when the connection failed."""
        attempts = CONF.vmware.api_retry_count + 1
        delay = RETRY_DELAY
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except vim.fault.NotAuthenticated:
                if attempt == attempts:
                    raise exception.DriverError(
                        driver=DRIVER, verb=verb,
                        reason="vCenter kept answering NotAuthenticated") from None
                self._relogin()
            except _TRANSPORT_ERRORS as e:
                repeatable = (not changes
                              or isinstance(e, ConnectionRefusedError))
                if attempt == attempts or not repeatable:
                    raise exception.DriverError(
                        driver=DRIVER, verb=verb,
                        reason=f"the connection to vCenter failed "
                               f"({faults.describe(e)})"
                               + ("" if repeatable else
                                  "; the call is not repeated, its effect is "
                                  "unknown")) from e
                LOG.warning("vCenter call to %s failed (%s); attempt %d of %d",
                            verb, faults.describe(e), attempt, attempts)
                time.sleep(delay)
                delay *= 2
            except vmodl.MethodFault as e:
                raise faults.translate(e, verb) from None

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

    def wait_task(self, task, verb, progress=None, timeout=None):
        """The result of a vSphere task once it succeeded; its fault,
        translated, when it failed; DriverError after ``timeout`` (default
        ``[vmware] task_timeout``), the task then cancelled."""
        conf = CONF.vmware
        deadline = time.monotonic() + (timeout or conf.task_timeout)
        paths = ["info.state", "info.progress", "info.error", "info.result"]
        while True:
            info = self.retrieve([task], {vim.Task: paths},
                                 verb=f"follow the task to {verb}").get(task, {})
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
            if time.monotonic() >= deadline:
                self._cancel(task)
                raise exception.DriverError(
                    driver=DRIVER, verb=verb,
                    reason=f"the vSphere task did not end within "
                           f"{timeout or conf.task_timeout} s ([vmware] "
                           "task_timeout); it was cancelled")
            time.sleep(conf.task_poll_interval)

    def _cancel(self, task):
        try:
            self.call(task.CancelTask, verb="cancel a task")
        except exception.NativesnapException as e:
            LOG.warning("Could not cancel vSphere task %s: %s", task._moId, e)

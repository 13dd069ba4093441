"""The client side of the compute RPC API (docs/architecture.md).

The API side hands work to a server's compute service (topic
``nativesnap-compute``, server = the server's ``host``) only through this
class. Tasks are casts: the API has recorded them and answers at once. A call
is made where the API needs an answer before it answers: adopting (what is
the hypervisor object?), preparing a task (does the driver accept it, is
there a place for it?) and deleting a server; every call is bounded by
``[DEFAULT] rpc_response_timeout``, and a compute that does not answer in
time is a 503 naming its host.

Versions (the compute manager's endpoint serves the same):

* 1.0 - the initial API: adopt_server, delete_server, prepare_task,
  release_reservation, create_snapshot, delete_snapshot, revert_server,
  spawn_server, export_snapshot, volume_snapshot_task, resume_task
* 1.1 - delete_image; prepare_task of an export checks it with the image
  store (``request``: disk_format, image_ref)
* 1.2 - abort_task (the user gives up a task waiting for an outside event)

Each method is sent at the version that brought it (``METHOD_VERSIONS``), so
that a compute service of an older release understands it. During a rolling
upgrade ``[upgrade_levels] compute`` caps what the API side sends: a method
newer than the cap is refused with ComputeTooOld (409) before anything is
sent, and objects travel at the versions the capped RPC API version carried
(``OBJECT_VERSIONS``), backported by the serializer (docs/architecture.md,
"Upgrades").
"""

from kombu import exceptions as kombu_exceptions
from oslo_config import cfg
import oslo_messaging as messaging

from nativesnap.common import rpc
from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import exception

TOPIC = "nativesnap-compute"
# Reconnections to the broker a send tries before it fails (oslo.messaging
# retries for ever by default, which would hold a request while the broker
# is down): the request answers 503 at once, and the next one tries anew.
SEND_RETRIES = 1
# What a send to an unreachable broker raises (oslo.messaging wraps some,
# the rabbit driver lets kombu's through).
_BROKER_ERRORS = (messaging.MessageDeliveryFailure,
                  kombu_exceptions.OperationalError, ConnectionError)
RPC_API_VERSION = "1.3"

# The version each method is sent at: the one that brought it.
METHOD_VERSIONS = {
    "adopt_server": "1.0", "delete_server": "1.0", "prepare_task": "1.0",
    "release_reservation": "1.0", "create_snapshot": "1.0",
    "delete_snapshot": "1.0", "revert_server": "1.0", "spawn_server": "1.0",
    "export_snapshot": "1.0", "volume_snapshot_task": "1.0",
    "resume_task": "1.0",
    "delete_image": "1.1",
    "abort_task": "1.2",
}
# prepare_task of an export: 1.1 checks it with the image store, and a 1.0
# compute service would export an Image 1.0 (no store) to its own disk.
EXPORT_VERSION = "1.1"

# The object versions the compute services of each RPC API version know,
# from the history of nativesnap/objects/: each version's objects as they
# were when the next RPC API version came. A capped client sends its objects
# at these versions; the newest row is what a compute of this release knows,
# so a cap at the newest version still backports an object whose version
# moved on (which must bring a new RPC API version and row here).
_OBJECTS_1_0 = {
    "Server": "1.1", "ServerList": "1.0",
    "ServerSnapshot": "1.0", "ServerSnapshotList": "1.0",
    "Image": "1.0", "ImageList": "1.0",
    "AssistedVolumeOperation": "1.0", "AssistedVolumeOperationList": "1.0",
    "VolumeAttachment": "1.0", "VolumeAttachmentList": "1.0",
}
# 1.1 came with Image 1.1; Server 1.2, Image 1.2 and BaremetalNode 1.0 came
# later under the same RPC API version, and its last compute services know
# them (those built before Server 1.2 cannot be served by a cap).
_OBJECTS_1_1 = dict(_OBJECTS_1_0, Server="1.2", Image="1.2",
                    BaremetalNode="1.0", BaremetalNodeList="1.0")
OBJECT_VERSIONS = {
    "1.0": _OBJECTS_1_0,
    "1.1": _OBJECTS_1_1,
    "1.2": dict(_OBJECTS_1_1, Server="1.3"),   # provision_state
    # ServerSnapshot 1.1: policy_id, scheduled_at, delete retries, queued
    "1.3": dict(_OBJECTS_1_1, Server="1.3", ServerSnapshot="1.1"),
}


def version_cap():
    """``[upgrade_levels] compute``, checked against the versions this
    release knows; None when unset (send the newest)."""
    cap = CONF.upgrade_levels.compute
    if cap is not None and cap not in OBJECT_VERSIONS:
        raise cfg.ConfigFileValueError(
            f"[upgrade_levels] compute = {cap} is not a compute RPC API "
            f"version of this release; use one of "
            f"{', '.join(sorted(OBJECT_VERSIONS))} (the oldest compute "
            "service's), or leave it unset")
    return cap


class ComputeAPI:
    def __init__(self):
        self.version_cap = version_cap()
        self.client = rpc.get_client(
            messaging.Target(topic=TOPIC, version=RPC_API_VERSION),
            version_cap=self.version_cap,
            object_versions=OBJECT_VERSIONS.get(self.version_cap))

    def _prepare(self, host, method, version=None, operation_name=None,
                 **options):
        """The client for ``method`` at ``version`` (the method's own by
        default); ComputeTooOld when the cap is older."""
        version = version or METHOD_VERSIONS[method]
        if not self.client.can_send_version(version):
            raise exception.ComputeTooOld(host=host or "any",
                                          cap=self.version_cap,
                                          operation=operation_name or method,
                                          needed=version)
        return self.client.prepare(server=host, version=version,
                                   retry=SEND_RETRIES, **options)

    def _call(self, context, host, method, version=None, operation_name=None,
              **kwargs):
        timeout = CONF.rpc_response_timeout
        client = self._prepare(host, method, version, operation_name,
                               timeout=timeout)
        try:
            return client.call(context, method, **kwargs)
        except messaging.MessagingTimeout:
            raise exception.ComputeUnavailable(host=host or "any",
                                               timeout=timeout) from None
        except _BROKER_ERRORS:
            raise exception.BrokerUnavailable(
                url=rpc.safe_transport_url()) from None

    def _cast(self, context, host, method, version=None, **kwargs):
        """A cast the broker did not take is a 503; the task it carried was
        recorded, and its compute service reconciles it as one that never
        started (docs/deployment.md)."""
        try:
            self._prepare(host, method, version).cast(context, method,
                                                      **kwargs)
        except _BROKER_ERRORS:
            raise exception.BrokerUnavailable(
                url=rpc.safe_transport_url()) from None

    # --- calls ------------------------------------------------------------------

    def adopt_server(self, context, driver, hypervisor_ref, host=None):
        """{"server": an unsaved Server with the hypervisor's facts,
        "volumes": {volume id: device}}; ``host`` None: any compute."""
        return self._call(context, host, "adopt_server", driver=driver,
                          hypervisor_ref=hypervisor_ref)

    def delete_server(self, context, server):
        self._call(context, server.host, "delete_server", server=server)

    def delete_image(self, context, image):
        """Remove an export from its store, by the compute service that
        made it (any, for an image of an older release that did not say)."""
        self._call(context, image.host, "delete_image", image=image)

    def prepare_task(self, context, server, task_state, snapshot=None,
                     request=None):
        """The reservation token of the task's place on the server's host,
        once its driver accepted the request."""
        export = task_state == states.EXPORTING
        return self._call(context, server.host, "prepare_task",
                          version=EXPORT_VERSION if export else None,
                          operation_name="export_snapshot" if export else None,
                          server=server, task_state=task_state,
                          snapshot=snapshot, request=request)

    # --- casts ------------------------------------------------------------------

    def release_reservation(self, context, host, reservation):
        self._cast(context, host, "release_reservation", reservation=reservation)

    def create_snapshot(self, context, server, snapshot, reservation):
        self._cast(context, server.host, "create_snapshot", server=server,
                   snapshot=snapshot, reservation=reservation)

    def delete_snapshot(self, context, server, snapshot, reservation):
        self._cast(context, server.host, "delete_snapshot", server=server,
                   snapshot=snapshot, reservation=reservation)

    def revert_server(self, context, server, snapshot, power_on, reservation):
        self._cast(context, server.host, "revert_server", server=server,
                   snapshot=snapshot, power_on=power_on, reservation=reservation)

    def spawn_server(self, context, server, snapshot, linked, power_on,
                     reservation):
        self._cast(context, server.host, "spawn_server", server=server,
                   snapshot=snapshot, linked=linked, power_on=power_on,
                   reservation=reservation)

    def export_snapshot(self, context, server, snapshot, image, reservation):
        self._cast(context, server.host, "export_snapshot", server=server,
                   snapshot=snapshot, image=image, reservation=reservation)

    def volume_snapshot_task(self, context, server, operation, reservation):
        self._cast(context, server.host, "volume_snapshot_task", server=server,
                   operation=operation, reservation=reservation)

    def resume_task(self, context, server, event):
        self._cast(context, server.host, "resume_task", server=server,
                   event=event)

    def abort_task(self, context, server):
        self._cast(context, server.host, "abort_task", server=server)

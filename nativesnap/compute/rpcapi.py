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
"""

import oslo_messaging as messaging

from nativesnap.common import rpc
from nativesnap.conf import CONF
from nativesnap import exception

TOPIC = "nativesnap-compute"
RPC_API_VERSION = "1.2"


class ComputeAPI:
    def __init__(self):
        self.client = rpc.get_client(
            messaging.Target(topic=TOPIC, version=RPC_API_VERSION))

    def _call(self, context, host, method, **kwargs):
        timeout = CONF.rpc_response_timeout
        client = (self.client.prepare(timeout=timeout) if host is None else
                  self.client.prepare(server=host, timeout=timeout))
        try:
            return client.call(context, method, **kwargs)
        except messaging.MessagingTimeout:
            raise exception.ComputeUnavailable(host=host or "any",
                                               timeout=timeout) from None

    def _cast(self, context, host, method, version=None, **kwargs):
        client = (self.client.prepare(server=host) if version is None else
                  self.client.prepare(server=host, version=version))
        client.cast(context, method, **kwargs)

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
        return self._call(context, server.host, "prepare_task", server=server,
                          task_state=task_state, snapshot=snapshot,
                          request=request)

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
        self._cast(context, server.host, "abort_task", version="1.2",
                   server=server)

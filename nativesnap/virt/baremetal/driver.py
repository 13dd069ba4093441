"""The bare-metal driver: the Ironic "Snapshot support" spec, built
(docs/baremetal.md).

A server of this driver is an enrolled node (its hypervisor_ref is the
node's id). Every verb needs the node's agent, which runs only once the node
has booted it: so a verb first prepares the node (with the ``none`` power
interface an operator boots the agent's ramdisk) and returns ``Waiting`` for
the agent's heartbeat, bounded by ``[baremetal] heartbeat_timeout``; no
worker is held meanwhile. The heartbeat resumes it (``resume_task``):

- a snapshot has the agent stream the root disk as sparse qcow2 to a
  one-time WebDAV URL, verifies the upload (size, sha256, ``qemu-img
  check``) and moves it into the store (webdav.py); what is refused or cut
  off is removed, and so is every one-time credential;
- a restore (revert) and a spawn have the agent write a stored image onto
  the node's root disk and read it back: the device's sha256 must be the one
  recorded when the snapshot was taken.

Power: with ``redfish`` the node is forced off through its BMC before the
wait (its disk at rest while the agent reads or writes it) and powered on
once the work is done (power.py); with ``none`` an operator does both.

The provision states (snapshotting, snapshot wait, ...) are moved by the
compute manager with the task's lock; the driver only returns results.
"""

import os
import subprocess

from oslo_log import log as logging

from nativesnap.common import failpoints
from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt.baremetal import agent_client
from nativesnap.virt.baremetal import power
from nativesnap.virt.baremetal import webdav
from nativesnap.virt import driver

LOG = logging.getLogger(__name__)

STREAM_IMAGE = "snapshot.stream_image"
WRITE_IMAGE = "deploy.write_image"
# Share of a snapshot's progress that is the stream; the rest is verifying.
STREAM_SHARE = 0.9


class BaremetalDriver(driver.ComputeDriver):
    name = "baremetal"
    host_free = True
    capabilities = {"memory": False, "quiesce": False, "revert_any": True,
                    "tree": False, "linked_spawn": False, "export": True}

    def __init__(self):
        self.store = None

    def init_host(self, host):
        self.store = webdav.WebDAVStore(CONF.baremetal.webdav_url,
                                        CONF.baremetal.webdav_root,
                                        CONF.baremetal.webdav_user_file)
        self.store.ensure()

    # --- nodes ---------------------------------------------------------------

    def _node(self, context, server_or_ref):
        ref = getattr(server_or_ref, "hypervisor_ref", server_or_ref)
        return self.lookup_node(context, ref)

    @staticmethod
    def _power(node):
        return power.power_of(node, CONF.baremetal.power_timeout)

    def _boot_disk(self, node):
        """Boot the node from its disk again. A BMC that fails now is logged,
        not the task's failure: the disk's work is done (or unchanged)."""
        try:
            self._power(node).on()
        except power.PowerError as e:
            LOG.error("Node %s could not be powered on after its agent's work; "
                      "power it on by hand: %s", node.name, e)

    def _client(self, node, agent_url):
        return agent_client.AgentClient(agent_url or node.agent_url,
                                        node.agent_token,
                                        CONF.baremetal.agent_timeout,
                                        CONF.baremetal.agent_ca_file)

    def _wait_for_agent(self, node):
        """Prepare the node (Redfish: forced off, its disk at rest; power
        ``none``: the operator boots the agent) and wait, bounded, for its
        agent's heartbeat."""
        self._power(node).off()
        return driver.Waiting(timeout=CONF.baremetal.heartbeat_timeout,
                              reason=f"the heartbeat of node {node.name}'s "
                                     "agent",
                              data={"node": node.id})

    # --- servers -------------------------------------------------------------

    def adopt(self, context, hypervisor_ref):
        node = self._node(context, hypervisor_ref)
        return driver.AdoptedObject(
            hypervisor_ref=node.id, name=node.name, status=states.ACTIVE,
            driver_info={"node": node.id},
            provision_state=states.PROVISION_ACTIVE)

    def get_server_state(self, context, server):
        # Without a power interface the node's power is not known: a node
        # nativesnap has not failed is taken as serving.
        if server.status in (states.BUILD, states.SERVER_ERROR):
            return server.status
        return states.ACTIVE

    def destroy_server(self, context, server):
        """A spawned server's node keeps its disk; deleting the server frees
        the node for another spawn."""
        LOG.info("Server %s on node %s deleted; the node's disk is left as "
                 "it is", server.id, server.hypervisor_ref)

    # --- verbs ---------------------------------------------------------------

    def validate_snapshot_request(self, server, kind, memory, quiesce,
                                  include_volumes):
        if memory:
            self._unsupported("create_snapshot",
                              "memory snapshots (the agent reads the disk of a "
                              "node booted into it; its RAM is not kept)")
        if quiesce == states.QUIESCE_REQUIRED:
            self._unsupported("create_snapshot",
                              "quiescing (nothing runs on the node's disk "
                              "while the agent reads it)")
        if include_volumes:
            self._unsupported("create_snapshot", "include_volumes")
        if kind is not None:
            self._unsupported("create_snapshot",
                              "choosing a kind (a node's snapshot is always "
                              "a stored image)")

    def create_snapshot(self, context, server, snapshot, progress):
        return self._wait_for_agent(self._node(context, server))

    def revert_to_snapshot(self, context, server, snapshot, power_on, progress):
        self._stored_facts(snapshot)
        return self._wait_for_agent(self._node(context, server))

    def spawn_from_snapshot(self, context, source_server, snapshot, new_server,
                            linked, power_on, progress):
        if linked:
            self._unsupported("spawn_from_snapshot", "linked clones")
        self._stored_facts(snapshot)
        return self._wait_for_agent(self._node(context, new_server))

    def export_snapshot(self, context, server, snapshot, dest_path, disk_format,
                        progress, clone_as=None):
        """The stored image into the image store: qcow2 as stored (copied,
        hashed again), raw by ``qemu-img convert`` (sparse)."""
        self._stored_facts(snapshot)
        source = self.store.image_path(snapshot.id)
        if disk_format == "raw":
            subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw",
                            source, dest_path], check=True, capture_output=True,
                           timeout=CONF.baremetal.transfer_timeout)
            progress(50)
            sha256 = webdav.sha256_of(dest_path)
        else:
            sha256 = webdav.copy_hashed(source, dest_path, progress)
        progress(100)
        return driver.ExportResult(size_bytes=os.path.getsize(dest_path),
                                   sha256=sha256)

    def delete_snapshot(self, context, server, snapshot, progress):
        self.store.remove_image(snapshot.id)
        self.store.remove_incoming(snapshot.id)

    def resume_task(self, context, server, task_state, target, data, event,
                    progress):
        heartbeat = event.get("heartbeat") or {}
        node = self._node(context, server)
        agent_url = heartbeat.get("agent_url")
        if task_state == states.SNAPSHOTTING:
            try:
                return self._stream(node, agent_url, target, progress)
            finally:
                self._boot_disk(node)   # its disk is as it was, taken or not
        if task_state == states.REVERTING:
            self._deploy(node, agent_url, server, target, progress)
            self._boot_disk(node)
            return driver.RevertResult(status=states.ACTIVE)
        if task_state == states.SPAWNING:
            self._deploy(node, agent_url, server, target, progress)
            self._boot_disk(node)
            return driver.SpawnResult(hypervisor_ref=node.id,
                                      status=states.ACTIVE,
                                      driver_info={"node": node.id})
        return super().resume_task(context, server, task_state, target, data,
                                   event, progress)

    def _stream(self, node, agent_url, snapshot, progress):
        """Have the agent stream the root disk; verify and store it."""
        store = self.store
        user = webdav.transfer_user(snapshot.id, "stream")
        client = self._client(node, agent_url)
        try:
            password = store.grant(user)
            try:
                failpoints.hit("baremetal.snapshot.before_stream")
                sent = client.run(
                    "stream the root disk", STREAM_IMAGE,
                    {"url": store.incoming_url(snapshot.id), "username": user,
                     "password": password, "image_name": snapshot.id},
                    CONF.baremetal.transfer_timeout,
                    CONF.baremetal.poll_interval,
                    lambda percent: progress(int(percent * STREAM_SHARE)))
            finally:
                store.revoke(user)
                client.close()
            failpoints.hit("baremetal.snapshot.before_verify")
            size = store.verify(snapshot.id, sent)
            facts = {key: sent.get(key) for key in (
                "sha256", "device_sha256", "virtual_size", "allocated_bytes",
                "bytes_sent", "cluster_size")}
            facts.update(node=node.id, size_bytes=size,
                         image=f"{webdav.IMAGES}/{snapshot.id}.qcow2")
            failpoints.hit("baremetal.snapshot.before_store")
            store.store(snapshot.id, facts)
        except BaseException:
            store.remove_incoming(snapshot.id)
            raise
        LOG.info("Snapshot %s of node %s stored: %s bytes (%s sent for %s "
                 "allocated)", snapshot.id, node.name, size,
                 facts["bytes_sent"], facts["allocated_bytes"])
        return self._result(facts)

    @staticmethod
    def _result(facts):
        return driver.SnapshotResult(kind=states.KIND_EXTERNAL,
                                     consistency=states.CONSISTENCY_CRASH,
                                     size_bytes=facts["size_bytes"],
                                     driver_info=facts)

    def _stored_facts(self, snapshot):
        facts = self.store.stored(snapshot.id)
        if facts is None:
            raise exception.DriverError(
                driver=self.name, verb="deploy the snapshot",
                reason=f"the stored image of snapshot {snapshot.id} is missing "
                       f"from {self.store.image_path(snapshot.id)}")
        return facts

    def _deploy(self, node, agent_url, server, snapshot, progress):
        """Have the agent write the stored image onto the node's root disk
        and read it back: the device must hash as at snapshot time."""
        facts = self._stored_facts(snapshot)
        user = webdav.transfer_user(server.id, "deploy")
        client = self._client(node, agent_url)
        try:
            password = self.store.grant(user)
            failpoints.hit("baremetal.deploy.before_write")
            written = client.run(
                "write the image", WRITE_IMAGE,
                {"url": self.store.image_url(snapshot.id), "username": user,
                 "password": password,
                 "expected_sha256": facts["device_sha256"]},
                CONF.baremetal.transfer_timeout, CONF.baremetal.poll_interval,
                progress)
        finally:
            self.store.revoke(user)
            client.close()
        if written.get("device_sha256") != facts["device_sha256"]:
            raise exception.DriverError(
                driver=self.name, verb="deploy the snapshot",
                reason=f"node {node.name}'s disk hashes "
                       f"{written.get('device_sha256')} after the write, "
                       f"snapshot {snapshot.id} was {facts['device_sha256']}")
        LOG.info("Snapshot %s written to node %s and read back", snapshot.id,
                 node.name)

    # --- after a crash ---------------------------------------------------------

    def reconcile(self, context, server, task_state, target):
        """A stream cut by a restart: a stored image (moved into the store
        only after verification) is the finished snapshot; anything else is
        removed. A cut write leaves the disk unknown: it failed."""
        if task_state == states.SNAPSHOTTING and target is not None:
            self.store.revoke(webdav.transfer_user(target.id, "stream"))
            removed = self.store.remove_incoming(target.id)
            facts = self.store.stored(target.id)
            if facts is not None:
                values = dict(vars(self._result(facts)))
                return driver.Reconciled(completed=True, values=values)
            return driver.Reconciled(
                completed=False,
                reason="the node's disk was not stored"
                       + ("; the partial upload was removed" if removed else ""))
        if task_state in (states.REVERTING, states.SPAWNING):
            self.store.revoke(webdav.transfer_user(server.id, "deploy"))
            return driver.Reconciled(
                completed=False,
                reason="writing the image to the node was cut off; the node's "
                       "disk is incomplete: restore again")
        return super().reconcile(context, server, task_state, target)

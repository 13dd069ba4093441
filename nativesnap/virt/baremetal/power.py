"""How the bare-metal driver powers a node: not at all (``none``), or through
its BMC's Redfish API (``redfish``, with sushy).

Why an interface of its own: the verbs do the same with every BMC — take the
node off its disk before the agent reads or writes it, and boot it from its
disk afterwards — and only this step differs (Ironic's power interface).
With ``none`` an operator boots the agent's ramdisk and back. With Redfish
nativesnap forces the system off (a disk at rest: crash-consistent) before
it waits for the agent, and powers it on once the disk is read or written;
every wait for the BMC is bounded. The BMC password is never logged.
"""

import time

from oslo_log import log as logging

from nativesnap import exception

LOG = logging.getLogger(__name__)

POWER_NONE = "none"
POWER_REDFISH = "redfish"


class PowerError(exception.DriverError):
    """The BMC could not be reached or did not do what was asked in time."""


class NoPower:
    """The ``none`` interface: an operator boots the agent and back."""

    def off(self):
        """Nothing: the operator boots the node into its agent."""

    def on(self):
        """Nothing: the operator boots the node from its disk."""


class RedfishPower:
    """A node's system behind its BMC's Redfish API."""

    def __init__(self, node, timeout, poll_interval=0.5):
        self.node = node
        self.timeout = timeout
        self.poll_interval = poll_interval

    def _system(self):
        import sushy   # only a deployment with Redfish nodes loads it

        node = self.node
        try:
            conn = sushy.Sushy(node.redfish_address,
                               username=node.redfish_username,
                               password=node.redfish_password,
                               verify=node.redfish_verify_ca)
            path = node.redfish_system_id
            if not path.startswith("/"):
                path = f"/redfish/v1/Systems/{path}"
            return sushy, conn.get_system(path)
        except Exception as e:
            raise self._error("reach the node's BMC", e) from e

    def _error(self, verb, cause):
        return PowerError(driver="baremetal", verb=verb,
                          reason=f"Redfish at {self.node.redfish_address} "
                                 f"(system {self.node.redfish_system_id}): "
                                 f"{type(cause).__name__}: {cause}")

    def _set(self, want_on):
        sushy, system = self._system()
        wanted = sushy.PowerState.ON if want_on else sushy.PowerState.OFF
        verb = "power the node on" if want_on else "power the node off"
        try:
            if system.power_state != wanted:
                system.reset_system(sushy.ResetType.ON if want_on
                                    else sushy.ResetType.FORCE_OFF)
            deadline = time.monotonic() + self.timeout
            while True:
                system.refresh(force=True)
                if system.power_state == wanted:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"still {system.power_state} after "
                                       f"{self.timeout} s")
                time.sleep(self.poll_interval)
        except PowerError:
            raise
        except Exception as e:
            raise self._error(verb, e) from e
        LOG.info("Node %s powered %s through Redfish", self.node.name,
                 "on" if want_on else "off")

    def off(self):
        self._set(False)

    def on(self):
        self._set(True)


def power_of(node, timeout):
    """The power interface of ``node`` (a NodeInfo)."""
    if node.power_interface == POWER_REDFISH:
        return RedfishPower(node, timeout)
    return NoPower()

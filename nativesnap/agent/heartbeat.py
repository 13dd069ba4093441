"""Tell the conductor, periodically, that this agent is up and where.

Why: the node boots the ramdisk with an address the conductor does not know
in advance; the heartbeat carries the agent's URL (and version), and its
arrival is the event the conductor's waiting task resumes on. It is sent at
start and every ``interval`` seconds. A failed heartbeat is logged and tried
again at the next tick, never fatal: the conductor may be restarting. Each
POST is bounded (connect and read timeouts); a TLS conductor is verified,
against ``ca_file`` if given.
"""

import logging
import threading

import requests

LOG = logging.getLogger(__name__)

TIMEOUT = (5, 10)     # connect, read


class Heartbeat:
    def __init__(self, conductor_url, node_id, token, agent_url, version,
                 interval=30, ca_file=None):
        self.url = (f"{conductor_url.rstrip('/')}/v1/baremetal/nodes/"
                    f"{node_id}/heartbeat")
        self.body = {"agent_url": agent_url, "agent_version": version}
        self._headers = {"X-Agent-Token": token}
        self.interval = interval
        self.verify = ca_file or True
        self._stop = threading.Event()
        self._thread = None
        self._session = requests.Session()
        self._session.trust_env = False     # no proxy between agent and conductor

    def beat(self):
        """Send one heartbeat; True if the conductor accepted it."""
        try:
            response = self._session.post(self.url, json=self.body,
                                          headers=self._headers,
                                          timeout=TIMEOUT, verify=self.verify)
        except requests.RequestException as exc:
            LOG.warning("heartbeat to %s failed: %s: %s", self.url,
                        exc.__class__.__name__, exc)
            return False
        if response.status_code >= 300:
            LOG.warning("heartbeat to %s answered HTTP %s", self.url,
                        response.status_code)
            return False
        LOG.debug("heartbeat to %s accepted (HTTP %s)", self.url,
                  response.status_code)
        return True

    def _loop(self):
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self.interval)

    def start(self):
        LOG.info("heartbeat to %s every %s s as %s", self.url, self.interval,
                 self.body["agent_url"])
        self._thread = threading.Thread(target=self._loop, name="heartbeat",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout=15):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._session.close()

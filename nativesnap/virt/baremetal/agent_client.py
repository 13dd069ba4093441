"""The compute service's side of nativesnap-agent's API (docs/baremetal-agent.md).

Why a client of its own: every call must be bounded (connect and read
timeouts, and a deadline for a whole command), the agent's token must never
reach a log, and an agent that refuses the token must say so plainly, since
that is what an operator fixes. Commands run asynchronously on the agent; the
client starts one and polls its status until it ends or its deadline passes.
"""

import time

import requests
from oslo_log import log as logging

from nativesnap import exception

LOG = logging.getLogger(__name__)

RUNNING = "running"
SUCCEEDED = "succeeded"


class AgentError(exception.DriverError):
    """The agent could not be reached, refused, or its command failed."""


class AgentClient:
    def __init__(self, url, token, timeout, ca_file=None):
        self.url = url.rstrip("/")
        self._headers = {"X-Agent-Token": token}
        self.timeout = timeout
        self.verify = ca_file or True
        self._session = requests.Session()
        self._session.trust_env = False   # no proxy between us and the node

    def close(self):
        self._session.close()

    def _request(self, verb, method, path, **kwargs):
        try:
            response = self._session.request(
                method, self.url + path, headers=self._headers,
                timeout=(self.timeout, self.timeout), verify=self.verify,
                **kwargs)
        except requests.RequestException as e:
            raise AgentError(driver="baremetal", verb=verb,
                             reason=f"the agent at {self.url} could not be "
                                    f"reached: {type(e).__name__}: {e}") from e
        if response.status_code == 401:
            raise AgentError(driver="baremetal", verb=verb,
                             reason=f"the agent at {self.url} refused the "
                                    "node's agent token (HTTP 401); enrol the "
                                    "node again with the token its agent "
                                    "reads")
        if response.status_code >= 300:
            raise AgentError(driver="baremetal", verb=verb,
                             reason=f"the agent at {self.url} answered HTTP "
                                    f"{response.status_code}: "
                                    f"{response.text[:300]}")
        try:
            return response.json()
        except ValueError:
            raise AgentError(driver="baremetal", verb=verb,
                             reason=f"the agent at {self.url} answered "
                                    "something that is not JSON") from None

    def status(self):
        return self._request("reach the agent", "GET", "/v1/status")

    def run(self, verb, name, params, deadline, poll_interval, progress):
        """Run command ``name`` with ``params`` to its end: its result.

        ``deadline`` is seconds for the whole command; ``progress(percent)``
        is called as the agent reports (it raises TaskCancelled when the
        task was cancelled). The command is logged without its params (they
        hold a credential)."""
        started = self._request(verb, "POST", "/v1/commands",
                                json={"name": name, "params": params})
        command_id = started.get("id")
        LOG.info("Agent %s runs %s as command %s", self.url, name, command_id)
        until = time.monotonic() + deadline
        while True:
            body = self._request(verb, "GET", f"/v1/commands/{command_id}")
            if body.get("status") != RUNNING:
                break
            progress(int(body.get("progress") or 0))
            if time.monotonic() > until:
                raise AgentError(driver="baremetal", verb=verb,
                                 reason=f"the agent's {name} did not end "
                                        f"within {deadline} s")
            time.sleep(poll_interval)
        if body.get("status") != SUCCEEDED:
            raise AgentError(driver="baremetal", verb=verb,
                             reason=f"the agent's {name} failed: "
                                    f"{body.get('error') or body.get('status')}")
        return body.get("result") or {}

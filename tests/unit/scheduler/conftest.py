"""The scheduler in a compute service on a real (sqlite) database with the
fake driver, joined to the API side by the in-process RPC transport, its
clock in the test's hands."""

import datetime
import time

import pytest

from nativesnap import context as ns_context
from nativesnap.objects import policy as policy_obj
from nativesnap.objects import queued_request as queued_obj
from nativesnap.scheduler import api as policy_api
from tests.unit.compute import conftest as compute_env

WAIT = 15


class Clock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += datetime.timedelta(**delta)


class SchedulerEnv(compute_env.Env):
    """The compute Env with its scheduler on a clock the test moves."""

    def __init__(self, tmp_path, start, **kwargs):
        super().__init__(tmp_path, **kwargs)
        self.clock = Clock(start)
        self.compute.scheduler.clock = self.clock
        self.policies = policy_api.PolicyAPI(self.manager)
        self.admin = ns_context.get_admin_context()

    def policy(self, **values):
        values.setdefault("name", "hourly")
        return self.policies.create_policy(self.context, values)

    def attach(self, server, policy):
        """Attach, the first run due at the test clock's time."""
        attachment = self.policies.attach(self.context, server, policy)
        attachment.next_run_at = self.clock.now
        attachment.save()
        return attachment

    def run(self):
        """One scheduler run at the clock's time, then wait until what it
        asked for (takes, deletes, the queue behind them) has ended."""
        outcomes = self.compute.scheduler.run(self.admin)
        self.settle()
        outcomes.update(self.compute.scheduler.prune(self.admin))
        self.settle()
        return outcomes

    def settle(self):
        deadline = time.monotonic() + WAIT
        while True:
            # The queue first: a request leaves it in the transaction that
            # makes its server busy, so it is seen in one or the other.
            queued = queued_obj.QueuedRequestList.get_by_servers(
                self.admin, [s.id for s in self.servers()])
            servers = [s for s in self.servers() if s.task_state is not None]
            if not servers and not queued:
                return
            assert time.monotonic() < deadline, (
                f"still busy after {WAIT} s: {[s.task_state for s in servers]}"
                f", {len(queued)} queued")
            time.sleep(0.005)

    def servers(self):
        from nativesnap.objects import server as server_obj
        return list(server_obj.ServerList.get_all(self.admin))

    def attachment(self, policy, server):
        return [a for a in policy_obj.PolicyAttachmentList.get_all(
            self.admin, server_id=server.id) if a.policy_id == policy.id][0]


@pytest.fixture
def scheduler_env(sqlite_database, tmp_path, config):
    """Policies run from Monday 5 January 2026, 00:00 UTC; the service's
    own scheduler thread takes nothing (the test runs the scheduler)."""
    config("state_path", str(tmp_path))
    config("task_delay", 0.0, group="fake")
    config("enabled", False, group="scheduler")
    start = datetime.datetime(2026, 1, 5, tzinfo=datetime.timezone.utc)
    environment = SchedulerEnv(tmp_path, start)
    yield environment
    for e in environment.family:
        e.compute.stop_serving()
        e.runner.shutdown(WAIT)

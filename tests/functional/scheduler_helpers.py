"""Helpers of the functional tests of snapshot policies (docs/scheduler.md):
the scheduler's clock file, a policy's conf, create and attach, and bounded
waits for a scheduler run and its prune.

The scheduler of a service started with ``scheduler_conf(clock)`` reads the
time from ``clock``'s file at every run (``[fault_injection]
scheduler_clock_file``) and runs five times a second, so a test moves the
clock file instead of sleeping for a schedule. Attaching a policy sets its
first run at the next slot after the *real* time: a clock left in the past
(``Clock.start_in_the_past``) keeps every attached policy idle until the
test moves the clock to ``future_base()``, which is ahead of the real time.
"""

import datetime
import os
import time

from tests.functional import helpers as h

V1_2 = {h.MICROVERSION: "snapshot 1.2"}
POLICIES = "/v1/snapshot-policies"
UTC = datetime.timezone.utc
# Statuses a settled snapshot is never in.
UNSETTLED = ("queued", "creating", "deleting")


def parse_time(value):
    """An API time (``...Z`` or with an offset) as an aware UTC datetime."""
    if value is None:
        return None
    moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def future_base(days=7):
    """Midnight UTC ``days`` after today: ahead of the real time, so a
    policy attached now is due once the clock shows it."""
    today = datetime.datetime.now(UTC).replace(hour=0, minute=0, second=0,
                                               microsecond=0)
    return today + datetime.timedelta(days=days)


class Clock:
    """The scheduler's clock file: one ISO 8601 time with its offset,
    replaced whole (rename) so that a run never reads half of it."""

    def __init__(self, path):
        self.path = str(path)
        self.now = None

    def set(self, moment):
        moment = moment.astimezone(UTC)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(moment.isoformat())
        os.replace(tmp, self.path)
        self.now = moment
        return moment

    def advance(self, **delta):
        return self.set(self.now + datetime.timedelta(**delta))

    def start_in_the_past(self):
        """Behind the real time: nothing attached is due."""
        return self.set(datetime.datetime.now(UTC)
                        - datetime.timedelta(days=1))


def scheduler_conf(clock, run_interval=0.2, failpoints=None, **sections):
    """extra_conf of an APIServer whose scheduler runs every ``run_interval``
    s on ``clock``; ``sections``: more {section: {option: value}}."""
    conf = {"scheduler": {"run_interval": str(run_interval)},
            "fault_injection": {}}
    if clock is not None:
        conf["fault_injection"]["scheduler_clock_file"] = clock.path
    if failpoints:
        conf["fault_injection"]["failpoints"] = failpoints
    for section, values in sections.items():
        conf.setdefault(section, {}).update(
            {key: str(value) for key, value in values.items()})
    return conf


# --- policies ---------------------------------------------------------------


def create_policy(api, token, **fields):
    body = dict({"name": h.unique("policy-")}, **fields)
    resp = api.request("POST", POLICIES, token=token,
                       json={"snapshot_policy": body})
    return h.ok(resp, 201)["snapshot_policy"]


def attach(api, token, server_id, policy_id):
    resp = api.request("POST", f"/v1/servers/{server_id}/snapshot-policies",
                       token=token, json={"policy_id": policy_id})
    return h.ok(resp)["snapshot_policy"]


def get_policy(api, token, policy_id):
    return h.ok(api.request("GET", f"{POLICIES}/{policy_id}",
                            token=token))["snapshot_policy"]


def entry(api, token, policy_id, server_id):
    """The policy view's entry of ``server_id`` (last_run, next_run,
    outcome)."""
    (found,) = [s for s in get_policy(api, token, policy_id)["servers"]
                if s["server_id"] == server_id]
    return found


def server_v12(api, token, server_id):
    """The server's view at 1.2 (with ``queued``)."""
    return h.ok(api.request("GET", f"/v1/servers/{server_id}", token=token,
                            headers=V1_2))["server"]


def snapshots_v12(api, token, server_id):
    """The server's snapshots at 1.2 (with policy_id, scheduled_at), in
    the listing's order."""
    return h.ok(api.request("GET", h.snapshot_path(server_id), token=token,
                            headers=V1_2))["snapshots"]


def policy_snapshots(api, token, server_id, policy_id):
    """The snapshots ``policy_id`` took of the server, oldest slot first."""
    return sorted((s for s in snapshots_v12(api, token, server_id)
                   if s["policy_id"] == policy_id),
                  key=lambda s: (s["scheduled_at"], s["created_at"]))


def settled(api, token, server_id):
    """The server's view when it runs no task, nothing waits for it and
    none of its snapshots is queued, being taken or being deleted; else
    None."""
    server = server_v12(api, token, server_id)
    if server["task_state"] is not None or server["queued"]:
        return None
    if any(s["status"] in UNSETTLED for s in snapshots_v12(api, token,
                                                          server_id)):
        return None
    return server


def wait_round(api, token, policy_id, server_id, at, timeout=30,
               interval=0.1):
    """Wait (bounded) until the run of the clock's time ``at`` took its
    snapshot for ``server_id``, the prune after it ran (its outcome keeps
    something) and the server settled; returns the policy's entry."""
    def done():
        found = entry(api, token, policy_id, server_id)
        outcome = found["outcome"] or {}
        if (parse_time(found["last_run"]) != at
                or parse_time(outcome.get("at")) != at
                or not outcome.get("taken") or not outcome.get("kept")):
            return None
        return found if settled(api, token, server_id) else None
    return _wait(api, done, timeout, interval,
                 f"the policy's run at {at.isoformat()} on server "
                 f"{server_id}, its prune and the server to settle",
                 lambda: (entry(api, token, policy_id, server_id),
                          server_v12(api, token, server_id),
                          snapshots_v12(api, token, server_id)))


def wait_ran(api, token, policy_id, server_id, at, timeout=30):
    """Wait (bounded) until the run at ``at`` recorded its outcome (whatever
    it decided); returns the policy's entry."""
    def done():
        found = entry(api, token, policy_id, server_id)
        outcome = found["outcome"] or {}
        return found if (parse_time(found["last_run"]) == at and
                         parse_time(outcome.get("at")) == at) else None
    return _wait(api, done, timeout, 0.05,
                 f"the policy's run at {at.isoformat()} on server {server_id}",
                 lambda: entry(api, token, policy_id, server_id))


def _wait(api, predicate, timeout, interval, what, state):
    """api.wait_for, whose failure shows ``state()`` and the log's end."""
    try:
        return api.wait_for(predicate, timeout=timeout, interval=interval,
                            what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}; state: {state()}; log:\n"
                             f"{api.read_log()[-4000:]}") from None


def takes_logged(api, policy_id, since=0):
    """Lines of the service's log (from offset ``since``) where the policy
    took a snapshot."""
    return [line for line in api.read_log()[since:].splitlines()
            if f"Policy {policy_id} " in line and " on server " in line
            and ": took " in line]


def still(predicate, seconds, interval=0.1):
    """True if ``predicate()`` holds throughout ``seconds`` (a bounded look
    that nothing more happens, e.g. no second catch-up take)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(interval)
    return predicate()

"""The scheduler: takes the snapshots of snapshot policies when they are due
and prunes what their retention no longer keeps (docs/scheduler.md).

It runs in each compute service, for the servers that service owns (their
``host``; host-free servers move with their owner), every ``[scheduler]
run_interval`` seconds. A run reads, in one query, only its host's
attachments that have work, takes what is due, then prunes the pairs that
need it (a take since the last prune, a changed retention) once all their
policy's snapshots have settled. Its takes and deletes go through the compute API like a user's, but
queued: a busy server makes them wait their turn instead of failing.

Every decision is written to the pair's ``outcome`` (taken, kept by which
rule, pruned, skipped with why) and logged; the policy's view shows it. The
time comes from ``clock``, so a test can run sixty days of hourly runs
without waiting for them; the slot a snapshot was taken for is recorded with
it, and retention counts by slots."""

import datetime

from oslo_log import log as logging
from oslo_utils import timeutils

from nativesnap.common import failpoints
from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.objects import policy as policy_obj
from nativesnap.objects import queued_request as queued_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from nativesnap.scheduler import api as policy_api
from nativesnap.scheduler import prune
from nativesnap.scheduler import schedule

LOG = logging.getLogger(__name__)

# Servers in these statuses are not snapshotted: being built, or broken.
_NOT_TAKEN = (states.BUILD, states.SERVER_ERROR)
MAX_RETRY_INTERVAL = 3600


def system_clock():
    return timeutils.utcnow(with_timezone=True)


def file_clock(path):
    """A clock that reads the time from ``path`` ([fault_injection]
    scheduler_clock_file, for tests only)."""
    def clock():
        with open(path) as f:
            moment = datetime.datetime.fromisoformat(f.read().strip())
        if moment.tzinfo is None:
            raise ValueError(f"{path}: the time needs its UTC offset")
        return moment.astimezone(datetime.timezone.utc)
    return clock


def configured_clock():
    path = CONF.fault_injection.scheduler_clock_file
    return file_clock(path) if path else system_clock


class Scheduler:
    """``free_space(context, server)`` answers a driver's FreeSpace or None;
    ``clock()`` the aware UTC time."""

    def __init__(self, host, compute_api, free_space, clock=None):
        self.host = host
        self.set_compute_api(compute_api)
        self.free_space = free_space
        self.clock = clock or configured_clock()

    def set_compute_api(self, compute_api):
        self.compute_api = compute_api
        self.policies = policy_api.PolicyAPI(compute_api)

    def run(self, context):
        """One run over the host's attachments: take what is due, prune
        what is settled; returns the outcomes made, {(policy id, server
        id): outcome}."""
        now = self.clock()
        outcomes, ran = {}, []
        for attachment, policy, server in policy_obj.host_work(
                context, self.host, due_at=now):
            if attachment.next_run_at is None or attachment.next_run_at <= now:
                outcomes[(policy.id, server.id)] = self._take(
                    context, attachment, policy, server, now)
                ran.append(attachment)
        # The outcomes of the run in one transaction (a take's own run was
        # recorded with its snapshot; a crash before this loses only words).
        policy_obj.save_attachments(context, ran)
        # Read again: a take that ended meanwhile moved its server's current
        # snapshot, which the prune must see.
        outcomes.update(self.prune(context))
        return outcomes

    def prune(self, context):
        """Prune the pairs waiting for it whose snapshots have settled (a
        take ends a moment after the run that asked for it: the compute
        service calls this as tasks end, not only on runs)."""
        work = policy_obj.host_work(context, self.host, prune_due=True)
        if not work:
            return {}
        of_server = policy_obj.server_snapshots(
            context, {server.id for _a, _p, server in work})
        settled = []
        for attachment, policy, server in work:
            taken = [s for s in of_server[server.id] if s.policy_id == policy.id]
            if prune.settled(taken):
                settled.append((attachment, policy, server, taken))
        dependents = policy_api.dependents_of(context, [
            s for _a, _p, server, _t in settled for s in of_server[server.id]])
        plans = [(attachment, policy, server,
                  prune.plan(policy, server, taken, dependents))
                 for attachment, policy, server, taken in settled]
        # The snapshots to delete, read whole at once (the plans hold briefs).
        found = policy_obj.snapshots_by_id(
            context, [s.id for _a, _p, _s, plan in plans for s in plan.remove])
        outcomes = {(policy.id, server.id): self._prune(
                        context, attachment, policy, server, plan, found)
                    for attachment, policy, server, plan in plans}
        policy_obj.save_attachments(context, [a for a, _p, _s, _t in settled])
        return outcomes

    # --- take --------------------------------------------------------------------

    def _take(self, context, attachment, policy, server, now):
        slot = schedule.latest_at_or_before(now, policy.interval_minutes,
                                            policy.cron, policy.timezone)
        outcome = {"at": now.isoformat(), "slot": slot.isoformat(),
                   "taken": None, "kept": [], "pruned": [], "skipped": [],
                   "error": None}
        reason = self._refusal(context, server)
        if reason is None:
            try:
                failpoints.hit("scheduler.take.before_request")
                outcome["taken"] = self._request(context, attachment, policy,
                                                 server, slot, now).id
            except exception.QuotaExceeded as e:
                outcome["taken"] = self._take_within_quota(
                    context, attachment, policy, server, slot, now, e, outcome)
            except exception.NativesnapException as e:
                outcome["error"] = e.message
        else:
            outcome["skipped"].append({"snapshot_id": None, "reason": reason})
        # A take recorded the run with its snapshot; the outcome follows,
        # with the run's others (run()).
        self._ran(attachment, policy, now, outcome, save=False)
        LOG.info("Policy %s (%s) on server %s, slot %s: %s", policy.id,
                 policy.name, server.id, slot.isoformat(), _summary(outcome))
        return outcome

    def _refusal(self, context, server):
        """Why the server is not snapshotted now, or None."""
        if server.status in _NOT_TAKEN:
            return f"the server's status is {server.status}"
        threshold = CONF.scheduler.min_free_percent
        if threshold <= 0:
            return None
        try:
            space = self.free_space(context, server)
        except Exception as e:  # the guard must not stop the schedule
            LOG.warning("Free space of server %s's storage unknown: %s",
                        server.id, e)
            return None
        if space is not None and space.percent_free < threshold:
            return (f"{space.where} has {space.percent_free:.1f} % free, "
                    f"below [scheduler] min_free_percent {threshold:g}")
        return None

    def _request(self, context, attachment, policy, server, slot, now,
                 quota_credit=0):
        """Queue the take; the pair's run is recorded in the same
        transaction as the snapshot, so a crash cannot take it twice."""
        name = schedule.snapshot_name(policy.name_template, policy.name,
                                      server.name, slot, policy.timezone)
        return self.compute_api.create_snapshot(
            context, server, name,
            description=f"Taken by snapshot policy {policy.name} "
                        f"({policy.id}) for {slot.isoformat()}",
            memory=policy.memory, quiesce=policy.quiesce,
            include_volumes=policy.include_volumes, queue=True,
            origin=queued_obj.SCHEDULER, policy_id=policy.id,
            scheduled_at=slot, quota_credit=quota_credit,
            records=[lambda: self._ran(attachment, policy, now, None,
                                       prune_due=True)])

    def _take_within_quota(self, context, attachment, policy, server, slot,
                           now, error, outcome):
        """Over quota: prune first if the retention, counting the snapshot
        about to be taken, lets go of something; then take. Else a skip."""
        plan = self.policies.plan_for(context, policy, server,
                                      pending_slot=slot)
        if not plan.remove:
            outcome["skipped"].append({"snapshot_id": None,
                                       "reason": error.message})
            return None
        self.policies.remove(context, plan, server)
        _record_plan(outcome, plan)
        try:
            return self._request(context, attachment, policy, server, slot,
                                 now, quota_credit=len(plan.remove)).id
        except exception.NativesnapException as e:
            outcome["skipped"].append({"snapshot_id": None,
                                       "reason": e.message})
            return None

    @staticmethod
    def _ran(attachment, policy, now, outcome, prune_due=None, save=True):
        attachment.last_run_at = now
        attachment.next_run_at = policy_api.next_run(policy, now)
        if outcome is not None:
            attachment.outcome = outcome
        if prune_due is not None:
            attachment.prune_due = prune_due
        if save:
            attachment.save()

    # --- prune -------------------------------------------------------------------

    def _prune(self, context, attachment, policy, server, plan, found):
        failpoints.hit("scheduler.prune.before_delete")
        self.policies.remove(context, plan, server, found)
        # The run's outcome (its take) with this prune's decisions; saved
        # with the others of this prune (prune()).
        outcome = dict(attachment.outcome or {}, kept=[], pruned=[],
                       skipped=[s for s in (attachment.outcome or {}).get(
                           "skipped", []) if s.get("snapshot_id") is None])
        _record_plan(outcome, plan)
        attachment.outcome = outcome
        attachment.prune_due = False
        LOG.info("Policy %s (%s) pruned server %s: %s", policy.id, policy.name,
                 server.id, _summary(outcome))
        return outcome

    # --- failed deletes -------------------------------------------------------

    def retry_deletes(self, context):
        """Delete again, with back-off, the snapshots of this host left
        error_deleting by a failed delete (queued behind the server's
        task: the server is never locked by it)."""
        attempts = CONF.scheduler.delete_retry_attempts
        if attempts <= 0:
            return
        now = self.clock()
        for snapshot in snapshot_obj.ServerSnapshotList.get_deletes_to_retry(
                context, self.host, now, attempts):
            first_seen = snapshot.retry_at is None
            if not first_seen:
                snapshot.delete_attempts += 1
            # The next retry's time is set before this one is asked for: a
            # retry that fails leaves it, the back-off doubling each time.
            wait = min(MAX_RETRY_INTERVAL, CONF.scheduler.delete_retry_interval
                       * 2 ** snapshot.delete_attempts)
            snapshot.retry_at = now + datetime.timedelta(seconds=wait)
            snapshot.save()
            if first_seen:
                LOG.info("Snapshot %s was left error_deleting (%s); it is "
                         "deleted again in %d s", snapshot.id,
                         (snapshot.fault or {}).get("message"), wait)
                continue
            LOG.info("Deleting snapshot %s again (attempt %d of %d; the next "
                     "in %d s if it fails)", snapshot.id,
                     snapshot.delete_attempts, attempts, wait)
            try:
                server = server_obj.Server.get_by_id(context,
                                                     snapshot.server_id)
                self.compute_api.delete_snapshot(
                    context, server, snapshot, queue=True,
                    origin=queued_obj.SCHEDULER)
            except exception.NativesnapException as e:
                LOG.warning("Snapshot %s could not be deleted again: %s",
                            snapshot.id, e)


def _record_plan(outcome, plan):
    outcome["kept"] = [{"snapshot_id": s.id, "rule": rule}
                       for s, rule in plan.keep]
    outcome["pruned"] = outcome.get("pruned", []) + [s.id for s in plan.remove]
    outcome["skipped"] = outcome.get("skipped", []) + [
        {"snapshot_id": s.id, "reason": reason} for s, reason in plan.skip]


def _summary(outcome):
    parts = []
    if outcome.get("taken"):
        parts.append(f"took {outcome['taken']}")
    if outcome.get("kept"):
        parts.append("kept " + ", ".join(f"{k['snapshot_id']} ({k['rule']})"
                                         for k in outcome["kept"]))
    if outcome.get("pruned"):
        parts.append("pruned " + ", ".join(outcome["pruned"]))
    for skip in outcome.get("skipped", []):
        parts.append(f"skipped {skip['snapshot_id'] or 'the take'}: "
                     f"{skip['reason']}")
    if outcome.get("error"):
        parts.append(f"failed: {outcome['error']}")
    return "; ".join(parts) or "nothing to do"

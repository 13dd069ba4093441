"""The API side of snapshot policies and quotas (docs/scheduler.md): what a
request may do to them. Like nativesnap/compute/api.py for servers, the REST
controllers ask this class and it works on objects only; a prune that is
not a dry run hands its deletes to the compute API, queued behind the
server's running task."""

from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import uuidutils

from nativesnap import exception
from nativesnap.objects import policy as policy_obj
from nativesnap.objects import quota
from nativesnap.objects import queued_request as queued_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from nativesnap.scheduler import prune
from nativesnap.scheduler import schedule

LOG = logging.getLogger(__name__)

_SCHEDULE = ("interval_minutes", "cron", "timezone")


def _check(values):
    """Checks the JSON Schema cannot make: the cron expression, the time
    zone, the name template, that some retention rule keeps something."""
    if values.get("cron") is not None:
        schedule.check_cron(values["cron"])
    if "timezone" in values:
        schedule.check_timezone(values["timezone"])
    if values.get("name_template") is not None:
        schedule.check_name_template(values["name_template"])


def dependents_of(context, snapshots):
    """{snapshot id: why it must stay} for those of ``snapshots`` (all the
    snapshots of their servers) that a linked server reads: spawned from
    it, or from a later snapshot of its branch, whose layers rest on it.
    One query per 500 snapshots, whatever the number of servers."""
    by_id = {s.id: s for s in snapshots}
    readers = {}
    ids = list(by_id)
    for start in range(0, len(ids), 500):
        for dependent in server_obj.ServerList.get_linked_dependents(
                context, ids[start:start + 500]):
            current, seen = dependent.source_snapshot_id, set()
            while current in by_id and current not in seen:
                seen.add(current)
                readers.setdefault(current, []).append(
                    f"{dependent.id} ({dependent.name})")
                current = by_id[current].parent_id
    return {snapshot_id: "linked server(s) %s read it" % ", ".join(names)
            for snapshot_id, names in readers.items()}


class PolicyAPI:
    def __init__(self, compute_api=None):
        self.compute_api = compute_api

    # --- policies --------------------------------------------------------------------

    @staticmethod
    def create_policy(context, values):
        values = dict(values)
        if "interval_hours" in values:
            values["interval_minutes"] = 60 * values.pop("interval_hours")
        _check(values)
        policy = policy_obj.SnapshotPolicy(context)
        policy.id = uuidutils.generate_uuid()
        policy.project_id = values.pop("project_id", None) or context.project_id
        policy.user_id = context.user_id
        for name, value in values.items():
            setattr(policy, name, value)
        policy.obj_set_defaults()  # the fields' defaults where not given
        policy.create()
        LOG.info("Snapshot policy %s (%s) created in project %s", policy.id,
                 policy.name, policy.project_id)
        return policy

    @staticmethod
    def get_policy(context, policy_id):
        return policy_obj.SnapshotPolicy.get_by_id(context, policy_id)

    @staticmethod
    def list_policies(context, project_id=None):
        return list(policy_obj.SnapshotPolicyList.get_all(context, project_id))

    @staticmethod
    def update_policy(context, policy, values):
        """Change a policy. The schedule's change moves every attachment's
        next run to the new schedule's next slot; a retention change makes
        the next run prune every attached server."""
        values = dict(values)
        if "interval_hours" in values:
            values["interval_minutes"] = 60 * values.pop("interval_hours")
        if "interval_minutes" in values:
            values["cron"] = None
        elif values.get("cron") is not None:
            values["interval_minutes"] = None
        _check(values)
        for name, value in values.items():
            setattr(policy, name, value)
        if not any(policy.retention.values()):
            raise exception.ValidationError(
                where="retention", reason="every keep_* would be 0: keep at "
                "least one snapshot")
        changed = set(policy.obj_what_changed())
        policy.save()
        if changed & set(_SCHEDULE):
            policy_obj.PolicyAttachment.update_all(
                context, policy.id, next_run_at=next_run(policy))
        if changed & set(policy_obj.RETENTION):
            policy_obj.PolicyAttachment.update_all(context, policy.id,
                                                   prune_due=True)
        return policy

    @staticmethod
    def delete_policy(context, policy):
        policy.destroy()
        LOG.info("Snapshot policy %s (%s) deleted; the snapshots it took "
                 "stay and are no longer pruned", policy.id, policy.name)

    @staticmethod
    def attachments(context, policy_ids):
        """{policy id: [PolicyAttachment]}."""
        found = {policy_id: [] for policy_id in policy_ids}
        for attachment in policy_obj.PolicyAttachmentList.get_all(
                context, policy_ids=list(policy_ids)):
            found[attachment.policy_id].append(attachment)
        return found

    # --- attachments -----------------------------------------------------------------

    @staticmethod
    def attach(context, server, policy):
        if policy.project_id != server.project_id:
            raise exception.PolicyNotFound(policy_id=policy.id)
        attachment = policy_obj.PolicyAttachment.attach(
            context, policy.id, server.id, next_run(policy))
        LOG.info("Snapshot policy %s attached to server %s; next run %s",
                 policy.id, server.id, attachment.next_run_at)
        return attachment

    @staticmethod
    def detach(context, server, policy_id):
        policy_obj.PolicyAttachment.detach(context, policy_id, server.id)
        LOG.info("Snapshot policy %s detached from server %s", policy_id,
                 server.id)

    @staticmethod
    def server_policies(context, server):
        ids = [a.policy_id for a in policy_obj.PolicyAttachmentList.get_all(
            context, server_id=server.id)]
        return list(policy_obj.SnapshotPolicyList.get_all(context, ids=ids)) \
            if ids else []

    # --- prune -------------------------------------------------------------------

    def prune(self, context, policy, server_id=None, dry_run=True):
        """[Plan] of the attached servers (or of ``server_id``). Not a dry
        run, each plan's removals are deleted, queued behind the server's
        task."""
        attached = self.attachments(context, [policy.id])[policy.id]
        if server_id is not None:
            attached = [a for a in attached if a.server_id == server_id]
            if not attached:
                raise exception.PolicyNotAttached(policy_id=policy.id,
                                                  server_id=server_id)
        plans = []
        for attachment in attached:
            server = server_obj.Server.get_by_id(context, attachment.server_id)
            plans.append(self.plan_for(context, policy, server))
        if not dry_run:
            for one in plans:
                self.remove(context, one)
        return plans

    @staticmethod
    def plan_for(context, policy, server, snapshots=None, pending_slot=None):
        all_of_server = list(snapshot_obj.ServerSnapshotList.get_all(
            context, server_id=server.id))
        if snapshots is None:
            snapshots = [s for s in all_of_server if s.policy_id == policy.id]
        return prune.plan(policy, server, snapshots,
                          dependents_of(context, all_of_server), pending_slot)

    def remove(self, context, plan, server=None, found=None):
        """Delete what ``plan`` removes; a snapshot that cannot be deleted
        now is skipped, with why (it stays for the next prune). A plan may
        hold briefs (the scheduler's reads): the deletes work on the
        snapshots themselves, ``found`` ({id: ServerSnapshot}) or read."""
        removed = []
        if server is None and plan.remove:
            server = server_obj.Server.get_by_id(context, plan.server_id)
        if found is None:
            found = policy_obj.snapshots_by_id(context,
                                               [s.id for s in plan.remove])
        for brief in plan.remove:
            snapshot = found.get(brief.id)
            if snapshot is None:
                continue  # gone meanwhile: nothing to remove
            try:
                self.compute_api.delete_snapshot(
                    context, server, snapshot, queue=True,
                    origin=queued_obj.SCHEDULER)
                removed.append(snapshot)
            except exception.NativesnapException as e:
                plan.skip.append((snapshot, e.message))
        plan.remove = removed
        return plan

    # --- quotas ------------------------------------------------------------------------

    @staticmethod
    def quota_set_of(context, project_id, usage=False):
        limits = quota.limits(context, project_id)
        if not usage:
            return dict(limits, id=project_id)
        used = quota.usage(context, project_id)
        return dict({r: {"limit": limits[r], "in_use": used[r]}
                     for r in quota.RESOURCES}, id=project_id)

    def update_quota_set(self, context, project_id, values):
        quota.set_limits(context, project_id, values)
        LOG.info("Quotas of project %s set: %s", project_id, values)
        return self.quota_set_of(context, project_id)

    @staticmethod
    def reset_quota_set(context, project_id):
        quota.reset(context, project_id)
        LOG.info("Quotas of project %s back to the defaults", project_id)


def next_run(policy, now=None):
    """The policy's next slot after ``now``."""
    return schedule.next_after(now or timeutils.utcnow(with_timezone=True),
                               policy.interval_minutes, policy.cron,
                               policy.timezone)

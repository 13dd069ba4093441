"""Requests that wait for a busy server instead of answering 409
(docs/scheduler.md, "Queued requests").

A server runs one task at a time, and a request for a busy server answers
409 at once: a person can retry. The scheduler cannot, and an hourly take must
not fail because a daily one, or the user's revert, is running — the wound
of cron-driven snapshot scripts ("VM is locked"). So the scheduler's
requests, and a user's that ask for it with ``"queue": true``, are recorded
as queued requests; a queued create is recorded with its snapshot, in status
``queued``, so that it can be seen, counted by quotas and deleted before it
runs. The compute service that owns the server starts the oldest request of
each server when the server is free (at every task's end and on its periodic
check), in one transaction with taking the task lock, so a crash leaves each
request either started or still waiting. One that waited longer than
``[scheduler] queue_wait`` fails, saying what it waited for."""

import datetime

from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import uuidutils

from nativesnap.common import states
from nativesnap.conf import CONF
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.objects import base as obj_base
from nativesnap.objects import queued_request as queued_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj

LOG = logging.getLogger(__name__)

# A start that meets these leaves the request waiting for the next try: the
# server got busy first, its compute service is away or its pool is full.
_NOT_NOW = (exception.ServerBusy, exception.UnexpectedTaskState,
            exception.ComputeHostUnavailable, exception.ServiceUnavailable)


def waiting(context, server_id):
    """The requests waiting for ``server_id``, oldest first."""
    return list(queued_obj.QueuedRequestList.get_by_servers(context,
                                                            [server_id]))


def by_server(context, server_ids):
    """{server id: [QueuedRequest]} of ``server_ids``."""
    found = {}
    for request in queued_obj.QueuedRequestList.get_by_servers(context,
                                                               server_ids):
        found.setdefault(request.server_id, []).append(request)
    return found


def must_wait(context, server):
    """A queued request must wait while the server is busy or others wait
    before it (their order is kept)."""
    return server.task_state is not None or bool(waiting(context, server.id))


def enqueue(context, server, action, origin, snapshot=None, params=None,
            records=()):
    """Record the request (and ``records``, e.g. the queued snapshot) in
    one transaction; returns it."""
    request = queued_obj.QueuedRequest(context)
    request.id = uuidutils.generate_uuid()
    request.server_id = server.id
    request.action = action
    request.snapshot_id = snapshot.id if snapshot is not None else None
    request.params = params or {}
    request.project_id = context.project_id or server.project_id
    request.user_id = context.user_id
    request.roles = list(context.roles or [])
    request.origin = origin
    request.expires_at = timeutils.utcnow() + datetime.timedelta(
        seconds=CONF.scheduler.queue_wait)
    with obj_base.transaction(context):
        for record in records:
            record()
        request.create()
    LOG.info("Request %s (%s%s) of %s queued behind server %s's task %s",
             request.id, action,
             f" of snapshot {request.snapshot_id}" if snapshot else "", origin,
             server.id, server.task_state)
    return request


def cancel_create(context, snapshot):
    """Delete a queued snapshot before it ran: its request goes with it."""
    with obj_base.transaction(context):
        for request in queued_obj.QueuedRequestList.get_by_snapshot(
                context, snapshot.id):
            request.destroy()
        snapshot.transition(states.CANCEL)
    LOG.info("Queued snapshot %s deleted before it ran", snapshot.id)


def _asker(request):
    """The context of who queued ``request``: it runs with their rights."""
    return ns_context.RequestContext(user_id=request.user_id,
                                     project_id=request.project_id,
                                     roles=list(request.roles or []))


def _expire(context, request):
    error = exception.QueueWaitExpired(action=request.action,
                                       server_id=request.server_id,
                                       wait=CONF.scheduler.queue_wait)
    LOG.warning("%s", error)
    with obj_base.transaction(context):
        request.destroy()
        if request.action == queued_obj.CREATE_SNAPSHOT:
            snapshot = snapshot_obj.ServerSnapshot.get_by_id(
                context, request.snapshot_id)
            snapshot.transition(states.CREATE_FAILED,
                                fault=exception.fault_of(error))


def _fail(context, request, error):
    """The request cannot run (its snapshot went, the state machine refuses
    it): it is removed, and a queued snapshot ends in error saying why."""
    LOG.warning("Queued request %s (%s) on server %s cannot run: %s",
                request.id, request.action, request.server_id, error)
    with obj_base.transaction(context):
        request.destroy()
        if request.action == queued_obj.CREATE_SNAPSHOT:
            try:
                snapshot = snapshot_obj.ServerSnapshot.get_by_id(
                    context, request.snapshot_id)
                snapshot.transition(states.CREATE_FAILED,
                                    fault=exception.fault_of(error))
            except exception.SnapshotNotFound:
                pass


def start_next(compute_api, context, server_id):
    """Start the oldest request waiting for ``server_id`` if the server is
    free; requests whose wait ran out fail first. True if one started."""
    now = timeutils.utcnow(with_timezone=True)
    for request in waiting(context, server_id):
        try:
            if request.expires_at <= now:
                _expire(context, request)
                continue
            # Everything the start saves is read in the asker's context:
            # one context, one transaction.
            asker = _asker(request)
            server = server_obj.Server.get_by_id(asker, server_id)
            if server.task_state is not None:
                return False
            compute_api.start_queued(asker, server, request)
            LOG.info("Queued request %s (%s) on server %s started after "
                     "%.1f s", request.id, request.action, server_id,
                     (now - request.created_at).total_seconds())
            return True
        except _NOT_NOW as e:
            LOG.debug("Queued request %s waits on: %s", request.id, e)
            return False
        except exception.QueuedRequestNotFound:
            return False  # another compute service took it
        except exception.NativesnapException as e:
            _fail(context, request, e)
    return False


def start_all(compute_api, context, host):
    """One pass over ``host``'s servers that have requests waiting."""
    for server_id in queued_obj.QueuedRequestList.servers_of_host(context,
                                                                  host):
        try:
            start_next(compute_api, context, server_id)
        except Exception:
            LOG.exception("Could not start the queued requests of server %s",
                          server_id)

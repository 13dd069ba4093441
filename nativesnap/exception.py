"""The one exception tree of nativesnap.

Every error the service raises on purpose derives from :class:`NativesnapException`
and carries the HTTP status it maps to, so the API layer never needs a table of
its own: it reads ``code`` and the message. Anything else that escapes a handler is
a bug and becomes a 500 with a logged trace (see ``api/wsgi.py``).
"""


def fault_of(exc):
    """The ``fault`` recorded for a failed operation: code and a clear message
    (an unexpected exception's details stay in the service log)."""
    if isinstance(exc, NativesnapException):
        return {"code": exc.code, "message": exc.message}
    return {"code": 500, "message": f"Unexpected error: {type(exc).__name__}; "
                                    "see the service log."}


class NativesnapException(Exception):
    """Base class; ``msg_fmt`` is formatted with the keyword arguments."""

    msg_fmt = "An unknown error occurred."
    code = 500

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError, ValueError):
                # A wrong keyword must not hide the real error behind a KeyError.
                message = self.msg_fmt
        self.message = str(message)
        super().__init__(self.message)

    def __str__(self):
        return self.message


# --- 400 -------------------------------------------------------------------


class Invalid(NativesnapException):
    msg_fmt = "Invalid request: %(reason)s"
    code = 400


class ValidationError(Invalid):
    msg_fmt = "Invalid input for %(where)s: %(reason)s"


class InvalidUUID(Invalid):
    msg_fmt = "%(what)s '%(value)s' is not a valid UUID; use the id the API returned."


class InvalidSortKey(Invalid):
    msg_fmt = "Unknown sort_key '%(key)s'; use one of: %(allowed)s."


class InvalidMarker(Invalid):
    msg_fmt = "marker %(marker)s is not in this listing; restart without a marker."


class UnsupportedOperation(Invalid):
    msg_fmt = "The %(driver)s driver does not support %(verb)s%(detail)s."

    def __init__(self, message=None, driver=None, verb=None, reason=None,
                 detail=None):
        # (message, **kwargs) as every exception here, so that one raised by
        # a compute service is raised again as itself on the API side.
        if detail is None:
            detail = f": {reason}" if reason else ""
        super().__init__(message, driver=driver, verb=verb, detail=detail)


class DriverNotEnabled(Invalid):
    msg_fmt = ("Driver '%(driver)s' is not enabled on this service; "
               "enabled drivers: %(enabled)s.")


class HypervisorObjectNotFound(Invalid):
    msg_fmt = "The %(driver)s driver finds no %(what)s named '%(ref)s'."


class SnapshotNotOfServer(Invalid):
    msg_fmt = ("Snapshot %(snapshot_id)s does not belong to server %(server_id)s; "
               "revert only to one of this server's own snapshots.")


# Cinder's assisted volume snapshots answer 400 where Nova does: an unknown or
# unattached volume, and a server that is busy or not ready.
class VolumeNotAttached(Invalid):
    msg_fmt = ("Volume %(volume_id)s is not attached to any server nativesnap "
               "manages on this host; assisted snapshots need the volume "
               "attached (a disk whose serial is the volume id) to a server "
               "adopted by nativesnap.")


class VolumeAttachedToSeveral(Invalid):
    msg_fmt = ("Volume %(volume_id)s is attached to several servers "
               "(%(servers)s); assisted snapshots of a multi-attached volume "
               "are not supported.")


class VolumeServerBusy(Invalid):
    msg_fmt = ("Server %(server_id)s, which volume %(volume_id)s is attached "
               "to, is busy with task '%(task_state)s'; retry when its "
               "task_state is null.")


# --- 401 / 403 -------------------------------------------------------------


class NotAuthenticated(NativesnapException):
    msg_fmt = "Authentication required: send X-Auth-Token."
    code = 401


class Forbidden(NativesnapException):
    msg_fmt = "Policy does not allow %(action)s to be performed."
    code = 403


class HypervisorForbidden(NativesnapException):
    """The hypervisor refused nativesnap's own user (not the caller)."""
    msg_fmt = ("The %(driver)s hypervisor does not allow this to nativesnap's "
               "user: %(reason)s; grant the privilege to its role.")
    code = 403


class QuotaExceeded(NativesnapException):
    """Nova's message shape: what was asked, what is used, the limit."""
    msg_fmt = ("Quota exceeded for %(resource)s: requested %(requested)d, but "
               "already used %(used)d of %(limit)d %(resource)s of %(scope)s. "
               "Delete snapshots, or ask an administrator to raise the limit "
               "(/v1/os-quota-sets).")
    code = 403


# --- 404 -------------------------------------------------------------------


class NotFound(NativesnapException):
    msg_fmt = "Resource could not be found."
    code = 404


class ServerNotFound(NotFound):
    msg_fmt = "Server %(server_id)s could not be found."


class SnapshotNotFound(NotFound):
    msg_fmt = "Snapshot %(snapshot_id)s could not be found."


class ImageNotFound(NotFound):
    msg_fmt = "Image %(image_id)s could not be found."


class PolicyNotFound(NotFound):
    msg_fmt = "Snapshot policy %(policy_id)s could not be found."


class PolicyNotAttached(NotFound):
    msg_fmt = ("Snapshot policy %(policy_id)s is not attached to server "
               "%(server_id)s.")


class QueuedRequestNotFound(NotFound):
    msg_fmt = "Queued request %(request_id)s could not be found."


# --- 406 -------------------------------------------------------------------


class VersionNotAcceptable(NativesnapException):
    msg_fmt = ("Version %(version)s is not supported by the API; "
               "send a version between %(min)s and %(max)s.")
    code = 406


# --- 409 -------------------------------------------------------------------


class Conflict(NativesnapException):
    msg_fmt = "The request conflicts with the current state of the resource."
    code = 409


class ServerBusy(Conflict):
    msg_fmt = ("Server %(server_id)s is busy with task '%(task_state)s'; "
               "retry when its task_state is null.")


class PolicyAlreadyAttached(Conflict):
    msg_fmt = ("Snapshot policy %(policy_id)s is already attached to server "
               "%(server_id)s.")


class QueueWaitExpired(Conflict):
    msg_fmt = ("The %(action)s request waited %(wait)d s for server "
               "%(server_id)s's turn ([scheduler] queue_wait) and was not "
               "started: the server stayed busy.")


class UnexpectedTaskState(Conflict):
    msg_fmt = ("Server %(server_id)s changed under this request: expected task_state "
               "%(expected)s, found %(actual)s.")


class UnexpectedStatus(Conflict):
    msg_fmt = ("%(what)s %(id)s changed under this request: expected status "
               "%(expected)s, found %(actual)s.")


class InvalidStateTransition(Conflict):
    msg_fmt = ("Snapshot %(snapshot_id)s is %(state)s; it cannot go to "
               "'%(event)s' from there.")


class InvalidProvisionTransition(Conflict):
    msg_fmt = ("Bare-metal server %(server_id)s is in provision state "
               "'%(state)s'; it cannot go to '%(event)s' from there.")


class SnapshotInUse(Conflict):
    msg_fmt = ("Snapshot %(snapshot_id)s cannot be deleted while linked clones "
               "depend on it: %(dependents)s; delete them first.")


class SnapshotNotAvailable(Conflict):
    msg_fmt = ("Snapshot %(snapshot_id)s is %(status)s; it must be available "
               "for %(verb)s.")


class QuiesceFailed(Conflict):
    msg_fmt = "Could not quiesce the guest of server %(server_id)s: %(reason)s"


class ServerNotReady(Conflict):
    msg_fmt = "Server %(server_id)s is %(status)s; %(verb)s needs it %(needed)s."


class VolumeConflict(Conflict):
    msg_fmt = "Cannot %(verb)s: %(reason)s"


class AlreadyAdopted(Conflict):
    msg_fmt = ("%(driver)s object '%(ref)s' is already managed as server "
               "%(server_id)s.")


class NoFreeNode(Conflict):
    msg_fmt = ("No enrolled bare-metal node is free to spawn server '%(name)s' "
               "on: every node serves a server. Enrol another node, or delete "
               "a server of the baremetal driver first.")


class NodeInUse(Conflict):
    msg_fmt = ("Bare-metal node %(node)s already serves server %(server_id)s; "
               "name a free node, or leave 'node' out to take the first free "
               "one.")


# --- 413 / 5xx ------------------------------------------------------------


class RequestTooLarge(NativesnapException):
    msg_fmt = "The request body is larger than %(limit)d bytes."
    code = 413


class TaskTimeout(NativesnapException):
    msg_fmt = "Task %(task)s on server %(server_id)s did not finish within %(timeout)d s."
    code = 500


class TaskWaitTimeout(NativesnapException):
    msg_fmt = ("Task %(task)s on server %(server_id)s waited %(timeout)s s for "
               "%(reason)s, which did not come.")
    code = 500


class TaskAborted(NativesnapException):
    msg_fmt = ("Task %(task)s on server %(server_id)s was aborted by the user "
               "while it waited.")
    code = 409


class TurnTimeout(NativesnapException):
    msg_fmt = ("Task %(task)s waited %(wait)s s for its turn on server "
               "%(server_id)s, which was busy with %(running)s all along; "
               "[cinder] volume_operation_wait bounds the wait.")
    code = 500


class DriverUnavailable(NativesnapException):
    msg_fmt = ("The %(driver)s driver of this compute service could not start: "
               "%(reason)s; fix that and it is tried again at the next sync.")
    code = 503


class ComputeUnavailable(NativesnapException):
    msg_fmt = ("The compute service of host %(host)s did not answer within "
               "%(timeout)s s; retry later (an operator can check it is "
               "running).")
    code = 503


class ComputeHostUnavailable(Conflict):
    msg_fmt = ("The compute service of host %(host)s %(why)s; requests that "
               "change its servers are refused until it is back (reads still "
               "work).")


class NoComputeForDriver(Conflict):
    msg_fmt = ("No compute service that runs the %(driver)s driver is up and "
               "enabled%(detail)s.")


class ServiceNotFound(NotFound):
    msg_fmt = "Compute service %(service_id)s could not be found."


class TaskCancelled(NativesnapException):
    msg_fmt = "Task %(task)s on server %(server_id)s was cancelled: %(reason)s"
    code = 500


class FailpointTriggered(NativesnapException):
    msg_fmt = ("Failpoint %(name)s triggered: a fault injected on purpose "
               "([fault_injection] failpoints).")
    code = 500


class InvalidFailpoint(NativesnapException):
    msg_fmt = "Invalid [fault_injection] failpoints entry %(reason)s"
    code = 500


class DriverError(NativesnapException):
    msg_fmt = "The %(driver)s driver failed to %(verb)s: %(reason)s"
    code = 500


class CinderCallFailed(NativesnapException):
    """A call to Cinder failed; 502 because the failing peer is upstream.

    ``status`` (kwargs) is Cinder's HTTP status when it answered, else None;
    ``attempts`` how many times the call was made.
    """

    msg_fmt = "Cinder call %(call)s of %(what)s %(id)s failed: %(answer)s"
    code = 502

    @property
    def status(self):
        return self.kwargs.get("status")

    @property
    def attempts(self):
        return self.kwargs.get("attempts")


class ImageServiceCallFailed(NativesnapException):
    """A call to the image service (Glance) failed or its answer was wrong;
    502 because the failing peer is upstream. ``status``: Glance's HTTP status
    when it answered, else None."""

    msg_fmt = "Glance call %(call)s of image %(id)s failed: %(answer)s"
    code = 502

    @property
    def status(self):
        return self.kwargs.get("status")


class ImageServiceQuotaExceeded(ImageServiceCallFailed):
    """Glance refused the data as too large for a quota or its size limit
    (413): the export's fault says so, as the request's own 413 would."""

    msg_fmt = ("Glance refused image %(id)s as over a quota or size limit: "
               "%(answer)s")
    code = 413


class KeystoneCallFailed(NativesnapException):
    """Keystone did not answer a console sign-in (docs/console.md); 502
    because the failing peer is upstream."""

    msg_fmt = "Keystone at %(url)s did not answer the sign-in: %(reason)s"
    code = 502


class InsufficientStorage(NativesnapException):
    """A disk nativesnap writes to is full (ENOSPC): nothing is wrong with the
    request or the service, and the same request succeeds once space is
    freed, hence WebDAV's 507 rather than a bare 500."""
    msg_fmt = "Not enough disk space to %(verb)s: %(reason)s"
    code = 507


class ServiceUnavailable(NativesnapException):
    msg_fmt = "The service is shutting down or overloaded: %(reason)s"
    code = 503


class DBError(NativesnapException):
    msg_fmt = "Database error: %(reason)s"
    code = 500


class BrokerUnavailable(NativesnapException):
    msg_fmt = ("The message broker (%(url)s) cannot be reached, so no compute "
               "service can be asked; retry later (reads still work; an "
               "operator can check the broker).")
    code = 503


class ComputeTooOld(Conflict):
    """An operation needs a compute RPC API version newer than
    ``[upgrade_levels] compute`` allows (a rolling upgrade is under way):
    refused before anything is sent or recorded."""

    msg_fmt = ("The compute service of host %(host)s speaks the compute RPC "
               "API up to %(cap)s ([upgrade_levels] compute); %(operation)s "
               "needs %(needed)s: upgrade it, then raise or unset the cap.")

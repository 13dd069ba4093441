"""The proxy: every verb of the API as a method returning resources.

In openstacksdk's style: ``servers()``, ``snapshots()`` and ``images()`` are
generators that follow the listing's ``next`` links page by page; ``get_*``
fetch one; ``find_*`` accept a name or an id; the mutating verbs return what
the API answered; ``wait_for_status``/``wait_for_delete``/``wait_for_task``
poll a resource until it gets where it should, for a bounded time.

A mutation sent with ``queue=True`` waits in the busy server's queue instead
of failing with 409; the API took that flag at microversion 1.2, so such a
request goes at 1.2 at least, whatever was negotiated for the others.
"""

import time

from oslo_utils import uuidutils

from nativesnap.client import connection
from nativesnap.client import exceptions
from nativesnap.client import resource as res

#: how long a wait lasts unless told (seconds)
DEFAULT_TIMEOUT = 600
#: how often a wait polls (seconds)
DEFAULT_INTERVAL = 0.5
#: the microversion that lets a mutation wait in a busy server's queue
QUEUE_VERSION = (1, 2)


def _id(value):
    return value.id if isinstance(value, res.Resource) else value


def _drop_none(**values):
    return {k: v for k, v in values.items() if v is not None}


class Proxy:
    """The verbs of the API over a ``connection.Connection``."""

    def __init__(self, connection):
        self._conn = connection

    # --- listings -------------------------------------------------------------

    def _list(self, cls, path, params, max_pages=None):
        """Items of a listing, following ``<resources_key>_links`` (rel next)."""
        url, pages = path, 0
        while url:
            body = self._conn.get_json(url, params=params)
            pages += 1
            for item in body.get(cls.resources_key, []):
                yield cls(item)
            params = None  # a next link carries the whole query
            links = body.get(f"{cls.resources_key}_links") or []
            url = next((link["href"] for link in links
                        if link.get("rel") == "next"), None)
            if max_pages is not None and pages >= max_pages:
                return

    def servers(self, all_projects=False, status=None, limit=None, marker=None,
                sort_key=None, sort_dir=None, paginated=True):
        """Every server the caller may see (``limit`` is the page size)."""
        params = _drop_none(all_projects="1" if all_projects else None,
                            status=status, limit=limit, marker=_id(marker),
                            sort_key=sort_key, sort_dir=sort_dir)
        return self._list(res.Server, "/v1/servers", params,
                          None if paginated else 1)

    def snapshots(self, server=None, all_projects=False, status=None,
                  limit=None, marker=None, sort_key=None, sort_dir=None,
                  paginated=True):
        """The snapshots of ``server``, or every snapshot the caller may see."""
        params = _drop_none(status=status, limit=limit, marker=_id(marker),
                            sort_key=sort_key, sort_dir=sort_dir)
        if server is None:
            path = "/v1/snapshots"
            if all_projects:
                params["all_projects"] = "1"
        else:
            path = res.Snapshot.path_of(_id(server))
        return self._list(res.Snapshot, path, params, None if paginated else 1)

    def images(self, all_projects=False, status=None, snapshot=None,
               server=None, limit=None, marker=None, sort_key=None,
               sort_dir=None, paginated=True):
        """Every image the caller may see; of one snapshot or server (ids or
        resources) when given. Images stay listed after their snapshot and
        server are deleted."""
        params = _drop_none(all_projects="1" if all_projects else None,
                            status=status, snapshot_id=_id(snapshot),
                            server_id=_id(server), limit=limit,
                            marker=_id(marker), sort_key=sort_key,
                            sort_dir=sort_dir)
        return self._list(res.Image, "/v1/images", params,
                          None if paginated else 1)

    # --- servers --------------------------------------------------------------

    def get_server(self, server):
        return res.Server.from_body(
            self._conn.get_json(res.Server.path_of(_id(server))))

    def find_server(self, name_or_id, all_projects=False):
        """A server by id, else by its (unique) name."""
        if isinstance(name_or_id, res.Server):
            return name_or_id
        if uuidutils.is_uuid_like(name_or_id):
            return self.get_server(name_or_id)
        return _unique(res.Server, name_or_id,
                       [s for s in self.servers(all_projects=all_projects)
                        if s.name == name_or_id])

    def adopt_server(self, name, driver, hypervisor_ref, project_id=None):
        """Adopt an existing hypervisor object (administrators only)."""
        body = {"server": _drop_none(name=name, driver=driver,
                                     hypervisor_ref=hypervisor_ref,
                                     project_id=project_id)}
        return res.Server.from_body(
            self._conn.request("POST", "/v1/servers", json=body).json())

    def spawn_server(self, name, snapshot, linked=None, power_on=None,
                     node=None):
        """A new server from a snapshot (status BUILD until its task ends);
        a bare-metal one on ``node`` (a node's id or name; administrators)
        or else on the first free node."""
        body = {"server": _drop_none(name=name, snapshot_id=_id(snapshot),
                                     linked=linked, power_on=power_on,
                                     node=_id(node))}
        return res.Server.from_body(
            self._conn.request("POST", "/v1/servers", json=body).json())

    def delete_server(self, server, ignore_missing=False):
        try:
            self._conn.request("DELETE", res.Server.path_of(_id(server)))
        except exceptions.NotFound:
            if not ignore_missing:
                raise

    def revert_server(self, server, snapshot, power_on=None, queue=None):
        """Revert ``server`` in place to ``snapshot`` (answers at once; the
        server's task_state is ``reverting`` until it is done). ``queue``: if
        the server is busy, wait in its queue instead of Conflict (1.2)."""
        body = {"revert": _drop_none(snapshot_id=_id(snapshot),
                                     power_on=power_on,
                                     queue=True if queue else None)}
        self._conn.request("POST", res.Server.path_of(_id(server)) + "/action",
                           json=body, **self._queue_kwargs(queue))

    def abort_snapshot(self, server):
        """Give up a bare-metal server's snapshot: one waiting for its agent
        fails (the server's provision state goes to 'snapshot failed' when
        its task ends), a failed one is left for good (back to 'active')."""
        self._conn.request("POST", res.Server.path_of(_id(server)) + "/action",
                           json={"abort_snapshot": {}})

    def retry_snapshot(self, server):
        """Take a bare-metal server's failed snapshot again; the Snapshot
        (its latest in error, ``creating`` again under the same id)."""
        answer = self._conn.request(
            "POST", res.Server.path_of(_id(server)) + "/action",
            json={"retry_snapshot": {}}).json()
        return res.Snapshot.from_body(answer)

    # --- snapshots ------------------------------------------------------------

    def get_snapshot(self, snapshot, server=None):
        """A snapshot by Snapshot, or by id with its server (id or Server)."""
        server_id = _server_of(snapshot, server)
        return res.Snapshot.from_body(self._conn.get_json(
            res.Snapshot.path_of(server_id, _id(snapshot))))

    def find_snapshot(self, name_or_id, server=None, all_projects=False):
        """A snapshot by id or (unique) name; of ``server`` when given, else
        among every snapshot the caller may see (GET /v1/snapshots)."""
        if isinstance(name_or_id, res.Snapshot):
            return name_or_id
        is_id = uuidutils.is_uuid_like(name_or_id)
        if server is not None:
            if is_id:
                return self.get_snapshot(name_or_id, server)
            candidates = self.snapshots(server=server)
        else:
            candidates = self.snapshots(all_projects=all_projects)
        if is_id:
            wanted = name_or_id.lower()
            for snap in candidates:
                if snap.id == wanted:
                    return self.get_snapshot(snap)
            raise exceptions.NotFound(
                f"Snapshot {name_or_id} could not be found.")
        return _unique(res.Snapshot, name_or_id,
                       [s for s in candidates if s.name == name_or_id])

    def create_snapshot(self, server, name, description=None, memory=None,
                        quiesce=None, kind=None, include_volumes=None,
                        queue=None):
        """Snapshot ``server``; the snapshot answers ``creating`` at first.
        ``queue``: if the server is busy, the snapshot answers ``queued`` and
        is taken in its turn, instead of Conflict (microversion 1.2)."""
        body = {"snapshot": _drop_none(name=name, description=description,
                                       memory=memory, quiesce=quiesce, kind=kind,
                                       include_volumes=include_volumes,
                                       queue=True if queue else None)}
        return res.Snapshot.from_body(self._conn.request(
            "POST", res.Snapshot.path_of(_id(server)), json=body,
            **self._queue_kwargs(queue)).json())

    def delete_snapshot(self, snapshot, server=None, ignore_missing=False,
                        queue=None):
        """Start deleting; the snapshot (status ``deleting``), or None if it
        was already gone and ``ignore_missing``. ``queue``: if the server is
        busy, wait in its queue instead of Conflict (microversion 1.2)."""
        path = res.Snapshot.path_of(_server_of(snapshot, server), _id(snapshot))
        kwargs = self._queue_kwargs(queue)
        if queue:
            kwargs["params"] = {"queue": "true"}
        try:
            return res.Snapshot.from_body(
                self._conn.request("DELETE", path, **kwargs).json())
        except exceptions.NotFound:
            if not ignore_missing:
                raise
            return None

    def export_snapshot(self, snapshot, image_name, disk_format=None,
                        server=None, image_ref=None):
        """Export the snapshot's disk state into the image store; the Image
        (status ``saving`` at first). ``image_ref``: the id of an image the
        caller created in the image service (Glance) to be filled instead
        of a new one (docs/images.md)."""
        server_id = _server_of(snapshot, server)
        body = {"export": _drop_none(image_name=image_name,
                                     disk_format=disk_format,
                                     image_ref=image_ref)}
        answer = self._conn.request(
            "POST", res.Snapshot.path_of(server_id, _id(snapshot)) + "/action",
            json=body).json()
        return res.Image.from_body(answer, snapshot_id=_id(snapshot),
                                   server_id=server_id)

    def _queue_kwargs(self, queue):
        """The request's microversion when it asks to queue: the negotiated
        one from 1.2 on, else 1.2 itself if the server offers it (the flag
        means nothing before); UnsupportedVersion when it does not."""
        if not queue or self._conn.api_version >= QUEUE_VERSION:
            return {}
        server_max = self._conn.server_versions()[1]
        if server_max < QUEUE_VERSION:
            raise exceptions.UnsupportedVersion(
                "Queueing a request on a busy server needs microversion "
                f"{connection.fmt(QUEUE_VERSION)}; the server offers up to "
                f"{connection.fmt(server_max)}.")
        return {"microversion": QUEUE_VERSION}

    # --- images ---------------------------------------------------------------

    def get_image(self, image):
        """An image by Image or id (GET /v1/images/{id})."""
        return res.Image.from_body(
            self._conn.get_json(res.Image.path_of(_id(image))))

    def find_image(self, name_or_id, all_projects=False):
        """An image by id, else by its (unique) name."""
        if isinstance(name_or_id, res.Image):
            return name_or_id
        if uuidutils.is_uuid_like(name_or_id):
            return self.get_image(name_or_id)
        return _unique(res.Image, name_or_id,
                       [i for i in self.images(all_projects=all_projects)
                        if i.name == name_or_id])

    def delete_image(self, image, ignore_missing=False):
        """Remove an image from its store, and its record; done when this
        returns (204). Conflict while its export is still saving."""
        try:
            self._conn.request("DELETE", res.Image.path_of(_id(image)))
        except exceptions.NotFound:
            if not ignore_missing:
                raise

    # --- bare-metal nodes (administrators) ---------------------------------

    def baremetal_nodes(self, limit=None, marker=None, sort_key=None,
                        sort_dir=None, paginated=True):
        """Every enrolled bare-metal node."""
        params = _drop_none(limit=limit, marker=_id(marker),
                            sort_key=sort_key, sort_dir=sort_dir)
        return self._list(res.BaremetalNode, res.BaremetalNode.path_of(),
                          params, None if paginated else 1)

    def get_baremetal_node(self, node):
        return res.BaremetalNode.from_body(
            self._conn.get_json(res.BaremetalNode.path_of(_id(node))))

    def find_baremetal_node(self, name_or_id):
        """A node by id, else by its (unique) name."""
        if isinstance(name_or_id, res.BaremetalNode):
            return name_or_id
        if uuidutils.is_uuid_like(name_or_id):
            return self.get_baremetal_node(name_or_id)
        return _unique(res.BaremetalNode, name_or_id,
                       [n for n in self.baremetal_nodes()
                        if n.name == name_or_id])

    def create_baremetal_node(self, name, agent_url, agent_token,
                              root_device_hint=None, power=None):
        """Enrol a node. ``power``: None (no power interface), or
        ``{"interface": "redfish", "address", "system_id", "username"?,
        "password"?, "verify_ca"?}``. The token and the password are sent
        once and never come back."""
        body = {"node": _drop_none(name=name, agent_url=agent_url,
                                   agent_token=agent_token,
                                   root_device_hint=root_device_hint,
                                   power=power)}
        return res.BaremetalNode.from_body(self._conn.request(
            "POST", res.BaremetalNode.path_of(), json=body).json())

    def delete_baremetal_node(self, node, ignore_missing=False):
        """Delete an enrolled node (204); Conflict while a server is
        adopted on it."""
        try:
            self._conn.request("DELETE", res.BaremetalNode.path_of(_id(node)))
        except exceptions.NotFound:
            if not ignore_missing:
                raise

    # --- compute services (administrators) ---------------------------------

    def services(self):
        """Every compute service, ordered by host (one page: the API does not
        paginate this listing)."""
        return self._list(res.Service, res.Service.path_of(), None)

    def find_service(self, host_or_id):
        """A compute service by id or by its host's name (the API has no
        route for one service: this reads the listing)."""
        if isinstance(host_or_id, res.Service):
            return host_or_id
        wanted = str(host_or_id)
        matches = [s for s in self.services()
                   if s.id == wanted.lower() or s.host == wanted]
        if not matches:
            raise exceptions.NotFound(
                f"No {res.Service.kind} with ID or host '{wanted}' could be "
                "found.")
        if len(matches) > 1:
            raise exceptions.NoUniqueMatch(
                f"{len(matches)} services match '{wanted}': use an ID "
                f"({', '.join(m.id for m in matches)}).")
        return matches[0]

    def disable_service(self, service, reason=None):
        """Disable a compute service (a Service or its id): the changes of
        its servers are refused with ``reason`` until it is enabled again.
        The Service as the API answered."""
        return self._update_service(service, _drop_none(
            status="disabled", disabled_reason=reason))

    def enable_service(self, service):
        """Enable a compute service again (its reason is cleared)."""
        return self._update_service(service, {"status": "enabled"})

    def _update_service(self, service, values):
        return res.Service.from_body(self._conn.request(
            "PUT", res.Service.path_of(_id(service)),
            json={"service": values}).json())

    # --- snapshot policies -------------------------------------------------

    def snapshot_policies(self, all_projects=False):
        """The snapshot policies of the caller's project; of every project
        with ``all_projects`` (administrators)."""
        params = _drop_none(all_projects="1" if all_projects else None)
        return self._list(res.SnapshotPolicy, res.SnapshotPolicy.path_of(),
                          params)

    def get_snapshot_policy(self, policy):
        return res.SnapshotPolicy.from_body(
            self._conn.get_json(res.SnapshotPolicy.path_of(_id(policy))))

    def find_snapshot_policy(self, name_or_id, all_projects=False):
        """A snapshot policy by id, else by its (unique) name."""
        if isinstance(name_or_id, res.SnapshotPolicy):
            return name_or_id
        if uuidutils.is_uuid_like(name_or_id):
            return self.get_snapshot_policy(name_or_id)
        return _unique(res.SnapshotPolicy, name_or_id,
                       [p for p in self.snapshot_policies(all_projects)
                        if p.name == name_or_id])

    def create_snapshot_policy(self, name, **attrs):
        """A new snapshot policy. ``attrs``: the fields of
        ``SnapshotPolicy.writable`` (None ones are not sent): exactly one of
        ``interval_minutes``, ``interval_hours``, ``cron``; at least one
        ``keep_*`` above 0. BadRequest names the field the API refused."""
        body = {"snapshot_policy": _drop_none(name=name,
                                              **_policy_attrs(attrs))}
        return res.SnapshotPolicy.from_body(self._conn.request(
            "POST", res.SnapshotPolicy.path_of(), json=body).json())

    def update_snapshot_policy(self, policy, **attrs):
        """Change the given fields of a policy (``enabled=False`` pauses
        it); every given one is sent, so None clears e.g. a description.
        The policy as the API answered."""
        body = {"snapshot_policy": _policy_attrs(attrs)}
        return res.SnapshotPolicy.from_body(self._conn.request(
            "PUT", res.SnapshotPolicy.path_of(_id(policy)), json=body).json())

    def delete_snapshot_policy(self, policy, ignore_missing=False):
        """Delete a policy (204): it is detached from its servers; the
        snapshots it took stay, and are no longer pruned."""
        try:
            self._conn.request("DELETE",
                               res.SnapshotPolicy.path_of(_id(policy)))
        except exceptions.NotFound:
            if not ignore_missing:
                raise

    def prune_snapshot_policy(self, policy, server=None, dry_run=False):
        """Apply the policy's retention to its snapshots (of ``server`` only
        when given). A list with one dict per server: ``server_id``,
        ``keep`` [{snapshot_id, name, scheduled_at, rule}], ``remove``
        [{snapshot_id, name, scheduled_at}], ``skip`` [{snapshot_id,
        reason}]. ``dry_run``: what would happen, nothing changes; else the
        removals are queued as deletes."""
        answer = self._conn.request(
            "POST", res.SnapshotPolicy.path_of(_id(policy)) + "/action",
            json={"prune": _drop_none(server_id=_id(server))},
            params={"dry_run": "true"} if dry_run else None).json()
        return answer.get("prune") or []

    def server_snapshot_policies(self, server):
        """The policies attached to ``server``."""
        path = res.SnapshotPolicy.attachment_path(_id(server))
        return self._list(res.SnapshotPolicy, path, None)

    def attach_snapshot_policy(self, server, policy):
        """Attach a policy (of the server's project) to ``server``; the
        policy. Conflict if it is attached already."""
        return res.SnapshotPolicy.from_body(self._conn.request(
            "POST", res.SnapshotPolicy.attachment_path(_id(server)),
            json={"policy_id": _id(policy)}).json())

    def detach_snapshot_policy(self, server, policy, ignore_missing=False):
        """Detach a policy from ``server`` (204); its snapshots stay."""
        try:
            self._conn.request("DELETE", res.SnapshotPolicy.attachment_path(
                _id(server), _id(policy)))
        except exceptions.NotFound:
            if not ignore_missing:
                raise

    # --- quotas -------------------------------------------------------------

    def get_quota_set(self, project, usage=False):
        """A project's limits (its id, or a QuotaSet); with ``usage``, each
        is ``{"limit", "in_use"}``. Administrators, or a project's member
        for its own."""
        return res.QuotaSet.from_body(self._conn.get_json(
            res.QuotaSet.path_of(_id(project)),
            params={"usage": "true"} if usage else None))

    def update_quota_set(self, project, snapshots=None,
                         snapshots_per_server=None):
        """Set a project's limits (-1: unlimited; administrators); the
        QuotaSet as the API answered."""
        body = {"quota_set": _drop_none(
            snapshots=snapshots, snapshots_per_server=snapshots_per_server)}
        return res.QuotaSet.from_body(self._conn.request(
            "PUT", res.QuotaSet.path_of(_id(project)), json=body).json())

    def delete_quota_set(self, project):
        """A project's limits back to the defaults (``[quota]``;
        administrators)."""
        self._conn.request("DELETE", res.QuotaSet.path_of(_id(project)))

    # --- waiting --------------------------------------------------------------

    def wait_for_status(self, resource, status, failures=("error",),
                        timeout=DEFAULT_TIMEOUT, interval=DEFAULT_INTERVAL,
                        callback=None, attribute="status"):
        """Poll ``resource`` until its ``attribute`` is ``status`` (one value
        or several; case-insensitive); the resource as it then is.

        ResourceFailure when it reaches one of ``failures`` (the message has
        the resource's fault), WaitTimeout after ``timeout`` seconds.
        ``callback(progress)`` is called after every poll with the resource's
        ``progress`` (0-100, or None for resources that report none).
        """
        wanted = _lower_set(status)
        failed = _lower_set(failures or ())
        current = resource
        for current in self._poll(resource, timeout, interval, callback,
                                  f"to be {'/'.join(sorted(wanted))}"):
            value = str(current.get(attribute) or "").lower()
            if value in wanted:
                return current
            if value in failed:
                raise exceptions.ResourceFailure(
                    f"{current.describe()} went to {attribute} "
                    f"'{current.get(attribute)}'{_fault_text(current)}",
                    current)
        raise AssertionError("unreachable")  # _poll raises at its deadline

    def wait_for_delete(self, resource, timeout=DEFAULT_TIMEOUT,
                        interval=DEFAULT_INTERVAL, callback=None,
                        failures=("error_deleting",)):
        """Poll until the API answers 404 for ``resource``; None then.
        ResourceFailure if it goes to one of ``failures`` instead."""
        failed = _lower_set(failures or ())
        try:
            for current in self._poll(resource, timeout, interval, callback,
                                      "to be deleted"):
                if str(current.get("status") or "").lower() in failed:
                    raise exceptions.ResourceFailure(
                        f"{current.describe()} could not be deleted: it went "
                        f"to status '{current.status}'{_fault_text(current)}",
                        current)
        except exceptions.NotFound:
            return None
        raise AssertionError("unreachable")

    def wait_for_task(self, server, timeout=DEFAULT_TIMEOUT,
                      interval=DEFAULT_INTERVAL, callback=None,
                      fault_is_failure=True, queued_action=None):
        """Poll until ``server`` runs no task (task_state null); the server.
        ResourceFailure if the task ended with a fault (e.g. a failed revert),
        unless not ``fault_is_failure`` (an abort ends its task so).
        ``queued_action`` (e.g. ``"revert"``): also until no request of that
        action waits in the server's queue (``queued``, microversion 1.2), so
        a queued request is waited for, not the task it queued behind.
        """
        for current in self._poll(server, timeout, interval, callback,
                                  "to finish its task"):
            waiting = queued_action is not None and any(
                q.get("action") == queued_action
                for q in current.get("queued") or [])
            if current.task_state is None and not waiting:
                if current.fault and fault_is_failure:
                    raise exceptions.ResourceFailure(
                        f"{current.describe()} failed its task"
                        f"{_fault_text(current)}", current)
                return current
        raise AssertionError("unreachable")

    def _poll(self, resource, timeout, interval, callback, what):
        """Fresh copies of ``resource`` until ``timeout`` (WaitTimeout then)."""
        if timeout is None or timeout < 0:
            raise ValueError("a wait needs a timeout of 0 s or more")
        deadline = time.monotonic() + timeout
        current = resource
        while True:
            current = current.refetch(self)
            if callback is not None:
                callback(current.get("progress"))
            yield current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = current.get("status")
                task = current.get("task_state")
                progress = current.get("progress")
                now = f"it is {state}" + (f", task {task}" if task else "") + (
                    f", {progress}%" if progress is not None else "")
                raise exceptions.WaitTimeout(
                    f"Timed out after {timeout:g} s waiting for "
                    f"{current.describe()} {what} ({now}); it goes on in "
                    "the background: check it later, or wait longer "
                    "(--timeout).", current)
            time.sleep(min(interval, remaining))


def _server_of(snapshot, server):
    if server is not None:
        return _id(server)
    server_id = snapshot.get("server_id") if isinstance(
        snapshot, res.Resource) else None
    if not server_id:
        raise exceptions.ClientException(
            "A snapshot id alone does not say which server it belongs to: "
            "give the server too (or a Snapshot from the API).")
    return server_id


def _policy_attrs(attrs):
    unknown = sorted(set(attrs) - set(res.SnapshotPolicy.writable))
    if unknown:
        raise TypeError(f"not a field of a snapshot policy: "
                        f"{', '.join(unknown)}")
    return dict(attrs)


def _unique(cls, name, matches):
    if not matches:
        raise exceptions.NotFound(f"No {cls.kind} with ID or name '{name}' "
                                  "could be found.")
    if len(matches) > 1:
        raise exceptions.NoUniqueMatch(
            f"{len(matches)} {cls.resources_key} are named '{name}': "
            f"use an ID ({', '.join(m.id for m in matches)}).")
    return matches[0]


def _lower_set(values):
    if isinstance(values, str):
        values = (values,)
    return {str(v).lower() for v in values}


def _fault_text(resource):
    fault = resource.get("fault")
    if isinstance(fault, dict) and fault.get("message"):
        return f": {fault['message']}"
    return ""

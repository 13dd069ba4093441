"""Resources: one class per REST resource (Server, Snapshot, Image,
BaremetalNode, Service, SnapshotPolicy, QuotaSet).

A resource is a read-only view of what the API last said about it: its
fields are attributes (``snap.status``) and items (``snap["status"]``), and
``to_dict()`` gives them back as the API sent them. Each class knows its REST
path, the keys of its JSON envelope, its ``links`` key for pages, and how to
fetch a fresh copy of itself through a proxy (``refetch``), which is what
``wait_for_status`` polls.
"""


class Resource:
    #: the key of one item (``{"server": {...}}``)
    resource_key = None
    #: the key of a listing (``{"servers": [...]}``); pages in ``<key>_links``
    resources_key = None
    #: what this resource is called in messages
    kind = "resource"
    #: every field of the API's view, in the order the API documents them
    fields = ()

    def __init__(self, attrs=None, **extra):
        # Context the API does not put in the view (an image's snapshot).
        merged = dict(extra)
        merged.update(attrs or {})
        self.__dict__["_attrs"] = merged

    @classmethod
    def from_body(cls, body, **extra):
        """The resource in an answer's envelope (``{resource_key: {...}}``)."""
        return cls(body[cls.resource_key], **extra)

    def __getattr__(self, name):
        try:
            return self.__dict__["_attrs"][name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}") from None

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only; fetch it "
                             "again for a newer state")

    def __getitem__(self, name):
        return self._attrs[name]

    def get(self, name, default=None):
        return self._attrs.get(name, default)

    def to_dict(self):
        return dict(self._attrs)

    def __eq__(self, other):
        return type(self) is type(other) and self._attrs == other._attrs

    def __hash__(self):
        return hash((type(self).__name__, self._attrs.get("id")))

    def __repr__(self):
        return (f"<{type(self).__name__} id={self._attrs.get('id')!r} "
                f"name={self._attrs.get('name')!r} "
                f"status={self._attrs.get('status')!r}>")

    @property
    def id(self):
        return self._attrs.get("id")

    @property
    def path(self):
        raise NotImplementedError

    def describe(self):
        """How messages name it: ``snapshot 1234… ('before-upgrade')``."""
        name = self._attrs.get("name")
        return f"{self.kind} {self.id}" + (f" ({name!r})" if name else "")

    def refetch(self, proxy):
        """A fresh copy from the API (NotFound once it is gone)."""
        raise NotImplementedError


class Server(Resource):
    resource_key = "server"
    resources_key = "servers"
    kind = "server"
    fields = ("id", "name", "project_id", "driver", "hypervisor_ref", "host",
              "status", "task_state", "origin", "source_snapshot_id", "linked",
              "flatten_progress", "provision_state", "capabilities", "fault",
              "created_at", "updated_at")
    #: microversion 1.2 adds the requests waiting in the server's queue
    fields_1_2 = fields + ("queued",)

    @staticmethod
    def path_of(server_id):
        return f"/v1/servers/{server_id}"

    @property
    def path(self):
        return self.path_of(self.id)

    def refetch(self, proxy):
        return proxy.get_server(self.id)


class Snapshot(Resource):
    resource_key = "snapshot"
    resources_key = "snapshots"
    kind = "snapshot"
    fields = ("id", "server_id", "project_id", "name", "description", "status",
              "progress", "kind", "memory", "quiesce", "consistency",
              "parent_id", "is_current", "size_bytes", "frozen_ms",
              "paused_ms", "volumes", "disks", "fault", "created_at",
              "updated_at")
    #: microversion 1.1 adds the snapshot's exported images
    fields_1_1 = fields + ("images",)
    #: microversion 1.2 adds the policy that took it and for which slot
    fields_1_2 = fields_1_1 + ("policy_id", "scheduled_at")

    @staticmethod
    def path_of(server_id, snapshot_id=None):
        path = f"/v1/servers/{server_id}/snapshots"
        return path if snapshot_id is None else f"{path}/{snapshot_id}"

    @property
    def path(self):
        return self.path_of(self.server_id, self.id)

    def refetch(self, proxy):
        return proxy.get_snapshot(self)

    def image_list(self):
        """The exports of this snapshot (microversion 1.1 views only)."""
        return [Image(i, snapshot_id=self.id, server_id=self.server_id)
                for i in self._attrs.get("images") or []]


class Image(Resource):
    """A snapshot exported into the image store.

    Images are a resource of their own (``/v1/images``): they outlive the
    snapshot and the server they were exported from, whose ids they keep
    (``snapshot_id``, ``server_id``). A snapshot's view (microversion 1.1)
    lists its images too, with the same fields (``Snapshot.image_list``).
    """

    resource_key = "image"
    resources_key = "images"
    kind = "image"
    fields = ("id", "name", "project_id", "snapshot_id", "server_id",
              "backend", "disk_format", "status", "progress", "size_bytes",
              "sha256", "location", "fault", "flatten_progress",
              "fallback_reason", "created_at", "updated_at")

    @staticmethod
    def path_of(image_id):
        return f"/v1/images/{image_id}"

    @property
    def path(self):
        return self.path_of(self.id)

    def refetch(self, proxy):
        return proxy.get_image(self.id)


class BaremetalNode(Resource):
    """An enrolled bare-metal node (administrators only).

    Its agent token and BMC password are write-only: the API never sends
    them, so no BaremetalNode holds them.
    """

    resource_key = "node"
    resources_key = "nodes"
    kind = "bare-metal node"
    fields = ("id", "name", "agent_url", "root_device_hint", "power",
              "last_heartbeat_at", "agent_version", "server_id",
              "created_at", "updated_at")

    @staticmethod
    def path_of(node_id=None):
        path = "/v1/baremetal/nodes"
        return path if node_id is None else f"{path}/{node_id}"

    @property
    def path(self):
        return self.path_of(self.id)

    def refetch(self, proxy):
        return proxy.get_baremetal_node(self.id)


class Service(Resource):
    """A compute service of the registry (administrators only).

    Named by its host: a service has no name, and the API has no route for
    one service, so ``refetch`` finds it again in the listing.
    """

    resource_key = "service"
    resources_key = "services"
    kind = "compute service"
    fields = ("id", "host", "binary", "drivers", "host_free_drivers", "state",
              "status", "disabled_reason", "rpc_version", "last_seen_at",
              "created_at", "updated_at")

    @staticmethod
    def path_of(service_id=None):
        path = "/v1/os-services"
        return path if service_id is None else f"{path}/{service_id}"

    @property
    def path(self):
        return self.path_of(self.id)

    def describe(self):
        host = self._attrs.get("host")
        return f"{self.kind} {self.id}" + (f" (host {host!r})" if host else "")

    def refetch(self, proxy):
        return proxy.find_service(self.id)


class SnapshotPolicy(Resource):
    """A schedule and a retention rule, attached to servers.

    Its view says what happened: ``last_run``, ``next_run`` and, in
    ``servers``, each attached server's last run, next run and outcome
    (taken, kept by which rule, pruned, skipped and why, error).
    """

    resource_key = "snapshot_policy"
    resources_key = "snapshot_policies"
    kind = "snapshot policy"
    #: the retention rules, in the order the API applies them
    keep_fields = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly",
                   "keep_monthly", "keep_yearly")
    #: what a create or an update may send
    writable = ("name", "description", "interval_minutes", "interval_hours",
                "cron", "timezone", "memory", "quiesce", "include_volumes",
                "name_template") + keep_fields + ("enabled",)
    fields = ("id", "name", "description", "project_id", "user_id",
              "interval_minutes", "cron", "timezone", "memory", "quiesce",
              "include_volumes", "name_template") + keep_fields + (
              "enabled", "last_run", "next_run", "servers", "created_at",
              "updated_at")

    @staticmethod
    def path_of(policy_id=None):
        path = "/v1/snapshot-policies"
        return path if policy_id is None else f"{path}/{policy_id}"

    @staticmethod
    def attachment_path(server_id, policy_id=None):
        """The policies attached to a server, or one attachment."""
        path = f"{Server.path_of(server_id)}/snapshot-policies"
        return path if policy_id is None else f"{path}/{policy_id}"

    @property
    def path(self):
        return self.path_of(self.id)

    def attachment(self, server_id):
        """The view's entry of one attached server (None if not attached)."""
        return next((s for s in self._attrs.get("servers") or []
                     if s.get("server_id") == server_id), None)

    def refetch(self, proxy):
        return proxy.get_snapshot_policy(self.id)


class QuotaSet(Resource):
    """A project's snapshot limits (-1: unlimited), Nova's and Cinder's
    ``os-quota-sets`` shape: its id is the project's.

    Fetched with usage, each limit is ``{"limit": N, "in_use": M}``.
    """

    resource_key = "quota_set"
    kind = "quota set"
    #: the limits, in the order the API documents them
    limits = ("snapshots", "snapshots_per_server")
    fields = ("id",) + limits

    @staticmethod
    def path_of(project_id):
        return f"/v1/os-quota-sets/{project_id}"

    @property
    def path(self):
        return self.path_of(self.id)

    def describe(self):
        return f"{self.kind} of project {self.id}"

    def refetch(self, proxy):
        return proxy.get_quota_set(self.id)

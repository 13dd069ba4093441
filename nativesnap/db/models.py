"""SQLAlchemy models. The schema itself is owned by the alembic migrations; a test
checks that these models and the migrated schema agree."""

import json

from oslo_db.sqlalchemy import models
from oslo_db.sqlalchemy import types as db_types
import sqlalchemy as sa
from sqlalchemy import orm

BASE = orm.declarative_base()


class NullableJson(sa.types.TypeDecorator):
    """JSON in a Text column where NULL stays None (oslo.db's JsonEncodedDict
    turns NULL into {}, which would make "no fault" look like a fault)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(value)

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value)


class NativesnapBase(models.TimestampMixin, models.ModelBase):
    pass


class Server(BASE, NativesnapBase):
    __tablename__ = "servers"
    __table_args__ = (
        # One hypervisor object is managed by at most one server record.
        sa.UniqueConstraint("driver", "host", "hypervisor_ref",
                            name="uniq_servers0driver0host0hypervisor_ref"),
        sa.Index("servers_project_id_idx", "project_id"),
        sa.Index("servers_host_task_state_idx", "host", "task_state"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    name = sa.Column(sa.String(255), nullable=False)
    project_id = sa.Column(sa.String(255), nullable=False)
    user_id = sa.Column(sa.String(255), nullable=True)
    driver = sa.Column(sa.String(64), nullable=False)
    hypervisor_ref = sa.Column(sa.String(255), nullable=False)
    host = sa.Column(sa.String(255), nullable=False)
    status = sa.Column(sa.String(16), nullable=False)
    task_state = sa.Column(sa.String(32), nullable=True)
    # The running task's id: compare-and-swap saves of an abandoned (timed out)
    # task fail instead of overwriting the work of the task that followed it.
    task_id = sa.Column(sa.String(36), nullable=True)
    task_started_at = sa.Column(sa.DateTime, nullable=True)
    task_target_id = sa.Column(sa.String(36), nullable=True)
    origin = sa.Column(sa.String(16), nullable=False)
    source_snapshot_id = sa.Column(sa.String(36), nullable=True)
    linked = sa.Column(sa.Boolean, nullable=False, default=False)
    # A full spawn's clone flattened in the background (NULL: none; 100: done)
    # and the driver's handle to resume it.
    flatten_progress = sa.Column(sa.Integer, nullable=True)
    flatten_ref = sa.Column(sa.Text, nullable=True)
    provision_state = sa.Column(sa.String(32), nullable=True)
    current_snapshot_id = sa.Column(sa.String(36), nullable=True)
    capabilities = sa.Column(db_types.JsonEncodedDict, nullable=False, default=dict)
    driver_info = sa.Column(db_types.JsonEncodedDict, nullable=False, default=dict)
    fault = sa.Column(NullableJson, nullable=True)
    # A task waiting for an outside event: until when, and what for.
    task_wait_until = sa.Column(sa.DateTime, nullable=True)
    task_wait_info = sa.Column(NullableJson, nullable=True)


class VolumeAttachment(BASE, NativesnapBase):
    """A Cinder volume attached to a server, as its compute service last saw."""

    __tablename__ = "volume_attachments"
    __table_args__ = (
        sa.Index("volume_attachments_volume_id_idx", "volume_id"),
    )

    server_id = sa.Column(sa.String(36), sa.ForeignKey("servers.id"),
                          primary_key=True)
    volume_id = sa.Column(sa.String(36), primary_key=True)
    device = sa.Column(sa.String(255), nullable=False)


class Snapshot(BASE, NativesnapBase):
    __tablename__ = "snapshots"
    __table_args__ = (
        sa.Index("snapshots_server_id_created_at_idx", "server_id", "created_at"),
        sa.Index("snapshots_project_id_created_at_idx", "project_id", "created_at"),
        sa.Index("snapshots_status_idx", "status"),
        sa.Index("snapshots_policy_id_idx", "policy_id"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    server_id = sa.Column(sa.String(36), sa.ForeignKey("servers.id"), nullable=False)
    project_id = sa.Column(sa.String(255), nullable=False)
    user_id = sa.Column(sa.String(255), nullable=True)
    name = sa.Column(sa.String(255), nullable=False)
    description = sa.Column(sa.Text, nullable=True)
    status = sa.Column(sa.String(16), nullable=False)
    progress = sa.Column(sa.Integer, nullable=False, default=0)
    kind = sa.Column(sa.String(16), nullable=True)
    memory = sa.Column(sa.Boolean, nullable=False, default=False)
    quiesce = sa.Column(sa.String(16), nullable=False)
    include_volumes = sa.Column(sa.Boolean, nullable=False, default=False)
    consistency = sa.Column(sa.String(16), nullable=True)
    parent_id = sa.Column(sa.String(36), nullable=True)
    size_bytes = sa.Column(sa.BigInteger, nullable=True)
    frozen_ms = sa.Column(sa.Integer, nullable=True)
    paused_ms = sa.Column(sa.Integer, nullable=True)
    volumes = sa.Column(db_types.JsonEncodedList, nullable=False, default=list)
    disks = sa.Column(db_types.JsonEncodedList, nullable=False, default=list)
    driver_info = sa.Column(db_types.JsonEncodedDict, nullable=False, default=dict)
    fault = sa.Column(NullableJson, nullable=True)
    # The snapshot policy that took it, and the schedule slot it was taken
    # for (retention buckets by it); failed deletes retried with back-off.
    policy_id = sa.Column(sa.String(36), nullable=True)
    scheduled_at = sa.Column(sa.DateTime, nullable=True)
    delete_attempts = sa.Column(sa.Integer, nullable=False, default=0,
                                server_default="0")
    retry_at = sa.Column(sa.DateTime, nullable=True)


class Image(BASE, NativesnapBase):
    """An exported snapshot in the image store."""

    __tablename__ = "images"
    __table_args__ = (
        sa.Index("images_snapshot_id_idx", "snapshot_id"),
        sa.Index("images_project_id_created_at_idx", "project_id", "created_at"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    # No foreign keys: an image outlives its snapshot and its server.
    snapshot_id = sa.Column(sa.String(36), nullable=False)
    server_id = sa.Column(sa.String(36), nullable=True)
    host = sa.Column(sa.String(255), nullable=True)
    backend = sa.Column(sa.String(16), nullable=False, default="local",
                        server_default="local")
    store_ref = sa.Column(sa.String(255), nullable=True)
    project_id = sa.Column(sa.String(255), nullable=False)
    name = sa.Column(sa.String(255), nullable=False)
    disk_format = sa.Column(sa.String(16), nullable=False)
    status = sa.Column(sa.String(16), nullable=False)
    progress = sa.Column(sa.Integer, nullable=False, default=0)
    size_bytes = sa.Column(sa.BigInteger, nullable=True)
    sha256 = sa.Column(sa.String(64), nullable=True)
    location = sa.Column(sa.Text, nullable=True)
    fault = sa.Column(NullableJson, nullable=True)
    # A clone flattened in the background (NULL: none; 100: done).
    flatten_progress = sa.Column(sa.Integer, nullable=True)
    fallback_reason = sa.Column(sa.Text, nullable=True)


class AssistedVolumeOperation(BASE, NativesnapBase):
    """One of Cinder's os-assisted-volume-snapshots requests and its outcome:
    who asked, for which volume and server, which files, how it ended."""

    __tablename__ = "assisted_volume_operations"
    __table_args__ = (
        sa.Index("assisted_volume_operations_created_at_idx", "created_at"),
        sa.Index("assisted_volume_operations_volume_id_idx", "volume_id"),
        sa.Index("assisted_volume_operations_host_status_idx", "host", "status"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    host = sa.Column(sa.String(255), nullable=False)
    action = sa.Column(sa.String(16), nullable=False)
    status = sa.Column(sa.String(16), nullable=False)
    volume_id = sa.Column(sa.String(36), nullable=False)
    # Cinder's snapshot id (create_info.snapshot_id, or the DELETE's path).
    snapshot_id = sa.Column(sa.String(36), nullable=False)
    # No foreign key: the record outlives the server it was about.
    server_id = sa.Column(sa.String(36), nullable=True)
    disk = sa.Column(sa.String(32), nullable=True)
    user_id = sa.Column(sa.String(255), nullable=True)
    project_id = sa.Column(sa.String(255), nullable=True)
    request_id = sa.Column(sa.String(64), nullable=True)
    request = sa.Column(NullableJson, nullable=True)
    files = sa.Column(NullableJson, nullable=True)
    callback = sa.Column(NullableJson, nullable=True)
    finished_at = sa.Column(sa.DateTime, nullable=True)
    duration_ms = sa.Column(sa.Integer, nullable=True)
    fault = sa.Column(NullableJson, nullable=True)


class BaremetalNode(BASE, NativesnapBase):
    """A physical machine enrolled for the bare-metal driver: how to reach
    its agent, and its BMC (Redfish) when nativesnap powers it."""

    __tablename__ = "baremetal_nodes"
    __table_args__ = (
        # A server adopted on a node may name it by name (hypervisor_ref).
        sa.UniqueConstraint("name", name="uniq_baremetal_nodes0name"),
        sa.Index("baremetal_nodes_created_at_idx", "created_at"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    name = sa.Column(sa.String(255), nullable=False)
    agent_url = sa.Column(sa.String(2048), nullable=False)
    # Secrets: stored because the conductor presents them, never shown.
    agent_token = sa.Column(sa.Text, nullable=False)
    root_device_hint = sa.Column(NullableJson, nullable=True)
    power_interface = sa.Column(sa.String(16), nullable=False, default="none")
    redfish_address = sa.Column(sa.String(2048), nullable=True)
    redfish_system_id = sa.Column(sa.String(255), nullable=True)
    redfish_username = sa.Column(sa.String(255), nullable=True)
    redfish_password = sa.Column(sa.Text, nullable=True)
    redfish_verify_ca = sa.Column(sa.Boolean, nullable=False, default=True)
    last_heartbeat_at = sa.Column(sa.DateTime, nullable=True)
    agent_version = sa.Column(sa.String(64), nullable=True)


class Service(BASE, NativesnapBase):
    """A compute service: its host, the drivers it runs, its last heartbeat,
    and whether an operator disabled it (docs/deployment.md)."""

    __tablename__ = "services"
    __table_args__ = (
        sa.UniqueConstraint("host", name="uniq_services0host"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    host = sa.Column(sa.String(255), nullable=False)
    binary = sa.Column(sa.String(64), nullable=False)
    # {driver name: {"host_free": bool}}
    drivers = sa.Column(NullableJson, nullable=True)
    rpc_version = sa.Column(sa.String(16), nullable=True)
    disabled = sa.Column(sa.Boolean, nullable=False, default=False)
    disabled_reason = sa.Column(sa.String(255), nullable=True)
    last_seen_at = sa.Column(sa.DateTime, nullable=True)


class SnapshotPolicy(BASE, NativesnapBase):
    """A schedule, what to take and a retention rule (docs/scheduler.md)."""

    __tablename__ = "snapshot_policies"
    __table_args__ = (
        sa.Index("snapshot_policies_project_id_idx", "project_id"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    project_id = sa.Column(sa.String(255), nullable=False)
    user_id = sa.Column(sa.String(255), nullable=True)
    name = sa.Column(sa.String(255), nullable=False)
    description = sa.Column(sa.Text, nullable=True)
    interval_minutes = sa.Column(sa.Integer, nullable=True)
    cron = sa.Column(sa.String(255), nullable=True)
    timezone = sa.Column(sa.String(64), nullable=False)
    memory = sa.Column(sa.Boolean, nullable=False)
    quiesce = sa.Column(sa.String(16), nullable=False)
    include_volumes = sa.Column(sa.Boolean, nullable=False)
    name_template = sa.Column(sa.String(255), nullable=False)
    keep_last = sa.Column(sa.Integer, nullable=False)
    keep_hourly = sa.Column(sa.Integer, nullable=False)
    keep_daily = sa.Column(sa.Integer, nullable=False)
    keep_weekly = sa.Column(sa.Integer, nullable=False)
    keep_monthly = sa.Column(sa.Integer, nullable=False)
    keep_yearly = sa.Column(sa.Integer, nullable=False)
    enabled = sa.Column(sa.Boolean, nullable=False)


class PolicyAttachment(BASE, NativesnapBase):
    """A policy attached to a server, with that pair's runs."""

    __tablename__ = "policy_attachments"
    __table_args__ = (
        sa.Index("policy_attachments_server_id_idx", "server_id"),
        sa.Index("policy_attachments_next_run_at_idx", "next_run_at"),
    )

    policy_id = sa.Column(sa.String(36), sa.ForeignKey("snapshot_policies.id"),
                          primary_key=True)
    server_id = sa.Column(sa.String(36), sa.ForeignKey("servers.id"),
                          primary_key=True)
    last_run_at = sa.Column(sa.DateTime, nullable=True)
    next_run_at = sa.Column(sa.DateTime, nullable=True)
    outcome = sa.Column(NullableJson, nullable=True)
    # Set when the pair's snapshots may need pruning (a take, a changed
    # retention); the scheduler looks at only those pairs' snapshots.
    prune_due = sa.Column(sa.Boolean, nullable=False, default=False,
                          server_default=sa.false())


class Quota(BASE, NativesnapBase):
    """A project's limit of one resource; absent, ``[quota]``'s default."""

    __tablename__ = "quotas"

    project_id = sa.Column(sa.String(255), primary_key=True)
    resource = sa.Column(sa.String(64), primary_key=True)
    hard_limit = sa.Column(sa.Integer, nullable=False)


class QueuedRequest(BASE, NativesnapBase):
    """A mutation waiting for its busy server's turn (docs/scheduler.md)."""

    __tablename__ = "queued_requests"
    __table_args__ = (
        sa.Index("queued_requests_server_id_idx", "server_id", "created_at"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    server_id = sa.Column(sa.String(36), sa.ForeignKey("servers.id"),
                          nullable=False)
    action = sa.Column(sa.String(32), nullable=False)
    snapshot_id = sa.Column(sa.String(36), nullable=True)
    params = sa.Column(NullableJson, nullable=True)
    project_id = sa.Column(sa.String(255), nullable=False)
    user_id = sa.Column(sa.String(255), nullable=True)
    roles = sa.Column(NullableJson, nullable=True)
    origin = sa.Column(sa.String(16), nullable=False)
    expires_at = sa.Column(sa.DateTime, nullable=False)

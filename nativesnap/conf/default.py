"""[DEFAULT] options: where state lives, which drivers run, how tasks are bounded."""

import socket

from oslo_config import cfg

opts = [
    cfg.StrOpt("state_path", default="/var/lib/nativesnap",
               help="Directory holding the service's state: the default sqlite "
                    "database, the local image store and driver working files."),
    cfg.StrOpt("host", default=socket.gethostname(), sample_default="<hostname>",
               help="Name of this service host. Servers are owned by the host that "
                    "adopted or spawned them; start-up recovery only touches those."),
    cfg.ListOpt("enabled_drivers", default=["libvirt"],
                help="Virt drivers to load, by their name in the "
                     "'nativesnap.virt.drivers' entry-point group."),
    cfg.IntOpt("task_workers", default=8, min=1, max=256,
               help="Size of the worker pool that runs snapshot tasks. Tasks past it "
                    "wait in a queue of task_queue_size."),
    cfg.IntOpt("task_queue_size", default=64, min=0,
               help="How many accepted tasks may wait for a worker. A request beyond "
                    "that answers 503 instead of queueing without bound."),
    cfg.IntOpt("task_timeout", default=3600, min=1,
               help="Seconds a task may run before it is cancelled and recorded as "
                    "failed. Drivers also bound each of their own waits."),
    cfg.IntOpt("task_cancel_grace", default=30, min=0,
               help="Seconds a timed-out task's driver call is given to notice the "
                    "cancellation before the server's task lock is released anyway."),
    cfg.IntOpt("status_sync_interval", default=30, min=0,
               help="Seconds between two reads, by the compute service, of "
                    "every server's status and attached volumes from the "
                    "hypervisor, recorded for the API (0 turns it off). "
                    "Changes the hypervisor reports as events (libvirt's "
                    "lifecycle and device events) are recorded at once; "
                    "this sync catches what no event told."),
    cfg.IntOpt("assisted_volume_records_days", default=30, min=0,
               help="Days the record of an assisted volume snapshot operation "
                    "(GET /v1/os-assisted-volume-snapshots) is kept; older "
                    "records are removed as new ones are made. 0 keeps them "
                    "all."),
    cfg.IntOpt("report_interval", default=10, min=1,
               help="Seconds between two heartbeats of a compute service in "
                    "the service registry (GET /v1/os-services)."),
    cfg.IntOpt("service_down_time", default=20, min=1,
               help="Seconds without a heartbeat after which a compute "
                    "service is down: requests that change its servers "
                    "answer 409 naming its host, and the servers of host-free "
                    "drivers (vSphere, bare metal) move to a live compute "
                    "service. Keep it above report_interval; the default, two "
                    "heartbeats, notices a dead service within two intervals "
                    "(docs/deployment.md)."),
    cfg.IntOpt("shutdown_timeout", default=60, min=0,
               help="On SIGTERM, seconds to wait for running tasks before exiting. "
                    "Tasks still running then are left to start-up recovery."),
]


def register_opts(conf):
    conf.register_opts(opts)


def list_opts():
    return {"DEFAULT": opts}

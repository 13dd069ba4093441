"""[scheduler] and [quota] options: snapshot policies, the queue of requests
that wait for a busy server, the retries of failed deletes, and the limits
on how many snapshots a project and a server may hold (docs/scheduler.md).

The quota defaults are unlimited (-1) so that an upgrade never starts
refusing snapshots a cloud took yesterday; operators set limits per project
through /v1/os-quota-sets or change the defaults here."""

from oslo_config import cfg

scheduler_group = cfg.OptGroup(
    "scheduler", title="Snapshot policies",
    help="Scheduled snapshots, retention and queued requests "
         "(docs/scheduler.md).")

quota_group = cfg.OptGroup(
    "quota", title="Quotas",
    help="Default limits of every project (docs/scheduler.md, \"Quotas\").")

scheduler_opts = [
    cfg.BoolOpt("enabled", default=True,
                help="Take and prune the snapshots of snapshot policies. "
                     "Off, policies are kept but nothing runs."),
    cfg.FloatOpt("run_interval", default=60.0, min=0.05, max=3600.0,
                 help="Seconds between two runs of the scheduler on a compute "
                      "service: it takes what is due and prunes. A policy's "
                      "schedule is kept to within this interval."),
    cfg.FloatOpt("min_free_percent", default=10.0, min=0.0, max=100.0,
                 help="A scheduled snapshot is skipped, with the reason "
                      "recorded, when the storage it would land on (where "
                      "the driver can tell) has less free space than this "
                      "percentage. 0 turns the guard off."),
    cfg.IntOpt("queue_wait", default=3600, min=1, max=7 * 86400,
               help="Seconds a queued request (the scheduler's, or a user's "
                    "with \"queue\": true) waits for its server's turn; then "
                    "it fails with a fault that says what it waited for."),
    cfg.IntOpt("delete_retry_interval", default=60, min=1, max=86400,
               help="Seconds before a snapshot left error_deleting is "
                    "deleted again; doubled after each failed attempt, up "
                    "to an hour."),
    cfg.IntOpt("delete_retry_attempts", default=10, min=0, max=1000,
               help="How many times a snapshot left error_deleting is "
                    "deleted again before it is left for the operator. 0 "
                    "turns the retries off."),
]

quota_opts = [
    cfg.IntOpt("snapshots", default=-1, min=-1,
               help="Snapshots a project may hold (-1: unlimited). Every "
                    "snapshot but those being deleted counts."),
    cfg.IntOpt("snapshots_per_server", default=-1, min=-1,
               help="Snapshots one server may hold (-1: unlimited)."),
]


def register_opts(conf):
    conf.register_group(scheduler_group)
    conf.register_opts(scheduler_opts, group=scheduler_group)
    conf.register_group(quota_group)
    conf.register_opts(quota_opts, group=quota_group)


def list_opts():
    return {scheduler_group: scheduler_opts, quota_group: quota_opts}

"""[fault_injection] options: failpoints for crash and error tests. Never
set in production.

Not ``[debug]``: a group of that name would hide oslo.log's ``[DEFAULT]
debug`` option (``CONF.debug`` would be the group, always true)."""

from oslo_config import cfg

fault_injection_group = cfg.OptGroup("fault_injection",
                                     title="Fault injection (testing only)")

opts = [
    cfg.ListOpt("failpoints", default=[],
                help="Failpoints to arm, for crash and error tests only: a "
                     "list of <name>=<action>[@<n>], the action one of 'crash' "
                     "(SIGKILL the service at that step, as kill -9 does), "
                     "'error' (fail the step with a 500 naming the failpoint) "
                     "or 'sleep:<seconds>' (pause there, at most 600 s); '@<n>' "
                     "fires on the n-th time the step is reached only. Names "
                     "are the fixed list in docs/reliability.md; an unknown "
                     "one stops the service at start-up. Empty (the default) "
                     "turns every failpoint off."),
    cfg.StrOpt("scheduler_clock_file",
               help="Testing only: the scheduler of snapshot policies reads "
                    "the time from this file (one ISO 8601 timestamp with its "
                    "UTC offset) instead of the system clock, so that a test "
                    "can run days of schedule in seconds. Unset (the "
                    "default), the system clock."),
]


def register_opts(conf):
    conf.register_group(fault_injection_group)
    conf.register_opts(opts, group=fault_injection_group)


def list_opts():
    return {fault_injection_group: opts}

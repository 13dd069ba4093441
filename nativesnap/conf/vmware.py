"""[vmware] options: how the vSphere driver reaches vCenter (docs/vmware.md)."""

from oslo_config import cfg

vmware_group = cfg.OptGroup("vmware", title="VMware vSphere driver options")

opts = [
    cfg.HostAddressOpt("host", help="vCenter (or ESXi) host name or address."),
    cfg.PortOpt("port", default=443, help="vCenter's HTTPS port."),
    cfg.StrOpt("username", help="The vCenter user nativesnap logs in as."),
    cfg.StrOpt("password", secret=True,
               help="That user's password (never logged)."),
    cfg.StrOpt("ca_file",
               help="CA bundle (PEM) that vCenter's TLS certificate is "
                    "verified against; the system's CAs when unset."),
    cfg.BoolOpt("insecure", default=False,
                help="Do not verify vCenter's TLS certificate. Only for a lab: "
                     "anyone on the path could then pose as vCenter and "
                     "receive the password."),
    cfg.StrOpt("datacenter",
               help="Datacenter whose VMs are adopted by inventory path and "
                    "where clones are placed; the first one when unset."),
    cfg.IntOpt("api_retry_count", default=3, min=0,
               help="How many times a call cut by a connection error (or an "
                    "expired session: logged in again) is repeated. A call "
                    "that changes something is repeated only when it did not "
                    "reach vCenter."),
    cfg.FloatOpt("task_poll_interval", default=0.5, min=0.05,
                 help="Seconds between two reads of a vSphere task's state."),
    cfg.IntOpt("task_timeout", default=1800, min=1,
               help="Seconds a vSphere task (snapshot, revert, remove, clone, "
                    "consolidate) may take before nativesnap gives up on it, "
                    "cancels it and records the failure."),
    cfg.IntOpt("connect_timeout", default=30, min=1,
               help="Seconds a connection to vCenter, or one answer, may take."),
    cfg.StrOpt("folder",
               help="VM folder (inventory path) for spawned servers; the "
                    "source VM's folder when unset."),
    cfg.StrOpt("resource_pool",
               help="Resource pool (inventory path) for spawned servers; the "
                    "source VM's pool when unset."),
    cfg.StrOpt("datastore",
               help="Datastore (name) for the disks of full clones; the source "
                    "VM's when unset. Linked clones stay with their parent's."),
]


def register_opts(conf):
    conf.register_group(vmware_group)
    conf.register_opts(opts, group=vmware_group)


def list_opts():
    return {vmware_group: opts}

"""[libvirt] options: how the libvirt driver reaches libvirtd."""

from oslo_config import cfg

libvirt_group = cfg.OptGroup("libvirt", title="libvirt/QEMU driver options")

opts = [
    cfg.StrOpt("uri", default="qemu:///system",
               help="libvirt connection URI of the hypervisor this service "
                    "manages."),
    cfg.IntOpt("connect_timeout", default=30, min=1,
               help="Seconds to keep retrying the connection to libvirtd at "
                    "start-up before giving up."),
    cfg.StrOpt("overlay_path", default="$state_path/libvirt",
               help="Directory of the files nativesnap creates for libvirt "
                    "servers: snapshot overlays, memory files and spawned "
                    "servers' disks, in one sub-directory per server, every file "
                    "named by UUID."),
    cfg.IntOpt("agent_timeout", default=5, min=1,
               help="Seconds to wait for the guest agent to answer a ping."),
    cfg.FloatOpt("max_freeze_seconds", default=10.0, min=0.1,
                 help="Longest time a guest's filesystems stay frozen for a "
                      "snapshot: the freeze request waits at most this long "
                      "for the guest agent's answer, and a watchdog thaws the "
                      "guest at this cap after the request."),
    cfg.IntOpt("thaw_retry_timeout", default=86400, min=1,
               help="Seconds to keep thawing a guest in the background when "
                    "its thaw was not confirmed (its agent hung, or took a "
                    "freeze request late): the thaw is sent again, backing off "
                    "to every 5 s, until the agent answers, the domain stops "
                    "or this time passes. Pending thaws survive a restart of "
                    "the service."),
    cfg.IntOpt("block_job_timeout", default=3600, min=1,
               help="Seconds a block job (merge or pull of a snapshot layer) "
                    "may run before it is cancelled."),
    cfg.IntOpt("copy_timeout", default=3600, min=1,
               help="Seconds a full copy of a disk (full spawn, export) may take."),
    cfg.StrOpt("volume_snapshot_quiesce", default="preferred", choices=[
        ("required", "Freeze the guest's filesystems or fail the snapshot "
                     "(Cinder is told 'error'), like Nova with an image that "
                     "sets os_require_quiesce."),
        ("preferred", "Freeze when the guest agent answers, else take the "
                      "snapshot crash-consistent (Nova's default)."),
        ("off", "Never freeze."),
    ], help="Whether assisted volume snapshots (Cinder's "
            "os-assisted-volume-snapshots requests) quiesce the guest."),
]


def register_opts(conf):
    conf.register_group(libvirt_group)
    conf.register_opts(opts, group=libvirt_group)


def list_opts():
    return {libvirt_group: opts}

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
    cfg.BoolOpt("live_memory_snapshots", default=True,
                help="Save a memory snapshot's RAM while the guest runs "
                     "(libvirt's LIVE flag: QEMU copies the RAM into the "
                     "memory file in passes, as in a migration), so that its "
                     "vCPUs stop only for the last dirty pages and the switch "
                     "to the new disk overlays. The memory file then also "
                     "holds the pages copied more than once (larger when the "
                     "guest writes to its RAM during the save), and the save "
                     "takes longer. False: the vCPUs stay paused while the "
                     "whole RAM is written, a pause that grows with the RAM "
                     "in use."),
    cfg.FloatOpt("live_memory_copy_limit", default=2.0, min=1.0,
                 help="How much a live memory snapshot may copy, in multiples "
                      "of the guest's RAM, before the guest is paused so that "
                      "the save ends. QEMU stops copying only once what is "
                      "left fits in its downtime limit, which a guest that "
                      "dirties its RAM faster than the memory file is written "
                      "never reaches, while every pass makes the file larger. "
                      "The pause then lasts until the rest is written, as "
                      "with live_memory_snapshots = False."),
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

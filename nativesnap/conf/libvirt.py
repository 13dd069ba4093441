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
]


def register_opts(conf):
    conf.register_group(libvirt_group)
    conf.register_opts(opts, group=libvirt_group)


def list_opts():
    return {libvirt_group: opts}

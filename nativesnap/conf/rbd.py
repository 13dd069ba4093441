"""[rbd] options: how the libvirt driver reaches the Ceph cluster that holds
its servers' RBD disks (docs/rbd.md)."""

from oslo_config import cfg

rbd_group = cfg.OptGroup("rbd", title="Ceph RBD options of the libvirt driver")

opts = [
    cfg.StrOpt("ceph_conf", default="/etc/ceph/ceph.conf",
               help="The cluster's ceph.conf (its monitors, and the keyring "
                    "of rbd_user unless keyring is set)."),
    cfg.StrOpt("rbd_user", default="nativesnap",
               help="The cephx user nativesnap acts as (without 'client.'). "
                    "It needs 'profile rbd' on the servers' pools, and on "
                    "image_pool for exports by clone (docs/rbd.md)."),
    cfg.StrOpt("keyring", default=None,
               help="Keyring file of rbd_user, when ceph_conf does not name "
                    "it."),
    cfg.StrOpt("rbd_secret_uuid", default=None,
               help="UUID of the libvirt secret holding rbd_user's key: the "
                    "disks of servers nativesnap spawns authenticate with "
                    "it (adopted domains keep their own <auth>)."),
    cfg.StrOpt("image_pool", default="images",
               help="Pool exports are cloned into (Glance's RBD store pool)."),
    cfg.IntOpt("connect_timeout", default=5, min=1,
               help="Seconds a connection to the cluster, and every monitor "
                    "or OSD operation, may take before it fails with a clear "
                    "error (no worker waits on a cluster that stopped "
                    "answering)."),
    cfg.IntOpt("flatten_workers", default=2, min=1,
               help="Flattens (full spawns, exports) run at the same time; "
                    "more wait their turn."),
    cfg.IntOpt("flatten_wait_timeout", default=900, min=1,
               help="Seconds a snapshot delete waits for the flattens of "
                    "clones nativesnap made of it (a full spawn, an export) "
                    "to end before it fails; the snapshot shows 'deleting' "
                    "meanwhile."),
]


def register_opts(conf):
    conf.register_group(rbd_group)
    conf.register_opts(opts, group=rbd_group)


def list_opts():
    return {rbd_group: opts}

"""[baremetal] options: where the bare-metal driver's agents stream images
and how long it waits for them (docs/baremetal.md).

The WebDAV server runs on the compute service's host, as Ironic's conductor
serves its images from its own ``http_root``: nativesnap verifies, stores and
serves images as files under ``webdav_root`` and grants each transfer its
own credential by a line in nginx's user file, which nginx re-reads on every
request.
"""

from oslo_config import cfg

baremetal_group = cfg.OptGroup("baremetal", title="Bare-metal driver options")

opts = [
    cfg.URIOpt("webdav_url", default="http://127.0.0.1:8780",
               schemes=["http", "https"],
               help="Base URL of the WebDAV server (tools/start-webdav) as the "
                    "nodes' agents reach it; agents PUT snapshots under "
                    "incoming/ and read stored images under images/."),
    cfg.StrOpt("webdav_root", default="/var/lib/nativesnap-webdav/data",
               help="The directory the WebDAV server serves at webdav_url, on "
                    "this host: snapshots are verified and stored there."),
    cfg.StrOpt("webdav_user_file", default="/var/lib/nativesnap-webdav/htpasswd",
               help="The WebDAV server's htpasswd file; a one-time credential "
                    "is added for each transfer and removed after it."),
    cfg.StrOpt("webdav_ca_file",
               help="CA bundle the agents verify an https webdav_url against "
                    "(the agent's own --image-ca-file); unused by the "
                    "compute service."),
    cfg.StrOpt("agent_ca_file",
               help="CA bundle (PEM) an https agent's certificate is verified "
                    "against; the system's CAs when unset."),
    cfg.IntOpt("heartbeat_timeout", default=900, min=1,
               help="Seconds a snapshot, restore or spawn waits for the node's "
                    "agent to heartbeat (the node boots the agent's ramdisk) "
                    "before it fails."),
    cfg.IntOpt("transfer_timeout", default=6 * 3600, min=1,
               help="Seconds one stream or write of a node's root disk may take "
                    "before it fails."),
    cfg.IntOpt("agent_timeout", default=30, min=1,
               help="Seconds one request to an agent, or its connection, may "
                    "take."),
    cfg.IntOpt("power_timeout", default=120, min=1,
               help="Seconds a Redfish node may take to reach the power state "
                    "asked for (off before the agent reads its disk, on after)."),
    cfg.FloatOpt("poll_interval", default=1.0, min=0.05,
                 help="Seconds between two reads of an agent command's status."),
]


def register_opts(conf):
    conf.register_group(baremetal_group)
    conf.register_opts(opts, group=baremetal_group)


def list_opts():
    return {baremetal_group: opts}

"""[image] options: where exported snapshots are stored."""

from oslo_config import cfg

image_group = cfg.OptGroup("image", title="Image store options")

opts = [
    cfg.StrOpt("backend", default="local", deprecated_name="store", choices=[
        ("local", "A directory of the compute host (store_path)."),
        ("glance", "OpenStack's image service, through python-glanceclient "
                   "(the [glance] section)."),
    ], help="Where exported snapshots are stored (docs/images.md)."),
    cfg.StrOpt("store_path", default="$state_path/images",
               help="Directory of the local image store. Images are stored as "
                    "<store_path>/<image_id>.<disk_format>; names given by users "
                    "are labels only and never part of a path. Exports to Glance "
                    "are staged in its .staging directory too."),
    cfg.IntOpt("discard_retry_interval", default=60, min=1,
               help="Seconds between the compute service's attempts to remove "
                    "what a failed export left in an image store that could "
                    "not be reached when it failed (a Glance image nativesnap "
                    "created), so that nothing stays half-made there."),
]


def register_opts(conf):
    conf.register_group(image_group)
    conf.register_opts(opts, group=image_group)


def list_opts():
    return {image_group: opts}

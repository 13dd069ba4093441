"""[image] options: where exported snapshots are stored."""

from oslo_config import cfg

image_group = cfg.OptGroup("image", title="Image store options")

opts = [
    cfg.StrOpt("store", default="local", choices=[
        ("local", "A directory on this host (store_path)."),
    ], help="Image store that exported snapshots are written to."),
    cfg.StrOpt("store_path", default="$state_path/images",
               help="Directory of the local image store. Images are stored as "
                    "<store_path>/<image_id>.<disk_format>; names given by users "
                    "are labels only and never part of a path."),
]


def register_opts(conf):
    conf.register_group(image_group)
    conf.register_opts(opts, group=image_group)


def list_opts():
    return {image_group: opts}

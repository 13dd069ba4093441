"""[upgrade_levels] options: the newest compute RPC API version the API side
may send, so that API processes of a new release keep working with compute
services still on an older one during a rolling upgrade.

Only the sender can make a message an older compute understands: without a
conductor, a compute service given an object newer than it knows has nobody
to ask for a backport and refuses it. Capped, the API side sends each method
at a version the cap allows (or refuses the operation with a 409) and its
objects backported to the versions that RPC version carried
(docs/architecture.md, "Upgrades").

The value is checked for its form here; that it is a version the compute
RPC API has had is checked where that history is kept
(nativesnap/compute/rpcapi.py), when the API side starts.
"""

import re

from oslo_config import cfg
from oslo_config import types

upgrade_levels_group = cfg.OptGroup(
    "upgrade_levels", title="Upgrade levels",
    help="RPC API version caps for rolling upgrades (docs/architecture.md).")

_VERSION = re.compile(r"[0-9]+\.[0-9]+")


class RPCVersion(types.String):
    """A version ``N.M``; anything else is refused with the option named."""

    def __call__(self, value):
        value = super().__call__(value).strip()
        if not _VERSION.fullmatch(value):
            raise ValueError(f"'{value}' is not an RPC API version: give it "
                             "as N.M, e.g. 1.1")
        return value


opts = [
    cfg.Opt("compute", type=RPCVersion(type_name="RPC API version"),
            help="The newest compute RPC API version the API side sends, as "
                 "N.M (e.g. 1.1); unset, the newest this release has. During "
                 "a rolling upgrade set it, on the API side, to the version "
                 "of the oldest compute service still running; operations "
                 "that need a newer version answer 409 until it is raised or "
                 "unset."),
]


def register_opts(conf):
    conf.register_group(upgrade_levels_group)
    conf.register_opts(opts, group=upgrade_levels_group)


def list_opts():
    return {upgrade_levels_group: opts}

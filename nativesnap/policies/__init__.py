"""Policy defaults in code; a policy file only needs to hold what an operator changes."""

import itertools

from nativesnap.policies import assisted_volume_snapshots
from nativesnap.policies import baremetal_nodes
from nativesnap.policies import base
from nativesnap.policies import images
from nativesnap.policies import quota_sets
from nativesnap.policies import servers
from nativesnap.policies import services
from nativesnap.policies import snapshot_policies
from nativesnap.policies import snapshots


def list_rules():
    return list(itertools.chain(base.list_rules(), servers.list_rules(),
                                snapshots.list_rules(), images.list_rules(),
                                assisted_volume_snapshots.list_rules(),
                                baremetal_nodes.list_rules(),
                                services.list_rules(),
                                snapshot_policies.list_rules(),
                                quota_sets.list_rules()))

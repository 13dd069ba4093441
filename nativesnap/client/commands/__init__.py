"""The CLI's commands: one table, used by ``nativesnap`` directly and mirrored
by setup.cfg's ``openstack.native.v1`` entry points (``openstack native ...``);
a unit test keeps the two equal."""

from nativesnap.client.commands import baremetal_nodes
from nativesnap.client.commands import images
from nativesnap.client.commands import policies
from nativesnap.client.commands import quotas
from nativesnap.client.commands import servers
from nativesnap.client.commands import services
from nativesnap.client.commands import snapshots

#: command name -> class
COMMANDS = {
    "server list": servers.ListServer,
    "server show": servers.ShowServer,
    "server adopt": servers.AdoptServer,
    "server delete": servers.DeleteServer,
    "server spawn": servers.SpawnServer,
    "server revert": servers.RevertServer,
    "server abort-snapshot": servers.AbortSnapshotServer,
    "server retry-snapshot": servers.RetrySnapshotServer,
    "server add policy": policies.AddPolicyServer,
    "server remove policy": policies.RemovePolicyServer,
    "server policy list": policies.ListPolicyServer,
    "snapshot create": snapshots.CreateSnapshot,
    "snapshot list": snapshots.ListSnapshot,
    "snapshot show": snapshots.ShowSnapshot,
    "snapshot delete": snapshots.DeleteSnapshot,
    "snapshot export": snapshots.ExportSnapshot,
    "image list": images.ListImage,
    "image show": images.ShowImage,
    "image delete": images.DeleteImage,
    "baremetal node create": baremetal_nodes.CreateBaremetalNode,
    "baremetal node list": baremetal_nodes.ListBaremetalNode,
    "baremetal node show": baremetal_nodes.ShowBaremetalNode,
    "baremetal node delete": baremetal_nodes.DeleteBaremetalNode,
    "service list": services.ListService,
    "service set": services.SetService,
    "policy create": policies.CreatePolicy,
    "policy list": policies.ListPolicy,
    "policy show": policies.ShowPolicy,
    "policy set": policies.SetPolicy,
    "policy delete": policies.DeletePolicy,
    "policy prune": policies.PrunePolicy,
    "quota show": quotas.ShowQuota,
    "quota set": quotas.SetQuota,
    "quota delete": quotas.DeleteQuota,
}

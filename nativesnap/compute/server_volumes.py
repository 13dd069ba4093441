"""Server snapshots that include the server's Cinder volumes.

Cinder must know of every snapshot of its volumes, or it loses track of the
volume's chain. So, before the driver freezes the guest, a snapshot record is
made in Cinder for each attached file-based volume (status ``creating``); the
driver snapshots the server's disks and those volumes in one freeze window,
naming each volume's new file after Cinder's snapshot; then each record is
finalised ``available`` (or ``error``) through Cinder's status update, the
same call Cinder's own assisted-snapshot flow ends with.

Cinder's snapshot ids are saved on the nativesnap snapshot *before* the
freeze, so start-up recovery can finalise them whichever way a crash went.

The calls are made for the snapshot's request context: with Keystone, the
user's token, so Cinder's records belong to the user's project; recovery has
no user and uses the service's credentials (docs/cinder.md).
"""

from oslo_log import log as logging

from nativesnap import exception

LOG = logging.getLogger(__name__)

AVAILABLE = "available"
ERROR = "error"


def make_cinder_snapshots(volume_api, driver, server, snapshot, context=None):
    """One Cinder snapshot record per attached volume; saved on ``snapshot``."""
    volumes = []
    try:
        for volume_id in driver.attached_volume_ids(server):
            made = volume_api.create_snapshot(
                server.project_id, volume_id, name=snapshot.name,
                description=f"Part of nativesnap snapshot {snapshot.id} of "
                            f"server {server.id}",
                metadata={"nativesnap_snapshot_id": snapshot.id,
                          "nativesnap_server_id": server.id},
                context=context)
            volumes.append({"volume_id": volume_id, "snapshot_id": made["id"]})
    except Exception:
        finalise(volume_api, server.project_id, volumes, ERROR, context=context)
        raise
    snapshot.volumes = volumes
    snapshot.save()
    return volumes


def finalise(volume_api, project_id, volumes, status, context=None):
    """Tell Cinder how each volume snapshot ended. A failed call is logged,
    never raised: the server snapshot's own outcome is already decided, and
    Cinder's record can be fixed with `cinder snapshot-reset-state`."""
    failed = []
    for volume in volumes or []:
        try:
            volume_api.update_snapshot_status(project_id, volume["snapshot_id"],
                                              status, context=context)
        except exception.NativesnapException as e:
            LOG.error("Could not mark Cinder snapshot %s of volume %s %s: %s",
                      volume["snapshot_id"], volume["volume_id"], status, e)
            failed.append(volume["snapshot_id"])
    return failed

"""Cinder records of a server snapshot's volumes: made before the freeze and
saved on the snapshot, finalised once, a failed call never raised."""

import pytest

from nativesnap import exception
from nativesnap.compute import server_volumes


class FakeCinder:
    def __init__(self, fail_create_after=None, fail_update=False):
        self.made, self.updates = [], []
        self.fail_create_after = fail_create_after
        self.fail_update = fail_update
        self.contexts = []  # the context of each call

    def create_snapshot(self, project_id, volume_id, name, description=None,
                        metadata=None, context=None):
        self.contexts.append(context)
        if self.fail_create_after is not None and \
                len(self.made) >= self.fail_create_after:
            raise exception.NativesnapException("cinder says no")
        self.made.append((project_id, volume_id, metadata["nativesnap_snapshot_id"]))
        return {"id": f"cs-{volume_id}", "status": "creating"}

    def update_snapshot_status(self, project_id, snapshot_id, status, progress=None,
                               context=None):
        self.contexts.append(context)
        if self.fail_update:
            raise exception.NativesnapException("unreachable")
        self.updates.append((project_id, snapshot_id, status))


class Driver:
    def attached_volume_ids(self, server):
        return ["v1", "v2"]


class Record:
    id, name = "snap-1", "s"
    volumes = None
    saved = 0

    def save(self):
        self.saved += 1


class Server:
    id, project_id = "srv-1", "proj"


def test_a_cinder_snapshot_per_volume_is_saved_on_the_snapshot_before_the_driver_runs():
    cinder, record = FakeCinder(), Record()
    server_volumes.make_cinder_snapshots(cinder, Driver(), Server(), record)
    assert cinder.made == [("proj", "v1", "snap-1"), ("proj", "v2", "snap-1")]
    assert record.volumes == [{"volume_id": "v1", "snapshot_id": "cs-v1"},
                              {"volume_id": "v2", "snapshot_id": "cs-v2"}]
    assert record.saved == 1


def test_a_failed_cinder_create_marks_the_records_already_made_error():
    cinder, record = FakeCinder(fail_create_after=1), Record()
    with pytest.raises(exception.NativesnapException):
        server_volumes.make_cinder_snapshots(cinder, Driver(), Server(), record)
    assert cinder.updates == [("proj", "cs-v1", "error")]
    assert record.saved == 0


def test_finalise_reports_failed_calls_without_raising():
    volumes = [{"volume_id": "v1", "snapshot_id": "cs-v1"}]
    assert server_volumes.finalise(FakeCinder(fail_update=True), "proj", volumes,
                                   "available") == ["cs-v1"]
    cinder = FakeCinder()
    assert server_volumes.finalise(cinder, "proj", volumes, "available") == []
    assert cinder.updates == [("proj", "cs-v1", "available")]


def test_every_cinder_call_is_made_for_the_snapshots_request_context():
    """With Keystone, the user's token: the records are the user's."""
    request = object()
    cinder = FakeCinder(fail_create_after=1)
    with pytest.raises(exception.NativesnapException):
        server_volumes.make_cinder_snapshots(cinder, Driver(), Server(), Record(),
                                             context=request)
    server_volumes.finalise(cinder, "proj", [{"volume_id": "v1",
                                              "snapshot_id": "cs-v1"}],
                            "available", context=request)
    assert len(cinder.contexts) == 4  # two creates, two updates
    assert all(c is request for c in cinder.contexts)

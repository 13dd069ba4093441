"""The database API on sqlite and on real PostgreSQL: CRUD, compare-and-swap
saves, pagination, and sqlite's WAL mode."""

import datetime
import threading

from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import pytest
import sqlalchemy as sa

from nativesnap.common import states
from nativesnap import context as ns_context
from nativesnap.db import api as db
from nativesnap import exception
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from tests import fixtures


def ctx():
    # One context per thread of work: a context carries its transaction.
    return ns_context.get_admin_context()


def make_server(context, **values):
    row = {"id": uuidutils.generate_uuid(), "name": "vm", "project_id": "p1",
           "driver": "fake", "hypervisor_ref": "ref-" + uuidutils.generate_uuid(),
           "host": "host-a", "status": states.ACTIVE, "origin": states.ADOPTED,
           "linked": False, "capabilities": {}, "driver_info": {}}
    row.update(values)
    return db.server_create(context, row)


def make_snapshot(context, server_id, **values):
    row = {"id": uuidutils.generate_uuid(), "server_id": server_id,
           "project_id": "p1", "name": "snap", "status": states.CREATING,
           "progress": 0, "memory": False, "quiesce": states.QUIESCE_PREFERRED,
           "include_volumes": False, "volumes": [], "disks": [],
           "driver_info": {}}
    row.update(values)
    return db.snapshot_create(context, row)


# --- CRUD ---------------------------------------------------------------------


def test_server_create_get_update_destroy(database):
    context = ctx()
    created = make_server(context, name="web", capabilities={"memory": True},
                          fault=None)
    got = db.server_get(context, created["id"])
    assert got["name"] == "web"
    assert got["capabilities"] == {"memory": True}
    assert got["fault"] is None
    assert got["created_at"] is not None
    updated = db.server_update(context, created["id"], {"name": "web2",
                                                        "fault": {"code": 1}})
    assert updated["name"] == "web2"
    assert db.server_get(context, created["id"])["fault"] == {"code": 1}
    assert updated["updated_at"] is not None
    db.server_destroy(context, created["id"])
    with pytest.raises(exception.ServerNotFound) as info:
        db.server_get(context, created["id"])
    assert info.value.code == 404


def test_server_get_and_destroy_of_unknown_id_raise_not_found(database):
    missing = uuidutils.generate_uuid()
    with pytest.raises(exception.ServerNotFound):
        db.server_get(ctx(), missing)
    with pytest.raises(exception.ServerNotFound):
        db.server_destroy(ctx(), missing)
    with pytest.raises(exception.ServerNotFound):
        db.server_update(ctx(), missing, {"name": "x"})


def test_same_hypervisor_object_adopted_twice_raises_already_adopted(database):
    context = ctx()
    first = make_server(context, hypervisor_ref="dom-1")
    with pytest.raises(exception.AlreadyAdopted) as info:
        make_server(context, hypervisor_ref="dom-1")
    assert first["id"] in str(info.value)
    assert info.value.code == 409
    # Same reference on another host is another object.
    make_server(context, hypervisor_ref="dom-1", host="host-b")


def test_find_by_ref_finds_the_one_server_of_driver_host_and_ref(database):
    context = ctx()
    row = make_server(context, hypervisor_ref="dom-7")
    assert db.server_find_by_ref(context, "fake", "host-a", "dom-7")["id"] == row["id"]
    assert db.server_find_by_ref(context, "fake", "host-b", "dom-7") is None


def test_server_destroy_removes_its_snapshots_and_keeps_its_images(database):
    context = ctx()
    server = make_server(context)
    other = make_server(context)
    snap = make_snapshot(context, server["id"])
    kept = make_snapshot(context, other["id"])
    db.image_create(context, {
        "id": uuidutils.generate_uuid(), "snapshot_id": snap["id"],
        "project_id": "p1", "name": "img", "disk_format": "qcow2",
        "status": states.IMAGE_SAVING, "progress": 0})
    db.server_destroy(context, server["id"])
    with pytest.raises(exception.SnapshotNotFound):
        db.snapshot_get(context, snap["id"])
    # An image outlives its snapshot and server (docs/images.md).
    [image] = db.image_get_all_by_snapshots(context, [snap["id"]])
    assert image["name"] == "img"
    assert db.snapshot_get(context, kept["id"])["id"] == kept["id"]


def test_snapshot_create_get_update_destroy(database):
    context = ctx()
    server = make_server(context)
    snap = make_snapshot(context, server["id"], name="s1",
                         disks=[{"target": "vda", "file": "a.qcow2"}],
                         size_bytes=2 ** 40)
    got = db.snapshot_get(context, snap["id"])
    assert got["disks"] == [{"target": "vda", "file": "a.qcow2"}]
    assert got["size_bytes"] == 2 ** 40  # BigInteger: sizes past 2 GiB fit
    assert got["fault"] is None
    db.snapshot_update(context, snap["id"], {"progress": 50})
    assert db.snapshot_get(context, snap["id"])["progress"] == 50
    db.snapshot_destroy(context, snap["id"])
    with pytest.raises(exception.SnapshotNotFound):
        db.snapshot_get(context, snap["id"])
    with pytest.raises(exception.SnapshotNotFound):
        db.snapshot_destroy(context, snap["id"])


def test_snapshot_of_unknown_server_is_refused_by_the_foreign_key(database):
    with pytest.raises(db_exc.DBReferenceError):
        make_snapshot(ctx(), uuidutils.generate_uuid())


def test_snapshot_reparent_and_children(database):
    context = ctx()
    server = make_server(context)
    root = make_snapshot(context, server["id"])
    mid = make_snapshot(context, server["id"], parent_id=root["id"])
    leaves = [make_snapshot(context, server["id"], parent_id=mid["id"])
              for _ in range(2)]
    assert {r["id"] for r in db.snapshot_children(context, mid["id"])} == {
        leaf["id"] for leaf in leaves}
    db.snapshot_reparent(context, server["id"], mid["id"], root["id"])
    assert db.snapshot_children(context, mid["id"]) == []
    assert {r["id"] for r in db.snapshot_children(context, root["id"])} == {
        mid["id"]} | {leaf["id"] for leaf in leaves}


def test_image_create_update_and_lookups(database):
    context = ctx()
    server = make_server(context)
    snap = make_snapshot(context, server["id"])
    image = db.image_create(context, {
        "id": uuidutils.generate_uuid(), "snapshot_id": snap["id"],
        "project_id": "p1", "name": "img", "disk_format": "qcow2",
        "status": states.IMAGE_SAVING, "progress": 0})
    assert [r["id"] for r in db.image_get_by_status(
        context, [states.IMAGE_SAVING])] == [image["id"]]
    done = db.image_update(context, image["id"], {
        "status": states.IMAGE_ACTIVE, "sha256": "0" * 64, "size_bytes": 3})
    assert (done["status"], done["sha256"], done["size_bytes"]) == (
        states.IMAGE_ACTIVE, "0" * 64, 3)
    assert db.image_get_by_status(context, [states.IMAGE_SAVING]) == []
    with pytest.raises(exception.ImageNotFound):
        db.image_update(context, uuidutils.generate_uuid(), {"name": "x"})


def test_linked_and_spawning_servers_are_dependents_of_their_snapshot(database):
    context = ctx()
    source = make_server(context)
    snap = make_snapshot(context, source["id"], status=states.AVAILABLE)
    linked = make_server(context, origin=states.SPAWNED, linked=True,
                         source_snapshot_id=snap["id"])
    spawning = make_server(context, origin=states.SPAWNED, linked=False,
                           source_snapshot_id=snap["id"],
                           task_state=states.SPAWNING)
    make_server(context, origin=states.SPAWNED, linked=False,
                source_snapshot_id=snap["id"])  # a full copy: independent
    assert {r["id"] for r in db.server_get_dependents(context, [snap["id"]])} == {
        linked["id"], spawning["id"]}
    assert db.server_get_dependents(context, []) == []


# --- compare-and-swap ------------------------------------------------------------


def test_begin_task_on_busy_server_raises_server_busy_naming_the_task(database):
    context = ctx()
    row = make_server(context)
    first = server_obj.Server.get_by_id(context, row["id"])
    first.begin_task(states.SNAPSHOTTING, uuidutils.generate_uuid())
    second = server_obj.Server.get_by_id(ctx(), row["id"])
    second_task = uuidutils.generate_uuid()
    # The second caller's view is stale: it still believes the server is idle.
    second.task_state = None
    second.obj_reset_changes()
    with pytest.raises(exception.ServerBusy) as info:
        second.begin_task(states.REVERTING, second_task)
    assert info.value.code == 409
    assert "snapshotting" in str(info.value)
    assert row["id"] in str(info.value)
    now = db.server_get(context, row["id"])
    assert now["task_state"] == states.SNAPSHOTTING
    assert now["task_id"] == first.task_id


def test_end_task_with_wrong_task_id_raises_conflict_and_changes_nothing(database):
    context = ctx()
    row = make_server(context)
    server = server_obj.Server.get_by_id(context, row["id"])
    task_id = uuidutils.generate_uuid()
    server.begin_task(states.EXPORTING, task_id)
    before = db.server_get(context, row["id"])
    stale = server_obj.Server.get_by_id(ctx(), row["id"])
    with pytest.raises(exception.Conflict) as info:
        stale.end_task(states.EXPORTING, uuidutils.generate_uuid(),
                       status=states.SERVER_ERROR, name="changed")
    assert info.value.code == 409
    assert db.server_get(context, row["id"]) == before
    # The task that holds the lock releases it.
    server.end_task(states.EXPORTING, task_id, status=states.SHUTOFF)
    after = db.server_get(context, row["id"])
    assert (after["task_state"], after["task_id"], after["task_target_id"],
            after["task_started_at"], after["status"]) == (
        None, None, None, None, states.SHUTOFF)


def test_end_task_with_wrong_task_state_raises_conflict_and_changes_nothing(
        database):
    context = ctx()
    row = make_server(context)
    server = server_obj.Server.get_by_id(context, row["id"])
    task_id = uuidutils.generate_uuid()
    server.begin_task(states.REVERTING, task_id)
    before = db.server_get(context, row["id"])
    with pytest.raises(exception.UnexpectedTaskState):
        server_obj.Server.get_by_id(ctx(), row["id"]).end_task(
            states.SNAPSHOTTING, task_id)
    assert db.server_get(context, row["id"]) == before


def test_plain_save_of_a_busy_server_is_refused(database):
    context = ctx()
    row = make_server(context)
    server_obj.Server.get_by_id(context, row["id"]).begin_task(
        states.SPAWNING, uuidutils.generate_uuid())
    other = server_obj.Server.get_by_id(ctx(), row["id"])
    other.name = "renamed"
    with pytest.raises(exception.ServerBusy):
        other.save()
    assert db.server_get(context, row["id"])["name"] == "vm"


def test_two_threads_racing_begin_task_exactly_one_wins(database):
    row = make_server(ctx())
    for round_ in range(8):
        barrier = threading.Barrier(2)
        results = [None, None]

        def race(i):
            context = ctx()
            server = server_obj.Server.get_by_id(context, row["id"])
            task_id = uuidutils.generate_uuid()
            barrier.wait(timeout=10)
            try:
                server.begin_task(states.SNAPSHOTTING, task_id)
                results[i] = ("won", task_id)
            except exception.ServerBusy as e:
                results[i] = ("busy", str(e))
            except Exception as e:  # noqa: BLE001 - reported by the assert
                results[i] = ("error", repr(e))

        threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        outcomes = sorted(r[0] for r in results)
        assert outcomes == ["busy", "won"], f"round {round_}: {results}"
        winner = next(r[1] for r in results if r[0] == "won")
        assert db.server_get(ctx(), row["id"])["task_id"] == winner
        server_obj.Server.get_by_id(ctx(), row["id"]).end_task(
            states.SNAPSHOTTING, winner)


def test_snapshot_transition_with_stale_status_fails_and_keeps_the_winner(
        database):
    context = ctx()
    server = make_server(context)
    row = make_snapshot(context, server["id"])
    winner = snapshot_obj.ServerSnapshot.get_by_id(ctx(), row["id"])
    loser = snapshot_obj.ServerSnapshot.get_by_id(ctx(), row["id"])
    winner.transition(states.CREATE_DONE, progress=100)
    with pytest.raises(exception.UnexpectedStatus) as info:
        loser.transition(states.CREATE_FAILED, fault={"code": 500, "message": "x"})
    assert info.value.code == 409
    now = db.snapshot_get(context, row["id"])
    assert (now["status"], now["fault"], now["progress"]) == (
        states.AVAILABLE, None, 100)


def test_snapshot_removal_with_stale_status_fails_and_keeps_the_row(database):
    context = ctx()
    server = make_server(context)
    row = make_snapshot(context, server["id"], status=states.DELETING)
    stale = snapshot_obj.ServerSnapshot.get_by_id(ctx(), row["id"])
    db.snapshot_update(context, row["id"], {"status": states.ERROR_DELETING},
                       expected_status=states.DELETING)
    with pytest.raises(exception.UnexpectedStatus):
        stale.transition(states.DELETE_DONE)
    assert db.snapshot_get(context, row["id"])["status"] == states.ERROR_DELETING


# --- pagination ----------------------------------------------------------------

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0)


def _page_all(fetch, limit):
    seen, marker = [], None
    for _ in range(1000):
        page = fetch(limit=limit, marker=marker)
        assert len(page) <= limit
        seen.extend(page)
        if len(page) < limit:
            return seen
        marker = page[-1]["id"]
    raise AssertionError("pagination did not end")


def test_snapshot_pages_return_every_row_exactly_once_in_order(database):
    context = ctx()
    server = make_server(context)
    other = make_server(context)
    rows = [make_snapshot(context, server["id"], name=f"s{i % 4}",
                          created_at=T0 + datetime.timedelta(seconds=i % 3))
            for i in range(23)]  # many rows share a created_at and a name
    make_snapshot(context, other["id"])  # another server's: never listed

    for sort_key in ("created_at", "name", "id"):
        for sort_dir in ("asc", "desc"):
            def fetch(limit, marker):
                return db.snapshot_get_all(context, server_id=server["id"],
                                           sort_key=sort_key, sort_dir=sort_dir,
                                           limit=limit, marker=marker)

            where = f"sort_key={sort_key} sort_dir={sort_dir}"
            seen = _page_all(fetch, limit=5)
            ids = [r["id"] for r in seen]
            assert len(ids) == len(set(ids)) == 23, where
            assert set(ids) == {r["id"] for r in rows}, where
            key = (lambda r: r["id"]) if sort_key == "id" else (
                lambda r: (r[sort_key], r["id"]))
            assert seen == sorted(seen, key=key, reverse=sort_dir == "desc"), where
            assert [r["id"] for r in fetch(limit=None, marker=None)] == ids, where


def test_server_pages_return_every_row_exactly_once_in_both_directions(database):
    context = ctx()
    rows = [make_server(context, created_at=T0 + datetime.timedelta(seconds=i % 2))
            for i in range(17)]
    for sort_dir in ("asc", "desc"):
        def fetch(limit, marker):
            return db.server_get_all(context, sort_key="created_at",
                                     sort_dir=sort_dir, limit=limit, marker=marker)

        seen = _page_all(fetch, limit=4)
        ids = [r["id"] for r in seen]
        assert len(ids) == len(set(ids)) == 17, sort_dir
        assert set(ids) == {r["id"] for r in rows}, sort_dir
        assert seen == sorted(seen, key=lambda r: (r["created_at"], r["id"]),
                              reverse=sort_dir == "desc"), sort_dir


def test_unknown_marker_and_sort_key_are_refused_with_400(database):
    context = ctx()
    server = make_server(context)
    with pytest.raises(exception.InvalidMarker) as info:
        db.snapshot_get_all(context, server_id=server["id"],
                            marker=uuidutils.generate_uuid())
    assert info.value.code == 400
    with pytest.raises(exception.InvalidSortKey) as info:
        db.snapshot_get_all(context, sort_key="project_id")
    assert "created_at" in str(info.value)
    with pytest.raises(exception.InvalidSortKey):
        db.server_get_all(context, sort_key="hypervisor_ref")


def test_marker_of_another_servers_snapshot_is_refused(database):
    context = ctx()
    mine, theirs = make_server(context), make_server(context)
    foreign = make_snapshot(context, theirs["id"])
    make_snapshot(context, mine["id"])
    with pytest.raises(exception.InvalidMarker):
        db.snapshot_get_all(context, server_id=mine["id"], marker=foreign["id"])


def test_busy_servers_and_in_flight_snapshots_are_found_per_host(database):
    context = ctx()
    busy = make_server(context, task_state=states.SNAPSHOTTING)
    make_server(context)
    elsewhere = make_server(context, host="host-b", task_state=states.REVERTING)
    creating = make_snapshot(context, busy["id"])
    make_snapshot(context, busy["id"], status=states.AVAILABLE)
    make_snapshot(context, elsewhere["id"])
    assert [r["id"] for r in db.server_get_busy(context, "host-a")] == [busy["id"]]
    assert [r["id"] for r in db.snapshot_get_by_status(
        context, "host-a", [states.CREATING, states.DELETING])] == [creating["id"]]


# --- sqlite specifics --------------------------------------------------------------


def test_sqlite_runs_in_wal_mode_with_busy_timeout_and_foreign_keys(tmp_path):
    db.configure(fixtures.sqlite_url(str(tmp_path)))
    try:
        engine = db.get_engine()
        assert engine.dialect.name == "sqlite"
        for _ in range(2):  # every pooled connection, not only the first
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with db.reader(ctx()) as session:
            assert session.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        db.dispose()

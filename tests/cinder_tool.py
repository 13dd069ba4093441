"""Rows in the test Cinder's database, made and read through Cinder's own object layer.

Run by ``tests/cinder_fixtures.py`` as a separate process (the venv's python)::

    python -m tests.cinder_tool --config-file <cinder.conf>

Cinder's global oslo.config CONF must be loaded with the test Cinder's
cinder.conf for ``cinder.objects`` to reach its database; doing that in the test
process would mix it with nativesnap's CONF, so it happens here. The process
reads one JSON request per line on stdin, ``{"op": ..., "args": {...}}``, and
answers one JSON line on stdout, ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "..."}``; it ends at end of input.
"""

import argparse
import datetime
import json
import sys
import traceback
import uuid

# The volume "host" (backend) of every test volume: Cinder refuses to snapshot
# a volume that was never scheduled to a host.
TEST_VOLUME_HOST = "nativesnap-test@nfs#nfs"
TEST_USER_ID = "nativesnap-test"


def _load_cinder(config_file):
    from oslo_config import cfg

    from cinder.common import config  # noqa: F401 - registers Cinder's options
    from cinder import objects
    from cinder import version

    objects.register_all()
    cfg.CONF(["--config-file", config_file], project="cinder",
             version=version.version_string())


def _plain(obj):
    """The object's scalar fields as JSON values (nested objects left out)."""
    out = {}
    for name in obj.fields:
        if not obj.obj_attr_is_set(name):
            continue
        value = getattr(obj, name)
        if isinstance(value, datetime.datetime):
            value = value.isoformat()
        if value is None or isinstance(value, (str, int, float, bool)):
            out[name] = value
    return out


def _create_with_id(obj, wanted_id):
    """``obj.create()``, with ``wanted_id`` as the new row's id when given.

    Cinder's ``create()`` refuses an object whose id is already set (ids come
    from its database layer), but the tests need known ids (a volume's id is the
    ``<serial>`` of the guest disk that holds it); the id is therefore added to
    the changes ``create()`` hands to the database layer.
    """
    if wanted_id:
        changes = obj.cinder_obj_get_changes

        def changes_with_id():
            return dict(changes(), id=wanted_id)

        obj.cinder_obj_get_changes = changes_with_id
    obj.create()
    return obj


def create_volume(ctx, size_gb=1, status="in-use", volume_id=None, project_id=None):
    from cinder import objects

    volume = objects.Volume(
        ctx, size=size_gb, status=status,
        attach_status="attached" if status == "in-use" else "detached",
        host=TEST_VOLUME_HOST, availability_zone="nova",
        project_id=project_id, user_id=TEST_USER_ID,
        display_name="nativesnap-test-volume")
    return _plain(_create_with_id(volume, volume_id or str(uuid.uuid4())))


def create_snapshot(ctx, volume_id, status="creating", snapshot_id=None,
                    progress=None, project_id=None):
    from cinder import objects

    volume = objects.Volume.get_by_id(ctx, volume_id)
    snapshot = objects.Snapshot(
        ctx, volume_id=volume.id, status=status, progress=progress,
        project_id=project_id or volume.project_id, user_id=TEST_USER_ID,
        volume_size=volume.size, volume_type_id=volume.volume_type_id,
        display_name="nativesnap-test-snapshot")
    return _plain(_create_with_id(snapshot, snapshot_id or str(uuid.uuid4())))


def show_volume(ctx, volume_id):
    from cinder import objects

    return _plain(objects.Volume.get_by_id(ctx, volume_id))


def show_snapshot(ctx, snapshot_id):
    from cinder import objects

    return _plain(objects.Snapshot.get_by_id(ctx, snapshot_id))


OPS = {
    "create_volume": create_volume,
    "create_snapshot": create_snapshot,
    "show_volume": show_volume,
    "show_snapshot": show_snapshot,
}


def serve(stdin, stdout):
    from cinder import context

    ctx = context.get_admin_context()
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            result = OPS[request["op"]](ctx, **request.get("args", {}))
            answer = {"ok": True, "result": result}
        except Exception as exc:  # every failure goes back to the test, in full
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                      "trace": traceback.format_exc()}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True, help="the test Cinder's cinder.conf")
    args = parser.parse_args(argv)
    _load_cinder(args.config_file)
    # Cinder's modules may print; the answers alone go to the real stdout.
    answers = sys.stdout
    sys.stdout = sys.stderr
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()

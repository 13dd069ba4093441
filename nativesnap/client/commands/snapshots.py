"""``snapshot create|list|show|delete|export``."""

from nativesnap.client.commands import base
from nativesnap.client import exceptions
from nativesnap.client import resource as res

SORT_KEYS = ("created_at", "updated_at", "name", "status", "id")

LIST_COLUMNS = (("ID", "id"), ("Name", "name"), ("Server ID", "server_id"),
                ("Status", "status"), ("Progress", "progress"),
                ("Kind", "kind"), ("Consistency", "consistency"),
                ("Current", "is_current"), ("Created At", "created_at"))
LONG_COLUMNS = LIST_COLUMNS + (("Memory", "memory"), ("Quiesce", "quiesce"),
                               ("Parent ID", "parent_id"),
                               ("Size Bytes", "size_bytes"),
                               ("Frozen ms", "frozen_ms"),
                               ("Paused ms", "paused_ms"),
                               ("Project ID", "project_id"))


def _show(snapshot):
    return base.show_columns(snapshot, res.Snapshot.fields_1_2)


def add_queue_argument(parser, what):
    """--queue: on a busy server, wait in its queue instead of HTTP 409."""
    parser.add_argument(
        "--queue", action="store_true",
        help="If the server is busy with another task, wait in its queue "
             "(in order, for at most the service's [scheduler] queue_wait) "
             f"to be {what}, instead of failing with HTTP 409. Needs "
             "microversion 1.2.")


def _add_server_option(parser, required=False):
    parser.add_argument(
        "--server", metavar="SERVER", required=required,
        help="The snapshot's server (name or ID)." + (
            "" if required else " Without it the snapshot is looked up among "
                                "all of yours."))


class _SnapshotCommand:
    def find_snapshot(self, parsed_args, name_or_id):
        server = (self.find_server(parsed_args.server)
                  if parsed_args.server else None)
        return self.client.find_snapshot(name_or_id, server=server)


class CreateSnapshot(base.ShowOne):
    """Snapshot a server.

    The snapshot answers 'creating' at once and becomes 'available' (or
    'error', with a fault saying why) when the hypervisor is done; with
    --queue on a busy server, 'queued' until its turn.
    """

    _epilog = """examples:
  nativesnap snapshot create --server web1 before-upgrade --wait
  nativesnap snapshot create --server web1 with-ram --memory --quiesce off
  nativesnap snapshot create --server web1 nightly -f value -c id
  nativesnap snapshot create --server web1 after-revert --queue --wait
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="NAME",
                            help="Name of the snapshot.")
        _add_server_option(parser, required=True)
        parser.add_argument("--description", metavar="TEXT",
                            help="A description.")
        parser.add_argument("--memory", action="store_true",
                            help="Save RAM and device state too.")
        parser.add_argument("--quiesce", metavar="MODE",
                            help="required, preferred (default) or off: freeze "
                                 "the guest's filesystems through its agent.")
        parser.add_argument("--kind", metavar="KIND",
                            help="internal or external (default: the "
                                 "driver's choice).")
        parser.add_argument("--include-volumes", action="store_true",
                            help="Snapshot the server's file-based volumes in "
                                 "the same freeze window.")
        add_queue_argument(parser, "taken")
        self.add_wait_arguments(parser, "the snapshot is available")
        return parser

    def take_action(self, parsed_args):
        server = self.find_server(parsed_args.server)
        snapshot = self.client.create_snapshot(
            server, parsed_args.name, description=parsed_args.description,
            memory=True if parsed_args.memory else None,
            quiesce=parsed_args.quiesce, kind=parsed_args.kind,
            include_volumes=True if parsed_args.include_volumes else None,
            queue=True if parsed_args.queue else None)
        if parsed_args.wait:
            snapshot = self.wait(
                parsed_args, f"Creating snapshot {snapshot.name}",
                lambda **kw: self.client.wait_for_status(
                    snapshot, "available", failures=("error",), **kw))
        return _show(snapshot)


class ListSnapshot(base.Lister):
    """List snapshots: a server's, or every one you may see."""

    _epilog = """examples:
  nativesnap snapshot list
  nativesnap snapshot list --server web1 -f json
  nativesnap snapshot list --status available --long
  nativesnap snapshot list --all-projects          # administrators
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--server", metavar="SERVER",
                            help="Only this server's snapshots (name or ID).")
        base.add_list_arguments(
            parser, "Snapshots", "administrators; not with --server",
            ("queued", "creating", "available", "deleting", "error",
             "error_deleting"),
            LIST_COLUMNS, LONG_COLUMNS, SORT_KEYS)
        return parser

    def take_action(self, parsed_args):
        if parsed_args.server and parsed_args.all_projects:
            raise exceptions.ClientException(
                "--all-projects lists every project's snapshots; a server's "
                "are listed with --server alone.")
        server = (self.find_server(parsed_args.server)
                  if parsed_args.server else None)
        snapshots = self.client.snapshots(
            server=server, all_projects=parsed_args.all_projects,
            status=parsed_args.status, limit=parsed_args.limit,
            marker=parsed_args.marker, sort_key=parsed_args.sort_key,
            sort_dir=parsed_args.sort_dir)
        columns = LONG_COLUMNS if parsed_args.long else LIST_COLUMNS
        return base.list_rows(base.limited(snapshots, parsed_args.limit),
                              columns)


class ShowSnapshot(_SnapshotCommand, base.ShowOne):
    """Show a snapshot's details (with its exported images)."""

    _epilog = """examples:
  nativesnap snapshot show before-upgrade
  nativesnap snapshot show --server web1 5d2e...-... -f json
  nativesnap snapshot show before-upgrade -f value -c status
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("snapshot", metavar="SNAPSHOT",
                            help="Snapshot (name or ID).")
        _add_server_option(parser)
        return parser

    def take_action(self, parsed_args):
        return _show(self.find_snapshot(parsed_args, parsed_args.snapshot))


class DeleteSnapshot(_SnapshotCommand, base.Command):
    """Delete snapshots.

    A snapshot is merged away on the hypervisor; it answers 'deleting' and is
    gone when that is done. One that linked clones depend on cannot be
    deleted (the error names them).
    """

    _epilog = """examples:
  nativesnap snapshot delete before-upgrade --wait
  nativesnap snapshot delete --server web1 5d2e...-... 77a1...-...
  nativesnap snapshot delete --server web1 nightly --queue --wait
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("snapshots", metavar="SNAPSHOT", nargs="+",
                            help="Snapshot(s) to delete (name or ID).")
        _add_server_option(parser)
        add_queue_argument(parser, "deleted")
        self.add_wait_arguments(parser, "each snapshot is gone")
        return parser

    def take_action(self, parsed_args):
        self.delete_each(parsed_args.snapshots, "snapshot", "snapshots",
                         lambda ref: self._delete(parsed_args, ref))

    def _delete(self, parsed_args, ref):
        snapshot = self.client.delete_snapshot(
            self.find_snapshot(parsed_args, ref),
            queue=True if parsed_args.queue else None)
        if parsed_args.wait:
            self.wait(parsed_args, f"Deleting snapshot {snapshot.name}",
                      lambda **kw: self.client.wait_for_delete(snapshot, **kw))


class ExportSnapshot(_SnapshotCommand, base.ShowOne):
    """Export a snapshot's disk state as an image into the image store."""

    _epilog = """examples:
  nativesnap snapshot export before-upgrade --image-name web1-golden --wait
  nativesnap snapshot export --server web1 5d2e...-... --image-name g1 \\
      --disk-format qcow2 -f json
  nativesnap snapshot export before-upgrade --image-name web1-golden \\
      --image-ref 8c1f...-... --wait
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("snapshot", metavar="SNAPSHOT",
                            help="Snapshot to export (name or ID).")
        _add_server_option(parser)
        parser.add_argument("--image-name", required=True, metavar="NAME",
                            help="Name of the image.")
        parser.add_argument("--disk-format", metavar="FORMAT",
                            choices=("qcow2", "raw"),
                            help="Disk format of the image: qcow2 (default) "
                                 "or raw (a snapshot of a Ceph RBD disk is "
                                 "then exported by clone, docs/rbd.md).")
        parser.add_argument("--image-ref", metavar="UUID",
                            help="ID of an image you created in the image "
                                 "service (Glance, still queued) to fill "
                                 "instead of creating one; only with "
                                 "[image] backend = glance (docs/images.md).")
        self.add_wait_arguments(parser, "the image is active")
        return parser

    def take_action(self, parsed_args):
        snapshot = self.find_snapshot(parsed_args, parsed_args.snapshot)
        image = self.client.export_snapshot(
            snapshot, parsed_args.image_name,
            disk_format=parsed_args.disk_format,
            image_ref=parsed_args.image_ref)
        if parsed_args.wait:
            image = self.wait(
                parsed_args, f"Exporting snapshot {snapshot.name}",
                lambda **kw: self.client.wait_for_status(
                    image, "active", failures=("error",), **kw))
        return base.show_columns(image, res.Image.fields)

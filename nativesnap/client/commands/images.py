"""``image list|show|delete``: the snapshots exported into the image store."""

from oslo_utils import uuidutils

from nativesnap.client.commands import base
from nativesnap.client import resource as res

SORT_KEYS = ("created_at", "updated_at", "name", "status", "id")
STATUSES = ("saving", "active", "error")

LIST_COLUMNS = (("ID", "id"), ("Name", "name"), ("Status", "status"),
                ("Progress", "progress"), ("Disk Format", "disk_format"),
                ("Size Bytes", "size_bytes"), ("Snapshot ID", "snapshot_id"),
                ("Created At", "created_at"))
LONG_COLUMNS = LIST_COLUMNS + (("Server ID", "server_id"),
                               ("Backend", "backend"),
                               ("Location", "location"), ("SHA256", "sha256"),
                               ("Project ID", "project_id"))


def _show(image):
    return base.show_columns(image, res.Image.fields)


class ListImage(base.Lister):
    """List images exported from snapshots.

    An image stays listed after its snapshot and its server are deleted,
    until it is deleted itself.
    """

    _epilog = """examples:
  nativesnap image list
  nativesnap image list --snapshot before-upgrade --status active -f json
  nativesnap image list --server web1 --long
  nativesnap image list --all-projects             # administrators
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--snapshot", metavar="SNAPSHOT",
                            help="Only images of this snapshot (ID, or the "
                                 "name of a snapshot that still exists).")
        parser.add_argument("--server", metavar="SERVER",
                            help="Only images exported from this server's "
                                 "snapshots (ID, or the name of a server "
                                 "that still exists).")
        base.add_list_arguments(parser, "Images", "administrators", STATUSES,
                                LIST_COLUMNS, LONG_COLUMNS, SORT_KEYS)
        return parser

    def take_action(self, parsed_args):
        server = self._server_ref(parsed_args)
        snapshot = None
        if parsed_args.snapshot:
            snapshot = self.snapshot_ref(parsed_args.snapshot, server=server)
        images = self.client.images(
            all_projects=parsed_args.all_projects, status=parsed_args.status,
            snapshot=snapshot, server=server, limit=parsed_args.limit,
            marker=parsed_args.marker, sort_key=parsed_args.sort_key,
            sort_dir=parsed_args.sort_dir)
        columns = LONG_COLUMNS if parsed_args.long else LIST_COLUMNS
        return base.list_rows(base.limited(images, parsed_args.limit), columns)

    def _server_ref(self, parsed_args):
        """An id as it is (the server may be gone, its images not), or the
        id of the server with that name."""
        ref = parsed_args.server
        if not ref or uuidutils.is_uuid_like(ref):
            return ref
        return self.find_server(ref, all_projects=parsed_args.all_projects).id


class ShowImage(base.ShowOne):
    """Show an image's details."""

    _epilog = """examples:
  nativesnap image show web1-golden
  nativesnap image show 7c41...-... -f json
  nativesnap image show web1-golden -f value -c location
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("image", metavar="IMAGE",
                            help="Image (name or ID).")
        return parser

    def take_action(self, parsed_args):
        return _show(self.client.find_image(parsed_args.image))


class DeleteImage(base.Command):
    """Delete images: from the image store, and their records.

    An image is gone when the command returns. One whose export is still
    saving cannot be deleted yet.
    """

    _epilog = """examples:
  nativesnap image delete web1-golden
  nativesnap image delete 7c41...-... 0e9a...-...
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("images", metavar="IMAGE", nargs="+",
                            help="Image(s) to delete (name or ID).")
        return parser

    def take_action(self, parsed_args):
        self.delete_each(parsed_args.images, "image", "images",
                         lambda ref: self.client.delete_image(
                             self.client.find_image(ref)))

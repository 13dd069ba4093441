"""The local directory image store.

Layout: ``<store_path>/<image_id>.<disk_format>`` for finished images and
``<store_path>/.staging/<image_id>.<disk_format>`` while one is being written,
so a half-written export is never mistaken for an image. File names are made
only of the image's UUID and a disk format from a fixed list; the image's name
is a label in the database and never touches the filesystem.
"""

import os

from oslo_utils import uuidutils

from nativesnap import exception
from nativesnap.image import store
from nativesnap.objects.image import DISK_FORMATS


class LocalImageStore(store.ImageStore):
    backend = "local"
    # nativesnap's records are this store's catalogue: an export by clone
    # stays in Ceph, its location recorded here (docs/rbd.md).
    location_schemes = ("rbd",)

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self._staging = os.path.join(self.path, ".staging")

    def ensure(self):
        os.makedirs(self._staging, mode=0o700, exist_ok=True)

    def _file_name(self, image_id, disk_format):
        if not uuidutils.is_uuid_like(image_id) or disk_format not in DISK_FORMATS:
            raise exception.Invalid(reason="image files are named by UUID and a "
                                           f"disk format in {DISK_FORMATS}")
        return f"{image_id}.{disk_format}"

    def staging_path(self, image_id, disk_format):
        self.ensure()
        return os.path.join(self._staging, self._file_name(image_id, disk_format))

    def final_path(self, image_id, disk_format):
        return os.path.join(self.path, self._file_name(image_id, disk_format))

    # --- the store interface -------------------------------------------------

    def staging(self, image):
        return self.staging_path(image.id, image.disk_format)

    def commit(self, context, image, result, progress, hypervisor=None):
        """Move the finished staging file into place; its location URL."""
        final = self.final_path(image.id, image.disk_format)
        os.replace(self.staging(image), final)
        os.chmod(final, 0o600)
        return "file://" + final

    def discard(self, context, image):
        for path in (self.staging(image),
                     self.final_path(image.id, image.disk_format)):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return image.store_ref

    def delete(self, context, image):
        self.discard(context, image)

    def add_location(self, context, image, url, metadata=None, hypervisor=None):
        """The clone at ``url`` is the image: its location is the URL."""
        return url

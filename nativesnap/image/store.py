"""The image store interface: where exported snapshots are kept.

A driver writes an export to a local file (``staging``); the store then makes
it an image (``commit``): the local store renames it into its directory, the
Glance store uploads it to Glance in chunks and checks Glance's checksum
against the one computed while reading. What a failed or interrupted export
left behind — a staging file, an image half-made in the store — is removed
by ``discard``; ``delete`` removes a finished image. A store whose storage a
hypervisor can write directly can also be told where an image's data
already is (``add_location``), so no data crosses the host: the local store
records a Ceph RBD clone's ``rbd://`` location in nativesnap's own catalogue. ``[image] backend`` chooses the store (docs/images.md).
"""

import abc

from nativesnap import exception


class ImageStore(metaclass=abc.ABCMeta):
    #: ``Image.backend`` of the images this store keeps
    backend = None
    #: True when ``commit`` moves the data (an upload): export progress is
    #: then shared between the driver's copy and the store's upload.
    uploads = False
    #: Schemes of locations in a hypervisor's storage this store can record
    #: as an image (``add_location``): a driver may then export by clone
    #: (docs/rbd.md) instead of writing a file.
    location_schemes = ()

    def ensure(self):
        """Prepare the store at start-up (directories, a client)."""

    def validate_export(self, context, project_id, disk_format, image_ref):
        """Refuse (400/404) an export the store cannot take, before anything
        is recorded; ``image_ref``: an image the caller made for it, which
        must belong to ``project_id`` (the snapshot's)."""
        if image_ref is not None:
            raise exception.Invalid(
                reason=f"image_ref names an image of an image service; the "
                       f"{self.backend} image store has none ([image] backend)")

    def assign(self, image):
        """Name, in ``image.store_ref``, what the store will make for it, so
        that it can be found and removed after a crash (the caller saves)."""

    @abc.abstractmethod
    def staging(self, image):
        """The local file a driver writes ``image``'s export to."""

    @abc.abstractmethod
    def commit(self, context, image, result, progress, hypervisor=None):
        """Make the staged export an image of this store; its location.
        ``result``: the driver's ExportResult (size, sha256); ``hypervisor``:
        the driver that made it (recorded where the store keeps metadata)."""

    @abc.abstractmethod
    def discard(self, context, image):
        """Remove what an export that failed or was interrupted left; the
        ``store_ref`` its record keeps afterwards. Raises when the store
        cannot be reached (``pending_discard`` stays true)."""

    def pending_discard(self, image):
        """Whether a failed export may still have left something that
        ``discard`` removes (the compute service tries again)."""
        return False

    @abc.abstractmethod
    def delete(self, context, image):
        """Remove a finished image from the store."""

    def add_location(self, context, image, url, metadata=None, hypervisor=None):
        """Make data already in the store's storage at ``url`` the image."""
        raise exception.UnsupportedOperation(
            driver=f"{self.backend} image store", verb="add_location")


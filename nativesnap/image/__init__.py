"""Image stores: where exported snapshots are kept (docs/images.md)."""

from nativesnap.conf import CONF


def load_store():
    """The store ``[image] backend`` names (image/store.py's interface)."""
    if CONF.image.backend == "glance":
        from nativesnap.image import glance
        return glance.GlanceImageStore()
    from nativesnap.image import local
    return local.LocalImageStore(CONF.image.store_path)

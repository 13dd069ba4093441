"""Image stores: where exported snapshots are kept (docs/images.md)."""

from nativesnap.conf import CONF


def load_store(backend=None):
    """The store ``backend`` names, by default ``[image] backend``'s
    (image/store.py's interface)."""
    backend = backend or CONF.image.backend
    if backend == "glance":
        from nativesnap.image import glance
        return glance.GlanceImageStore(CONF, CONF.image.store_path)
    if backend == "local":
        from nativesnap.image import local
        return local.LocalImageStore(CONF.image.store_path)
    raise ValueError(f"unknown image store backend {backend!r}")

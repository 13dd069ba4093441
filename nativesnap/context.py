"""The request context passed from the API through the manager to the drivers.

Besides who asked, it carries what nativesnap needs to call Cinder and Glance
as that user (docs/cinder.md, docs/images.md): the user's token (oslo.context's
``auth_token``) and the service catalog keystonemiddleware puts in the
``X-Service-Catalog`` header. Both travel with the context over RPC, in its
dict, and neither is ever logged. A context made by the service itself (start-up
recovery, periodic work, the scheduler) has neither, and the calls made for it
use the service's own credentials.
"""

import json

from oslo_context import context
from oslo_db.sqlalchemy import enginefacade
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

CATALOG_HEADER = "HTTP_X_SERVICE_CATALOG"
# The entries of the catalog nativesnap uses: Cinder's and Glance's under the
# types they are registered as. The rest of a catalog (it can be large) would
# only weigh on every RPC message.
CATALOG_TYPES = frozenset(("block-storage", "volumev3", "volumev2", "volume",
                           "image"))


def _catalog_of(entries):
    if not isinstance(entries, list):
        return []
    return [entry for entry in entries
            if isinstance(entry, dict) and entry.get("type") in CATALOG_TYPES]


@enginefacade.transaction_context_provider
class RequestContext(context.RequestContext):
    """oslo.context's context; ``is_admin`` follows the roles it was given;
    ``service_catalog`` is the token's catalog (keystonemiddleware's v2
    format), reduced to the services nativesnap calls."""

    FROM_DICT_EXTRA_KEYS = ["service_catalog"]

    def __init__(self, *args, service_catalog=None, **kwargs):
        roles = kwargs.get("roles") or []
        kwargs.setdefault("is_admin", "admin" in roles)
        super().__init__(*args, **kwargs)
        self.service_catalog = _catalog_of(service_catalog)

    @classmethod
    def from_environ(cls, environ, **kwargs):
        """oslo.context's, plus the catalog keystonemiddleware sent."""
        if "service_catalog" not in kwargs:
            kwargs["service_catalog"] = _catalog_from_header(
                environ.get(CATALOG_HEADER))
        return super().from_environ(environ, **kwargs)

    def to_policy_values(self):
        values = super().to_policy_values()
        values["is_admin"] = self.is_admin
        return values

    def to_dict(self):
        values = super().to_dict()
        values["service_catalog"] = self.service_catalog
        return values

    def get_logging_values(self):
        """oslo.context's values (the token masked) without the catalog."""
        values = super().get_logging_values()
        values.pop("service_catalog", None)
        return values


def _catalog_from_header(raw):
    if not raw:
        return []
    try:
        return _catalog_of(json.loads(raw))
    except ValueError:
        # Set by keystonemiddleware only; unreadable, it gives no endpoint
        # (the calls fall back to configured ones). Its text is not logged.
        LOG.warning("Ignoring an X-Service-Catalog header that is not JSON")
        return []


def get_admin_context():
    """A context for the service's own work (start-up recovery, periodic tasks)."""
    return RequestContext(user_id="nativesnap", project_id=None,
                          roles=["admin"], is_admin=True, overwrite=False)

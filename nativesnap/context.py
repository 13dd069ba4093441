"""The request context passed from the API through the manager to the drivers."""

from oslo_context import context
from oslo_db.sqlalchemy import enginefacade


@enginefacade.transaction_context_provider
class RequestContext(context.RequestContext):
    """oslo.context's context; ``is_admin`` follows the roles it was given."""

    def __init__(self, *args, **kwargs):
        roles = kwargs.get("roles") or []
        kwargs.setdefault("is_admin", "admin" in roles)
        super().__init__(*args, **kwargs)

    def to_policy_values(self):
        values = super().to_policy_values()
        values["is_admin"] = self.is_admin
        return values


def get_admin_context():
    """A context for the service's own work (start-up recovery, periodic tasks)."""
    return RequestContext(user_id="nativesnap", project_id=None,
                          roles=["admin"], is_admin=True, overwrite=False)

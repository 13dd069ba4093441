"""Calls on a user's behalf: the keystoneauth plugin made from a request context.

With Keystone, a call nativesnap makes to Cinder or Glance because a user
asked (a server snapshot's volume snapshots, an export, Cinder's own
assisted-snapshot request) is made with that user's token, so what it creates
belongs to the user's project and the peer's policies judge the user, as Nova
does. With ``[service_user] send_service_user_token`` the service user's token
goes along (keystoneauth's ServiceTokenAuthWrapper, ``X-Service-Token``), so a
user token that expired during a long task is still accepted.

Work with no user behind it (scheduled snapshots, start-up recovery, periodic
retries) has a context without a token: :func:`user_auth` gives None and the
caller uses its own ``[cinder]``/``[glance]`` credentials. docs/cinder.md and
docs/images.md say which is used when.
"""

import threading

from keystoneauth1.access import service_catalog as ks_catalog
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import plugin as ks_plugin
from keystoneauth1 import service_token
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

GROUP = "service_user"


class ContextAuthPlugin(ks_plugin.BaseAuthPlugin):
    """The user's token as it came with the request, and endpoints from the
    catalog that came with it (or ``endpoint_override``). It cannot renew the
    token: that is what the service token is for."""

    def __init__(self, auth_token, catalog, project_id=None, user_id=None,
                 endpoint_override=None):
        super().__init__()
        self._token = auth_token
        self._catalog = ks_catalog.ServiceCatalogV2(catalog or [])
        self._project_id = project_id
        self._user_id = user_id
        self._endpoint_override = endpoint_override

    def __repr__(self):
        # The token never shows, whoever prints the plugin.
        return (f"<ContextAuthPlugin user={self._user_id} "
                f"project={self._project_id}>")

    def get_token(self, session):
        return self._token

    def get_endpoint(self, session, service_type=None, interface=None,
                     region_name=None, service_name=None, **kwargs):
        if self._endpoint_override:
            return self._endpoint_override
        return self._catalog.url_for(service_type=service_type,
                                     interface=interface or "public",
                                     region_name=region_name,
                                     service_name=service_name)

    def get_project_id(self, session):
        return self._project_id

    def get_user_id(self, session):
        return self._user_id


class _OwnSessionAuth(ks_plugin.BaseAuthPlugin):
    """The service user's plugin, getting its token through a session made
    from [service_user]'s own session options (its CA, its timeout) rather
    than through the session of the call it goes with."""

    def __init__(self, auth, session):
        super().__init__()
        self._auth = auth
        self._session = session

    def get_token(self, session):
        return self._auth.get_token(self._session)

    def get_headers(self, session, **kwargs):
        return self._auth.get_headers(self._session, **kwargs)

    def invalidate(self):
        return self._auth.invalidate()


class _ServiceUser:
    """The [service_user] plugin, loaded once per configuration: it keeps
    its token until the token is about to expire."""

    def __init__(self):
        self._lock = threading.Lock()
        self._conf = None
        self._auth = None

    def get(self, conf):
        with self._lock:
            if self._conf is not conf:
                self._conf, self._auth = conf, self._load(conf)
            return self._auth

    @staticmethod
    def _load(conf):
        try:
            auth = ks_loading.load_auth_from_conf_options(conf, GROUP)
        except ks_exc.ClientException as exc:
            LOG.warning("[service_user] send_service_user_token is set but its "
                        "auth plugin cannot be loaded (%s); only users' tokens "
                        "are sent", exc)
            return None
        if auth is None:
            LOG.warning("[service_user] send_service_user_token is set but "
                        "auth_type is not set; only users' tokens are sent "
                        "(docs/cinder.md)")
            return None
        session = ks_loading.load_session_from_conf_options(conf, GROUP,
                                                            auth=auth)
        return _OwnSessionAuth(auth, session)

    def reset(self):
        with self._lock:
            self._conf = self._auth = None


_SERVICE_USER = _ServiceUser()


def reset():
    """Forget the loaded [service_user] plugin (tests change the options)."""
    _SERVICE_USER.reset()


def acts_for_user(context):
    """Whether calls made for ``context`` go with its user's token: it came
    from a request Keystone authenticated (noauth2 contexts and the
    service's own have no token)."""
    return bool(context is not None and getattr(context, "auth_token", None))


def user_auth(context, conf=None, endpoint_override=None):
    """The auth plugin to call a peer as ``context``'s user, wrapped with the
    [service_user] token when ``send_service_user_token`` is set; None when
    the context carries no user token (the caller's own credentials apply)."""
    if not acts_for_user(context):
        return None
    if conf is None:
        from nativesnap.conf import CONF
        conf = CONF
    auth = ContextAuthPlugin(context.auth_token,
                             getattr(context, "service_catalog", None),
                             project_id=context.project_id,
                             user_id=context.user_id,
                             endpoint_override=endpoint_override)
    if not conf[GROUP].send_service_user_token:
        return auth
    service = _SERVICE_USER.get(conf)
    if service is None:
        return auth
    return service_token.ServiceTokenAuthWrapper(user_auth=auth,
                                                 service_auth=service)

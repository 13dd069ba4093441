"""Authentication: turn a request into a RequestContext.

``noauth2`` (the default, like Nova's): ``X-Auth-Token: <user>:<project>``;
the user named ``admin`` has the admin role. It trusts the caller completely
and is meant for development and closed networks.
``keystone``: keystonemiddleware's auth_token validates the token first and
leaves the identity in the X-* headers that oslo.context reads.
"""

import re

from nativesnap.conf import CONF
from nativesnap import context as ns_context
from nativesnap import exception

_NOAUTH_PART = re.compile(r"^[A-Za-z0-9_.@-]{1,255}$")
# Where Cinder calls nativesnap as it calls Nova (docs/cinder.md).
_CINDER_PATHS = ("/v2.1/os-assisted-volume-snapshots",
                 "/v1/os-assisted-volume-snapshots")
_CINDER_HINT = (" Cinder sends the token of its [nova] section: with noauth2 set "
                "auth_type = admin_token, token = admin:<project> and endpoint "
                "= <nativesnap URL>/v2.1 there (docs/cinder.md).")


def _refused(req, message=None):
    """401; on the routes Cinder calls, with what Cinder must send."""
    hint = _CINDER_HINT if req.path_info.startswith(_CINDER_PATHS) else ""
    if message is None and not hint:
        return exception.NotAuthenticated()
    return exception.NotAuthenticated(
        (message or "No X-Auth-Token was sent.") + hint)


def noauth2(req):
    token = req.headers.get("X-Auth-Token")
    if not token:
        raise _refused(req)
    user_id, sep, project_id = token.partition(":")
    if not sep or not _NOAUTH_PART.match(user_id) or not _NOAUTH_PART.match(
            project_id):
        raise _refused(req, "X-Auth-Token must be '<user>:<project>' (letters, "
                            "digits, _ . @ -).")
    roles = ["admin", "member", "reader"] if user_id == "admin" else [
        "member", "reader"]
    return ns_context.RequestContext(user_id=user_id, project_id=project_id,
                                     roles=roles, request_id=req.request_id)


def keystone(req):
    if req.environ.get("HTTP_X_IDENTITY_STATUS", "Confirmed") != "Confirmed":
        raise exception.NotAuthenticated()
    ctx = ns_context.RequestContext.from_environ(req.environ,
                                                 request_id=req.request_id)
    if not ctx.project_id:
        raise exception.NotAuthenticated("The token is not scoped to a project.")
    return ctx


def wrap_keystone(app, public_app, public_paths):
    """auth_token in front of ``app``; public paths bypass it."""
    from keystonemiddleware import auth_token

    protected = auth_token.AuthProtocol(app, {"oslo_config_config": CONF})

    def dispatch(environ, start_response):
        path = environ.get("PATH_INFO", "").rstrip("/")
        target = public_app if path in public_paths else protected
        return target(environ, start_response)

    return dispatch


def get_auth():
    return keystone if CONF.api.auth_strategy == "keystone" else noauth2

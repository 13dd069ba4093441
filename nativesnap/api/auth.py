"""Authentication: turn a request into a RequestContext.

``noauth2`` (the default, like Nova's): ``X-Auth-Token: <user>:<project>``;
the user named ``admin`` has the roles admin, member and reader, any other user
member and reader (as Keystone's implied roles give a member), on the project
named (docs/policy.md). It trusts the caller completely and is meant for
development and closed networks.
``keystone``: keystonemiddleware's auth_token validates the token first and
leaves the identity in the X-* headers that oslo.context reads.
``agent_token``: a bare-metal node's agent, on the few paths it calls (its
heartbeat), with its node's ``X-Agent-Token`` instead of a user's token.
"""

import hmac
import re

from oslo_log import log as logging
from oslo_utils import uuidutils

from nativesnap.conf import CONF
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.objects import baremetal_node as node_obj

LOG = logging.getLogger(__name__)

AGENT_TOKEN_HEADER = "X-Agent-Token"
# Where an agent-authenticated request keeps its node for the handler.
AGENT_NODE = "nativesnap.agent_node"
# Compared with when there is no node, so that an unknown node costs the
# same comparison as a wrong token.
_NO_TOKEN = b"\0" * 32

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


def _agent_refused(node_id, why):
    # The same answer for an unknown node, a missing and a wrong token: a
    # caller without the token learns nothing, not even that the node exists.
    LOG.warning("Refused an agent request for bare-metal node %r: %s",
                node_id[:64], why)
    return exception.NotAuthenticated(
        f"Send the node's agent token as {AGENT_TOKEN_HEADER}: the token is "
        "missing, wrong, or the node is not enrolled.")


def agent_token(req, node_id):
    """A node's agent: ``X-Agent-Token`` must be ``node_id``'s agent token
    (compared in constant time); 401 otherwise. The node is left in the
    environ (``AGENT_NODE``) for the handler; the context is nobody's."""
    given = req.headers.get(AGENT_TOKEN_HEADER)
    node = None
    if uuidutils.is_uuid_like(node_id):
        try:
            node = node_obj.BaremetalNode.get_by_id(
                ns_context.get_admin_context(), node_id.lower())
        except exception.NotFound:
            node = None
    # WSGI gives header values as latin-1 text: back to the bytes sent.
    sent = given.encode("latin-1") if given else b""
    expected = node.agent_token.encode("utf-8") if node else _NO_TOKEN
    matches = hmac.compare_digest(sent, expected)
    if node is None:
        raise _agent_refused(node_id, "no such node")
    if not given or not matches:
        raise _agent_refused(node_id, f"{'wrong' if given else 'no'} "
                                      f"{AGENT_TOKEN_HEADER}")
    req.environ[AGENT_NODE] = node
    return ns_context.RequestContext(request_id=req.request_id)


def wrap_keystone(app, public_app, public_paths, agent_paths=None):
    """auth_token in front of ``app``; public paths, and the paths agents
    call with their own token (``agent_paths``, a compiled pattern), bypass
    it and go to ``public_app``."""
    from keystonemiddleware import auth_token

    protected = auth_token.AuthProtocol(app, {"oslo_config_config": CONF})

    def dispatch(environ, start_response):
        raw = environ.get("PATH_INFO", "")
        bypass = raw.rstrip("/") in public_paths or bool(
            agent_paths and agent_paths.match(raw))
        target = public_app if bypass else protected
        return target(environ, start_response)

    return dispatch


def get_auth():
    return keystone if CONF.api.auth_strategy == "keystone" else noauth2

"""Calls from nativesnap to Cinder, through python-cinderclient's v3 client.

nativesnap calls Cinder for two things: the status callbacks of assisted volume
snapshots (``os-update_snapshot_status``, as Nova does) and the snapshot
records of volumes a server snapshot includes. Every call goes through a
keystoneauth session loaded from ``[cinder]``, is repeated with exponential
back-off when it may safely be (``http_retries``), and fails with one
exception, :class:`nativesnap.exception.CinderCallFailed`, whose message names
the call, the id and Cinder's answer.

Which project a call is made in: Cinder refuses a URL whose project is not the
token's ("Malformed request url", 400). With a Keystone plugin the token is
scoped to nativesnap's own project, so the URL names that project; with Cinder's
``noauth`` plugin the token names the project of the call (``<user>:<project>``,
Cinder's noauth makes every such token an administrator); with plugins that
carry no project (``admin_token``, ``none``) the URL names the project of the
call. docs/cinder.md has the details.

Whose token: a call made because a user asked (``context`` with a token, i.e.
a request Keystone authenticated) goes with that user's token, plus the
``[service_user]`` token when configured (nativesnap.common.service_auth), and
its URL names the token's project, the user's; Cinder's snapshot then belongs
to the user's project. A call with no user behind it (no context, or one
without a token: recovery, scheduled work) uses the ``[cinder]`` credentials.
"""

import threading
import urllib.parse

from cinderclient.contrib import noauth as cinder_noauth
from cinderclient import exceptions as cinder_exc
from cinderclient.v3 import client as cinder_client
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import base as ks_identity
from keystoneauth1 import loading as ks_loading
from oslo_log import log as logging
from oslo_utils import uuidutils
import tenacity

from nativesnap.common import service_auth
from nativesnap import exception

LOG = logging.getLogger(__name__)

GROUP = "cinder"
# Cinder's documented answer to os-update_snapshot_status. Anything else means
# the action did not run: Cinder's noauth middleware, for one, answers 204 to a
# request without a token, before any action is reached.
UPDATE_STATUS_ANSWER = 202


class UnexpectedAnswer(Exception):
    """Cinder answered with a success code other than the documented one."""

    def __init__(self, status, expected):
        super().__init__(f"Cinder answered {status} where {expected} was expected; "
                         "the request did not reach the action (with Cinder's "
                         "noauth, set [cinder] auth_type = noauth so a token is "
                         "sent)")
        self.status = status


def _is_server_side_or_transport_failure(exc):
    """Worth repeating: nothing answered, the answer did not come in time, or
    Cinder failed (5xx). A 4xx is the request's fault and never repeated."""
    if isinstance(exc, ks_exc.RetriableConnectionFailure):
        return True
    return isinstance(exc, cinder_exc.ClientException) and _status(exc) >= 500


def _connection_failed(exc):
    """Worth repeating for a creation: the connection itself failed. After a
    timeout or a 5xx Cinder may have created the record, and a second creation
    would leave a second one."""
    return isinstance(exc, ks_exc.ConnectFailure)


def _status(exc):
    try:
        return int(getattr(exc, "code", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _describe(exc):
    """Cinder's answer, or why there was none, for the error message."""
    if isinstance(exc, cinder_exc.ClientException):
        return f"Cinder answered {exc}"
    return str(exc) or type(exc).__name__


def _snapshot_view(snapshot):
    """Cinder's snapshot view, with ``progress`` and ``project_id`` under their
    plain names (Cinder prefixes them with its extension's name)."""
    view = snapshot.to_dict()
    for key in ("progress", "project_id"):
        extended = f"os-extended-snapshot-attributes:{key}"
        if extended in view:
            view.setdefault(key, view[extended])
    return view


class CinderAPI:
    """The Cinder calls nativesnap makes. Thread-safe; one instance is enough."""

    def __init__(self, conf=None):
        # Read lazily: the instance may be made before the configuration is
        # parsed, and a service that never calls Cinder needs no [cinder].
        self._conf = conf
        self._lock = threading.Lock()
        self._session = None
        self._auth = None

    def _config(self):
        if self._conf is None:
            from nativesnap.conf import CONF
            self._conf = CONF
        return self._conf

    @property
    def _opts(self):
        return self._config()[GROUP]

    # --- the calls ----------------------------------------------------------

    def update_snapshot_status(self, project_id, snapshot_id, status, progress=None,
                               context=None):
        """Set a Cinder snapshot's status (and progress, e.g. ``"90%"``).

        Cinder allows creating -> creating|available|error and
        deleting -> deleting|error_deleting; it answers 400 to anything else.
        ``context``: the request the call is made for (see the module's
        docstring: whose token); every call takes it.
        """
        _require_uuid(snapshot_id, "update_snapshot_status", "snapshot")
        body = {"status": status}
        if progress is not None:
            body["progress"] = progress if isinstance(progress, str) else f"{progress}%"

        def call(client):
            resp, _body = client.volume_snapshots.update_snapshot_status(
                snapshot_id, body)
            if resp.status_code != UPDATE_STATUS_ANSWER:
                raise UnexpectedAnswer(resp.status_code, UPDATE_STATUS_ANSWER)

        described = ", ".join(f"{k}={v}" for k, v in body.items())
        self._call(f"update_snapshot_status({described})", "snapshot", snapshot_id,
                   project_id, call, retry_if=_is_server_side_or_transport_failure,
                   context=context)

    def create_snapshot(self, project_id, volume_id, name, description=None,
                        metadata=None, context=None):
        """Create a snapshot record of a volume, in use or not (``force``).

        Returns Cinder's view of the new snapshot (``id``, ``status``
        ``creating``, ...). Repeated only when the connection failed.
        """
        _require_uuid(volume_id, "create_snapshot", "volume")

        def call(client):
            return _snapshot_view(client.volume_snapshots.create(
                volume_id, force=True, name=name, description=description,
                metadata=metadata))

        return self._call("create_snapshot", "volume", volume_id, project_id, call,
                          retry_if=_connection_failed, context=context)

    def get_snapshot(self, project_id, snapshot_id, context=None):
        """Cinder's view of a snapshot (``status``, ``progress``, ...)."""
        _require_uuid(snapshot_id, "get_snapshot", "snapshot")
        return self._call(
            "get_snapshot", "snapshot", snapshot_id, project_id,
            lambda client: _snapshot_view(client.volume_snapshots.get(snapshot_id)),
            retry_if=_is_server_side_or_transport_failure, context=context)

    def get_volume(self, project_id, volume_id, context=None):
        """Cinder's view of a volume (``status``, ``size``, ...)."""
        _require_uuid(volume_id, "get_volume", "volume")
        return self._call(
            "get_volume", "volume", volume_id, project_id,
            lambda client: client.volumes.get(volume_id).to_dict(),
            retry_if=_is_server_side_or_transport_failure, context=context)

    # --- machinery ----------------------------------------------------------

    def _call(self, call, what, ident, project_id, func, retry_if, context=None):
        opts = self._opts
        attempts = opts.http_retries + 1
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential(multiplier=opts.http_retry_delay,
                                           max=opts.http_retry_max_delay),
            retry=tenacity.retry_if_exception(retry_if),
            before_sleep=lambda state: LOG.warning(
                "Cinder call %(call)s of %(what)s %(id)s failed (attempt %(n)d of "
                "%(max)d): %(reason)s; repeating it in %(delay).1f s",
                {"call": call, "what": what, "id": ident,
                 "n": state.attempt_number, "max": attempts,
                 "reason": _describe(state.outcome.exception()),
                 "delay": state.next_action.sleep}),
            reraise=True)
        made = []

        def attempt():
            made.append(1)
            return func(self._client(project_id, context))

        try:
            # Loading the auth plugin is configuration, not an attempt: it
            # fails the same way every time and sends nothing.
            self._session_and_auth()
        except (ks_exc.ClientException, _ConfigurationError) as exc:
            raise exception.CinderCallFailed(
                call=call, what=what, id=ident,
                answer=f"not sent: {_describe(exc)}", status=None,
                attempts=0) from exc
        try:
            return retrying(attempt)
        except (cinder_exc.ClientException, ks_exc.ClientException,
                UnexpectedAnswer, _ConfigurationError) as exc:
            raise exception.CinderCallFailed(
                call=call, what=what, id=ident,
                answer=(f"{_describe(exc)} (project {project_id}, "
                        f"{len(made)} attempt(s))"),
                status=(_status(exc) or getattr(exc, "http_status", None)
                        or getattr(exc, "status", None)),
                attempts=len(made)) from exc

    def _session_and_auth(self):
        with self._lock:
            if self._session is None:
                conf = self._config()
                auth = ks_loading.load_auth_from_conf_options(conf, GROUP)
                if auth is None:
                    raise _ConfigurationError(
                        "[cinder] auth_type is not set; nativesnap cannot call "
                        "Cinder without it (docs/cinder.md)")
                self._session = ks_loading.load_session_from_conf_options(
                    conf, GROUP, auth=auth)
                self._auth = auth
            return self._session, self._auth

    def _client(self, project_id, context=None):
        session, auth = self._session_and_auth()
        opts = self._opts
        user = service_auth.user_auth(context, self._config())
        if user is not None:
            # The user's token names the user's project, and Cinder wants
            # the URL's project to be the token's.
            auth, url_project = user, context.project_id
        elif isinstance(auth, ks_identity.BaseIdentityPlugin):
            url_project = auth.get_project_id(session)
        else:
            url_project = project_id
            if isinstance(auth, cinder_noauth.CinderNoAuthPlugin):
                auth = _noauth_for_project(auth, session, project_id)
        endpoint = opts.endpoint_override
        if opts.endpoint_template:
            # keystoneauth %-formats an endpoint_override once more (with the
            # token's project_id...): the '%' of a quoted project stays a '%'.
            endpoint = _expand(opts.endpoint_template, url_project).replace("%", "%%")
        return cinder_client.Client(
            session=session, auth=auth, endpoint_override=endpoint,
            service_type=opts.service_type, service_name=opts.service_name,
            interface=opts.valid_interfaces, region_name=opts.region_name,
            # Retries are ours (_call); cinderclient and keystoneauth make one
            # attempt each.
            retries=0, connect_retries=0, status_code_retries=0)


class _ConfigurationError(Exception):
    """[cinder] does not say how to reach Cinder."""


def _require_uuid(value, call, what):
    # Cinder's ids are UUIDs; anything else would be pasted into a URL path by
    # cinderclient unescaped, so it is refused before any request.
    if not isinstance(value, str) or not uuidutils.is_uuid_like(value):
        raise exception.CinderCallFailed(
            call=call, what=what, id=repr(value),
            answer="not sent: Cinder's ids are UUIDs", status=None, attempts=0)


def _expand(template, project_id):
    if project_id is None and "%(project_id)s" in template:
        raise _ConfigurationError(
            "[cinder] endpoint_template names %(project_id)s but the token has "
            "no project: scope the [cinder] credentials to a project")
    try:
        # Quoted: the project id comes from a request and must stay one path
        # segment.
        return template % {"project_id": urllib.parse.quote(project_id or "", safe="")}
    except (KeyError, ValueError, TypeError) as exc:
        raise _ConfigurationError(
            f"[cinder] endpoint_template {template!r} is not valid: only "
            f"%(project_id)s may be substituted ({exc!r})") from exc


def _noauth_for_project(auth, session, project_id):
    """Cinder's noauth plugin with a token for ``project_id``.

    Its endpoint (``<endpoint>/<project>``) keeps following the plugin's
    convention, so a configured ``endpoint`` without a template still works.
    """
    configured_project = auth.get_project_id(session)
    endpoint = auth.get_endpoint(session)
    suffix = f"/{configured_project}"
    base = endpoint[:-len(suffix)] if endpoint and endpoint.endswith(suffix) else None
    if base == "None":  # the plugin's rendering of "no endpoint configured"
        base = None
    return cinder_noauth.CinderNoAuthPlugin(
        auth.get_user_id(session), project_id=project_id, endpoint=base)

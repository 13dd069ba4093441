"""The connection to the API: a keystoneauth1 Adapter, typed errors, and
microversion negotiation.

HTTP is keystoneauth's: the Session does authentication headers, TLS,
timeouts, logging (tokens redacted) and the ``OpenStack-API-Version`` header
(``microversion=`` with ``service_type="snapshot"``); this module only turns
error answers into the client's exceptions and works out the microversion.
"""

import re
import urllib.parse

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint

from nativesnap.client import exceptions
from nativesnap import version as ns_version

SERVICE_TYPE = "snapshot"
HEADER = "OpenStack-API-Version"
#: the microversions this client understands
MIN_VERSION = (1, 0)
MAX_VERSION = (1, 2)

_VERSION_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


def parse_version(text):
    """``"1.1"`` -> ``(1, 1)``; UnsupportedVersion for anything else."""
    match = _VERSION_RE.match(str(text).strip())
    if not match:
        raise exceptions.UnsupportedVersion(
            f"'{text}' is not a microversion; use <major>.<minor>, e.g. "
            f"'{fmt(MAX_VERSION)}', or 'latest'")
    return int(match.group(1)), int(match.group(2))


def fmt(version):
    return "%d.%d" % version


def negotiate(server_min, server_max, requested=None):
    """The microversion to use.

    Without ``requested`` (or with ``"latest"``): the highest one this client
    and the server both support. With a version: that one, if both do.
    """
    low = max(MIN_VERSION, server_min)
    high = min(MAX_VERSION, server_max)
    if requested in (None, "", "latest"):
        if low > high:
            raise exceptions.UnsupportedVersion(
                f"The server offers microversions {fmt(server_min)}-"
                f"{fmt(server_max)} and this client {fmt(MIN_VERSION)}-"
                f"{fmt(MAX_VERSION)}: none in common; upgrade the older one.")
        return high
    wanted = requested if isinstance(requested, tuple) else parse_version(
        requested)
    if not MIN_VERSION <= wanted <= MAX_VERSION:
        raise exceptions.UnsupportedVersion(
            f"This client supports microversions {fmt(MIN_VERSION)}-"
            f"{fmt(MAX_VERSION)}, not {fmt(wanted)}.")
    if not server_min <= wanted <= server_max:
        raise exceptions.UnsupportedVersion(
            f"The server offers microversions {fmt(server_min)}-"
            f"{fmt(server_max)}, not {fmt(wanted)}.")
    return wanted


def root_endpoint(url):
    """The service root of an endpoint given with or without ``/v1``."""
    url = url.rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise exceptions.ClientException(
            f"'{url}' is not an http(s) URL of the nativesnap API, e.g. "
            "http://127.0.0.1:8779")
    return url


def make_session(endpoint=None, token=None, auth=None, verify=True, cert=None,
                 timeout=None):
    """A keystoneauth1 Session.

    ``token`` with ``endpoint``: a static token (noauth2's ``user:project`` or
    a keystone token) sent as ``X-Auth-Token`` to that endpoint; ``auth``: any
    keystoneauth1 plugin (password, token, ...); neither: no authentication
    (only the version documents answer).
    """
    if auth is None:
        auth = (token_endpoint.Token(endpoint, token) if token
                else noauth.NoAuth(endpoint=endpoint))
    return ks_session.Session(auth=auth, verify=verify, cert=cert,
                              timeout=timeout)


class Connection:
    """A keystoneauth Adapter bound to the API's root, and the microversion."""

    def __init__(self, session, endpoint=None, api_version=None,
                 region_name=None, interface=None, service_type=SERVICE_TYPE):
        self.session = session
        self._requested_version = api_version
        self._api_version = None
        self._server_versions = None
        self.adapter = ks_adapter.Adapter(
            session, service_type=service_type, interface=interface,
            region_name=region_name,
            endpoint_override=root_endpoint(endpoint) if endpoint else None,
            client_name="nativesnap-client",
            client_version=ns_version.VERSION, raise_exc=False)
        self._endpoint = self.adapter.endpoint_override

    # --- where ----------------------------------------------------------------

    @property
    def endpoint(self):
        """The API's root URL (from the settings or the service catalog)."""
        if self._endpoint is None:
            try:
                found = self.adapter.get_endpoint()
            except ks_exc.EndpointNotFound:
                found = None  # keystoneauth raises it for a catalog without one
            except ks_exc.ClientException as e:
                raise _translate(e) from None
            if not found:
                raise exceptions.ConnectionFailed(
                    f"No '{self.adapter.service_type}' endpoint in the service "
                    "catalog; give the API's URL (--url or NATIVESNAP_URL).")
            self._endpoint = root_endpoint(found)
            self.adapter.endpoint_override = self._endpoint
        return self._endpoint

    # --- microversions --------------------------------------------------------

    def server_versions(self):
        """(min, max) microversions the server offers (GET /v1, public)."""
        if self._server_versions is None:
            body = self.request("GET", "/v1", authenticated=False,
                                microversion=None).json()
            doc = body.get("version") or {}
            self._server_versions = (
                parse_version(doc.get("min_version") or "1.0"),
                parse_version(doc.get("version") or "1.0"))
        return self._server_versions

    @property
    def api_version(self):
        """The negotiated microversion, as a (major, minor) tuple."""
        if self._api_version is None:
            self._api_version = negotiate(*self.server_versions(),
                                          requested=self._requested_version)
        return self._api_version

    # --- requests -------------------------------------------------------------

    def request(self, method, url, json=None, params=None,
                microversion="negotiated", expect=None, **kwargs):
        """Send a request; the response, or the typed error it answers.

        ``url`` is a path under the API's root or an absolute URL (a link the
        API gave). ``microversion`` defaults to the negotiated one; ``None``
        sends no header.
        """
        if microversion == "negotiated":
            microversion = fmt(self.api_version)
        elif isinstance(microversion, tuple):
            microversion = fmt(microversion)
        if not urllib.parse.urlsplit(url).netloc:
            url = self.endpoint + url
        try:
            resp = self.adapter.request(
                url, method, json=json, params=params,
                microversion=microversion,
                microversion_service_type=SERVICE_TYPE if microversion else None,
                **kwargs)
        except ks_exc.ClientException as e:
            raise _translate(e) from None
        if resp.status_code >= 400 or (expect and resp.status_code not in expect):
            raise exceptions.from_response(resp, method, url)
        return resp

    def get_json(self, url, **kwargs):
        return self.request("GET", url, **kwargs).json()


def _translate(exc):
    """A keystoneauth exception (no answer from the API) as the client's."""
    if isinstance(exc, ks_exc.HttpError):
        # From keystone itself, e.g. a wrong password.
        cls = {401: exceptions.Unauthorized, 403: exceptions.Forbidden,
               404: exceptions.NotFound}.get(exc.http_status,
                                             exceptions.HttpError)
        return cls(exc.message or str(exc), http_status=exc.http_status,
                   request_id=getattr(exc, "request_id", None))
    if isinstance(exc, (ks_exc.ConnectionError, ks_exc.EndpointNotFound)):
        return exceptions.ConnectionFailed(str(exc))
    if isinstance(exc, (ks_exc.AuthorizationFailure, ks_exc.MissingAuthPlugin,
                        ks_exc.auth_plugins.AuthPluginException)):
        return exceptions.AuthenticationFailed(str(exc))
    return exceptions.ClientException(str(exc))

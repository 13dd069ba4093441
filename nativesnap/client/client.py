"""``Client``: the entry point of the Python bindings.

    from nativesnap.client import Client

    c = Client("http://127.0.0.1:8779", token="admin:demo")      # noauth2
    c = Client(session=keystone_session)                          # keystone

Every verb is a method of the client (see ``proxy.Proxy``).
"""

from nativesnap.client import connection
from nativesnap.client import proxy


class Client(proxy.Proxy):
    """A client of one nativesnap API.

    :param endpoint: the API's URL (``http://host:8779``, with or without
        ``/v1``); without it, the ``snapshot`` endpoint of the session's
        service catalog.
    :param token: a token sent as ``X-Auth-Token`` (noauth2:
        ``"<user>:<project>"``), with ``endpoint``.
    :param session: a keystoneauth1 Session (its auth plugin authenticates);
        instead of ``token``.
    :param api_version: a microversion (``"1.0"``, ``"1.1"``) to use, or
        None/``"latest"`` for the highest this client and the server share.
    :param region_name, interface: to pick the endpoint from the catalog.
    :param verify, cert, timeout: TLS and HTTP timeout of a session made here.
    """

    def __init__(self, endpoint=None, token=None, session=None,
                 api_version=None, region_name=None, interface=None,
                 verify=True, cert=None, timeout=None,
                 service_type=connection.SERVICE_TYPE):
        if session is None:
            if not endpoint:
                raise TypeError("Client needs an endpoint (with a token) or a "
                                "keystoneauth1 session")
            session = connection.make_session(endpoint, token, verify=verify,
                                              cert=cert, timeout=timeout)
        elif token is not None:
            raise TypeError("give a token or a session, not both")
        super().__init__(connection.Connection(
            session, endpoint=endpoint, api_version=api_version,
            region_name=region_name, interface=interface,
            service_type=service_type))

    @property
    def session(self):
        return self._conn.session

    @property
    def endpoint(self):
        return self._conn.endpoint

    @property
    def api_version(self):
        """The microversion in use, ``"1.N"`` (negotiated on first use)."""
        return connection.fmt(self._conn.api_version)

    def server_versions(self):
        """(min, max) microversions the server offers, as ``"1.N"``."""
        low, high = self._conn.server_versions()
        return connection.fmt(low), connection.fmt(high)

"""pytest plugin: a real Glance (OpenStack Image service), the peer nativesnap
uploads exported snapshot images to.

Use it from a test module with::

    pytest_plugins = ["tests.glance_fixtures"]

Fixture:
  glance  (session) Glance's own API application (the pip package ``glance``)
          on 127.0.0.1 and a free port, with a sqlite database made by
          ``glance-manage db_sync`` and the filesystem store in ``datadir``.
          This Glance release has no standalone server any more (its
          ``glance-api`` script only says "Deploy Glance under a WSGI server
          using glance.wsgi.api:application"), so this module, run as
          ``python -m tests.glance_fixtures``, serves that application with
          cheroot (nativesnap's own WSGI server), the way uWSGI or mod_wsgi
          serve it in a deployment. See ``GlanceServer``.

Identity without Keystone. Glance's ``unauthenticated-context`` pipeline (its
default flavour) gives every request a context of no user, no project and no
role: under this release's default policies (oslo.policy's new defaults) that
is refused everything (403 on listing and creating images); with the old
defaults, images would get no owner and every caller would see and change every
image. The pipeline here is Glance's ``keystone`` flavour with
keystonemiddleware's ``authtoken`` replaced by ``token_identity_filter``: it
reads ``X-Auth-Token: <user>:<project>[:<role>,...]`` (the form of nativesnap's
noauth2 and Cinder's noauth tokens) and, like ``authtoken`` for a valid token,
drops the identity headers the client sent and sets ``X-Identity-Status:
Confirmed``, ``X-User-Id``, ``X-Project-Id`` and ``X-Roles``. Glance's own
``ContextMiddleware`` and policies then work as behind Keystone: images are
owned by the token's project, another project's private image is not found,
a request without a token is answered 401. Roles, when the token names none:
``member,reader``, and ``admin`` too for the user ``admin`` (Glance's
``context_is_admin`` and ``service_api`` rules).

What the tests should know about this Glance:
  - Uploads (``PUT /v2/images/{id}/file``, glanceclient's ``images.upload``)
    take a file-like object (glanceclient calls ``read(1 MiB)``; a bare
    generator fails in the client with AttributeError) and are streamed
    (chunked) to ``<datadir>/<image id>``; Glance records ``size``,
    ``checksum`` (MD5) and ``os_hash_algo``/``os_hash_value`` (sha512).
  - Glance inspects the data: an upload that is not what ``disk_format`` says
    (e.g. raw bytes for ``qcow2``) is refused with 415 and the image goes back
    to ``queued``; its data file stays, so a second upload to that image fails
    with 500 (glance_store Duplicate): delete the image instead.
  - A glance-api stopped (SIGTERM) during an upload cuts the request off after
    SHUTDOWN_TIMEOUT s (the client gets "400 Bad chunked transfer size"), puts
    the image back to ``queued`` and removes the partial data. Killed
    (``stop(kill=True)``), it leaves the image ``saving`` (uploads refused
    with 409; delete works) and the partial file in ``datadir`` for good.
  - Locations are never ``file://``: Glance refuses every file:// location, to
    anybody, with 400 "Invalid location". ``http://127.0.0.1:PORT/...`` URLs
    are accepted (PATCH add /locations/- on a queued or active image, or the
    v2.17 ``POST /v2/images/{id}/locations`` on a queued image) and read by the
    http store; deleting such an image leaves the served file alone.

Its configuration, database, image files and log stay under the fixture's
directory; the log's tail (with one access line per request) is added to the
report of every failing test that used the fixture.
"""

import argparse
import os
import subprocess
import sys
import time
import uuid

import pytest

from tests import fixtures, wsgi_peers

BIN = os.path.dirname(sys.executable)
# The user nativesnap calls Glance as, and the one the helpers inspect with
# (an administrator: it sees every project's images).
NATIVESNAP_USER = "nativesnap"
ADMIN_USER = "admin"
DEFAULT_ROLES = ("member", "reader")
ADMIN_ROLES = ("admin", "member", "reader")
START_TIMEOUT = 90
STOP_TIMEOUT = 30
# cheroot: seconds a connection may stay silent; seconds a stopping server
# waits for requests in progress before cutting them off (tests/wsgi_peers.py).
SOCKET_TIMEOUT = 120
SHUTDOWN_TIMEOUT = wsgi_peers.SHUTDOWN_TIMEOUT
ACCESS_LOGGER = "glance_fixtures.access"
# Headers keystonemiddleware's authtoken removes from every request before it
# sets its own: a client cannot claim an identity by sending them.
IDENTITY_HEADERS = (
    "X-Identity-Status", "X-Service-Identity-Status", "X-Domain-Id",
    "X-Domain-Name", "X-Project-Id", "X-Project-Name", "X-Project-Domain-Id",
    "X-Project-Domain-Name", "X-User-Id", "X-User-Name", "X-User-Domain-Id",
    "X-User-Domain-Name", "X-Roles", "X-Service-Roles", "X-Tenant-Id",
    "X-Tenant-Name", "X-Tenant", "X-User", "X-Role", "X-Service-Catalog",
    "X-Is-Admin-Project", "X-System-Scope",
)

PASTE_INI = """\
# Written by tests/glance_fixtures.py: Glance's own api-paste.ini, "keystone"
# flavour, with authtoken replaced by the fixture's token_identity_filter.
[composite:glance-api]
paste.composite_factory = glance.api:root_app_factory
/: api
/healthcheck: healthcheck

[pipeline:api]
pipeline = cors http_proxy_to_wsgi versionnegotiation osprofiler tokenidentity context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[app:healthcheck]
paste.app_factory = oslo_middleware:Healthcheck.app_factory
backends = disable_by_file
disable_by_file_path = {healthcheck_disable}

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[filter:tokenidentity]
paste.filter_factory = tests.glance_fixtures:token_identity_filter

[filter:osprofiler]
paste.filter_factory = osprofiler.web:WsgiMiddleware.factory

[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = glance
oslo_config_program = glance-api

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
"""


def token(user_id, project_id, roles=None):
    """The ``X-Auth-Token`` the test Glance takes for ``user_id`` in ``project_id``."""
    value = f"{user_id}:{project_id}"
    if roles:
        value += ":" + ",".join(roles)
    return value


# --- in glance-api's process --------------------------------------------------

def token_identity_filter(global_conf, **local_conf):
    """Paste filter factory: ``<user>:<project>[:<roles>]`` tokens to the
    identity headers keystonemiddleware's ``authtoken`` sets."""

    def make_filter(app):
        def identity(environ, start_response):
            for header in IDENTITY_HEADERS:
                environ.pop("HTTP_" + header.upper().replace("-", "_"), None)
            parts = environ.get("HTTP_X_AUTH_TOKEN", "").split(":")
            if len(parts) in (2, 3) and parts[0] and parts[1]:
                user_id, project_id = parts[0], parts[1]
                if len(parts) == 3:
                    roles = [r for r in parts[2].split(",") if r]
                else:
                    roles = ADMIN_ROLES if user_id == ADMIN_USER else DEFAULT_ROLES
                environ.update({
                    "HTTP_X_IDENTITY_STATUS": "Confirmed",
                    "HTTP_X_USER_ID": user_id,
                    "HTTP_X_USER_NAME": user_id,
                    "HTTP_X_PROJECT_ID": project_id,
                    "HTTP_X_PROJECT_NAME": project_id,
                    "HTTP_X_ROLES": ",".join(roles),
                })
            else:
                # No token, or one of another form: Glance's ContextMiddleware
                # answers 401, as behind Keystone.
                environ["HTTP_X_IDENTITY_STATUS"] = "Invalid"
            return app(environ, start_response)

        return identity

    return make_filter


class _RequestBody:
    """``wsgi.input`` whose ``close()`` does nothing, as under uWSGI or
    mod_wsgi. Glance closes the data it was given once an upload is stored;
    cheroot's input object would close the connection's reader with it, and
    the client's next request on that kept-alive connection would get a 500
    from cheroot itself."""

    def __init__(self, body):
        self._body = body

    def __getattr__(self, name):
        return getattr(self._body, name)

    def __iter__(self):
        return iter(self._body)

    def close(self):
        pass


def _request_body_kept(app):
    """``app`` given a ``wsgi.input`` whose ``close()`` does nothing."""

    def kept(environ, start_response):
        if "wsgi.input" in environ:
            environ["wsgi.input"] = _RequestBody(environ["wsgi.input"])
        return app(environ, start_response)

    return kept


def serve(config_dir, port):
    """Serve ``glance.wsgi.api:application`` with cheroot until SIGTERM
    (tests/wsgi_peers.py), one access line per request in its log."""
    # Imported now: Glance's exit handler (drain_workers) makes its task pool
    # at exit when no request made it, and this module cannot be imported then.
    import concurrent.futures.thread  # noqa: F401

    # Glance's WSGI entry point reads glance-api.conf from this directory.
    os.environ["OS_GLANCE_CONFIG_DIR"] = config_dir
    from glance.wsgi import api as glance_wsgi

    return wsgi_peers.serve(_request_body_kept(glance_wsgi.application), port,
                            "glance-api", ACCESS_LOGGER, SOCKET_TIMEOUT)


# --- in the test process ------------------------------------------------------

class GlanceServer(wsgi_peers.Peer):
    """A real Glance API on 127.0.0.1 with its own sqlite database and file store.

    Attributes: ``endpoint`` (``http://127.0.0.1:PORT``, the image service's
    URL, without version), ``port``, ``project_id`` (the project ``client()``
    acts in when given none), ``user_id``, ``datadir`` (the filesystem store:
    an uploaded image's data is ``<datadir>/<image id>``), ``dir``,
    ``conf_path``, ``log_path``, ``start_seconds`` (how long the last start
    took). Port, database and files stay the same across ``stop()`` and
    ``start()``.
    """

    label = "glance-api"
    access_marker = ACCESS_LOGGER

    def __init__(self, base_dir):
        self.dir = base_dir
        self.port = fixtures.free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.project_id = uuid.uuid4().hex
        self.user_id = NATIVESNAP_USER
        self.conf_dir = os.path.join(base_dir, "etc")
        self.conf_path = os.path.join(self.conf_dir, "glance-api.conf")
        self.paste_path = os.path.join(self.conf_dir, "glance-api-paste.ini")
        self.datadir = os.path.join(base_dir, "images")
        self.log_path = os.path.join(base_dir, "glance-api.log")
        self.out_path = os.path.join(base_dir, "glance-api.out")
        self.proc = None
        self.start_seconds = None
        self._out = None
        self._write_config()

    def _write_config(self):
        state = os.path.join(self.dir, "state")
        staging = os.path.join(self.dir, "staging")
        for path in (self.conf_dir, self.datadir, state, staging):
            os.makedirs(path, exist_ok=True)
        sections = {
            "DEFAULT": {
                "debug": "false",
                "log_file": self.log_path,
                "use_stderr": "false",
                # Image locations shown (``locations``, ``direct_url``) and
                # writable by PATCH (add /locations/-, glanceclient's
                # add_location): refused with 403 while this deprecated option
                # is off. The locations API of v2.17 (POST and GET
                # /v2/images/{id}/locations) does not need it.
                "show_multiple_locations": "true",
                "show_image_direct_url": "true",
                # Plain PUT /v2/images/{id}/file uploads only: no interoperable
                # image import, whose staging area stays unused.
                "enabled_import_methods": "[]",
                "node_staging_uri": f"file://{staging}",
            },
            "database": {"connection":
                         f"sqlite:///{os.path.join(self.dir, 'glance.sqlite')}"},
            # Uploads go to the filesystem store. Glance refuses every file://
            # (and filesystem://) location a client adds, whoever asks
            # (glance.common.store_utils.RESTRICTED_URI_SCHEMAS): a location
            # can only be added as an http:// URL, read by the read-only http
            # store, which also lets a project member use the v2.17 locations
            # API ("http store must be enabled to use location API by normal
            # user").
            "glance_store": {
                "stores": "file, http",
                "default_store": "file",
                "filesystem_store_datadir": self.datadir,
            },
            # http:// locations pass the web-download filter: loopback is
            # refused unless allowed here, and only ports 80 and 443 are
            # allowed by default. The tests serve images on 127.0.0.1.
            "import_filtering_opts": {
                "allowed_hosts": "[127.0.0.1]",
                "allowed_ports": "[]",
            },
            # The pipeline of PASTE_INI ("api"), not a flavour of Glance's own.
            "paste_deploy": {"config_file": self.paste_path, "flavor": ""},
            # No message queue: notifications go nowhere.
            "oslo_messaging_notifications": {"driver": "noop"},
            "oslo_concurrency": {"lock_path": os.path.join(state, "lock")},
            # One task at a time (the locations API's hashing runs as a task):
            # sqlite takes one writer at a time.
            "taskflow_executor": {"engine_mode": "serial"},
        }
        fixtures.write_conf(self.conf_path, sections)
        with open(self.paste_path, "w") as f:
            f.write(PASTE_INI.format(
                healthcheck_disable=os.path.join(state, "healthcheck_disable")))

    def db_sync(self):
        manage = os.path.join(BIN, "glance-manage")
        wsgi_peers.require(manage, "glance-manage")
        out = subprocess.run([manage, "--config-file", self.conf_path, "db_sync"], check=False,
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"glance-manage db_sync failed ({out.returncode}):\n"
                               f"{out.stderr[-4000:]}\n{wsgi_peers.tail(self.log_path)}")

    def start(self, timeout=START_TIMEOUT):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("glance-api is running already")
        wsgi_peers.require(os.path.join(BIN, "glance-manage"), "Glance")
        began = time.monotonic()
        self._out = open(self.out_path, "ab")
        self.proc = wsgi_peers.start_module(
            "tests.glance_fixtures",
            ["--config-dir", self.conf_dir, "--port", str(self.port)], self._out)
        wsgi_peers.wait_answering(self, self.endpoint + "/healthcheck", 200, timeout,
                                  lambda: self.stop(kill=True))
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self, kill=False, timeout=STOP_TIMEOUT):
        """Stop glance-api: SIGTERM (requests in progress are cut off after
        SHUTDOWN_TIMEOUT s), or with ``kill`` SIGKILL, a crash. Returns its
        exit status."""
        if self.proc is None:
            return None
        wsgi_peers.stop_group(self.proc, timeout, kill)
        if self._out is not None and not self._out.closed:
            self._out.close()
        return self.proc.returncode

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # --- what the tests use -------------------------------------------------

    def token(self, project_id=None, user_id=None, roles=None):
        """``X-Auth-Token`` for ``user_id`` (default nativesnap's) in
        ``project_id`` (default ``self.project_id``)."""
        return token(user_id or self.user_id, project_id or self.project_id, roles)

    def session(self, project_id=None, user_id=None, roles=None, timeout=60):
        """A keystoneauth1 session whose token plugin (``admin_token``'s,
        ``token_endpoint.Token``) sends that token and names ``endpoint``."""
        from keystoneauth1 import session as ks_session
        from keystoneauth1 import token_endpoint

        auth = token_endpoint.Token(self.endpoint,
                                    self.token(project_id, user_id, roles))
        return ks_session.Session(auth=auth, timeout=timeout)

    def client(self, project_id=None, user_id=None, roles=None, timeout=60):
        """A python-glanceclient v2 ``Client`` calling as ``user_id`` in
        ``project_id`` (defaults: nativesnap in ``self.project_id``)."""
        from glanceclient.v2 import client as glance_client

        return glance_client.Client(
            session=self.session(project_id, user_id, roles, timeout))

    def admin_client(self, timeout=60):
        """A v2 ``Client`` of an administrator: every project's images."""
        return self.client(user_id=ADMIN_USER, timeout=timeout)

    def image(self, image_id):
        """The image as Glance shows it to an administrator, as a dict
        (status, size, checksum, os_hash_algo, os_hash_value, owner,
        locations, custom properties...)."""
        return dict(self.admin_client().images.get(image_id))

    def images(self, **filters):
        """Every project's images (dicts), e.g. ``images(status="active")``."""
        return [dict(i) for i in self.admin_client().images.list(filters=filters)]

    def download(self, image_id, path):
        """Write the image's data to ``path``; returns the bytes written.

        glanceclient checks the data against the image's ``os_hash_value``
        while it streams and raises ``IOError`` on a mismatch.
        """
        body = self.admin_client(timeout=300).images.data(image_id)
        if body is None:
            raise AssertionError(f"image {image_id} has no data")
        written = 0
        with open(path, "wb") as f:
            for chunk in body:
                f.write(chunk)
                written += len(chunk)
        return written

    def wait_status(self, image_id, statuses, timeout=60):
        """Wait (bounded) for the image to reach one of ``statuses``."""
        if isinstance(statuses, str):
            statuses = (statuses,)
        deadline = time.monotonic() + timeout
        while (status := self.image(image_id)["status"]) not in statuses:
            if time.monotonic() >= deadline:
                raise AssertionError(f"image {image_id} is {status!r} after "
                                     f"{timeout} s, not one of {statuses}")
            time.sleep(0.1)
        return self.image(image_id)

    def stored_files(self):
        """Names of the files in the filesystem store (an image's is its id)."""
        return sorted(os.listdir(self.datadir))


@pytest.fixture(scope="session")
def glance(tmp_path_factory):
    server = GlanceServer(str(tmp_path_factory.mktemp("glance")))
    server.db_sync()
    server.start()
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    wsgi_peers.attach_log_tail(item, outcome.get_result(), GlanceServer, "glance")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Serve Glance's API (glance.wsgi.api:application) with cheroot.")
    parser.add_argument("--config-dir", required=True,
                        help="directory of glance-api.conf (OS_GLANCE_CONFIG_DIR)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    return serve(args.config_dir, args.port)


if __name__ == "__main__":
    sys.exit(main())

"""pytest plugin: a real Keystone, the identity service every OpenStack cloud
runs nativesnap behind.

Use it from a test module with::

    pytest_plugins = ["tests.keystone_fixtures"]

Why a real one: with ``[api] auth_strategy = keystone`` what an operator meets
is keystonemiddleware validating real tokens with nativesnap's service user,
Keystone's default roles (``reader`` < ``member`` < ``admin``, implied by
``keystone-manage bootstrap``) reaching nativesnap's policies
(docs/policy.md), and the clients finding the API in the service catalog. A
stand-in would prove only what it was written to answer.

Fixture:
  keystone  (session) Keystone's own API application (the pip package
            ``keystone``), ``keystone.wsgi.api:application``, served by
            cheroot (nativesnap's own WSGI server) in a process of its own
            (``python -m tests.keystone_fixtures``) on 127.0.0.1 and a free
            port, with a sqlite database and fernet tokens, all under the
            fixture's directory. Made once per test session: ``keystone-manage
            db_sync``, ``fernet_setup`` and ``credential_setup`` (side by side,
            they share nothing), then ``bootstrap`` while the server starts,
            then, through Keystone's API as its bootstrap administrator
            (keystoneauth1 and python-keystoneclient, system scope), what the
            tests use:

              project    user         role
              project-A  A-reader     reader
              project-A  A-member     member
              project-B  B-member     member
              project-A  A-admin      admin
              service    nativesnap   service  (nativesnap's service user)

            and the service ``snapshot`` (name ``nativesnap``), whose public
            endpoint ``register_endpoint(url)`` points at a test module's
            nativesnap-api (its port is known only per module; modules using
            this fixture are serial, one at a time, so one endpoint at a time
            is enough; ``remove_endpoints()`` takes it away). Other services
            (a test Cinder's ``volumev3``) go in with
            ``register_service_endpoint(type, name, url)`` and leave with
            ``remove_service(type)``.
            ``bootstrap_seconds`` says how long all this took; the session's
            summary prints it.

Users: ``users[name]`` (id, password, project, role), ``projects[name]`` (id),
``add_user(name, project, role)`` for one more. Tokens: ``token(user)`` is a
project-scoped token of the user's project (or of ``project``),
``password_auth(user)`` keystoneauth1's plugin for it, ``revoke(token)`` signs
it out (``DELETE /v3/auth/tokens``).
``[token] expiration`` stays Keystone's default (an hour) for everyone:
``expiring_token(user, seconds)`` makes the one short-lived token a test
needs, from an application credential of that user that expires in
``seconds``: Keystone caps the expiry of a token issued for an application
credential at the credential's own (its fix of CVE-2022-2447), so the token is
an ordinary Keystone token that Keystone itself declares expired afterwards,
and no other test's token is touched or has to be refreshed.

``authtoken_conf()`` is nativesnap's ``[keystone_authtoken]`` for this
Keystone (the ``nativesnap`` service user, which Keystone lets validate
tokens through its ``service`` role), with keystonemiddleware's token cache
off: a revoked token is then refused on the very next request, not when a
cached validation runs out.

Passwords are hashed with bcrypt's fewest rounds (``[identity]
password_hash_rounds = 4``): every password authentication costs
milliseconds, not a quarter of a second. The log's tail (with one access line
per request) is added to the report of every failing test that used the
fixture.
"""

import argparse
import collections
import concurrent.futures
import datetime
import grp
import os
import pwd
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests import fixtures, wsgi_peers

BIN = os.path.dirname(sys.executable)
MANAGE = os.path.join(BIN, "keystone-manage")
REGION = "RegionOne"
DOMAIN = "default"
ADMIN_USER = "admin"  # keystone-manage bootstrap's administrator
SERVICE_PROJECT = "service"
SERVICE_USER = "nativesnap"
SERVICE_TYPE = "snapshot"
SERVICE_NAME = "nativesnap"
PROJECTS = ("project-A", "project-B", SERVICE_PROJECT)
# user: (project, role)
USERS = {
    "A-reader": ("project-A", "reader"),
    "A-member": ("project-A", "member"),
    "B-member": ("project-B", "member"),
    "A-admin": ("project-A", "admin"),
    SERVICE_USER: (SERVICE_PROJECT, "service"),
}
START_TIMEOUT = 90
MANAGE_TIMEOUT = 180
STOP_TIMEOUT = 30
REQUEST_TIMEOUT = 30
# cheroot: seconds a connection may stay silent.
SOCKET_TIMEOUT = 60
ACCESS_LOGGER = "keystone_fixtures.access"

User = collections.namedtuple("User", "name id password project role")
# The session's Keystone, for the summary line with its bootstrap time.
_STARTED = []


# --- in Keystone's process ----------------------------------------------------

def serve(config_file, port):
    """Serve ``keystone.wsgi.api:application`` with cheroot until SIGTERM
    (tests/wsgi_peers.py), one access line per request in its log."""
    # Keystone's WSGI entry point reads its configuration from these.
    os.environ["OS_KEYSTONE_CONFIG_DIR"] = os.path.dirname(config_file)
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = os.path.basename(config_file)
    # ... and its command line (oslo.config's), which must not hold ours.
    sys.argv = sys.argv[:1]
    from keystone.wsgi import api as keystone_wsgi

    return wsgi_peers.serve(keystone_wsgi.application, port, "keystone",
                            ACCESS_LOGGER, SOCKET_TIMEOUT)


# --- in the test process ------------------------------------------------------

class KeystoneServer(wsgi_peers.Peer):
    """A real Keystone on 127.0.0.1 with its own sqlite database and keys.

    Attributes: ``url`` (``http://127.0.0.1:PORT``), ``auth_url`` (its
    ``/v3``), ``port``, ``users`` ({name: User(name, id, password, project,
    role)}), ``projects`` ({name: id}), ``admin_password``, ``dir``,
    ``conf_path``, ``log_path``, ``bootstrap_seconds`` (making, starting and
    filling it).
    """

    label = "keystone"
    access_marker = ACCESS_LOGGER

    def __init__(self, base_dir):
        self.dir = base_dir
        self.port = fixtures.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.auth_url = f"{self.url}/v3"
        self.conf_path = os.path.join(base_dir, "etc", "keystone.conf")
        self.log_path = os.path.join(base_dir, "keystone.log")
        self.out_path = os.path.join(base_dir, "keystone.out")
        self.admin_password = uuid.uuid4().hex
        self.users = {}
        self.projects = {}
        self.proc = None
        self.bootstrap_seconds = None
        self._out = None
        self._admin = None
        self._roles = {}  # name: id
        self._write_config()

    def _write_config(self):
        keys = {name: os.path.join(self.dir, name)
                for name in ("fernet-keys", "credential-keys")}
        os.makedirs(os.path.dirname(self.conf_path), exist_ok=True)
        for path in keys.values():
            # Keystone warns on every request about a key repository others
            # may read.
            os.makedirs(path, mode=0o700, exist_ok=True)
        fixtures.write_conf(self.conf_path, {
            "DEFAULT": {"log_file": self.log_path, "use_stderr": "false",
                        "debug": "false"},
            "database": {"connection":
                         f"sqlite:///{os.path.join(self.dir, 'keystone.sqlite')}"},
            "token": {"provider": "fernet"},
            "fernet_tokens": {"key_repository": keys["fernet-keys"]},
            "fernet_receipts": {"key_repository": keys["fernet-keys"]},
            "credential": {"key_repository": keys["credential-keys"]},
            # bcrypt's fewest rounds; its length limit (Keystone warns on
            # every password it hashes when the limit is above bcrypt's).
            "identity": {"password_hash_rounds": "4",
                         "max_password_length": "72"},
        })

    # --- making it ------------------------------------------------------------

    def _manage(self, *args):
        out = subprocess.run([MANAGE, "--config-file", self.conf_path, *args],
                             capture_output=True, text=True, timeout=MANAGE_TIMEOUT)
        if out.returncode != 0:
            raise RuntimeError(f"keystone-manage {args[0]} failed ({out.returncode}):"
                               f"\n{out.stderr[-4000:]}\n{wsgi_peers.tail(self.log_path)}")

    def setup(self):
        """db_sync, fernet_setup and credential_setup, side by side."""
        wsgi_peers.require(MANAGE, "keystone-manage", "Keystone")
        owner = ["--keystone-user", pwd.getpwuid(os.getuid()).pw_name,
                 "--keystone-group", grp.getgrgid(os.getgid()).gr_name]
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            for done in [pool.submit(self._manage, "db_sync"),
                         pool.submit(self._manage, "fernet_setup", *owner),
                         pool.submit(self._manage, "credential_setup", *owner)]:
                done.result()

    def bootstrap(self):
        self._manage("bootstrap", "--bootstrap-password", self.admin_password,
                     "--bootstrap-username", ADMIN_USER,
                     "--bootstrap-project-name", "admin",
                     "--bootstrap-region-id", REGION,
                     "--bootstrap-public-url", self.auth_url)

    def start(self):
        """Start serving; returns without waiting (see ``wait_ready``)."""
        self._out = open(self.out_path, "ab")
        self.proc = wsgi_peers.start_module(
            "tests.keystone_fixtures",
            ["--config-file", self.conf_path, "--port", str(self.port)], self._out)
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        wsgi_peers.wait_answering(self, self.auth_url, 200, timeout, self.stop)
        return self

    def stop(self, timeout=STOP_TIMEOUT):
        wsgi_peers.stop_group(self.proc, timeout)
        if self._out is not None and not self._out.closed:
            self._out.close()

    def populate(self):
        """The projects, roles, users and the ``snapshot`` service."""
        ks = self.admin_client()
        for name in PROJECTS:
            self.projects[name] = ks.projects.create(name, DOMAIN).id
        self._roles = {role.name: role.id for role in ks.roles.list()}
        for name in sorted({role for _, role in USERS.values()} - set(self._roles)):
            # `service`, which bootstrap makes only in recent releases
            self._roles[name] = ks.roles.create(name).id
        for name, (project, role) in USERS.items():
            self.add_user(name, project, role)
        ks.services.create(SERVICE_NAME, type=SERVICE_TYPE,
                           description="nativesnap: native VM snapshots")

    def add_user(self, name, project, role):
        """A user with ``role`` (one ``populate`` made or found) on
        ``project`` (a name of ``projects``) and a random password; returns
        its ``User``, also in ``users``."""
        ks = self.admin_client()
        password = uuid.uuid4().hex
        user = ks.users.create(name, domain=DOMAIN, password=password,
                               default_project=self.projects[project])
        ks.roles.grant(self._roles[role], user=user.id,
                       project=self.projects[project])
        self.users[name] = User(name, user.id, password, project, role)
        return self.users[name]

    # --- what the tests use -----------------------------------------------------

    def session(self, auth=None):
        from keystoneauth1 import session as ks_session

        return ks_session.Session(auth=auth, timeout=REQUEST_TIMEOUT)

    def admin_client(self):
        """python-keystoneclient v3 as the bootstrap administrator (system
        scope: Keystone's defaults give it every identity API)."""
        if self._admin is None:
            from keystoneauth1.identity import v3
            from keystoneclient.v3 import client as ks_client

            auth = v3.Password(auth_url=self.auth_url, username=ADMIN_USER,
                               password=self.admin_password,
                               user_domain_id=DOMAIN, system_scope="all")
            self._admin = ks_client.Client(session=self.session(auth),
                                           interface="public")
        return self._admin

    def password_auth(self, user, project=None):
        """keystoneauth1's password plugin of ``user``, scoped to its project
        (or to ``project``, a name of ``PROJECTS``)."""
        from keystoneauth1.identity import v3

        u = self.users[user]
        return v3.Password(auth_url=self.auth_url, user_id=u.id,
                           password=u.password,
                           project_id=self.projects[project or u.project])

    def token(self, user, project=None):
        """A fresh project-scoped token of ``user``."""
        return self.password_auth(user, project).get_token(self.session())

    def revoke(self, token):
        """Sign ``token`` out: ``DELETE /v3/auth/tokens``, by its own holder."""
        resp = requests.delete(f"{self.auth_url}/auth/tokens", timeout=REQUEST_TIMEOUT,
                               headers={"X-Auth-Token": token,
                                        "X-Subject-Token": token})
        if resp.status_code != 204:
            raise AssertionError(f"revoking a token answered {resp.status_code}: "
                                 f"{resp.text[:500]}")

    def expiring_token(self, user, seconds):
        """A project-scoped token of ``user`` that Keystone made to expire in
        ``seconds`` (an application credential expiring then, see the module's
        docstring); returns (token, its expiry as an aware datetime)."""
        from keystoneauth1.identity import v3
        from keystoneclient.v3 import client as ks_client

        u = self.users[user]
        expires = (datetime.datetime.now(datetime.timezone.utc)
                   + datetime.timedelta(seconds=seconds))
        own = ks_client.Client(session=self.session(self.password_auth(user)),
                               interface="public")
        credential = own.application_credentials.create(
            f"expiring-{uuid.uuid4().hex[:8]}", user=u.id,
            expires_at=expires.replace(tzinfo=None))
        access = v3.ApplicationCredential(
            auth_url=self.auth_url, application_credential_id=credential.id,
            application_credential_secret=credential.secret,
        ).get_access(self.session())
        if access.expires > expires + datetime.timedelta(seconds=1):
            raise AssertionError(f"Keystone issued a token expiring at "
                                 f"{access.expires}, after its application "
                                 f"credential's {expires}")
        return access.auth_token, access.expires

    def register_endpoint(self, url):
        """The ``snapshot`` service's endpoints: only a public one at ``url``."""
        service = self.remove_endpoints()
        self.admin_client().endpoints.create(service, url, interface="public",
                                             region=REGION)

    def remove_endpoints(self):
        """No endpoint of the ``snapshot`` service any more; returns the service."""
        ks = self.admin_client()
        service = ks.services.list(type=SERVICE_TYPE)[0]
        for endpoint in ks.endpoints.list(service=service):
            ks.endpoints.delete(endpoint)
        return service

    def register_service_endpoint(self, service_type, name, url):
        """Another service in the catalog (Cinder's ``volumev3``, say) with
        only a public endpoint at ``url``, in which Keystone replaces
        ``%(project_id)s`` by the token's project. The service is made on the
        first call, its endpoint replaced on later ones; returns its id."""
        ks = self.admin_client()
        found = ks.services.list(type=service_type)
        service = found[0] if found else ks.services.create(name, type=service_type)
        for endpoint in ks.endpoints.list(service=service):
            ks.endpoints.delete(endpoint)
        ks.endpoints.create(service, url, interface="public", region=REGION)
        return service.id

    def remove_service(self, service_type):
        """The service of ``service_type`` and its endpoints leave the catalog."""
        ks = self.admin_client()
        for service in ks.services.list(type=service_type):
            for endpoint in ks.endpoints.list(service=service):
                ks.endpoints.delete(endpoint)
            ks.services.delete(service)

    def authtoken_conf(self):
        """nativesnap's ``[keystone_authtoken]`` for this Keystone."""
        user = self.users[SERVICE_USER]
        return {
            "www_authenticate_uri": self.auth_url,
            "auth_url": self.auth_url,
            "auth_type": "password",
            "username": user.name,
            "password": user.password,
            "project_name": SERVICE_PROJECT,
            "user_domain_id": DOMAIN,
            "project_domain_id": DOMAIN,
            "region_name": REGION,
            # Keystone's only endpoints are public (keystone-manage bootstrap
            # --bootstrap-public-url); keystonemiddleware looks for the
            # internal one unless told.
            "interface": "public",
            # No cache of validated tokens: each request is checked with
            # Keystone, so a revoked token is refused at once (the cache
            # would accept it for up to token_cache_time seconds).
            "token_cache_time": "-1",
            "http_connect_timeout": "5",
            "http_request_max_retries": "1",
        }

    def start_api(self, state_dir, drivers=("fake",), extra_conf=None):
        """A started nativesnap-api with ``auth_strategy = keystone`` against
        this Keystone (its own sqlite database in ``state_dir``); the caller
        stops it."""
        server = fixtures.APIServer(state_dir, fixtures.sqlite_url(state_dir),
                                    drivers=drivers, extra_conf={
                                        "api": {"auth_strategy": "keystone"},
                                        "keystone_authtoken": self.authtoken_conf(),
                                        **(extra_conf or {})})
        server.manage("db", "sync")
        server.start()
        return server


def make_keystone(base_dir):
    """A running, filled KeystoneServer (``bootstrap_seconds`` set)."""
    began = time.monotonic()
    server = KeystoneServer(base_dir)
    server.setup()
    # The server's start (mostly imports) runs while bootstrap fills the
    # database: neither needs the other until the first token.
    server.start()
    try:
        server.bootstrap()
        server.wait_ready()
        server.populate()
    except BaseException:
        server.stop()
        raise
    server.bootstrap_seconds = time.monotonic() - began
    return server


@pytest.fixture(scope="session")
def keystone(tmp_path_factory):
    server = make_keystone(str(tmp_path_factory.mktemp("keystone")))
    _STARTED.append(server)
    yield server
    server.stop()


def pytest_terminal_summary(terminalreporter):
    for server in _STARTED:
        terminalreporter.write_line(
            f"keystone: made, started and filled in {server.bootstrap_seconds:.1f} s "
            f"(tests/keystone_fixtures.py; log {server.log_path})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    wsgi_peers.attach_log_tail(item, outcome.get_result(), KeystoneServer, "keystone")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Serve Keystone's API (keystone.wsgi.api:application) with cheroot.")
    parser.add_argument("--config-file", required=True, help="keystone.conf")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    return serve(args.config_file, args.port)


if __name__ == "__main__":
    sys.exit(main())

"""The ``nativesnap`` command (cliff).

Settings come from flags or the environment:
  --url / NATIVESNAP_URL       the API, e.g. http://127.0.0.1:8779
  --token / NATIVESNAP_TOKEN   sent as X-Auth-Token (noauth2: user:project)
  --os-auth-type, OS_*         keystone, through keystoneauth1's plugins
                               (password by default when OS_AUTH_URL is set)
Exit codes: 0 success, 1 an error (its message on stderr), 2 a usage error.
"""

import argparse
import os
import sys

from cliff import app
from cliff import commandmanager
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading

from nativesnap.client import client as ns_client
from nativesnap.client import commands
from nativesnap.client import connection
from nativesnap.client import exceptions
from nativesnap import version

DESCRIPTION = """The nativesnap CLI: servers and their native snapshots.

Point it at the API with NATIVESNAP_URL and NATIVESNAP_TOKEN (noauth2,
'<user>:<project>'), or with OS_* variables for keystone."""

ENV_URL = "NATIVESNAP_URL"
ENV_TOKEN = "NATIVESNAP_TOKEN"
ENV_API_VERSION = "NATIVESNAP_API_VERSION"


def _env(*names, default=None):
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return default


class ClientManager:
    """What the commands ask for (``.native``), as python-openstackclient's
    ClientManager gives it to the same commands there."""

    def __init__(self, options):
        self._options = options
        self._client = None

    @property
    def native(self):
        if self._client is None:
            self._client = make_client(self._options)
        return self._client


def make_client(options):
    """A Client from the parsed global options."""
    verify = False if options.insecure else (options.os_cacert or True)
    cert = ((options.os_cert, options.os_key) if options.os_cert and options.os_key
            else options.os_cert)
    common = dict(api_version=options.os_snapshot_api_version,
                  region_name=options.os_region_name,
                  interface=options.os_interface)
    if options.os_auth_type:
        try:
            auth = ks_loading.load_auth_from_argparse_arguments(options)
        except ks_exc.ClientException as e:
            raise exceptions.AuthenticationFailed(
                f"Keystone authentication ({options.os_auth_type}) is not "
                f"fully configured: {e}") from None
        session = connection.make_session(
            auth=auth, verify=verify, cert=cert, timeout=options.http_timeout)
        return ns_client.Client(endpoint=options.url or None, session=session,
                                **common)
    if not options.url:
        raise exceptions.ClientException(
            f"No API to talk to: set {ENV_URL} (e.g. http://127.0.0.1:8779) "
            f"and {ENV_TOKEN}, or --url and --token; or OS_* variables "
            "(OS_AUTH_URL, ...) for keystone.")
    if not options.token:
        raise exceptions.ClientException(
            f"No credentials: set {ENV_TOKEN} or --token (noauth2: "
            "'<user>:<project>'), or OS_* variables for keystone.")
    return ns_client.Client(options.url, token=options.token, verify=verify,
                            cert=cert, timeout=options.http_timeout, **common)


class NativesnapApp(app.App):
    NAME = "nativesnap"

    def __init__(self, argv=None, stdin=None, stdout=None, stderr=None):
        self._argv = list(sys.argv[1:] if argv is None else argv)
        super().__init__(
            description=DESCRIPTION, version=version.VERSION,
            command_manager=commandmanager.CommandManager("nativesnap.cli"),
            stdin=stdin, stdout=stdout, stderr=stderr, deferred_help=True)
        for name, cls in commands.COMMANDS.items():
            self.command_manager.add_command(name, cls)
        self.client_manager = None

    def build_option_parser(self, description, version, argparse_kwargs=None):
        kwargs = dict(argparse_kwargs or {})
        # Global options are read from the whole command line: no
        # abbreviations, so a command's option is never taken for one.
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        parser = super().build_option_parser(description, version, kwargs)
        parser.add_argument(
            "--url", metavar="URL", default=_env(ENV_URL),
            help=f"The API's URL (env {ENV_URL}), e.g. http://127.0.0.1:8779; "
                 "with keystone, overrides the catalog's.")
        parser.add_argument(
            "--token", metavar="TOKEN", default=_env(ENV_TOKEN),
            help=f"Token sent as X-Auth-Token (env {ENV_TOKEN}); noauth2: "
                 "'<user>:<project>'.")
        parser.add_argument(
            "--os-snapshot-api-version", metavar="VERSION",
            default=_env(ENV_API_VERSION),
            help=f"Microversion to use (env {ENV_API_VERSION}); default: the "
                 "highest the client and the server share.")
        parser.add_argument(
            "--os-region-name", metavar="REGION", default=_env("OS_REGION_NAME"),
            help="Region of the catalog's endpoint (env OS_REGION_NAME).")
        parser.add_argument(
            "--os-interface", metavar="INTERFACE",
            default=_env("OS_INTERFACE", default="public"),
            help="Interface of the catalog's endpoint (env OS_INTERFACE; "
                 "default public).")
        parser.add_argument(
            "--os-cacert", metavar="FILE", default=_env("OS_CACERT"),
            help="CA bundle to verify TLS with (env OS_CACERT).")
        parser.add_argument(
            "--os-cert", metavar="FILE", default=_env("OS_CERT"),
            help="Client certificate (env OS_CERT).")
        parser.add_argument(
            "--os-key", metavar="FILE", default=_env("OS_KEY"),
            help="Client certificate's key (env OS_KEY).")
        parser.add_argument(
            "--insecure", action="store_true",
            default=_env("OS_INSECURE", default="").lower() in ("1", "true"),
            help="Do not verify the server's TLS certificate.")
        parser.add_argument(
            "--http-timeout", metavar="SECONDS", type=float, default=None,
            help="Timeout of each HTTP request (default: none).")
        # keystone: --os-auth-type (env OS_AUTH_TYPE) and that plugin's own
        # options (env OS_*). With OS_AUTH_URL set and no noauth2 token, the
        # password plugin.
        default_auth = None
        if not _env(ENV_TOKEN) and "--token" not in self._argv and (
                _env("OS_AUTH_URL") or "--os-auth-url" in self._argv):
            default_auth = "password"
        try:
            ks_loading.register_auth_argparse_arguments(
                parser, self._argv, default=default_auth)
        except ks_exc.NoMatchingPlugin as e:
            raise SystemExit(f"nativesnap: {e}") from None
        return parser

    def initialize_app(self, argv):
        self.client_manager = ClientManager(self.options)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    return NativesnapApp(argv).run(argv)


if __name__ == "__main__":
    sys.exit(main())

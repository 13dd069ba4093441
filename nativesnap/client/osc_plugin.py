"""python-openstackclient plugin: ``openstack native server|snapshot ...``.

Registered by setup.cfg (entry point ``native`` in ``openstack.cli.extension``,
commands in ``openstack.native.v1``); the commands are the ``nativesnap``
CLI's own classes, given this client as ``client_manager.native``.

    openstack --os-endpoint http://127.0.0.1:8779 --os-token admin:demo \\
        native snapshot list            # noauth2 (keystoneauth's admin_token)
    openstack native snapshot list      # keystone: the 'snapshot' endpoint
                                        # of the service catalog
"""

import os

from nativesnap.client import client as ns_client
from nativesnap.client import connection

API_NAME = "native"
API_VERSION_OPTION = "os_native_api_version"
DEFAULT_API_VERSION = "1"
#: "1" negotiates the highest microversion; "1.N" asks for that one
API_VERSIONS = ("1",) + tuple(
    "1.%d" % minor for minor in range(connection.MIN_VERSION[1],
                                      connection.MAX_VERSION[1] + 1))


def _microversion(version):
    return None if version in (None, "", "None", "1", "latest") else version


def make_client(instance):
    """The nativesnap Client over openstackclient's session."""
    endpoint = instance.get_endpoint_for_service_type(
        connection.SERVICE_TYPE, region_name=instance.region_name,
        interface=instance.interface)
    return ns_client.Client(
        endpoint=endpoint, session=instance.session,
        api_version=_microversion(instance._api_version.get(API_NAME)),
        region_name=instance.region_name, interface=instance.interface)


def check_api_version(check_version):
    """True (accepted, skip openstackclient's own check) for "1" and the
    microversions this client speaks; False lets openstackclient warn."""
    return check_version in API_VERSIONS or check_version == "latest"


def build_option_parser(parser):
    parser.add_argument(
        "--os-native-api-version", metavar="<native-api-version>",
        default=os.environ.get("OS_NATIVE_API_VERSION", DEFAULT_API_VERSION),
        help="nativesnap API version: 1 (the highest microversion both sides "
             "support, default) or 1.N (env OS_NATIVE_API_VERSION)")
    return parser

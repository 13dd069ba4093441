"""[service_user] options: the service token nativesnap sends beside a user's.

When nativesnap calls Cinder or Glance on a user's behalf it sends the user's
own token, so what it creates belongs to the user's project and the peer's
policies apply to the user. With ``send_service_user_token`` it also sends a
token of its own service user (``X-Service-Token``): the peer then knows the
call comes from a service, and accepts a user token that expired while a long
task ran. Named as Nova names them (docs/cinder.md, docs/images.md).
"""

from oslo_config import cfg

from nativesnap.conf import service_client

GROUP = "service_user"

service_user_group = cfg.OptGroup(
    GROUP, title="Service user token options",
    help="The service user whose token nativesnap sends, as X-Service-Token, "
         "beside the user's token on the calls it makes to Cinder and Glance "
         "on a user's behalf.")

opts = [
    cfg.BoolOpt("send_service_user_token", default=False,
                help="When nativesnap calls Cinder or Glance with a user's "
                     "token (a request authenticated by Keystone), also send "
                     "a token of the service user configured in this "
                     "section. The peer then accepts the call even if the "
                     "user's token expired while the task ran, and its "
                     "policies can tell that a service calls. The auth "
                     "plugin options below must be set (auth_type, "
                     "auth_url, username, ...); the user needs the "
                     "'service' role."),
]

# No bound of its own in keystoneauth: the wait for Keystone's token is
# bounded like the calls it goes with.
DEFAULT_TIMEOUT = 30
session_opts = service_client.session_opts(DEFAULT_TIMEOUT)


def register_opts(conf):
    service_client.register(conf, service_user_group, opts + session_opts)


def list_opts():
    return {service_user_group: service_client.sample_opts(opts + session_opts)}

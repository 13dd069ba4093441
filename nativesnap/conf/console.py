"""[console] options: the web console nativesnap-api serves at /ui/ (docs/console.md)."""

from oslo_config import cfg

console_group = cfg.OptGroup("console", title="Web console options")

opts = [
    cfg.BoolOpt("enabled", default=True,
                help="Serve the web console at /ui/ beside the REST API. It is "
                     "static files and calls only the public REST API with the "
                     "user's own token."),
    cfg.URIOpt("keystone_url",
               help="With [api] auth_strategy = keystone: the Keystone "
                    "endpoint (e.g. https://keystone.example.org:5000/v3) the "
                    "console's sign-in form sends a user name and password "
                    "to, through nativesnap-api (POST /ui/login). Unset: the "
                    "form asks for a token instead."),
    cfg.StrOpt("keystone_ca_file",
               help="CA bundle that verifies keystone_url's TLS certificate "
                    "(unset: the system's)."),
    cfg.IntOpt("keystone_timeout", default=10, min=1,
               help="Seconds a sign-in waits for Keystone."),
]


def register_opts(conf):
    conf.register_group(console_group)
    conf.register_opts(opts, group=console_group)


def list_opts():
    return {console_group: opts}

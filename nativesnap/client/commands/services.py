"""``service list|set``: the compute services of the deployment
(administrators; docs/deployment.md).

An operator lists them to see which hosts are up and what they run, and
disables one before its maintenance, with a reason: the changes of its
servers are then refused at once, with that reason, instead of reaching a
service about to stop. A service is named by its host, which is what an
operator knows, or by its ID.
"""

from nativesnap.client.commands import base
from nativesnap.client import resource as res

LIST_COLUMNS = (("ID", "id"), ("Host", "host"), ("Binary", "binary"),
                ("Drivers", "drivers"), ("State", "state"),
                ("Status", "status"), ("Disabled Reason", "disabled_reason"),
                ("Last Seen At", "last_seen_at"))
LONG_COLUMNS = LIST_COLUMNS + (("Host-free Drivers", "host_free_drivers"),
                               ("RPC Version", "rpc_version"),
                               ("Updated At", "updated_at"))


class ListService(base.Lister):
    """List the compute services, ordered by host (administrators).

    State is up or down (from the service's last heartbeat); status is
    enabled or disabled (by an operator, with service set).
    """

    _epilog = """examples:
  nativesnap service list
  nativesnap service list --long -f json
  nativesnap service list -f value -c Host -c State
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--long", action="store_true",
                            help="More columns: " + ", ".join(
                                t for t, _ in LONG_COLUMNS[len(LIST_COLUMNS):]))
        return parser

    def take_action(self, parsed_args):
        columns = LONG_COLUMNS if parsed_args.long else LIST_COLUMNS
        return base.list_rows(self.client.services(), columns)


class SetService(base.ShowOne):
    """Disable a compute service, with a reason, or enable it again
    (administrators); prints the service as it then is.

    While a service is disabled, the changes of its servers are refused
    (HTTP 409, with the reason) and host-free servers go to the other
    services; its servers can still be read.
    """

    _epilog = """examples:
  nativesnap service set compute-3 --disable --reason "firmware upgrade"
  nativesnap service set compute-3 --enable
  nativesnap service set 5b0f...-... --disable -f value -c status
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("service", metavar="HOST_OR_ID",
                            help="Service (its host's name, or its ID).")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--disable", action="store_true",
                            help="Disable the service.")
        action.add_argument("--enable", action="store_true",
                            help="Enable the service (clears its reason).")
        parser.add_argument("--reason", metavar="TEXT",
                            help="With --disable: why (at most 255 "
                                 "characters), shown to the users whose "
                                 "requests it refuses.")
        # take_action reports a misplaced --reason as the usage error it is.
        self._parser = parser
        return parser

    def take_action(self, parsed_args):
        if parsed_args.enable and parsed_args.reason is not None:
            self._parser.error("--reason goes with --disable, not --enable")
        service = self.client.find_service(parsed_args.service)
        if parsed_args.disable:
            service = self.client.disable_service(service, parsed_args.reason)
        else:
            service = self.client.enable_service(service)
        return base.show_columns(service, res.Service.fields)

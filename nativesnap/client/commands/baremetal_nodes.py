"""``baremetal node create|list|show|delete``: enrolling the physical
machines of the bare-metal driver (administrators).

Secrets never go on the command line, where ``ps`` and shell histories
would show them: the agent's token and the BMC password are read from files
(``-`` is standard input), once, and the API never shows them back.
"""

import argparse

from nativesnap.client.commands import base
from nativesnap.client import exceptions
from nativesnap.client import resource as res

SORT_KEYS = ("created_at", "updated_at", "name", "id")
POWER_INTERFACES = ("none", "redfish")
HINT_KEYS = ("serial", "wwn", "size", "name")

LIST_COLUMNS = (("ID", "id"), ("Name", "name"), ("Agent URL", "agent_url"),
                ("Power", "power_interface"), ("Server ID", "server_id"),
                ("Last Heartbeat At", "last_heartbeat_at"))
LONG_COLUMNS = LIST_COLUMNS + (("Agent Version", "agent_version"),
                               ("Root Device Hint", "root_device_hint"),
                               ("Redfish Address", "redfish_address"),
                               ("Created At", "created_at"))


def _show(node):
    return base.show_columns(node, res.BaremetalNode.fields)


def _row(node):
    """A node with its power settings flattened for list columns."""
    power = node.get("power") or {}
    return dict(node.to_dict(), power_interface=power.get("interface"),
                redfish_address=power.get("address"))


def _gib(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of "
                                         "GiB of 1 or more")
    return int(text)


def read_secret(path, stdin, what):
    """The secret in file ``path`` (``-``: ``stdin``) without its final
    line break; an error that names the file, never its content."""
    try:
        if path == "-":
            text = stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise exceptions.ClientException(
            f"Cannot read {what} from {path}: "
            f"{getattr(e, 'strerror', None) or type(e).__name__}") from None
    if text.endswith("\n"):
        text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
    if not text:
        raise exceptions.ClientException(f"{what} file {path} is empty.")
    return text


class CreateBaremetalNode(base.ShowOne):
    """Enrol a bare-metal node (administrators).

    The node's agent (nativesnap-agent) must answer at --agent-url with the
    token in --agent-token-file; nativesnap powers the node through its
    BMC's Redfish service with --power-interface redfish, never otherwise.
    """

    _epilog = """examples:
  nativesnap baremetal node create rack1-n1 --agent-url https://10.0.0.5:9999 \\
      --agent-token-file /etc/nativesnap/rack1-n1.token
  pass show bmc/rack1-n2 | nativesnap baremetal node create rack1-n2 \\
      --agent-url https://10.0.0.6:9999 --agent-token-file n2.token \\
      --root-device-hint-serial S3Z1NB0K --root-device-hint-size 40 \\
      --power-interface redfish --redfish-address https://10.0.1.6 \\
      --redfish-system-id /redfish/v1/Systems/1 --redfish-username root \\
      --redfish-password-file - --no-redfish-verify-ca
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        # No abbreviations: '--agent-token SECRET' must be an error, not
        # taken for --agent-token-file (a secret used as a file name).
        parser.allow_abbrev = False
        parser.add_argument("name", metavar="NAME",
                            help="Name of the node (unique).")
        parser.add_argument("--agent-url", required=True, metavar="URL",
                            help="The node agent's http:// or https:// URL.")
        parser.add_argument("--agent-token-file", required=True,
                            metavar="PATH",
                            help="File holding the agent's token (16-4096 "
                                 "characters; '-' reads standard input).")
        for key in HINT_KEYS:
            parser.add_argument(
                f"--root-device-hint-{key}", metavar={
                    "size": "GIB", "name": "DEVICE"}.get(key, key.upper()),
                type=_gib if key == "size" else str,
                help={"serial": "Root disk's serial number.",
                      "wwn": "Root disk's World Wide Name.",
                      "size": "Root disk's size in GiB.",
                      "name": "Root disk's device, e.g. /dev/sda."}[key])
        self._power_arguments(parser)
        return parser

    @staticmethod
    def _power_arguments(parser):
        parser.add_argument(
            "--power-interface", choices=POWER_INTERFACES,
            help="How nativesnap powers the node (default: redfish when a "
                 "--redfish-* option is given, none otherwise).")
        parser.add_argument("--redfish-address", metavar="URL",
                            help="The BMC's Redfish URL (http:// or https://).")
        parser.add_argument("--redfish-system-id", metavar="ID",
                            help="The Redfish system, e.g. "
                                 "/redfish/v1/Systems/1.")
        parser.add_argument("--redfish-username", metavar="USER",
                            help="The BMC user.")
        parser.add_argument("--redfish-password-file", metavar="PATH",
                            help="File holding the BMC password ('-' reads "
                                 "standard input).")
        verify = parser.add_mutually_exclusive_group()
        verify.add_argument("--redfish-verify-ca", dest="redfish_verify_ca",
                            action="store_true", default=None,
                            help="Verify the BMC's TLS certificate (the "
                                 "default).")
        verify.add_argument("--no-redfish-verify-ca", dest="redfish_verify_ca",
                            action="store_false",
                            help="Do not verify the BMC's TLS certificate.")

    def take_action(self, parsed_args):
        args = parsed_args
        if args.agent_token_file == "-" and args.redfish_password_file == "-":
            raise exceptions.ClientException(
                "Only one of --agent-token-file and --redfish-password-file "
                "can read standard input ('-').")
        token = read_secret(args.agent_token_file, self.app.stdin,
                            "The agent token")
        return _show(self.client.create_baremetal_node(
            args.name, args.agent_url, token,
            root_device_hint=self._hint(args), power=self._power(args)))

    @staticmethod
    def _hint(args):
        hint = {key: getattr(args, f"root_device_hint_{key}")
                for key in HINT_KEYS}
        return {k: v for k, v in hint.items() if v is not None} or None

    def _power(self, args):
        redfish = {"address": args.redfish_address,
                   "system_id": args.redfish_system_id,
                   "username": args.redfish_username,
                   "verify_ca": args.redfish_verify_ca}
        if args.redfish_password_file:
            redfish["password"] = read_secret(
                args.redfish_password_file, self.app.stdin, "The BMC password")
        redfish = {k: v for k, v in redfish.items() if v is not None}
        interface = args.power_interface or ("redfish" if redfish else None)
        if interface is None:
            return None
        # The API judges the combination (e.g. 'none' with an address).
        return dict(redfish, interface=interface)


class ListBaremetalNode(base.Lister):
    """List the enrolled bare-metal nodes (administrators)."""

    _epilog = """examples:
  nativesnap baremetal node list
  nativesnap baremetal node list --long -f json
  nativesnap baremetal node list --sort-key name --sort-dir asc
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--long", action="store_true",
                            help="More columns: " + ", ".join(
                                t for t, _ in LONG_COLUMNS[len(LIST_COLUMNS):]))
        base.add_page_arguments(parser, SORT_KEYS)
        return parser

    def take_action(self, parsed_args):
        nodes = self.client.baremetal_nodes(
            limit=parsed_args.limit, marker=parsed_args.marker,
            sort_key=parsed_args.sort_key, sort_dir=parsed_args.sort_dir)
        columns = LONG_COLUMNS if parsed_args.long else LIST_COLUMNS
        rows = (_row(n) for n in base.limited(nodes, parsed_args.limit))
        return base.list_rows(rows, columns)


class ShowBaremetalNode(base.ShowOne):
    """Show an enrolled bare-metal node (never its token or BMC password)."""

    _epilog = """examples:
  nativesnap baremetal node show rack1-n1
  nativesnap baremetal node show 3f1e...-... -f json
  nativesnap baremetal node show rack1-n1 -f value -c server_id
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("node", metavar="NODE", help="Node (name or ID).")
        return parser

    def take_action(self, parsed_args):
        return _show(self.client.find_baremetal_node(parsed_args.node))


class DeleteBaremetalNode(base.Command):
    """Delete enrolled bare-metal nodes.

    A node cannot be deleted while a server is adopted on it: delete that
    server first (which only forgets it).
    """

    _epilog = """examples:
  nativesnap baremetal node delete rack1-n1
  nativesnap baremetal node delete 3f1e...-... 8a0c...-...
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("nodes", metavar="NODE", nargs="+",
                            help="Node(s) to delete (name or ID).")
        return parser

    def take_action(self, parsed_args):
        self.delete_each(parsed_args.nodes, "node", "nodes",
                         lambda ref: self.client.delete_baremetal_node(
                             self.client.find_baremetal_node(ref)))

"""``server list|show|adopt|delete|spawn|revert``, and for bare-metal
servers ``server abort-snapshot|retry-snapshot``. (``server add|remove
policy`` and ``server policy list`` are in commands/policies.py.)"""

from nativesnap.client.commands import base
from nativesnap.client.commands import snapshots
from nativesnap.client import resource as res

SORT_KEYS = ("created_at", "updated_at", "name", "status", "id")

LIST_COLUMNS = (("ID", "id"), ("Name", "name"), ("Status", "status"),
                ("Task State", "task_state"), ("Driver", "driver"),
                ("Hypervisor Ref", "hypervisor_ref"), ("Origin", "origin"))
LONG_COLUMNS = LIST_COLUMNS + (("Project ID", "project_id"), ("Host", "host"),
                               ("Source Snapshot ID", "source_snapshot_id"),
                               ("Linked", "linked"),
                               ("Provision State", "provision_state"),
                               ("Created At", "created_at"))


def _show(server):
    return base.show_columns(server, res.Server.fields_1_2)


class ListServer(base.Lister):
    """List servers."""

    _epilog = """examples:
  nativesnap server list
  nativesnap server list --status ACTIVE -f json
  nativesnap server list --all-projects --long     # administrators
  nativesnap server list -f value -c ID -c Name
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        base.add_list_arguments(
            parser, "Servers", "administrators",
            ("ACTIVE", "SHUTOFF", "BUILD", "PAUSED", "ERROR"),
            LIST_COLUMNS, LONG_COLUMNS, SORT_KEYS)
        return parser

    def take_action(self, parsed_args):
        servers = self.client.servers(
            all_projects=parsed_args.all_projects, status=parsed_args.status,
            limit=parsed_args.limit, marker=parsed_args.marker,
            sort_key=parsed_args.sort_key, sort_dir=parsed_args.sort_dir)
        columns = LONG_COLUMNS if parsed_args.long else LIST_COLUMNS
        return base.list_rows(base.limited(servers, parsed_args.limit), columns)


class ShowServer(base.ShowOne):
    """Show a server's details."""

    _epilog = """examples:
  nativesnap server show web1
  nativesnap server show 9f0c...-... -f json
  nativesnap server show web1 -f value -c status
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("server", metavar="SERVER",
                            help="Server (name or ID).")
        return parser

    def take_action(self, parsed_args):
        return _show(self.find_server(parsed_args.server))


class AdoptServer(base.ShowOne):
    """Adopt an existing hypervisor object as a server (administrators).

    nativesnap then takes its snapshots; deleting the server later only
    forgets it, the hypervisor object stays.
    """

    _epilog = """examples:
  nativesnap server adopt web1 --driver libvirt --hypervisor-ref my-domain
  nativesnap server adopt db1 --driver libvirt --hypervisor-ref 0b4e...-... \\
      --project demo -f json
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="NAME", help="Name of the server.")
        parser.add_argument("--driver", required=True, metavar="DRIVER",
                            help="The driver that manages it, e.g. libvirt.")
        parser.add_argument("--hypervisor-ref", required=True, metavar="REF",
                            help="The object on the hypervisor (a libvirt "
                                 "domain's name or UUID).")
        parser.add_argument("--project", metavar="PROJECT_ID",
                            help="Project that owns it (default: yours).")
        return parser

    def take_action(self, parsed_args):
        return _show(self.client.adopt_server(
            parsed_args.name, parsed_args.driver, parsed_args.hypervisor_ref,
            project_id=parsed_args.project))


class DeleteServer(base.Command):
    """Delete servers.

    A spawned server is destroyed with its disks; an adopted one is only
    forgotten (the hypervisor object and its data stay).
    """

    _epilog = """examples:
  nativesnap server delete web1-copy
  nativesnap server delete 9f0c...-... 3a1b...-...
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("servers", metavar="SERVER", nargs="+",
                            help="Server(s) to delete (name or ID).")
        return parser

    def take_action(self, parsed_args):
        self.delete_each(parsed_args.servers, "server", "servers",
                         lambda ref: self.client.delete_server(
                             self.find_server(ref)))


class SpawnServer(base.ShowOne):
    """Spawn a new server from a snapshot.

    A linked clone (the default) is a thin overlay on the snapshot's frozen
    state; --full copies the disks instead.
    """

    _epilog = """examples:
  nativesnap server spawn web1-copy --snapshot before-upgrade --wait
  nativesnap server spawn web1-full --snapshot 5d2e...-... --full --power-off
  nativesnap server spawn bm1-copy --snapshot bm1-nightly --full --node rack1-n2
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="NAME",
                            help="Name of the new server.")
        parser.add_argument("--snapshot", required=True, metavar="SNAPSHOT",
                            help="Snapshot to spawn from (ID, or a name "
                                 "unique among your snapshots).")
        parser.add_argument("--full", action="store_true",
                            help="A full copy instead of a linked clone.")
        parser.add_argument("--power-off", action="store_true",
                            help="Leave the new server shut off.")
        parser.add_argument("--node", metavar="NODE",
                            help="Bare metal only: the enrolled node (ID or "
                                 "name) to spawn on (administrators); "
                                 "default: the first free node.")
        self.add_wait_arguments(parser, "the new server is ACTIVE (or SHUTOFF "
                                        "with --power-off)")
        return parser

    def take_action(self, parsed_args):
        snapshot = self.snapshot_ref(parsed_args.snapshot)
        server = self.client.spawn_server(
            parsed_args.name, snapshot, linked=not parsed_args.full,
            power_on=not parsed_args.power_off, node=parsed_args.node)
        if parsed_args.wait:
            server = self.wait(
                parsed_args, f"Spawning server {server.name}",
                lambda **kw: self.client.wait_for_status(
                    server, ("ACTIVE", "SHUTOFF"), failures=("ERROR",), **kw))
        return _show(server)


class RevertServer(base.Command):
    """Revert a server in place to one of its snapshots.

    Every disk goes back to its state at the snapshot (and the RAM too for a
    memory snapshot); what was written since is lost unless another snapshot
    holds it.
    """

    _epilog = """examples:
  nativesnap server revert web1 before-upgrade --wait
  nativesnap server revert web1 5d2e...-... --power-off
  nativesnap server revert web1 before-upgrade --queue --wait
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("server", metavar="SERVER",
                            help="Server to revert (name or ID).")
        parser.add_argument("snapshot", metavar="SNAPSHOT",
                            help="One of its snapshots (name or ID).")
        parser.add_argument("--power-off", action="store_true",
                            help="Leave the server shut off afterwards.")
        snapshots.add_queue_argument(parser, "reverted")
        self.add_wait_arguments(parser, "the revert is done (with --queue, "
                                        "after its turn in the queue)")
        return parser

    def take_action(self, parsed_args):
        server = self.find_server(parsed_args.server)
        snapshot = self.snapshot_ref(parsed_args.snapshot, server=server)
        queue = True if parsed_args.queue else None
        power_on = False if parsed_args.power_off else None
        self.client.revert_server(server, snapshot, power_on=power_on,
                                  queue=queue)
        if parsed_args.wait:
            # A queued revert is waited for, not the task it queued behind.
            waits = {"queued_action": "revert"} if queue else {}
            self.wait(parsed_args, f"Reverting server {server.name}",
                      lambda **kw: self.client.wait_for_task(server, **waits,
                                                             **kw))


class AbortSnapshotServer(base.Command):
    """Give up a bare-metal server's snapshot.

    A snapshot waiting for the node's agent fails at once (the server goes
    to provision state 'snapshot failed'); a failed one is left for good:
    the server goes back to 'active' and the snapshot stays in error.
    """

    _epilog = """examples:
  nativesnap server abort-snapshot bm1 --wait
  nativesnap server abort-snapshot 9f0c...-...
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("server", metavar="SERVER",
                            help="Bare-metal server (name or ID).")
        self.add_wait_arguments(parser, "the server's task has ended")
        return parser

    def take_action(self, parsed_args):
        server = self.find_server(parsed_args.server)
        self.client.abort_snapshot(server)
        if parsed_args.wait:
            self.wait(parsed_args, f"Aborting the snapshot of {server.name}",
                      lambda **kw: self.client.wait_for_task(
                          server, fault_is_failure=False, **kw))


class RetrySnapshotServer(base.ShowOne):
    """Take a bare-metal server's failed snapshot again.

    The server must be in provision state 'snapshot failed'; its latest
    snapshot in error is taken again under the same ID (status 'creating').
    """

    _epilog = """examples:
  nativesnap server retry-snapshot bm1 --wait
  nativesnap server retry-snapshot bm1 -f value -c id
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("server", metavar="SERVER",
                            help="Bare-metal server (name or ID).")
        self.add_wait_arguments(parser, "the snapshot is available")
        return parser

    def take_action(self, parsed_args):
        server = self.find_server(parsed_args.server)
        snapshot = self.client.retry_snapshot(server)
        if parsed_args.wait:
            snapshot = self.wait(
                parsed_args, f"Retrying snapshot {snapshot.name}",
                lambda **kw: self.client.wait_for_status(
                    snapshot, "available", failures=("error",), **kw))
        return base.show_columns(snapshot, res.Snapshot.fields_1_1)

"""``policy create|list|show|set|delete|prune`` and ``server add policy``,
``server remove policy``, ``server policy list``: snapshot schedules with
retention (docs/client.md).

A policy says when to snapshot (every N minutes or hours, or a cron
expression in a time zone), what to take, and which of the snapshots it took
to keep; the service takes and prunes by itself. These commands make the
schedule readable at a glance (the Schedule and Retention columns) and show
what the last run did for each server, since that is what a user checks when
a snapshot they expected is not there.
"""

import argparse

from cliff import columns as cliff_columns

from nativesnap.client.commands import base
from nativesnap.client import resource as res

QUIESCE_MODES = ("required", "preferred", "off")
KEEP_UNITS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
PERIODS = {"hourly": "hours", "daily": "days", "weekly": "weeks",
           "monthly": "months", "yearly": "years"}

LIST_COLUMNS = (("ID", "id"), ("Name", "name"), ("Schedule", "schedule"),
                ("Retention", "retention"), ("Enabled", "enabled"),
                ("Last Run", "last_run"), ("Next Run", "next_run"))
LONG_COLUMNS = LIST_COLUMNS + (("Servers", "server_count"),
                               ("Memory", "memory"), ("Quiesce", "quiesce"),
                               ("Include Volumes", "include_volumes"),
                               ("Name Template", "name_template"),
                               ("Project ID", "project_id"))
#: a server's policies: the policy, and its run on that server
SERVER_COLUMNS = (("ID", "id"), ("Name", "name"), ("Schedule", "schedule"),
                  ("Retention", "retention"), ("Enabled", "enabled"),
                  ("Attached At", "attached_at"), ("Last Run", "last_run"),
                  ("Next Run", "next_run"), ("Outcome", "outcome"))
PRUNE_COLUMNS = (("Server ID", "server_id"), ("Action", "action"),
                 ("Snapshot ID", "snapshot_id"), ("Name", "name"),
                 ("Scheduled At", "scheduled_at"), ("Why", "why"))


def schedule_text(policy):
    """``every 60 min`` or ``cron 0 3 * * * Europe/Paris``."""
    minutes = policy.get("interval_minutes")
    if minutes:
        if minutes % 60 == 0:
            return f"every {minutes // 60} h"
        return f"every {minutes} min"
    if policy.get("cron"):
        return f"cron {policy['cron']} {policy.get('timezone') or 'UTC'}"
    return ""


def retention_text(policy):
    """``last 3, daily 7, weekly 4``: the rules above 0, in their order."""
    return ", ".join(f"{unit} {policy.get('keep_' + unit)}"
                     for unit in KEEP_UNITS if policy.get("keep_" + unit))


def outcome_text(outcome):
    """One line of what a run did for one server."""
    if not outcome:
        return "no run yet"
    parts = [f"at {outcome.get('at')}"]
    parts.append(f"took {outcome['taken']}" if outcome.get("taken")
                 else "took nothing")
    parts.append(f"kept {len(outcome.get('kept') or [])}")
    parts.append(f"pruned {len(outcome.get('pruned') or [])}")
    for skip in outcome.get("skipped") or []:
        what = f"{skip['snapshot_id']} " if skip.get("snapshot_id") else ""
        parts.append(f"skipped {what}({skip.get('reason')})")
    if outcome.get("error"):
        parts.append(f"error: {outcome['error']}")
    return ", ".join(parts)


class OutcomeColumn(cliff_columns.FormattableColumn):
    """A run's outcome: one line in tables, the dict in -f json/yaml."""

    def human_readable(self):
        return outcome_text(self._value)


class ServersColumn(cliff_columns.FormattableColumn):
    """The attached servers: a line each (last run, next run, what the last
    run did) in tables, the API's list in -f json/yaml."""

    def human_readable(self):
        return "\n".join(
            f"{s.get('server_id')}: last run {s.get('last_run') or '-'}, "
            f"next run {s.get('next_run') or '-'}; "
            f"{outcome_text(s.get('outcome'))}"
            for s in self._value or [])


def _show(policy):
    columns, values = base.show_columns(policy, res.SnapshotPolicy.fields)
    values = tuple(ServersColumn(policy.get("servers")) if c == "servers"
                   else v for c, v in zip(columns, values))
    return columns, values


def _row(policy, server_id=None):
    """A policy's view with the computed columns; with ``server_id``, its
    attachment to that server too."""
    row = dict(policy.to_dict(), schedule=schedule_text(policy),
               retention=retention_text(policy),
               server_count=len(policy.get("servers") or []))
    if server_id is not None:
        attachment = policy.attachment(server_id) or {}
        row.update(attached_at=attachment.get("attached_at"),
                   last_run=attachment.get("last_run"),
                   next_run=attachment.get("next_run"),
                   outcome=OutcomeColumn(attachment.get("outcome")))
    return res.SnapshotPolicy(row)


def _count(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number "
                                         "of 0 or more")
    return int(text)


def _positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number "
                                         "of 1 or more")
    return int(text)


def add_policy_arguments(parser, for_set=False):
    """The options of ``policy create`` and ``policy set``."""
    schedule = parser.add_mutually_exclusive_group(required=not for_set)
    schedule.add_argument("--interval-minutes", type=_positive, metavar="N",
                          help="Every N minutes (slots aligned to the Unix "
                               "epoch in UTC).")
    schedule.add_argument("--interval-hours", type=_positive, metavar="N",
                          help="Every N hours (an hourly policy runs on the "
                               "hour).")
    schedule.add_argument("--cron", metavar="EXPR",
                          help="A 5-field cron expression, e.g. '0 3 * * *', "
                               "evaluated in --timezone.")
    parser.add_argument("--description", metavar="TEXT",
                        help="A description.")
    parser.add_argument("--timezone", metavar="TZ",
                        help="IANA time zone of --cron and of the name "
                             "template's time, e.g. Europe/Paris (default "
                             "UTC).")
    _add_flag(parser, "--memory", "Save RAM and device state too.", for_set)
    parser.add_argument("--quiesce", choices=QUIESCE_MODES,
                        help="Freeze the guest's filesystems through its "
                             "agent: required, preferred (default) or off.")
    _add_flag(parser, "--include-volumes", "Snapshot the server's "
              "file-based volumes in the same freeze window.", for_set)
    parser.add_argument("--name-template", metavar="TEMPLATE",
                        help="Names of the snapshots: {policy}, {server} and "
                             "{time:STRFTIME} (default "
                             "'{policy}-{time:%%Y%%m%%d-%%H%%M}').")
    for unit in KEEP_UNITS:
        parser.add_argument(
            f"--keep-{unit}", type=_count, metavar="N",
            help=("Keep the N latest snapshots." if unit == "last" else
                  "Keep the latest snapshot of each of the N latest "
                  f"{PERIODS[unit]} (a snapshot kept by an earlier rule does "
                  "not count).") + (" At least one --keep-* above 0 (create)."
                                    if unit == "yearly" else ""))


def _add_flag(parser, option, text, for_set):
    if not for_set:
        parser.add_argument(option, action="store_true", default=None,
                            help=text)
        return
    group = parser.add_mutually_exclusive_group()
    group.add_argument(option, action="store_true", default=None, help=text)
    group.add_argument("--no-" + option[2:], dest=option[2:].replace("-", "_"),
                       action="store_false", default=None,
                       help=f"Do not: the opposite of {option}.")


def policy_attrs(parsed_args):
    """The policy's fields the options give (None: not given)."""
    attrs = {name: getattr(parsed_args, name) for name in (
        "interval_minutes", "interval_hours", "cron", "description",
        "timezone", "memory", "quiesce", "include_volumes", "name_template")}
    attrs.update({f"keep_{unit}": getattr(parsed_args, f"keep_{unit}")
                  for unit in KEEP_UNITS})
    return {k: v for k, v in attrs.items() if v is not None}


class CreatePolicy(base.ShowOne):
    """Create a snapshot policy: a schedule, what to take, what to keep.

    Attach it to servers with 'server add policy'; the service then takes
    their snapshots on schedule and prunes the ones the policy took (never
    one taken by hand, one with dependents, or the current one).
    """

    _epilog = """examples:
  nativesnap policy create hourly --interval-hours 1 --keep-last 24
  nativesnap policy create nightly --cron "0 3 * * *" --timezone Europe/Paris \\
      --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --quiesce required
  nativesnap policy create frequent --interval-minutes 15 --keep-last 4 \\
      --name-template "{server}-{time:%H%M}" --disable
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("name", metavar="NAME",
                            help="Name of the policy.")
        add_policy_arguments(parser)
        parser.add_argument("--disable", action="store_true",
                            help="Create it paused (no snapshots until "
                                 "'policy set --enable').")
        return parser

    def take_action(self, parsed_args):
        attrs = policy_attrs(parsed_args)
        if parsed_args.disable:
            attrs["enabled"] = False
        return _show(self.client.create_snapshot_policy(parsed_args.name,
                                                        **attrs))


class ListPolicy(base.Lister):
    """List snapshot policies."""

    _epilog = """examples:
  nativesnap policy list
  nativesnap policy list --long -f json
  nativesnap policy list --all-projects          # administrators
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--all-projects", action="store_true",
                            help="Policies of every project "
                                 "(administrators).")
        parser.add_argument("--long", action="store_true",
                            help="More columns: " + ", ".join(
                                t for t, _ in LONG_COLUMNS[len(LIST_COLUMNS):]))
        return parser

    def take_action(self, parsed_args):
        policies = self.client.snapshot_policies(
            all_projects=parsed_args.all_projects)
        columns = LONG_COLUMNS if parsed_args.long else LIST_COLUMNS
        return base.list_rows((_row(p) for p in policies), columns)


class ShowPolicy(base.ShowOne):
    """Show a snapshot policy: its settings, last and next run, and what the
    last run did for each server (taken, kept, pruned, skipped and why)."""

    _epilog = """examples:
  nativesnap policy show nightly
  nativesnap policy show nightly -f json -c servers
  nativesnap policy show 4c1d...-... -f value -c next_run
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("policy", metavar="POLICY",
                            help="Policy (name or ID).")
        return parser

    def take_action(self, parsed_args):
        return _show(self.client.find_snapshot_policy(parsed_args.policy))


class SetPolicy(base.ShowOne):
    """Change a snapshot policy, pause it (--disable) or resume it
    (--enable); prints the policy as it then is.

    A new schedule or retention counts from the next run; the snapshots the
    policy took stay its own.
    """

    _epilog = """examples:
  nativesnap policy set nightly --keep-daily 14
  nativesnap policy set nightly --cron "30 2 * * *" --timezone UTC
  nativesnap policy set hourly --disable
  nativesnap policy set hourly --enable --no-memory
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("policy", metavar="POLICY",
                            help="Policy (name or ID).")
        parser.add_argument("--name", metavar="NAME", help="A new name.")
        add_policy_arguments(parser, for_set=True)
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--enable", action="store_true",
                           help="Resume the policy.")
        state.add_argument("--disable", action="store_true",
                           help="Pause the policy (its schedule and "
                                "attachments stay).")
        self._parser = parser
        return parser

    def take_action(self, parsed_args):
        attrs = policy_attrs(parsed_args)
        if parsed_args.name is not None:
            attrs["name"] = parsed_args.name
        if parsed_args.enable or parsed_args.disable:
            attrs["enabled"] = bool(parsed_args.enable)
        if not attrs:
            self._parser.error("nothing to change: give at least one option")
        policy = self.client.find_snapshot_policy(parsed_args.policy)
        return _show(self.client.update_snapshot_policy(policy, **attrs))


class DeletePolicy(base.Command):
    """Delete snapshot policies.

    A policy is detached from its servers; the snapshots it took stay (with
    its ID in policy_id) and are no longer pruned.
    """

    _epilog = """examples:
  nativesnap policy delete nightly
  nativesnap policy delete 4c1d...-... 7e2a...-...
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("policies", metavar="POLICY", nargs="+",
                            help="Policy(ies) to delete (name or ID).")
        return parser

    def take_action(self, parsed_args):
        self.delete_each(parsed_args.policies, "policy", "policies",
                         lambda ref: self.client.delete_snapshot_policy(
                             self.client.find_snapshot_policy(ref)))


def prune_rows(plans):
    """One row per snapshot of a prune's answer: keep (with the rule that
    keeps it), remove, skip (with the reason)."""
    for plan in plans:
        server_id = plan.get("server_id")
        for action, why in (("keep", "rule"), ("remove", None),
                            ("skip", "reason")):
            for item in plan.get(action) or []:
                yield res.Resource(dict(item, server_id=server_id,
                                        action=action,
                                        why=item.get(why) if why else None))


class PrunePolicy(base.Lister):
    """Prune a policy's snapshots by its retention now, or preview it.

    One row per snapshot the policy took: keep (and the rule that keeps
    it), remove, or skip (and why: dependents, the current one, ...). With
    --dry-run nothing changes; otherwise the removals are queued as deletes.
    """

    _epilog = """examples:
  nativesnap policy prune nightly --dry-run
  nativesnap policy prune nightly --server web1
  nativesnap policy prune nightly --dry-run -f json
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("policy", metavar="POLICY",
                            help="Policy (name or ID).")
        parser.add_argument("--server", metavar="SERVER",
                            help="Only this server's snapshots (name or ID).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Only show what would be kept and removed.")
        return parser

    def take_action(self, parsed_args):
        policy = self.client.find_snapshot_policy(parsed_args.policy)
        server = (self.find_server(parsed_args.server)
                  if parsed_args.server else None)
        plans = self.client.prune_snapshot_policy(
            policy, server=server, dry_run=parsed_args.dry_run)
        return base.list_rows(prune_rows(plans), PRUNE_COLUMNS)


class _ServerPolicyCommand:
    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("server", metavar="SERVER",
                            help="Server (name or ID).")
        parser.add_argument("policy", metavar="POLICY",
                            help="Snapshot policy (name or ID).")
        return parser

    def server_and_policy(self, parsed_args):
        return (self.find_server(parsed_args.server),
                self.client.find_snapshot_policy(parsed_args.policy))


class AddPolicyServer(_ServerPolicyCommand, base.ShowOne):
    """Attach a snapshot policy to a server; prints the policy.

    A server may have several policies; the policy must be of the server's
    project.
    """

    _epilog = """examples:
  nativesnap server add policy web1 nightly
  nativesnap server add policy web1 hourly -f value -c next_run
"""

    def take_action(self, parsed_args):
        server, policy = self.server_and_policy(parsed_args)
        return _show(self.client.attach_snapshot_policy(server, policy))


class RemovePolicyServer(_ServerPolicyCommand, base.Command):
    """Detach a snapshot policy from a server; the snapshots it took stay."""

    _epilog = """examples:
  nativesnap server remove policy web1 nightly
"""

    def take_action(self, parsed_args):
        server, policy = self.server_and_policy(parsed_args)
        self.client.detach_snapshot_policy(server, policy)


class ListPolicyServer(base.Lister):
    """List the snapshot policies attached to a server, with their last and
    next run on it and what that last run did."""

    _epilog = """examples:
  nativesnap server policy list web1
  nativesnap server policy list web1 -f json
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("server", metavar="SERVER",
                            help="Server (name or ID).")
        return parser

    def take_action(self, parsed_args):
        server = self.find_server(parsed_args.server)
        policies = self.client.server_snapshot_policies(server)
        return base.list_rows((_row(p, server.id) for p in policies),
                              SERVER_COLUMNS)

"""``quota show|set|delete``: a project's snapshot limits, in the shape of
Nova's and Cinder's os-quota-sets (docs/client.md).

A project is named by its ID (keystone's, or noauth2's project name): the
client does not look projects up. -1 means unlimited. With --usage, each
limit is shown beside what the project uses, flattened into
``<limit>_in_use`` fields so the table and ``-f value`` stay one value per
field.
"""

import argparse

from nativesnap.client.commands import base
from nativesnap.client import resource as res


def _limit(text):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < -1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of "
                                         "-1 (unlimited) or more")
    return value


def _show(quota_set):
    """(columns, values): id, then each limit (and its use, when the API
    gave ``{"limit", "in_use"}``)."""
    data = quota_set.to_dict()
    columns, values = ["id"], [data.get("id")]
    for name in res.QuotaSet.limits + tuple(
            sorted(k for k in data if k not in res.QuotaSet.fields)):
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, dict) and "limit" in value:
            columns += [name, f"{name}_in_use"]
            values += [value.get("limit"), value.get("in_use")]
        else:
            columns.append(name)
            values.append(base.cell(value))
    return tuple(columns), tuple(values)


class _ProjectCommand:
    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("project", metavar="PROJECT",
                            help="Project ID.")
        return parser


class ShowQuota(_ProjectCommand, base.ShowOne):
    """Show a project's snapshot limits (-1: unlimited); yours, or any
    project's for administrators."""

    _epilog = """examples:
  nativesnap quota show demo
  nativesnap quota show demo --usage
  nativesnap quota show 3f2a...-... -f json
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--usage", action="store_true",
                            help="Show what the project uses too "
                                 "(snapshots_in_use, ...).")
        return parser

    def take_action(self, parsed_args):
        return _show(self.client.get_quota_set(parsed_args.project,
                                               usage=parsed_args.usage))


class SetQuota(_ProjectCommand, base.ShowOne):
    """Set a project's snapshot limits (administrators); prints them.

    A limit already exceeded refuses new snapshots (HTTP 403) but deletes
    none.
    """

    _epilog = """examples:
  nativesnap quota set demo --snapshots 100 --snapshots-per-server 20
  nativesnap quota set demo --snapshots -1            # unlimited
"""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument("--snapshots", type=_limit, metavar="N",
                            help="Snapshots of the whole project (-1: "
                                 "unlimited).")
        parser.add_argument("--snapshots-per-server", type=_limit,
                            metavar="N",
                            help="Snapshots of any one server (-1: "
                                 "unlimited).")
        self._parser = parser
        return parser

    def take_action(self, parsed_args):
        if (parsed_args.snapshots is None
                and parsed_args.snapshots_per_server is None):
            self._parser.error("nothing to change: give --snapshots and/or "
                               "--snapshots-per-server")
        return _show(self.client.update_quota_set(
            parsed_args.project, snapshots=parsed_args.snapshots,
            snapshots_per_server=parsed_args.snapshots_per_server))


class DeleteQuota(_ProjectCommand, base.Command):
    """Put a project's snapshot limits back to the defaults ([quota] of the
    service's configuration; administrators)."""

    _epilog = """examples:
  nativesnap quota delete demo
"""

    def take_action(self, parsed_args):
        self.client.delete_quota_set(parsed_args.project)

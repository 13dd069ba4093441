"""What the commands share: the client, the --wait options, the columns.

The command classes run in two applications: ``nativesnap`` (client/shell.py)
and python-openstackclient (``openstack native ...``, client/osc_plugin.py).
Both give the client as ``self.app.client_manager.native``.
"""

import argparse
import itertools
import json

from cliff import columns as cliff_columns
from cliff import command
from cliff import lister
from cliff import show
from oslo_utils import uuidutils

from nativesnap.client import exceptions
from nativesnap.client import progress
from nativesnap.client import proxy

DEFAULT_TIMEOUT = proxy.DEFAULT_TIMEOUT


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's and the epilog's lines (the examples) as
    written; option help is wrapped as usual."""


class _Base:
    #: what ``--help`` shows after the options: at least one example
    _epilog = None
    # python-openstackclient: authenticate first; noauth2 tokens have no scope.
    auth_required = True
    required_scope = False

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.formatter_class = HelpFormatter
        return parser

    def get_epilog(self):
        epilog = super().get_epilog()
        if getattr(self.app, "NAME", None) == "openstack":
            # The same examples, as python-openstackclient spells them.
            epilog = epilog.replace("  nativesnap ", "  openstack native ")
        return epilog

    @property
    def client(self):
        return self.app.client_manager.native

    # --- waiting --------------------------------------------------------------

    @staticmethod
    def add_wait_arguments(parser, what):
        parser.add_argument(
            "--wait", action="store_true",
            help=f"Wait until {what}; a progress bar on a terminal, plain "
                 "lines otherwise (on stderr). Exits 1 if it fails or the "
                 "timeout passes.")
        parser.add_argument(
            "--timeout", type=_seconds, default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help=f"With --wait: give up after this long (default "
                 f"{DEFAULT_TIMEOUT}); the operation goes on in the background.")

    def wait(self, parsed_args, label, wait_fn):
        """Run ``wait_fn(timeout=..., callback=...)`` with a progress report."""
        reporter = progress.Progress(self.app.stderr, label)
        try:
            result = wait_fn(timeout=parsed_args.timeout, callback=reporter)
        except exceptions.ClientException:
            reporter.finish("failed")
            raise
        status = getattr(result, "status", None) if result is not None else None
        reporter.finish(f"done ({status})" if status else "done")
        return result

    # --- several at once --------------------------------------------------------

    def delete_each(self, refs, what, plural, delete):
        """``delete(ref)`` for each of ``refs``; one that fails is reported
        and the others go on (a single one's error is raised as it is)."""
        failed = []
        for ref in refs:
            try:
                delete(ref)
            except exceptions.ClientException as e:
                if len(refs) == 1:
                    raise
                self.app.stderr.write(f"Failed to delete {what} {ref}: {e}\n")
                failed.append(ref)
        if failed:
            raise exceptions.ClientException(
                f"{len(failed)} of {len(refs)} {plural} could not be "
                f"deleted: {', '.join(failed)}")

    # --- lookups --------------------------------------------------------------

    def find_server(self, name_or_id, all_projects=False):
        return self.client.find_server(name_or_id, all_projects=all_projects)

    def snapshot_ref(self, name_or_id, server=None):
        """An id to send as it is (the API checks it), or the id of the
        snapshot with that name."""
        if uuidutils.is_uuid_like(name_or_id):
            return name_or_id
        return self.client.find_snapshot(name_or_id, server=server).id


class Command(_Base, command.Command):
    pass


class Lister(_Base, lister.Lister):
    pass


class ShowOne(_Base, show.ShowOne):
    pass


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of "
                                         "seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError("the timeout cannot be negative")
    return value


def _count(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number "
                                         "of 0 or more")
    return int(text)


class JSONColumn(cliff_columns.FormattableColumn):
    """A dict or list: compact JSON in tables, the value itself in -f json/yaml."""

    def human_readable(self):
        if self._value is None:
            return ""
        return json.dumps(self._value, sort_keys=True, separators=(", ", ": "))


def cell(value):
    return JSONColumn(value) if isinstance(value, (dict, list)) else value


def show_columns(resource, fields):
    """(columns, values) of a resource for ShowOne: the documented fields in
    order, then any the API added later; never ``links``."""
    data = resource.to_dict()
    names = [f for f in fields if f in data]
    names += sorted(k for k in data if k not in names and k != "links")
    return tuple(names), tuple(cell(data[n]) for n in names)


def list_rows(resources, columns):
    """Rows for a Lister: ``columns`` is ((title, field), ...)."""
    titles = tuple(title for title, _ in columns)
    rows = (tuple(cell(r.get(field)) for _, field in columns)
            for r in resources)
    return titles, rows


def add_page_arguments(parser, sort_keys):
    parser.add_argument("--limit", type=_count, metavar="N",
                        help="Show at most N items (fetched in pages of N).")
    parser.add_argument("--marker", metavar="ID",
                        help="Start after the item with this ID.")
    parser.add_argument("--sort-key", metavar="KEY",
                        help=f"Sort by this field: {', '.join(sort_keys)} "
                             "(default created_at).")
    parser.add_argument("--sort-dir", metavar="DIR",
                        help="asc or desc (default desc).")


def add_list_arguments(parser, what, all_projects_note, statuses, list_columns,
                       long_columns, sort_keys):
    """The options every list command shares: project scope, status filter,
    the long view, paging and sorting."""
    parser.add_argument("--all-projects", action="store_true",
                        help=f"{what} of every project ({all_projects_note}).")
    parser.add_argument("--status", metavar="STATUS",
                        help=f"Only {what.lower()} with this status "
                             f"({', '.join(statuses)}).")
    parser.add_argument("--long", action="store_true",
                        help="More columns: " + ", ".join(
                            t for t, _ in long_columns[len(list_columns):]))
    add_page_arguments(parser, sort_keys)


def limited(items, limit):
    """At most ``limit`` items of an iterator (all without a limit); pulls no
    more than that, so no page past the last one shown is fetched."""
    return items if limit is None else itertools.islice(items, limit)

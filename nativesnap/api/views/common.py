"""Helpers shared by the views: timestamps, links, pagination links."""

import datetime
import urllib.parse


def isotime(value):
    if value is None:
        return None
    if type(value) is datetime.datetime and value.year >= 1000:
        # What the strftime below gives, at a quarter of its cost.
        return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
            value.year, value.month, value.day, value.hour, value.minute,
            value.second, value.microsecond)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def self_links(req, path):
    return [{"rel": "self", "href": f"{req.base_url()}/v1/{path}"},
            {"rel": "bookmark", "href": f"{req.base_url()}/{path}"}]


def next_link(req, items, limit, more):
    """A ``next`` link when more items follow this page (``more``: the
    controller read one row past it)."""
    if not items or not more:
        return []
    params = {k: v for k, v in req.GET.items() if k != "marker"}
    params["limit"] = str(limit)
    params["marker"] = items[-1]["id"]
    query = urllib.parse.urlencode(sorted(params.items()))
    return [{"rel": "next", "href": f"{req.base_url()}{req.path}?{query}"}]

"""Microversions: ``OpenStack-API-Version: snapshot 1.N``.

History (each entry is what a client gets by asking for that version):
  1.0  the initial API.
  1.1  a snapshot's view lists the images exported from it (``images``).
"""

import re

from nativesnap import exception

SERVICE_TYPE = "snapshot"
HEADER = "OpenStack-API-Version"
MIN_VERSION = (1, 0)
MAX_VERSION = (1, 1)

VERSION_HISTORY = {
    (1, 0): "The initial API.",
    (1, 1): "A snapshot's view lists the images exported from it (images).",
}

_VERSION_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


def fmt(version):
    return "%d.%d" % version


def parse_header(value):
    """The version asked for by a header value; the minimum when absent.

    ``value`` may name several services (comma-separated); only ours counts.
    Raises ValidationError (400) for a malformed value and VersionNotAcceptable
    (406) for a version this API does not serve.
    """
    if not value:
        return MIN_VERSION
    requested = None
    for part in value.split(","):
        words = part.strip().split()
        if not words or words[0].lower() != SERVICE_TYPE:
            continue
        if len(words) != 2:
            raise exception.ValidationError(
                where=f"header {HEADER}",
                reason=f"'{part.strip()[:40]}' is not of the form "
                       f"'{SERVICE_TYPE} <major>.<minor>'")
        requested = words[1]
    if requested is None:
        return MIN_VERSION
    if requested.lower() == "latest":
        return MAX_VERSION
    match = _VERSION_RE.match(requested)
    if not match:
        raise exception.ValidationError(
            where=f"header {HEADER}",
            reason=f"'{requested[:32]}' is not a version; send "
                   f"'{SERVICE_TYPE} <major>.<minor>', e.g. "
                   f"'{SERVICE_TYPE} {fmt(MAX_VERSION)}'")
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise exception.VersionNotAcceptable(version=requested,
                                             min=fmt(MIN_VERSION),
                                             max=fmt(MAX_VERSION))
    return version

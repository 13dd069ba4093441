"""Microversions: ``OpenStack-API-Version: snapshot 1.N``.

History (each entry is what a client gets by asking for that version):
  1.0  the initial API.
  1.1  a snapshot's view lists the images exported from it (``images``).
  1.2  snapshot policies' fields ``policy_id`` and ``scheduled_at`` in the
       snapshot view; ``queue`` on create, delete and revert; queued requests
       in the server view (``queued``).

Under ``/v2.1`` nativesnap serves one corner of Nova's API,
os-assisted-volume-snapshots, to Cinder's Nova client, which pins compute
2.1 and sends ``X-OpenStack-Nova-API-Version: 2.1`` and/or
``OpenStack-API-Version: compute 2.1``. Those routes do not take part in the
``snapshot`` negotiation: they read Nova's headers, serve 2.1 (also for
``latest``) and answer with Nova's headers.
"""

import re

from nativesnap import exception

SERVICE_TYPE = "snapshot"
HEADER = "OpenStack-API-Version"
MIN_VERSION = (1, 0)
MAX_VERSION = (1, 2)

VERSION_HISTORY = {
    (1, 0): "The initial API.",
    (1, 1): "A snapshot's view lists the images exported from it (images).",
    (1, 2): "Snapshot policies' fields policy_id and scheduled_at in the "
            "snapshot view; queue on create, delete and revert; queued "
            "requests in the server view.",
}

# Microversion 1.2 (docs/scheduler.md): a mutation may wait in a busy
# server's queue ("queue": true, or ?queue=true on a delete), the snapshot
# view names the policy that took it, the server view what waits for it.
QUEUE = (1, 2)

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


# --- Nova's compute API at /v2.1 (os-assisted-volume-snapshots only) -----------

COMPUTE_PREFIX = "/v2.1"
COMPUTE_SERVICE_TYPE = "compute"
COMPUTE_VERSION = (2, 1)
LEGACY_COMPUTE_HEADER = "X-OpenStack-Nova-API-Version"


def is_compute_path(path):
    """Whether ``path`` (PATH_INFO as received) is under Nova's /v2.1."""
    return path == COMPUTE_PREFIX or path.startswith(COMPUTE_PREFIX + "/")


def _compute_value(header, value):
    if value.lower() == "latest":
        return COMPUTE_VERSION
    match = _VERSION_RE.match(value)
    if not match:
        raise exception.ValidationError(
            where=f"header {header}",
            reason=f"'{value[:32]}' is not a version; this endpoint serves "
                   f"{COMPUTE_SERVICE_TYPE} {fmt(COMPUTE_VERSION)}")
    version = (int(match.group(1)), int(match.group(2)))
    if version != COMPUTE_VERSION:
        raise exception.VersionNotAcceptable(version=value,
                                             min=fmt(COMPUTE_VERSION),
                                             max=fmt(COMPUTE_VERSION))
    return version


def parse_compute_headers(headers):
    """The compute version a /v2.1 request asks for: 2.1 when it names none,
    or names 2.1 or latest; 400 for a malformed value, 406 for another."""
    for part in (headers.get(HEADER) or "").split(","):
        words = part.strip().split()
        if not words or words[0].lower() != COMPUTE_SERVICE_TYPE:
            continue  # another service's version: not ours to judge here
        if len(words) != 2:
            raise exception.ValidationError(
                where=f"header {HEADER}",
                reason=f"'{part.strip()[:40]}' is not of the form "
                       f"'{COMPUTE_SERVICE_TYPE} <major>.<minor>'")
        _compute_value(HEADER, words[1])
    legacy = (headers.get(LEGACY_COMPUTE_HEADER) or "").strip()
    if legacy:
        _compute_value(LEGACY_COMPUTE_HEADER, legacy)
    return COMPUTE_VERSION


def compute_headers():
    """Nova's answer headers for compute 2.1 (python-novaclient checks the
    legacy one at 2.1)."""
    version = fmt(COMPUTE_VERSION)
    return {HEADER: f"{COMPUTE_SERVICE_TYPE} {version}",
            LEGACY_COMPUTE_HEADER: version,
            "Vary": f"{HEADER}, {LEGACY_COMPUTE_HEADER}"}

"""Pagination over HTTP: 250 snapshots of one project, listed 7 at a time by
following the ``next`` links, come back each exactly once and in order, for
every sort key and both directions; markers that are not in the listing
answer 400."""

import concurrent.futures
import uuid

import pytest

from tests.functional import helpers as h

SERVERS = 2
PER_SERVER = 125
TOTAL = SERVERS * PER_SERVER
LIMIT = 7


def _fill_server(api, server_id, token, index):
    """PER_SERVER snapshots, one at a time; names repeat across servers so
    that sorting by name has ties to break."""
    ids = []
    for i in range(PER_SERVER):
        name = f"snap-{(i * SERVERS + index) % 17:02d}"
        resp = api.request("POST", h.snapshot_path(server_id), token=token,
                           json={"snapshot": {"name": name}})
        ids.append(h.ok(resp, 202)["snapshot"]["id"])
        h.wait_idle(api, server_id, token, interval=0.01)
    return ids


@pytest.fixture(scope="module")
def population(api):
    """One project with SERVERS servers of PER_SERVER available snapshots each.

    Read-only for the tests of this module: they only list it.
    """
    token, project = h.project_token("pager")
    servers = [h.adopt(api, project_id=project)["id"] for _ in range(SERVERS)]
    with concurrent.futures.ThreadPoolExecutor(SERVERS) as pool:
        futures = [pool.submit(_fill_server, api, sid, token, i)
                   for i, sid in enumerate(servers)]
        per_server = {sid: f.result(timeout=300)
                      for sid, f in zip(servers, futures)}
    snapshots = h.ok(api.request("GET", "/v1/snapshots?limit=1000",
                                 token=token))["snapshots"]
    assert len(snapshots) == TOTAL
    assert {s["status"] for s in snapshots} == {"available"}
    return {"token": token, "servers": servers, "per_server": per_server,
            "snapshots": {s["id"]: s for s in snapshots}}


def _pages(count, limit):
    """A page carries a next link only when more items follow (the API reads
    one row past the page), so a listing that fills its last page exactly
    needs no further, empty, request."""
    return max(1, -(-count // limit))


def _expected(snapshots, sort_key, sort_dir):
    """The documented order: the sort key, then id, in the same direction."""
    return [s["id"] for s in sorted(snapshots, key=lambda s: (s[sort_key], s["id"]),
                                    reverse=sort_dir == "desc")]


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
@pytest.mark.parametrize("sort_key", ["created_at", "name", "status", "id",
                                      "updated_at"])
def test_following_next_links_lists_each_of_250_snapshots_exactly_once_in_order(
        api, population, sort_key, sort_dir):
    token = population["token"]
    items, pages = h.follow_pages(
        api, f"/v1/snapshots?limit={LIMIT}&sort_key={sort_key}&sort_dir={sort_dir}",
        token)
    ids = [s["id"] for s in items]
    assert len(ids) == len(set(ids)) == TOTAL
    assert set(ids) == set(population["snapshots"])
    assert ids == _expected(population["snapshots"].values(), sort_key, sort_dir)
    assert pages == _pages(TOTAL, LIMIT)


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
@pytest.mark.parametrize("sort_key", ["created_at", "name"])
def test_a_servers_snapshot_pages_list_its_own_snapshots_exactly_once(
        api, population, sort_key, sort_dir):
    token = population["token"]
    server_id = population["servers"][-1]
    own = population["per_server"][server_id]
    items, pages = h.follow_pages(
        api, f"{h.snapshot_path(server_id)}?limit={LIMIT}&sort_key={sort_key}"
             f"&sort_dir={sort_dir}", token)
    ids = [s["id"] for s in items]
    assert sorted(ids) == sorted(own)
    assert ids == _expected([population["snapshots"][i] for i in own], sort_key,
                            sort_dir)
    assert pages == _pages(PER_SERVER, LIMIT)


def test_next_links_keep_the_filters_and_sort_of_the_first_request(api, population):
    token = population["token"]
    first = h.ok(api.request(
        "GET", f"/v1/snapshots?status=available&sort_key=name&limit={LIMIT}",
        token=token))
    (link,) = first["snapshots_links"]
    assert link["rel"] == "next"
    href = link["href"]
    assert href.startswith(f"{api.url}/v1/snapshots?")
    for part in ("status=available", "sort_key=name", f"limit={LIMIT}",
                 f"marker={first['snapshots'][-1]['id']}"):
        assert part in href


def test_the_last_page_has_no_next_link_and_a_full_listing_needs_no_links(
        api, population):
    token = population["token"]
    body = h.ok(api.request("GET", "/v1/snapshots", token=token))
    assert len(body["snapshots"]) == TOTAL
    assert "snapshots_links" not in body
    body = h.ok(api.request("GET", f"/v1/snapshots?limit={TOTAL + 1}", token=token))
    assert "snapshots_links" not in body


def test_a_page_beyond_the_last_item_is_empty(api, population):
    token = population["token"]
    last = h.ok(api.request("GET", "/v1/snapshots?sort_dir=asc",
                            token=token))["snapshots"][-1]["id"]
    body = h.ok(api.request("GET", f"/v1/snapshots?sort_dir=asc&marker={last}",
                            token=token))
    assert body == {"snapshots": []}


def test_limit_zero_answers_an_empty_page_without_links(api, population):
    body = h.ok(api.request("GET", "/v1/snapshots?limit=0",
                            token=population["token"]))
    assert body == {"snapshots": []}


def test_a_marker_of_an_unknown_id_answers_400_naming_it(api, population):
    unknown = str(uuid.uuid4())
    for path in ("/v1/snapshots", h.snapshot_path(population["servers"][0])):
        resp = api.request("GET", f"{path}?marker={unknown}",
                           token=population["token"])
        h.assert_fault(resp, 400, "marker", unknown)


def test_a_marker_from_another_listing_answers_400(api, population):
    token = population["token"]
    one, two = population["servers"][:2]
    foreign = population["per_server"][two][0]
    resp = api.request("GET", f"{h.snapshot_path(one)}?marker={foreign}",
                       token=token)
    h.assert_fault(resp, 400, "marker", foreign)
    # Another project's snapshot is not in the caller's listing either.
    resp = api.request("GET", f"/v1/snapshots?marker={foreign}", token=h.ALICE)
    h.assert_fault(resp, 400, "marker", foreign)


def test_server_pages_list_each_server_exactly_once(api, population):
    items, pages = h.follow_pages(api, "/v1/servers?limit=1&sort_dir=asc",
                                  population["token"], key="servers")
    assert [s["id"] for s in items] == population["servers"]
    assert pages == _pages(SERVERS, 1)

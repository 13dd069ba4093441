"""Retention: Proxmox Backup Server's prune rules (nativesnap/scheduler/
retention.py), checked against hand-computed tables, against an independent
implementation of the rules written here in another shape, and for the
property the scheduler relies on: pruning after every take ends where one
prune of the whole history would (docs/scheduler.md)."""

import datetime
import itertools
import random
import zoneinfo

import pytest

from nativesnap.scheduler import retention

UTC = datetime.timezone.utc
HOUR = datetime.timedelta(hours=1)


def utc(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def ids(selection):
    return ([(item.id, rule) for item, rule in selection.keep],
            [item.id for item in selection.remove],
            [(item.id, reason) for item, reason in selection.skip])


def hourly(start, hours):
    return [retention.Item(i, start + i * HOUR) for i in range(hours)]


# --- hand-computed tables ----------------------------------------------------

SHORT = [retention.Item(name, utc(when)) for name, when in [
    ("a1", "2024-03-01 06:00"), ("a2", "2024-03-01 12:00"),
    ("a3", "2024-03-01 18:00"),
    ("b1", "2024-03-02 06:00"), ("b2", "2024-03-02 12:00"),
    ("b3", "2024-03-02 18:00"), ("b4", "2024-03-02 22:00"),
    ("c1", "2024-03-03 06:00"), ("c2", "2024-03-03 12:00"),
    ("c3", "2024-03-03 18:00"),
]]


def test_short_history_by_hand():
    selection = retention.select(reversed(SHORT),
                                 {"keep_last": 2, "keep_daily": 2})
    # last: c3, c2. daily: 3 March is represented (c3), so c1 is left
    # alone and removed in the end; 2 March -> b4 (b3..b1 removed),
    # 1 March -> a3 (a2, a1 removed).
    assert ids(selection) == (
        [("c3", "keep_last"), ("c2", "keep_last"), ("b4", "keep_daily"),
         ("a3", "keep_daily")],
        ["c1", "b3", "b2", "b1", "a2", "a1"],
        [])


def test_a_period_a_rule_took_is_closed_to_later_rules():
    items = [retention.Item(name, utc(when)) for name, when in [
        ("apr28", "2024-04-28 12:00"),  # Sunday, ISO week 17
        # ISO week 18 runs from Monday 29 April to Sunday 5 May
        ("apr29", "2024-04-29 12:00"), ("apr30", "2024-04-30 12:00"),
        ("may2", "2024-05-02 12:00"),
    ]]
    # weekly takes week 18 (may2) and strikes out apr30 and apr29 at once:
    # monthly, finding May represented, takes April's newest left, apr28
    selection = retention.select(items, {"keep_weekly": 1,
                                         "keep_monthly": 1})
    assert ids(selection) == (
        [("may2", "keep_weekly"), ("apr28", "keep_monthly")],
        ["apr30", "apr29"], [])


def test_weeks_are_iso_weeks_across_the_year_end():
    items = [retention.Item(name, utc(when)) for name, when in [
        ("sat", "2024-12-28 12:00"), ("sun", "2024-12-29 12:00"),
        # Monday 30 December 2024 starts ISO week 2025-W01
        ("mon", "2024-12-30 12:00"), ("tue", "2024-12-31 12:00"),
        ("thu", "2025-01-02 12:00"),
    ]]
    selection = retention.select(items, {"keep_weekly": 2})
    assert ids(selection) == ([("thu", "keep_weekly"), ("sun", "keep_weekly")],
                              ["tue", "mon", "sat"], [])
    # by calendar year instead, 31 December would have been a week's newest
    selection = retention.select(items, {"keep_yearly": 2})
    assert ids(selection)[0] == [("thu", "keep_yearly"),
                                 ("tue", "keep_yearly")]


def test_periods_are_those_of_the_time_zone():
    items = [retention.Item("x", utc("2024-01-10 20:00")),
             # 23:30 UTC is 00:30 on 11 January in Berlin (CET, +1)
             retention.Item("y", utc("2024-01-10 23:30")),
             retention.Item("z", utc("2024-01-11 10:00"))]
    rules = {"keep_daily": 2}
    assert ids(retention.select(items, rules)) == (
        [("z", "keep_daily"), ("y", "keep_daily")], ["x"], [])
    assert ids(retention.select(items, rules, "Europe/Berlin")) == (
        [("z", "keep_daily"), ("x", "keep_daily")], ["y"], [])
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert ids(retention.select(items, rules, berlin))[1] == ["y"]


def test_protected_items_are_never_removed_and_take_no_period():
    items = [retention.Item(name, utc(at), why) for name, at, why in [
        ("old", "2024-03-01 06:00", "server s2 was spawned from it"),
        ("a", "2024-03-02 06:00", None),
        ("b", "2024-03-03 06:00", None),
        ("cur", "2024-03-03 12:00", "it is the server's current snapshot"),
    ]]
    selection = retention.select(items, {"keep_last": 1})
    assert ids(selection) == (
        [("b", "keep_last")], ["a"],
        [("cur", "it is the server's current snapshot"),
         ("old", "server s2 was spawned from it")])
    # 3 March is not represented by the protected "cur": daily keeps b
    selection = retention.select(items, {"keep_daily": 1})
    assert ids(selection)[:2] == ([("b", "keep_daily")], ["a"])


def test_ties_in_time_are_broken_by_id():
    when = utc("2024-03-01 06:00")
    items = [retention.Item(name, when) for name in "cab"]
    for order in itertools.permutations(items):
        assert ids(retention.select(order, {"keep_last": 2})) == (
            [("c", "keep_last"), ("b", "keep_last")], ["a"], [])


@pytest.mark.parametrize("rules,timezone,message", [
    ({}, "UTC", "keeps nothing"),
    ({rule: 0 for rule in retention.RULES}, "UTC", "keeps nothing"),
    ({"keep_daily": -1}, "UTC", "keep_daily"),
    ({"keep_daily": 1.5}, "UTC", "keep_daily"),
    ({"keep_daily": True}, "UTC", "keep_daily"),
    ({"keep_fortnightly": 1}, "UTC", "keep_fortnightly"),
    ({"keep_daily": 1}, "Mars/Olympus_Mons", "Mars/Olympus_Mons"),
])
def test_invalid_retention_or_zone_is_a_value_error(rules, timezone, message):
    with pytest.raises(ValueError, match=message):
        retention.select(SHORT, rules, timezone)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        retention.select([retention.Item(1, datetime.datetime(2024, 1, 1))],
                         {"keep_last": 1})


# --- an independent implementation -------------------------------------------

FORMATS = {"keep_hourly": "%Y-%m-%d %H", "keep_daily": "%Y-%m-%d",
           "keep_weekly": "%G-W%V", "keep_monthly": "%Y-%m",
           "keep_yearly": "%Y"}


def reference(items, rules, timezone="UTC"):
    """Per rule: the set of periods it may still take, the first n of them,
    the newest member of each kept and the others struck out."""
    tz = zoneinfo.ZoneInfo(timezone)
    newest_first = sorted(items, key=lambda i: (i.time, i.id), reverse=True)

    def period(rule, item):
        if rule == "keep_last":
            return item.id
        return item.time.astimezone(tz).strftime(FORMATS[rule])

    kept, struck = {}, set()
    for rule in retention.RULES:
        taken = {period(rule, item) for item in newest_first
                 if item.id in kept}
        open_items = [item for item in newest_first
                      if item.id not in kept and item.id not in struck
                      and item.protected_reason is None
                      and period(rule, item) not in taken]
        periods = list(dict.fromkeys(period(rule, i) for i in open_items))
        for chosen in periods[:rules.get(rule, 0)]:
            members = [i for i in open_items if period(rule, i) == chosen]
            kept[members[0].id] = rule
            struck.update(i.id for i in members[1:])
    return ([(i.id, kept[i.id]) for i in newest_first if i.id in kept],
            [i.id for i in newest_first
             if i.id not in kept and i.protected_reason is None],
            [(i.id, i.protected_reason) for i in newest_first
             if i.protected_reason is not None])


def test_sixty_days_hourly_keep_last_3_daily_7_weekly_4():
    # Monday 1 January 2024 00:00 UTC to Thursday 29 February 23:00: item i
    # is taken at hour i; 23:00 of day d is item 24 * d + 23.
    items = hourly(utc("2024-01-01 00:00"), 60 * 24)
    rules = {"keep_last": 3, "keep_daily": 7, "keep_weekly": 4}
    keep = ids(retention.select(items, rules))[0]
    assert keep == (
        [(1439, "keep_last"), (1438, "keep_last"), (1437, "keep_last")]
        # 28 February back to 22 February (days 58 .. 52)
        + [(24 * day + 23, "keep_daily") for day in range(58, 51, -1)]
        # the weeks of 29 and 22 February are represented: the Sundays
        # 18, 11, 4 February and 28 January (days 48, 41, 34, 27)
        + [(1175, "keep_weekly"), (1007, "keep_weekly"),
           (839, "keep_weekly"), (671, "keep_weekly")])
    assert len(keep) == 3 + 7 + 4
    assert reference(items, rules) == ids(retention.select(items, rules))


def random_history(rng):
    when = utc("2023-11-20 00:00") + rng.randrange(0, 400) * HOUR
    items = []
    for number in range(rng.randrange(1, 250)):
        when += datetime.timedelta(minutes=rng.choice(
            [0, 7, 30, 60, 60, 60, 180, 24 * 60, 3 * 24 * 60, 20 * 24 * 60]))
        reason = ("has dependents" if rng.random() < 0.08 else None)
        items.append(retention.Item(f"s{number:03d}", when, reason))
    rng.shuffle(items)
    return items


def random_rules(rng):
    while True:
        rules = {rule: rng.choice([0, 0, 1, 2, 3, 5]) for rule in
                 retention.RULES}
        if any(rules.values()):
            return rules


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata",
         "Australia/Sydney"]


@pytest.mark.parametrize("seed", range(40))
def test_random_histories_agree_with_the_reference(seed):
    rng = random.Random(seed)
    items, rules = random_history(rng), random_rules(rng)
    zone = rng.choice(ZONES)
    selection = retention.select(items, rules, zone)
    assert ids(selection) == reference(items, rules, zone)
    assert len(selection.keep) <= sum(rules.values())
    everything = ([i for i, _ in selection.keep] + selection.remove
                  + [i for i, _ in selection.skip])
    assert sorted(i.id for i in everything) == sorted(i.id for i in items)


# --- pruning after every take ------------------------------------------------

def prune_after_every_take(items, rules, timezone):
    """What is kept, and by which rule, when each take is followed by a
    prune that removes what select() removes."""
    present = []
    for item in items:
        selection = retention.select(present + [item], rules, timezone)
        present = ([i for i, _ in selection.keep]
                   + [i for i, _ in selection.skip])
    return ids(retention.select(present, rules, timezone))[0]


def kept_at_once(items, rules, timezone):
    return ids(retention.select(items, rules, timezone))[0]


@pytest.mark.parametrize("start,timezone", [
    # across the year's end (ISO week 2025-W01 starts on 30 December)
    ("2024-12-01 00:00", "UTC"),
    # across the change to summer time (30 March 2025)
    ("2025-03-01 00:00", "Europe/Berlin"),
    # across the change back to winter time (3 November 2024)
    ("2024-10-05 00:00", "America/New_York"),
])
@pytest.mark.parametrize("rules", [
    {"keep_last": 3, "keep_daily": 7, "keep_weekly": 4},
    {"keep_last": 1},
    {"keep_hourly": 24, "keep_daily": 7},
    {"keep_last": 1, "keep_hourly": 2, "keep_daily": 3, "keep_weekly": 2},
    {"keep_daily": 3, "keep_monthly": 2, "keep_yearly": 2},
    {"keep_last": 2, "keep_monthly": 3, "keep_yearly": 1},
    {"keep_weekly": 5},
    {"keep_yearly": 1},
])
def test_pruning_after_every_take_equals_one_prune(start, timezone, rules):
    items = hourly(utc(start), 60 * 24)
    assert (prune_after_every_take(items, rules, timezone)
            == kept_at_once(items, rules, timezone))


@pytest.mark.parametrize("seed", range(12))
def test_pruning_after_every_take_equals_one_prune_random_rules(seed):
    rng = random.Random(seed)
    rules = random_rules(rng)
    if rules["keep_weekly"]:  # see the test below
        rules["keep_monthly"] = rules["keep_yearly"] = 0
    items = hourly(utc("2024-12-01 00:00"), 60 * 24)
    assert (prune_after_every_take(items, rules, "UTC")
            == kept_at_once(items, rules, "UTC"))


def test_weekly_with_monthly_or_yearly_is_not_incremental():
    """The exception, inherent in PBS's rules: weeks straddle months and
    years. On 1 January 2025 keep_weekly takes 2025-W01's newest and strikes
    out 30 and 31 December (same week), so keep_yearly cannot take 31
    December later, as one prune of the whole history does; with
    keep_weekly 1 and keep_yearly 1, 2024 ends with no snapshot at all."""
    items = hourly(utc("2024-12-01 00:00"), 60 * 24)
    dec_31_23h = 30 * 24 + 23
    rules = {"keep_weekly": 1, "keep_yearly": 1}
    assert kept_at_once(items, rules, "UTC") == [
        (1439, "keep_weekly"), (dec_31_23h, "keep_yearly")]
    assert prune_after_every_take(items, rules, "UTC") == [
        (1439, "keep_weekly")]

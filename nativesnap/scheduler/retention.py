"""Which of a policy's snapshots to keep: Proxmox Backup Server's prune rules.

The retention of a snapshot policy is the six counts of PBS's prune
(``keep_last`` .. ``keep_yearly``) and they mean exactly what PBS and its
prune simulator say, so that an operator who has used them gets no surprise
and can check a policy in the simulator (docs/scheduler.md, "Retention"):

- The snapshots are looked at newest first, the rules applied one after the
  other in the order of ``RULES``. A rule of count n keeps the newest snapshot
  of each of the n newest periods (the snapshot itself for ``keep_last``, else
  the hour, day, ISO week, month or year, on the wall clock of the policy's
  time zone: "daily" is the operator's day, not UTC's) that are not already
  represented by a snapshot an earlier rule kept. So a snapshot kept by one
  rule is not counted again by the next, and the counts add up: with a
  regular history, ``keep_last 3, keep_daily 7, keep_weekly 4`` keeps 14.
- The other snapshots of a period a rule has just represented are marked
  removed at once: a later rule cannot pick them up. Those of a period an
  earlier rule represents are left alone, and so are all older than the
  rule's n-th period: a coarser rule may still keep them. What no rule keeps
  is removed.
- A protected snapshot (the server's current one, one with dependents: its
  ``protected_reason`` says which) is never removed and, like PBS's protected
  backups, takes no period: the rules keep their full count besides it. It is
  reported in ``skip`` with its reason, since the rules alone would drop it.

The scheduler prunes after every take, keeping only what :func:`select`
keeps; that this ends where one prune of the whole history would is tested
(tests/unit/scheduler/test_retention.py). With one exception, PBS's too:
``keep_weekly`` with ``keep_monthly`` or ``keep_yearly``. A week that
straddles two months has its first days struck out by the weekly rule, so
the month is then kept by its newest snapshot before that week, and with
``keep_weekly 1`` it can lose its snapshot altogether. Pure functions: no
I/O, no clock.
"""

import dataclasses
import datetime
import typing
import zoneinfo

RULES = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly",
         "keep_monthly", "keep_yearly")

# The period of a rule, from a time on the policy's wall clock. The hour is
# the wall-clock hour, as PBS's strftime_local: the hour repeated when the
# clocks go back is one period.
_PERIODS = {
    "keep_hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "keep_daily": lambda t: (t.year, t.month, t.day),
    "keep_weekly": lambda t: tuple(t.isocalendar())[:2],
    "keep_monthly": lambda t: (t.year, t.month),
    "keep_yearly": lambda t: (t.year,),
}
_REMOVED = "removed"


@dataclasses.dataclass(frozen=True)
class Item:
    """A snapshot as retention sees it. ``time`` is timezone-aware (the
    schedule slot it was taken for, else its creation time)."""

    id: typing.Any
    time: datetime.datetime
    protected_reason: typing.Optional[str] = None


@dataclasses.dataclass
class Selection:
    """What :func:`select` decided, each list newest first: ``keep`` holds
    ``(item, rule)``, ``remove`` items, ``skip`` ``(item, reason)``."""

    keep: list
    remove: list
    skip: list


def counts(retention):
    """The six counts of ``retention`` (a mapping of ``RULES`` to ints, a
    missing one 0). ValueError for an unknown rule, a count that is not a
    non-negative int, or all zeros: such a policy would remove everything."""
    unknown = sorted(set(retention) - set(RULES))
    if unknown:
        raise ValueError(f"unknown retention rule(s): {', '.join(unknown)}")
    result = {}
    for rule in RULES:
        value = retention.get(rule) or 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"retention {rule} must be an integer >= 0, "
                             f"not {value!r}")
        result[rule] = value
    if not any(result.values()):
        raise ValueError("retention keeps nothing: at least one of "
                         f"{', '.join(RULES)} must be above 0")
    return result


def zone(timezone):
    """A tzinfo from an IANA name (or a tzinfo, returned as is)."""
    if isinstance(timezone, datetime.tzinfo):
        return timezone
    try:
        return zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {timezone!r}") from None


def select(items, retention, timezone="UTC"):
    """Split ``items`` into those to keep (with the rule keeping each), those
    to remove and the protected ones, by the rules of the module docstring,
    periods taken in ``timezone``. Deterministic: items of the same time are
    ordered by id (the greater id counting as the newer)."""
    wanted = counts(retention)
    tz = zone(timezone)
    ordered = sorted(items, key=_newest_first_key, reverse=True)
    periods = [_periods_of(index, item, tz)
               for index, item in enumerate(ordered)]
    marks = {}
    for rule in RULES:
        if wanted[rule]:
            _apply(rule, wanted[rule], ordered, periods, marks)
    selection = Selection(keep=[], remove=[], skip=[])
    for index, item in enumerate(ordered):
        reason = _protected_reason(item)
        if reason is not None:
            selection.skip.append((item, reason))
        elif marks.get(index, _REMOVED) == _REMOVED:
            selection.remove.append(item)
        else:
            selection.keep.append((item, marks[index]))
    return selection


def _newest_first_key(item):
    if item.time.tzinfo is None or item.time.utcoffset() is None:
        raise ValueError(f"item {item.id!r} has a naive time {item.time}")
    return item.time, item.id


def _protected_reason(item):
    return getattr(item, "protected_reason", None)


def _periods_of(index, item, tz):
    local = item.time.astimezone(tz)
    result = {rule: period(local) for rule, period in _PERIODS.items()}
    result["keep_last"] = index  # each snapshot is a period of its own
    return result


def _apply(rule, count, ordered, periods, marks):
    """One rule: PBS's mark_selections, over the items newest first."""
    represented = {periods[index][rule] for index, mark in marks.items()
                   if mark != _REMOVED}
    chosen = set()
    for index, item in enumerate(ordered):
        if index in marks or _protected_reason(item) is not None:
            continue
        period = periods[index][rule]
        if period in represented:
            continue
        if period in chosen:
            marks[index] = _REMOVED
            continue
        if len(chosen) >= count:
            break
        chosen.add(period)
        marks[index] = rule

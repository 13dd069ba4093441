"""When a snapshot policy runs (docs/scheduler.md, "Schedules").

An interval policy runs on the multiples of its interval counted from the
Unix epoch in UTC, so an hourly policy runs on the hour and one every 15
minutes at :00, :15, :30 and :45, whatever the day it was made; a cron policy
runs when its expression matches the wall clock of its time zone (croniter
does the matching; daylight-saving gaps and repeats are croniter's rules).

Only the next slot after a time is ever asked for: a compute service that was
down for ten slots runs a policy once when it is back (the catch-up), not ten
times, then at the next slot after that run."""

import datetime
import string
import zoneinfo

import croniter

from nativesnap import exception
from nativesnap.scheduler import retention

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
UTC = datetime.timezone.utc
# The placeholders a snapshot name template may use.
TEMPLATE_FIELDS = ("policy", "server", "time")


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_timezone(name):
    """The zone named ``name``; ValidationError naming the field if none."""
    try:
        return retention.zone(name)
    except ValueError:
        raise exception.ValidationError(
            where="timezone", reason=f"'{name}' is not an IANA time zone "
            "name (such as UTC or Europe/Berlin)")


def check_cron(expression):
    """ValidationError naming the field unless ``expression`` is a
    five-field cron expression croniter accepts."""
    fields = expression.split()
    if len(fields) != 5 or not croniter.croniter.is_valid(expression):
        raise exception.ValidationError(
            where="cron", reason=f"'{expression}' is not a cron expression "
            "of five fields (minute hour day-of-month month day-of-week)")


def check_name_template(template):
    """ValidationError unless ``template`` uses only {policy}, {server} and
    {time[:strftime format]}."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise exception.ValidationError(where="name_template", reason=str(e))
    for _text, field, _spec, conversion in parsed:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS or conversion:
            raise exception.ValidationError(
                where="name_template",
                reason=f"'{{{field}}}' is not one of "
                f"{', '.join('{%s}' % f for f in TEMPLATE_FIELDS)}")


def snapshot_name(template, policy_name, server_name, slot, timezone):
    """The name of a snapshot the policy takes for ``slot``; a template
    that cannot be filled falls back to the policy's name and the time."""
    local = _aware(slot).astimezone(zoneinfo.ZoneInfo(timezone))
    try:
        name = template.format(policy=policy_name, server=server_name,
                               time=local)
    except (ValueError, KeyError, IndexError):
        name = f"{policy_name}-{local:%Y%m%d-%H%M}"
    return name[:255] or policy_name


def next_after(moment, interval_minutes=None, cron=None, timezone="UTC"):
    """The policy's first slot strictly after ``moment`` (aware, UTC)."""
    moment = _aware(moment).astimezone(UTC)
    if interval_minutes:
        step = datetime.timedelta(minutes=interval_minutes)
        slots = (moment - _EPOCH) // step
        return _EPOCH + (slots + 1) * step
    local = moment.astimezone(zoneinfo.ZoneInfo(timezone))
    following = croniter.croniter(cron, local).get_next(datetime.datetime)
    return _aware(following).astimezone(UTC)


def latest_at_or_before(moment, interval_minutes=None, cron=None,
                        timezone="UTC"):
    """The policy's last slot at or before ``moment``: the slot a run at
    ``moment`` takes its snapshot for."""
    moment = _aware(moment).astimezone(UTC)
    if interval_minutes:
        step = datetime.timedelta(minutes=interval_minutes)
        return _EPOCH + ((moment - _EPOCH) // step) * step
    local = moment.astimezone(zoneinfo.ZoneInfo(timezone))
    probe = local + datetime.timedelta(seconds=1)
    previous = croniter.croniter(cron, probe).get_prev(datetime.datetime)
    return _aware(previous).astimezone(UTC)

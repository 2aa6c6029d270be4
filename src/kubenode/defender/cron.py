"""Freeze windows: a cron schedule for the start, a duration, an IANA time zone.

Cron parsing is delegated to `croniter` (well kept, Vixie-cron semantics:
when both day-of-month and day-of-week are restricted, either matches). We
add what the policy needs on top: exactly five fields (croniter would also
take a sixth, seconds, field and `@daily` shortcuts the CRD does not
promise), a schedule that actually fires (`0 0 31 2 *` never does), a real
time zone, and "is `now` inside a window that started at the latest start at
or before `now`". Only the latest start needs checking: any earlier start
whose window still covers `now` implies the latest one does too, because
every window has the same length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

__all__ = ["CronError", "FreezeWindow", "parse_freeze_window", "validate_schedule"]

# A fixed, arbitrary reference point to check that a schedule fires at all.
_PROBE = datetime(2024, 1, 1, tzinfo=UTC)


class CronError(ValueError):
    """A schedule, duration or time zone the Defender cannot use."""


def _zone(name: str) -> tzinfo:
    if name in ("", "UTC", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {name!r} (want an IANA name such as Europe/Paris)") from exc


def validate_schedule(schedule: str) -> str:
    """The schedule with single spaces, or CronError when it is not five cron fields that fire."""
    if not isinstance(schedule, str):
        raise CronError("schedule must be a string of five cron fields")
    fields = schedule.split()
    if len(fields) != 5:
        raise CronError(f"schedule {schedule!r} must have five fields (minute hour day-of-month month "
                        f"day-of-week), it has {len(fields)}")
    normalised = " ".join(fields)
    try:
        valid = croniter.is_valid(normalised)
    except (CroniterError, ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise CronError(f"schedule {schedule!r} is not a valid cron expression")
    try:
        croniter(normalised, _PROBE).get_next(datetime)
    except (CroniterError, ValueError, KeyError, TypeError) as exc:
        raise CronError(f"schedule {schedule!r} never fires") from exc
    return normalised


@dataclass(frozen=True)
class FreezeWindow:
    """A parsed freeze window: starts on `schedule` (in `zone`), lasts `duration_seconds`."""

    schedule: str
    duration_seconds: int
    zone_name: str = "UTC"

    def active(self, now: float) -> tuple[float, float] | None:
        """(start, end) in epoch seconds of the window covering `now`, or None."""
        zone = _zone(self.zone_name)
        # croniter's get_prev is strictly before its start point: nudge past `now` so that a window
        # starting exactly now counts as started (starts have minute resolution).
        local_now = datetime.fromtimestamp(now, zone) + timedelta(microseconds=1)
        try:
            start = croniter(self.schedule, local_now).get_prev(datetime)
        except (CroniterError, ValueError, KeyError):
            return None
        begin = start.timestamp()
        end = begin + self.duration_seconds
        if begin <= now < end:
            return begin, end
        return None


def parse_freeze_window(schedule: str, duration_seconds: object, time_zone: object = "UTC") -> FreezeWindow:
    """Validate one `freezeWindows[]` entry; CronError says what is wrong."""
    normalised = validate_schedule(schedule)
    if isinstance(duration_seconds, bool) or not isinstance(duration_seconds, int) or duration_seconds < 1:
        raise CronError(f"durationSeconds must be a positive integer, not {duration_seconds!r}")
    zone_name = "UTC" if time_zone in (None, "") else time_zone
    if not isinstance(zone_name, str):
        raise CronError(f"timeZone must be a string, not {type(zone_name).__name__}")
    _zone(zone_name)
    return FreezeWindow(normalised, duration_seconds, zone_name)

"""Organization settings that change how authorizations are counted and booked."""

from webapp.domain import practice_rules
from webapp.extensions import db
from webapp.models import Organization, User
from webapp.services import audit
from webapp.services.errors import Refused
from webapp.services.reminders import enqueue_run

TOGGLES = {
    "count_upcoming_for_exhaustion": "Use Kept and Upcoming appointments to calculate exhaustion",
    "block_overscheduling": "Block over-scheduling",
}


def set_toggle(org: Organization, setting: str, enabled: bool, *, actor: User) -> bool:
    """Save a checkbox setting with an audit record; returns whether it changed.

    Raises:
        ValueError: `setting` is not one of TOGGLES.
    """
    if setting not in TOGGLES:
        raise ValueError(f"Unknown setting {setting!r}")
    before = getattr(org, setting)
    if before == enabled:
        return False
    setattr(org, setting, enabled)
    audit.record(
        organization_id=org.id,
        user_id=actor.id,
        action=f"settings.{setting}",
        row=org,
        before={setting: before},
        after={setting: enabled},
    )
    db.session.commit()
    if setting == "count_upcoming_for_exhaustion":  # statuses change: remind right away
        enqueue_run(org.id)
    return True


def set_release_date(org: Organization, value, *, actor: User) -> None:
    """The enhanced-authorizations release date that legacy conversion starts from."""
    before = org.enhanced_authorizations_release_date
    org.enhanced_authorizations_release_date = value
    audit.record(
        organization_id=org.id,
        user_id=actor.id,
        action="settings.enhanced_authorizations_release_date",
        row=org,
        before={"release_date": before.isoformat() if before else None},
        after={"release_date": value.isoformat()},
    )
    db.session.commit()


class SettingRefused(Refused):
    """A value the organization settings refuse (`field` names it); nothing saved; 422."""

    status = 422


def set_time_and_week(org: Organization, time_zone: str, week_start: str, *, actor: User) -> bool:
    """Save the practice's time zone (IANA name) and the day its weeks start; returns
    whether either changed. Dates and times on every page follow at once (they are
    shown in the organization's zone), and weekly authorization limits and the
    schedule's weeks count from the new first day.

    Raises:
        SettingRefused: not a time zone (field "timezone") or not a weekday
            (field "week_start"); nothing is saved.
    """
    try:
        zone = practice_rules.parse_time_zone(time_zone)
    except ValueError as error:
        raise SettingRefused(str(error), "timezone") from None
    try:
        first_day = practice_rules.parse_week_start(week_start)
    except ValueError as error:
        raise SettingRefused(str(error), "week_start") from None
    before = {"timezone": org.timezone, "week_start": org.week_start}
    after = {"timezone": zone, "week_start": first_day}
    if before == after:
        return False
    org.timezone, org.week_start = zone, first_day
    audit.record(
        organization_id=org.id,
        user_id=actor.id,
        action="settings.time_and_week",
        row=org,
        before=before,
        after=after,
    )
    db.session.commit()
    return True

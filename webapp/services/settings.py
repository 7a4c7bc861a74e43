"""Organization settings that change how authorizations are counted and booked."""

from webapp.extensions import db
from webapp.models import Organization, User
from webapp.services import audit
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

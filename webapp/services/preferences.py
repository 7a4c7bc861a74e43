"""My Profile & Settings > Preferences: each user's own reminder choices."""

from webapp.extensions import db
from webapp.models import User
from webapp.services import audit

REMINDER_PREFERENCES = (
    "remind_expiration_email",
    "remind_expiration_in_app",
    "remind_exhaustion_email",
    "remind_exhaustion_in_app",
)


def reminder_preferences(user: User) -> dict[str, bool]:
    return {name: getattr(user, name) for name in REMINDER_PREFERENCES}


def save_reminder_preferences(user: User, values: dict[str, bool]) -> bool:
    """Save the four checkboxes with an audit record (commits); returns whether any changed.

    Missing keys mean "unchanged".

    Raises:
        ValueError: an unknown key.
    """
    unknown = set(values) - set(REMINDER_PREFERENCES)
    if unknown:
        raise ValueError(f"Unknown preferences: {', '.join(sorted(unknown))}")
    before = reminder_preferences(user)
    after = before | {name: bool(value) for name, value in values.items()}
    if after == before:
        return False
    for name, value in after.items():
        setattr(user, name, value)
    audit.record(
        organization_id=user.organization_id,
        user_id=user.id,
        action="profile.reminder_preferences",
        row=user,
        before=before,
        after=after,
    )
    db.session.commit()
    return True

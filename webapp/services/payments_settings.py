"""Payments Settings: whether pre-authorization holds are placed, and how long before."""

from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.domain.preauth import FAILED, PROCESSING, SCHEDULED
from webapp.extensions import db
from webapp.models import Organization, PreAuthorization, User
from webapp.services import audit


@dataclass
class PreauthCounts:
    scheduled: int
    processing: int
    failed: int


def save(org: Organization, *, active: bool, hours_before: int, actor: User) -> bool:
    """Save the config with an audit record; returns whether anything changed.

    Existing pre-authorizations keep their own hours; the new hours apply to the
    ones scheduled from now on (booking, or a change of an appointment without one).
    """
    before = {"active": org.preauth_active, "hours_before": org.preauth_hours_before}
    after = {"active": active, "hours_before": hours_before}
    if before == after:
        return False
    org.preauth_active = active
    org.preauth_hours_before = hours_before
    audit.record(
        organization_id=org.id,
        user_id=actor.id,
        action="settings.payments",
        row=org,
        before=before,
        after=after,
    )
    db.session.commit()
    return True


def counts(org: Organization) -> PreauthCounts:
    rows = dict(
        db.session.execute(
            select(PreAuthorization.state, func.count(PreAuthorization.id))
            .where(
                PreAuthorization.organization_id == org.id,
                PreAuthorization.state.in_((SCHEDULED, PROCESSING, FAILED)),
            )
            .group_by(PreAuthorization.state)
        ).all()
    )
    return PreauthCounts(rows.get(SCHEDULED, 0), rows.get(PROCESSING, 0), rows.get(FAILED, 0))

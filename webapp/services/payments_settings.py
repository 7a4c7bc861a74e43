"""Payments Settings: whether pre-authorization holds are placed, and how long before."""

from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.domain.preauth_rules import FAILED, PROCESSING, SCHEDULED
from webapp.domain.units import ROUNDING_PROFILES
from webapp.extensions import db
from webapp.models import Organization, PreAuthorization, User
from webapp.services import audit


@dataclass
class PreauthCounts:
    scheduled: int
    processing: int
    failed: int


def save(
    org: Organization,
    *,
    active: bool,
    hours_before: int,
    actor: User,
    self_pay_rounding: str | None = None,
) -> bool:
    """Save the config with an audit record; returns whether anything changed.

    Scheduled pre-authorizations keep their time until their appointment moves: then
    the hours in force apply (seed). `self_pay_rounding` is a units rounding profile
    (webapp.domain.units) for self-pay prices; None keeps the current one.

    Raises:
        ValueError: an unknown rounding profile.
    """
    rounding = self_pay_rounding or org.self_pay_rounding_profile
    if rounding not in ROUNDING_PROFILES:
        raise ValueError(f"Unknown rounding profile {rounding!r}.")
    before = {"active": org.preauth_active, "hours_before": org.preauth_hours_before}
    after = {"active": active, "hours_before": hours_before}
    if rounding != org.self_pay_rounding_profile:  # recorded when it changes
        before["self_pay_rounding"] = org.self_pay_rounding_profile
        after["self_pay_rounding"] = rounding
    if before == after:
        return False
    org.preauth_active = active
    org.preauth_hours_before = hours_before
    org.self_pay_rounding_profile = rounding
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

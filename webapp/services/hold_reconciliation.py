"""The periodic reconciliation: live holds at the gateway against the rows.

Every few minutes (jobs/hold_checks.reconcile, cron in jobs/periodic.py):
1. list every live hold we placed (`live_holds`); those younger than
   RECONCILE_GRACE are left to the job placing them;
2. a hold naming a pre-authorization that does not exist, or one of another
   organization or customer, is reported and left alone (it may not be ours);
3. every other pre-authorization with a live hold, every row marked
   `gateway_check_due`, and every held row whose hold is not among the live ones is
   checked through `hold_checks.check_by_id`: the same rule as before any action
   (adopt, keep, release, report; a held row whose hold is gone becomes expired);
4. the counts are kept in Redis for the admin System page, which also lists the
   findings (services.hold_checks writes them).
"""

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy import select

from webapp.domain import hold_rules
from webapp.domain.money import format_cents
from webapp.domain.preauth_rules import HELD
from webapp.extensions import db
from webapp.models import HoldFinding, Organization, PreAuthorization
from webapp.models.base import utcnow
from webapp.payments import current_gateway
from webapp.payments.gateway import GatewayError, Hold, parse_hold_reference
from webapp.services import hold_checks
from webapp.services.queue import redis_connection

log = logging.getLogger(__name__)

STATUS_KEY = "covered:hold-reconciliation"
BATCH = 500


@dataclass
class Reconciliation:
    at: str
    live: int = 0
    checked: int = 0
    adopted: int = 0
    released: int = 0
    expired: int = 0
    reported: int = 0
    unreachable: int = 0
    error: str | None = None

    @property
    def summary(self) -> str:
        if self.error:
            return f"gateway unreachable: {self.error}"
        return (
            f"{self.live} live holds, {self.checked} pre-authorizations checked: "
            f"{self.adopted} adopted, {self.released} released, {self.expired} expired, "
            f"{self.reported} reported, {self.unreachable} not reached"
        )

    @property
    def differences(self) -> int:
        return self.adopted + self.released + self.expired + self.reported


def reconcile(now: datetime | None = None) -> Reconciliation:
    """Compare the gateway's live holds with the rows and fix or report (module steps)."""
    now = now or utcnow()
    result = Reconciliation(at=now.isoformat())
    try:
        live = current_gateway().live_holds()
    except GatewayError as error:
        result.error = error.message
        _save(result)
        return result
    result.live = len(live)
    to_check: set[int] = set()
    live_references = {hold.reference for hold in live}
    for hold in live:
        if hold.created_at is not None and hold.created_at > now - hold_rules.RECONCILE_GRACE:
            continue
        row_id = _row_for(hold, result)
        if row_id is not None:
            to_check.add(row_id)
    to_check |= set(
        db.session.scalars(
            select(PreAuthorization.id).where(PreAuthorization.gateway_check_due.is_(True))
        ).all()
    )
    to_check |= _held_without_live_hold(live_references, now)
    db.session.commit()
    for row_id in sorted(to_check)[:BATCH]:
        found = hold_checks.check_by_id(row_id, found_by="reconciliation", now=now)
        result.checked += 1
        result.adopted += int(found.adopted is not None)
        result.released += len(found.released)
        result.expired += int(found.expired)
        result.reported += len(found.reported)
        result.unreachable += int(not found.reached)
    _save(result)
    return result


def _row_for(hold: Hold, result: Reconciliation) -> int | None:
    """The pre-authorization a live hold belongs to, or None (reported when it names
    one that is not ours to touch)."""
    parsed = parse_hold_reference(hold.our_reference)
    if parsed is None:
        return None
    row = db.session.get(PreAuthorization, parsed[0])
    if row is None:
        _report_unknown(hold, "names a pre-authorization that does not exist here")
        result.reported += 1
        return None
    if hold.organization_id not in (None, row.organization_id) or hold.customer_id not in (
        None,
        row.encounter.client.gateway_customer_id,
    ):
        _report_unknown(hold, "names a pre-authorization of another organization or client")
        result.reported += 1
        return None
    return row.id


def _report_unknown(hold: Hold, why: str) -> None:
    """Written once per hold; shown to the organization the hold names, if it exists."""
    if db.session.scalar(
        select(HoldFinding.id).where(
            HoldFinding.gateway_reference == hold.reference,
            HoldFinding.outcome == hold_checks.REPORTED,
        )
    ):
        return
    org = db.session.get(Organization, hold.organization_id) if hold.organization_id else None
    message = (
        f"A live hold of {format_cents(hold.amount_cents)} ({hold.reference}, "
        f"{hold.our_reference}) {why}; it was left alone. Release it at the card processor "
        "if it is not wanted."
    )
    log.warning(message)
    db.session.add(
        HoldFinding(
            organization_id=org.id if org else None,
            gateway_reference=hold.reference[:100],
            our_reference=(hold.our_reference or "")[:100] or None,
            amount_cents=hold.amount_cents,
            gateway_status=hold.status,
            outcome=hold_checks.REPORTED,
            found_by="reconciliation",
            message=message[:500],
        )
    )
    db.session.commit()


def _held_without_live_hold(live_references: set[str], now: datetime) -> set[int]:
    rows = db.session.execute(
        select(PreAuthorization.id, PreAuthorization.gateway_reference).where(
            PreAuthorization.state == HELD,
            PreAuthorization.held_at < now - hold_rules.RECONCILE_GRACE,
        )
    ).all()
    return {r.id for r in rows if r.gateway_reference not in live_references}


def _save(result: Reconciliation) -> None:
    try:
        redis_connection().set(STATUS_KEY, json.dumps(asdict(result)))
    except RedisError:
        log.exception("could not save the reconciliation's counts")


def last_run() -> Reconciliation | None:
    """The last reconciliation's counts (None if it never ran, or Redis is away)."""
    try:
        raw = redis_connection().get(STATUS_KEY)
    except RedisError:
        return None
    return Reconciliation(**json.loads(raw)) if raw else None


def findings(organization_id: int, limit: int = 50) -> list[HoldFinding]:
    """The organization's latest findings, newest first (the System page)."""
    return db.session.scalars(
        select(HoldFinding)
        .where(HoldFinding.organization_id == organization_id)
        .order_by(HoldFinding.created_at.desc(), HoldFinding.id.desc())
        .limit(limit)
    ).all()

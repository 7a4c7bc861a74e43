"""Ask the gateway about pre-authorizations' holds: one row soon after a page could not
(`check`), and every live hold against the rows periodically (`reconcile`)."""

from jobs import with_app_context
from webapp.models.base import utcnow
from webapp.payments.gateway import TransientGatewayError
from webapp.services import hold_checks, hold_reconciliation


@with_app_context
def check(preauth_id: int) -> str:
    """Raises while the gateway cannot be reached, so RQ retries with backoff."""
    found = hold_checks.check_by_id(preauth_id, found_by="a follow-up check", now=utcnow())
    if not found.reached:
        raise TransientGatewayError("The card processor could not be reached.", "unreachable")
    return found.message or "nothing to do"


@with_app_context
def reconcile() -> str:
    """Every few minutes: live holds at the gateway against the rows (System page)."""
    return hold_reconciliation.reconcile().summary

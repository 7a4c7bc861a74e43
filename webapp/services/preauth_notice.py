"""What the encounter page shows about its pre-authorization, and when it looks again."""

from dataclasses import dataclass

from webapp.domain import preauth as rules
from webapp.domain.preauth import FAILED, SCHEDULED
from webapp.domain.windows import local_date
from webapp.models import Encounter, Organization, PreAuthorization
from webapp.models.base import utcnow
from webapp.services.preauth import current_amount, for_encounter, hold_problem, retry_problem


@dataclass
class Notice:
    """The pre-authorization notification at the top of an encounter."""

    row: PreAuthorization | None
    encounter: Encounter
    active: bool  # Payments Settings
    polls: bool
    wake_in_seconds: int | None  # scheduled, not yet due: look again when it is
    retry_blocker: str | None
    invoice_block: str | None
    schedulable: str | None  # why no hold can be scheduled (None: it can)

    @property
    def state(self) -> str | None:
        return self.row.state if self.row else None

    @property
    def label(self) -> str:
        return rules.STATE_LABELS.get(self.state, "") if self.row else ""

    @property
    def amount_preview(self) -> int:
        return current_amount(self.encounter)


WAKE_WITHIN_SECONDS = 3600


def notice(encounter: Encounter, org: Organization, now=None) -> Notice:
    now = now or utcnow()
    row = for_encounter(encounter.id)
    wake = None
    polls = False
    blocker = None
    if row is not None:
        polls = rules.should_poll(row.state, row.run_at, now)
        if row.state == SCHEDULED and not polls:
            seconds = int((row.run_at - now).total_seconds()) + 1
            wake = seconds if seconds <= WAKE_WITHIN_SECONDS else None
        if row.state == FAILED:
            blocker = retry_problem(row, local_date(now, org.timezone))
    return Notice(
        row=row,
        encounter=encounter,
        active=org.preauth_active,
        polls=polls,
        wake_in_seconds=wake,
        retry_blocker=blocker,
        invoice_block=rules.invoice_block_reason(row.state if row else None),
        schedulable=hold_problem(encounter, now),
    )

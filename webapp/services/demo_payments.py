"""Cards on file and pre-authorizations for the demo practice, once its payments server is up.

`flask seed-demo` runs before `make run` starts localstripe, so the demo's cards
cannot be saved with the rest of the demo. The cron process enqueues
`jobs.demo_payments.run` at start whenever the demo practice exists; this service
then gives a few demo clients a test card (Stripe's canonical test cards, which
localstripe and Stripe's test mode both know) and schedules the holds of their
upcoming appointments, so the pre-authorization notices, Charge and Release have
something to show on a fresh demo.

A client is set up once: one with a gateway customer (from this job, or because a
person added a card) is left alone, so a restart adds nothing twice.
"""

from sqlalchemy import select

from webapp.domain.authorization_rules import UPCOMING
from webapp.extensions import db
from webapp.models import Client, Encounter, Organization
from webapp.models.base import utcnow
from webapp.payments import current_gateway
from webapp.services import cards, preauth, queue
from webapp.services.demo import DEMO_ORGANIZATION

# Client (in the order the demo created them) → Stripe test card. With the demo's 72
# hours, the visits of the second, fifth and eighth ($40 copays, two days ahead) are
# always held at start; the seventh's card (a visit tomorrow, a $20 copay) saves fine
# and is declined when its hold is placed, so a failed hold with Retry shows too.
DEMO_TEST_CARDS = [
    "pm_card_visa",
    "pm_card_visa",
    "pm_card_visa",
    "pm_card_visa",
    "pm_card_visa",
    "pm_card_visa",
    "pm_card_chargeCustomerFail",
    "pm_card_visa",
]


def demo_organization() -> Organization | None:
    return db.session.scalar(select(Organization).where(Organization.name == DEMO_ORGANIZATION))


def add_demo_cards(*, live_payments: bool, now=None) -> str:
    """Give the first demo clients a test card and schedule their holds; a summary line.

    Each client is committed on its own after its gateway calls succeeded, so a
    payments server that is not up yet (a TransientGatewayError, retried by RQ)
    leaves no client half set up. Never runs against live payments.
    """
    org = demo_organization()
    if org is None:
        return "no demo practice"
    if live_payments:
        return "live payments: the demo gets no test cards"
    now = now or utcnow()
    clients = db.session.scalars(
        select(Client)
        .where(Client.organization_id == org.id)
        .order_by(Client.id)
        .limit(len(DEMO_TEST_CARDS))
    ).all()
    added = 0
    for client, test_card in zip(clients, DEMO_TEST_CARDS, strict=False):
        if client.gateway_customer_id is not None:
            continue
        _add_card(client, test_card)
        preauth.sync_encounters(org, _upcoming(client, now), actor=None, now=now)
        db.session.commit()
        added += 1
    return f"test cards added for {added} demo clients"


def _add_card(client: Client, test_card: str) -> None:
    customer_id = current_gateway().create_customer(
        name=client.full_name, email=client.email, reference=f"client-{client.id}"
    )
    details = current_gateway().attach_card(customer_id=customer_id, payment_method_id=test_card)
    client.gateway_customer_id = customer_id
    db.session.add(cards.card_row(client, details, is_default=True))


def _upcoming(client: Client, now) -> list[Encounter]:
    return list(
        db.session.scalars(
            select(Encounter)
            .where(
                Encounter.client_id == client.id,
                Encounter.status == UPCOMING,
                Encounter.starts_at > now,
            )
            .order_by(Encounter.starts_at)
        )
    )


DEMO_PAYMENTS_JOB_ID = "demo-payments"


def enqueue_if_demo() -> bool:
    """Enqueue `jobs.demo_payments.run` (once: a fixed id) when the database holds the
    demo practice. False without a demo practice, or when Redis is unreachable (the
    next start of the cron process enqueues it again)."""
    if demo_organization() is None:
        return False
    return queue.enqueue(
        "jobs.demo_payments.run", job_id=DEMO_PAYMENTS_JOB_ID, retry="DEMO_PAYMENTS_RETRY_INTERVALS"
    )

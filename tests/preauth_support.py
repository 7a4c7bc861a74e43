"""Shared pieces of the pre-authorization tests: a practice with Payments Settings on,
cards on file in the test gateway, bookings relative to now, and a real RQ worker."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from rq import SimpleWorker
from sqlalchemy import select, update

from tests import factories
from webapp.domain.windows import to_local
from webapp.extensions import db
from webapp.models import Client, ClientInsurance, Encounter, PaymentCard, PreAuthorization
from webapp.models.base import utcnow
from webapp.services import booking, encounter_edit
from webapp.services.queue import queue, redis_connection


@dataclass
class Practice:
    org: object
    client: Client
    policy: ClientInsurance
    therapy: object  # 90837, $150.00
    testing: object  # 96130, $200.00


def practice(world, *, active: bool = True, hours: int = 24, copay: int = 2500) -> Practice:
    world.org.preauth_active = active
    world.org.preauth_hours_before = hours
    client = factories.client(
        world.org,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        primary_clinician_id=world.clinician.id,
    )
    payer = factories.payer(world.org, name="Blue Harbor")
    policy = factories.insurance(world.org, client, payer, copay_cents=copay)
    therapy = factories.service_type(world.org, cpt_code="90837", price_cents=15000)
    testing = factories.service_type(world.org, cpt_code="96130", price_cents=20000)
    db.session.commit()
    return Practice(world.org, client, policy, therapy, testing)


def add_card(gateway, client: Client, *, default: bool = True, **card) -> PaymentCard:
    """A card saved for the client in the strict gateway, and its PaymentCard row."""
    if not client.gateway_customer_id:
        client.gateway_customer_id = gateway.create_customer(
            name=client.full_name, email=client.email, reference=f"client-{client.id}"
        )
    details = gateway.add_card(client.gateway_customer_id, **card)
    if default:
        db.session.execute(
            update(PaymentCard).where(PaymentCard.client_id == client.id).values(is_default=False)
        )
    row = factories.card_from_gateway(client, details, is_default=default)
    db.session.commit()
    return row


def local_start(p: Practice, starts_in: timedelta) -> datetime:
    """Wall time in the practice's zone, whole minutes, `starts_in` from now."""
    start = (utcnow() + starts_in).replace(second=0, microsecond=0)
    return to_local(start, p.org.timezone).replace(tzinfo=None)


def book(
    p: Practice,
    actor,
    *,
    starts_in: timedelta = timedelta(days=3),
    billing_type: str = "insurance",
    services=None,
) -> Encounter:
    """Book one appointment through the booking service, as the booking form does."""
    services = services or [p.therapy]
    request = booking.BookingRequest(
        clinician_id=p.client.primary_clinician_id,
        start_local=local_start(p, starts_in),
        duration_minutes=60,
        lines=[(s.id, 60) for s in services],
        billing_type=billing_type,
        client_insurance_id=p.policy.id if billing_type == "insurance" else None,
    )
    (encounter,) = booking.book(p.org, p.client, request, actor=actor)
    return encounter


def edit(
    p: Practice,
    encounter: Encounter,
    actor,
    *,
    starts_in=None,
    moves_by=None,
    services=None,
    billing_type="insurance",
):
    """Edit the encounter to start `starts_in` from now, or `moves_by` from its own start
    (the clock can pass a minute boundary between a booking and an edit)."""
    if moves_by is not None:
        start_local = to_local(encounter.starts_at + moves_by, p.org.timezone).replace(tzinfo=None)
    else:
        start_local = local_start(p, starts_in)
    request = booking.BookingRequest(
        clinician_id=encounter.clinician_id,
        start_local=start_local,
        duration_minutes=60,
        lines=[(s.id, 60) for s in (services or [p.therapy])],
        billing_type=billing_type,
        client_insurance_id=p.policy.id if billing_type == "insurance" else None,
    )
    return encounter_edit.edit(p.org, encounter, request, actor=actor)


def preauth_of(encounter: Encounter) -> PreAuthorization | None:
    db.session.expire_all()
    return db.session.scalar(
        select(PreAuthorization).where(PreAuthorization.encounter_id == encounter.id)
    )


def work() -> None:
    """A real worker, once through the queue (due scheduled jobs included)."""
    SimpleWorker([queue()], connection=redis_connection()).work(burst=True, with_scheduler=True)
    db.session.expire_all()


def scheduled_job_ids() -> list[str]:
    return queue().scheduled_job_registry.get_job_ids()


def scheduled_at(job_id: str) -> datetime:
    """When RQ's scheduler will enqueue a job (naive UTC)."""
    from datetime import UTC

    stamp = redis_connection().zscore(queue().scheduled_job_registry.key, job_id)
    return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)

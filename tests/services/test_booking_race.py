"""Two bookings racing for the last session: exactly one wins (separate connections)."""

import threading
from datetime import date, datetime

from tests import factories
from webapp.extensions import db
from webapp.models import Client, Encounter, Organization, User
from webapp.services import booking


def test_two_concurrent_bookings_of_the_last_session_do_not_both_succeed(app, world):
    org = world.org
    org.block_overscheduling = True
    org.count_upcoming_for_exhaustion = True
    client = factories.client(org)
    payer = factories.payer(org, messaging_enabled=True)
    policy = factories.insurance(org, client, payer)
    therapy = factories.service_type(org)
    next_year = date.today().year + 1  # the authorization and the visits are still ahead
    factories.authorization(
        org, policy, [therapy], allowed=1,
        start_date=date(next_year, 1, 1), end_date=date(next_year, 12, 31),
    )  # fmt: skip
    db.session.commit()
    ids = (org.id, client.id, world.biller.id)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def book(hour: int) -> None:
        with app.app_context():
            org_row = db.session.get(Organization, ids[0])
            client_row = db.session.get(Client, ids[1])
            actor = db.session.get(User, ids[2])
            request = booking.BookingRequest(
                clinician_id=actor.id,
                start_local=datetime(next_year, 3, 1, hour),
                duration_minutes=60,
                lines=[(therapy.id, 60)],
                billing_type="insurance",
                client_insurance_id=policy.id,
            )
            barrier.wait()
            try:
                booking.book(org_row, client_row, request, actor=actor)
                outcomes.append("booked")
            except booking.BookingRefused:
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=book, args=(hour,)) for hour in (9, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["booked", "refused"]
    assert db.session.query(Encounter).count() == 1

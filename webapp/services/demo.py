"""Demo data for `make run`: one practice you can sign in to and click through."""

import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from webapp.domain.authorization_rules import CANCELLED, KEPT, UPCOMING
from webapp.domain.windows import local_date, to_utc_naive
from webapp.extensions import db
from webapp.models import (
    Authorization,
    Client,
    ClientInsurance,
    Encounter,
    EncounterService,
    Organization,
    Payer,
    ServiceType,
    User,
)
from webapp.models.base import utcnow
from webapp.services import automations
from webapp.services.allocation import reallocate_client

DEMO_PASSWORD = "covered-demo"
DEMO_ORGANIZATION = "Lakeside Behavioral Health (demo)"
DEMO_USERS = [
    ("admin@example.com", "Avery Admin", "admin"),
    ("biller@example.com", "Blake Biller", "biller"),
    ("clinician@example.com", "Casey Clinician", "clinician"),
    ("dana.reyes@example.com", "Dana Reyes", "clinician"),
]
DEMO_PAYERS = [("Blue Harbor Health", True), ("Evergreen Mutual", False)]
DEMO_SERVICES = [
    # cpt, name, price, cancellation fee, unit minutes
    ("90791", "Psychiatric diagnostic evaluation", 22000, 7500, None),
    ("90834", "Psychotherapy, 45 minutes", 14000, 5000, None),
    ("90837", "Psychotherapy, 60 minutes", 18000, 6000, None),
    ("97153", "Adaptive behavior treatment by protocol", 2000, 1500, 15),
]
FIRST_NAMES = [
    "Maya", "Noah", "Olivia", "Liam", "Emma", "Elijah", "Ava", "Lucas", "Sofia", "Mateo",
    "Isabella", "Ethan", "Mia", "James", "Amelia", "Leo", "Harper", "Jack", "Aria", "Owen",
]  # fmt: skip
LAST_NAMES = [
    "Patel", "Nguyen", "Garcia", "Johnson", "Kim", "Okafor", "Rossi", "Schmidt", "Cohen", "Silva",
    "Brown", "Haddad", "Walker", "Lopez", "Novak", "Ito", "Murphy", "Diaz", "Andersen", "Reed",
]  # fmt: skip


def seeding_refusal(environment: str, database_url_set: bool) -> str | None:
    """Why the demo may not be added here, or None.

    The demo (known logins, password `covered-demo`) goes only into the default
    development database: never when COVERED_ENV is production or test, never into
    a database named by DATABASE_URL.
    """
    if environment != "development":
        return f"COVERED_ENV is {environment}; the demo goes only into a development database."
    if database_url_set:
        return "DATABASE_URL is set; the demo goes only into the default development database."
    return None


def seed_demo(today: date | None = None) -> tuple[Organization, bool]:
    """Create the demo practice once; returns (organization, created).

    Authorizations and appointments are placed around `today` (the practice's
    date when not given), so every status shows up on a fresh demo.
    """
    existing = db.session.scalar(select(Organization).where(Organization.name == DEMO_ORGANIZATION))
    if existing:
        return existing, False
    rng = random.Random(7)
    org = Organization(
        name=DEMO_ORGANIZATION,
        timezone="America/New_York",
        week_start=6,
        enhanced_authorizations_release_date=date(2026, 1, 1),
        preauth_active=True,  # holds 72 hours ahead; cards come with jobs/demo_payments.py
        preauth_hours_before=72,
    )
    db.session.add(org)
    db.session.flush()
    users = _demo_users(org)
    payers, services = _demo_catalog(org)
    clinicians = [users["clinician@example.com"], users["dana.reyes@example.com"]]
    for index, (first, last) in enumerate(zip(FIRST_NAMES, LAST_NAMES, strict=True)):
        client, policy = _demo_client(org, index, first, last, rng, clinicians, payers)
        _demo_authorization_and_visits(
            org, client, policy, services, today or local_date(utcnow(), org.timezone), index
        )
    db.session.add_all(automations.starter_rules(org.id))
    db.session.commit()
    return org, True


def _demo_users(org: Organization) -> dict[str, User]:
    """The demo's people, by email; admins and billers ask for every reminder."""
    users = {}
    for email, name, role in DEMO_USERS:
        user = User(organization_id=org.id, email=email, name=name, role=role)
        if role in ("admin", "biller"):  # they ask for every reminder, by email and in the app
            user.remind_expiration_email = user.remind_expiration_in_app = True
            user.remind_exhaustion_email = user.remind_exhaustion_in_app = True
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        users[email] = user
    return users


def _demo_catalog(org: Organization) -> tuple[list[Payer], list[ServiceType]]:
    """The demo's payers and service types, flushed (they have ids)."""
    payers = [
        Payer(organization_id=org.id, name=name, messaging_enabled=messaging)
        for name, messaging in DEMO_PAYERS
    ]
    services = [
        ServiceType(
            organization_id=org.id,
            cpt_code=cpt,
            name=name,
            price_cents=price,
            cancellation_fee_cents=fee,
            unit_minutes=minutes,
        )
        for cpt, name, price, fee, minutes in DEMO_SERVICES
    ]
    db.session.add_all(payers + services)
    db.session.flush()
    return payers, services


def _demo_client(
    org: Organization,
    index: int,
    first: str,
    last: str,
    rng: random.Random,
    clinicians: list[User],
    payers: list[Payer],
) -> tuple[Client, ClientInsurance]:
    """The demo's client number `index` and its insurance (the sixth one inactive)."""
    client = Client(
        organization_id=org.id,
        first_name=first,
        last_name=last,
        date_of_birth=date(1970 + rng.randrange(40), rng.randrange(1, 13), rng.randrange(1, 28)),
        email=f"{first.lower()}.{last.lower()}@example.net",
        phone=f"(555) 01{index:02d}-{rng.randrange(1000, 9999)}",
        primary_clinician_id=clinicians[0 if index % 3 else 1].id,
    )
    db.session.add(client)
    db.session.flush()
    policy = ClientInsurance(
        organization_id=org.id,
        client_id=client.id,
        payer_id=payers[index % 2].id,
        member_id=f"{'BH' if index % 2 == 0 else 'EM'}{100000 + index * 7919}",
        copay_cents=rng.choice([0, 2000, 2500, 3000, 4000]),
        active=index != 5,
    )
    db.session.add(policy)
    db.session.flush()
    return client, policy


def _demo_authorization_and_visits(org, client, policy, services, today: date, index: int):
    """One authorization per client and weekly visits: six past (kept), four ahead.

    Every fourth client has ABA units (97153, 24 per week, two 90-minute visits a
    week); the others have therapy sessions (90837), one of them expired and a
    few with fewer sessions left than visits, so Exhausted shows up too.
    """
    by_code = {service.cpt_code: service for service in services}
    if index % 4 == 0:
        auth = Authorization(
            kind="units", allowed=24, frequency="week", service_types=[by_code["97153"]],
            start_date=today - timedelta(days=90), end_date=today + timedelta(days=90),
        )  # fmt: skip
        service, minutes, per_week = by_code["97153"], 90, 2
    else:
        expired = index == 9
        auth = Authorization(
            kind="sessions", allowed=5 if index % 7 == 3 else 20,
            service_types=[by_code["90837"], by_code["90834"]],
            start_date=today - timedelta(days=200 if expired else 120),
            end_date=today - timedelta(days=10) if expired else today + timedelta(days=180),
        )  # fmt: skip
        service, minutes, per_week = by_code["90837"], 60, 1
    auth.organization_id = org.id
    auth.client_insurance_id = policy.id
    auth.converted = index % 5 == 2
    auth.number = f"{'LEG' if auth.converted else 'PA'}-{2026}-{index + 1:03d}"
    db.session.add(auth)
    visits = []
    for week in range(-6, 4):
        for visit in range(per_week):
            day = today + timedelta(weeks=week, days=2 * visit + 1 + index % 3)
            local_start = datetime.combine(day, time(9 + index % 8))
            status = UPCOMING if day >= today else (CANCELLED if week == -3 else KEPT)
            visits.append(
                Encounter(
                    organization_id=org.id,
                    client_id=client.id,
                    clinician_id=client.primary_clinician_id,
                    starts_at=to_utc_naive(local_start, org.timezone),
                    service_date=day,
                    duration_minutes=minutes,
                    status=status,
                    billing_type="insurance",
                    client_insurance_id=policy.id,
                    lines=[EncounterService(service_type=service, minutes=minutes)],
                )  # fmt: skip
            )
    db.session.add_all(visits)
    db.session.flush()
    reallocate_client(org, client.id)

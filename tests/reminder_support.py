"""A practice with clients, authorizations and reminder preferences, for the reminder tests."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from tests import factories
from webapp.extensions import db
from webapp.models import Notification, ReminderDelivery


@dataclass
class Practice:
    world: object
    maya: object  # client of the standing clinician
    noah: object  # client of nobody in particular
    maya_policy: object
    noah_policy: object
    therapy: object

    def authorization(self, client: str = "maya", **values):
        policy = self.maya_policy if client == "maya" else self.noah_policy
        row = factories.authorization(self.world.org, policy, [self.therapy], **values)
        db.session.commit()
        return row

    def visit(self, client: str, day: date, status: str):
        row = self.maya if client == "maya" else self.noah
        policy = self.maya_policy if client == "maya" else self.noah_policy
        encounter = factories.encounter(
            self.world.org, row, self.world.clinician, policy, [self.therapy],
            starts_at=datetime(day.year, day.month, day.day, 15), status=status,
        )  # fmt: skip
        db.session.commit()
        return encounter


def build_practice(world, *, everyone_asks: bool = True) -> Practice:
    org = world.org
    maya = factories.client(org, first_name="Maya", last_name="Patel",
                            primary_clinician_id=world.clinician.id)  # fmt: skip
    noah = factories.client(org, first_name="Noah", last_name="Kim")
    payer = factories.payer(org, name="Blue Harbor Health")
    therapy = factories.service_type(org, cpt_code="90837", name="Psychotherapy, 60 minutes")
    practice = Practice(
        world=world,
        maya=maya,
        noah=noah,
        maya_policy=factories.insurance(org, maya, payer),
        noah_policy=factories.insurance(org, noah, payer),
        therapy=therapy,
    )
    if everyone_asks:
        for user in (world.admin, world.biller, world.clinician):
            ask(user, email=True, in_app=True)
    db.session.commit()
    return practice


def ask(user, *, email: bool, in_app: bool, kinds=("expiration", "exhaustion")) -> None:
    for kind in kinds:
        setattr(user, f"remind_{kind}_email", email)
        setattr(user, f"remind_{kind}_in_app", in_app)


def at_noon(day: date) -> datetime:
    """Noon in New York (the practice's zone) on `day`, as an aware UTC time for time-machine."""
    return datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)


def deliveries() -> set[tuple]:
    """Every claimed reminder as (authorization id, kind, threshold, user id)."""
    db.session.expire_all()
    return {
        (d.authorization_id, d.kind, d.threshold, d.user_id)
        for d in db.session.query(ReminderDelivery)
    }


def notification_titles(user) -> list[str]:
    db.session.expire_all()
    rows = db.session.query(Notification).filter_by(user_id=user.id).order_by(Notification.id)
    return [n.title for n in rows]

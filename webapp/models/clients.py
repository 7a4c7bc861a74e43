from datetime import date, datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import org_fk, utcnow


class Client(db.Model):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date | None]
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    primary_clinician_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Bumped inside every booking transaction: the row lock that serializes two
    # bookings of the same client (so two requests can't both take the last unit).
    booking_version: Mapped[int] = mapped_column(default=0)
    # The payment gateway's customer (Stripe `cus_…`), created with the first card.
    gateway_customer_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    primary_clinician = relationship("User")
    insurances: Mapped[list["ClientInsurance"]] = relationship(
        back_populates="client", order_by="ClientInsurance.id"
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def sort_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"


class Payer(db.Model):
    __tablename__ = "payers"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    name: Mapped[str] = mapped_column(String(200))
    messaging_enabled: Mapped[bool] = mapped_column(default=False)
    rounding_profile: Mapped[str] = mapped_column(String(32), default="cms-8-minute")
    # The payer's identifier in its prior-authorization decisions (PAS: the insurer
    # Organization's payer id, NPI or TIN), matched when a decision is imported.
    payer_identifier: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClientInsurance(db.Model):
    __tablename__ = "client_insurances"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    payer_id: Mapped[int] = mapped_column(ForeignKey("payers.id", ondelete="RESTRICT"), index=True)
    member_id: Mapped[str] = mapped_column(String(64))
    copay_cents: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship(back_populates="insurances")
    payer: Mapped[Payer] = relationship()

    @property
    def label(self) -> str:
        state = "" if self.active else " (inactive)"
        return f"{self.payer.name} · {self.member_id}{state}"


class ServiceType(db.Model):
    __tablename__ = "service_types"
    __table_args__ = (UniqueConstraint("organization_id", "cpt_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    cpt_code: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int] = mapped_column(default=0)
    cancellation_fee_cents: Mapped[int] = mapped_column(default=0)
    # Minutes per billing unit (15 for 97153); None for untimed services. A timed
    # service's price is per unit; an untimed one's per visit.
    unit_minutes: Mapped[int | None]
    # The cancellation fee is per visit unless this is set (then fee × units).
    cancellation_fee_per_unit: Mapped[bool] = mapped_column(
        default=False, server_default=sa_false()
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def label(self) -> str:
        return f"{self.cpt_code} · {self.name}"

    @property
    def price_label(self) -> str:
        """'per unit (15 min)' or 'per visit'."""
        return f"per unit ({self.unit_minutes} min)" if self.unit_minutes else "per visit"

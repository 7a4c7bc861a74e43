from datetime import date, datetime

from sqlalchemy import JSON, Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import org_fk, utcnow
from webapp.models.clients import ClientInsurance, ServiceType

authorization_service_types = Table(
    "authorization_service_types",
    db.metadata,
    Column(
        "authorization_id",
        ForeignKey("authorizations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "service_type_id",
        ForeignKey("service_types.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)


def display_number(number: str | None) -> str:
    """An authorization's number as people see it; the number is optional."""
    return number or "(no #)"


class Authorization(db.Model):
    """A payer's approval of sessions or units for a client's insurance."""

    __tablename__ = "authorizations"
    __table_args__ = (UniqueConstraint("client_insurance_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    client_insurance_id: Mapped[int] = mapped_column(
        ForeignKey("client_insurances.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))  # sessions | units
    start_date: Mapped[date]
    end_date: Mapped[date]
    allowed: Mapped[int]
    frequency: Mapped[str | None] = mapped_column(String(10))  # day | week | month | period
    converted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    client_insurance: Mapped[ClientInsurance] = relationship()
    service_types: Mapped[list[ServiceType]] = relationship(
        secondary=authorization_service_types, order_by=ServiceType.cpt_code
    )

    @property
    def display_number(self) -> str:
        return display_number(self.number)


class Allocation(db.Model):
    """One row of the allocation ledger: this encounter uses `amount` of this authorization.

    Written for every encounter that an authorization covers, whatever its status;
    whether it counts (Kept always, Upcoming by setting) is decided when reading.
    The allocation rule (`webapp.domain.allocation_rules`) also records why the encounter
    went here (`reason`), what was left before it (`room_before`, and in its
    day/week/month window `window_room_before`) and the authorizations ending
    sooner that had no room (`passed_over`: [{"id": …, "why": "total"|"window"}]),
    and which of the encounter's service lines (by position) count here
    (`line_indexes`), so a Kept visit's lines stay exactly where they were.
    """

    __tablename__ = "allocations"
    __table_args__ = (UniqueConstraint("authorization_id", "encounter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    authorization_id: Mapped[int] = mapped_column(
        ForeignKey("authorizations.id", ondelete="CASCADE"), index=True
    )
    encounter_id: Mapped[int] = mapped_column(
        ForeignKey("encounters.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[int]
    reason: Mapped[str] = mapped_column(
        String(20), default="ends_first", server_default="ends_first"
    )
    room_before: Mapped[int | None]
    window_room_before: Mapped[int | None]
    passed_over: Mapped[list | None] = mapped_column(JSON)
    line_indexes: Mapped[list | None] = mapped_column(JSON)

from datetime import date, datetime, timedelta

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import org_fk, utcnow
from webapp.models.clients import Client, ClientInsurance, ServiceType
from webapp.models.organization import User

BILLING_TYPES = ("insurance", "self_pay", "unknown")
BILLING_TYPE_LABELS = {"insurance": "Insurance", "self_pay": "Self-pay", "unknown": "Unknown"}


class Encounter(db.Model):
    """One appointment of a client with a clinician."""

    __tablename__ = "encounters"
    __table_args__ = (Index("ix_encounters_org_starts_at", "organization_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    clinician_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    starts_at: Mapped[datetime]  # naive UTC
    # The day in the organization's time zone: what authorization windows count by.
    service_date: Mapped[date] = mapped_column(index=True)
    duration_minutes: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default="upcoming", index=True)
    billing_type: Mapped[str] = mapped_column(String(20), default="insurance")
    client_insurance_id: Mapped[int | None] = mapped_column(
        ForeignKey("client_insurances.id", ondelete="SET NULL"), index=True
    )
    disposition: Mapped[str | None] = mapped_column(String(40))
    series_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    client: Mapped[Client] = relationship()
    clinician: Mapped[User] = relationship()
    client_insurance: Mapped[ClientInsurance | None] = relationship()
    lines: Mapped[list["EncounterService"]] = relationship(
        back_populates="encounter", cascade="all, delete-orphan", order_by="EncounterService.id"
    )

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)

    @property
    def billing_type_label(self) -> str:
        return BILLING_TYPE_LABELS.get(self.billing_type, self.billing_type)

    @property
    def services_label(self) -> str:
        return ", ".join(line.service_type.cpt_code for line in self.lines)


class EncounterService(db.Model):
    """A service line on an encounter: which service, for how many minutes."""

    __tablename__ = "encounter_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    encounter_id: Mapped[int] = mapped_column(
        ForeignKey("encounters.id", ondelete="CASCADE"), index=True
    )
    service_type_id: Mapped[int] = mapped_column(
        ForeignKey("service_types.id", ondelete="RESTRICT"), index=True
    )
    minutes: Mapped[int]

    encounter: Mapped[Encounter] = relationship(back_populates="lines")
    service_type: Mapped[ServiceType] = relationship()

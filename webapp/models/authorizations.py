from datetime import date, datetime

from sqlalchemy import JSON, Column, ForeignKey, LargeBinary, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import org_fk, utcnow
from webapp.models.clients import ClientInsurance, ServiceType

line_service_types = Table(
    "authorization_line_service_types",
    db.metadata,
    Column(
        "line_id",
        ForeignKey("authorization_lines.id", ondelete="CASCADE"),
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
    """A payer's authorization: a number, the client's insurance, overall dates, the
    payer's decision, and one or more lines (`AuthorizationLine`) saying what it allows.

    `decision` is the payer's answer on the whole request (`webapp.domain.decision_rules`);
    `requested_at` and `urgency` time a pending request against the payer's decision clock.
    """

    __tablename__ = "authorizations"
    __table_args__ = (UniqueConstraint("client_insurance_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    client_insurance_id: Mapped[int] = mapped_column(
        ForeignKey("client_insurances.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str | None] = mapped_column(String(64))
    start_date: Mapped[date]
    end_date: Mapped[date]
    converted: Mapped[bool] = mapped_column(default=False)
    decision: Mapped[str] = mapped_column(String(20), default="approved", server_default="approved")
    urgency: Mapped[str] = mapped_column(String(10), default="standard", server_default="standard")
    requested_at: Mapped[datetime | None]
    # The payer's key of the request a decision file answers ("payer|response id"), so a
    # later decision on the same request finds this authorization (webapp.services.decision_import).
    request_key: Mapped[str | None] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    client_insurance: Mapped[ClientInsurance] = relationship()
    lines: Mapped[list["AuthorizationLine"]] = relationship(
        back_populates="authorization",
        order_by="AuthorizationLine.position, AuthorizationLine.id",
        cascade="all, delete-orphan",
    )

    @property
    def display_number(self) -> str:
        return display_number(self.number)


class AuthorizationLine(db.Model):
    """One line of an authorization: the service code(s) it covers, Sessions or Units, the
    allowed quantity per frequency window, optional dates of its own (inside the
    authorization's; None: the authorization's), and the payer's decision on it.

    `requested` is the quantity asked for when the payer approved less (partly approved,
    modified); `item_sequence` is the PAS ClaimResponse item the line came from.
    """

    __tablename__ = "authorization_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    authorization_id: Mapped[int] = mapped_column(
        ForeignKey("authorizations.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    kind: Mapped[str] = mapped_column(String(10))  # sessions | units
    allowed: Mapped[int]
    frequency: Mapped[str | None] = mapped_column(String(10))  # day | week | month | period
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    decision: Mapped[str] = mapped_column(String(20), default="approved", server_default="approved")
    requested: Mapped[int | None]
    item_sequence: Mapped[int | None]
    decided_at: Mapped[datetime | None]  # when the payer decided (a PAS response's `created`)

    authorization: Mapped[Authorization] = relationship(back_populates="lines")
    service_types: Mapped[list[ServiceType]] = relationship(
        secondary=line_service_types, order_by=ServiceType.cpt_code
    )

    @property
    def starts(self) -> date:
        """The line's first day: its own start, else the authorization's."""
        return self.start_date or self.authorization.start_date

    @property
    def ends(self) -> date:
        """The line's last day: its own end, else the authorization's."""
        return self.end_date or self.authorization.end_date

    @property
    def codes(self) -> str:
        """'97153, 97155': the CPT codes it covers."""
        return ", ".join(s.cpt_code for s in self.service_types)


class Allocation(db.Model):
    """One row of the allocation ledger: this encounter uses `amount` of this authorization
    line (`line_id`; `authorization_id` is the line's authorization, for roll-ups).

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
    __table_args__ = (UniqueConstraint("line_id", "encounter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    authorization_id: Mapped[int] = mapped_column(
        ForeignKey("authorizations.id", ondelete="CASCADE"), index=True
    )
    line_id: Mapped[int] = mapped_column(
        ForeignKey("authorization_lines.id", ondelete="CASCADE"), index=True
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


class PayerDecisionFile(db.Model):
    """A payer-decision file a biller imported (Da Vinci PAS JSON), kept as it came: it is
    health information, so only the organization's billers and admins may read it.

    `sha256` of the bytes makes re-importing the same file a no-op; `applied_at` is set
    when its decisions were applied.
    """

    __tablename__ = "payer_decision_files"
    __table_args__ = (UniqueConstraint("organization_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None]

from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.models.base import org_fk, utcnow

ADMIN, BILLER, CLINICIAN = "admin", "biller", "clinician"
ROLES = (ADMIN, BILLER, CLINICIAN)
ROLE_LABELS = {ADMIN: "Admin", BILLER: "Biller", CLINICIAN: "Clinician"}


class Organization(db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    # Python weekday numbers: 0 = Monday … 6 = Sunday.
    week_start: Mapped[int] = mapped_column(default=6)
    count_upcoming_for_exhaustion: Mapped[bool] = mapped_column(default=False)
    block_overscheduling: Mapped[bool] = mapped_column(default=False)
    enhanced_authorizations_release_date: Mapped[date | None]
    # Payments Settings: card holds placed this many hours before an encounter.
    preauth_active: Mapped[bool] = mapped_column(default=False)
    preauth_hours_before: Mapped[int] = mapped_column(default=24)
    # How a self-pay visit's minutes become the units its per-unit prices multiply
    # (webapp.domain.units); insurance visits use their payer's profile.
    self_pay_rounding_profile: Mapped[str] = mapped_column(
        String(32), default="cms-8-minute", server_default="cms-8-minute"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list["User"]] = relationship(back_populates="organization")


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    is_active_user: Mapped[bool] = mapped_column(default=True)
    # My Profile & Settings > Preferences > General Preferences.
    remind_expiration_email: Mapped[bool] = mapped_column(default=False)
    remind_expiration_in_app: Mapped[bool] = mapped_column(default=False)
    remind_exhaustion_email: Mapped[bool] = mapped_column(default=False)
    remind_exhaustion_in_app: Mapped[bool] = mapped_column(default=False)
    # Sessions (webapp/services/sessions.py): bumping the version ends every session and
    # remember-me cookie of the user; last_seen_at (naive UTC) drives the idle timeout.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    last_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="users")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.is_active_user

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    # What a role may do, asked by templates and views (DESIGN.md §1, People); routes
    # declare their roles with webapp.access.role_required.
    @property
    def is_admin(self) -> bool:
        """Admin: all a biller does, plus settings, payers, services, automations, users."""
        return self.role == ADMIN

    @property
    def can_bill(self) -> bool:
        """Admin or biller: insurance, authorizations, cards, charges, invoices, reports."""
        return self.role in (ADMIN, BILLER)

    @property
    def is_clinician(self) -> bool:
        """Clinician: sees only the clients they are the primary clinician of."""
        return self.role == CLINICIAN

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

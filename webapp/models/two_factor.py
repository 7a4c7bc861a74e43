"""Two-factor sign-in: a user's TOTP secret and recovery codes (webapp/services/two_factor.py)."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import org_fk, utcnow


class TwoFactorSecret(db.Model):
    """A user's TOTP secret: pending until confirmed with a code (`enabled_at`), then on.

    `last_step` is the time step of the last code accepted, so no code works twice.
    """

    __tablename__ = "two_factor_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret: Mapped[str] = mapped_column(String(64))
    enabled_at: Mapped[datetime | None]
    last_step: Mapped[int | None] = mapped_column(db.BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(db.Model):
    """One single-use recovery code, kept as its SHA-256 digest; `used_at` once it signed in."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = org_fk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

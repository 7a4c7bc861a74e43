"""Shared column helpers."""

from datetime import UTC, datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    """Naive UTC: how every timestamp is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


def org_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)

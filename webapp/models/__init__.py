"""SQLAlchemy 2 typed models. No business rules here, and nothing commits."""

from webapp.models.audit import AuditEvent
from webapp.models.clients import Client, ClientInsurance, Payer, ServiceType
from webapp.models.organization import ROLES, Organization, User

__all__ = [
    "ROLES",
    "AuditEvent",
    "Client",
    "ClientInsurance",
    "Organization",
    "Payer",
    "ServiceType",
    "User",
]

"""SQLAlchemy 2 typed models. No business rules here, and nothing commits."""

from webapp.models.audit import AuditEvent
from webapp.models.authorizations import (
    Allocation,
    Authorization,
    AuthorizationLine,
    PayerDecisionFile,
    line_service_types,
)
from webapp.models.clients import Client, ClientInsurance, Payer, ServiceType
from webapp.models.encounters import BILLING_TYPES, Encounter, EncounterService
from webapp.models.imports import LegacyImport
from webapp.models.organization import ROLES, Organization, User
from webapp.models.payments import (
    Automation,
    AutomationRun,
    GatewayEvent,
    HoldFinding,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentCard,
    PreAuthorization,
)
from webapp.models.reminders import Notification, ReminderDelivery
from webapp.models.two_factor import RecoveryCode, TwoFactorSecret

__all__ = [
    "Automation",
    "AutomationRun",
    "GatewayEvent",
    "HoldFinding",
    "Invoice",
    "InvoiceLine",
    "Notification",
    "Payment",
    "PaymentCard",
    "PreAuthorization",
    "ReminderDelivery",
    "RecoveryCode",
    "TwoFactorSecret",
    "BILLING_TYPES",
    "Allocation",
    "Authorization",
    "Encounter",
    "EncounterService",
    "LegacyImport",
    "AuthorizationLine",
    "PayerDecisionFile",
    "line_service_types",
    "ROLES",
    "AuditEvent",
    "Client",
    "ClientInsurance",
    "Organization",
    "Payer",
    "ServiceType",
    "User",
]

"""A new practice: its organization and first admin (`flask create-practice`).

The admin starts without a usable password; the caller hands out a one-time link
(`services.password_links`) to choose it. No demo data, no payers, no services:
the admin sets those up in the app.
"""

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from webapp.domain import practice_rules
from webapp.extensions import db
from webapp.models import Organization, User
from webapp.models.organization import ADMIN
from webapp.services import audit
from webapp.services.password_links import unusable_password_hash

EMAIL_MAX_LENGTH = 254  # users.email
USER_NAME_MAX_LENGTH = 200  # users.name


@dataclass(eq=False)
class PracticeInvalid(Exception):
    """Every value that is wrong, as {field: sentence}; nothing was written."""

    errors: dict[str, str]


@dataclass(frozen=True)
class NewPractice:
    name: str
    time_zone: str
    week_start: str  # a weekday name, "sunday" by default
    admin_email: str
    admin_name: str | None = None  # default: the email's local part


def _email(raw: str) -> str:
    try:
        address = validate_email((raw or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"Enter the admin's email address ({error}).") from None
    if len(address) > EMAIL_MAX_LENGTH:
        raise ValueError(f"Use an email address of at most {EMAIL_MAX_LENGTH} characters.")
    return address.lower()


def _admin_name(raw: str | None, email: str) -> str:
    if not (raw or "").strip():
        return email.split("@", 1)[0][:USER_NAME_MAX_LENGTH]
    try:
        return practice_rules.parse_name(raw)
    except ValueError as error:
        raise ValueError(str(error).replace("the practice's name", "the admin's name")) from None


def _validated(new_practice: NewPractice) -> dict:
    values, errors = {}, {}
    checks = {
        "name": lambda: practice_rules.parse_name(new_practice.name),
        "time_zone": lambda: practice_rules.parse_time_zone(new_practice.time_zone),
        "week_start": lambda: practice_rules.parse_week_start(new_practice.week_start),
        "admin_email": lambda: _email(new_practice.admin_email),
        "admin_name": lambda: _admin_name(new_practice.admin_name, values.get("admin_email", "")),
    }
    for field, check in checks.items():
        try:
            values[field] = check()
        except ValueError as error:
            errors[field] = str(error)
    if "name" in values and db.session.scalar(
        select(Organization.id).where(func.lower(Organization.name) == values["name"].lower())
    ):
        errors["name"] = f"A practice named {values['name']!r} already exists."
    if "admin_email" in values and db.session.scalar(
        select(User.id).where(func.lower(User.email) == values["admin_email"])
    ):
        errors["admin_email"] = f"{values['admin_email']} already has an account."
    if errors:
        raise PracticeInvalid(errors)
    return values


def create_practice(new_practice: NewPractice) -> tuple[Organization, User]:
    """Create the organization and its admin (no usable password yet); commits.

    Raises:
        PracticeInvalid: with a sentence per bad field (name, time_zone, week_start,
            admin_email, admin_name), including a practice name or an email already
            taken.
    """
    values = _validated(new_practice)
    org = Organization(
        name=values["name"], timezone=values["time_zone"], week_start=values["week_start"]
    )
    db.session.add(org)
    db.session.flush()
    admin = User(
        organization_id=org.id,
        email=values["admin_email"],
        name=values["admin_name"],
        role=ADMIN,
        password_hash=unusable_password_hash(),
    )
    db.session.add(admin)
    db.session.flush()
    audit.record(
        organization_id=org.id,
        user_id=None,
        action="organization.created",
        row=org,
        after=audit.snapshot(org),
        reason="flask create-practice",
    )
    audit.record(
        organization_id=org.id,
        user_id=None,
        action="user.created",
        row=admin,
        after={"email": admin.email, "name": admin.name, "role": admin.role},
        reason="flask create-practice",
    )
    try:
        db.session.commit()
    except IntegrityError:  # the same email, created by someone else a moment ago
        db.session.rollback()
        taken = f"{values['admin_email']} already has an account."
        raise PracticeInvalid({"admin_email": taken}) from None
    return org, admin

"""Admin › Users: the people of a practice and what an admin does to them.

Use cases, each audited as "user.<action>" with the row before and after:

- `invite`: a new account with no password, and an email holding a one-time link
  to choose it (`services.password_links`, purpose SET_UP: signed, single use,
  72 hours); the account reads "invited" until the link is used.
- `resend_invitation`: the old links stop working (`password_links.revoke`) and a
  new one is emailed.
- `change_role`, `deactivate`, `reactivate`: under the last-admin rule
  (`domain.people_rules.last_admin_refusal`). Deactivating ends every session and
  remember-me cookie of the person at once (their session version moves on, so
  reactivating does not bring an old session back).
- `unlock`: lift a sign-in lockout (`services.sign_in.lift_lockout`, the same as
  `flask users unlock`).

Only an admin may do any of these (`people_rules.action_refusal`); views check
the role too. Two admins changing people at once are serialized by a row update on
the organization, so both cannot each remove "the other" last admin.

Every function raises `PeopleRefused` (nothing changed) with a sentence for the
admin; `field` names the form field it belongs to.
"""

from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from webapp.domain import people_rules, practice_rules
from webapp.extensions import db
from webapp.models import Organization, User
from webapp.models.organization import ROLE_LABELS, ROLES
from webapp.services import audit, mail, password_links, sign_in
from webapp.services.errors import Refused

EMAIL_MAX_LENGTH = 254  # users.email


class PeopleRefused(Refused):
    """An action on a person the rules refuse; nothing was changed."""

    def __init__(self, message: str, field: str | None = None, status: int = 409):
        super().__init__(message, field)
        self.status = status


@dataclass(frozen=True)
class PersonRow:
    """One line of the Users page."""

    user: User
    state: str  # people_rules.STATES
    locked_out: bool


@dataclass(frozen=True)
class Sent:
    """An action that emailed a link: the account, and why the email did not go (or None)."""

    user: User
    delivery_problem: str | None = None


def people(organization_id: int) -> list[PersonRow]:
    """The practice's people, by name, each with their state (one throttle look-up each)."""
    users = db.session.scalars(
        select(User).where(User.organization_id == organization_id).order_by(User.name, User.id)
    ).all()
    rows = []
    for user in users:
        locked = user.is_active_user and sign_in.is_locked_out(user.email)
        state = people_rules.user_state(
            active=user.is_active_user,
            has_password=password_links.has_usable_password(user),
            locked_out=locked,
        )
        rows.append(PersonRow(user, state, locked))
    return rows


def _authorize(actor: User, action: str) -> None:
    problem = people_rules.action_refusal(actor.role, action)
    if problem:
        raise PeopleRefused(problem, status=403)


def _parse_email(raw: str) -> str:
    try:
        address = validate_email((raw or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise PeopleRefused(f"Enter an email address ({error}).", "email", 422) from None
    if len(address) > EMAIL_MAX_LENGTH:
        raise PeopleRefused(
            f"Use an email address of at most {EMAIL_MAX_LENGTH} characters.", "email", 422
        )
    return address.lower()


def _parse_name(raw: str) -> str:
    try:
        return practice_rules.parse_name(raw)
    except ValueError as error:
        message = str(error).replace("the practice's name", "the person's name")
        raise PeopleRefused(message, "name", 422) from None


def _parse_role(raw: str) -> str:
    if raw not in ROLES:
        raise PeopleRefused("Choose a role: admin, biller or clinician.", "role", 422)
    return raw


def _lock_organization(organization_id: int) -> None:
    """Serialize changes to the practice's people (a row lock until the commit)."""
    db.session.execute(
        update(Organization)
        .where(Organization.id == organization_id)
        .values(name=Organization.name)
        .execution_options(synchronize_session=False)
    )


def _everyone(organization_id: int) -> list[people_rules.Person]:
    """Everyone as the database has them now (rows already loaded are read again)."""
    users = db.session.scalars(
        select(User)
        .where(User.organization_id == organization_id)
        .execution_options(populate_existing=True)
    )
    return [
        people_rules.Person(u.id, u.role, u.is_active_user, password_links.has_usable_password(u))
        for u in users
    ]


def _check_last_admin(actor: User, target: User, *, new_role: str, new_active: bool) -> None:
    """Under the organization's lock, with the rows as they are now: the actor is still
    an active admin, and the change keeps an admin who can sign in."""
    _lock_organization(target.organization_id)
    everyone = _everyone(target.organization_id)  # also refreshes actor and target
    if not (actor.is_admin and actor.is_active_user):
        db.session.rollback()
        raise PeopleRefused(people_rules.NOT_ALLOWED, status=403)
    problem = people_rules.last_admin_refusal(
        everyone,
        target.id,
        new_role=new_role,
        new_active=new_active,
        name=target.name,
    )
    if problem:
        db.session.rollback()
        raise PeopleRefused(problem)


def _state(user: User) -> dict:
    return {"role": user.role, "active": user.is_active_user}


def _send_link(user: User, *, invitation: bool, now: datetime) -> str | None:
    """Email `user` a fresh SET_UP link; None when sent, else why it did not go."""
    url = password_links.link(user, password_links.SET_UP, now=now)
    try:
        mail.deliver(compose_link_message(user, url, invitation=invitation))
    except mail.MailDeliveryError as error:
        current_app.logger.warning("invitation to %s not sent: %s", user.email, error)
        return str(error)
    return None


def compose_link_message(user: User, url: str, *, invitation: bool):
    """The email holding a one-time link: an invitation (SET_UP) or a reset (RESET)."""
    purpose = password_links.SET_UP if invitation else password_links.RESET
    hours = int(password_links.LIFETIMES[purpose].total_seconds() // 3600)
    org = user.organization
    context = {
        "user": user,
        "org": org,
        "url": url,
        "hours": hours,
        "invitation": invitation,
        "role": ROLE_LABELS.get(user.role, user.role),
    }
    subject = (
        f"You're invited to {org.name} on Covered"
        if invitation
        else f"Reset your Covered password for {org.name}"
    )
    return mail.compose(
        to=user.email,
        subject=subject,
        text=render_template("email/password_link.txt", **context),
        html=render_template("email/password_link.html", **context),
        organization_id=org.id,
    )


def invite(actor: User, *, email: str, name: str, role: str, now: datetime) -> Sent:
    """Add a person to the actor's practice and email them a link to choose a password.

    `now` is naive UTC. The account is saved before the email goes: when the mail
    server refuses, `Sent.delivery_problem` says why and the admin resends.

    Raises:
        PeopleRefused: not an admin (403); a bad email, name or role (422, with
            `field`); an email that already has an account (409, field "email").
    """
    _authorize(actor, people_rules.INVITE)
    values, problems = {}, []
    for key, parse, raw in (
        ("email", _parse_email, email),
        ("name", _parse_name, name),
        ("role", _parse_role, role),
    ):
        try:
            values[key] = parse(raw)
        except PeopleRefused as refused:
            problems.append(refused)
    if problems:
        raise problems[0]
    taken = PeopleRefused(f"{values['email']} already has an account in Covered.", "email")
    if db.session.scalar(select(User.id).where(func.lower(User.email) == values["email"])):
        raise taken
    user = User(
        organization_id=actor.organization_id,
        email=values["email"],
        name=values["name"],
        role=values["role"],
        password_hash=password_links.unusable_password_hash(),
        invited_at=now,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # the same email, added by someone else a moment ago
        db.session.rollback()
        raise taken from None
    audit.record(
        organization_id=actor.organization_id,
        user_id=actor.id,
        action="user.invited",
        row=user,
        after={"email": user.email, "name": user.name, "role": user.role},
    )
    db.session.commit()
    return Sent(user, _send_link(user, invitation=True, now=now))


def resend_invitation(actor: User, target: User, *, now: datetime) -> Sent:
    """Email a new invitation link; every link sent before stops working.

    Raises:
        PeopleRefused: not an admin (403); the person already chose a password or
            is deactivated (409).
    """
    _authorize(actor, people_rules.RESEND)
    if password_links.has_usable_password(target):
        raise PeopleRefused(
            f"{target.name} already chose a password. If they forgot it, they can use "
            "“Forgot your password?” on the sign-in page."
        )
    if not target.is_active_user:
        raise PeopleRefused(f"{target.name} is deactivated. Reactivate them first.")
    before = {"invited_at": target.invited_at.isoformat() if target.invited_at else None}
    password_links.revoke(target)
    target.invited_at = now
    audit.record(
        organization_id=target.organization_id,
        user_id=actor.id,
        action="user.invitation_resent",
        row=target,
        before=before,
        after={"invited_at": now.isoformat()},
    )
    db.session.commit()
    return Sent(target, _send_link(target, invitation=True, now=now))


def change_role(actor: User, target: User, role: str) -> bool:
    """Give `target` another role; returns whether it changed.

    Raises:
        PeopleRefused: not an admin (403); not a role (422, field "role"); it
            would leave no admin who can sign in (409, field "role").
    """
    _authorize(actor, people_rules.CHANGE_ROLE)
    role = _parse_role(role)
    if role == target.role:
        return False
    try:
        _check_last_admin(actor, target, new_role=role, new_active=target.is_active_user)
    except PeopleRefused as refused:
        refused.field = "role"
        raise
    before = _state(target)
    target.role = role
    audit.record(
        organization_id=target.organization_id,
        user_id=actor.id,
        action="user.role_changed",
        row=target,
        before=before,
        after=_state(target),
    )
    db.session.commit()
    return True


def deactivate(actor: User, target: User) -> bool:
    """Deactivate `target`: no sign-in, and every session of theirs ends at once.

    Returns whether it changed.

    Raises:
        PeopleRefused: not an admin (403); the actor's own account, or the last
            admin who can sign in (409).
    """
    _authorize(actor, people_rules.DEACTIVATE)
    problem = people_rules.self_refusal(actor.id, target.id, people_rules.DEACTIVATE)
    if problem:
        raise PeopleRefused(problem)
    if not target.is_active_user:
        return False
    _check_last_admin(actor, target, new_role=target.role, new_active=False)
    before = _state(target)
    target.is_active_user = False
    target.session_version = User.session_version + 1  # every session and cookie ends
    audit.record(
        organization_id=target.organization_id,
        user_id=actor.id,
        action="user.deactivated",
        row=target,
        before=before,
        after={"role": target.role, "active": False},
    )
    db.session.commit()
    return True


def reactivate(actor: User, target: User) -> bool:
    """Let `target` sign in again (with their password; old sessions stay ended).

    Returns whether it changed.

    Raises:
        PeopleRefused: not an admin (403).
    """
    _authorize(actor, people_rules.REACTIVATE)
    if target.is_active_user:
        return False
    before = _state(target)
    target.is_active_user = True
    audit.record(
        organization_id=target.organization_id,
        user_id=actor.id,
        action="user.reactivated",
        row=target,
        before=before,
        after=_state(target),
    )
    db.session.commit()
    return True


def unlock(actor: User, target: User) -> bool:
    """Lift `target`'s sign-in lockout; returns whether they were locked out.

    Raises:
        PeopleRefused: not an admin (403).
    """
    _authorize(actor, people_rules.UNLOCK)
    was_locked = sign_in.is_locked_out(target.email)
    sign_in.lift_lockout(target.email)
    audit.record(
        organization_id=target.organization_id,
        user_id=actor.id,
        action="user.unlocked",
        row=target,
        before={"locked_out": was_locked},
        after={"locked_out": False},
    )
    db.session.commit()
    return was_locked

"""A person's own password: change it (My Profile) and reset it by email (forgotten).

- `change_password`: the current password is required; the new one passes the
  policy (`domain.password_rules`); every session and remember-me cookie of the
  person ends (the view keeps the browser that made the change signed in).
- `request_reset`: what the "Forgot your password?" form does. The same answer and
  the same work for every email typed, known or not, active or deactivated: it
  counts the request (RESET_EMAIL_LIMIT per address typed, RESET_CLIENT_LIMIT per
  client address, so nobody floods an inbox) and queues `jobs.passwords.send_reset`
  with the address. The job does the look-up and emails a RESET link
  (`services.password_links`: signed, single use, 1 hour) to an active account
  only; nothing for an unknown or deactivated one. Past a limit the answer stays
  the same and nothing is queued.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from webapp.domain.password_rules import password_refusal
from webapp.extensions import db
from webapp.models import User
from webapp.services import audit, mail, password_links, people, queue, sign_in
from webapp.services.errors import Refused

RESET_EMAIL_LIMIT = "3 per hour"
RESET_CLIENT_LIMIT = "20 per hour"
WRONG_CURRENT = "That is not your current password."
SAME_AS_BEFORE = "Choose a password different from your current one."


class PasswordChangeRefused(Refused):
    """The change was refused (field: "current_password" or "new_password"); 422."""

    status = 422


@dataclass(frozen=True)
class ResetOutcome:
    """What the job did, for its log line: "sent", "no account", "deactivated"."""

    outcome: str


def change_password(user: User, current: str, new: str) -> None:
    """Set `user`'s password to `new` after checking `current`; ends every session; commits.

    Raises:
        PasswordChangeRefused: the current password is wrong (field
            "current_password"), or the new one breaks the policy or equals the
            current one (field "new_password").
    """
    if not user.check_password(current or ""):
        raise PasswordChangeRefused(WRONG_CURRENT, "current_password")
    if new == current:
        raise PasswordChangeRefused(SAME_AS_BEFORE, "new_password")
    problem = password_refusal(
        new or "", email=user.email, name=user.name, organization=user.organization.name
    )
    if problem:
        raise PasswordChangeRefused(problem, "new_password")
    user.set_password(new)
    user.session_version = User.session_version + 1  # every session and cookie ends
    audit.record(
        organization_id=user.organization_id,
        user_id=user.id,
        action="user.password_changed",
        row=user,
        after={"through": "My Profile", "other_sessions": "ended"},
    )
    db.session.commit()
    db.session.refresh(user)


def request_reset(email: str, *, client_address: str | None) -> bool:
    """Queue the reset email for whatever address was typed; True once queued.

    Does the same whatever the address: no look-up here (the job does it), so the
    answer and its timing say nothing about which emails have accounts. False past
    a limit (see the module docstring) or when Redis is unreachable (logged; the
    person asks again later).
    """
    address = (email or "").strip().lower()[: people.EMAIL_MAX_LENGTH]
    within = [
        sign_in.count("password-reset-email", RESET_EMAIL_LIMIT, address),
        sign_in.count("password-reset-client", RESET_CLIENT_LIMIT, client_address or "-"),
    ]
    if not all(within):
        return False
    return queue.enqueue(
        "jobs.passwords.send_reset",
        address,
        job_id=f"password-reset-{uuid.uuid4().hex}",
        description="email a password reset link",
    )


def send_reset(email: str, *, now: datetime) -> ResetOutcome:
    """Email a one-time RESET link to the active account with `email` (if any).

    `now` is naive UTC. Audited as "user.password_reset_sent" on the account.

    Raises:
        MailDeliveryError: the mail server did not take the message.
    """
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if user is None:
        return ResetOutcome("no account")
    if not user.is_active_user:
        return ResetOutcome("deactivated")
    url = password_links.link(user, password_links.RESET, now=now)
    mail.deliver(people.compose_link_message(user, url, invitation=False))
    audit.record(
        organization_id=user.organization_id,
        user_id=None,
        action="user.password_reset_sent",
        row=user,
        after={"to": user.email},
        reason="Forgot your password? on the sign-in page",
    )
    db.session.commit()
    return ResetOutcome("sent")

"""One-time links to set a password: `<PUBLIC_URL>/password/<token>`.

Used by `flask create-practice` for the first admin, and meant for every other
"choose your password" door: an invitation (purpose SET_UP) and "forgot password"
(purpose RESET). Nothing is stored; the token carries everything, signed with
SECRET_KEY (itsdangerous):

- the user's id and the link's purpose;
- when it expires (SET_UP: 72 hours, RESET: 1 hour; `LIFETIMES`);
- a fingerprint of the account as it is now: an HMAC of its email, password hash
  and active flag. Setting the password changes the hash, so that link and every
  link issued before it stop working (single use, no token table). Changing the
  email or deactivating the account kills them too.

Setting the password is a compare-and-set on the old hash (`UPDATE … WHERE id = ?
AND password_hash = ?`), so two tabs sending the same link give one winner.

An account that never had a password holds an unusable hash (`unusable_password_hash`:
no password matches it). `revoke(user)` gives it a fresh one, which kills its
outstanding links (resend an invitation = revoke, then issue).

Callers: `link(user, purpose, now=…)` for the address to show or email;
`holder(token, now=…)` to open the page; `set_password(token, password, now=…)`
to use it. Both raise `LinkRefused` with a sentence for the person and an HTTP status.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import update

from webapp.domain.password_rules import password_refusal
from webapp.extensions import db
from webapp.models import User
from webapp.services import audit
from webapp.services.errors import Refused

SET_UP, RESET = "set_up", "reset"
LIFETIMES = {SET_UP: timedelta(hours=72), RESET: timedelta(hours=1)}
UNUSABLE_PREFIX = "!"  # werkzeug's check_password_hash never matches a hash without "$"
SALT = "covered.password-link"


class LinkRefused(Refused):
    """The link cannot be used; `message` says why and what to do, `status` is the HTTP
    code (400 malformed, 404 unknown, 410 used or expired)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(eq=False)
class PasswordRejected(Exception):
    """The new password breaks the policy (webapp/domain/password_rules.py)."""

    message: str


INVALID = LinkRefused("This link is not valid. Copy the whole address from the message.", 404)
EXPIRED = LinkRefused("This link has expired. Ask your practice's admin for a new one.", 410)
DEACTIVATED = LinkRefused(
    "This account is deactivated. Ask your practice's admin if it should be active.", 410
)
USED = LinkRefused(
    "This link was already used or replaced by a newer one. Sign in with your password, "
    "or ask your practice's admin for a new link.",
    410,
)


def unusable_password_hash() -> str:
    """A password hash no password matches, different every time (see `revoke`)."""
    return UNUSABLE_PREFIX + secrets.token_urlsafe(32)


def has_usable_password(user: User) -> bool:
    return not user.password_hash.startswith(UNUSABLE_PREFIX)


def revoke(user: User) -> None:
    """Kill every outstanding link of an account that has no password yet; caller commits.

    Raises:
        ValueError: the account has a password (revoking would lock its owner out).
    """
    if has_usable_password(user):
        raise ValueError("Only an account without a password can have its links revoked.")
    user.password_hash = unusable_password_hash()


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _fingerprint(user: User) -> str:
    state = f"{user.id}\0{user.email.lower()}\0{user.password_hash}\0{user.is_active_user}"
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, state.encode(), hashlib.sha256).hexdigest()[:32]


def _epoch(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


def issue(user: User, purpose: str, *, now: datetime) -> str:
    """The token of a link for `user` (flushed, with an id), valid for LIFETIMES[purpose].

    `now` is naive UTC. Raises KeyError for an unknown purpose.
    """
    expires = _epoch(now + LIFETIMES[purpose])
    return _serializer().dumps({"u": user.id, "p": purpose, "x": expires, "f": _fingerprint(user)})


def link(user: User, purpose: str, *, now: datetime) -> str:
    """The whole address to send: PUBLIC_URL + /password/<token>."""
    token = issue(user, purpose, now=now)
    with current_app.test_request_context("/"):
        path = url_for("passwords.set_password", token=token)
    return current_app.config["PUBLIC_URL"] + path


def _read(token: str, now: datetime) -> tuple[User, str]:
    try:
        payload = _serializer().loads(token)
        user_id, purpose, expires, fingerprint = (payload[k] for k in ("u", "p", "x", "f"))
    except (BadSignature, KeyError, TypeError, ValueError):
        raise INVALID from None
    if purpose not in LIFETIMES or not isinstance(user_id, int) or not isinstance(expires, int):
        raise INVALID
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None:
        raise INVALID
    if not hmac.compare_digest(str(fingerprint), _fingerprint(user)):
        raise USED
    if _epoch(now) >= expires:
        raise EXPIRED
    if not user.is_active_user:
        raise DEACTIVATED
    return user, purpose


def holder(token: str, *, now: datetime) -> User:
    """The account a link sets the password of.

    Raises:
        LinkRefused: INVALID (404: not ours, altered, or its account is gone),
            USED (410: a password was set since, or the account changed),
            EXPIRED (410), or DEACTIVATED (410: a link issued to a deactivated account).
    """
    return _read(token, now)[0]


def set_password(token: str, password: str, *, now: datetime) -> User:
    """Set the account's password through its link, once; commits.

    Raises:
        LinkRefused: as `holder`, also when another request used the link first.
        PasswordRejected: the password breaks the policy.
    """
    user, purpose = _read(token, now)
    problem = password_refusal(password, email=user.email, name=user.name)
    if problem:
        raise PasswordRejected(problem)
    old_hash = user.password_hash
    user.set_password(password)  # computes the hash; the UPDATE below writes it
    new_hash = user.password_hash
    db.session.expire(user, ["password_hash"])
    won = db.session.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == old_hash)
        .values(password_hash=new_hash),
        execution_options={"synchronize_session": False},
    ).rowcount
    if won != 1:
        db.session.rollback()
        raise USED
    audit.record(
        organization_id=user.organization_id,
        user_id=user.id,
        action="user.password_set",
        row=user,
        after={"through": f"{purpose} link"},
    )
    db.session.commit()
    return user

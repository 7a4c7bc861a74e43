"""Sign-in sessions: start one, load its user, end them all, the idle timeout.

The rules are in `webapp.domain.session_rules`; this module applies them to the
request's Flask session, Flask-Login and the `users` row:

- `start(user, remember)`: a fresh session (new CSRF token, nothing carried over
  from before sign-in) holding a new session token; with "Keep me signed in",
  Flask-Login's remember-me cookie holds the same token.
- `user_for_token(text)`: Flask-Login's user loader, for the session and the
  remember-me cookie alike.
- `end_all_sessions(user)`: every session and remember-me cookie of the user stops
  working (sign-out; later: password change, deactivation).
- `check_idle()`: once per request, ends the sessions of a user idle longer than
  IDLE_TIMEOUT_MINUTES, else notes the activity (at most once a minute).

Flask-Login's own session protection is off on purpose: its "strong" mode threw
away a session restored from the remember-me cookie on its next request (and
deleted the cookie), and it binds a session to the client address and browser
string, which change on a phone between networks and can be spoofed through
X-Forwarded-For. The session version, the idle timeout and the bounded lifetime
above are what end sessions.
"""

import secrets
from datetime import timedelta

from flask import current_app, flash, g, request, session
from flask_login import current_user, login_user, logout_user
from sqlalchemy import or_, update

from webapp.domain.session_rules import SessionToken, idle_too_long, parse_token, token_refusal
from webapp.extensions import db, htmx
from webapp.models import User
from webapp.models.base import utcnow

COMMITTED = "covered.committed"  # set in the WSGI environ when a request commits
ACTIVITY_STEP = timedelta(minutes=1)  # last_seen_at is written at most this often
# Requests a page makes by itself (htmx polling): they are not a person's activity.
POLLING_ENDPOINTS = frozenset(
    {
        "notifications.bell",
        "preauth.show",
        "billing.show_panel",
        "imports.show",
        "admin.system_status",
    }
)


def _idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config["IDLE_TIMEOUT_MINUTES"])


def _lifetime() -> timedelta:
    return current_app.config["REMEMBER_COOKIE_DURATION"]


def start(user: User, *, remember: bool) -> None:
    """Sign `user` in on this browser: a new session and, with `remember`, a new cookie."""
    cookie_name = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    had_remember_cookie = cookie_name in request.cookies
    session.clear()  # renewed: nothing of the signed-out session carries over
    g.pop("csrf_token", None)  # and a new CSRF token (Flask-WTF caches it on g)
    now = utcnow().replace(microsecond=0)
    login_user(user, remember=remember)
    session["_user_id"] = str(
        SessionToken(user.id, user.session_version, now, secrets.token_urlsafe(12))
    )
    if not remember and had_remember_cookie:
        session["_remember"] = "clear"  # an older "Keep me signed in" ends with this sign-in
    _note_activity(user.id, now, force=True)


def user_for_token(text: str) -> User | None:
    """The user a session token still signs in, or None (Flask-Login's user loader)."""
    token = parse_token(text)
    if token is None:
        return None
    user = db.session.get(User, token.user_id)
    if user is None:
        return None
    problem = token_refusal(
        token,
        version=user.session_version,
        active=user.is_active_user,
        now=utcnow(),
        lifetime=_lifetime(),
    )
    return None if problem else user


def end_all_sessions(user: User) -> None:
    """End every session and remember-me cookie of `user`, on every browser; commits.

    For sign-out now, and for password changes and deactivation: call it after
    the change. The user's next request on any browser finds itself signed out.
    """
    db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(user)


def sign_out() -> None:
    """Sign-out: every session of the signed-in user ends, and this browser forgets it."""
    if current_user.is_authenticated:
        end_all_sessions(current_user._get_current_object())
    session.clear()
    logout_user()  # also deletes this browser's remember-me cookie


def check_idle() -> bool:
    """Before each request: True when the signed-in user was idle too long (now signed out).

    Otherwise the request counts as activity, unless a page is polling by itself.
    """
    if request.endpoint in (None, "static") or not current_user.is_authenticated:
        return False
    user = current_user._get_current_object()
    now = utcnow()
    if idle_too_long(user.last_seen_at, now, _idle_limit()):
        sign_out()
        minutes = current_app.config["IDLE_TIMEOUT_MINUTES"]
        flash(f"You were signed out after {minutes} minutes without activity.", "info")
        return True
    if not (htmx and request.endpoint in POLLING_ENDPOINTS):
        _note_activity(user.id, now)
    return False


def _note_activity(user_id: int, now, *, force: bool = False) -> None:
    """Write `last_seen_at` (at most once a minute, unless forced); commits.

    Bookkeeping, not the person's change: a request that fails later must still
    say truthfully that it saved nothing (see `_server_error` in webapp/views).
    """
    statement = update(User).where(User.id == user_id).values(last_seen_at=now)
    if not force:
        statement = statement.where(
            or_(User.last_seen_at.is_(None), User.last_seen_at < now - ACTIVITY_STEP)
        )
    db.session.execute(statement.execution_options(synchronize_session=False))
    db.session.commit()
    request.environ.pop(COMMITTED, None)

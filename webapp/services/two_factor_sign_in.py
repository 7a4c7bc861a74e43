"""The second sign-in step: the pending sign-in between password and code, and its throttle.

After the right password, a user with two-factor on is *not* signed in: this
browser's session (Flask's signed cookie, renewed) holds a pending sign-in — the
user id, their session version, when the password was right, "Keep me signed in"
and where to go next. The second step then:

- ends after `TWO_FACTOR_PENDING_MINUTES` (default 5; `two_factor_rules.pending_refusal`),
  or when the user's sessions were ended meanwhile (password change, deactivation:
  the session version moved), and the person starts again from the password;
- is throttled per account with Flask-Limiter on the app's Redis, like the password
  (`TWO_FACTOR_LIMIT`, default "5 per 15 minutes" of wrong codes): past it, every
  code is refused before it is looked at, so guessing 6 digits is hopeless;
- ends with `sessions.start`, the same renewed session (and CSRF token) and
  remember-me choice as a password-only sign-in.
"""

import logging
import math
import time
from datetime import UTC, datetime

from flask import current_app, session
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from webapp.domain import two_factor_rules
from webapp.domain.session_rules import safe_next
from webapp.extensions import db, limiter
from webapp.models import User
from webapp.services import sessions

log = logging.getLogger(__name__)

PENDING = "two_factor_pending"
SCOPE = "two-factor-account"
DEFAULT_LIMIT = "5 per 15 minutes"
START_AGAIN = "Your sign-in was not finished. Enter your email and password again."
_fallback = MovingWindowRateLimiter(MemoryStorage())  # while Redis cannot be reached


def begin(user: User, *, remember: bool, next_path: str | None, now: datetime) -> None:
    """Hold a pending sign-in for `user` in this browser's (renewed) session. Raises nothing."""
    session.clear()
    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    session[PENDING] = {
        "user": user.id,
        "version": user.session_version,
        "at": int(moment.timestamp()),
        "remember": bool(remember),
        "next": safe_next(next_path),
    }


def pending_user(now: datetime) -> tuple[User | None, str | None]:
    """The user whose second step this browser is at, or (None, why it is over).

    (None, None) when there is no pending sign-in at all. An expired or stale one is
    forgotten. Raises nothing.
    """
    data = session.get(PENDING)
    if not data:
        return None, None
    try:
        minutes = current_app.config.get(
            "TWO_FACTOR_PENDING_MINUTES", two_factor_rules.PENDING_MINUTES
        )
        problem = two_factor_rules.pending_refusal(int(data["at"]), now, minutes)
        user = db.session.get(User, int(data["user"])) if problem is None else None
        if problem is None and (
            user is None or not user.is_active_user or user.session_version != data["version"]
        ):
            problem = START_AGAIN
    except (KeyError, TypeError, ValueError, OverflowError):
        problem, user = START_AGAIN, None
    if problem:
        session.pop(PENDING, None)
        return None, problem
    return user, None


def finish(user: User) -> str:
    """Sign `user` in for real (renewed session, remember-me as chosen); returns `next`.

    Raises:
        KeyError: there is no pending sign-in in this session (call `pending_user` first).
    """
    data = session[PENDING]
    sessions.start(user, remember=bool(data.get("remember")))
    clear_failures(user)
    return safe_next(data.get("next"))


def forget() -> None:
    """Drop the pending sign-in ("Use another account"). Raises nothing."""
    session.pop(PENDING, None)


# --- the throttle ----------------------------------------------------------------------


def _item():
    return parse(current_app.config.get("TWO_FACTOR_LIMIT", DEFAULT_LIMIT))


def _call(method: str, *args):
    """A call on Flask-Limiter's strategy; on a Redis failure, this process's memory instead."""
    try:
        return getattr(limiter.limiter, method)(*args)
    except (RedisError, OSError) as error:
        log.warning("two-factor throttle storage unavailable (%s); counting in memory", error)
        return getattr(_fallback, method)(*args)


def throttle_refusal(user: User) -> str | None:
    """Why this account may not try a code now (too many wrong ones), or None. Raises nothing."""
    key = str(user.id)
    if _call("test", _item(), key, SCOPE):
        return None
    stats = _call("get_window_stats", _item(), key, SCOPE)
    minutes = max(1, math.ceil((stats.reset_time - time.time()) / 60))
    return (
        f"Too many wrong codes for this account. Try again in {minutes} "
        f"minute{'s' if minutes != 1 else ''}, or ask an admin of your practice to reset "
        "your two-factor sign-in."
    )


def count_failure(user: User) -> None:
    """Count one wrong code against the account. Raises nothing."""
    _call("hit", _item(), str(user.id), SCOPE)


def clear_failures(user: User) -> None:
    """Forget the account's wrong codes (a right code; an admin's reset). Raises nothing."""
    _call("clear", _item(), str(user.id), SCOPE)

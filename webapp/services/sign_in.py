"""Sign-in attempts: the password check with equal work, and the throttle with its lockout.

Failed sign-ins are counted with Flask-Limiter (its `limits` storage on the app's
Redis, a moving window) under two keys: the email typed (per account, known or
not, so the throttle tells nothing about which emails exist) and the client's
address (after ProxyFix). Past `SIGN_IN_ACCOUNT_LIMIT` or `SIGN_IN_ADDRESS_LIMIT`
failures, every attempt is refused with a 429 and a message, *before* the
password is looked at, so the right password does not get through a lockout
either. A successful sign-in clears its account's count. The account lockout
lifts by itself as the failures age out of the window, or when an admin lifts it
(`lift_lockout`, `flask users unlock EMAIL`).

An unknown email costs the same password hashing as a known one (a dummy hash),
so the answer's timing does not tell them apart.
"""

import logging
import math
import time
from dataclasses import dataclass
from functools import cache

from flask import current_app
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db, limiter
from webapp.models import User

log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "That email and password do not match an account."
ACCOUNT, ADDRESS = "sign-in-account", "sign-in-address"
_fallback = MovingWindowRateLimiter(MemoryStorage())  # while Redis cannot be reached


@dataclass(frozen=True)
class Attempt:
    """The outcome of one sign-in attempt: a user, or a message with its HTTP status."""

    user: User | None
    message: str | None = None
    status: int = 200


def normalized_email(email: str) -> str:
    return (email or "").strip().lower()[:254]


@cache
def _dummy_hash() -> str:
    """A hash made like real ones (the app's default method), of a password nobody has."""
    return generate_password_hash("covered: no account has this password")


def _limits() -> dict[str, object]:
    config = current_app.config
    return {
        ACCOUNT: parse(config["SIGN_IN_ACCOUNT_LIMIT"]),
        ADDRESS: parse(config["SIGN_IN_ADDRESS_LIMIT"]),
    }


def _strategy():
    return limiter.limiter


def _call(method: str, *args):
    """A call on the throttle's strategy; on a Redis failure, this process's memory instead."""
    try:
        return getattr(_strategy(), method)(*args)
    except (RedisError, OSError) as error:
        log.warning("sign-in throttle storage unavailable (%s); counting in memory", error)
        return getattr(_fallback, method)(*args)


def _keys(email: str, address: str | None) -> dict[str, str]:
    return {ACCOUNT: normalized_email(email) or "-", ADDRESS: address or "-"}


def _refusal(email: str, address: str | None) -> str | None:
    items, keys = _limits(), _keys(email, address)
    for scope in (ACCOUNT, ADDRESS):
        if not _call("test", items[scope], keys[scope], scope):
            stats = _call("get_window_stats", items[scope], keys[scope], scope)
            minutes = max(1, math.ceil((stats.reset_time - time.time()) / 60))
            wait = f"Try again in {minutes} minute{'s' if minutes != 1 else ''}"
            if scope == ACCOUNT:
                return (
                    f"Too many failed sign-ins for this account. {wait}, "
                    "or ask an admin of your practice to unlock it."
                )
            return f"Too many failed sign-ins from your network. {wait}."
    return None


def attempt(email: str, password: str, *, address: str | None) -> Attempt:
    """Check a sign-in: Attempt(user) on success, else a message and 401 or 429.

    Raises nothing; a throttle storage failure falls back to counting in memory.
    """
    refusal = _refusal(email, address)
    if refusal:
        return Attempt(None, refusal, 429)
    user = db.session.scalar(select(User).where(func.lower(User.email) == normalized_email(email)))
    if user is None:
        check_password_hash(_dummy_hash(), password)  # the same work as a known email
    elif user.check_password(password) and user.is_active:
        _call("clear", _limits()[ACCOUNT], _keys(email, address)[ACCOUNT], ACCOUNT)
        return Attempt(user)
    items, keys = _limits(), _keys(email, address)
    for scope in (ACCOUNT, ADDRESS):
        _call("hit", items[scope], keys[scope], scope)
    return Attempt(None, WRONG_CREDENTIALS, 401)


def is_locked_out(email: str) -> bool:
    """Whether the account throttle refuses this email now (for the admin's Users page)."""
    return not _call("test", _limits()[ACCOUNT], _keys(email, None)[ACCOUNT], ACCOUNT)


def lift_lockout(email: str, *, address: str | None = None) -> None:
    """Forget the failed sign-ins of an account (and of an address, when given).

    For an admin: the person can sign in at once. Raises nothing.
    """
    items, keys = _limits(), _keys(email, address)
    _call("clear", items[ACCOUNT], keys[ACCOUNT], ACCOUNT)
    if address:
        _call("clear", items[ADDRESS], keys[ADDRESS], ADDRESS)


def count(scope: str, limit: str, key: str) -> bool:
    """Count one more event of `scope` ("password-reset", …) for `key` against `limit`
    ("3 per hour"), on the throttle's storage; False once the limit is passed.

    Raises nothing; a storage failure counts in this process's memory.
    """
    return bool(_call("hit", parse(limit), key or "-", scope))

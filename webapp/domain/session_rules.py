"""Sign-in session rules: the session token, its lifetime, the idle timeout, safe `next`.

A signed-in browser holds a **session token** in Flask's signed session cookie and,
with "Keep me signed in", in Flask-Login's HMAC-signed remember-me cookie:
"<user id>.<session version>.<signed-in at, Unix seconds>.<nonce>". So:

- a token names the user's **session version**: bumping the version (sign-out,
  password change, deactivation, idle timeout) ends every session and remember-me
  cookie of that user at their next request;
- a token is good for at most the remember-me lifetime after sign-in, checked on
  the server too, so a copied cookie dies with the browser's;
- each sign-in makes a new token (its time and a random nonce): a remember-me
  cookie is different at every sign-in.

The **idle timeout** (HIPAA automatic logoff) counts from the user's last activity;
a page polling by itself is not activity.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from webapp.domain.limits import MAX_ROW_ID

HOME = "/"


@dataclass(frozen=True)
class SessionToken:
    user_id: int
    version: int
    signed_in_at: datetime  # naive UTC, whole seconds
    nonce: str

    def __str__(self) -> str:
        seconds = int(self.signed_in_at.replace(tzinfo=UTC).timestamp())
        return f"{self.user_id}.{self.version}.{seconds}.{self.nonce}"


def parse_token(text: str) -> SessionToken | None:
    """The token in `text`, or None for anything else (an old plain user id, garbage)."""
    parts = str(text).split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts[:3]):
        return None
    if any(len(p) > 12 for p in parts[:3]) or not 1 <= int(parts[0]) <= MAX_ROW_ID:
        return None
    signed_in_at = datetime.fromtimestamp(int(parts[2]), UTC).replace(tzinfo=None)
    return SessionToken(int(parts[0]), int(parts[1]), signed_in_at, parts[3])


def token_refusal(
    token: SessionToken, *, version: int, active: bool, now: datetime, lifetime: timedelta
) -> str | None:
    """Why a token no longer signs its user in, or None when it does.

    `version` and `active` are the user's as stored now; `now` is naive UTC.
    """
    if not active:
        return "deactivated"
    if token.version != version:
        return "ended"
    if not token.signed_in_at - timedelta(minutes=5) <= now <= token.signed_in_at + lifetime:
        return "expired"
    return None


def idle_too_long(last_seen_at: datetime | None, now: datetime, idle: timedelta) -> bool:
    """Whether a user last active at `last_seen_at` has been idle past `idle` at `now`."""
    return last_seen_at is not None and now - last_seen_at > idle


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: `target` if it is a path on this site, else home.

    Refused: anything with a scheme or a host (`https://evil.example`,
    `//evil.example`), a backslash (`/\\evil.example`), whitespace or a control
    character (browsers drop a tab or newline, so `/<TAB>/evil.example` would
    become `//evil.example`; a newline would also break the Location header).
    """
    if not target or not target.startswith("/") or len(target) > 2000:
        return HOME
    if "\\" in target or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return HOME
    return target

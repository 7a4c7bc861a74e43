"""Two-factor sign-in rules: TOTP codes, recovery codes, the pending second step, who must.

- **TOTP** (RFC 6238, the algorithm every authenticator app runs): a 6-digit code from
  the shared secret and the 30-second **time step** (Unix seconds // 30). A code is
  accepted for the step now or one step either side (RFC 6238 §5.2 allows for clock
  drift and for the seconds it takes to type), and only for a step *later* than the
  last one accepted: a code, once used, cannot be used again, nor can any older one
  (RFC 6238 §5.2, "the verifier MUST NOT accept the second attempt of the same OTP").
- **Recovery codes**: 10 random codes of 10 characters from an alphabet without
  look-alikes (0/o, 1/l/i), about 49 bits each, shown once; each signs in once in
  place of a TOTP code. They are stored as SHA-256 digests: a code is random, not a
  word a person chose, so a slow password hash would add nothing but work.
- **Pending second step**: after the right password, the browser holds a pending
  sign-in for PENDING_MINUTES; then the person starts again from the password.
- **Who must**: when the organization requires two-factor, admins and billers
  (the roles that see money and every client) cannot use the app until enrolled.

Pure: time comes in as `now` (naive or aware UTC datetimes), randomness as a
`secrets`-like source.
"""

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import pyotp

STEP_SECONDS = 30  # RFC 6238's default, and the only step authenticator apps all support
CODE_DIGITS = 6
DRIFT_STEPS = 1  # accept the step before and after now
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0, o, 1, l, i
RECOVERY_CODE_LENGTH = 10
PENDING_MINUTES = 5
REQUIRED_ROLES = ("admin", "biller")
ISSUER = "Covered"


def new_secret() -> str:
    """A new shared secret: 32 base32 characters (160 bits, RFC 4226's recommended size)."""
    return pyotp.random_base32()


def time_step(now: datetime) -> int:
    """The TOTP time step of `now` (naive datetimes are UTC)."""
    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """The 6-digit code of `secret` for time step `step`."""
    return pyotp.TOTP(secret, digits=CODE_DIGITS, interval=STEP_SECONDS).generate_otp(step)


def looks_like_totp(text: str) -> bool:
    """Whether `text` (spaces ignored) is six digits, the shape of an authenticator code."""
    digits = "".join(text.split())
    return len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit()


def accepted_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step `code` is good for at `now`, or None when it is not accepted.

    Accepted: six digits (spaces ignored) equal to the code of the step now or
    DRIFT_STEPS either side, and that step is later than `last_step` (the last one
    this secret signed in with), so no code works twice. Compared in constant time.
    """
    if not looks_like_totp(code):
        return None
    digits = "".join(code.split())
    current = time_step(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(code_at(secret, step), digits):
            return step
    return None


def provisioning_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code (Key URI Format)."""
    return pyotp.TOTP(secret, digits=CODE_DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def grouped_secret(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def new_recovery_codes(source=secrets, count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """`count` distinct recovery codes such as "k7m2q-9xw4z"; `source` has `choice`."""
    codes: list[str] = []
    while len(codes) < count:
        raw = "".join(source.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        code = f"{raw[:5]}-{raw[5:]}"
        if code not in codes:
            codes.append(code)
    return codes


def normalized_recovery_code(text: str) -> str | None:
    """A typed recovery code in its stored form ("k7m2q9xw4z"), or None if it can't be one.

    Case, spaces and dashes are ignored, so "K7M2Q 9XW4Z" is the same code.
    """
    raw = "".join(ch for ch in text.lower() if ch not in " -\t")
    if len(raw) != RECOVERY_CODE_LENGTH or any(ch not in RECOVERY_ALPHABET for ch in raw):
        return None
    return raw


def recovery_code_digest(code: str) -> str | None:
    """The stored digest of a recovery code (SHA-256, hex), or None if `code` can't be one."""
    raw = normalized_recovery_code(code)
    return hashlib.sha256(raw.encode()).hexdigest() if raw else None


def pending_refusal(started_at: int, now: datetime, minutes: int = PENDING_MINUTES) -> str | None:
    """Why a pending second step begun at `started_at` (Unix seconds) is over, or None.

    Over after `minutes`, or when it claims to start in the future (a clock moved
    back, or a forged value).
    """
    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    started = datetime.fromtimestamp(started_at, UTC)
    if started > moment + timedelta(seconds=STEP_SECONDS):
        return "Your sign-in could not be continued. Sign in again."
    if moment - started > timedelta(minutes=minutes):
        return f"More than {minutes} minutes passed since you entered your password. Sign in again."
    return None


def enrollment_required(role: str, organization_requires: bool, enabled: bool) -> bool:
    """Whether a person must set up two-factor before using the app."""
    return organization_requires and role in REQUIRED_ROLES and not enabled

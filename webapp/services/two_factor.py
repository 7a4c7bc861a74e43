"""Two-factor sign-in: enrolling, checking a code, recovery codes, turning off, resetting.

The rules (code windows, reuse, recovery code shape, who must enroll) are in
`webapp.domain.two_factor_rules`; this module keeps them in the database:

- `begin_enrollment(user)` makes a pending secret (a new one each time until confirmed);
- `confirm_enrollment(user, code, now)` turns two-factor on with a current code and
  returns the 10 recovery codes, shown once; only their digests are stored;
- `check_code(user, text, now)` for the second sign-in step: a TOTP code (its time
  step is claimed by compare-and-set, so two requests with the same code can't both
  pass) or a recovery code (marked used by compare-and-set);
- `regenerate_recovery_codes`, `disable` (each needs a current code or the password),
  `reset_two_factor` (an admin, for someone who lost their phone), and
  `set_requirement` (the organization's "Require two-factor for admins and billers").

Every change, and each recovery code used, is written to the audit trail.
"""

from dataclasses import dataclass
from datetime import datetime

import segno
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from webapp.domain import two_factor_rules
from webapp.extensions import db
from webapp.models import Organization, RecoveryCode, TwoFactorSecret, User
from webapp.services import audit, two_factor_sign_in
from webapp.services.errors import Refused

WRONG_CODE = "That code is not right, or it was already used. Enter the code your app shows now."
NOT_A_CODE = (
    "That is not a code: enter the 6 digits your app shows, or a recovery code "
    "(10 letters and digits, such as abcde-fgh23)."
)
WRONG_PROOF = "That is neither a current code from your authenticator app nor your password."


class TwoFactorRefused(Refused):
    """A two-factor action refused (wrong code, wrong state); nothing was changed."""

    status = 422


@dataclass(frozen=True)
class Enrollment:
    """What the set-up page shows: the secret as text and as a QR code (inline SVG)."""

    secret: str
    grouped_secret: str
    uri: str
    qr_svg: str


@dataclass(frozen=True)
class CodeCheck:
    """A second step passed: by "totp" or "recovery" (then how many codes are left)."""

    kind: str
    recovery_codes_left: int | None = None


def _secret_row(user: User) -> TwoFactorSecret | None:
    return db.session.scalar(select(TwoFactorSecret).where(TwoFactorSecret.user_id == user.id))


def is_enabled(user: User) -> bool:
    """Whether the user signs in with a second step. Raises nothing."""
    row = _secret_row(user)
    return row is not None and row.enabled_at is not None


def enabled_since(user: User) -> datetime | None:
    """When two-factor was turned on (naive UTC), or None when it is off."""
    row = _secret_row(user)
    return row.enabled_at if row is not None else None


def recovery_codes_left(user: User) -> int:
    """How many of the user's recovery codes are unused."""
    return db.session.scalar(
        select(func.count(RecoveryCode.id)).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    )


def enrollment_required(user: User) -> bool:
    """Whether `user` must set up two-factor before using the app (the practice requires it)."""
    return role_requires(user) and not is_enabled(user)  # no lookup when the rule can't apply


def qr_svg(uri: str) -> str:
    """`uri` as a QR code: an inline <svg> with a viewBox, no size and no style attribute."""
    return segno.make(uri, error="m").svg_inline(
        scale=1,
        omitsize=True,
        dark="#000",
        light="#fff",
        svgclass="qr-code",
        lineclass=None,
        title="QR code for your authenticator app",
    )


def _enrollment(user: User, secret: str) -> Enrollment:
    uri = two_factor_rules.provisioning_uri(secret, user.email)
    return Enrollment(secret, two_factor_rules.grouped_secret(secret), uri, qr_svg(uri))


def pending_enrollment(user: User) -> Enrollment | None:
    """The set-up under way (a secret not yet confirmed), or None. Raises nothing."""
    row = _secret_row(user)
    if row is None or row.enabled_at is not None:
        return None
    return _enrollment(user, row.secret)


def begin_enrollment(user: User) -> Enrollment:
    """Start setting up two-factor with a new secret (replacing an unconfirmed one); commits.

    Raises:
        TwoFactorRefused: two-factor is already on (turn it off first).
    """
    row = _secret_row(user)
    if row is not None and row.enabled_at is not None:
        raise TwoFactorRefused("Two-factor sign-in is already on.")
    secret = two_factor_rules.new_secret()
    if row is None:
        row = TwoFactorSecret(organization_id=user.organization_id, user_id=user.id, secret=secret)
        db.session.add(row)
    else:
        row.secret, row.last_step = secret, None
    try:
        db.session.commit()
    except IntegrityError:
        # Two first "Set up" clicks at once: the other request's row won; start over on it.
        db.session.rollback()
        return begin_enrollment(user)
    return _enrollment(user, secret)


def _new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with 10 new ones (digests stored); no commit."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = two_factor_rules.new_recovery_codes()
    db.session.add_all(
        RecoveryCode(
            organization_id=user.organization_id,
            user_id=user.id,
            digest=two_factor_rules.recovery_code_digest(code),
        )
        for code in codes
    )
    return codes


def _claim_step(row: TwoFactorSecret, code: str, now: datetime) -> bool:
    """Accept `code` for `row` at `now` and record its step, once (compare-and-set)."""
    step = two_factor_rules.accepted_step(row.secret, code, now, row.last_step)
    if step is None:
        return False
    claimed = db.session.execute(
        update(TwoFactorSecret)
        .where(
            TwoFactorSecret.id == row.id,
            or_(TwoFactorSecret.last_step.is_(None), TwoFactorSecret.last_step < step),
        )
        .values(last_step=step)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return False
    row.last_step = step
    return True


def confirm_enrollment(user: User, code: str, now: datetime) -> list[str]:
    """Turn two-factor on with a current code from the app; returns the 10 recovery codes.

    The codes are shown once: only their SHA-256 digests are kept. Audited; commits.

    Raises:
        TwoFactorRefused: no set-up under way, already on, or the code is wrong.
    """
    row = _secret_row(user)
    if row is None or row.enabled_at is not None:
        raise TwoFactorRefused("Start the set-up again: there is no code to confirm.")
    if not _claim_step(row, code, now):
        db.session.rollback()
        raise TwoFactorRefused(WRONG_CODE, field="code")
    row.enabled_at = now.replace(tzinfo=None, microsecond=0)
    codes = _new_recovery_codes(user)
    _audit(user, user, "two_factor.enabled", {"two_factor": False}, {"two_factor": True})
    db.session.commit()
    return codes


def check_code(user: User, text: str, now: datetime) -> CodeCheck:
    """The second sign-in step: a current TOTP code or an unused recovery code.

    A TOTP code is good once (its time step is claimed); a recovery code is used up
    and its use audited. Commits.

    Raises:
        TwoFactorRefused: two-factor is off, or the code is wrong or already used.
    """
    row = _secret_row(user)
    if row is None or row.enabled_at is None:
        raise TwoFactorRefused("Two-factor sign-in is not on for this account.")
    if two_factor_rules.looks_like_totp(text):
        if not _claim_step(row, text, now):
            db.session.rollback()
            raise TwoFactorRefused(WRONG_CODE, field="code")
        db.session.commit()
        return CodeCheck("totp")
    if two_factor_rules.recovery_code_digest(text) is None:
        raise TwoFactorRefused(NOT_A_CODE, field="code")
    if not _use_recovery_code(user, text, now):
        db.session.rollback()
        raise TwoFactorRefused(
            "That recovery code is not right, or it was already used.", field="code"
        )
    left = recovery_codes_left(user)
    _audit(user, user, "two_factor.recovery_code_used", None, {"recovery_codes_left": left})
    db.session.commit()
    return CodeCheck("recovery", left)


def _use_recovery_code(user: User, text: str, now: datetime) -> bool:
    digest = two_factor_rules.recovery_code_digest(text)
    if digest is None:
        return False
    used = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.digest == digest,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now.replace(tzinfo=None))
        .execution_options(synchronize_session=False)
    )
    return used.rowcount == 1


def _proven(user: User, row: TwoFactorSecret, proof: str, now: datetime) -> bool:
    """A current code (claimed, so it can't be used again) or the user's password."""
    if two_factor_rules.looks_like_totp(proof) and _claim_step(row, proof, now):
        return True
    return bool(proof) and len(proof) <= 256 and user.check_password(proof)


def regenerate_recovery_codes(user: User, proof: str, now: datetime) -> list[str]:
    """New recovery codes in place of all the old ones; needs a current code or the password.

    Audited; commits.

    Raises:
        TwoFactorRefused: two-factor is off, or `proof` is neither a code nor the password.
    """
    row = _secret_row(user)
    if row is None or row.enabled_at is None:
        raise TwoFactorRefused("Two-factor sign-in is not on.")
    if not _proven(user, row, proof, now):
        db.session.rollback()
        raise TwoFactorRefused(WRONG_PROOF, field="proof")
    codes = _new_recovery_codes(user)
    _audit(user, user, "two_factor.recovery_codes_regenerated", None, {"recovery_codes_left": 10})
    db.session.commit()
    return codes


def disable(user: User, proof: str, now: datetime) -> None:
    """Turn two-factor off for oneself; needs a current code or the password. Audited; commits.

    Raises:
        TwoFactorRefused: two-factor is off, or `proof` is neither a code nor the password.
    """
    row = _secret_row(user)
    if row is None or row.enabled_at is None:
        raise TwoFactorRefused("Two-factor sign-in is not on.")
    if not _proven(user, row, proof, now):
        db.session.rollback()
        raise TwoFactorRefused(WRONG_PROOF, field="proof")
    _remove(user)
    _audit(user, user, "two_factor.disabled", {"two_factor": True}, {"two_factor": False})
    db.session.commit()


def reset_two_factor(target: User, *, actor: User | None, reason: str | None = None) -> bool:
    """Turn off another person's two-factor (a lost phone); returns whether it was on.

    `actor` is an admin of the target's organization, or None for the command line
    (`flask users reset-two-factor EMAIL`, for a locked-out sole admin). Wrong codes
    counted against the account are forgotten. The person signs in with their
    password next and, where the practice requires it, sets up two-factor again.
    Audited; commits.

    Raises:
        TwoFactorRefused: `actor` is not an admin of the target's organization, or is
            the target (turning one's own off asks for a code or the password: `disable`).
    """
    if actor is not None and (
        not actor.is_admin or actor.organization_id != target.organization_id
    ):
        raise TwoFactorRefused("Only an admin of the practice can reset two-factor sign-in.")
    if actor is not None and actor.id == target.id:  # else no code or password would be asked
        raise TwoFactorRefused(
            "Turn your own two-factor sign-in off under My Profile, with a code or your password."
        )
    was_on = is_enabled(target)
    _remove(target)
    two_factor_sign_in.clear_failures(target)
    _audit(
        target,
        actor,
        "two_factor.reset",
        {"two_factor": was_on},
        {"two_factor": False},
        reason=reason or ("from the command line" if actor is None else None),
    )
    db.session.commit()
    return was_on


def _remove(user: User) -> None:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(TwoFactorSecret).where(TwoFactorSecret.user_id == user.id))


def set_requirement(org: Organization, required: bool, *, actor: User) -> bool:
    """The practice's "Require two-factor for admins and billers"; returns whether it changed.

    Audited; commits.

    Raises:
        TwoFactorRefused: `actor` is not an admin of `org`.
    """
    if not actor.is_admin or actor.organization_id != org.id:
        raise TwoFactorRefused("Only an admin of the practice can change this setting.")
    before = org.require_two_factor
    if before == required:
        return False
    org.require_two_factor = required
    audit.record(
        organization_id=org.id,
        user_id=actor.id,
        action="settings.require_two_factor",
        row=org,
        before={"require_two_factor": before},
        after={"require_two_factor": required},
    )
    db.session.commit()
    return True


def role_requires(user: User) -> bool:
    """Whether the practice's setting applies to `user`'s role now (enrolled or not)."""
    org_requires = user.organization.require_two_factor
    return two_factor_rules.enrollment_required(user.role, org_requires, enabled=False)


def people(org: Organization) -> list[tuple[User, datetime | None, bool]]:
    """The practice's active people: each with when two-factor went on (None: off) and
    whether the practice's setting requires it of them."""
    rows = db.session.execute(
        select(User, TwoFactorSecret.enabled_at)
        .outerjoin(TwoFactorSecret, TwoFactorSecret.user_id == User.id)
        .where(User.organization_id == org.id, User.is_active_user.is_(True))
        .order_by(User.name, User.id)
    ).all()
    required = two_factor_rules.enrollment_required
    return [
        (user, enabled_at, required(user.role, org.require_two_factor, enabled=False))
        for user, enabled_at in rows
    ]


def _audit(target: User, actor: User | None, action: str, before, after, reason=None) -> None:
    audit.record(
        organization_id=target.organization_id,
        user_id=actor.id if actor is not None else None,
        action=action,
        entity_type="users",
        entity_id=target.id,
        before=before,
        after=after,
        reason=reason,
    )

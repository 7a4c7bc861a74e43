"""Two-factor use cases on SQLite and PostgreSQL: enrol, codes once, recovery codes, off, reset."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests import factories
from webapp.domain import two_factor_rules as rules
from webapp.extensions import db
from webapp.models import AuditEvent, RecoveryCode, TwoFactorSecret
from webapp.services import two_factor
from webapp.services.two_factor import TwoFactorRefused

NOW = datetime(2026, 11, 30, 9, 0, 10)  # 10 s into a time step
LATER = NOW + timedelta(seconds=30)  # the next step


def code(secret: str, at: datetime = NOW) -> str:
    return rules.code_at(secret, rules.time_step(at))


def wrong_code(secret: str, at: datetime) -> str:
    """Six digits that are not the code of any step accepted at `at`."""
    step = rules.time_step(at)
    good = {rules.code_at(secret, s) for s in (step - 1, step, step + 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in good)


def enrolled(user, at: datetime = NOW) -> tuple[str, list[str]]:
    enrollment = two_factor.begin_enrollment(user)
    return enrollment.secret, two_factor.confirm_enrollment(user, code(enrollment.secret, at), at)


def actions(org) -> list[str]:
    return db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.organization_id == org.id, AuditEvent.action.like("two_factor.%"))
        .order_by(AuditEvent.id)
    ).all()


def test_it_turns_on_only_with_a_current_code_and_gives_ten_codes_once(world):
    user = world.biller
    enrollment = two_factor.begin_enrollment(user)
    assert not two_factor.is_enabled(user)
    assert enrollment.secret in enrollment.uri and "<svg" in enrollment.qr_svg
    assert "style" not in enrollment.qr_svg  # the strict CSP allows no style attribute
    old = rules.code_at(enrollment.secret, rules.time_step(NOW) - 2)
    with pytest.raises(TwoFactorRefused):
        two_factor.confirm_enrollment(user, old, NOW)
    assert not two_factor.is_enabled(user) and actions(world.org) == []

    codes = two_factor.confirm_enrollment(user, code(enrollment.secret), NOW)
    assert two_factor.is_enabled(user) and two_factor.enabled_since(user) == NOW.replace(
        microsecond=0
    )
    assert len(set(codes)) == 10 and two_factor.recovery_codes_left(user) == 10
    stored = db.session.scalars(select(RecoveryCode.digest)).all()
    assert sorted(stored) == sorted(rules.recovery_code_digest(c) for c in codes)
    assert not any(c.replace("-", "") in d for c in codes for d in stored)
    assert actions(world.org) == ["two_factor.enabled"]
    assert two_factor.pending_enrollment(user) is None
    with pytest.raises(TwoFactorRefused):
        two_factor.begin_enrollment(user)


def test_starting_over_gives_a_new_secret_and_the_old_one_no_longer_confirms(world):
    first = two_factor.begin_enrollment(world.admin)
    second = two_factor.begin_enrollment(world.admin)
    assert first.secret != second.secret
    assert two_factor.pending_enrollment(world.admin).secret == second.secret
    with pytest.raises(TwoFactorRefused):
        two_factor.confirm_enrollment(world.admin, code(first.secret), NOW)
    assert db.session.scalar(select(db.func.count(TwoFactorSecret.id))) == 1


def test_two_first_set_up_clicks_at_once_leave_one_secret_and_no_error(world, monkeypatch):
    # The other click's row is written between this request's look-up and its commit.
    other = two_factor.begin_enrollment(world.admin)
    looked_up = []

    def first_look_misses(user):
        looked_up.append(user.id)
        if len(looked_up) == 1:
            return None
        return db.session.scalar(select(TwoFactorSecret).where(TwoFactorSecret.user_id == user.id))

    monkeypatch.setattr(two_factor, "_secret_row", first_look_misses)
    mine = two_factor.begin_enrollment(world.admin)
    assert len(looked_up) == 2 and mine.secret != other.secret
    assert db.session.scalar(select(db.func.count(TwoFactorSecret.id))) == 1
    assert two_factor.pending_enrollment(world.admin).secret == mine.secret


def test_a_code_signs_in_once_and_never_an_older_one(world):
    secret, _ = enrolled(world.admin)
    # The code that turned it on was used: the same step can't sign in.
    with pytest.raises(TwoFactorRefused):
        two_factor.check_code(world.admin, code(secret), NOW)
    assert two_factor.check_code(world.admin, code(secret, LATER), LATER).kind == "totp"
    with pytest.raises(TwoFactorRefused):  # reused within its window
        two_factor.check_code(world.admin, code(secret, LATER), LATER + timedelta(seconds=20))
    with pytest.raises(TwoFactorRefused):  # a wrong code
        two_factor.check_code(world.admin, wrong_code(secret, LATER), LATER)
    assert actions(world.org) == ["two_factor.enabled"]  # TOTP sign-ins are not audited


def test_a_recovery_code_signs_in_once_and_its_use_is_audited(world):
    _, codes = enrolled(world.biller)
    typed = codes[3].upper().replace("-", " ")
    check = two_factor.check_code(world.biller, typed, NOW)
    assert (check.kind, check.recovery_codes_left) == ("recovery", 9)
    with pytest.raises(TwoFactorRefused, match="recovery code"):
        two_factor.check_code(world.biller, codes[3], NOW)
    with pytest.raises(TwoFactorRefused):
        two_factor.check_code(world.biller, "abcde-fghjk", NOW)
    assert two_factor.recovery_codes_left(world.biller) == 9
    assert actions(world.org) == ["two_factor.enabled", "two_factor.recovery_code_used"]
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.entity_type, event.entity_id, event.user_id) == (
        "users",
        world.biller.id,
        world.biller.id,
    )
    assert event.after == {"recovery_codes_left": 9}


def test_recovery_codes_of_one_person_do_not_sign_in_another(world):
    _, admin_codes = enrolled(world.admin)
    enrolled(world.biller)
    with pytest.raises(TwoFactorRefused):
        two_factor.check_code(world.biller, admin_codes[0], NOW)
    assert two_factor.recovery_codes_left(world.admin) == 10


def test_new_recovery_codes_replace_the_old_and_need_a_code_or_the_password(world):
    secret, old_codes = enrolled(world.clinician)
    with pytest.raises(TwoFactorRefused):
        two_factor.regenerate_recovery_codes(world.clinician, "not my password", NOW)
    new_codes = two_factor.regenerate_recovery_codes(world.clinician, factories.PASSWORD, NOW)
    assert set(new_codes).isdisjoint(old_codes)
    with pytest.raises(TwoFactorRefused):
        two_factor.check_code(world.clinician, old_codes[0], NOW)
    assert two_factor.check_code(world.clinician, new_codes[0], NOW).recovery_codes_left == 9
    again = two_factor.regenerate_recovery_codes(world.clinician, code(secret, LATER), LATER)
    assert len(again) == 10 and two_factor.recovery_codes_left(world.clinician) == 10
    assert actions(world.org) == [
        "two_factor.enabled",
        "two_factor.recovery_codes_regenerated",
        "two_factor.recovery_code_used",
        "two_factor.recovery_codes_regenerated",
    ]


@pytest.mark.parametrize("proof", ["password", "code"])
def test_turning_off_needs_a_current_code_or_the_password(world, proof):
    secret, _ = enrolled(world.admin)
    with pytest.raises(TwoFactorRefused):
        two_factor.disable(world.admin, "123", LATER)
    with pytest.raises(TwoFactorRefused):  # the code already used to turn it on
        two_factor.disable(world.admin, code(secret), NOW)
    assert two_factor.is_enabled(world.admin)
    two_factor.disable(
        world.admin, factories.PASSWORD if proof == "password" else code(secret, LATER), LATER
    )
    assert not two_factor.is_enabled(world.admin)
    assert two_factor.recovery_codes_left(world.admin) == 0
    assert actions(world.org) == ["two_factor.enabled", "two_factor.disabled"]


def test_an_admin_resets_another_persons_two_factor_in_their_practice_only(world):
    enrolled(world.biller)
    with pytest.raises(TwoFactorRefused):
        two_factor.reset_two_factor(world.biller, actor=world.outsider)
    with pytest.raises(TwoFactorRefused):
        two_factor.reset_two_factor(world.biller, actor=world.clinician)
    enrolled(world.admin)
    with pytest.raises(TwoFactorRefused, match="under My Profile"):
        two_factor.reset_two_factor(world.admin, actor=world.admin)
    assert two_factor.is_enabled(world.admin)
    assert two_factor.is_enabled(world.biller)
    assert two_factor.reset_two_factor(world.biller, actor=world.admin, reason="lost phone")
    assert not two_factor.is_enabled(world.biller)
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.user_id, event.entity_id, event.reason) == (
        "two_factor.reset",
        world.admin.id,
        world.biller.id,
        "lost phone",
    )
    assert (event.before, event.after) == ({"two_factor": True}, {"two_factor": False})
    assert not two_factor.reset_two_factor(world.biller, actor=world.admin)  # already off


def test_the_practice_requirement_is_an_audited_admin_setting(world):
    with pytest.raises(TwoFactorRefused):
        two_factor.set_requirement(world.org, True, actor=world.biller)
    with pytest.raises(TwoFactorRefused):
        two_factor.set_requirement(world.org, True, actor=world.outsider)
    assert two_factor.set_requirement(world.org, True, actor=world.admin)
    assert not two_factor.set_requirement(world.org, True, actor=world.admin)
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "settings.require_two_factor")
    ).one()
    assert (event.before, event.after) == (
        {"require_two_factor": False},
        {"require_two_factor": True},
    )


@pytest.mark.parametrize(
    ("role", "requires", "enrolled_first", "must"),
    [
        ("admin", True, False, True),
        ("biller", True, False, True),
        ("clinician", True, False, False),
        ("admin", True, True, False),
        ("biller", False, False, False),
    ],
)
def test_who_must_enroll(world, role, requires, enrolled_first, must):
    world.org.require_two_factor = requires
    db.session.commit()
    user = world.user(role)
    if enrolled_first:
        enrolled(user)
    assert two_factor.enrollment_required(user) is must
    assert not two_factor.enrollment_required(world.outsider)  # another practice's setting


def test_the_people_list_says_who_has_it_on(world):
    enrolled(world.biller)
    world.clinician.is_active_user = False
    world.org.require_two_factor = True
    db.session.commit()
    listed = {user.id: (since, must) for user, since, must in two_factor.people(world.org)}
    assert set(listed) == {world.admin.id, world.biller.id}
    assert listed[world.biller.id][0] is not None and listed[world.admin.id][0] is None
    assert listed[world.biller.id][1] and listed[world.admin.id][1]
    world.clinician.is_active_user = True
    world.org.require_two_factor = False
    db.session.commit()
    assert not any(must for _, _, must in two_factor.people(world.org))

"""Two-factor rules: which codes are accepted when, recovery codes, the pending step, who must."""

import random
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.domain import two_factor_rules as rules

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
# A moment 10 s into a time step, so "one step later" is 30 s on.
NOW = datetime(2026, 11, 30, 9, 0, 10)
STEP = rules.time_step(NOW)


def code(offset_steps: int, secret: str = SECRET) -> str:
    return rules.code_at(secret, STEP + offset_steps)


def test_the_codes_are_the_ones_an_authenticator_app_shows():
    app = pyotp.TOTP(SECRET)  # what Google Authenticator & co. compute (RFC 6238 defaults)
    for seconds in (0, 29, 30, 31, 3600):
        moment = NOW + timedelta(seconds=seconds)
        assert rules.code_at(SECRET, rules.time_step(moment)) == app.at(moment.replace(tzinfo=UTC))


def test_a_naive_now_is_utc():
    assert rules.time_step(NOW) == rules.time_step(NOW.replace(tzinfo=UTC))
    assert int(NOW.replace(tzinfo=UTC).timestamp()) // 30 == STEP


@pytest.mark.parametrize(
    ("offset", "last_step", "accepted"),
    [
        (0, None, True),  # the code of now
        (-1, None, True),  # the previous step: typed as it changed, or a slow phone clock
        (1, None, True),  # the next step: a fast phone clock
        (-2, None, False),  # a minute old
        (2, None, False),  # a minute ahead
        (0, STEP, False),  # the same code again
        (-1, STEP, False),  # an older code after a newer one was used
        (1, STEP, True),  # the next code after one was used
        (0, STEP - 1, True),
        (1, STEP + 1, False),
    ],
)
def test_a_code_is_accepted_within_one_step_and_only_after_the_last_used(
    offset, last_step, accepted
):
    step = rules.accepted_step(SECRET, code(offset), NOW, last_step)
    assert step == (STEP + offset if accepted else None)


@pytest.mark.parametrize(
    "text", ["", "12345", "1234567", "abcdef", "１２３４５６", "12 34 5", "123456\x00"]
)
def test_anything_but_six_digits_is_no_code(text):
    assert not rules.looks_like_totp(text)
    assert rules.accepted_step(SECRET, text, NOW, None) is None


def test_spaces_inside_a_code_are_ignored():
    spaced = code(0)[:3] + " " + code(0)[3:]
    assert rules.accepted_step(SECRET, spaced, NOW, None) == STEP


@given(offset=st.integers(-50, 50), last=st.one_of(st.none(), st.integers(-5, 5)))
def test_an_accepted_step_is_near_now_and_later_than_the_last(offset, last):
    last_step = None if last is None else STEP + last
    step = rules.accepted_step(SECRET, code(offset), NOW, last_step)
    if step is not None:
        assert abs(step - STEP) <= rules.DRIFT_STEPS
        assert last_step is None or step > last_step
    if abs(offset) <= 1 and (last_step is None or STEP + offset > last_step):
        assert step == STEP + offset


@given(st.integers(0, 2**32))
def test_recovery_codes_are_ten_distinct_codes_that_read_back(seed):
    codes = rules.new_recovery_codes(random.Random(seed))
    assert len(codes) == len(set(codes)) == rules.RECOVERY_CODE_COUNT
    for recovery in codes:
        assert len(recovery) == 11 and recovery[5] == "-"
        assert rules.normalized_recovery_code(recovery) == recovery.replace("-", "")
        assert rules.recovery_code_digest(recovery.upper().replace("-", " ")) == (
            rules.recovery_code_digest(recovery)
        )
        assert not rules.looks_like_totp(recovery)


def test_a_recovery_code_is_stored_as_a_digest_not_as_itself():
    recovery = rules.new_recovery_codes(random.Random(7))[0]
    digest = rules.recovery_code_digest(recovery)
    assert len(digest) == 64 and recovery.replace("-", "") not in digest


@pytest.mark.parametrize("text", ["", "abcde", "abcdefghjkm", "0000000000", "ilo1ilo1il", "x" * 40])
def test_text_of_another_shape_is_no_recovery_code(text):
    assert rules.recovery_code_digest(text) is None


@pytest.mark.parametrize(
    ("seconds_since", "over"),
    [(0, False), (299, False), (300, False), (301, True), (3600, True), (-10, False), (-31, True)],
)
def test_a_pending_second_step_lasts_five_minutes(seconds_since, over):
    started = int((NOW - timedelta(seconds=seconds_since)).replace(tzinfo=UTC).timestamp())
    refusal = rules.pending_refusal(started, NOW)
    assert (refusal is not None) is over
    if seconds_since > 300:
        assert "More than 5 minutes" in refusal


@pytest.mark.parametrize(
    ("role", "org_requires", "enabled", "must"),
    [
        ("admin", True, False, True),
        ("biller", True, False, True),
        ("clinician", True, False, False),
        ("admin", True, True, False),
        ("biller", False, False, False),
        ("admin", False, False, False),
    ],
)
def test_admins_and_billers_must_enroll_when_the_practice_requires_it(
    role, org_requires, enabled, must
):
    assert rules.enrollment_required(role, org_requires, enabled) is must


def test_the_required_roles_are_the_models_roles():
    from webapp.models.organization import ADMIN, BILLER

    assert set(rules.REQUIRED_ROLES) == {ADMIN, BILLER}


def test_the_secret_reads_in_groups_and_the_uri_names_the_account():
    secret = rules.new_secret()
    assert len(secret) == 32 and rules.grouped_secret(secret).replace(" ", "") == secret
    uri = rules.provisioning_uri(secret, "ada@example.com")
    assert uri.startswith("otpauth://totp/Covered:ada%40example.com?")
    assert f"secret={secret}" in uri and "issuer=Covered" in uri

"""Reminder rules: thresholds crossed on a given day, recipients, wording."""

from datetime import date, timedelta

import pytest

from webapp.domain.authorization_rules import CANCELLED, KEPT, LATE_CANCELLED, NO_SHOW, UPCOMING
from webapp.domain.reminder_rules import (
    EXHAUSTION,
    EXPIRATION,
    Due,
    Preferences,
    Recipient,
    counted_statuses,
    due_reminders,
    exhaustion_threshold,
    expiration_threshold,
    headline,
    recipients,
    still_due,
)

END = date(2026, 6, 30)


def days_before_end(n: int) -> date:
    return END - timedelta(days=n)


@pytest.mark.parametrize(
    ("days_left", "threshold"),
    [
        (400, None),
        (61, None),
        (60, 60),
        (59, 60),
        (31, 60),
        (30, 30),
        (8, 30),
        (7, 7),
        (1, 7),
        (0, 0),
        (-1, 0),  # expired yesterday: the 0-day reminder still catches up …
        (-7, 0),  # … for a week
        (-8, None),  # then nothing: old history is not reminded about
        (-400, None),
    ],
)
def test_expiration_threshold_is_the_most_urgent_one_crossed(days_left, threshold):
    assert expiration_threshold(END, days_before_end(days_left)) == threshold


@pytest.mark.parametrize(
    ("remaining", "today", "threshold"),
    [
        (5, END, None),
        (2, END, None),
        (1, END, 1),
        (0, END, 0),
        (-3, END, 0),  # over-scheduled counts as exhausted
        (1, days_before_end(200), 1),
        (0, END + timedelta(days=1), None),  # expired: exhaustion no longer matters
    ],
)
def test_exhaustion_threshold(remaining, today, threshold):
    assert exhaustion_threshold(remaining, END, today) == threshold


@pytest.mark.parametrize(
    ("insurance_active", "days_left", "remaining", "expected"),
    [
        (True, 100, 10, []),
        (True, 30, 10, [Due(EXPIRATION, 30)]),
        (True, 100, 1, [Due(EXHAUSTION, 1)]),
        (True, 7, 0, [Due(EXPIRATION, 7), Due(EXHAUSTION, 0)]),
        (True, -2, 0, [Due(EXPIRATION, 0)]),
        (False, 7, 0, []),  # inactive insurance: no reminders at all
    ],
)
def test_due_reminders(insurance_active, days_left, remaining, expected):
    due = due_reminders(
        insurance_active=insurance_active,
        end=END,
        remaining=remaining,
        today=days_before_end(days_left),
    )
    assert due == expected


def test_counted_statuses_follow_the_use_kept_and_upcoming_setting():
    assert counted_statuses(False) == (KEPT,)
    assert set(counted_statuses(True)) == {KEPT, UPCOMING}
    for never in (CANCELLED, LATE_CANCELLED, NO_SHOW):
        assert never not in counted_statuses(True)


ADMIN = Preferences(1, "admin", True, expiration_email=True, expiration_in_app=True)
BILLER = Preferences(2, "biller", True, exhaustion_in_app=True, expiration_email=True)
MY_CLINICIAN = Preferences(3, "clinician", True, expiration_in_app=True, exhaustion_email=True)
OTHER_CLINICIAN = Preferences(4, "clinician", True, expiration_email=True, exhaustion_email=True)
GONE = Preferences(5, "admin", False, expiration_email=True, exhaustion_email=True)
QUIET = Preferences(6, "biller", True)
EVERYONE = [ADMIN, BILLER, MY_CLINICIAN, OTHER_CLINICIAN, GONE, QUIET]


def test_expiration_goes_to_admins_billers_and_the_clients_own_clinician_who_asked():
    assert recipients(EVERYONE, kind=EXPIRATION, primary_clinician_id=3) == [
        Recipient(1, email=True, in_app=True),
        Recipient(2, email=True, in_app=False),
        Recipient(3, email=False, in_app=True),
    ]


def test_exhaustion_follows_each_users_own_choices():
    assert recipients(EVERYONE, kind=EXHAUSTION, primary_clinician_id=4) == [
        Recipient(2, email=False, in_app=True),
        Recipient(4, email=True, in_app=False),
    ]


def test_a_client_without_a_primary_clinician_reaches_no_clinician():
    chosen = recipients(EVERYONE, kind=EXHAUSTION, primary_clinician_id=None)
    assert [r.user_id for r in chosen] == [2]


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        ADMIN.channels("birthday")


@pytest.mark.parametrize(
    ("kind", "today", "remaining", "auth_kind", "text"),
    [
        (EXPIRATION, days_before_end(60), 5, "sessions", "expires in 60 days, on Jun 30, 2026"),
        (EXPIRATION, days_before_end(1), 5, "sessions", "expires tomorrow, Jun 30, 2026"),
        (EXPIRATION, END, 5, "sessions", "expires today, Jun 30, 2026"),
        (EXPIRATION, END + timedelta(days=2), 5, "units", "expired on Jun 30, 2026"),
        (EXHAUSTION, END, 1, "sessions", "has 1 session left"),
        (EXHAUSTION, END, 3, "units", "has 3 units left"),
        (EXHAUSTION, END, 0, "units", "is exhausted: no units left"),
        (EXHAUSTION, END, -2, "sessions", "is exhausted: no sessions left"),
    ],
)
def test_headline_is_worded_for_the_day_it_is_read(kind, today, remaining, auth_kind, text):
    assert (
        headline(
            kind=kind, threshold=0, end=END, today=today, remaining=remaining, auth_kind=auth_kind
        )
        == text
    )


@pytest.mark.parametrize(
    ("kind", "threshold", "end", "remaining", "due"),
    [
        ("expiration", 7, date(2026, 3, 8), 5, True),  # 7 days left
        ("expiration", 7, date(2026, 3, 9), 5, False),  # end moved a day later
        ("expiration", 0, date(2026, 2, 20), 5, True),  # expired: still due
        ("expiration", 30, END, 5, False),  # extended by months
        ("exhaustion", 0, END, 0, True),
        ("exhaustion", 0, END, 3, False),  # more allowed
        ("exhaustion", 1, END, 1, True),
        ("exhaustion", 1, END, 2, False),
    ],
)
def test_a_sent_reminder_stays_due_only_while_its_condition_holds(
    kind, threshold, end, remaining, due
):
    today = date(2026, 3, 1)
    assert still_due(kind, threshold, end=end, remaining=remaining, today=today) is due

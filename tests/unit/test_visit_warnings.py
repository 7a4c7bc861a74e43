"""What a visit's authorization use says: warnings that fit the visit, and why it went there."""

from datetime import date

import pytest

from webapp.domain.allocation_rules import (
    ENDS_FIRST,
    KEPT_HERE,
    NEXT_WITH_ROOM,
    NO_ROOM,
    NOT_COUNTED,
    PassedOver,
    Placement,
)
from webapp.domain.authorization_rules import (
    ACTIVE,
    CANCELLED,
    EXHAUSTED,
    EXPIRED,
    INACTIVE,
    KEPT,
    LATE_CANCELLED,
    NO_SHOW,
    SESSIONS,
    UNITS,
    UPCOMING,
    AuthorizationTerms,
    CoverageWarning,
)
from webapp.domain.visit_warning_rules import placement_reason, visit_warnings

D = date
SESSION = AuthorizationTerms(
    1, 7, SESSIONS, D(2025, 1, 1), D(2025, 12, 31), 20, None, frozenset({1})
)
WEEKLY = AuthorizationTerms(2, 7, UNITS, D(2025, 1, 1), D(2025, 12, 31), 10, "week", frozenset({2}))
OTHER = AuthorizationTerms(3, 7, SESSIONS, D(2025, 1, 1), D(2025, 6, 30), 2, None, frozenset({1}))
TERMS = {1: SESSION, 2: WEEKLY, 3: OTHER}
NUMBERS = {1: "12345", 2: "W-1", 3: "A-3"}


def placed(auth_id=1, amount=1, room=5, window_room=None, reason=ENDS_FIRST, passed=()):
    return Placement(
        authorization_id=auth_id,
        encounter_id=9,
        day=D(2025, 3, 6),
        amount=amount,
        reason=reason,
        room_before=room,
        window_room_before=window_room,
        passed_over=list(passed),
    )


def warn(placement, visit_status=UPCOMING, status=ACTIVE):
    return visit_warnings(
        [placement],
        visit_status=visit_status,
        terms_by_id=TERMS,
        status_by_auth=dict.fromkeys(TERMS, status),
        number_by_auth=NUMBERS,
    )


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        (placed(room=5), []),
        (placed(room=1), []),  # the last session: no warning about itself
        (
            placed(room=0, reason=NO_ROOM),
            [
                CoverageWarning(
                    EXHAUSTED,
                    "Authorization 12345 is exhausted: 20 of 20 sessions already kept or booked.",
                )
            ],
        ),
        (
            placed(auth_id=2, amount=4, room=12, window_room=2, reason=NO_ROOM),
            [
                CoverageWarning(
                    "exceeds_window",
                    "This appointment would exceed the weekly cap of authorization W-1 "
                    "(Mar 2 – Mar 8, 2025: 10 allowed, 8 already kept or booked, "
                    "this adds 4 units).",
                )
            ],
        ),
        (
            placed(auth_id=2, amount=4, room=2, window_room=2, reason=NO_ROOM),
            ["exceeds_total", "exceeds_window"],
        ),
    ],
)
def test_a_visit_warns_only_when_it_did_not_fit(placement, expected):
    warnings = warn(placement)
    if expected and isinstance(expected[0], str):
        assert [w.code for w in warnings] == expected
    else:
        assert warnings == expected


def test_the_warning_names_the_other_covering_authorizations_that_were_full():
    placement = placed(
        room=0, reason=NO_ROOM, passed=[PassedOver(1, "total"), PassedOver(3, "total")]
    )
    [warning] = warn(placement)
    assert warning.message.endswith("No room in A-3 either.")


@pytest.mark.parametrize("visit_status", [CANCELLED, LATE_CANCELLED, NO_SHOW])
@pytest.mark.parametrize("status", [ACTIVE, INACTIVE, EXPIRED, EXHAUSTED])
def test_a_visit_that_never_counts_never_warns(visit_status, status):
    placement = placed(room=0, reason=NOT_COUNTED)
    placement.counted = False
    uncovered = [CoverageWarning("none_covers", "No authorization covers 97153.")]
    assert (
        visit_warnings(
            [placement],
            visit_status=visit_status,
            terms_by_id=TERMS,
            status_by_auth=dict.fromkeys(TERMS, status),
            number_by_auth=NUMBERS,
            uncovered=uncovered,
        )
        == []
    )


@pytest.mark.parametrize(
    ("visit_status", "status", "codes"),
    [
        (UPCOMING, INACTIVE, ["inactive"]),
        (KEPT, INACTIVE, ["inactive"]),
        (UPCOMING, EXPIRED, ["expired"]),
        (KEPT, EXPIRED, []),  # a kept visit was inside the dates: it was covered
    ],
)
def test_inactive_and_expired_warn_where_they_matter_to_the_visit(visit_status, status, codes):
    assert [w.code for w in warn(placed(), visit_status, status)] == codes


KEPT_WORDS = "Kept: it stays on the authorization it was counted against."
FIRST_WORDS = "The authorization covering it that ends first, with room for it."
NEXT_WORDS = "The next to end with room for it; "
NO_ROOM_WORDS = "No authorization covering it had room, so it counts over the one that ends first."


@pytest.mark.parametrize(
    ("placement", "visit_status", "expected"),
    [
        (placed(reason=KEPT_HERE), KEPT, KEPT_WORDS),
        (placed(reason=ENDS_FIRST), UPCOMING, FIRST_WORDS),
        (
            placed(reason=NEXT_WITH_ROOM, passed=[PassedOver(3, "total")]),
            UPCOMING,
            NEXT_WORDS + "A-3 (ends Jun 30, 2025): no sessions were left.",
        ),
        (
            placed(auth_id=1, reason=NEXT_WITH_ROOM, passed=[PassedOver(2, "window")]),
            UPCOMING,
            NEXT_WORDS + "W-1 (ends Dec 31, 2025): its weekly cap was reached.",
        ),
        (placed(reason=NO_ROOM), UPCOMING, NO_ROOM_WORDS),
        (
            placed(reason=NOT_COUNTED),
            NO_SHOW,
            "Not counted (no-show): listed here, it takes no room.",
        ),
    ],
)
def test_it_says_why_a_visit_counts_where_it_does(placement, visit_status, expected):
    reason = placement_reason(
        placement, visit_status=visit_status, terms_by_id=TERMS, number_by_auth=NUMBERS
    )
    assert reason == expected

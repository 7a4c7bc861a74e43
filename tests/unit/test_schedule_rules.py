"""A clinician booked twice at once; a visit kept before it starts."""

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.domain.authorization_rules import CANCELLED, KEPT, LATE_CANCELLED, NO_SHOW, UPCOMING
from webapp.domain.schedule_rules import (
    Slot,
    appointment_minutes,
    conflicts,
    double_booked,
    early_keep_refusal,
)

T = datetime(2026, 3, 2, 15)  # 10:00 in New York


def slot(id, start_minutes, minutes=60, clinician=1, status=UPCOMING):
    return Slot(id, clinician, T + timedelta(minutes=start_minutes), minutes, status)


@pytest.mark.parametrize(
    ("other", "clash"),
    [
        (slot(2, 30), True),  # starts inside
        (slot(2, -30), True),  # ends inside
        (slot(2, 15, 15), True),  # inside
        (slot(2, -60, 180), True),  # around
        (slot(2, 60), False),  # back to back after
        (slot(2, -60), False),  # back to back before
        (slot(2, 30, clinician=9), False),  # another clinician
        (slot(2, 30, status=KEPT), True),
        (slot(2, 30, status=CANCELLED), False),  # a cancelled visit frees the slot
        (slot(2, 30, status=LATE_CANCELLED), False),
        (slot(2, 30, status=NO_SHOW), False),
        (slot(1, 30), False),  # itself
    ],
)
def test_it_finds_overlapping_appointments_of_the_same_clinician(other, clash):
    assert bool(conflicts(slot(1, 0), [other])) is clash


@given(
    st.lists(
        st.tuples(
            st.integers(0, 600),
            st.integers(5, 120),
            st.integers(1, 2),
            st.sampled_from((UPCOMING, KEPT, CANCELLED)),
        ),
        max_size=12,
    )
)
def test_the_schedule_flags_exactly_the_slots_that_overlap_another(specs):
    slots = [
        slot(i, start, minutes, clinician, status)
        for i, (start, minutes, clinician, status) in enumerate(specs)
    ]
    flagged = double_booked(slots)
    for s in slots:
        expected = {o.encounter_id for o in conflicts(s, slots)}
        assert {o.encounter_id for o in flagged.get(s.encounter_id, [])} == expected
        for other in flagged.get(s.encounter_id, []):
            assert s.encounter_id in {o.encounter_id for o in flagged[other.encounter_id]}


LOCAL = datetime(2026, 3, 2, 10)


@pytest.mark.parametrize(
    ("now", "confirmed", "refused"),
    [
        (T + timedelta(minutes=1), None, False),  # started: nothing to confirm
        (T, None, False),
        (T - timedelta(minutes=1), None, True),
        (T - timedelta(days=3), "2026-03-02", False),  # its own date confirmed
        (T - timedelta(days=3), "2026-03-03", True),  # another date is not a confirmation
        (T - timedelta(days=3), "yes", True),
    ],
)
def test_a_future_visit_is_kept_only_with_its_date_confirmed(now, confirmed, refused):
    refusal = early_keep_refusal(T, now, LOCAL, confirmed)
    assert (refusal is not None) is refused
    if refused:
        assert "Mar 2, 2026 at 10:00 AM" in refusal


# The appointment's duration follows its services unless set (issue 15, small things).


@given(
    duration=st.one_of(st.none(), st.just(0), st.integers(min_value=5, max_value=600)),
    lines=st.lists(st.one_of(st.none(), st.integers(min_value=1, max_value=600)), max_size=3),
)
def test_a_set_duration_wins_else_the_services_minutes_add_up(duration, lines):
    total = sum(m or 0 for m in lines)
    if duration:
        assert appointment_minutes(duration, lines) == duration
    elif total:
        assert appointment_minutes(duration, lines) == total
    else:
        with pytest.raises(ValueError):
            appointment_minutes(duration, lines)


@pytest.mark.parametrize(
    ("duration", "lines", "minutes"),
    [(None, [60, 15], 75), (50, [60, 15], 50), (None, [45, None], 45), (0, [30], 30)],
)
def test_the_duration_of_an_appointment(duration, lines, minutes):
    assert appointment_minutes(duration, lines) == minutes

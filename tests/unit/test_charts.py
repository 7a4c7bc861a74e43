"""The charts are drawn from the ledger's and the report's own figures.

Over random ledgers (every status, every cap, any today): the burn-down's totals and
its last remainders are the ledger's; its forecast is the report's forecast of the
same rows; its geometry stays inside the view box; the window bars are the ledger's
windows, number for number.
"""

import re
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.domain import authorization_rules as rules
from webapp.domain import charts, report_rules
from webapp.domain.windows import Window

START = date(2026, 1, 1)


@st.composite
def ledgers(draw):
    kind = draw(st.sampled_from(rules.KINDS))
    frequency = draw(st.sampled_from([None, "day", "week", "month", "period"]))
    length = draw(st.integers(0, 200))
    terms = rules.AuthorizationTerms(
        id=1,
        client_insurance_id=1,
        kind=kind,
        start=START,
        end=START + timedelta(days=length),
        allowed=draw(st.integers(0, 40)),
        frequency=frequency if kind == rules.UNITS else None,
        service_type_ids=frozenset({1}),
        week_start=draw(st.integers(0, 6)),
    )
    usages = [
        rules.Usage(
            encounter_id=index,
            day=(day := START + timedelta(days=draw(st.integers(0, length)))),
            status=draw(st.sampled_from(rules.ENCOUNTER_STATUSES)),
            amount=draw(st.integers(1, 6)),
            starts_at=datetime.combine(day, time(9)),
        )
        for index in range(draw(st.integers(0, 25)))
    ]
    ledger = rules.build_ledger(terms, usages, count_upcoming=draw(st.booleans()))
    today = START + timedelta(days=draw(st.integers(-30, length + 30)))
    return ledger, usages, today


def _coordinates(chart) -> list[float]:
    numbers = [
        float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", chart.kept_path + chart.booked_path)
    ]
    numbers += [float(m.x) for m in chart.markers]
    numbers += [float(chart.allowed_y), float(chart.zero_y)]
    return numbers


@settings(max_examples=300, deadline=None)
@given(ledgers(), st.sampled_from(rules.STATUSES))
def test_the_burn_down_is_the_ledgers_numbers(case, status):
    ledger, usages, today = case
    chart = charts.burn_down(ledger, status=status, today=today)
    assert (chart.total, chart.kept, chart.upcoming) == (ledger.total, ledger.kept, ledger.upcoming)
    assert chart.over_by == ledger.over_by
    assert sum(d.kept for d in chart.days) == ledger.kept
    assert sum(d.upcoming for d in chart.days) == ledger.upcoming
    assert [d.day for d in chart.days] == sorted({d.day for d in chart.days})
    if chart.days:
        assert chart.days[-1].left_after_kept == ledger.total - ledger.kept
        assert chart.days[-1].left_after_booked == ledger.total - ledger.booked
    # the forecast is the report's, from the same rows the report reads
    pace = report_rules.pace_window(today)
    expected = report_rules.forecast(
        ledger.terms,
        status=status,
        today=today,
        kept=ledger.kept,
        booked=[(u.day, u.amount) for u in usages if u.status == rules.UPCOMING],
        recent_kept=sum(
            u.amount for u in usages if u.status == rules.KEPT and pace.contains(u.day)
        ),
    )
    assert chart.outlook == expected
    assert all(0 <= value <= charts.WIDTH for value in _coordinates(chart))
    labels = {label.kind: label.text for label in chart.end_labels}
    assert labels["kept"].endswith(_left(ledger.total - ledger.kept))
    assert labels["booked"].endswith(_left(ledger.total - ledger.booked))
    kinds = [m.kind for m in chart.markers]
    assert ("today" in kinds) == (ledger.terms.start <= today <= ledger.terms.end)
    assert ("run-out" in kinds) == (
        expected.run_out is not None and ledger.terms.start <= expected.run_out <= ledger.terms.end
    )


def _left(value: int) -> str:
    return f"over by {-value}" if value < 0 else f"{value} left"


@settings(max_examples=200, deadline=None)
@given(ledgers())
def test_the_window_bars_are_the_ledgers_windows(case):
    ledger, _usages, today = case
    bars = charts.window_bars(ledger, today)
    if ledger.terms.cap_frequency is None:
        assert bars is None
        return
    shown = charts.shown_windows(ledger, today)
    assert [(b.label, b.kept, b.upcoming, b.allowed, b.over) for b in bars.bars] == [
        (w.window.label, w.kept, w.upcoming, str(w.allowed), w.over) for w in shown
    ]
    for bar, window in zip(bars.bars, shown, strict=True):
        assert bar.caption == (
            f"over by {window.over_by}" if window.over else f"{window.booked}/{window.allowed}"
        )
        assert float(bar.kept_height) >= 0 and float(bar.upcoming_height) >= 0


@pytest.mark.parametrize(
    ("allowed", "kept", "upcoming", "caption", "allowed_text"),
    [
        (10, 3, 2, "50%", "10"),
        (10, 10, 0, "100%", "10"),
        (10, 9, 3, "120%", "10"),
        (0, 0, 0, "—", "0"),
        (report_rules.Fraction(7, 10), 1, 0, "142%", "≈0.7"),
    ],
)
def test_utilization_bars_say_the_reports_percentages(
    allowed, kept, upcoming, caption, allowed_text
):
    figures = report_rules.Figures(allowed, kept, upcoming)
    point = charts.UtilizationPoint(Window(START, START), figures)
    bars = charts.utilization([point], "Utilization")
    assert (bars.bars[0].caption, bars.bars[0].allowed) == (caption, allowed_text)
    assert point.allowed_text == allowed_text
    assert bars.bars[0].caption == figures.booked_percent_text


def test_today_run_out_and_end_are_marked_with_words():
    terms = rules.AuthorizationTerms(
        1, 1, rules.SESSIONS, START, date(2026, 3, 31), 4, None, frozenset({1})
    )
    usages = [
        rules.Usage(i, START + timedelta(days=7 * i), status, 1, datetime(2026, 1, 1 + 7 * i, 9))
        for i, status in enumerate([rules.KEPT, rules.KEPT, rules.UPCOMING, rules.UPCOMING])
    ]
    ledger = rules.build_ledger(terms, usages, count_upcoming=False)
    chart = charts.burn_down(ledger, status=rules.ACTIVE, today=date(2026, 1, 10))
    assert {m.kind: m.label for m in chart.markers} == {
        "today": "Today",
        "end": "Ends Mar 31, 2026",
        "run-out": "Runs out Jan 22, 2026",
    }
    assert [label.text for label in chart.end_labels] == ["Kept: 2 left", "+ Upcoming: 0 left"]

"""The charts say what the pages say: the ledger's burn-down and window bars against the
ledger's own sentences and the report's forecast, for random practices (both databases)."""

import re
from datetime import UTC, date, datetime
from html import unescape

import pytest
import time_machine

from tests.web.test_figures_agree import TODAY, YEAR, Figures, _build, _row
from webapp.domain import report_rules
from webapp.domain.windows import format_day


@pytest.fixture(autouse=True)
def _mid_2026():
    with time_machine.travel(datetime(2026, 6, 15, 16, tzinfo=UTC), tick=True):
        yield


def _chart_figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-chart-figure="([\w-]+)">([^<]*)<', html))


def _chart_rows(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'data-chart-table="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, f"no {table} table"
    return [
        [
            unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body[1], re.S)
        if "empty" not in row
    ]


@pytest.mark.parametrize("seed", range(4))
def test_the_burn_down_and_bars_state_the_ledgers_figures(client, auth, world, seed):
    authorizations = _build(seed, world)
    auth.login(world.biller)
    report = client.get(f"/reports/authorizations?start={YEAR[0]}&end={YEAR[1]}").get_data(
        as_text=True
    )
    for row in authorizations:
        html = client.get(f"/authorizations/{row.id}").get_data(as_text=True)
        ledger = Figures(html)
        chart = _chart_figures(html)
        assert chart["total"] == ledger.found["total"]
        assert chart["kept"] == ledger.found["kept"]
        assert chart["upcoming"] == ledger.found["upcoming"]
        left = (
            int(ledger.found["total"]) - int(ledger.found["kept"]) - int(ledger.found["upcoming"])
        )
        assert chart["left"] == str(left)
        if "over-by" in ledger.values:
            assert -left == int(ledger.values["over-by"])
        # the forecast is the report's, for the same authorization on the same day
        listed = Figures(_row(report, row.id)).found["forecast"]
        assert chart["forecast"].replace(",", "") == (listed or "—")
        # the days of the table add up to the ledger's kept and upcoming
        days = _chart_rows(html, "burn-down")
        assert sum(int(d[1]) for d in days) == int(ledger.found["kept"])
        assert sum(int(d[2]) for d in days) == int(ledger.found["upcoming"])
        if days:
            assert days[-1][4] == str(left)
        # the chart's words name today (inside the dates) and the end date
        if row.start_date <= TODAY <= row.end_date:
            assert 'data-chart-label="today">Today<' in html
        assert f"Ends {format_day(row.end_date)}" in html
        # per-window bars: the same windows and numbers as the Windows table
        line = row.lines[0]  # the random practices write one line per authorization
        if line.kind == "units" and line.frequency in ("day", "week", "month"):
            bars = _chart_rows(html, "bars")
            windows = re.search(r"<h3>Windows.*?</table>\s*</div>\s*</section>", html, re.S)[0]
            listed_windows = re.findall(
                r'<tr class="[^"]*"><td>([^<]+)</td><td class="num">(\d+)</td>'
                r'<td class="num">(\d+)</td><td class="num">(\d+)</td>',
                windows.split("</table>")[-2],
            )
            assert [tuple(b[:4]) for b in bars] == listed_windows
        else:
            assert 'data-chart-table="bars"' not in html


@pytest.mark.parametrize("by", ["month", "week", "day"])
@pytest.mark.parametrize("seed", range(2))
def test_the_reports_chart_sums_the_reports_rows(client, auth, world, seed, by):
    from webapp.services import reports

    _build(seed, world)
    auth.login(world.biller)
    start, end = (date(2026, 2, 1), date(2026, 4, 30)) if by == "day" else YEAR
    query = reports.ReportQuery(start=start, end=end, by=by)
    series = reports.utilization_over_time(world.org, query, today=TODAY)
    page = reports.report_page(world.org, query, today=TODAY)
    assert set(series) == set(page.totals)
    for kind, points in series.items():
        summed = sum((p.figures for p in points), report_rules.NO_FIGURES)
        totals = page.totals[kind]
        assert (summed.allowed, summed.kept, summed.upcoming) == (
            totals.allowed,
            totals.kept,
            totals.upcoming,
        )
    html = client.get(
        f"/reports/authorizations/chart?start={start}&end={end}&by={by}",
        headers={"HX-Request": "true"},
    )
    html = html.get_data(as_text=True)
    for kind, points in series.items():
        section = html.split(f'id="utilization-{kind}"')[1]
        rows = _chart_rows(section, "bars")
        assert rows == [
            [
                p.window.label,
                p.allowed_text,
                str(p.figures.kept),
                str(p.figures.upcoming),
                p.figures.booked_percent_text,
            ]
            for p in points
        ]


def test_a_chart_of_too_many_windows_says_so(client, auth, world):
    _build(0, world)
    auth.login(world.biller)
    html = client.get(
        "/reports/authorizations/chart?start=2026-01-01&end=2026-12-31&by=day",
        headers={"HX-Request": "true"},
    )
    assert "data-chart-refused" in html.get_data(as_text=True)
    bad = client.get(
        "/reports/authorizations/chart?start=2026-13-01&end=2026-12-31",
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422

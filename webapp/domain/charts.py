"""Charts drawn from the numbers the pages already state: series and SVG geometry.

Every number here comes from a `webapp.domain.authorization_rules.Ledger` (the
ledger page's own figures), the report's forecast rule
(`webapp.domain.report_rules.forecast`) or the report's rows, so a chart and the
sentences beside it cannot disagree. Templates only draw what these functions
return (`templates/components/charts.html`): paths, positions and labels in SVG
user units of a fixed view box, scaled by the browser.

- **Burn-down** (`burn_down`): what is left of an authorization's total over its
  dates, as two step lines: left after Kept visits ("used") and left after Kept
  and Upcoming ("booked"). Each drops on the day of a visit by its amount. Marked:
  today, the end date, and the forecast run-out (the report's forecast of the same
  authorization). The ends are labelled with their numbers (readable without colour);
  the lines differ by dash as well as colour.
- **Window bars** (`window_bars`): one bar per capped window shown on the ledger
  (`shown_windows`: windows with a visit, or today's), Kept solid and Upcoming
  hatched, against a dashed cap line; a window over its cap says so in words.
- **Utilization over time** (`utilization`): the report's allowed, kept and
  upcoming per window of the chosen breakdown, as bars of booked against a
  dashed allowed line, with the percentage written above each bar.

Pure: no Flask, no SQLAlchemy; `today` is passed in.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from webapp.domain import figures
from webapp.domain.authorization_rules import KEPT, UPCOMING, Ledger, WindowUsage
from webapp.domain.report_rules import Figures, Forecast, as_decimal, forecast, pace_window
from webapp.domain.windows import Window, format_day

WIDTH, HEIGHT = 640, 260  # the view box of every chart
LEFT, RIGHT, TOP, BOTTOM = 44, 150, 34, 30  # room for axis labels and direct labels
PLOT_RIGHT = WIDTH - RIGHT  # 490: where the burn-down's dates end and its end labels begin
MAX_BAR_WIDTH = 56


def _num(value: float | Fraction) -> str:
    """An SVG coordinate: one decimal place, no trailing '.0'."""
    text = f"{float(value):.1f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Tick:
    at: str  # the coordinate (x or y) in view-box units
    label: str


@dataclass(frozen=True)
class Marker:
    """A vertical line across the plot at a date, with its words at the top."""

    x: str
    label: str
    kind: str  # "today", "end", "run-out": the CSS class and the dash pattern
    row: int  # which line of labels above the plot (0 or 1), so labels do not collide


@dataclass(frozen=True)
class BurnDay:
    """One day with visits: its Kept and Upcoming amounts and what is left after it."""

    day: date
    kept: int
    upcoming: int
    left_after_kept: int
    left_after_booked: int


@dataclass(frozen=True)
class EndLabel:
    y: str
    text: str
    kind: str  # "kept" or "booked"


@dataclass(frozen=True)
class BurnDown:
    """An authorization's burn-down: the ledger's figures, by day, and how to draw them."""

    start: date
    end: date
    total: int
    kept: int
    upcoming: int
    days: list[BurnDay]
    outlook: Forecast
    today: date
    kept_path: str
    booked_path: str
    allowed_y: str
    zero_y: str
    markers: list[Marker]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    end_labels: list[EndLabel]

    @property
    def left_after_kept(self) -> int:
        return self.total - self.kept

    @property
    def left_after_booked(self) -> int:
        return self.total - self.kept - self.upcoming

    @property
    def over_by(self) -> int:
        return int(figures.over_by(self.total, self.kept, self.upcoming))

    @property
    def summary(self) -> str:
        """The chart's words for a screen reader and a caption."""
        text = (
            f"{self.total} allowed from {format_day(self.start)} to {format_day(self.end)}: "
            f"{self.kept} used (Kept), {self.upcoming} scheduled (Upcoming), "
            f"{_left_text(self.left_after_booked)} after both."
        )
        if self.outlook.text:
            text += f" Forecast: {self.outlook.text}."
        return text


def _left_text(left: int) -> str:
    return f"over by {-left}" if left < 0 else f"{left} left"


def ledger_forecast(ledger: Ledger, *, status: str, today: date) -> Forecast:
    """The report's forecast (`report_rules.forecast`) from the ledger's own rows.

    The same inputs the report reads from the database: the Upcoming amounts by day,
    and the Kept amounts inside the pace window ending today.
    """
    pace = pace_window(today)
    booked = [(r.usage.day, r.usage.amount) for r in ledger.rows if r.usage.status == UPCOMING]
    recent = sum(
        r.usage.amount
        for r in ledger.rows
        if r.usage.status == KEPT and pace.start <= r.usage.day <= pace.end
    )
    return forecast(
        ledger.terms,
        status=status,
        today=today,
        kept=ledger.kept,
        booked=booked,
        recent_kept=recent,
    )


def burn_days(ledger: Ledger) -> list[BurnDay]:
    """The days with Kept or Upcoming visits, in order, with the running remainders.

    The last day's remainders are `ledger.total - ledger.kept` and
    `ledger.total - ledger.booked`; cancelled and no-show visits never count.
    """
    kept: dict[date, int] = {}
    upcoming: dict[date, int] = {}
    for row in ledger.rows:
        if row.usage.status == KEPT:
            kept[row.usage.day] = kept.get(row.usage.day, 0) + row.usage.amount
        elif row.usage.status == UPCOMING:
            upcoming[row.usage.day] = upcoming.get(row.usage.day, 0) + row.usage.amount
    days = []
    used = booked = 0
    for day in sorted(set(kept) | set(upcoming)):
        used += kept.get(day, 0)
        booked += kept.get(day, 0) + upcoming.get(day, 0)
        days.append(
            BurnDay(
                day,
                kept.get(day, 0),
                upcoming.get(day, 0),
                ledger.total - used,
                ledger.total - booked,
            )
        )
    return days


class _Scale:
    """Dates to x and amounts to y inside the plot area."""

    def __init__(self, start: date, end: date, low: Fraction | int, high: Fraction | int):
        self.start, self.span = start, max((end - start).days, 1)
        self.low, self.high = low, high if high > low else low + 1

    def x(self, day: date) -> Fraction:
        days = min(max((day - self.start).days, 0), self.span)
        return LEFT + Fraction(days * (WIDTH - LEFT - RIGHT), self.span)

    def y(self, amount) -> Fraction:
        share = Fraction(amount - self.low) / Fraction(self.high - self.low)
        return TOP + (1 - share) * (HEIGHT - TOP - BOTTOM)


def _nice_ticks(low: int, high: int) -> list[int]:
    """Whole-number axis values from low to high: about five, on round steps."""
    span = max(high - low, 1)
    step = 1
    for candidate in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        step = candidate
        if span / candidate <= 5:
            break
    first = -(-low // step) * step
    return list(range(first, high + 1, step))


def _step_path(scale: _Scale, start: date, end: date, total: int, points) -> str:
    """'M x y H x V y …': level until each visit's day, then down to what is left."""
    parts = [f"M{_num(scale.x(start))} {_num(scale.y(total))}"]
    for day, left in points:
        parts.append(f"H{_num(scale.x(day))} V{_num(scale.y(left))}")
    parts.append(f"H{_num(scale.x(end))}")
    return " ".join(parts)


def burn_down(ledger: Ledger, *, status: str, today: date) -> BurnDown:
    """The burn-down of one authorization's ledger (see the module docstring)."""
    terms = ledger.terms
    days = burn_days(ledger)
    outlook = ledger_forecast(ledger, status=status, today=today)
    low = min(0, ledger.total - ledger.booked)
    high = max(ledger.total, 1)
    scale = _Scale(terms.start, terms.end, low, high)
    markers = []
    if terms.start <= today <= terms.end:
        markers.append(Marker(_num(scale.x(today)), "Today", "today", 0))
    markers.append(Marker(_num(scale.x(terms.end)), f"Ends {format_day(terms.end)}", "end", 1))
    if outlook.run_out is not None and terms.start <= outlook.run_out <= terms.end:
        markers.append(Marker(_num(scale.x(outlook.run_out)), outlook.text, "run-out", 0))
        if markers[0].kind == "today" and abs(scale.x(today) - scale.x(outlook.run_out)) < 90:
            markers[-1] = Marker(markers[-1].x, outlook.text, "run-out", 1)
            markers[1] = Marker(markers[1].x, markers[1].label, "end", 2)
    kept_left = [(d.day, d.left_after_kept) for d in days if d.kept]
    booked_left = [(d.day, d.left_after_booked) for d in days]
    kept_end = ledger.total - ledger.kept
    booked_end = ledger.total - ledger.booked
    kept_y, booked_y = scale.y(kept_end), scale.y(booked_end)
    if abs(kept_y - booked_y) < 14:  # keep the two end labels apart
        kept_y, booked_y = min(kept_y, booked_y) - 7, max(kept_y, booked_y) + 7
        if kept_end < booked_end:
            kept_y, booked_y = booked_y, kept_y
    return BurnDown(
        start=terms.start,
        end=terms.end,
        total=ledger.total,
        kept=ledger.kept,
        upcoming=ledger.upcoming,
        days=days,
        outlook=outlook,
        today=today,
        kept_path=_step_path(scale, terms.start, terms.end, ledger.total, kept_left),
        booked_path=_step_path(scale, terms.start, terms.end, ledger.total, booked_left),
        allowed_y=_num(scale.y(ledger.total)),
        zero_y=_num(scale.y(0)),
        markers=markers,
        x_ticks=[
            Tick(_num(scale.x(terms.start)), format_day(terms.start)),
            Tick(_num(scale.x(terms.end)), format_day(terms.end)),
        ],
        y_ticks=[Tick(_num(scale.y(v)), str(v)) for v in _nice_ticks(low, high)],
        end_labels=[
            EndLabel(_num(kept_y + 4), f"Kept: {_left_text(kept_end)}", "kept"),
            EndLabel(_num(booked_y + 4), f"+ Upcoming: {_left_text(booked_end)}", "booked"),
        ],
    )


# --- bars: capped windows and the report over time ------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar: its words, its numbers and its rectangles (x, width; y, height per part)."""

    label: str
    allowed: str  # as people read it ("8", "≈0.7")
    kept: int
    upcoming: int
    caption: str  # above the bar: "5/8", "over by 2", "63%"
    over: bool
    x: str
    width: str
    x_end: str
    kept_y: str
    kept_height: str
    upcoming_y: str
    upcoming_height: str
    cap_y: str
    text_x: str
    text_y: str


@dataclass(frozen=True)
class Bars:
    bars: list[Bar]
    y_ticks: list[Tick]
    base_y: str
    title: str

    @property
    def labelled(self) -> bool:
        """Whether each bar has room for its caption (otherwise the table says it)."""
        return len(self.bars) <= 16


def _amount_text(amount: Fraction | int) -> str:
    """'8', or '≈0.7' for a pro-rated share (the report's notation)."""
    if isinstance(amount, int) or amount.denominator == 1:
        return str(int(amount))
    return f"≈{as_decimal(amount)}"


def shown_windows(ledger: Ledger, today: date) -> list[WindowUsage]:
    """The capped windows the ledger lists: those with a visit, and today's."""
    return [w for w in ledger.windows if w.kept or w.upcoming or w.window.contains(today)]


def _bars(items: Sequence[tuple[str, Fraction | int, int, int, str, bool]], title: str) -> Bars:
    """Bars for (label, allowed, kept, upcoming, caption, over) in order, left to right."""
    high = max([1] + [max(Fraction(a), k + u) for _, a, k, u, _, _ in items])
    scale = _Scale(date.min, date.min, 0, high)
    plot = WIDTH - LEFT - 24
    slot = Fraction(plot, max(len(items), 1))
    width = min(slot * Fraction(3, 5), Fraction(MAX_BAR_WIDTH))
    bars = []
    for index, (label, allowed, kept, upcoming, caption, over) in enumerate(items):
        x = LEFT + slot * index + (slot - width) / 2
        kept_top = scale.y(kept)
        booked_top = scale.y(kept + upcoming)
        bars.append(
            Bar(
                label=label,
                allowed=_amount_text(allowed),
                kept=kept,
                upcoming=upcoming,
                caption=caption,
                over=over,
                x=_num(x),
                width=_num(width),
                x_end=_num(x + width),
                kept_y=_num(kept_top),
                kept_height=_num(scale.y(0) - kept_top),
                upcoming_y=_num(booked_top),
                upcoming_height=_num(kept_top - booked_top),
                cap_y=_num(scale.y(allowed)),
                text_x=_num(x + width / 2),
                text_y=_num(min(booked_top, scale.y(allowed)) - 5),
            )
        )
    ticks = [Tick(_num(scale.y(v)), str(v)) for v in _nice_ticks(0, int(high))]
    return Bars(bars, ticks, _num(scale.y(0)), title)


def window_bars(ledger: Ledger, today: date) -> Bars | None:
    """Per-window bars of a capped Units authorization (None without a cap)."""
    if not ledger.windows:
        return None
    items = []
    for w in shown_windows(ledger, today):
        caption = f"over by {w.over_by}" if w.over else f"{w.booked}/{w.allowed}"
        items.append((w.window.label, w.allowed, w.kept, w.upcoming, caption, w.over))
    return _bars(items, "Booked in each window against its cap")


@dataclass(frozen=True)
class UtilizationPoint:
    """One window of the report over time: the report's `Figures` summed over its rows."""

    window: Window
    figures: Figures

    @property
    def allowed_text(self) -> str:
        """'12', or '≈0.7' for a pro-rated share (the report's own notation)."""
        return _amount_text(self.figures.allowed)


def utilization(points: Sequence[UtilizationPoint], title: str) -> Bars:
    """Bars of the report's booked share per window, oldest first; each bar's caption is
    the report's booked percentage (`Figures.booked_percent_text`)."""
    items = [
        (
            p.window.label,
            p.figures.allowed,
            p.figures.kept,
            p.figures.upcoming,
            p.figures.booked_percent_text,
            p.figures.over,
        )
        for p in points
    ]
    return _bars(items, title)

"""Authorization rules: terms, status, the ledger, why nothing covers a service.

Which authorization each visit uses is `webapp.domain.allocation_rules`; what its
warnings say is `webapp.domain.visit_warning_rules`. `build_ledger()` turns one
authorization's allocations into totals, per-window usage and chronological rows
with running remainders.
"""

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from webapp.domain import figures, pas_terms
from webapp.domain.decision_rules import GRANTING, WITHHOLDING
from webapp.domain.placements import Placement
from webapp.domain.windows import (
    DEFAULT_WEEK_START,
    FREQUENCIES,
    Window,
    format_day,
    total_allowed,
    window_containing,
    windows_for,
)

ACTIVE, INACTIVE, EXPIRED, EXHAUSTED = "active", "inactive", "expired", "exhausted"
# A request the payer has not granted: its decision is the status (webapp.domain.decision_rules).
PENDING, DENIED, CANCELLED_STATUS = pas_terms.PENDED, pas_terms.DENIED, pas_terms.CANCELLED
STATUSES = (ACTIVE, INACTIVE, EXPIRED, EXHAUSTED, PENDING, DENIED, CANCELLED_STATUS)
# The statuses of lines that count (the report lists only those).
COUNTING_STATUSES = (ACTIVE, INACTIVE, EXPIRED, EXHAUSTED)
STATUS_LABELS = {
    ACTIVE: "Active",
    INACTIVE: "Inactive",
    EXPIRED: "Expired",
    EXHAUSTED: "Exhausted",
    PENDING: "Pending",
    DENIED: "Denied",
    CANCELLED_STATUS: "Cancelled",
}

UPCOMING, KEPT, CANCELLED = "upcoming", "kept", "cancelled"
LATE_CANCELLED, NO_SHOW = "late_cancelled", "no_show"
ENCOUNTER_STATUSES = (UPCOMING, KEPT, CANCELLED, LATE_CANCELLED, NO_SHOW)
ENCOUNTER_STATUS_LABELS = {
    UPCOMING: "Upcoming",
    KEPT: "Kept",
    CANCELLED: "Cancelled",
    LATE_CANCELLED: "Late cancelled",
    NO_SHOW: "No-show",
}

SESSIONS, UNITS = "sessions", "units"
KINDS = (SESSIONS, UNITS)

NONE_COVERS, NOT_STARTED = "none_covers", "not_started"
EXCEEDS_TOTAL, EXCEEDS_WINDOW = "exceeds_total", "exceeds_window"
WARNING_CODES = (
    NONE_COVERS,
    NOT_STARTED,
    INACTIVE,
    EXPIRED,
    EXHAUSTED,
    EXCEEDS_TOTAL,
    EXCEEDS_WINDOW,
)
_CAP_ADJECTIVES = {"day": "daily", "week": "weekly", "month": "monthly"}


def counts_toward(encounter_status: str, count_upcoming: bool) -> bool:
    """Kept always counts; Upcoming only with the setting on; the rest never."""
    return encounter_status == KEPT or (encounter_status == UPCOMING and count_upcoming)


def authorization_status(
    *, insurance_active: bool, end_date: date, remaining: int, today: date
) -> str:
    """First match wins: inactive → expired → exhausted → active."""
    if not insurance_active:
        return INACTIVE
    if today > end_date:
        return EXPIRED
    if remaining <= 0:
        return EXHAUSTED
    return ACTIVE


def decision_status(authorization_decision: str, line_decision: str) -> str | None:
    """The status a payer's decision gives a line that does not count ('pended', 'denied',
    'cancelled'), or None when the line counts and its figures decide.

    The authorization's own withholding decision wins over the line's; a line that
    grants nothing under a granting authorization shows its own decision.
    """
    if authorization_decision in WITHHOLDING:
        return authorization_decision
    if line_decision in GRANTING:
        return None
    return line_decision if line_decision in (DENIED, CANCELLED_STATUS) else PENDING


def line_status(
    *,
    insurance_active: bool,
    authorization_decision: str,
    line_decision: str,
    end_date: date,
    remaining: int,
    today: date,
) -> str:
    """A line's status, first match wins: inactive → not granted (pending, denied,
    cancelled) → expired (today after the line's end) → exhausted → active."""
    if not insurance_active:
        return INACTIVE
    withheld = decision_status(authorization_decision, line_decision)
    if withheld is not None:
        return withheld
    return authorization_status(
        insurance_active=True, end_date=end_date, remaining=remaining, today=today
    )


def rolled_up_status(
    *,
    insurance_active: bool,
    authorization_decision: str,
    end_date: date,
    line_statuses: Iterable[str],
    today: date,
) -> str:
    """An authorization's status from its lines', first match wins: inactive → its own
    decision when that withholds (pending, denied, cancelled) → expired (today after
    its end, or every counting line expired) → exhausted (every counting line has
    nothing left to schedule: exhausted, or expired while another is exhausted) →
    active. With no counting line, the first line's decision (pending before denied
    before cancelled) is the status.
    """
    if not insurance_active:
        return INACTIVE
    if authorization_decision in WITHHOLDING:
        return authorization_decision
    statuses = list(line_statuses)
    counting = [s for s in statuses if s in (ACTIVE, EXPIRED, EXHAUSTED)]
    if today > end_date:
        return EXPIRED
    if not counting:
        for withheld in (PENDING, DENIED, CANCELLED_STATUS):
            if withheld in statuses:
                return withheld
        return EXHAUSTED
    if all(s == EXPIRED for s in counting):
        return EXPIRED
    if all(s in (EXHAUSTED, EXPIRED) for s in counting):
        return EXHAUSTED
    return ACTIVE


@dataclass(frozen=True)
class AuthorizationTerms:
    """What one authorization line allows. `frequency` only applies to Units.

    `id` is the line's id (the unit the allocation picks); `authorization_id` its
    authorization's (None: the same as `id`, for terms made without lines).
    """

    id: int
    client_insurance_id: int
    kind: str
    start: date
    end: date
    allowed: int
    frequency: str | None
    service_type_ids: frozenset[int]
    week_start: int = DEFAULT_WEEK_START
    authorization_id: int | None = None

    @property
    def parent_id(self) -> int:
        """The authorization this line belongs to."""
        return self.id if self.authorization_id is None else self.authorization_id

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown authorization kind {self.kind!r}.")
        if self.frequency is not None and self.frequency not in FREQUENCIES:
            raise ValueError(f"Unknown frequency {self.frequency!r}.")
        if self.start > self.end:
            raise ValueError("An authorization cannot end before it starts.")
        if self.allowed < 0:
            raise ValueError("Allowed amount cannot be negative.")

    @property
    def cap_frequency(self) -> str | None:
        """'day', 'week' or 'month' when a per-window cap applies, else None."""
        if self.kind == UNITS and self.frequency in _CAP_ADJECTIVES:
            return self.frequency
        return None

    def covers(self, client_insurance_id: int, service_type_id: int, day: date) -> bool:
        return (
            client_insurance_id == self.client_insurance_id
            and service_type_id in self.service_type_ids
            and self.start <= day <= self.end
        )

    @property
    def total(self) -> int:
        return total_allowed(
            self.allowed, self.start, self.end, self.cap_frequency, self.week_start
        )

    def windows(self) -> list[Window]:
        """The capped windows; a single whole-period window when there is no cap."""
        return windows_for(self.start, self.end, self.cap_frequency, self.week_start)

    def window_for(self, day: date) -> Window | None:
        """The capped window containing `day`; None without a cap or outside the dates."""
        if self.cap_frequency is None or not self.start <= day <= self.end:
            return None
        return window_containing(
            day, self.cap_frequency, start=self.start, end=self.end, week_start=self.week_start
        )

    def window_lookup(self, windows: list[Window]) -> Callable[[date], Window | None]:
        """`window_for` over many days: `windows` are `self.windows()` (in order, end to
        end over the dates), found by bisection instead of worked out day by day."""
        starts = [window.start for window in windows]

        def window_of(day: date) -> Window | None:
            if self.cap_frequency is None or not self.start <= day <= self.end:
                return None
            return windows[bisect_right(starts, day) - 1]

        return window_of


@dataclass(frozen=True)
class Usage:
    """One encounter's allocation to an authorization.

    `placement` is the allocation's record of it (`webapp.domain.placements.Placement`:
    why it went there, the room before it), when the caller has one.
    """

    encounter_id: int
    day: date
    status: str
    amount: int
    starts_at: datetime
    label: str = ""
    placement: Placement | None = None


@dataclass
class WindowUsage:
    """One day/week/month window of a capped authorization."""

    window: Window
    allowed: int
    kept: int
    upcoming: int
    remaining: int  # allowed − counted (per the "count Upcoming" setting)

    @property
    def booked(self) -> int:
        return self.kept + self.upcoming

    @property
    def over_by(self) -> int:
        """Booked (Kept + Upcoming) beyond the window's cap, whatever the setting."""
        return int(figures.over_by(self.allowed, self.kept, self.upcoming))

    @property
    def over(self) -> bool:
        return self.over_by > 0


@dataclass
class LedgerRow:
    usage: Usage
    counted: bool
    running_remaining: int | None  # None when not counted
    window: Window | None
    window_remaining: int | None  # None when not counted or no window cap
    over: bool  # this visit did not fit (the allocation's verdict when known)


@dataclass
class Ledger:
    """One authorization's figures.

    `kept` and `upcoming` are "used" and "scheduled" whatever the setting;
    `counted` and `remaining` (what is left: status, exhaustion) follow the
    "count Upcoming" setting; `over_by` is what is booked beyond the total.
    """

    terms: AuthorizationTerms
    kept: int
    upcoming: int
    counted: int
    total: int
    remaining: int
    rows: list[LedgerRow]
    windows: list[WindowUsage]  # empty unless a day/week/month cap applies

    @property
    def booked(self) -> int:
        return self.kept + self.upcoming

    @property
    def over_by(self) -> int:
        return int(figures.over_by(self.total, self.kept, self.upcoming))

    @property
    def windows_over(self) -> list[WindowUsage]:
        """The capped windows with more booked than their cap."""
        return [w for w in self.windows if w.over]

    @property
    def kept_percent(self) -> str:
        return figures.percent_text(self.kept, self.total)

    @property
    def upcoming_percent(self) -> str:
        return figures.percent_text(self.upcoming, self.total)

    @property
    def booked_percent(self) -> str:
        return figures.percent_text(self.booked, self.total)

    @property
    def bar(self) -> tuple[str, str]:
        """CSS widths of the kept and upcoming parts of the utilization bar."""
        return figures.bar_widths(self.kept, self.upcoming, self.total)


def build_ledger(
    terms: AuthorizationTerms, usages: Iterable[Usage], *, count_upcoming: bool
) -> Ledger:
    """Totals, chronological rows and per-window usage for one authorization.

    `kept`/`upcoming` sum those statuses whatever the setting ("used" and
    "scheduled"); `counted`/`remaining` follow it. Other statuses appear as rows
    with `counted` False. A row is over when the allocation found no room for it
    (`Usage.placement`); without one, when it takes the running or window
    remaining below zero.
    """
    ordered = sorted(usages, key=lambda u: (u.starts_at, u.encounter_id))
    total = terms.total
    capped_windows = terms.windows() if terms.cap_frequency is not None else []
    window_for = terms.window_lookup(capped_windows)
    window_counted: dict[Window, int] = {}
    window_kept: dict[Window, int] = {}
    window_upcoming: dict[Window, int] = {}
    rows: list[LedgerRow] = []
    kept = upcoming = counted_sum = 0
    for usage in ordered:
        counted = counts_toward(usage.status, count_upcoming)
        window = window_for(usage.day)
        if usage.status == KEPT:
            kept += usage.amount
            if window is not None:
                window_kept[window] = window_kept.get(window, 0) + usage.amount
        elif usage.status == UPCOMING:
            upcoming += usage.amount
            if window is not None:
                window_upcoming[window] = window_upcoming.get(window, 0) + usage.amount
        running = window_left = None
        if counted:
            counted_sum += usage.amount
            running = total - counted_sum
            if window is not None:
                window_counted[window] = window_counted.get(window, 0) + usage.amount
                window_left = terms.allowed - window_counted[window]
        if usage.placement is not None:
            over = usage.placement.over
        else:
            over = counted and (running < 0 or (window_left is not None and window_left < 0))
        rows.append(LedgerRow(usage, counted, running, window, window_left, over))
    windows = []
    if terms.cap_frequency is not None:
        windows = [
            WindowUsage(
                window=window,
                allowed=terms.allowed,
                kept=window_kept.get(window, 0),
                upcoming=window_upcoming.get(window, 0),
                remaining=terms.allowed - window_counted.get(window, 0),
            )
            for window in capped_windows
        ]
    return Ledger(terms, kept, upcoming, counted_sum, total, total - counted_sum, rows, windows)


def windows_with_usage(
    terms: AuthorizationTerms, usages: Iterable[Usage], *, count_upcoming: bool
) -> list[WindowUsage]:
    """The capped windows that have usages, in order, with the figures `build_ledger`
    gives them (windows without usage are left out: nothing to show, nothing over).
    Empty without a cap. For tables, where listing every day of a daily cap costs more
    than the visits do: the usages are walked in day order and a window is worked out
    only when a day leaves the previous one."""
    if terms.cap_frequency is None:
        return []
    sums: dict[Window, list[int]] = {}  # window → [kept, upcoming, counted]
    window: Window | None = None
    for usage in sorted(usages, key=lambda u: u.day):
        if window is None or not window.start <= usage.day <= window.end:
            window = terms.window_for(usage.day)
            if window is None:
                continue
        figures_of = sums.setdefault(window, [0, 0, 0])
        if usage.status == KEPT:
            figures_of[0] += usage.amount
        elif usage.status == UPCOMING:
            figures_of[1] += usage.amount
        if counts_toward(usage.status, count_upcoming):
            figures_of[2] += usage.amount
    return [
        WindowUsage(
            window=window,
            allowed=terms.allowed,
            kept=kept,
            upcoming=upcoming,
            remaining=terms.allowed - counted,
        )
        for window, (kept, upcoming, counted) in sums.items()
    ]


@dataclass(frozen=True)
class CoverageWarning:
    code: str  # one of WARNING_CODES
    message: str


def uncovered_warning(
    candidates: Iterable[AuthorizationTerms],
    *,
    number_by_auth: Mapping[int, str],
    client_insurance_id: int,
    service_type_id: int,
    service_name: str,
    day: date,
) -> CoverageWarning:
    """Why nothing covers a service on `day`: "not_started" when an authorization
    for it starts later (the soonest one is named), else "none_covers"."""
    later = [
        c
        for c in candidates
        if c.client_insurance_id == client_insurance_id
        and service_type_id in c.service_type_ids
        and c.start > day
    ]
    if not later:
        text = f"No authorization covers {service_name} on {format_day(day)}."
        return CoverageWarning(NONE_COVERS, text)
    soonest = min(later, key=lambda c: (c.start, c.id))
    message = (
        f"Authorization {number_by_auth[soonest.id]} for {service_name} starts on "
        f"{format_day(soonest.start)}; nothing covers {format_day(day)}."
    )
    return CoverageWarning(NOT_STARTED, message)

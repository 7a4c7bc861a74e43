"""Authorization rules: status, allocation of encounters, the ledger, warnings.

`allocate()` maps an encounter's service lines to authorizations (the covering
one that ends first) with an amount each (Sessions: 1 per encounter; Units:
rounded units per line). `build_ledger()` turns one authorization's allocations
into totals, per-window usage and chronological rows with running remainders.
`booking_warnings()` checks a booking against those ledgers.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from webapp.domain.units import units_for_minutes
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
STATUSES = (ACTIVE, INACTIVE, EXPIRED, EXHAUSTED)
STATUS_LABELS = {ACTIVE: "Active", INACTIVE: "Inactive", EXPIRED: "Expired", EXHAUSTED: "Exhausted"}

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


@dataclass(frozen=True)
class AuthorizationTerms:
    """What an authorization allows. `frequency` only applies to Units."""

    id: int
    client_insurance_id: int
    kind: str
    start: date
    end: date
    allowed: int
    frequency: str | None
    service_type_ids: frozenset[int]
    week_start: int = DEFAULT_WEEK_START

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


def pick_authorization(
    candidates: Iterable[AuthorizationTerms],
    *,
    client_insurance_id: int,
    service_type_id: int,
    day: date,
) -> AuthorizationTerms | None:
    """The covering authorization that ends first (ties: earlier start, lower id)."""
    covering = [c for c in candidates if c.covers(client_insurance_id, service_type_id, day)]
    return min(covering, key=lambda c: (c.end, c.start, c.id), default=None)


@dataclass(frozen=True)
class ServiceLine:
    service_type_id: int
    minutes: int
    unit_minutes: int | None


def allocate(
    candidates: Iterable[AuthorizationTerms],
    *,
    client_insurance_id: int | None,
    day: date,
    lines: Sequence[ServiceLine],
    rounding_profile: str,
) -> tuple[dict[int, int], list[ServiceLine]]:
    """({authorization id: amount}, uncovered lines) for one encounter.

    Self-pay (`client_insurance_id` None) needs no cover: ({}, []). An amount can
    be 0 (a Units line too short to round to a unit) and is still recorded.
    """
    if client_insurance_id is None:
        return {}, []
    candidates = list(candidates)
    amounts: dict[int, int] = {}
    uncovered: list[ServiceLine] = []
    for line in lines:
        terms = pick_authorization(
            candidates,
            client_insurance_id=client_insurance_id,
            service_type_id=line.service_type_id,
            day=day,
        )
        if terms is None:
            uncovered.append(line)
        elif terms.kind == SESSIONS:
            amounts[terms.id] = 1
        else:
            units = units_for_minutes(line.minutes, line.unit_minutes, rounding_profile)
            amounts[terms.id] = amounts.get(terms.id, 0) + units
    return amounts, uncovered


@dataclass(frozen=True)
class Usage:
    """One encounter's allocation to an authorization."""

    encounter_id: int
    day: date
    status: str
    amount: int
    starts_at: datetime
    label: str = ""


@dataclass
class WindowUsage:
    window: Window
    allowed: int
    kept: int
    upcoming: int
    remaining: int  # allowed − counted (per the "count Upcoming" setting)

    @property
    def over(self) -> bool:
        return self.remaining < 0


@dataclass
class LedgerRow:
    usage: Usage
    counted: bool
    running_remaining: int | None  # None when not counted
    window: Window | None
    window_remaining: int | None  # None when not counted or no window cap
    over: bool


@dataclass
class Ledger:
    terms: AuthorizationTerms
    kept: int
    upcoming: int
    counted: int
    total: int
    remaining: int
    rows: list[LedgerRow]
    windows: list[WindowUsage]  # empty unless a day/week/month cap applies

    @property
    def kept_percent(self) -> int:
        """Share of the total that is kept, 0..100 (for bar widths)."""
        return _percent(self.kept, self.total)

    @property
    def upcoming_percent(self) -> int:
        """Share that is upcoming, capped so it stacks with kept to at most 100."""
        return min(_percent(self.upcoming, self.total), 100 - self.kept_percent)

    def counted_without(self, encounter_id: int | None, window: Window | None = None) -> int:
        """Counted amount leaving out one encounter, optionally within one window."""
        return sum(
            row.usage.amount
            for row in self.rows
            if row.counted
            and row.usage.encounter_id != encounter_id
            and (window is None or window.contains(row.usage.day))
        )


def _percent(part: int, whole: int) -> int:
    return 0 if whole <= 0 else max(0, min(100, part * 100 // whole))


def build_ledger(
    terms: AuthorizationTerms, usages: Iterable[Usage], *, count_upcoming: bool
) -> Ledger:
    """Totals, chronological rows and per-window usage for one authorization.

    `kept`/`upcoming` sum those statuses whatever the setting ("used" and
    "scheduled"); `counted`/`remaining` follow it. Other statuses appear as rows
    with `counted` False.
    """
    ordered = sorted(usages, key=lambda u: (u.starts_at, u.encounter_id))
    total = terms.total
    window_counted: dict[Window, int] = {}
    window_kept: dict[Window, int] = {}
    window_upcoming: dict[Window, int] = {}
    rows: list[LedgerRow] = []
    kept = upcoming = counted_sum = 0
    for usage in ordered:
        counted = counts_toward(usage.status, count_upcoming)
        window = terms.window_for(usage.day)
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
            for window in terms.windows()
        ]
    return Ledger(terms, kept, upcoming, counted_sum, total, total - counted_sum, rows, windows)


@dataclass(frozen=True)
class CoverageWarning:
    code: str  # one of WARNING_CODES
    message: str


def _noun(terms: AuthorizationTerms, amount: int) -> str:
    noun = "session" if terms.kind == SESSIONS else "unit"
    return noun if amount == 1 else noun + "s"


def booking_warnings(
    *,
    ledger_by_auth: Mapping[int, Ledger],
    status_by_auth: Mapping[int, str],
    number_by_auth: Mapping[int, str],
    allocation: Mapping[int, int],
    uncovered: Sequence[str],
    day: date,
    exclude_encounter_id: int | None = None,
) -> list[CoverageWarning]:
    """Warnings for booking an encounter on `day`, or for an existing one.

    `allocation` is the encounter's {authorization id: amount} from `allocate()`;
    `uncovered` names its services that nothing covers (one "none_covers" each).
    Per authorization: "inactive" or "expired" from its status; else "exhausted"
    when nothing was left before this encounter; else "exceeds_total" and/or
    "exceeds_window" when this encounter's amount would go over.

    The encounter's own amount is always added, whatever the "count Upcoming"
    setting: a new booking is Upcoming, and the point is to warn *before*
    over-scheduling ("once this is kept, will the authorization be over?"). The
    setting still decides, through the ledgers, what every other encounter
    counts. An existing encounter passes `exclude_encounter_id` so it is not
    counted twice, and the one that used the last session does not warn itself.
    """
    warnings = [
        CoverageWarning(NONE_COVERS, f"No authorization covers {name} on {format_day(day)}.")
        for name in uncovered
    ]
    for auth_id, amount in allocation.items():
        ledger = ledger_by_auth[auth_id]
        status, number = status_by_auth[auth_id], number_by_auth[auth_id]
        warnings += _authorization_warnings(
            ledger, status, number, amount, day, exclude_encounter_id
        )
    return warnings


def _authorization_warnings(
    ledger: Ledger, status: str, number: str, amount: int, day: date, exclude: int | None
) -> list[CoverageWarning]:
    terms = ledger.terms
    if status == INACTIVE:
        text = f"Authorization {number} is inactive: the client's insurance is not active."
        return [CoverageWarning(INACTIVE, text)]
    if status == EXPIRED:
        text = f"Authorization {number} expired on {format_day(terms.end)}."
        return [CoverageWarning(EXPIRED, text)]
    counted = ledger.counted_without(exclude)
    if counted >= ledger.total:
        noun = _noun(terms, ledger.total)
        text = f"Authorization {number} is exhausted: {ledger.total} of {ledger.total} {noun} used."
        return [CoverageWarning(EXHAUSTED, text)]
    warnings = []
    adds = f"this adds {amount} {_noun(terms, amount)}"
    if counted + amount > ledger.total:
        text = (
            f"This appointment would exceed authorization {number} "
            f"({ledger.total} allowed, {counted} already counted, {adds})."
        )
        warnings.append(CoverageWarning(EXCEEDS_TOTAL, text))
    window = terms.window_for(day)
    in_window = ledger.counted_without(exclude, window) if window else 0
    if window and in_window + amount > terms.allowed:
        text = (
            f"This appointment would exceed the {_CAP_ADJECTIVES[terms.cap_frequency or '']} cap "
            f"of authorization {number} ({window.label}: {terms.allowed} allowed, "
            f"{in_window} already counted, {adds})."
        )
        warnings.append(CoverageWarning(EXCEEDS_WINDOW, text))
    return warnings


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


SeriesOccurrence = tuple[date, list[CoverageWarning]]


def first_series_problem(
    occurrence_warnings: Sequence[SeriesOccurrence],
) -> tuple[int, date, list[CoverageWarning]] | None:
    """(1-based occurrence number, date, warnings) of the first occurrence with warnings.

    Each occurrence should be checked with the earlier occurrences of the same
    series already in its ledgers, or a long series slips under a cap one by one.
    """
    for number, (day, warnings) in enumerate(occurrence_warnings, start=1):
        if warnings:
            return number, day, warnings
    return None

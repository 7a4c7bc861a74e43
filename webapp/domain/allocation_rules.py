"""Which authorization each visit counts against, and how much: the allocation rule.

One pure function, `allocate_visits()`, places every visit of one client at once,
so the answer is the same whichever change asked for it (a booking, an edit, a
status change, an authorization added, edited, removed or imported):

1. **Units** (`webapp.domain.units`). The lines of the visits billed on one claim
   — one client insurance, one date of service — are rounded together by the
   payer's profile: under `cms-8-minute` their timed minutes are pooled, so
   editing one visit can change the units of another visit that day. Only visits
   that can count (Kept, Upcoming) are billed, so only they are pooled; a
   cancelled or no-show visit is rounded alone, for the record. Visits of one day
   under different insurances are different claims and are never pooled.
2. **Order.** Kept visits are placed first, in date order (start time, then
   encounter id): a Kept visit already counted against an authorization stays
   there while that authorization still covers it (insurance, service, date), so
   adding, importing or editing another authorization never moves it; a Kept
   visit not counted yet is placed by the rule. Then the other visits, in date
   order, so earlier visits claim room first. Kept visits go first because they
   are facts: an older visit still Upcoming (not closed) never pushes a Kept one
   over. It also makes the result a fixed point — run again on the ledger it
   wrote, the rule writes the same ledger.
3. **Pick.** Among the authorizations covering a visit's lines, the one that ends
   first (ties: earlier start, lower id) that still has room for the visit's
   amount — in its total and in the visit's day/week/month window. "Room" counts
   Kept and Upcoming visits whatever the organization's "count Upcoming" setting:
   the setting decides what is *left* (status, exhaustion), while the allocation
   is the plan every booked visit is judged by, so a visit's warning does not
   change with the setting.
4. **No spill.** The lines of a visit that one authorization covers count against
   it together, and a line's units are never split between two authorizations:
   a claim carries one prior-authorization number per service line (CMS-1500 box
   23 / 837P REF*G1), so payers do not bill one line against two. The lines an
   authorization cannot take together are then tried one by one.
5. **No room anywhere:** the line counts against the covering authorization that
   ends first and is flagged over — the only case that warns.
6. Cancelled, late-cancelled and no-show visits never count: they are listed on
   the authorization they would use (or the one they were kept on before) and
   take no room.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from webapp.domain.authorization_rules import (
    KEPT,
    SESSIONS,
    UPCOMING,
    AuthorizationTerms,
)
from webapp.domain.placements import (
    ENDS_FIRST,
    FULL_TOTAL,
    FULL_WINDOW,
    KEPT_HERE,
    NEXT_WITH_ROOM,
    NO_ROOM,
    NOT_COUNTED,
    PassedOver,
    Placement,
)
from webapp.domain.units import DayUnits, LineUnits, TimedLine, units_for_lines
from webapp.domain.windows import Window

_SEVERITY = {KEPT_HERE: 0, ENDS_FIRST: 1, NEXT_WITH_ROOM: 2, NO_ROOM: 3, NOT_COUNTED: 0}

CAN_COUNT = (KEPT, UPCOMING)


@dataclass(frozen=True)
class VisitLine:
    """One service line of a visit: the service, its minutes, its unit length (None: untimed)."""

    service_type_id: int
    minutes: int
    unit_minutes: int | None


@dataclass(frozen=True)
class Visit:
    """One encounter as the allocation sees it.

    `client_insurance_id` is None when the visit is not billed to insurance.
    `stays_on` holds the authorizations the stored ledger has this visit on; it
    keeps a Kept visit where it was counted (and lists a cancelled one where it
    was), and is ignored for Upcoming visits. `stays_lines` holds (authorization
    id, line index) pairs saying which lines were on which; an authorization
    without pairs (rows written before lines were recorded) may take any line.
    """

    encounter_id: int
    starts_at: datetime
    day: date
    status: str
    client_insurance_id: int | None
    rounding_profile: str
    lines: tuple[VisitLine, ...]
    stays_on: frozenset[int] = frozenset()
    stays_lines: frozenset[tuple[int, int]] = frozenset()

    def stays(self, auth_id: int, index: int) -> bool:
        """Whether line `index` was on authorization `auth_id` in the stored ledger."""
        if auth_id not in self.stays_on:
            return False
        known = {i for a, i in self.stays_lines if a == auth_id}
        return not known or index in known

    @property
    def can_count(self) -> bool:
        return self.status in CAN_COUNT

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.starts_at, self.encounter_id)


@dataclass
class VisitAllocation:
    """A visit's units per line (and how they came about), where they went, and the
    lines nothing covers. `claim` is the whole claim's rounding (all the visits
    pooled with this one); None when the visit is not billed to insurance."""

    visit: Visit
    lines: tuple[LineUnits, ...]
    claim: DayUnits | None
    placements: dict[int, Placement] = field(default_factory=dict)  # by authorization id
    uncovered: list[int] = field(default_factory=list)  # line indexes

    @property
    def line_units(self) -> tuple[int, ...]:
        return tuple(line.units for line in self.lines)

    @property
    def amounts(self) -> dict[int, int]:
        return {auth_id: p.amount for auth_id, p in self.placements.items()}

    @property
    def over(self) -> bool:
        return any(p.over for p in self.placements.values())


def _claim_key(visit: Visit) -> tuple[int, date] | None:
    if visit.client_insurance_id is None or not visit.can_count:
        return None
    return (visit.client_insurance_id, visit.day)


_Units = tuple[tuple[LineUnits, ...], DayUnits | None]


def claim_units(visits: Sequence[Visit]) -> dict[int, _Units]:
    """{encounter id: (its lines' units, the claim's DayUnits)}: step 1 of the module
    docstring. The claim is None for a visit not billed to insurance."""
    claims: dict[tuple[int, date], list[Visit]] = defaultdict(list)
    result: dict[int, _Units] = {}
    for visit in visits:
        key = _claim_key(visit)
        if key is None:
            alone = units_for_lines(_timed(visit.lines), visit.rounding_profile)
            billed = alone if visit.client_insurance_id is not None else None
            result[visit.encounter_id] = (alone.lines, billed)
        else:
            claims[key].append(visit)
    for members in claims.values():
        members.sort(key=lambda v: v.order)
        lines = [line for visit in members for line in _timed(visit.lines)]
        day = units_for_lines(lines, members[0].rounding_profile)
        position = 0
        for visit in members:
            result[visit.encounter_id] = (day.lines[position : position + len(visit.lines)], day)
            position += len(visit.lines)
    return result


def _timed(lines: Iterable[VisitLine]) -> list[TimedLine]:
    return [TimedLine(line.minutes, line.unit_minutes) for line in lines]


class _Room:
    """What is taken of each authorization's total and windows as visits are placed."""

    def __init__(self, terms: Sequence[AuthorizationTerms]):
        self.terms = {t.id: t for t in terms}
        self.totals = {t.id: t.total for t in terms}
        self.used: dict[int, int] = defaultdict(int)
        self.window_used: dict[tuple[int, Window], int] = defaultdict(int)

    def left(self, auth_id: int) -> int:
        return self.totals[auth_id] - self.used[auth_id]

    def window_left(self, auth_id: int, day: date) -> tuple[Window | None, int | None]:
        window = self.terms[auth_id].window_for(day)
        if window is None:
            return None, None
        return window, self.terms[auth_id].allowed - self.window_used[(auth_id, window)]

    def full(self, auth_id: int, day: date, amount: int) -> str | None:
        """Why `amount` does not fit ("total" or "window"), or None when it does."""
        if amount > self.left(auth_id):
            return FULL_TOTAL
        _window, left = self.window_left(auth_id, day)
        if left is not None and amount > left:
            return FULL_WINDOW
        return None

    def take(self, auth_id: int, day: date, amount: int) -> None:
        self.used[auth_id] += amount
        window = self.terms[auth_id].window_for(day)
        if window is not None:
            self.window_used[(auth_id, window)] += amount


def _ends_first(terms: AuthorizationTerms) -> tuple[date, date, int]:
    return (terms.end, terms.start, terms.id)


class _Placer:
    """Places the lines of visits, one visit at a time (steps 2–6)."""

    def __init__(self, terms: Sequence[AuthorizationTerms]):
        self.ordered = sorted(terms, key=_ends_first)
        self.room = _Room(terms)

    def covering(self, visit: Visit, line: VisitLine) -> list[AuthorizationTerms]:
        return [
            t
            for t in self.ordered
            if t.covers(visit.client_insurance_id, line.service_type_id, visit.day)
        ]

    def amount(self, result: VisitAllocation, terms: AuthorizationTerms, indexes) -> int:
        """What these lines add to `terms` (Sessions: 1 per visit, whatever its lines)."""
        if terms.kind == SESSIONS:
            return 0 if terms.id in result.placements else 1
        return sum(result.line_units[i] for i in indexes)

    def put(self, result, terms, indexes, reason, passed=(), counted=True) -> None:
        visit = result.visit
        amount = self.amount(result, terms, indexes)
        placement = result.placements.get(terms.id)
        if placement is None:
            _window, window_left = self.room.window_left(terms.id, visit.day)
            placement = Placement(
                authorization_id=terms.id,
                encounter_id=visit.encounter_id,
                day=visit.day,
                reason=reason,
                room_before=self.room.left(terms.id),
                window_room_before=window_left,
                counted=counted,
            )
            result.placements[terms.id] = placement
        elif _SEVERITY[reason] > _SEVERITY[placement.reason]:
            placement.reason = reason
        placement.amount += amount
        placement.line_indexes.extend(indexes)
        placement.passed_over.extend(p for p in passed if p not in placement.passed_over)
        if counted:
            self.room.take(terms.id, visit.day, amount)

    def place_kept(self, result: VisitAllocation) -> list[int]:
        """Lines of a Kept visit that stay where they were counted; returns the others."""
        visit, rest = result.visit, []
        for index, line in enumerate(visit.lines):
            pinned = [t for t in self.covering(visit, line) if visit.stays(t.id, index)]
            if pinned:
                self.put(result, pinned[0], [index], KEPT_HERE)
            else:
                rest.append(index)
        return rest

    def place(self, result: VisitAllocation, indexes: list[int]) -> None:
        """Step 3–5 for lines of a visit that can count."""
        visit = result.visit
        covering = {i: self.covering(visit, visit.lines[i]) for i in indexes}
        covering_ids = {i: {t.id for t in covering[i]} for i in indexes}
        result.uncovered.extend(i for i in indexes if not covering[i])
        unplaced = [i for i in indexes if covering[i]]
        passed: list[PassedOver] = []
        # Together: the lines each authorization covers, ends-first.
        for terms in self.ordered:
            bundle = [i for i in unplaced if terms.id in covering_ids[i]]
            if not bundle:
                continue
            why = self.room.full(terms.id, visit.day, self.amount(result, terms, bundle))
            if why is None:
                reason = NEXT_WITH_ROOM if passed else ENDS_FIRST
                self.put(result, terms, bundle, reason, passed)
                unplaced = [i for i in unplaced if i not in bundle]
            elif PassedOver(terms.id, why) not in passed:
                passed.append(PassedOver(terms.id, why))
        # One by one, then over on the one that ends first.
        for i in list(unplaced):
            for terms in covering[i]:
                if self.room.full(terms.id, visit.day, self.amount(result, terms, [i])) is None:
                    self.put(result, terms, [i], NEXT_WITH_ROOM, passed)
                    break
            else:
                self.put(result, covering[i][0], [i], NO_ROOM, passed)

    def place_uncounted(self, result: VisitAllocation) -> None:
        """Step 6: listed where it would go, taking no room."""
        visit = result.visit
        for index, line in enumerate(visit.lines):
            covering = self.covering(visit, line)
            if not covering:
                result.uncovered.append(index)
                continue
            pinned = [t for t in covering if visit.stays(t.id, index)]
            with_room = [
                t
                for t in covering
                if self.room.full(t.id, visit.day, self.amount(result, t, [index])) is None
            ]
            chosen = (pinned or with_room or covering)[0]
            self.put(result, chosen, [index], NOT_COUNTED, counted=False)


def allocate_visits(
    terms: Iterable[AuthorizationTerms], visits: Iterable[Visit]
) -> dict[int, VisitAllocation]:
    """{encounter id: VisitAllocation} for every visit of one client (see the module docstring).

    Visits not billed to insurance get units but no placements. The result depends
    only on the arguments: never on today, nor on the order they are given in.

    Raises ValueError for an unknown rounding profile or negative minutes
    (from `webapp.domain.units`).
    """
    terms = list(terms)
    visits = sorted(visits, key=lambda v: v.order)
    units = claim_units(visits)
    results = {
        v.encounter_id: VisitAllocation(v, units[v.encounter_id][0], units[v.encounter_id][1])
        for v in visits
    }
    placer = _Placer(terms)
    insured = [v for v in visits if v.client_insurance_id is not None]
    # Kept visits first, in date order: those already counted stay where they were,
    # the rest are placed by the rule. Placing them first also on the first run
    # makes the result a fixed point: run again with the ledger it wrote, it
    # writes the same ledger.
    for visit in insured:
        if visit.status == KEPT:
            result = results[visit.encounter_id]
            rest = placer.place_kept(result) if visit.stays_on else list(range(len(visit.lines)))
            if rest:
                placer.place(result, rest)
    for visit in insured:
        if visit.status == KEPT:
            continue
        if visit.can_count:
            placer.place(results[visit.encounter_id], list(range(len(visit.lines))))
        else:
            placer.place_uncounted(results[visit.encounter_id])
    return results

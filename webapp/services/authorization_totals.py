"""Authorization totals for tables: each authorization line's figures from sums in SQL.

The Insurance Authorizations table (templates/clients/_authorizations.html) shows, per
authorization line, only sums: used (kept), scheduled (upcoming), remaining or over by,
the capped windows that are over; and per authorization the rolled-up status and how
many kept visits count against it. Building full ledgers for that
(`coverage.load_coverage`: one row, with its allocation record, per visit and line) made
the table cost 100–300× a bare route for a client with 50 authorizations and 5,000
visits (issue 14). Here the database sums:

- per line: the kept and the upcoming amounts (the only statuses a ledger adds up);
- for lines with a day/week/month cap only: those amounts per day, added up here per
  capped window (the calendar's weeks and months are the domain's);
- per authorization: its distinct kept visits;

and the same pure rule as the ledger (`authorization_rules.build_ledger`) turns those
sums into the figures, fed one usage per status (or day and status) instead of one
per visit, so the table and the ledger page agree by construction; statuses and
roll-ups are `coverage.summarize`'s, the ledger loader's own. Pages that show ledger
rows (an authorization's ledger, an encounter's uses) still load them
(`coverage.load_coverage`).

Five queries whatever the number of authorizations, lines or visits: the
authorizations (with policy and payer), their lines, the lines' service types, the
sums, and the kept visits.
"""

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, time

from sqlalchemy import case, distinct, func, select

from webapp.domain import authorization_rules
from webapp.domain.authorization_rules import KEPT, UPCOMING, Usage
from webapp.extensions import db
from webapp.models import Allocation, Encounter, Organization
from webapp.services.coverage import (
    LEDGER_ROW_COLUMNS,
    Coverage,
    authorizations_of,
    organization_today,
    placement_of,
    summarize,
    terms_of,
)


def load_totals(org: Organization, client_ids: list[int], *, today: date | None = None) -> Coverage:
    """The clients' authorizations as `coverage.load_coverage` gives them (line summaries,
    roll-ups, newest end first) with every figure the table shows, summed in SQL: each
    line's `Ledger` has kept, upcoming, counted, total, remaining (units or sessions) and
    the capped windows that have kept or upcoming visits, but no rows; each roll-up its
    `kept_visits`.
    `today` is the organization's date (its clock when None). 5 queries."""
    today = today or organization_today(org)
    if not client_ids:
        return Coverage(org, [], [])
    authorizations = authorizations_of(org, client_ids)
    terms = {line.id: terms_of(line, org) for a in authorizations for line in a.lines}
    capped = [line_id for line_id, t in terms.items() if t.cap_frequency is not None]
    by_status, by_day = _sums(list(terms), capped)
    count_upcoming = org.count_upcoming_for_exhaustion
    ledgers = {
        line_id: _ledger(line_terms, by_status[line_id], by_day[line_id], count_upcoming)
        for line_id, line_terms in terms.items()
    }
    kept_visits = _kept_visits([a.id for a in authorizations])
    return summarize(org, authorizations, ledgers, kept_visits, today=today)


def _ledger(
    terms: authorization_rules.AuthorizationTerms,
    by_status: dict[str, int],
    by_day: list[Usage],
    count_upcoming: bool,
) -> authorization_rules.Ledger:
    """A line's ledger without rows: the figures of the whole line from its sums by
    status (the cap set aside, then the line's total put back), and the capped windows
    that have kept or upcoming visits from its sums by day."""
    whole = authorization_rules.build_ledger(
        replace(terms, frequency=None),
        [_usage(terms.start, status, amount) for status, amount in by_status.items()],
        count_upcoming=count_upcoming,
    )
    return replace(
        whole,
        terms=terms,
        total=terms.total,
        remaining=terms.total - whole.counted,
        rows=[],
        windows=authorization_rules.windows_with_usage(
            terms, by_day, count_upcoming=count_upcoming
        ),
    )


def _usage(day: date, status: str, amount: int) -> Usage:
    """A sum standing for the visits of one status (on one day, or on the whole line):
    the ledger's figures add amounts, so a sum counts as its visits do."""
    return Usage(0, day, status, int(amount), datetime.combine(day, time.min))


def _sums(
    line_ids: list[int], capped: list[int]
) -> tuple[defaultdict[int, dict[str, int]], defaultdict[int, list[Usage]]]:
    """From one query of the kept and upcoming amounts (the only statuses a ledger adds
    up) grouped by line and, for the `capped` lines only, service day: {line id:
    {'kept': amount, 'upcoming': amount}} and {capped line id: [a usage per day and
    status]}."""
    by_status: defaultdict[int, dict[str, int]] = defaultdict(lambda: {KEPT: 0, UPCOMING: 0})
    by_day: defaultdict[int, list[Usage]] = defaultdict(list)
    if not line_ids:
        return by_status, by_day
    day = case((Allocation.line_id.in_(capped), Encounter.service_date), else_=None)
    rows = db.session.execute(
        select(
            Allocation.line_id,
            day.label("day"),
            func.sum(case((Encounter.status == KEPT, Allocation.amount), else_=0)).label("kept"),
            func.sum(case((Encounter.status == UPCOMING, Allocation.amount), else_=0)).label(
                "upcoming"
            ),
        )
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(Allocation.line_id.in_(line_ids))  # by status, SQLite would scan every visit
        .group_by(Allocation.line_id, day)
    )
    for line_id, on_day, kept, upcoming in rows:
        totals = by_status[line_id]
        totals[KEPT] += int(kept)
        totals[UPCOMING] += int(upcoming)
        if on_day is not None:
            if kept:
                by_day[line_id].append(_usage(on_day, KEPT, kept))
            if upcoming:
                by_day[line_id].append(_usage(on_day, UPCOMING, upcoming))
    return by_status, by_day


def _kept_visits(authorization_ids: list[int]) -> dict[int, int]:
    """{authorization id: how many kept visits count against any of its lines}, a visit
    using two lines once."""
    if not authorization_ids:
        return {}
    kept = case((Encounter.status == KEPT, Allocation.encounter_id), else_=None)
    rows = db.session.execute(
        select(Allocation.authorization_id, func.count(distinct(kept)))
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(Allocation.authorization_id.in_(authorization_ids))  # not by status: see _sums
        .group_by(Allocation.authorization_id)
    )
    return {authorization_id: visits for authorization_id, visits in rows if visits}


def load_for_visits(
    org: Organization,
    client_ids: list[int],
    encounter_ids: list[int],
    *,
    today: date | None = None,
) -> Coverage:
    """What a page of visits needs for their warnings (`coverage.visit_warnings`): the
    clients' authorizations from sums (`load_totals`), and the stored ledger rows of
    these visits only (`Coverage.placements`: {encounter id: [(line terms,
    Placement)]}), not of every visit of every client. 6 queries."""
    coverage = load_totals(org, client_ids, today=today)
    terms = {s.line.id: s.terms for s in coverage.summaries}
    coverage.placements = defaultdict(list)
    if not encounter_ids or not terms:
        return coverage
    rows = db.session.execute(
        select(*LEDGER_ROW_COLUMNS)
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(Allocation.encounter_id.in_(encounter_ids))
        .order_by(Allocation.id)
    )
    for row in rows:
        if row.authorization_id in terms:
            coverage.placements[row.encounter_id].append(
                (terms[row.authorization_id], placement_of(row, row.service_date, row.status))
            )
    return coverage

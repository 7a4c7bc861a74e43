"""Authorization totals for tables: each authorization's figures from sums in SQL.

The Insurance Authorizations table (templates/clients/_authorizations.html) shows, per
authorization, only sums: used (kept), scheduled (upcoming), remaining, over by, the
capped windows that are over, and how many kept visits count against it. Building a
full ledger for that (`coverage.load_coverage`: one row, with its allocation record,
per visit) made the table cost 100–300× a bare route for a client with 50
authorizations and 5,000 visits (issue 14). Here the database sums:

- per authorization and visit status: the amount and the number of ledger rows;
- for authorizations with a day/week/month cap only: the amount per day and status,
  added up here per capped window (the calendar's weeks and months are the domain's);

and the same pure rule as the ledger (`authorization_rules.build_ledger`) turns those
sums into the figures, fed one usage per (day, status) sum instead of one per visit,
so the table and the ledger page agree by construction. Pages that show ledger rows
(an authorization's ledger, an encounter's uses and warnings) still load them
(`coverage.load_coverage`).

Three queries whatever the number of authorizations or visits: the authorizations
(with their policy and payer), their service types, and the sums.
"""

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, time

from sqlalchemy import case, func, select

from webapp.domain import authorization_rules
from webapp.domain.authorization_rules import KEPT
from webapp.extensions import db
from webapp.models import Allocation, Encounter, Organization
from webapp.services.coverage import (
    AuthorizationSummary,
    Coverage,
    authorizations_of,
    organization_today,
    placement_of,
    terms_of,
)


@dataclass
class AuthorizationTotals(AuthorizationSummary):
    """An authorization's summary whose ledger has its figures and windows but no rows,
    and `kept_visits`: how many kept visits count against it."""

    kept_visits: int = 0


def load_totals(org: Organization, client_ids: list[int], *, today: date | None = None) -> Coverage:
    """Summaries (`AuthorizationTotals`) of the clients' authorizations, newest end
    first, their figures summed in SQL (3 queries); `today` is the organization's
    date (its clock when None)."""
    today = today or organization_today(org)
    if not client_ids:
        return Coverage(org, [])
    authorizations = authorizations_of(org, client_ids)
    ids = [a.id for a in authorizations]
    terms = {a.id: terms_of(a, org) for a in authorizations}
    capped = [i for i in ids if terms[i].cap_frequency is not None]
    usages, by_day, kept_visits = _sums(ids, capped)
    count_upcoming = org.count_upcoming_for_exhaustion
    summaries = []
    for auth in authorizations:
        auth_terms = terms[auth.id]
        # The figures of the whole authorization from its sums by status (no windows:
        # the cap is set aside, and the total put back), then the capped windows that
        # have visits from the sums by day.
        uncapped = replace(auth_terms, frequency=None)
        whole = authorization_rules.build_ledger(
            uncapped, usages[auth.id], count_upcoming=count_upcoming
        )
        total = auth_terms.total
        ledger = replace(
            whole,
            terms=auth_terms,
            total=total,
            remaining=total - whole.counted,
            rows=[],
            windows=authorization_rules.windows_with_usage(
                auth_terms, by_day[auth.id], count_upcoming=count_upcoming
            ),
        )
        status = authorization_rules.authorization_status(
            insurance_active=auth.client_insurance.active,
            end_date=auth.end_date,
            remaining=ledger.remaining,
            today=today,
        )
        summaries.append(
            AuthorizationTotals(
                auth, auth_terms, ledger, status, kept_visits=kept_visits.get(auth.id, 0)
            )
        )
    return Coverage(org, summaries)


def _usage(day: date, status: str, amount: int) -> authorization_rules.Usage:
    """A sum standing for the visits of one status on one day (or in the whole
    authorization): the ledger's figures add amounts, so a sum counts as its visits do."""
    return authorization_rules.Usage(0, day, status, int(amount), datetime.combine(day, time.min))


def _sums(ids: list[int], capped: list[int]) -> tuple[dict, dict, dict[int, int]]:
    """From one query grouped by authorization, visit status and (for the capped
    authorizations only) day: every authorization's usages by status, the capped ones'
    usages by day, and how many kept visits count against each."""
    usages: defaultdict[int, list[authorization_rules.Usage]] = defaultdict(list)
    by_day: defaultdict[int, list[authorization_rules.Usage]] = defaultdict(list)
    kept_visits: dict[int, int] = {}
    if not ids:
        return usages, by_day, kept_visits
    day = case((Allocation.authorization_id.in_(capped), Encounter.service_date), else_=None)
    rows = db.session.execute(
        select(
            Allocation.authorization_id,
            Encounter.status,
            day.label("day"),
            func.sum(Allocation.amount).label("amount"),
            func.count(Allocation.id).label("rows"),
            func.min(Encounter.service_date).label("first_day"),
        )
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(Allocation.authorization_id.in_(ids))
        .group_by(Allocation.authorization_id, Encounter.status, day)
    )
    by_status: defaultdict[tuple[int, str], list] = defaultdict(lambda: [0, None])
    for row in rows:
        if row.status == KEPT:
            kept_visits[row.authorization_id] = kept_visits.get(row.authorization_id, 0) + row.rows
        if row.day is not None:
            by_day[row.authorization_id].append(_usage(row.day, row.status, row.amount))
        total = by_status[row.authorization_id, row.status]
        total[0] += int(row.amount)
        total[1] = row.first_day if total[1] is None else min(total[1], row.first_day)
    for (auth_id, status), (amount, first_day) in by_status.items():
        usages[auth_id].append(_usage(first_day, status, amount))
    return usages, by_day, kept_visits


def load_for_visits(
    org: Organization, client_ids: list[int], encounter_ids: list[int], *, today=None
) -> Coverage:
    """What a page of visits needs for their warnings (`coverage.visit_warnings`): the
    clients' authorizations from sums (`load_totals`), and the stored ledger rows of
    these visits only, not of every visit of every client (4 queries)."""
    coverage = load_totals(org, client_ids, today=today)
    terms = {s.authorization.id: s.terms for s in coverage.summaries}
    if not encounter_ids or not terms:
        coverage.keep_placements([])
        return coverage
    rows = db.session.execute(
        select(
            Allocation.authorization_id,
            Allocation.encounter_id,
            Allocation.amount,
            Allocation.reason,
            Allocation.room_before,
            Allocation.window_room_before,
            Allocation.passed_over,
            Encounter.service_date,
            Encounter.status,
        )
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(Allocation.encounter_id.in_(encounter_ids))
    )
    coverage.keep_placements(
        [
            (
                row.encounter_id,
                terms[row.authorization_id],
                placement_of(row, row.service_date, row.status),
            )
            for row in rows
            if row.authorization_id in terms
        ]
    )
    return coverage

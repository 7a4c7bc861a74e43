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

Four queries whatever the number of authorizations or visits: the authorizations
(with their policy and payer), their service types, and the two sums.
"""

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, time

from sqlalchemy import func, select

from webapp.domain import authorization_rules
from webapp.domain.authorization_rules import KEPT
from webapp.extensions import db
from webapp.models import Allocation, Encounter, Organization
from webapp.services.coverage import (
    AuthorizationSummary,
    Coverage,
    authorizations_of,
    organization_today,
    terms_of,
)


@dataclass
class AuthorizationTotals(AuthorizationSummary):
    """An authorization's summary whose ledger has its figures and windows but no rows,
    and `kept_visits`: how many kept visits count against it."""

    kept_visits: int = 0


def load_totals(org: Organization, client_ids: list[int], *, today: date | None = None) -> Coverage:
    """Summaries (`AuthorizationTotals`) of the clients' authorizations, newest end
    first, their figures summed in SQL (4 queries); `today` is the organization's
    date (its clock when None)."""
    today = today or organization_today(org)
    if not client_ids:
        return Coverage(org, [])
    authorizations = authorizations_of(org, client_ids)
    ids = [a.id for a in authorizations]
    terms = {a.id: terms_of(a, org) for a in authorizations}
    capped = [i for i in ids if terms[i].cap_frequency is not None]
    usages, kept_visits = _sums_by_status(ids, capped)
    by_window: defaultdict[tuple[int, date, str], int] = defaultdict(int)
    window_of = {i: terms[i].window_lookup(terms[i].windows()) for i in capped}
    for auth_id, day, status, amount in _sums_by_day(capped):
        window = window_of[auth_id](day)
        by_window[auth_id, window.start if window else day, status] += int(amount)
    for (auth_id, day, status), amount in by_window.items():
        usages[auth_id].append(_usage(day, status, amount))
    summaries = []
    for auth in authorizations:
        ledger = authorization_rules.build_ledger(
            terms[auth.id], usages[auth.id], count_upcoming=org.count_upcoming_for_exhaustion
        )
        status = authorization_rules.authorization_status(
            insurance_active=auth.client_insurance.active,
            end_date=auth.end_date,
            remaining=ledger.remaining,
            today=today,
        )
        summaries.append(
            AuthorizationTotals(
                auth,
                terms[auth.id],
                replace(ledger, rows=[]),
                status,
                kept_visits=kept_visits.get(auth.id, 0),
            )
        )
    return Coverage(org, summaries)


def _usage(day: date, status: str, amount: int) -> authorization_rules.Usage:
    """A sum standing for the visits of one status in one capped window (dated its first
    day) or in the whole authorization: the ledger's figures add amounts, so a sum
    counts as its visits do."""
    return authorization_rules.Usage(0, day, status, int(amount), datetime.combine(day, time.min))


def _sums_by_status(
    ids: list[int], capped: list[int]
) -> tuple[defaultdict[int, list[authorization_rules.Usage]], dict[int, int]]:
    """Usages of the uncapped authorizations (one per status) and every authorization's
    kept visits, from one query grouped by authorization and status."""
    usages: defaultdict[int, list[authorization_rules.Usage]] = defaultdict(list)
    kept_visits: dict[int, int] = {}
    if not ids:
        return usages, kept_visits
    rows = db.session.execute(
        select(
            Allocation.authorization_id,
            Encounter.status,
            func.sum(Allocation.amount).label("amount"),
            func.count(Allocation.id).label("rows"),
            func.min(Encounter.service_date).label("day"),
        )
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(Allocation.authorization_id.in_(ids))
        .group_by(Allocation.authorization_id, Encounter.status)
    )
    capped_ids = set(capped)
    for row in rows:
        if row.status == KEPT:
            kept_visits[row.authorization_id] = row.rows
        if row.authorization_id not in capped_ids:
            usages[row.authorization_id].append(_usage(row.day, row.status, row.amount))
    return usages, kept_visits


def _sums_by_day(capped: list[int]) -> list[tuple[int, date, str, int]]:
    """(authorization id, day, status, amount) of the capped authorizations (the query
    runs even for none, so the count of queries never depends on the data)."""
    return [
        (row.authorization_id, row.service_date, row.status, row.amount)
        for row in db.session.execute(
            select(
                Allocation.authorization_id,
                Encounter.service_date,
                Encounter.status,
                func.sum(Allocation.amount).label("amount"),
            )
            .join(Encounter, Encounter.id == Allocation.encounter_id)
            .where(Allocation.authorization_id.in_(capped))
            .group_by(Allocation.authorization_id, Encounter.service_date, Encounter.status)
        )
    ]

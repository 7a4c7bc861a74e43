"""Authorization coverage: ledgers, statuses and warnings, read in a fixed number of queries.

`load_coverage()` reads every authorization of some clients and every allocation
of those authorizations in three queries, whatever their number, then the pure
rules in `webapp.domain.authorizations` do the arithmetic.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from webapp.domain import authorizations as rules
from webapp.domain.windows import local_date
from webapp.extensions import db
from webapp.models import Allocation, Authorization, ClientInsurance, Encounter, Organization
from webapp.models.base import utcnow


def organization_today(org: Organization) -> date:
    return local_date(utcnow(), org.timezone)


def terms_of(auth: Authorization, org: Organization) -> rules.AuthorizationTerms:
    return rules.AuthorizationTerms(
        id=auth.id,
        client_insurance_id=auth.client_insurance_id,
        kind=auth.kind,
        start=auth.start_date,
        end=auth.end_date,
        allowed=auth.allowed,
        frequency=auth.frequency,
        service_type_ids=frozenset(s.id for s in auth.service_types),
        week_start=org.week_start,
    )


def terms_of_columns(row, org: Organization) -> rules.AuthorizationTerms:
    """The terms from a query row of Authorization columns (id, client_insurance_id, kind,
    start_date, end_date, allowed, frequency), for figures that need no service types."""
    return rules.AuthorizationTerms(
        id=row.id,
        client_insurance_id=row.client_insurance_id,
        kind=row.kind,
        start=row.start_date,
        end=row.end_date,
        allowed=row.allowed,
        frequency=row.frequency,
        service_type_ids=frozenset(),
        week_start=org.week_start,
    )


@dataclass
class AuthorizationSummary:
    authorization: Authorization
    terms: rules.AuthorizationTerms
    ledger: rules.Ledger
    status: str

    @property
    def status_label(self) -> str:
        return rules.STATUS_LABELS[self.status]


@dataclass
class Coverage:
    """Every authorization of a set of clients, summarized."""

    org: Organization
    summaries: list[AuthorizationSummary]

    def for_client(self, client_id: int) -> list[AuthorizationSummary]:
        return [
            s for s in self.summaries if s.authorization.client_insurance.client_id == client_id
        ]

    def terms_for_client(self, client_id: int) -> list[rules.AuthorizationTerms]:
        return [s.terms for s in self.for_client(client_id)]

    def by_id(self) -> dict[int, AuthorizationSummary]:
        return {s.authorization.id: s for s in self.summaries}

    def counts_by_status(self, client_id: int) -> dict[str, int]:
        counts = dict.fromkeys(rules.STATUSES, 0)
        for summary in self.for_client(client_id):
            counts[summary.status] += 1
        return counts


def load_coverage(
    org: Organization,
    client_ids: list[int],
    *,
    today: date | None = None,
    extra_usages: dict[int, list[rules.Usage]] | None = None,
) -> Coverage:
    """Summaries for the clients' authorizations (3 queries).

    `extra_usages` adds not-yet-saved encounters (a series being checked) to the
    ledgers, so each occurrence is judged with the earlier ones counted.
    """
    today = today or organization_today(org)
    if not client_ids:
        return Coverage(org, [])
    authorizations = db.session.scalars(
        select(Authorization)
        .join(ClientInsurance)
        .where(
            Authorization.organization_id == org.id,
            ClientInsurance.client_id.in_(client_ids),
        )
        .options(
            joinedload(Authorization.client_insurance).joinedload(ClientInsurance.payer),
            selectinload(Authorization.service_types),
        )
        .order_by(Authorization.end_date.desc(), Authorization.id)
    ).all()
    usages = _usages_by_authorization([a.id for a in authorizations])
    summaries = []
    for auth in authorizations:
        terms = terms_of(auth, org)
        auth_usages = usages[auth.id] + (extra_usages or {}).get(auth.id, [])
        ledger = rules.build_ledger(
            terms, auth_usages, count_upcoming=org.count_upcoming_for_exhaustion
        )
        status = rules.authorization_status(
            insurance_active=auth.client_insurance.active,
            end_date=auth.end_date,
            remaining=ledger.remaining,
            today=today,
        )
        summaries.append(AuthorizationSummary(auth, terms, ledger, status))
    return Coverage(org, summaries)


def _usages_by_authorization(authorization_ids: list[int]) -> dict[int, list[rules.Usage]]:
    usages: dict[int, list[rules.Usage]] = defaultdict(list)
    if not authorization_ids:
        return usages
    rows = db.session.execute(
        select(
            Allocation.authorization_id,
            Allocation.amount,
            Encounter.id,
            Encounter.service_date,
            Encounter.status,
            Encounter.starts_at,
        )
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(Allocation.authorization_id.in_(authorization_ids))
    )
    for auth_id, amount, encounter_id, day, status, starts_at in rows:
        usages[auth_id].append(rules.Usage(encounter_id, day, status, amount, starts_at))
    return usages

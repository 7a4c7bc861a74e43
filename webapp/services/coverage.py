"""Authorization coverage: ledgers, statuses and warnings, read in a fixed number of queries.

`load_coverage()` reads every authorization of some clients and every allocation
of those authorizations in three queries, whatever their number, then the pure
rules in `webapp.domain.authorization_rules` do the arithmetic.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from webapp.domain import allocation_rules, authorization_rules, visit_warning_rules
from webapp.domain.windows import local_date
from webapp.extensions import db
from webapp.models import Allocation, Authorization, ClientInsurance, Encounter, Organization
from webapp.models.base import utcnow


def organization_today(org: Organization) -> date:
    return local_date(utcnow(), org.timezone)


def terms_of(auth: Authorization, org: Organization) -> authorization_rules.AuthorizationTerms:
    return authorization_rules.AuthorizationTerms(
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


def terms_of_columns(row, org: Organization) -> authorization_rules.AuthorizationTerms:
    """The terms from a query row of Authorization columns (id, client_insurance_id, kind,
    start_date, end_date, allowed, frequency), for figures that need no service types."""
    return authorization_rules.AuthorizationTerms(
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
    terms: authorization_rules.AuthorizationTerms
    ledger: authorization_rules.Ledger
    status: str

    @property
    def status_label(self) -> str:
        return authorization_rules.STATUS_LABELS[self.status]


@dataclass
class Coverage:
    """Every authorization of a set of clients, summarized."""

    org: Organization
    summaries: list[AuthorizationSummary]
    # Built on first use (a schedule asks for hundreds of visits): client id → summaries,
    # encounter id → (terms, placement) of its stored ledger rows.
    _by_client: dict | None = field(default=None, init=False, repr=False, compare=False)
    _by_encounter: dict | None = field(default=None, init=False, repr=False, compare=False)

    def for_client(self, client_id: int) -> list[AuthorizationSummary]:
        if self._by_client is None:
            self._by_client = defaultdict(list)
            for s in self.summaries:
                self._by_client[s.authorization.client_insurance.client_id].append(s)
        return list(self._by_client.get(client_id, []))

    def keep_placements(
        self,
        pairs: list[tuple[int, authorization_rules.AuthorizationTerms, allocation_rules.Placement]],
    ) -> None:
        """Use these (encounter id, terms, placement) as the stored ledger rows of their
        visits (a page that loaded only the rows it shows: authorization_totals)."""
        self._by_encounter = defaultdict(list)
        for encounter_id, terms, placement in pairs:
            self._by_encounter[encounter_id].append((terms, placement))

    def placements_of(
        self, encounter_id: int
    ) -> list[tuple[authorization_rules.AuthorizationTerms, allocation_rules.Placement]]:
        """(terms, placement) of every stored ledger row of the encounter, in summary
        order."""
        if self._by_encounter is None:
            self._by_encounter = defaultdict(list)
            for summary in self.summaries:
                for row in summary.ledger.rows:
                    if row.usage.placement is not None:
                        self._by_encounter[row.usage.encounter_id].append(
                            (summary.terms, row.usage.placement)
                        )
        return list(self._by_encounter.get(encounter_id, []))

    def terms_for_client(self, client_id: int) -> list[authorization_rules.AuthorizationTerms]:
        return [s.terms for s in self.for_client(client_id)]

    def by_id(self) -> dict[int, AuthorizationSummary]:
        return {s.authorization.id: s for s in self.summaries}

    def counts_by_status(self, client_id: int) -> dict[str, int]:
        counts = dict.fromkeys(authorization_rules.STATUSES, 0)
        for summary in self.for_client(client_id):
            counts[summary.status] += 1
        return counts


def authorizations_of(org: Organization, client_ids: list[int]) -> list[Authorization]:
    """The clients' authorizations in the organization, newest end first, with their
    policy, payer and service types loaded (2 queries)."""
    return db.session.scalars(
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


def load_coverage(
    org: Organization,
    client_ids: list[int],
    *,
    today: date | None = None,
) -> Coverage:
    """Summaries for the clients' authorizations (3 queries)."""
    today = today or organization_today(org)
    if not client_ids:
        return Coverage(org, [])
    authorizations = authorizations_of(org, client_ids)
    usages = _usages_by_authorization([a.id for a in authorizations])
    summaries = []
    for auth in authorizations:
        terms = terms_of(auth, org)
        ledger = authorization_rules.build_ledger(
            terms, usages[auth.id], count_upcoming=org.count_upcoming_for_exhaustion
        )
        status = authorization_rules.authorization_status(
            insurance_active=auth.client_insurance.active,
            end_date=auth.end_date,
            remaining=ledger.remaining,
            today=today,
        )
        summaries.append(AuthorizationSummary(auth, terms, ledger, status))
    return Coverage(org, summaries)


def placement_of(row, day: date, status: str) -> allocation_rules.Placement:
    """A stored ledger row (an Allocation, or a query row with its columns) as the
    allocation rule's Placement, for warnings and reasons."""
    return allocation_rules.Placement(
        authorization_id=row.authorization_id,
        encounter_id=row.encounter_id,
        day=day,
        amount=row.amount,
        reason=row.reason,
        room_before=row.room_before if row.room_before is not None else row.amount,
        window_room_before=row.window_room_before,
        passed_over=[allocation_rules.PassedOver(p["id"], p["why"]) for p in row.passed_over or []],
        counted=status in allocation_rules.CAN_COUNT,
    )


def _usages_by_authorization(
    authorization_ids: list[int],
) -> dict[int, list[authorization_rules.Usage]]:
    usages: dict[int, list[authorization_rules.Usage]] = defaultdict(list)
    if not authorization_ids:
        return usages
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
            Encounter.starts_at,
        )
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(Allocation.authorization_id.in_(authorization_ids))
    )
    for row in rows:
        usages[row.authorization_id].append(
            authorization_rules.Usage(
                row.encounter_id,
                row.service_date,
                row.status,
                row.amount,
                row.starts_at,
                placement=placement_of(row, row.service_date, row.status),
            )
        )
    return usages


def saved_placements(coverage: Coverage, encounter_id: int) -> list[allocation_rules.Placement]:
    """The stored ledger rows of one encounter, as Placements (ends-first order)."""
    found = coverage.placements_of(encounter_id)
    found.sort(key=lambda pair: (pair[0].end, pair[0].start, pair[0].id))
    return [placement for _terms, placement in found]


def uncovered_lines(coverage: Coverage, encounter: Encounter) -> list[int]:
    """Indexes of the encounter's lines that no authorization covers on its date."""
    if encounter.billing_type != "insurance" or encounter.client_insurance_id is None:
        return []
    terms = coverage.terms_for_client(encounter.client_id)
    return [
        index
        for index, line in enumerate(encounter.lines)
        if not any(
            t.covers(encounter.client_insurance_id, line.service_type_id, encounter.service_date)
            for t in terms
        )
    ]


def visit_warnings(
    coverage: Coverage,
    encounter: Encounter,
    placements: list[allocation_rules.Placement] | None = None,
    uncovered: list[int] | None = None,
) -> list[authorization_rules.CoverageWarning]:
    """The warnings of one encounter (saved, or a draft with its planned placements).

    Without `placements` the stored ledger rows are read from `coverage`; without
    `uncovered` the lines nothing covers are worked out from its authorizations.
    """
    if encounter.billing_type != "insurance" or encounter.client_insurance_id is None:
        return []
    summaries = coverage.for_client(encounter.client_id)
    terms = [s.terms for s in summaries]
    numbers = {s.authorization.id: s.authorization.display_number for s in summaries}
    if placements is None:
        placements = saved_placements(coverage, encounter.id)
    if uncovered is None:
        uncovered = uncovered_lines(coverage, encounter)
    missing = [
        authorization_rules.uncovered_warning(
            terms,
            number_by_auth=numbers,
            client_insurance_id=encounter.client_insurance_id,
            service_type_id=encounter.lines[index].service_type_id,
            service_name=encounter.lines[index].service_type.cpt_code,
            day=encounter.service_date,
        )
        for index in uncovered
    ]
    known = [p for p in placements if p.authorization_id in numbers]
    return visit_warning_rules.visit_warnings(
        known,
        visit_status=encounter.status,
        terms_by_id={s.authorization.id: s.terms for s in summaries},
        status_by_auth={s.authorization.id: s.status for s in summaries},
        number_by_auth=numbers,
        uncovered=missing,
    )


@dataclass
class Use:
    """One authorization an encounter counts against, with why (for the encounter page)."""

    summary: AuthorizationSummary
    row: authorization_rules.LedgerRow
    reason: str


def uses_of(coverage: Coverage, encounter: Encounter) -> list[Use]:
    """The encounter's ledger rows, ends-first, each with the allocation's reason in words."""
    summaries = coverage.for_client(encounter.client_id)
    terms = {s.authorization.id: s.terms for s in summaries}
    numbers = {s.authorization.id: s.authorization.display_number for s in summaries}
    uses = []
    for summary in sorted(summaries, key=lambda s: (s.terms.end, s.terms.start, s.terms.id)):
        for row in summary.ledger.rows:
            if row.usage.encounter_id != encounter.id:
                continue
            reason = ""
            if row.usage.placement is not None:
                reason = visit_warning_rules.placement_reason(
                    row.usage.placement,
                    visit_status=encounter.status,
                    terms_by_id=terms,
                    number_by_auth=numbers,
                )
            uses.append(Use(summary, row, reason))
    return uses


def reasons_by_encounter(coverage: Coverage, summary: AuthorizationSummary) -> dict[int, str]:
    """{encounter id: why it counts against this authorization} for a ledger page."""
    client_id = summary.authorization.client_insurance.client_id
    summaries = coverage.for_client(client_id)
    terms = {s.authorization.id: s.terms for s in summaries}
    numbers = {s.authorization.id: s.authorization.display_number for s in summaries}
    return {
        row.usage.encounter_id: visit_warning_rules.placement_reason(
            row.usage.placement,
            visit_status=row.usage.status,
            terms_by_id=terms,
            number_by_auth=numbers,
        )
        for row in summary.ledger.rows
        if row.usage.placement is not None
    }

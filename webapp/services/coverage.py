"""Authorization coverage: ledgers, statuses and warnings, read in a fixed number of queries.

`load_coverage()` reads every authorization of some clients, their lines and every
allocation of those lines in four queries, whatever their number, then the pure
rules in `webapp.domain.authorization_rules` do the arithmetic; `summarize()` gives
the lines their statuses and rolls them up. Tables that show only sums read them
with `services.authorization_totals` instead (no ledger rows).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from webapp.domain import (
    allocation_rules,
    authorization_rules,
    decision_rules,
    visit_warning_rules,
)
from webapp.domain.pas_terms import PENDED
from webapp.domain.windows import format_day, local_date
from webapp.extensions import db
from webapp.models import (
    Allocation,
    Authorization,
    AuthorizationLine,
    ClientInsurance,
    Encounter,
    Organization,
)
from webapp.models.base import utcnow


def organization_today(org: Organization) -> date:
    return local_date(utcnow(), org.timezone)


def line_counts(line: AuthorizationLine) -> bool:
    """Whether the payer's decisions let this line count (webapp.domain.decision_rules)."""
    return decision_rules.line_counts(line.authorization.decision, line.decision)


def terms_of(line: AuthorizationLine, org: Organization) -> authorization_rules.AuthorizationTerms:
    """One authorization line as the rules see it (its dates, or its authorization's)."""
    return authorization_rules.AuthorizationTerms(
        id=line.id,
        client_insurance_id=line.authorization.client_insurance_id,
        kind=line.kind,
        start=line.starts,
        end=line.ends,
        allowed=line.allowed,
        frequency=line.frequency,
        service_type_ids=frozenset(s.id for s in line.service_types),
        week_start=org.week_start,
        authorization_id=line.authorization_id,
    )


def terms_of_columns(row, org: Organization) -> authorization_rules.AuthorizationTerms:
    """The terms from a query row of line columns (id, client_insurance_id, kind,
    start_date, end_date, allowed, frequency; the line's own dates already merged with
    its authorization's), for figures that need no service types."""
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
class LineSummary:
    """One authorization line's figures: its ledger, and its status.

    `counts` is False for a line the payer has not granted (pending, denied,
    cancelled): it covers no visit and its status is the decision.
    """

    authorization: Authorization
    line: AuthorizationLine
    terms: authorization_rules.AuthorizationTerms
    ledger: authorization_rules.Ledger
    status: str
    counts: bool = True

    @property
    def status_label(self) -> str:
        return authorization_rules.STATUS_LABELS[self.status]

    @property
    def label(self) -> str:
        """'A-1 (97153)' when the authorization has several lines, else 'A-1'."""
        number = self.authorization.display_number
        if len(self.authorization.lines) > 1:
            return f"{number} ({self.line.codes})"
        return number


# The name pages used before authorizations had lines; a summary is per line.
AuthorizationSummary = LineSummary


@dataclass
class AuthorizationRollup:
    """An authorization and its lines' summaries, with the status rolled up from them
    (`authorization_rules.rolled_up_status`: Exhausted when every counting line is)."""

    authorization: Authorization
    lines: list[LineSummary]
    status: str
    kept_visits: int = 0  # kept visits counting against any of its lines, each once

    @property
    def status_label(self) -> str:
        return authorization_rules.STATUS_LABELS[self.status]

    def clock(self, now: datetime) -> decision_rules.Clock | None:
        """The payer's decision clock while the request (or one of its lines) is pending
        and its request time is known, else None."""
        auth = self.authorization
        waiting = auth.decision == PENDED or any(s.line.decision == PENDED for s in self.lines)
        if not waiting or auth.requested_at is None:
            return None
        return decision_rules.Clock(auth.requested_at, auth.urgency, now)


# A stored ledger row of a visit: its line's terms and the allocation's record of it.
StoredRow = tuple[authorization_rules.AuthorizationTerms, allocation_rules.Placement]


@dataclass
class Coverage:
    """Every authorization of a set of clients, summarized per line and rolled up."""

    org: Organization
    summaries: list[LineSummary]  # per line
    rollups: list[AuthorizationRollup]
    # {encounter id: [(line terms, stored ledger row as a Placement)]} when the ledgers
    # were summed without rows and only some visits' rows were read
    # (authorization_totals.load_for_visits); None: read them from the ledgers' rows.
    placements: dict[int, list[StoredRow]] | None = None
    _by_client: dict[int, list[LineSummary]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def for_client(self, client_id: int) -> list[LineSummary]:
        """The client's line summaries (indexed on first use: a schedule asks per visit)."""
        if self._by_client is None:
            self._by_client = defaultdict(list)
            for s in self.summaries:
                self._by_client[s.authorization.client_insurance.client_id].append(s)
        return list(self._by_client.get(client_id, []))

    def authorizations_for_client(self, client_id: int) -> list[AuthorizationRollup]:
        return [r for r in self.rollups if r.authorization.client_insurance.client_id == client_id]

    def terms_for_client(self, client_id: int) -> list[authorization_rules.AuthorizationTerms]:
        """The terms of the client's counting lines (those the allocation uses)."""
        return [s.terms for s in self.for_client(client_id) if s.counts]

    def by_id(self) -> dict[int, LineSummary]:
        """{line id: its summary}."""
        return {s.line.id: s for s in self.summaries}

    def rollup_of(self, authorization_id: int) -> AuthorizationRollup | None:
        return next((r for r in self.rollups if r.authorization.id == authorization_id), None)

    def counts_by_status(self, client_id: int) -> dict[str, int]:
        """{status: how many of the client's authorizations have it (rolled up)}."""
        counts = dict.fromkeys(authorization_rules.STATUSES, 0)
        for rollup in self.authorizations_for_client(client_id):
            counts[rollup.status] += 1
        return counts


def authorizations_of(org: Organization, client_ids: list[int]) -> list[Authorization]:
    """The clients' authorizations in the organization, newest end first, with their
    policy, payer, lines and the lines' service types loaded (3 queries)."""
    return db.session.scalars(
        select(Authorization)
        .join(ClientInsurance)
        .where(
            Authorization.organization_id == org.id,
            ClientInsurance.client_id.in_(client_ids),
        )
        .options(
            joinedload(Authorization.client_insurance).joinedload(ClientInsurance.payer),
            selectinload(Authorization.lines).selectinload(AuthorizationLine.service_types),
        )
        .order_by(Authorization.end_date.desc(), Authorization.id)
    ).all()


def load_coverage(
    org: Organization,
    client_ids: list[int],
    *,
    today: date | None = None,
) -> Coverage:
    """Summaries for the clients' authorizations and their lines, each ledger with every
    row (4 queries, whatever their number)."""
    today = today or organization_today(org)
    if not client_ids:
        return Coverage(org, [], [])
    authorizations = authorizations_of(org, client_ids)
    usages = _usages_by_line([line.id for a in authorizations for line in a.lines])
    count_upcoming = org.count_upcoming_for_exhaustion
    ledgers = {
        line.id: authorization_rules.build_ledger(
            terms_of(line, org), usages[line.id], count_upcoming=count_upcoming
        )
        for auth in authorizations
        for line in auth.lines
    }
    kept_visits = {
        auth.id: len(
            {
                row.usage.encounter_id
                for line in auth.lines
                for row in ledgers[line.id].rows
                if row.usage.status == authorization_rules.KEPT
            }
        )
        for auth in authorizations
    }
    return summarize(org, authorizations, ledgers, kept_visits, today=today)


def summarize(
    org: Organization,
    authorizations: list[Authorization],
    ledgers: dict[int, authorization_rules.Ledger],
    kept_visits: dict[int, int],
    *,
    today: date,
) -> Coverage:
    """The Coverage of `authorizations` (in their order) from each line's ledger
    (`ledgers`: {line id: Ledger}, with or without rows) and each authorization's number
    of kept visits (`kept_visits`: {authorization id: visits}): every line's status
    (`authorization_rules.line_status`) and every authorization's rolled up from them
    (`authorization_rules.rolled_up_status`). No queries."""
    summaries, rollups = [], []
    for auth in authorizations:
        lines = []
        for line in auth.lines:
            ledger = ledgers[line.id]
            status = authorization_rules.line_status(
                insurance_active=auth.client_insurance.active,
                authorization_decision=auth.decision,
                line_decision=line.decision,
                end_date=ledger.terms.end,
                remaining=ledger.remaining,
                today=today,
            )
            lines.append(LineSummary(auth, line, ledger.terms, ledger, status, line_counts(line)))
        status = authorization_rules.rolled_up_status(
            insurance_active=auth.client_insurance.active,
            authorization_decision=auth.decision,
            end_date=auth.end_date,
            line_statuses=[s.status for s in lines],
            today=today,
        )
        summaries.extend(lines)
        rollups.append(AuthorizationRollup(auth, lines, status, kept_visits.get(auth.id, 0)))
    return Coverage(org, summaries, rollups)


def placement_of(row, day: date, status: str) -> allocation_rules.Placement:
    """A stored ledger row (a query row with the line's id as `authorization_id`) as the
    allocation rule's Placement, for warnings and reasons; its `authorization_id` is
    the line's id, the unit the allocation places on."""
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


# What a stored ledger row (an allocation) is read with: the line it counts on (labelled
# authorization_id, the Placement's word for it), its amount, why it counts there, and its
# visit's date and status. `Allocation` joined to `Encounter`.
LEDGER_ROW_COLUMNS = (
    Allocation.line_id.label("authorization_id"),
    Allocation.encounter_id,
    Allocation.amount,
    Allocation.reason,
    Allocation.room_before,
    Allocation.window_room_before,
    Allocation.passed_over,
    Encounter.service_date,
    Encounter.status,
)


def _usages_by_line(line_ids: list[int]) -> dict[int, list[authorization_rules.Usage]]:
    usages: dict[int, list[authorization_rules.Usage]] = defaultdict(list)
    if not line_ids:
        return usages
    rows = db.session.execute(
        select(*LEDGER_ROW_COLUMNS, Encounter.starts_at)
        .join(Encounter, Encounter.id == Allocation.encounter_id)
        .where(Allocation.line_id.in_(line_ids))
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
    if coverage.placements is not None:
        found = list(coverage.placements.get(encounter_id, []))
    else:
        found = [
            (summary.terms, row.usage.placement)
            for summary in coverage.summaries
            for row in summary.ledger.rows
            if row.usage.encounter_id == encounter_id and row.usage.placement is not None
        ]
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
    terms = [s.terms for s in summaries if s.counts]
    numbers = {s.terms.id: s.label for s in summaries}
    if placements is None:
        placements = saved_placements(coverage, encounter.id)
    if uncovered is None:
        uncovered = uncovered_lines(coverage, encounter)
    missing = [
        _withheld_warning(summaries, encounter, index)
        or authorization_rules.uncovered_warning(
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
        terms_by_id={s.terms.id: s.terms for s in summaries},
        status_by_auth={s.terms.id: s.status for s in summaries},
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
    terms = {s.terms.id: s.terms for s in summaries}
    numbers = {s.terms.id: s.label for s in summaries}
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
    terms = {s.terms.id: s.terms for s in summaries}
    numbers = {s.terms.id: s.label for s in summaries}
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


def _withheld_warning(
    summaries: list[LineSummary], encounter: Encounter, index: int
) -> authorization_rules.CoverageWarning | None:
    """For a service nothing approved covers: the warning naming a line that would cover it
    but is pending, denied or cancelled (issue 16: such a booking warns like one with no
    authorization, and says why), else None."""
    line = encounter.lines[index]
    for summary in summaries:
        if summary.counts or not summary.terms.covers(
            encounter.client_insurance_id, line.service_type_id, encounter.service_date
        ):
            continue
        return authorization_rules.CoverageWarning(
            authorization_rules.NONE_COVERS,
            f"Authorization {summary.label} for {line.service_type.cpt_code} is "
            f"{summary.status_label.lower()}, not approved; no approved authorization covers "
            f"{format_day(encounter.service_date)}.",
        )
    return None

"""Add, edit and remove authorizations; each change rewrites the client's allocations.

A Kept visit stays on the authorization it was counted against while that
authorization covers it (webapp.domain.allocation_rules). An edit that narrows an
authorization (dates, services, insurance) or a removal can leave a Kept visit
uncovered there, so it moves: `kept_moves()` lists those visits before saving,
and the dialog asks for a confirmation naming them.
"""

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload

from webapp.domain import authorization_rules, decision_rules
from webapp.domain.windows import format_day, local_date
from webapp.extensions import db
from webapp.models import (
    Allocation,
    Authorization,
    AuthorizationLine,
    Client,
    ClientInsurance,
    Encounter,
    ServiceType,
    User,
)
from webapp.models.authorizations import display_number
from webapp.models.base import utcnow
from webapp.models.organization import Organization
from webapp.services import audit
from webapp.services.allocation import client_terms, plan, reallocate_client

PREVIEW_ID = -1  # the id a new authorization has while its effect is previewed


@dataclass
class KeptMove:
    """A Kept visit that a change would move off the authorization it counted against."""

    encounter_id: int
    day_label: str
    services: str
    leaves: list[str]  # authorization numbers it leaves
    goes_to: list[str]  # authorization numbers it goes to; empty: nothing covers it

    @property
    def sentence(self) -> str:
        where = ", ".join(self.goes_to) if self.goes_to else "no authorization"
        return f"{self.day_label} ({self.services}): from {', '.join(self.leaves)} to {where}"


LINE_FIELDS = ("kind", "allowed", "frequency", "start_date", "end_date", "decision", "requested")


def _organization_services(org_id: int, service_type_ids: list[int]) -> list[ServiceType]:
    return list(
        db.session.scalars(
            select(ServiceType).where(
                ServiceType.organization_id == org_id, ServiceType.id.in_(service_type_ids)
            )
        )
    )


def split_values(
    values: dict,
    service_type_ids=(),
    lines: list[dict] | None = None,
    auth: Authorization | None = None,
):
    """(authorization values, line values): a form's values with its lines.

    Without `lines`, `values` is the one-line shape (kind, allowed, frequency with the
    authorization's fields) and `service_type_ids` the line's services: one line,
    which is `auth`'s first line when it has one (so it is changed in place).
    Each line is a dict of LINE_FIELDS plus `service_type_ids` and, for a line that
    exists, its `id`.
    """
    values = dict(values)
    if lines is None:
        line = {key: values.pop(key) for key in ("kind", "allowed", "frequency") if key in values}
        line["service_type_ids"] = list(service_type_ids)
        if auth is not None and auth.lines:
            line["id"] = auth.lines[0].id
        lines = [line]
    return values, [dict(line) for line in lines]


def _proposed_terms(
    org: Organization, auth: Authorization | None, values: dict, lines: list[dict]
) -> list[authorization_rules.AuthorizationTerms]:
    """The terms of the counting lines the form would save; a new line gets a negative id
    (PREVIEW_ID, PREVIEW_ID - 1, …) while its effect is previewed."""
    found = []
    decision = values.get("decision", decision_rules.APPROVED)
    for position, line in enumerate(lines):
        if not decision_rules.line_counts(decision, line.get("decision", decision_rules.APPROVED)):
            continue
        services = _organization_services(org.id, list(line.get("service_type_ids", ())))
        found.append(
            authorization_rules.AuthorizationTerms(
                id=line.get("id") or PREVIEW_ID - position,
                client_insurance_id=values["client_insurance_id"],
                kind=line["kind"],
                start=line.get("start_date") or values["start_date"],
                end=line.get("end_date") or values["end_date"],
                allowed=line["allowed"],
                frequency=line.get("frequency"),
                service_type_ids=frozenset(s.id for s in services),
                week_start=org.week_start,
                authorization_id=auth.id if auth else PREVIEW_ID,
            )
        )
    return found


def _counted_on(encounter_ids: list[int]) -> dict[int, set[int]]:
    """{encounter id: the authorization lines the stored ledger counts it against}."""
    found: dict[int, set[int]] = {}
    for encounter_id, line_id in db.session.execute(
        select(Allocation.encounter_id, Allocation.line_id).where(
            Allocation.encounter_id.in_(encounter_ids)
        )
    ):
        found.setdefault(encounter_id, set()).add(line_id)
    return found


def _line_labels(client: Client) -> dict[int, str]:
    """{line id: 'A-1' or 'A-1 (97153)'} for the client's authorization lines."""
    labels = {}
    for auth in db.session.scalars(
        select(Authorization)
        .join(Authorization.client_insurance)
        .where(ClientInsurance.client_id == client.id)
    ):
        for line in auth.lines:
            many = len(auth.lines) > 1
            labels[line.id] = auth.display_number + (f" ({line.codes})" if many else "")
    return labels


def kept_moves(
    org: Organization,
    client: Client,
    auth: Authorization | None,
    values: dict | None,
    service_type_ids: list[int] = (),
    lines: list[dict] | None = None,
) -> list[KeptMove]:
    """The Kept visits that saving this change would move, in date order.

    `values` None previews removing `auth`; `lines` as `split_values` takes them.
    Nothing is written.
    """
    own = {line.id for line in auth.lines} if auth else set()
    terms = [t for t in client_terms(org, client.id) if t.id not in own]
    numbers = _line_labels(client)
    if values is not None:
        values, lines = split_values(values, service_type_ids, lines, auth)
        proposed = _proposed_terms(org, auth, values, lines)
        terms.extend(proposed)
        for t in proposed:
            numbers.setdefault(t.id, display_number(values.get("number")))
    kept = db.session.scalars(
        select(Encounter).where(
            Encounter.client_id == client.id, Encounter.status == authorization_rules.KEPT
        )
    ).all()
    if not kept:
        return []
    before = _counted_on([e.id for e in kept])
    after = plan(org, client.id, terms=terms)
    moves = []
    for encounter in sorted(kept, key=lambda e: (e.starts_at, e.id)):
        was = before.get(encounter.id, set())
        now = set(after[encounter.id].placements)
        if was - now:
            moves.append(
                KeptMove(
                    encounter_id=encounter.id,
                    day_label=format_day(local_date(encounter.starts_at, org.timezone)),
                    services=encounter.services_label,
                    leaves=[numbers.get(i, "?") for i in sorted(was - now)],
                    goes_to=[numbers.get(i, "?") for i in sorted(now - was)],
                )
            )
    return moves


def snapshot(auth: Authorization) -> dict:
    """The authorization's columns and its lines' (with their service ids), for the audit."""
    values = audit.snapshot(auth)
    values["lines"] = [
        {**audit.snapshot(line), "service_type_ids": sorted(s.id for s in line.service_types)}
        for line in auth.lines
    ]
    return values


def apply_lines(auth: Authorization, lines: list[dict], org_id: int) -> None:
    """Make `auth.lines` the given lines: a line with an `id` of this authorization is
    updated in place (so Kept visits stay on it), one without is added, the others go.
    Service types are looked up scoped to `org_id`, so a forged id of another practice
    is dropped."""
    existing = {line.id: line for line in auth.lines}
    kept_lines = []
    for position, values in enumerate(lines):
        line = existing.get(values.get("id")) or AuthorizationLine(organization_id=org_id)
        for key in LINE_FIELDS:
            if key in values:
                setattr(line, key, values[key])
        if line.decision is None:
            line.decision = decision_rules.APPROVED
        line.position = position
        line.service_types = _organization_services(org_id, list(values["service_type_ids"]))
        kept_lines.append(line)
    auth.lines = kept_lines


def save_authorization(
    auth: Authorization | None,
    client: Client,
    values: dict,
    service_type_ids: list[int] = (),
    *,
    actor: User,
    lines: list[dict] | None = None,
) -> Authorization:
    """Create or update an authorization and its lines, keep an audit event, reallocate the
    client's encounters, commit.

    `values`/`service_type_ids`/`lines` as `split_values` takes them. The caller has
    validated the form and had any `kept_moves()` confirmed.
    """
    values, lines = split_values(values, service_type_ids, lines, auth)
    is_new = auth is None
    auth = auth or Authorization(organization_id=actor.organization_id)
    before = None if is_new else snapshot(auth)
    for key, value in values.items():
        setattr(auth, key, value)
    apply_lines(auth, lines, actor.organization_id)
    waiting = auth.decision == decision_rules.PENDED or any(
        line.decision == decision_rules.PENDED for line in auth.lines
    )
    if waiting and auth.requested_at is None:
        auth.requested_at = utcnow()  # the decision clock starts when the request is entered
    db.session.add(auth)
    db.session.flush()
    audit.record(
        organization_id=actor.organization_id,
        user_id=actor.id,
        action="authorization.created" if is_new else "authorization.updated",
        row=auth,
        before=before,
        after=snapshot(auth),
    )
    reallocate_client(actor.organization, client.id)
    db.session.commit()
    return auth


def remove_authorization(auth: Authorization, *, actor: User) -> None:
    """Delete with an audit record of what it was; its lines and allocations go with it."""
    audit.record(
        organization_id=actor.organization_id,
        user_id=actor.id,
        action="authorization.removed",
        row=auth,
        before=snapshot(auth),
    )
    client_id = auth.client_insurance.client_id
    db.session.delete(auth)
    db.session.flush()
    reallocate_client(actor.organization, client_id)
    db.session.commit()


def number_taken(client_insurance_id: int, number: str | None, exclude_id: int | None) -> bool:
    if not number:
        return False
    query = select(Authorization.id).where(
        Authorization.client_insurance_id == client_insurance_id, Authorization.number == number
    )
    if exclude_id:
        query = query.where(Authorization.id != exclude_id)
    return db.session.scalar(query) is not None


@dataclass
class PendingRequest:
    """An authorization request waiting for the payer, with its decision clock."""

    authorization_id: int
    client_id: int
    client_name: str
    number: str
    payer: str
    codes: str
    clock: decision_rules.Clock | None  # None when the request time is not known

    @property
    def overdue(self) -> bool:
        return self.clock is not None and self.clock.overdue


def pending_requests(org: Organization, now) -> list[PendingRequest]:
    """The organization's authorization requests still waiting for the payer (the
    authorization, or one of its lines, is pending), oldest first, each with its age
    against the payer's decision clock (72 hours expedited, 7 days standard:
    CMS-0057-F). For the Today / attention work lists. `now` is naive UTC.
    """
    rows = db.session.scalars(
        select(Authorization)
        .join(Authorization.client_insurance)
        .where(
            Authorization.organization_id == org.id,
            ClientInsurance.active.is_(True),
            or_(
                Authorization.decision == decision_rules.PENDED,
                Authorization.id.in_(
                    select(AuthorizationLine.authorization_id).where(
                        AuthorizationLine.organization_id == org.id,
                        AuthorizationLine.decision == decision_rules.PENDED,
                    )
                ),
            ),
        )
        .options(
            selectinload(Authorization.lines).selectinload(AuthorizationLine.service_types),
            joinedload(Authorization.client_insurance).joinedload(ClientInsurance.payer),
            joinedload(Authorization.client_insurance).joinedload(ClientInsurance.client),
        )
    ).unique()
    found = []
    for auth in rows:
        waiting = [x for x in auth.lines if x.decision == decision_rules.PENDED]
        if auth.decision == decision_rules.PENDED:
            waiting = list(auth.lines)
        client = auth.client_insurance.client
        found.append(
            PendingRequest(
                authorization_id=auth.id,
                client_id=client.id,
                client_name=client.full_name,
                number=auth.display_number,
                payer=auth.client_insurance.payer.name,
                codes=", ".join(x.codes for x in waiting),
                clock=None
                if auth.requested_at is None
                else decision_rules.Clock(auth.requested_at, auth.urgency, now),
            )
        )
    found.sort(
        key=lambda p: (p.clock is None, p.clock.due if p.clock else None, p.authorization_id)
    )
    return found

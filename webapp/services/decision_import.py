"""Import a payer's prior-authorization decision (Da Vinci PAS) into authorization lines.

`upload()` reads the file (`webapp.domain.payer_decisions.read_decisions`), checks that
every decision can be applied (each response matches one client insurance of the
organization by member id and payer identifier, every code is one of its services,
every quantity is one Covered counts) and keeps the file as it came, access-controlled
(`PayerDecisionFile`: health information). Nothing else is written. `preview()` says,
item by item, what applying would do; `apply()` does it in one transaction:

- the authorization of a decision is found by the request it answers (payer and
  response identifier), else by its number under that insurance, else created;
- its line by the item's sequence, else created; a newer decision replaces the line's
  values, the same decision changes nothing, an older one is refused (left as it is,
  with a message) — so applying a file twice changes nothing;
- every applied item is an audit event naming the file; the clients' visits are
  placed again (`reallocate_client`).

A bad file is refused whole with a message naming what is wrong (`DecisionImportRefused`).
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from webapp.domain import decision_import_rules, decision_rules
from webapp.domain.decision_import_rules import ItemProblem, LineDraft
from webapp.domain.pas_terms import DecisionFileError, ItemDecision, PayerResponse
from webapp.domain.payer_decisions import read_decisions
from webapp.domain.windows import format_day
from webapp.extensions import db
from webapp.models import (
    Authorization,
    AuthorizationLine,
    ClientInsurance,
    Payer,
    PayerDecisionFile,
    ServiceType,
    User,
)
from webapp.models.base import utcnow
from webapp.models.organization import Organization
from webapp.services import audit
from webapp.services.allocation import reallocate_client
from webapp.services.authorizations import snapshot
from webapp.services.errors import Refused

MAX_FILE_BYTES = 2 * 1024 * 1024
CREATE, CHANGE, UNCHANGED, REFUSED, SKIPPED = "create", "change", "unchanged", "refused", "skipped"
ACTION_LABELS = {
    CREATE: "New line",
    CHANGE: "Line changed",
    UNCHANGED: "Already applied",
    REFUSED: "Older decision: refused",
    SKIPPED: "Nothing to apply",
}


class DecisionImportRefused(Refused):
    """A decision file that cannot be imported; nothing was written."""

    status = 422


@dataclass
class ItemPlan:
    """What applying does with one item's decision."""

    response: PayerResponse
    item: ItemDecision
    insurance: ClientInsurance
    draft: LineDraft | None
    authorization: Authorization | None
    line: AuthorizationLine | None
    action: str
    message: str = ""

    @property
    def action_label(self) -> str:
        return ACTION_LABELS[self.action]

    @property
    def decision_label(self) -> str:
        return decision_rules.DECISION_LABELS.get(self.item.state, self.item.state)

    @property
    def number(self) -> str | None:
        return self.item.authorization_number or self.response.pre_auth_ref


@dataclass
class ImportPlan:
    file: PayerDecisionFile
    items: list[ItemPlan] = field(default_factory=list)

    @property
    def changes(self) -> list[ItemPlan]:
        return [i for i in self.items if i.action in (CREATE, CHANGE)]


def _request_key(response: PayerResponse) -> str:
    payer = response.payer
    ident = response.response_id
    return f"{payer.system or ''}|{payer.value}|{ident.system or ''}|{ident.value}"[:200]


def _insurance(org: Organization, response: PayerResponse) -> ClientInsurance:
    found = db.session.scalars(
        select(ClientInsurance)
        .join(Payer, Payer.id == ClientInsurance.payer_id)
        .where(
            ClientInsurance.organization_id == org.id,
            func.lower(Payer.payer_identifier) == response.payer.value.strip().lower(),
            ClientInsurance.member_id == response.member_id.value.strip(),
        )
        .options(joinedload(ClientInsurance.client), joinedload(ClientInsurance.payer))
    ).all()
    payer_known = db.session.scalar(
        select(Payer.id).where(
            Payer.organization_id == org.id,
            func.lower(Payer.payer_identifier) == response.payer.value.strip().lower(),
        )
    )
    if payer_known is None:
        raise DecisionImportRefused(
            f"Unknown payer: no payer of this practice has the identifier "
            f"{response.payer.value!r} ({response.payer.kind}). Add it to the payer under "
            "Admin › Payers, then upload the file again."
        )
    if not found:
        raise DecisionImportRefused(
            f"Unknown member id {response.member_id.value!r}: no client insurance with this "
            "payer has it."
        )
    if len(found) > 1:
        raise DecisionImportRefused(
            f"Member id {response.member_id.value!r} belongs to {len(found)} client insurances "
            "with this payer; Covered cannot tell which one the decision is for."
        )
    return found[0]


def _authorization(
    insurance: ClientInsurance, response: PayerResponse, number: str | None
) -> Authorization | None:
    by_request = db.session.scalar(
        select(Authorization).where(
            Authorization.client_insurance_id == insurance.id,
            Authorization.request_key == _request_key(response),
        )
    )
    if by_request is not None or not number:
        return by_request
    return db.session.scalar(
        select(Authorization).where(
            Authorization.client_insurance_id == insurance.id, Authorization.number == number
        )
    )


def _services(org: Organization, drafts: list[LineDraft]) -> dict[str, ServiceType]:
    codes = sorted({code for d in drafts for code in d.codes})
    services = {
        s.cpt_code.upper(): s
        for s in db.session.scalars(
            select(ServiceType).where(
                ServiceType.organization_id == org.id,
                func.upper(ServiceType.cpt_code).in_([c.upper() for c in codes]),
            )
        )
    }
    missing = [c for c in codes if c.upper() not in services]
    if missing:
        raise DecisionImportRefused(
            f"Service code {', '.join(missing)} is not a service type of this practice; add it "
            "under Admin › Service types, then upload the file again."
        )
    return services


def _known_services(org: Organization, drafts: list[LineDraft]) -> dict[str, ServiceType]:
    codes = sorted({code.upper() for d in drafts for code in d.codes})
    return {
        s.cpt_code.upper(): s
        for s in db.session.scalars(
            select(ServiceType).where(
                ServiceType.organization_id == org.id, func.upper(ServiceType.cpt_code).in_(codes)
            )
        )
    }


def _plan(org: Organization, row: PayerDecisionFile, decisions) -> ImportPlan:
    plan = ImportPlan(row)
    for response in decisions.responses:
        insurance = _insurance(org, response)
        when = decision_import_rules.decided_at(response)
        for item in response.items:
            if item.state not in decision_rules.DECISIONS:
                plan.items.append(
                    ItemPlan(response, item, insurance, None, None, None, SKIPPED,
                             f"{item.review_action}: no decision to record.")
                )  # fmt: skip
                continue
            try:
                draft = decision_import_rules.line_draft(item)
            except ItemProblem as problem:
                raise DecisionImportRefused(problem.message) from problem
            number = item.authorization_number or response.pre_auth_ref
            auth = _authorization(insurance, response, number)
            line = None
            if auth is not None:
                line = next((x for x in auth.lines if x.item_sequence == item.item_sequence), None)
            order = decision_import_rules.order(when, line.decided_at if line else None)
            action = {decision_import_rules.NEW: CREATE, decision_import_rules.NEWER: CHANGE,
                      decision_import_rules.SAME: UNCHANGED,
                      decision_import_rules.OLDER: REFUSED}[order]  # fmt: skip
            message = ""
            if action == REFUSED:
                message = (
                    f"A newer decision (made {format_day(line.decided_at.date())}) is already "
                    "applied to this line; this older one is not."
                )
            plan.items.append(
                ItemPlan(response, item, insurance, draft, auth, line, action, message)
            )
    _services(org, _granting(plan))
    return plan


def _granting(plan: ImportPlan) -> list[LineDraft]:
    """The drafts whose codes must be services of the practice: those that grant. A
    pended or denied line keeps only the requested codes the practice knows."""
    return [
        i.draft
        for i in plan.items
        if i.draft is not None and i.draft.decision in decision_rules.GRANTING
    ]


def _read(raw: bytes):
    try:
        return read_decisions(raw)
    except DecisionFileError as error:
        raise DecisionImportRefused(str(error)) from error


def upload(org: Organization, actor: User, filename: str, raw: bytes) -> PayerDecisionFile:
    """Check a decision file and keep it (not applied yet); the same file again is the
    row already kept. Commits.

    Raises:
        DecisionImportRefused: too big, not a PAS decision (the reader's message), or
            not applicable here (unknown payer or member id, unknown service code, a
            quantity Covered does not count). Nothing is written.
    """
    if len(raw) > MAX_FILE_BYTES:
        raise DecisionImportRefused("The file is larger than 2 MB; a decision file is far smaller.")
    decisions = _read(raw)
    digest = hashlib.sha256(raw).hexdigest()
    row = db.session.scalar(
        select(PayerDecisionFile).where(
            PayerDecisionFile.organization_id == org.id, PayerDecisionFile.sha256 == digest
        )
    )
    if row is None:
        row = PayerDecisionFile(
            organization_id=org.id,
            sha256=digest,
            filename=(filename or "decision.json")[:255],
            content=raw,
            uploaded_by_id=actor.id,
        )
    _plan(org, row, decisions)  # refuses what cannot be applied, before anything is kept
    db.session.add(row)
    db.session.commit()
    return row


def preview(org: Organization, row: PayerDecisionFile) -> ImportPlan:
    """What applying the kept file would do, item by item; nothing is written.

    Raises:
        DecisionImportRefused: the file no longer applies (a payer, insurance or
            service was changed since it was uploaded).
    """
    return _plan(org, row, _read(row.content))


def apply(org: Organization, row: PayerDecisionFile, *, actor: User) -> ImportPlan:
    """Apply the kept file's decisions in one transaction (module docstring); commits.

    Raises:
        DecisionImportRefused: as `preview`; nothing is written.
    """
    try:
        plan = preview(org, row)
        services = _services(org, _granting(plan))
        services |= _known_services(org, [i.draft for i in plan.items if i.draft is not None])
        touched: dict[str, Authorization] = {}  # by request key
        for item in plan.changes:
            _write(org, item, services, actor, row, touched)
        authorizations = {a.id: a for a in touched.values()}.values()
        for auth in authorizations:
            auth.decision = decision_import_rules.overall_decision(x.decision for x in auth.lines)
        db.session.flush()
        row.applied_at = row.applied_at or utcnow()
        for client_id in sorted({a.client_insurance.client_id for a in authorizations}):
            reallocate_client(org, client_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return plan


def _write(org, item: ItemPlan, services, actor, row, touched) -> Authorization:
    """Create or change the item's authorization and line; keeps an audit event."""
    response, draft = item.response, item.draft
    key = _request_key(response)
    auth = touched.get(key) or item.authorization
    when = decision_import_rules.decided_at(response)
    if auth is None:
        start = draft.start or when.date()
        auth = Authorization(
            organization_id=org.id,
            client_insurance_id=item.insurance.id,
            start_date=start,
            end_date=draft.end or start,
            decision=draft.decision,
        )
        db.session.add(auth)
    before = None if auth.id is None else snapshot(auth)
    auth.client_insurance = item.insurance
    auth.request_key = auth.request_key or key
    if item.number and not auth.number:
        auth.number = item.number
    _widen(auth, draft.start, draft.end)
    line = next((x for x in auth.lines if x.item_sequence == draft.item_sequence), None)
    if line is None:
        line = AuthorizationLine(organization_id=org.id, item_sequence=draft.item_sequence,
                                 position=len(auth.lines))  # fmt: skip
        auth.lines.append(line)
    line.kind, line.allowed, line.frequency = draft.kind, draft.allowed, draft.frequency
    line.decision, line.requested, line.decided_at = draft.decision, draft.requested, when
    own = (draft.start, draft.end) != (auth.start_date, auth.end_date)
    line.start_date = draft.start if own else None
    line.end_date = draft.end if own else None
    known = [services[c.upper()] for c in draft.codes if c.upper() in services]
    if known or draft.decision in decision_rules.GRANTING:
        line.service_types = known
    if draft.decision == decision_rules.PENDED and auth.requested_at is None:
        auth.requested_at = when
    db.session.flush()
    touched[key] = auth
    audit.record(
        organization_id=org.id,
        user_id=actor.id,
        action="authorization.decision_imported",
        row=auth,
        before=before,
        after={**snapshot(auth), "file_id": row.id, "file_sha256": row.sha256,
               "item_sequence": draft.item_sequence, "review_action": item.item.review_action},
    )  # fmt: skip
    return auth


def _widen(auth: Authorization, start: date | None, end: date | None) -> None:
    if start is not None and (auth.start_date is None or start < auth.start_date):
        auth.start_date = start
    if end is not None and (auth.end_date is None or end > auth.end_date):
        auth.end_date = end
    if auth.end_date < auth.start_date:
        auth.end_date = auth.start_date


def recent_files(org: Organization, limit: int = 20) -> list[PayerDecisionFile]:
    """The organization's decision files, newest first."""
    return list(
        db.session.scalars(
            select(PayerDecisionFile)
            .where(PayerDecisionFile.organization_id == org.id)
            .order_by(PayerDecisionFile.created_at.desc(), PayerDecisionFile.id.desc())
            .limit(limit)
        )
    )


def lines_by_client(plan: ImportPlan) -> dict[int, list[ItemPlan]]:
    """The plan's items grouped by client id (for the preview)."""
    grouped: dict[int, list[ItemPlan]] = defaultdict(list)
    for item in plan.items:
        grouped[item.insurance.client_id].append(item)
    return grouped

"""Automation rules (admin) and their runs (RQ jobs after Finalize / Cancel).

The rule is chosen when the event happens, in the same transaction that changes
the encounter, and kept on an AutomationRun row: the encounter page says at once
which rule runs and which others matched. The job (enqueued after the commit)
does the money work through `services.charges`, whose compare-and-set makes an
automation racing a person, or a re-run, move money once; the loser's message
is written on the run and shown on the page.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from rq.job import Job
from sqlalchemy import func, select, update

from webapp.domain import billing_rules
from webapp.domain.preauth_rules import HELD, PROCESSING, SCHEDULED, STATE_LABELS
from webapp.extensions import db
from webapp.models import Automation, AutomationRun, Encounter, Organization, User
from webapp.models.base import utcnow
from webapp.payments.gateway import TransientGatewayError
from webapp.services import audit, charges, preauth, pricing, queue, settlement
from webapp.services.errors import Refused
from webapp.services.queue import job_will_run

QUEUED, RUNNING, DONE, SKIPPED, FAILED, NO_RULE = (
    "queued",
    "running",
    "done",
    "skipped",
    "failed",
    "no_rule",
)
UNFINISHED = (QUEUED, RUNNING)
RUN_STATUS_LABELS = {
    QUEUED: "Queued",
    RUNNING: "Running",
    DONE: "Done",
    SKIPPED: "Nothing to do",
    FAILED: "Failed",
    NO_RULE: "No rule",
}
LOST_AFTER = timedelta(minutes=5)  # an unfinished run with no live job: enqueue it again


class RuleRefused(Refused):
    """A rule an admin cannot add (`field`: "action" or "disposition", the form's field)."""


# --- rules -----------------------------------------------------------------------------


def organization_rules(organization_id: int) -> list[Automation]:
    return db.session.scalars(
        select(Automation)
        .where(Automation.organization_id == organization_id)
        .order_by(Automation.position, Automation.id)
    ).all()


def as_rule(row: Automation) -> billing_rules.Rule:
    return billing_rules.Rule(row.id, row.event, row.action, row.disposition, row.active)


def add_rule(org: Organization, event: str, action: str, disposition: str | None, *, actor: User):
    """Append a rule at the end of the list.

    Raises:
        RuleRefused: the rule cannot be added (`field` says which); nothing saved.
    """
    disposition = disposition or None
    problem = billing_rules.rule_refusal(event, action, disposition)
    if problem:
        raise RuleRefused(problem, "disposition" if "disposition" in problem else "action")
    last = db.session.scalar(
        select(func.max(Automation.position)).where(Automation.organization_id == org.id)
    )
    rule = Automation(
        organization_id=org.id,
        event=event,
        action=action,
        disposition=disposition,
        position=(last or 0) + 1,
        active=True,
    )
    db.session.add(rule)
    db.session.flush()
    _audit(rule, "automation.created", actor)
    db.session.commit()
    return rule


def move_rule(rule: Automation, direction: str, *, actor: User) -> None:
    """Swap with the neighbour above ("up") or below ("down"); positions renumbered 1..n."""
    rules = organization_rules(rule.organization_id)
    index = rules.index(rule)
    other = index - 1 if direction == "up" else index + 1
    if direction in ("up", "down") and 0 <= other < len(rules):
        rules[index], rules[other] = rules[other], rules[index]
    for position, row in enumerate(rules, start=1):
        row.position = position
    _audit(rule, f"automation.moved_{direction}", actor)
    db.session.commit()


def set_active(rule: Automation, active: bool, *, actor: User) -> None:
    before = audit.snapshot(rule)
    rule.active = active
    _audit(rule, "automation.enabled" if active else "automation.disabled", actor, before)
    db.session.commit()


def delete_rule(rule: Automation, *, actor: User) -> None:
    _audit(rule, "automation.deleted", actor, audit.snapshot(rule))
    organization_id = rule.organization_id
    db.session.delete(rule)
    db.session.flush()
    for position, row in enumerate(organization_rules(organization_id), start=1):
        row.position = position
    db.session.commit()


def _audit(rule: Automation, action: str, actor: User, before: dict | None = None) -> None:
    audit.record(
        organization_id=rule.organization_id,
        user_id=actor.id,
        action=action,
        row=rule,
        before=before,
        after=None if action == "automation.deleted" else audit.snapshot(rule),
    )


STARTER_RULES = (
    (
        billing_rules.ENCOUNTER_CANCELLED,
        billing_rules.CHARGE_CANCELLATION_FEE,
        billing_rules.LATE_CANCELLATION,
    ),
    (
        billing_rules.ENCOUNTER_CANCELLED,
        billing_rules.CHARGE_CANCELLATION_FEE,
        billing_rules.NO_SHOW_DISPOSITION,
    ),
    (billing_rules.ENCOUNTER_CANCELLED, billing_rules.RELEASE_PREAUTH, None),
    (billing_rules.ENCOUNTER_FINALIZED, billing_rules.CHARGE_PREAUTH, None),
)


def starter_rules(organization_id: int) -> list[Automation]:
    """A sensible first set (the demo practice's): fees for late cancellations and
    no-shows, release for other cancellations, charge when finalized."""
    return [
        Automation(organization_id=organization_id, event=event, action=action,
                   disposition=disposition, position=position, active=True)
        for position, (event, action, disposition) in enumerate(STARTER_RULES, start=1)
    ]  # fmt: skip


def preview_match(organization_id: int, event: str, disposition: str | None) -> billing_rules.Match:
    """Which rule would run for this event (the Finalize / Cancel dialogs show it)."""
    rules = [as_rule(r) for r in organization_rules(organization_id)]
    return billing_rules.match_rule(rules, event, disposition)


@dataclass
class EffectPreview:
    """What Finalize / Cancel will do to *this* visit's money, before anyone presses it."""

    match: billing_rules.Match
    sentence: str


def preview_effect(encounter: Encounter, event: str, disposition: str | None) -> EffectPreview:
    """The rule that would run, and what it would do to this visit now, in words:
    "Capture $40.00 from the hold (the whole hold).", "Nothing to charge: there is no
    hold on this appointment.", "No rule matches: …"."""
    match = preview_match(encounter.organization_id, event, disposition)
    if match.winner is None:
        return EffectPreview(match, "No rule matches: nothing is charged or released by itself.")
    row = preauth.for_encounter(encounter.id)
    state = row.state if row else None
    action = match.winner.action
    if action == billing_rules.CHARGE_CANCELLATION_FEE:
        fee = pricing.fee_total(encounter)
        held = row.amount_cents if state == HELD else None
        plan = billing_rules.cancellation_fee_plan(held, fee)
        if not plan.moves_money:
            return EffectPreview(
                match, "No cancellation fee on these services: nothing is charged."
            )
        return EffectPreview(match, " ".join(plan.describe(_card_label(encounter, row))))
    verb = "charge" if action == billing_rules.CHARGE_PREAUTH else "release"
    if state != HELD:
        return EffectPreview(match, f"Nothing to {verb}: {_no_hold(state, event, verb)}")
    plan = (
        billing_rules.charge_plan(row.amount_cents, pricing.cost_total(encounter))
        if action == billing_rules.CHARGE_PREAUTH
        else billing_rules.release_plan(row.amount_cents)
    )
    return EffectPreview(match, " ".join(plan.describe(_card_label(encounter, row))))


def _card_label(encounter: Encounter, row) -> str | None:
    card = settlement.card_for(encounter, row)
    return card.label if card else None


def _no_hold(state: str | None, event: str, verb: str) -> str:
    if state is None:
        return "there is no hold on this appointment."
    if state == SCHEDULED and event == billing_rules.ENCOUNTER_FINALIZED:
        return "the hold has not been placed yet; it is called off, so create an invoice."
    if state == SCHEDULED:
        return "the hold has not been placed yet; it is called off with the appointment."
    if state == PROCESSING:
        return f"the hold is being placed right now; the rule will {verb} it once it is."
    label = STATE_LABELS.get(state, state).lower()
    return f"no money is held (the pre-authorization is {label})."


# --- runs ------------------------------------------------------------------------------


def record_event(encounter: Encounter, event: str, *, actor: User | None) -> AutomationRun:
    """Choose the rule for this event and keep the choice; the caller commits, then
    calls `enqueue(run)`."""
    match = preview_match(encounter.organization_id, event, encounter.disposition)
    winner = match.winner
    run = AutomationRun(
        organization_id=encounter.organization_id,
        encounter_id=encounter.id,
        event=event,
        disposition=encounter.disposition,
        automation_id=winner.id if winner else None,
        action=winner.action if winner else None,
        rule_number=match.number,
        rule_label=billing_rules.rule_label(winner) if winner else None,
        explanation=match.explanation(),
        also_matched=[number for number, _ in match.also],
        status=QUEUED if winner else NO_RULE,
        created_by_id=actor.id if actor else None,
    )
    if winner is None:
        run.outcome = "Nothing was charged or released automatically."
        run.finished_at = utcnow()
    db.session.add(run)
    db.session.flush()
    return run


def enqueue(run: AutomationRun) -> bool:
    """After the commit: the job that carries the rule out. False when Redis is away:
    the run row stays queued and the every-minute sweep (`requeue_lost`) enqueues it."""
    if run.status not in UNFINISHED:
        return False
    return queue.enqueue(
        "jobs.automations.run",
        run.encounter_id,
        run.event,
        job_id=run.job_id,
        retry="AUTOMATION_RETRY_INTERVALS",
        description=f"Automation for encounter {run.encounter_id}: {run.rule_label}",
    )


def latest_run(encounter_id: int, event: str | None = None) -> AutomationRun | None:
    query = select(AutomationRun).where(AutomationRun.encounter_id == encounter_id)
    if event:
        query = query.where(AutomationRun.event == event)
    return db.session.scalar(query.order_by(AutomationRun.id.desc()).limit(1))


ACTION_FUNCTIONS = {
    billing_rules.CHARGE_PREAUTH: charges.charge,
    billing_rules.RELEASE_PREAUTH: charges.release,
    billing_rules.CHARGE_CANCELLATION_FEE: charges.charge_cancellation_fee,
}


def carry_out(
    encounter_id: int, event: str, now: datetime | None = None, *, can_retry: bool = True
) -> str:
    """The job's work: run the chosen rule for the encounter's latest `event`.

    1. Claim the run (queued/running → running); a finished run does nothing.
    2. Finish payments a crashed earlier attempt of this job left pending (same
       keys; its retry may take them at once), or report them if the sweep did.
    3. Otherwise do the rule's action; "already charged by …" is recorded as
       skipped, with the message.
    Transient problems (gateway down, hold being placed, a charge in progress)
    raise while `can_retry` (RQ retries with backoff); the last try records the failure.

    Raises:
        charges.InProgress: the hold is being placed, or a charge is in progress,
            and RQ may retry (`can_retry`).
        TransientGatewayError: the gateway did not answer and RQ may retry.
    """
    now = now or utcnow()
    run = latest_run(encounter_id, event)
    if run is None or run.status not in UNFINISHED:
        return "nothing to do"
    claimed = db.session.execute(
        update(AutomationRun)
        .where(AutomationRun.id == run.id, AutomationRun.status.in_(UNFINISHED))
        .values(status=RUNNING, attempts=AutomationRun.attempts + 1),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    if claimed.rowcount != 1:
        return "nothing to do"
    db.session.refresh(run)
    encounter = db.session.get(Encounter, encounter_id)
    source, owner = run.rule_label, run.job_id
    try:
        outcome = settlement.settle_encounter(encounter_id, now, owner=owner)
        outcome = outcome or settlement.outcome_of_job(owner)
        if outcome is None:
            row = preauth.for_encounter(encounter_id)
            if row is not None and row.state == PROCESSING:
                raise charges.InProgress("The hold is being placed right now.")
            action = ACTION_FUNCTIONS[run.action]
            outcome = action(encounter, actor=None, source=source, now=now, owner=owner)
    except charges.ChargeRefused as refused:
        return _finish(run, SKIPPED, refused.message)
    except TransientGatewayError as error:
        if can_retry:
            db.session.rollback()
            raise
        return _finish(run, FAILED, f"Gave up after retries: {error.message}")
    if outcome.pending and can_retry:
        # The settle job finishes the payments; this run is retried to report them.
        raise charges.InProgress(outcome.message)
    status = FAILED if outcome.level == "danger" else DONE
    return _finish(run, status, outcome.message)


def _finish(run: AutomationRun, status: str, message: str) -> str:
    db.session.rollback()
    db.session.execute(
        update(AutomationRun)
        .where(AutomationRun.id == run.id, AutomationRun.status == RUNNING)
        .values(status=status, outcome=message[:500], finished_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()
    return f"{status}: {message}"


def requeue_lost(now: datetime | None = None) -> list[int]:
    """Unfinished runs older than LOST_AFTER whose job is gone (a killed worker, Redis
    flushed) are enqueued again; the run and the charges are safe to repeat."""
    now = now or utcnow()
    runs = db.session.scalars(
        select(AutomationRun)
        .where(AutomationRun.status.in_(UNFINISHED), AutomationRun.created_at < now - LOST_AFTER)
        .order_by(AutomationRun.id)
        .limit(500)
    ).all()
    requeued = []
    for run in runs:
        job = Job.fetch_many([run.job_id], queue.redis_connection())[0]
        if job_will_run(job, now):
            continue
        if job is not None:
            job.delete()
        if enqueue(run):  # Redis away: the next sweep tries again
            requeued.append(run.id)
    return requeued

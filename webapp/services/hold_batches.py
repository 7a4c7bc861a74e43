"""Placing every hold that is due, many at once: the hold job's work.

Visits cluster on the hour, so 1,000 holds can fall due at one instant, and each hold
is a gateway call of a few hundred milliseconds at Stripe: one after another, a worker
places about 2 a second (issue 14). So a hold job places every due hold, not only its
own, and waits on the gateway from several threads:

- a hold may be placed from `run_at − PREAUTH_LEAD_SECONDS` (its job is scheduled
  then: `preauth_state.enqueue`), never earlier;
- a run takes due scheduled rows PREAUTH_BATCH_SIZE at a time, oldest first, and
  places them from PREAUTH_GATEWAY_THREADS threads, each with its own app context
  and database session;
- every row goes through `preauth_runs.place_hold`, unchanged: claimed by
  compare-and-set on (id, attempt), the gateway asked with the attempt's idempotency
  key, the outcome written by compare-and-set. Two runs that take the same row (two
  workers, a run and the row's own job, a job the sweeper sent) place one hold: one
  wins the claim and the other finds the row not scheduled. A run killed in the
  middle of a batch leaves the rows it claimed in processing, and the sweeper settles
  them by asking the gateway, as for one killed job;
- rows marked for a gateway check (an earlier try got no answer) are left to their
  own job, which retries with RQ's backoff and asks the gateway before writing failed;
  a row of this run whose call gets no answer is put back (`place_hold` marks it) and
  its own job is sent again after the first retry interval;
- the jobs of the rows a run finished are deleted while they still wait (they would
  find nothing to do: one fork each for 1,000 holds);
- a run stops taking rows after half the hold job's timeout, so that RQ never stops
  it in the middle of a call; rows left over are placed by their own jobs.
"""

import logging
import random
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from webapp.config import PREAUTH_JOB_TIMEOUT_SECONDS
from webapp.domain.preauth_rules import SCHEDULED
from webapp.extensions import db
from webapp.models import PreAuthorization
from webapp.models.base import utcnow
from webapp.payments.gateway import TransientGatewayError
from webapp.services import preauth_state, queue
from webapp.services.preauth_runs import HoldRun, place_hold

log = logging.getLogger(__name__)

# A run takes no new rows after this many seconds (it must end before RQ's timeout).
TAKE_ROWS_FOR_SECONDS = PREAUTH_JOB_TIMEOUT_SECONDS / 2


@dataclass
class BatchRun:
    """What one run did: each row's outcome, and the rows sent back to their own job."""

    outcomes: dict[int, HoldRun] = field(default_factory=dict)  # preauth id → outcome
    sent_back: list[int] = field(default_factory=list)  # no answer: own job, later
    errors: list[int] = field(default_factory=list)  # unexpected error: the sweeper's


def due_rows(now: datetime, limit: int, skip: set[int] = frozenset()) -> list[tuple[int, int]]:
    """(id, attempt) of up to `limit` scheduled rows that may be placed at `now` (naive
    UTC: run_at ≤ now + PREAUTH_LEAD_SECONDS) and are not marked for a gateway check,
    oldest run_at first, leaving out the ids in `skip`."""
    lead = timedelta(seconds=current_app.config["PREAUTH_LEAD_SECONDS"])
    statement = (
        select(PreAuthorization.id, PreAuthorization.attempt)
        .where(
            PreAuthorization.state == SCHEDULED,
            PreAuthorization.run_at <= now + lead,
            PreAuthorization.gateway_check_due.is_(False),
        )
        .order_by(PreAuthorization.run_at, PreAuthorization.id)
        .limit(limit)
    )
    if skip:
        statement = statement.where(PreAuthorization.id.not_in(skip))
    rows = [(row.id, row.attempt) for row in db.session.execute(statement)]
    db.session.commit()  # end the read: no transaction stays open while the threads write
    return rows


def place_due_holds(
    own: tuple[int, int] | None = None, *, can_retry: bool = False, now: datetime | None = None
) -> tuple[HoldRun | None, BatchRun]:
    """Place the job's own hold (`own` = (id, attempt), with RQ's `can_retry`) and every
    other hold due by `now` (naive UTC; the clock when None), concurrently; returns the
    own row's outcome (None without one) and what the run did.

    Raises:
        TransientGatewayError: the own row's call got no answer and RQ may retry it
            (`can_retry`); the other rows were placed first.
    """
    config = current_app.config
    app = current_app._get_current_object()
    size, threads = config["PREAUTH_BATCH_SIZE"], config["PREAUTH_GATEWAY_THREADS"]
    retry_after = (list(config["PREAUTH_RETRY_INTERVALS"]) or [60])[0]
    stop_taking = time.monotonic() + TAKE_ROWS_FOR_SECONDS
    run = BatchRun()
    own_error: TransientGatewayError | None = None
    own_outcome: HoldRun | None = None
    db.session.commit()  # nothing of the caller's stays open across the threads
    skip: set[int] = set()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hold") as pool:
        batch = [own] if own else []
        while True:
            clock = now or utcnow()
            others = due_rows(clock, size, skip | ({own[0]} if own else set()))
            random.shuffle(others)  # runs side by side collide on fewer claims
            batch += others
            if not batch:
                break
            futures = [
                (row, pool.submit(_place, app, row, can_retry if row == own else True))
                for row in batch
            ]
            for (row_id, attempt), future in futures:
                outcome, error = _result(future)
                if (row_id, attempt) == own:
                    own_outcome = outcome
                    if isinstance(error, TransientGatewayError):
                        own_error = error
                elif isinstance(error, TransientGatewayError):
                    # place_hold put it back, marked for a check: its own job retries it.
                    preauth_state.send_job(
                        row_id, attempt, utcnow() + timedelta(seconds=retry_after)
                    )
                    run.sent_back.append(row_id)
                if outcome is not None:
                    run.outcomes[row_id] = outcome
                elif error is not None and not isinstance(error, TransientGatewayError):
                    run.errors.append(row_id)
                if outcome in (None, HoldRun.NOT_SCHEDULED):
                    skip.add(row_id)
            done = [
                row
                for row in others
                if run.outcomes.get(row[0]) not in (None, HoldRun.NOT_SCHEDULED, HoldRun.LOST_ROW)
            ]
            queue.drop_waiting([preauth_state.job_id(*row) for row in done])
            batch = []
            if not others or time.monotonic() > stop_taking:
                break
    if own_error is not None:
        raise own_error
    return own_outcome, run


def _place(app, row: tuple[int, int], can_retry: bool) -> HoldRun:
    preauth_id, attempt = row
    with app.app_context():
        try:
            return place_hold(preauth_id, attempt, can_retry=can_retry)
        finally:
            db.session.remove()


def _result(future: Future) -> tuple[HoldRun | None, BaseException | None]:
    try:
        return future.result(), None
    except TransientGatewayError as error:
        return None, error
    except Exception as error:  # the row stays in processing: the sweeper settles it
        log.exception("placing a hold failed unexpectedly")
        return None, error

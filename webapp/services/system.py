"""What the System page shows: worker heartbeat, RQ's scheduler, queues, scheduled and
failed jobs, and the oldest hold that is overdue."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from rq import Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler
from sqlalchemy import func, select

from webapp.domain.preauth_rules import PROCESSING, SCHEDULED
from webapp.extensions import db
from webapp.models import PreAuthorization
from webapp.services.queue import QUEUE_NAMES, queue, redis_connection, scheduler_grace

HEARTBEAT_KEY = "covered:heartbeat"
HEALTHY_AFTER_SECONDS = 120
# A hold not placed this long after its run_at is overdue (issue 14: within a minute).
HOLD_OVERDUE_AFTER = timedelta(minutes=1)


@dataclass
class QueueStatus:
    name: str
    queued: int
    started: int
    scheduled: int
    failed: int
    scheduled_overdue: int = 0  # past their time by more than the scheduler's grace
    oldest_overdue_at: datetime | None = None  # the oldest of those (aware UTC)


@dataclass
class SchedulerStatus:
    """RQ's scheduler: the worker holding its lock (None: no scheduler is running) and
    whether scheduled jobs wait past their time (the scheduler is not moving them)."""

    holder: str | None
    overdue_jobs: int
    oldest_overdue_at: datetime | None  # aware UTC

    @property
    def ok(self) -> bool:
        return self.holder is not None and self.overdue_jobs == 0


@dataclass
class OverdueHolds:
    """This practice's holds not placed a minute after their run_at."""

    count: int
    oldest_run_at: datetime | None  # naive UTC
    oldest_encounter_id: int | None
    oldest_seconds: int | None = None  # how long past its run_at the oldest is


@dataclass
class SystemStatus:
    redis_ok: bool
    error: str | None = None
    heartbeat_at: datetime | None = None
    heartbeat_age_seconds: int | None = None
    workers: list[dict] = field(default_factory=list)
    queues: list[QueueStatus] = field(default_factory=list)
    scheduler: SchedulerStatus | None = None

    @property
    def heartbeat_ok(self) -> bool:
        return (
            self.heartbeat_age_seconds is not None
            and self.heartbeat_age_seconds < HEALTHY_AFTER_SECONDS
        )


def record_heartbeat(now: datetime) -> None:
    redis_connection().set(HEARTBEAT_KEY, now.isoformat())


def last_heartbeat() -> datetime | None:
    raw = redis_connection().get(HEARTBEAT_KEY)
    return datetime.fromisoformat(raw.decode()) if raw else None


def current_status(now: datetime | None = None) -> SystemStatus:
    now = now or datetime.now(UTC)
    try:
        connection = redis_connection()
        connection.ping()
        heartbeat_at = last_heartbeat()
        status = SystemStatus(redis_ok=True, heartbeat_at=heartbeat_at)
        if heartbeat_at:
            status.heartbeat_age_seconds = int((now - heartbeat_at).total_seconds())
        status.workers = [
            {"name": w.name, "state": w.get_state(), "last_heartbeat": w.last_heartbeat}
            for w in Worker.all(connection=connection)
        ]
        for name in QUEUE_NAMES:
            q = queue(name)
            scheduled = ScheduledJobRegistry(queue=q)
            overdue = connection.zrangebyscore(
                scheduled.key,
                0,
                (now - scheduler_grace()).timestamp(),
                withscores=True,
            )
            status.queues.append(
                QueueStatus(
                    name=name,
                    queued=q.count,
                    started=StartedJobRegistry(queue=q).count,
                    scheduled=scheduled.count,
                    failed=FailedJobRegistry(queue=q).count,
                    scheduled_overdue=len(overdue),
                    oldest_overdue_at=datetime.fromtimestamp(overdue[0][1], UTC)
                    if overdue
                    else None,
                )
            )
        status.scheduler = scheduler_status(status.queues)
        return status
    except RedisError as error:
        return SystemStatus(redis_ok=False, error=f"Redis is unreachable: {error}")


def scheduler_status(queues: list[QueueStatus]) -> SchedulerStatus:
    """Who holds RQ's scheduler lock of the first queue, and the scheduled jobs of
    `queues` that wait past their time."""
    raw = redis_connection().get(RQScheduler.get_locking_key(QUEUE_NAMES[0]))
    stamps = [q.oldest_overdue_at for q in queues if q.oldest_overdue_at]
    return SchedulerStatus(
        holder=raw.decode() if raw else None,
        overdue_jobs=sum(q.scheduled_overdue for q in queues),
        oldest_overdue_at=min(stamps) if stamps else None,
    )


def overdue_holds(organization_id: int, now: datetime) -> OverdueHolds:
    """The practice's pre-authorizations still scheduled or processing
    HOLD_OVERDUE_AFTER past their run_at (`now` naive UTC): how many, and the oldest."""
    overdue = (
        PreAuthorization.organization_id == organization_id,
        PreAuthorization.state.in_((SCHEDULED, PROCESSING)),
        PreAuthorization.run_at < now - HOLD_OVERDUE_AFTER,
    )
    count = db.session.scalar(select(func.count()).select_from(PreAuthorization).where(*overdue))
    oldest = db.session.execute(
        select(PreAuthorization.run_at, PreAuthorization.encounter_id)
        .where(*overdue)
        .order_by(PreAuthorization.run_at, PreAuthorization.id)
        .limit(1)
    ).first()
    return OverdueHolds(
        count=count or 0,
        oldest_run_at=oldest.run_at if oldest else None,
        oldest_encounter_id=oldest.encounter_id if oldest else None,
        oldest_seconds=int((now - oldest.run_at).total_seconds()) if oldest else None,
    )

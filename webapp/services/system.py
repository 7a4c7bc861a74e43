"""What the System page shows: worker heartbeat, queues, scheduled and failed jobs."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.exceptions import RedisError
from rq import Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from webapp.services.queue import QUEUE_NAMES, queue, redis_connection

HEARTBEAT_KEY = "covered:heartbeat"
HEALTHY_AFTER_SECONDS = 120


@dataclass
class QueueStatus:
    name: str
    queued: int
    started: int
    scheduled: int
    failed: int


@dataclass
class SystemStatus:
    redis_ok: bool
    error: str | None = None
    heartbeat_at: datetime | None = None
    heartbeat_age_seconds: int | None = None
    workers: list[dict] = field(default_factory=list)
    queues: list[QueueStatus] = field(default_factory=list)

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
            status.queues.append(
                QueueStatus(
                    name=name,
                    queued=q.count,
                    started=StartedJobRegistry(queue=q).count,
                    scheduled=ScheduledJobRegistry(queue=q).count,
                    failed=FailedJobRegistry(queue=q).count,
                )
            )
        return status
    except RedisError as error:
        return SystemStatus(redis_ok=False, error=f"Redis is unreachable: {error}")

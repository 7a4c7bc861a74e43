"""On time when a part dies: holds due while RQ's scheduler is gone, and what the System page says.

The production topology on this machine (tests/bench/topology.py): a database, a
redis-server on TCP that saves its data on shutdown (as Debian's does), two
`python -m jobs.worker`, one `python -m jobs.cron`, gunicorn, and the gateway proxy;
any process that exits is started again 5 seconds later, as systemd's
`Restart=always` does. Two scenarios, one after the other on the same processes:

1. **Scheduler's worker killed**: the worker whose forked child holds RQ's scheduler
   lock is killed with SIGKILL, with its children (as systemd stops a unit whose main
   process died), at T; it is started again at T + 5 s.
2. **Redis restarted**: redis-server is stopped (it saves), stays down `redis_down`
   seconds from T, and starts again with its data.

Before T, `gap_holds` appointments are booked with their holds due evenly over the
`gap` seconds after T. Each hold's delay is its creation at the gateway minus its due
time (whole seconds); the goal is at most 60 s. While the holds are overdue, and once
they are all placed, the bench signs in as an admin and reads /admin/system.

The System page is read through marked elements, so the wording is the app's own:
- `data-health="scheduler"` (with `data-ok="true|false"`): the scheduler's health;
- `data-health="oldest-overdue-hold"` (with `data-overdue-seconds="N"`): the oldest
  hold past its due time and not placed.
The bench prints their text, or "not shown", beside a summary of what the page shows
today (its worker count and heartbeat).
"""

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from redis import Redis

from tests import factories
from tests.bench import holds
from tests.bench.topology import scheduler_worker_pid, tail
from tests.bench.web import Visitor, marked_texts
from webapp.models.base import utcnow

GOAL_SECONDS = 60
SCHEDULER_MARK = "scheduler"
OVERDUE_MARK = "oldest-overdue-hold"


@dataclass
class PageSnapshot:
    at: float  # seconds after T
    status: int
    scheduler: dict | None
    oldest_overdue: dict | None
    workers: str | None  # what the Workers tile says today
    heartbeat: str | None

    def describe(self) -> str:
        def mark(entry: dict | None, flag: str) -> str:
            if entry is None:
                return "not shown"
            value = entry["attributes"].get(flag)
            return f"{entry['text']!r}" + (f" ({flag}={value})" if value is not None else "")

        return (
            f"T+{self.at:.0f} s (HTTP {self.status}): scheduler {mark(self.scheduler, 'data-ok')};"
            f" oldest overdue hold {mark(self.oldest_overdue, 'data-overdue-seconds')};"
            f" today's tiles: workers {self.workers or '?'}, heartbeat {self.heartbeat or '?'}"
        )


@dataclass
class Scenario:
    name: str
    offsets: list[float]  # each hold's due time, seconds after T
    delays: list[float | None]  # seconds from due to placed (None: not placed)
    pages: list[PageSnapshot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ended: float = 0.0  # seconds after T when the bench stopped waiting


def _snapshot(visitor: Visitor, t0: datetime) -> PageSnapshot:
    at = (utcnow() - t0).total_seconds()
    try:
        status, page, _ = visitor.get("/admin/system")
    except OSError as error:
        return PageSnapshot(at, 0, None, None, f"(no answer: {error})", None)
    marks = marked_texts(page, "data-health")
    tiles = marked_texts(page, "data-heartbeat-age")
    text = page.decode("utf-8", "replace")
    workers = None
    if "<small>Workers</small><strong>" in text:
        workers = text.split("<small>Workers</small><strong>", 1)[1].split("<", 1)[0]
    heartbeat = next(iter(tiles.values()), {}).get("text") if tiles else None
    if heartbeat is None and "Redis is unreachable" in text:
        heartbeat = "Redis is unreachable"
    return PageSnapshot(
        at, status, marks.get(SCHEDULER_MARK), marks.get(OVERDUE_MARK), workers, heartbeat
    )


def _wait_until(moment: datetime) -> None:
    while (left := (moment - utcnow()).total_seconds()) > 0:
        time.sleep(min(left, 0.5))


def _follow(world, visitor, preauth_ids, t0, offsets, gap, timeout, scenario) -> None:
    """Until every hold is final (or `timeout` after the gap), reading the System page
    when the first hold is a minute overdue, when the last one is, and at the end."""
    look_at = sorted(
        {t0 + timedelta(seconds=offset + GOAL_SECONDS + 5) for offset in (offsets[0], gap)}
    )
    deadline = time.monotonic() + gap + timeout
    while time.monotonic() < deadline:
        if look_at and utcnow() >= look_at[0]:
            look_at.pop(0)
            scenario.pages.append(_snapshot(visitor, t0))
        if holds.wait_until_final(world, preauth_ids, 0.1) == 0 and not look_at:
            break
        time.sleep(2)
    scenario.pages.append(_snapshot(visitor, t0))
    scenario.ended = (utcnow() - t0).total_seconds()
    result = holds.outcome(world, preauth_ids)
    scenario.delays = [
        (result.placed[pid] - result.due[pid]).total_seconds() if pid in result.placed else None
        for pid in preauth_ids
    ]


def _book_gap(world, count: int, gap: float, lead: float) -> tuple[datetime, list[float], list]:
    t0 = (utcnow() + timedelta(seconds=lead)).replace(microsecond=0)
    offsets = [gap * (n + 1) / count for n in range(count)]
    dues = [t0 + timedelta(seconds=offset) for offset in offsets]
    return t0, offsets, holds.book(world, dues)


def kill_scheduler_worker(world, visitor, *, count, gap, timeout) -> Scenario:
    scenario = Scenario(
        "the worker holding RQ's scheduler lock killed (SIGKILL, back in 5 s)", [], []
    )
    t0, scenario.offsets, preauth_ids = _book_gap(world, count, gap, lead=20)
    _wait_until(t0)
    pid = scheduler_worker_pid(Redis.from_url(world.redis.url))
    name = world.topology.name_of(pid) if pid else None
    if name is None:
        scenario.notes.append("no worker held RQ's scheduler lock at T: nothing killed")
    else:
        world.topology.kill(name)
        scenario.notes.append(f"killed {name} (pid {pid}) and its children at T")
    _follow(world, visitor, preauth_ids, t0, scenario.offsets, gap, timeout, scenario)
    return scenario


def restart_redis(world, visitor, *, count, gap, down, timeout) -> Scenario:
    scenario = Scenario(f"redis-server restarted (down {down:.0f} s, data kept)", [], [])
    t0, scenario.offsets, preauth_ids = _book_gap(world, count, gap, lead=20)
    _wait_until(t0)
    world.redis.restart(down)
    scenario.notes.append(f"redis-server stopped at T (saved), started again at T+{down:.0f} s")
    _follow(world, visitor, preauth_ids, t0, scenario.offsets, gap, timeout, scenario)
    return scenario


def run(
    folder: Path,
    database_url: str,
    *,
    delay: float,
    error_rate: float,
    count: int,
    gap: float,
    redis_down: float,
    timeout: float,
    extra_env: dict[str, str],
    log=print,
) -> list[Scenario]:
    world = holds.open_world(
        folder, database_url, delay=delay, error_rate=error_rate, tcp_redis=True, clients=20
    )
    world.topology.extra_env = extra_env
    try:
        world.topology.start_workers(2)
        world.topology.start_cron()
        world.topology.start_web(workers=1)
        visitor = Visitor(world.topology.web_url)
        visitor.sign_in(holds.ADMIN_EMAIL, factories.PASSWORD)
        scenarios = [kill_scheduler_worker(world, visitor, count=count, gap=gap, timeout=timeout)]
        time.sleep(10)
        scenarios.append(
            restart_redis(world, visitor, count=count, gap=gap, down=redis_down, timeout=timeout)
        )
        restarts = world.topology.restarts()
        scenarios[-1].notes.append(
            "restarts by the supervisor: "
            + (", ".join(f"{k} {v}×" for k, v in restarts.items()) or "none")
        )
        return scenarios
    except Exception:
        for process in world.topology.processes.values():
            log(f"--- {process.name} log:\n{tail(process.log)}")
        raise
    finally:
        world.stop()

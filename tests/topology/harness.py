"""Covered's production topology on one machine, started by following the README.

`Topology` starts the servers an operator installs (a throwaway PostgreSQL, a
redis-server on TCP, localstripe in place of Stripe, an SMTP server), then tries
the README's Production steps line by line (`tests/topology/readme.py` says how
each line is tried). The server's folders are mapped to folders of the test:
/srv/covered is a fresh copy of this checkout's files (what `git clone` would
give, with the working tree's changes; no instance/, no local settings) using
this checkout's .venv; /etc/covered, /var/lib/covered and /var/backups/covered
are temporary folders.

Units are read from deploy/systemd/ and started the way systemd starts them: the
unit's ExecStart in its WorkingDirectory with a clean environment, `%i` replaced
by the instance, Type=notify waiting for gunicorn's READY=1 on a NOTIFY_SOCKET,
each process in its own session. A supervisor thread restarts a unit whose
process exits, as its Restart=, RestartSec= and RestartPreventExitStatus= say;
stopping sends KillSignal to the main process, then SIGKILL to what is left after
TimeoutStopSec (KillMode=mixed).
"""

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import (
    LocalstripeServer,
    PostgresServer,
    RedisServer,
    SmtpServer,
    find_pg_bin,
    free_port,
    wait_until,
)
from tests.topology import readme

CHECKOUT = Path(__file__).resolve().parents[2]
UNITS = CHECKOUT / "deploy" / "systemd"
ENV_EXAMPLE = CHECKOUT / "deploy" / "covered.env.example"
COMMAND_TIMEOUT = 120  # seconds for one README command (a migration, a backup)


class TopologyError(RuntimeError):
    """A README line failed or a process did not come up; the message holds its output."""


# --- systemd unit files -------------------------------------------------------------------


@dataclass
class Unit:
    """The [Service] settings of one unit file that starting and supervising need."""

    path: Path
    service: dict[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.service.get(key, default)

    @property
    def restart_seconds(self) -> float:
        return float(self.get("RestartSec", "0.1").rstrip("s"))

    @property
    def stop_seconds(self) -> float:
        return float(self.get("TimeoutStopSec", "90").rstrip("s"))

    @property
    def kill_signal(self) -> int:
        return getattr(signal, self.get("KillSignal", "SIGTERM"))

    @property
    def prevent_restart(self) -> set[int]:
        return {int(code) for code in self.get("RestartPreventExitStatus").split()}


def read_unit(path: Path) -> Unit:
    """The [Service] section of a unit file (comments and other sections skipped)."""
    section, service = None, {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service":
            key, _, value = line.partition("=")
            service[key.strip()] = value.strip()
    return Unit(path, service)


def unit_file(name: str) -> tuple[Path, str]:
    """(file, instance) of a unit name: covered-worker@2 → covered-worker@.service, "2"."""
    base, at, instance = name.partition("@")
    if at:
        return UNITS / f"{base}@.service", instance.removesuffix(".service")
    return UNITS / (name if "." in name else f"{name}.service"), ""


# --- the settings file ----------------------------------------------------------------


def read_env_file(path: Path) -> list[tuple[str, str]]:
    """KEY=value lines in order (the quotes around a value removed), comments skipped."""
    pairs = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs.append((key, value))
    return pairs


def env_line(key: str, value: str) -> str:
    """KEY=value as sh reads it (single quotes around anything but plain characters)."""
    return f"{key}={shlex.quote(value)}"


# --- supervision --------------------------------------------------------------------------


@dataclass
class Supervised:
    name: str
    unit: Unit
    command: list[str]
    process: subprocess.Popen
    log: Path
    stopping: bool = False
    restart_at: float | None = None
    restarts: list[tuple[int, int, int]] = field(default_factory=list)  # old pid, code, new pid


@dataclass
class Tried:
    step: str
    line: str
    how: str
    detail: str


class Topology:
    """Everything an operator runs, on this machine. Use as a context manager."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root or tempfile.mkdtemp(prefix="covered-topology-"))
        self.folders = {
            "/srv/covered": fresh_copy(CHECKOUT, self.root / "srv-covered"),
            "/etc/covered": self.root / "etc",
            "/var/lib/covered": self.root / "state",
            "/var/backups/covered": self.root / "backups",
        }
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self.env_file = self.folders["/etc/covered"] / "covered.env"
        self.cwd = self.root
        self.tried: list[Tried] = []
        self.outputs: dict[str, str] = {}
        self.units: dict[str, Supervised] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.postgres = self.redis = self.localstripe = self.smtp = None

    # servers

    def start_servers(self) -> None:
        """The services the README installs with apt (and Stripe and SMTP, stood in for)."""
        self.pg_bin = find_pg_bin()
        if self.pg_bin is None:
            raise TopologyError("PostgreSQL server binaries are missing (make system-deps)")
        self.postgres = PostgresServer(self.pg_bin)
        self.redis = RedisServer(tcp_port=free_port())
        self.localstripe = LocalstripeServer()
        self.smtp = SmtpServer()
        self.web_port = free_port()
        self.public_url = f"http://127.0.0.1:{self.web_port}"

    def __enter__(self) -> "Topology":
        self.start_servers()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    # the README

    def follow(self, *step_names: str) -> list[Tried]:
        """Try the README's steps of these names (all, in order, when none is given)."""
        steps = readme.production_steps()
        wanted = step_names or tuple(step.name for step in steps)
        by_name = {step.name: step for step in steps}
        done = []
        for name in wanted:
            for line in by_name[name].lines:
                done.append(self.try_line(name, line))
        return done

    def try_line(self, step: str, line: str) -> Tried:
        rule, found = readme.rule_for(line)
        if rule.how == readme.NOT_TRIED:
            detail = rule.action
        else:
            detail = getattr(self, rule.action)(line, found) or ""
        tried = Tried(step, line, rule.how, detail)
        self.tried.append(tried)
        return tried

    def map_paths(self, text: str) -> str:
        for server_path, here in self.folders.items():
            text = text.replace(server_path, str(here))
        return text

    def base_env(self) -> dict[str, str]:
        """What systemd gives a unit: a plain PATH and little else."""
        return {
            "PATH": f"{self.pg_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "COVERED_ENV_FILE": str(self.env_file),
        }

    def postgres_env(self) -> dict[str, str]:
        """`sudo -u postgres`: the cluster's superuser (peer authentication on a server)."""
        return {
            **self.base_env(),
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.postgres.port),
            "PGUSER": "postgres",
        }

    def _run(self, line: str, argv: list[str], env: dict[str, str]) -> str:
        try:
            done = subprocess.run(
                argv,
                cwd=self.cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise TopologyError(f"{line}\n{error}") from error
        self.outputs[line] = done.stdout
        if done.returncode != 0:
            output = done.stdout + done.stderr
            raise TopologyError(f"{line}\nexit status {done.returncode}\n{output}")
        return done.stdout

    # how each kind of README line is tried (readme.LINE_RULES names these)

    def enter_checkout(self, line: str, _found) -> str:
        self.cwd = Path(self.map_paths(line.split(None, 1)[1]))
        return f"cwd {self.cwd}"

    def run_as_postgres(self, line: str, _found) -> str:
        argv = shlex.split(self.map_paths(line))[3:]  # drop `sudo -u postgres`
        return self._run(line, argv, self.postgres_env())

    def run_as_covered(self, line: str, _found) -> str:
        argv = shlex.split(self.map_paths(line))[3:]  # drop `sudo -u covered`
        return self._run(line, argv, self.base_env())

    def make_folder(self, line: str, _found) -> str:
        words = shlex.split(self.map_paths(line))
        mode = int(words[words.index("-m") + 1], 8)
        folder = Path(words[-1])
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(mode)
        return f"made {folder} (mode {mode:o}; owners are not tried: one user here)"

    def machine_values(self) -> dict[str, str | None]:
        """What the operator types into covered.env on this machine (None: deletes the line)."""
        example = dict(read_env_file(ENV_EXAMPLE))
        return {
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": example["DATABASE_URL"].replace(
                "@127.0.0.1:5432/", f"@127.0.0.1:{self.postgres.port}/"
            ),
            "REDIS_URL": self.redis.url,
            "PUBLIC_URL": self.public_url,
            "COVERED_INSTANCE_PATH": str(self.folders["/var/lib/covered"]),
            "PORT": str(self.web_port),
            "WEB_CONCURRENCY": "2",
            "STRIPE_API_KEY": "sk_test_covered",
            "STRIPE_PUBLISHABLE_KEY": "pk_test_covered",
            "STRIPE_WEBHOOK_SECRET": "whsec_covered_topology",
            "MAIL_SERVER": self.smtp.host,
            "MAIL_PORT": str(self.smtp.port),
            "MAIL_USE_TLS": "false",
            "MAIL_USERNAME": None,
            "MAIL_PASSWORD": None,
        }

    def write_settings(self, line: str, found) -> str:
        """`install … covered.env.example covered.env` and the operator's `editor`: the
        example with this machine's values, plus STRIPE_API_BASE for localstripe."""
        target = Path(self.map_paths(found.group(1)))
        values = self.machine_values()
        example = read_env_file(ENV_EXAMPLE)
        unknown = set(values) - {key for key, _ in example}
        if unknown:
            raise TopologyError(f"covered.env.example lacks {sorted(unknown)}")
        lines = [
            env_line(key, values.get(key, value))
            for key, value in example
            if values.get(key, value) is not None
        ]
        lines.append(env_line("STRIPE_API_BASE", self.localstripe.url))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
        target.chmod(0o640)
        kept = [key for key, _ in example if key not in values]
        return f"wrote {target}; kept as in the example: {', '.join(kept)}"

    def check_settings(self, _line: str, _found) -> str:
        pairs = dict(read_env_file(self.env_file))
        if pairs.get("COVERED_ENV") != "production":
            raise TopologyError("covered.env.example does not set COVERED_ENV=production")
        return "settings typed by write_settings"

    def start_units(self, line: str, found) -> str:
        started = []
        for name in found.group(1).split():
            if name.endswith(".timer"):
                started.append(f"{name}: not started (the backups step runs its service)")
                continue
            self.start_unit(name)
            started.append(f"{name}: pid {self.units[name].process.pid}")
        return "; ".join(started)

    def run_oneshot_unit(self, line: str, found) -> str:
        path, instance = unit_file(found.group(1))
        unit = read_unit(path)
        if unit.get("Type") != "oneshot":
            raise TopologyError(f"{line}: {path.name} is not Type=oneshot")
        argv = self._unit_command(unit, instance)
        previous, self.cwd = self.cwd, Path(self.map_paths(unit.get("WorkingDirectory")))
        try:
            return self._run(line, argv, self.base_env())
        finally:
            self.cwd = previous

    # units

    def _unit_command(self, unit: Unit, instance: str) -> list[str]:
        return shlex.split(self.map_paths(unit.get("ExecStart").replace("%i", instance)))

    def start_unit(self, name: str) -> Supervised:
        path, instance = unit_file(name)
        unit = read_unit(path)
        command = self._unit_command(unit, instance)
        log = self.root / "logs" / f"{name}.log"
        process = self._spawn(unit, command, log)
        supervised = Supervised(name, unit, command, process, log)
        with self._lock:
            self.units[name] = supervised
        return supervised

    def _spawn(self, unit: Unit, command: list[str], log: Path) -> subprocess.Popen:
        env = self.base_env()
        notify = None
        if unit.get("Type") == "notify":
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify_path = self.root / f"notify-{secrets.token_hex(4)}"
            notify.bind(str(notify_path))
            notify.settimeout(1)
            env["NOTIFY_SOCKET"] = str(notify_path)
        with log.open("a") as out:
            process = subprocess.Popen(
                command,
                cwd=self.map_paths(unit.get("WorkingDirectory")),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if notify is not None:
            try:
                self._wait_ready(notify, process, log)
            finally:
                notify.close()
        return process

    def _wait_ready(self, notify: socket.socket, process: subprocess.Popen, log: Path) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise TopologyError(f"{log.stem} exited with {process.returncode}\n{tail(log)}")
            try:
                message = notify.recv(4096).decode()
            except TimeoutError:
                continue
            if "READY=1" in message.split("\n"):
                return
        raise TopologyError(f"{log.stem} sent no READY=1 within 60 s\n{tail(log)}")

    def _supervise(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                units = list(self.units.values())
            for unit in units:
                self._maybe_restart(unit)

    def _maybe_restart(self, s: Supervised) -> None:
        code = s.process.poll()
        if code is None or s.stopping:
            return
        policy = s.unit.get("Restart", "no")
        wanted = policy == "always" or (policy == "on-failure" and code != 0)
        if not wanted or code in s.unit.prevent_restart:
            return
        now = time.monotonic()
        if s.restart_at is None:
            s.restart_at = now + s.unit.restart_seconds
            return
        if now < s.restart_at:
            return
        old_pid = s.process.pid
        s.process = self._spawn(s.unit, s.command, s.log)
        s.restart_at = None
        s.restarts.append((old_pid, code, s.process.pid))

    def stop_unit(self, name: str) -> None:
        s = self.units[name]
        s.stopping = True
        if s.process.poll() is None:
            s.process.send_signal(s.unit.kill_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                s.process.wait(min(s.unit.stop_seconds, 30))
        with contextlib.suppress(ProcessLookupError):  # KillMode=mixed: SIGKILL the rest
            os.killpg(s.process.pid, signal.SIGKILL)
        s.process.wait(10)

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(5)
        for name in reversed(list(self.units)):
            self.stop_unit(name)
        for server in (self.localstripe, self.redis, self.smtp, self.postgres):
            if server is not None:
                server.stop()

    # for tests and people

    def pid(self, name: str) -> int:
        return self.units[name].process.pid

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n{tail(s.log)}" for s in self.units.values())

    def wait_for(self, check, seconds: float, what: str) -> None:
        try:
            wait_until(check, seconds, what)
        except RuntimeError as error:
            raise TopologyError(f"{error}\n{self.logs()}") from None


def fresh_copy(checkout: Path, target: Path) -> Path:
    """The checkout's files as a clone has them (tracked, or new and not ignored), with
    the working tree's changes, plus a link to its .venv (`make install` made it)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=checkout,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = checkout / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(checkout / ".venv")
    return target


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

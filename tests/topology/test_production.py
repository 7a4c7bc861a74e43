"""The README's Production section, followed on this machine, then a day of work through it.

PostgreSQL, a redis-server on TCP, gunicorn with 2 workers, two job workers and
cron (deploy/systemd units, started as tests/topology/harness.py says), with
localstripe as the payments server. The practice is made with `flask
create-practice`, its admin chooses a password through the printed link and signs
in over HTTP, invites a clinician by email (who chooses a password through the
emailed link and signs in), sets up a payer, a service, a client with insurance, an
authorization and a card, books a visit whose hold a worker places, and charges it. Then one job
worker and one web worker are killed: the other worker places the next hold, the
web keeps answering, and each dead process is replaced. Last, the backup unit runs
and the restore check reads the dump back.
"""

import os
import re
import signal
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import stripe
from redis import Redis
from rq import Worker
from rq.job import Job

from tests.servers import IN_CI, find_pg_bin
from tests.topology import journey, readme
from tests.topology.harness import Topology

pytestmark = pytest.mark.topology

PASSWORD = "harbor therapy opens today"
CLINICIAN = ("robin.clinician@harbor.example", "Robin Clinician")
VISA = "4242424242424242"
LINK = re.compile(r"^(http://127\.0\.0\.1:\d+/password/\S+)$", re.MULTILINE)
INVITED = re.compile(r"(http://127\.0\.0\.1:\d+/password/\S+)")
CLINICIAN_PASSWORD = "robin keeps the harbor schedule"


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    if find_pg_bin() is None:
        if IN_CI:
            pytest.fail("PostgreSQL server binaries are missing; `make test` installs them")
        pytest.skip("PostgreSQL server binaries not installed (run `make system-deps`)")
    with Topology(tmp_path_factory.mktemp("topology")) as running:
        yield running


def _practice_step(topology: Topology) -> tuple[str, str, str]:
    """The README's create-practice line: (admin email, time zone, printed link)."""
    line = next(
        line
        for step in readme.production_steps()
        for line in step.lines
        if "create-practice" in line
    )
    email = re.search(r"--admin-email (\S+)", line).group(1)
    time_zone = re.search(r"--time-zone (\S+)", line).group(1)
    return email, time_zone, LINK.search(topology.outputs[line]).group(1)


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _rq_worker(connection: Redis, pid: int) -> Worker | None:
    return next((w for w in Worker.all(connection=connection) if w.pid == pid), None)


def _ready(connection: Redis, pid: int) -> bool:
    worker = _rq_worker(connection, pid)
    return worker is not None and worker.get_state() in ("idle", "busy")


def test_the_readme_production_section_runs_a_practice(topology):
    tried = topology.follow("install", "database", "settings", "practice", "services")
    assert [t.how for t in tried if "deploy/covered flask" in t.line] == ["run", "run"]
    # Every process runs the fresh copy's code (what a clone holds), not this checkout's.
    clone = topology.folders["/srv/covered"]
    imported = "sudo -u covered deploy/covered python -c 'import webapp; print(webapp.__file__)'"
    assert topology.run_as_covered(imported, None).strip() == str(clone / "webapp/__init__.py")
    assert Path(f"/proc/{topology.pid('covered-web')}/cwd").resolve() == clone.resolve()
    redis = Redis.from_url(topology.redis.url)
    workers = ("covered-worker@1", "covered-worker@2")
    topology.wait_for(lambda: all(_ready(redis, topology.pid(w)) for w in workers), 60,
                      "two RQ workers")  # fmt: skip

    # The admin's first visit: the one-time link, then sign-in.
    admin_email, time_zone, link = _practice_step(topology)
    browser = journey.Browser(topology.public_url)
    journey.set_password(browser, link, PASSWORD)
    browser.get(link, status=410)  # used once, never again
    journey.sign_in(browser, admin_email, PASSWORD)

    # Setting up: the admin invites a clinician (Admin › Users); the invitation goes out
    # through the SMTP server of covered.env and its link sets the clinician's password.
    clinician_id = journey.invite(browser, *CLINICIAN, "clinician")
    [invitation] = topology.smtp.messages_to(CLINICIAN[0])
    invited_link = INVITED.search(invitation.part("plain")).group(1)
    journey.set_password(journey.Browser(topology.public_url), invited_link, CLINICIAN_PASSWORD)
    journey.sign_in(journey.Browser(topology.public_url), CLINICIAN[0], CLINICIAN_PASSWORD)
    journey.add_payer(browser, "Blue Harbor Health")
    journey.add_service_type(browser, "90837", "Psychotherapy, 60 minutes", "180.00")
    journey.turn_on_holds(browser, hours_before=72)
    now = journey.practice_now(time_zone)
    payments = stripe.StripeClient(
        "sk_test_covered", base_addresses={"api": topology.localstripe.url}
    )

    def client_with_card(first: str, last: str) -> int:
        client_id = journey.add_client(browser, first, last, clinician_id)
        journey.add_insurance(browser, client_id, "Blue Harbor Health", "35.00")
        journey.add_authorization(browser, client_id, "90837", now.date())
        journey.add_card(browser, client_id, payments, VISA)
        return client_id

    def held(encounter_id: int) -> str:
        topology.wait_for(
            lambda: journey.hold_state(browser, encounter_id)[0] not in ("scheduled", "processing"),
            60,
            f"the hold of encounter {encounter_id}",
        )
        state, message = journey.hold_state(browser, encounter_id)
        assert (state, message) == ("held", "$35.00 held on Visa •••• 4242"), topology.logs()
        return state

    # A visit in three hours: its hold is due at once and a worker places it.
    first_client = client_with_card("Ana", "Rivera")
    starts = (now + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    first_visit = journey.book(browser, first_client, clinician_id, "90837", starts)
    held(first_visit)

    # Charge: one invoice for the copay, captured from the hold.
    invoice_id = journey.charge(browser, first_visit)
    figures = journey.invoice_figures(browser, invoice_id)
    assert {k: figures[k] for k in ("status", "total", "paid", "due")} == {
        "status": "Paid",
        "total": "$35.00",
        "paid": "$35.00",
        "due": "$0.00",
    }
    (reference,) = set(figures["references"])
    intent = payments.v1.payment_intents.retrieve(reference)
    assert (intent.status, intent.amount) == ("succeeded", 3500)  # captured
    assert journey.hold_state(browser, first_visit)[0] == "charged"

    # The job worker that runs RQ's scheduler (in a forked child) dies outright: the
    # other worker places the next hold, and the web never notices.
    (victim,) = [w for w in workers if _children(topology.pid(w))]
    survivor = next(w for w in workers if w != victim)
    killed = topology.pid(victim)
    killed_name = _rq_worker(redis, killed).name
    os.kill(killed, signal.SIGKILL)
    second_client = client_with_card("Ben", "Okafor")
    second_visit = journey.book(browser, second_client, clinician_id, "90837", starts)
    held(second_visit)
    placed_by = Job.fetch(_hold_job_id(topology, second_visit), connection=redis).worker_name
    assert placed_by != killed_name
    # …and systemd's Restart=always (as the harness applies it) brings the dead one back.
    topology.wait_for(lambda: topology.units[victim].restarts, 30, "a restart")
    (old_pid, code, new_pid), *_ = topology.units[victim].restarts
    assert (old_pid, code) == (killed, -signal.SIGKILL)
    topology.wait_for(lambda: _ready(redis, new_pid), 60, "the restarted worker")
    assert topology.units[survivor].restarts == []

    # A web worker dies: the other answers, and gunicorn starts a new one.
    master = topology.pid("covered-web")
    before = _children(master)
    assert len(before) == 2
    os.kill(min(before), signal.SIGKILL)
    for _ in range(5):
        browser.get(f"/clients/{second_client}/insurance")
    topology.wait_for(lambda: len(_children(master) - {min(before)}) == 2, 30, "a new web worker")
    assert topology.units["covered-web"].restarts == []

    # Backups: the backup unit writes a dump; the restore check reads it back.
    tried = topology.follow("proxy", "backups")
    assert {t.how for t in tried if t.step == "proxy"} == {readme.NOT_TRIED}
    dump = Path(next(t for t in tried if "start covered-backup" in t.line).detail.strip())
    assert dump.stat().st_mode & 0o777 == 0o640  # the postgres group reads it, no one else
    assert dump.parent.stat().st_mode & 0o2000  # setgid: every dump gets that group
    check = next(t for t in tried if "restore-check" in t.line)
    restored = dict(line.split(" ", 1) for line in check.detail.splitlines()[1:])
    assert restored == _live_counts(topology) | {"revision": _live_revision(topology)}
    assert (restored["organizations"], restored["clients"], restored["encounters"]) == (
        "1", "2", "2",
    )  # fmt: skip
    assert int(restored["payments"]) >= 1
    followed = list(dict.fromkeys(t.step for t in topology.tried))
    assert followed == [step.name for step in readme.production_steps()]


def _hold_job_id(topology: Topology, encounter_id: int) -> str:
    row = _query(topology, "SELECT id, attempt FROM pre_authorizations WHERE encounter_id = %s",
                 encounter_id)  # fmt: skip
    return f"preauth-{row[0][0]}-{row[0][1]}"


def _query(topology: Topology, sql: str, *params):
    url = f"postgresql://postgres@127.0.0.1:{topology.postgres.port}/covered"
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _live_counts(topology: Topology) -> dict[str, str]:
    tables = ("organizations", "users", "clients", "encounters", "payments")
    return {t: str(_query(topology, f"SELECT count(*) FROM {t}")[0][0]) for t in tables}


def _live_revision(topology: Topology) -> str:
    return _query(topology, "SELECT version_num FROM alembic_version")[0][0]

"""Two-factor sign-in through the Flask test client, on SQLite and PostgreSQL.

The clock is moved with time-machine at the edges only: each test starts one second
into a TOTP time step, and `shift(30)` moves to the next step when a new code is due.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select

from tests import factories
from webapp.domain import two_factor_rules as rules
from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.models.base import utcnow
from webapp.services import sessions, two_factor
from webapp.services.two_factor_sign_in import PENDING

START = datetime(2026, 11, 30, 6, 0, 1, tzinfo=UTC)  # one second into a time step
DOMAIN = "covered.test"


class Browser(FlaskClient):
    """Each request in its own app context, as in production (see tests/web/test_sessions.py)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = Browser
    return app.test_client()


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=True) as traveller:
        yield traveller


def current_code(secret: str) -> str:
    return rules.code_at(secret, rules.time_step(utcnow()))


def enroll(user) -> tuple[str, list[str]]:
    """Two-factor on for `user` (through the service); the code of this step is used up."""
    secret = two_factor.begin_enrollment(user).secret
    return secret, two_factor.confirm_enrollment(user, current_code(secret), utcnow())


def password_step(client, user, remember=False, next_=None):
    data = {"email": user.email, "password": factories.PASSWORD}
    if remember:
        data["remember"] = "y"
    return client.post("/login" + (f"?next={next_}" if next_ else ""), data=data)


def code_step(client, text):
    return client.post("/login/two-factor", data={"code": text})


def signed_in(client) -> bool:
    return client.get("/clients").status_code == 200


def test_the_right_password_alone_does_not_sign_in(client, world, clock):
    enroll(world.admin)
    response = password_step(client, world.admin)
    assert response.status_code == 302 and response.headers["Location"] == "/login/two-factor"
    assert not signed_in(client)
    page = client.get("/login/two-factor")
    assert page.status_code == 200 and "Enter your code" in page.get_data(as_text=True)


def test_a_current_code_signs_in_and_goes_where_the_person_was_going(client, world, clock):
    secret, _ = enroll(world.biller)
    password_step(client, world.biller, next_="/schedule")
    client.get("/login/two-factor")
    with client.session_transaction() as session:
        csrf_before = session["csrf_token"]
    clock.shift(30)
    response = code_step(client, current_code(secret))
    assert response.status_code == 302 and response.headers["Location"] == "/schedule"
    assert signed_in(client)
    with client.session_transaction() as session:  # renewed, as a password-only sign-in
        assert PENDING not in session
        assert session["csrf_token"] != csrf_before


def test_a_wrong_code_is_refused_next_to_the_field(client, world, clock):
    enroll(world.biller)
    password_step(client, world.biller)
    response = code_step(client, "12345x")
    assert response.status_code == 422
    assert "That is not a code: enter the 6 digits" in response.get_data(as_text=True)
    response = code_step(client, "abcde-fghjk")
    assert response.status_code == 422
    assert "That recovery code is not right" in response.get_data(as_text=True)
    assert not signed_in(client)


def test_a_code_used_once_does_not_sign_in_again(app, client, world, clock):
    secret, _ = enroll(world.admin)
    password_step(client, world.admin)
    used = current_code(secret)  # the code that turned it on, this same step
    response = code_step(client, used)
    assert response.status_code == 422 and "already used" in response.get_data(as_text=True)
    clock.shift(30)
    fresh = current_code(secret)
    assert code_step(client, fresh).status_code == 302
    client.post("/logout")
    other = app.test_client()
    password_step(other, world.admin)
    clock.shift(5)  # still within the code's window
    assert code_step(other, fresh).status_code == 422
    assert not signed_in(other)


def test_a_recovery_code_signs_in_once(app, client, world, clock):
    _, codes = enroll(world.biller)
    password_step(client, world.biller)
    response = code_step(client, codes[0].upper())
    assert response.status_code == 302 and signed_in(client)
    client.post("/logout")
    password_step(client, world.biller)
    assert code_step(client, codes[0]).status_code == 422
    assert not signed_in(client)
    used = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "two_factor.recovery_code_used")
    ).all()
    assert [(e.user_id, e.after) for e in used] == [(world.biller.id, {"recovery_codes_left": 9})]


def test_the_recovery_code_sign_in_says_how_many_are_left(client, world, clock):
    _, codes = enroll(world.biller)
    password_step(client, world.biller)
    response = client.post("/login/two-factor", data={"code": codes[1]}, follow_redirects=True)
    assert "You signed in with a recovery code; 9 of 10 are left." in response.get_data(
        as_text=True
    )


def test_the_pending_sign_in_ends_after_five_minutes(client, world, clock):
    secret, _ = enroll(world.admin)
    password_step(client, world.admin)
    clock.shift(timedelta(minutes=5, seconds=2))
    response = code_step(client, current_code(secret))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not signed_in(client)
    page = client.get("/login").get_data(as_text=True)
    assert "More than 5 minutes passed since you entered your password" in page
    assert client.get("/login/two-factor").status_code == 302  # forgotten


def test_the_pending_sign_in_belongs_to_this_browser(app, client, world, clock):
    secret, _ = enroll(world.admin)
    password_step(client, world.admin)
    other = app.test_client()
    clock.shift(30)
    response = code_step(other, current_code(secret))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not signed_in(other)


def test_ending_every_session_also_ends_a_pending_sign_in(client, world, clock):
    secret, _ = enroll(world.admin)
    password_step(client, world.admin)
    sessions.end_all_sessions(world.admin)  # a password change, a deactivation
    clock.shift(30)
    assert code_step(client, current_code(secret)).status_code == 302
    assert not signed_in(client)


def test_wrong_codes_are_throttled_and_then_the_right_one_waits_too(client, world, clock):
    secret, _ = enroll(world.clinician)
    password_step(client, world.clinician)
    for _ in range(5):
        assert code_step(client, "000000x").status_code == 422
    clock.shift(30)
    locked = code_step(client, current_code(secret))
    assert locked.status_code == 429
    assert "Too many wrong codes for this account. Try again in 15 minutes" in locked.get_data(
        as_text=True
    )
    assert not signed_in(client)
    two_factor.reset_two_factor(world.clinician, actor=world.admin)  # an admin's reset lifts it
    assert password_step(client, world.clinician).headers["Location"] == "/"


@pytest.mark.parametrize("remember", [True, False])
def test_keep_me_signed_in_carries_through_the_second_step(client, world, clock, remember):
    secret, _ = enroll(world.admin)
    password_step(client, world.admin, remember=remember)
    assert client.get_cookie("remember_token", domain=DOMAIN) is None  # not yet
    clock.shift(30)
    assert code_step(client, current_code(secret)).status_code == 302
    assert (client.get_cookie("remember_token", domain=DOMAIN) is not None) is remember


def test_another_account_starts_over(client, world, clock):
    enroll(world.admin)
    password_step(client, world.admin)
    assert client.post("/login/two-factor/cancel").headers["Location"] == "/login"
    assert client.get("/login/two-factor").status_code == 302


def test_without_two_factor_the_password_signs_in_as_before(client, world):
    assert password_step(client, world.biller).headers["Location"] == "/"
    assert signed_in(client)


# --- the practice requires it ------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sent"), [("admin", True), ("biller", True), ("clinician", False)]
)
def test_a_required_role_without_two_factor_is_sent_to_set_it_up(client, world, role, sent):
    world.org.require_two_factor = True
    db.session.commit()
    assert password_step(client, world.user(role)).status_code == 302
    for path in ("/clients", "/schedule", "/profile/preferences", "/"):
        response = client.get(path)
        if sent:
            assert response.status_code == 302, path
            assert response.headers["Location"] == "/profile/two-factor"
        else:
            assert response.status_code in (200, 302)
            assert response.headers.get("Location") != "/profile/two-factor"
    if sent:
        hx = client.get("/clients", headers={"HX-Request": "true"})
        assert hx.headers["HX-Redirect"] == "/profile/two-factor"
        polled = client.get("/notifications/bell", headers={"HX-Request": "true"})
        assert polled.status_code == 204  # the bell's polling does not reload the set-up page
        page = client.get("/profile/two-factor").get_data(as_text=True)
        assert "requires two-factor sign-in for admins and billers" in page
        assert client.post("/logout").headers["Location"] == "/login"  # sign-out still works


def test_setting_it_up_through_the_page_opens_the_app(client, world, clock):
    world.org.require_two_factor = True
    db.session.commit()
    password_step(client, world.biller)
    assert client.post("/profile/two-factor/setup").status_code == 302
    page = client.get("/profile/two-factor").get_data(as_text=True)
    secret = re.search(r'id="two-factor-secret" class="secret">([A-Z2-7 ]+)<', page)[1]
    secret = secret.replace(" ", "")
    assert "<svg" in page and " style=" not in page
    wrong = client.post("/profile/two-factor/confirm", data={"code": "000000x"})
    assert wrong.status_code == 422 and "not right" in wrong.get_data(as_text=True)
    assert client.get("/clients").status_code == 302
    done = client.post("/profile/two-factor/confirm", data={"code": current_code(secret)})
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", text)
    assert len(set(codes)) == 10
    assert client.get("/clients").status_code == 200
    assert "10 of 10" in client.get("/profile/two-factor").get_data(as_text=True)
    assert "two-factor-secret" not in client.get("/profile/two-factor").get_data(as_text=True)


def test_the_profile_page_makes_new_codes_and_turns_it_off(client, world, clock):
    secret, old = enroll(world.clinician)
    password_step(client, world.clinician)
    clock.shift(30)
    code_step(client, current_code(secret))
    refused = client.post("/profile/two-factor/recovery-codes", data={"new-proof": "nope"})
    assert refused.status_code == 422 and "neither a current code" in refused.get_data(as_text=True)
    fresh = client.post(
        "/profile/two-factor/recovery-codes", data={"new-proof": factories.PASSWORD}
    ).get_data(as_text=True)
    new = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", fresh)
    assert len(new) == 10 and set(new).isdisjoint(old)
    assert client.post("/profile/two-factor/disable", data={"off-proof": "x"}).status_code == 422
    assert two_factor.is_enabled(world.clinician)
    off = client.post("/profile/two-factor/disable", data={"off-proof": factories.PASSWORD})
    assert off.status_code == 302 and not two_factor.is_enabled(world.clinician)


# --- admins -------------------------------------------------------------------------------


def test_an_admin_requires_it_and_resets_a_person_from_the_admin_page(client, world, clock):
    enroll(world.biller)
    admin_secret, _ = enroll(world.admin)
    password_step(client, world.admin)
    clock.shift(30)
    code_step(client, current_code(admin_secret))
    page = client.get("/admin/two-factor").get_data(as_text=True)
    assert world.biller.name in page and "Reset two-factor of" in page
    client.post("/admin/two-factor/requirement", data={"required": "y"})
    assert db.session.get(type(world.org), world.org.id).require_two_factor
    reset = client.post(
        f"/admin/two-factor/{world.biller.id}/reset",
        data={f"reset-{world.biller.id}-reason": "lost"},
    )
    assert reset.status_code == 302
    assert not two_factor.is_enabled(world.biller)
    assert client.post(f"/admin/two-factor/{world.outsider.id}/reset").status_code == 404
    own = client.post(f"/admin/two-factor/{world.admin.id}/reset", follow_redirects=True)
    assert "Turn your own two-factor sign-in off under My Profile" in own.get_data(as_text=True)
    assert two_factor.is_enabled(world.admin)
    events = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.user_id == world.admin.id)
        .order_by(AuditEvent.id)
    ).all()
    assert events[-2:] == ["settings.require_two_factor", "two_factor.reset"]


def test_the_command_line_resets_a_locked_out_sole_admin(app, client, world, clock):
    enroll(world.admin)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "reset-two-factor", world.admin.email.upper()])
    assert result.exit_code == 0 and "was on; it is off now" in result.output
    assert password_step(client, world.admin).headers["Location"] == "/"
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "two_factor.reset")
    ).one()
    assert (event.user_id, event.entity_id, event.reason) == (
        None,
        world.admin.id,
        "from the command line",
    )
    missing = runner.invoke(args=["users", "reset-two-factor", "nobody@example.com"])
    assert missing.exit_code == 1 and "No account has the email" in missing.output

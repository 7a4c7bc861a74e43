"""Sign-in and sessions: throttling, equal work, sessions that end, remember-me, `next`.

Rules: webapp/domain/session_rules.py, webapp/services/sessions.py, webapp/services/sign_in.py.
"""

import re
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from flask.testing import FlaskClient

from tests import factories
from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.services import sessions, sign_in

PASSWORD = factories.PASSWORD
REMEMBER = "remember_token"


class Browser(FlaskClient):
    """A test client whose every request gets its own app context, as in production.

    The `app` fixture keeps one app context open for the whole test, and Flask
    reuses it for the client's requests: `g` (where Flask-Login caches the signed-in
    user) and the database session would otherwise carry over between requests
    and between browsers.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def browsers(app):
    app.test_client_class = Browser


@pytest.fixture
def client(app, browsers):
    return app.test_client()


def _sign_in(client, user, password=PASSWORD, remember=False, next_=None, **environ):
    data = {"email": user.email, "password": password}
    if remember:
        data["remember"] = "y"
    url = "/login" + (f"?next={next_}" if next_ is not None else "")
    return client.post(url, data=data, **({"environ_base": environ} if environ else {}))


DOMAIN = "covered.test"  # the tests' SERVER_NAME


def _cookie(client, name):
    found = client.get_cookie(name, domain=DOMAIN)
    return found.value if found else None


def _signed_in(client) -> bool:
    response = client.get("/clients")
    return response.status_code == 200


def _set_cookie_header(response, name) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "="))


# --- throttling ------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client, world):
    for _ in range(5):
        assert _sign_in(client, world.biller, "wrong").status_code == 401
    locked = _sign_in(client, world.biller)
    text = locked.get_data(as_text=True)
    assert locked.status_code == 429
    assert "Too many failed sign-ins for this account. Try again in 15 minutes" in text
    assert "ask an admin of your practice to unlock it" in text
    assert not _signed_in(client)
    assert _sign_in(client, world.admin).status_code == 302  # other accounts are not locked


def test_an_admin_lifts_the_lockout_and_the_person_signs_in_at_once(app, client, world):
    for _ in range(6):
        _sign_in(client, world.biller, "wrong")
    assert sign_in.is_locked_out(world.biller.email)
    result = app.test_cli_runner().invoke(args=["users", "unlock", world.biller.email.upper()])
    assert result.exit_code == 0 and "was locked out; unlocked" in result.output
    assert not sign_in.is_locked_out(world.biller.email)
    assert _sign_in(client, world.biller).status_code == 302


def test_unknown_emails_are_throttled_alike_and_say_the_same(client, world):
    ghost = type("Ghost", (), {"email": "nobody@example.com"})()
    first = _sign_in(client, ghost, "x")
    assert first.status_code == 401
    assert sign_in.WRONG_CREDENTIALS in first.get_data(as_text=True)
    for _ in range(4):
        _sign_in(client, ghost, "x")
    assert _sign_in(client, ghost, "x").status_code == 429


def test_many_accounts_from_one_address_lock_the_address(app, client, world):
    app.config["SIGN_IN_ADDRESS_LIMIT"] = "3 per 15 minutes"
    for user in (world.admin, world.biller, world.clinician):
        _sign_in(client, user, "wrong", REMOTE_ADDR="203.0.113.9")
    refused = _sign_in(client, world.outsider, REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429
    assert "Too many failed sign-ins from your network" in refused.get_data(as_text=True)
    assert _sign_in(client, world.outsider, REMOTE_ADDR="198.51.100.7").status_code == 302


def test_a_successful_sign_in_forgets_the_accounts_failures(client, world):
    for _ in range(4):
        _sign_in(client, world.biller, "wrong")
    assert _sign_in(client, world.biller).status_code == 302
    client.post("/logout")
    for _ in range(4):
        _sign_in(client, world.biller, "wrong")
    assert _sign_in(client, world.biller).status_code == 302


@pytest.mark.parametrize("email", ["known", "unknown"])
def test_known_and_unknown_emails_cost_one_password_hash_each(client, world, monkeypatch, email):
    from werkzeug import security

    calls = []
    real = security.check_password_hash

    def counting(pwhash, password):
        calls.append(pwhash.split("$")[0])
        return real(pwhash, password)

    monkeypatch.setattr("webapp.services.sign_in.check_password_hash", counting)
    monkeypatch.setattr("webapp.models.organization.check_password_hash", counting)
    target = world.biller if email == "known" else type("G", (), {"email": "ghost@example.com"})()
    assert _sign_in(client, target, "wrong").status_code == 401
    assert len(calls) == 1
    if email == "unknown":  # the dummy hash is made like real ones: the app's default method
        assert calls[0] == security.generate_password_hash("x").split("$")[0]


# --- sessions that end -----------------------------------------------------------------------


def test_sign_out_ends_every_session_of_the_user(app, world):
    laptop, phone = app.test_client(), app.test_client()
    for browser in (laptop, phone):
        assert _sign_in(browser, world.biller).status_code == 302
    laptop.post("/logout")
    assert not _signed_in(laptop) and not _signed_in(phone)


def test_a_session_cookie_from_before_sign_out_no_longer_works(app, world):
    browser = app.test_client()
    _sign_in(browser, world.biller)
    copied = _cookie(browser, "session")
    browser.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", copied, domain=DOMAIN)
    assert not _signed_in(thief)


def test_a_remember_me_cookie_from_before_sign_out_no_longer_works(app, world):
    browser = app.test_client()
    _sign_in(browser, world.biller, remember=True)
    copied = _cookie(browser, REMEMBER)
    browser.post("/logout")
    assert _cookie(browser, REMEMBER) is None  # this browser forgot it too
    thief = app.test_client()
    thief.set_cookie(REMEMBER, copied, domain=DOMAIN)
    assert not _signed_in(thief)


def test_end_all_sessions_ends_sessions_and_remember_me_cookies(app, world):
    """What a password change or a deactivation calls."""
    remembered, plain = app.test_client(), app.test_client()
    _sign_in(remembered, world.clinician, remember=True)
    _sign_in(plain, world.clinician)
    remembered.delete_cookie("session", domain=DOMAIN)  # only the remember-me cookie is left
    sessions.end_all_sessions(world.clinician)
    assert not _signed_in(remembered) and not _signed_in(plain)
    assert _sign_in(app.test_client(), world.clinician).status_code == 302


def test_a_deactivated_user_is_signed_out_at_the_next_request(app, client, world):
    _sign_in(client, world.biller, remember=True)
    world.biller.is_active_user = False
    db.session.commit()
    assert not _signed_in(client)


def test_the_idle_timeout_ends_every_session_and_says_why(app, world):
    browser, remembered = app.test_client(), app.test_client()
    _sign_in(browser, world.biller)
    _sign_in(remembered, world.biller, remember=True)
    world.biller.last_seen_at = utcnow() - timedelta(minutes=31)
    db.session.commit()
    response = browser.get("/clients")
    assert response.status_code == 302 and "/login?next=/clients" in response.headers["Location"]
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "You were signed out after 30 minutes without activity." in page
    assert "Please sign in to continue." not in page
    remembered.delete_cookie("session", domain=DOMAIN)
    assert not _signed_in(remembered)


def test_activity_keeps_a_session_but_polling_does_not_count(app, client, world):
    app.config["IDLE_TIMEOUT_MINUTES"] = 30
    _sign_in(client, world.biller)
    old = utcnow() - timedelta(minutes=20)
    world.biller.last_seen_at = old
    db.session.commit()
    client.get("/notifications/bell", headers={"HX-Request": "true"})
    db.session.refresh(world.biller)
    assert world.biller.last_seen_at == old
    assert _signed_in(client)
    db.session.refresh(world.biller)
    assert world.biller.last_seen_at > old


def test_a_token_older_than_the_remember_lifetime_signs_nobody_in(app, client, world):
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=7)
    _sign_in(client, world.biller, remember=True)
    import time_machine

    with time_machine.travel(utcnow() + timedelta(days=7, minutes=1), tick=False):
        world.biller.last_seen_at = utcnow()  # active, yet past the lifetime
        db.session.commit()
        assert not _signed_in(client)


def test_an_htmx_request_after_the_session_ended_redirects_the_whole_page(client, world):
    _sign_in(client, world.biller)
    sessions.end_all_sessions(world.biller)
    response = client.get("/notifications/bell", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("/login")


# --- remember me -----------------------------------------------------------------------------


def test_the_remember_me_cookie_is_httponly_lax_bounded_and_new_at_each_sign_in(app, world):
    browser = app.test_client()
    first = _sign_in(browser, world.biller, remember=True)
    header = _set_cookie_header(first, REMEMBER)
    assert "HttpOnly" in header and "SameSite=Lax" in header
    morsel = SimpleCookie(header)[REMEMBER]
    assert morsel["expires"]
    value = morsel.value
    browser.post("/logout")
    second = SimpleCookie(
        _set_cookie_header(_sign_in(browser, world.biller, remember=True), REMEMBER)
    )
    assert second[REMEMBER].value != value


def test_cookies_are_secure_when_configured(app, world):
    app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    response = _sign_in(app.test_client(), world.biller, remember=True)
    for name in ("session", REMEMBER):
        assert "Secure" in _set_cookie_header(response, name)


def test_a_session_restored_from_the_remember_me_cookie_lasts_across_requests(app, world):
    browser = app.test_client()
    _sign_in(browser, world.biller, remember=True)
    browser.delete_cookie("session", domain=DOMAIN)  # the browser was closed
    for url in ("/clients", "/schedule", "/notifications", "/clients", "/reports/authorizations"):
        response = browser.get(url)
        assert response.status_code == 200, url
    assert _cookie(browser, REMEMBER) is not None


def test_a_session_and_csrf_token_are_new_at_sign_in(app, world):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    login_page = browser.get("/login").get_data(as_text=True)
    old_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page)[1]
    old_session = _cookie(browser, "session")
    browser.post("/login", data={"email": world.biller.email, "password": PASSWORD,
                                 "csrf_token": old_token})  # fmt: skip
    assert _cookie(browser, "session") != old_session
    page = browser.get("/clients").get_data(as_text=True)
    new_token = re.search(r'"X-CSRFToken": "([^"]+)"', page)[1]
    assert new_token != old_token
    assert browser.post("/logout", headers={"X-CSRFToken": old_token}).status_code == 400
    assert browser.post("/logout", headers={"X-CSRFToken": new_token}).status_code == 302


# --- next ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("next_", "location"),
    [
        ("/schedule?view=day", "/schedule?view=day"),
        ("/clients/1/insurance", "/clients/1/insurance"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/%09/evil.example", "/"),
        ("/%0a/x", "/"),
        ("/%0d%0aSet-Cookie:%20a=b", "/"),
        ("/%5cevil.example", "/"),
        ("%2F%2Fevil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/%00", "/"),
        ("", "/"),
    ],
)
def test_next_is_followed_only_to_a_path_on_this_site(client, world, next_, location):
    response = _sign_in(client, world.biller, next_=next_)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert response.headers["Location"] == location
        assert "\n" not in response.headers["Location"] and "\r" not in response.headers["Location"]


def test_a_page_asked_for_while_signed_out_is_where_sign_in_lands(client, world):
    response = client.get("/schedule?view=day")
    assert response.headers["Location"] == "/login?next=/schedule?view%3Dday"
    landed = client.post(response.headers["Location"],
                         data={"email": world.biller.email, "password": PASSWORD})  # fmt: skip
    assert landed.headers["Location"] == "/schedule?view=day"


def test_the_throttle_counts_in_memory_while_redis_is_unreachable(client, world, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    class Unreachable:
        def __getattr__(self, _name):
            def fail(*_args):
                raise RedisConnectionError("redis is down")

            return fail

    monkeypatch.setattr(sign_in, "_strategy", Unreachable)
    sign_in._fallback.storage.reset()
    for _ in range(5):
        assert _sign_in(client, world.biller, "wrong").status_code == 401
    assert _sign_in(client, world.biller).status_code == 429
    sign_in._fallback.storage.reset()

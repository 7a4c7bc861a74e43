"""Security headers on every answer, the proxy setting, and the settings behind them."""

import threading
import urllib.request

import pytest
from werkzeug.serving import make_server

from tests.web.test_access import ROUTES, _path
from tests.web.test_access import rows as rows  # the fixture
from webapp.config import ConfigError, load_settings
from webapp.extensions import db
from webapp.security import MAIL_PREVIEW_POLICY, default_content_security_policy

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _assert_secured(response, where: str):
    policy = response.headers.get("Content-Security-Policy", "")
    if policy == MAIL_PREVIEW_POLICY:  # a message's HTML, framed by the outbox page only
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN", where
        assert "outbox.html" in where, where
    else:
        for name, value in EXPECTED.items():
            assert response.headers.get(name) == value, f"{where}: {name}"
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert "Server" not in response.headers, where  # the WSGI server's (see the last test)


@pytest.mark.parametrize("role", [None, "clinician", "admin"])
def test_every_route_answers_with_the_security_headers(client, auth, world, rows, role):
    if role:
        auth.login(world.user(role))
    for endpoint, (method, _template, _roles) in ROUTES.items():
        response = client.open(_path(endpoint, rows), method=method)
        _assert_secured(response, f"{role} {method} {endpoint} {response.status_code}")
    for url in ("/login", "/static/app.css", "/no/such/page", "/clients/2147483648"):
        response = client.get(url)
        _assert_secured(response, url)
        response.close()
    _assert_secured(client.post("/webhooks/stripe", data="{}"), "webhook")


def test_the_policy_allows_the_payment_processor_and_nothing_else(app, client):
    policy = client.get("/login").headers["Content-Security-Policy"]
    gateway = app.extensions["payment_gateway"]
    js_origin = "/".join(gateway.js_url.split("/")[:3])
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == f"'self' {js_origin}"
    assert directives["style-src"] == "'self'"
    assert "unsafe" not in policy
    assert "default-src 'self'" in policy and "form-action 'self'" in policy


def test_the_default_policy_against_stripe_names_its_hosts_only():
    policy = default_content_security_policy("https://js.stripe.com/v3/", "https://api.stripe.com")
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self' https://js.stripe.com"
    assert directives["connect-src"] == "'self' https://api.stripe.com"
    assert directives["frame-src"] == "'self' https://js.stripe.com https://hooks.stripe.com"
    assert directives["frame-ancestors"] == "'none'"


def test_a_message_preview_has_its_own_policy_and_only_this_site_frames_it(
    client, auth, world, rows
):
    auth.login(world.admin)
    page = client.get(_path("outbox.show", rows))
    preview = client.get(_path("outbox.html", rows))
    assert f'src="{_path("outbox.html", rows)}"' in page.get_data(as_text=True)
    assert "srcdoc" not in page.get_data(as_text=True)
    assert preview.status_code == 200 and preview.get_data(as_text=True).strip() == "<p>Hi</p>"
    assert preview.headers["Content-Security-Policy"] == MAIL_PREVIEW_POLICY
    assert "script" not in MAIL_PREVIEW_POLICY and "sandbox" in MAIL_PREVIEW_POLICY
    assert preview.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_a_configured_policy_replaces_the_default(app, client):
    app.config["CONTENT_SECURITY_POLICY"] = "default-src 'self'; frame-ancestors 'none'"
    response = client.get("/login")
    assert response.headers["Content-Security-Policy"] == app.config["CONTENT_SECURITY_POLICY"]


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://covered.test")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_behind_one_trusted_proxy_the_forwarded_scheme_and_address_count(app, world, monkeypatch):
    from webapp import create_app

    proxied = create_app({**app.config, "TRUSTED_PROXIES": 1})
    browser = proxied.test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"}
    seen = []
    monkeypatch.setattr(
        "webapp.services.sign_in._refusal", lambda email, address: seen.append(address)
    )
    try:
        response = browser.get("/login", headers=forwarded)
        assert "Strict-Transport-Security" in response.headers
        browser.post("/login", data={"email": "a@example.com", "password": "x"}, headers=forwarded)
    finally:
        with proxied.app_context():  # its own engine: close its connections
            db.session.remove()
            db.engine.dispose()
    assert seen == ["203.0.113.5"]


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(client):
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


def test_a_real_server_names_no_software_version(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/login"
        request = urllib.request.Request(url, headers={"Host": "covered.test"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.headers.get_all("Server") == ["Covered"]
            assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    finally:
        server.shutdown()
        thread.join()


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRUSTED_PROXIES": "two"}, "TRUSTED_PROXIES must be a whole number"),
        ({"TRUSTED_PROXIES": "9"}, "TRUSTED_PROXIES must be between 0 and 5"),
        ({"IDLE_TIMEOUT_MINUTES": "0"}, "IDLE_TIMEOUT_MINUTES must be between 1 and 1440"),
        ({"REMEMBER_COOKIE_DAYS": "365"}, "REMEMBER_COOKIE_DAYS must be between 1 and 30"),
        ({"CONTENT_SECURITY_POLICY": "default-src *"}, "keep a frame-ancestors directive"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_it(monkeypatch, tmp_path, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path)


@pytest.mark.parametrize(
    ("public_url", "override", "secure"),
    [
        ("https://covered.example.org", None, True),
        ("http://127.0.0.1:5000", None, False),
        ("https://covered.example.org", "false", False),
        ("http://127.0.0.1:5000", "true", True),
    ],
)
def test_cookies_are_secure_by_default_behind_https(
    monkeypatch, tmp_path, public_url, override, secure
):
    monkeypatch.setenv("PUBLIC_URL", public_url)
    if override is None:
        monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    else:
        monkeypatch.setenv("SESSION_COOKIE_SECURE", override)
    settings = load_settings(tmp_path)
    assert settings["SESSION_COOKIE_SECURE"] is secure
    assert settings["REMEMBER_COOKIE_SECURE"] is secure
    assert settings["REMEMBER_COOKIE_SAMESITE"] == "Lax" and settings["REMEMBER_COOKIE_HTTPONLY"]


def test_the_defaults_are_30_idle_minutes_and_7_remembered_days(monkeypatch, tmp_path):
    for name in ("IDLE_TIMEOUT_MINUTES", "REMEMBER_COOKIE_DAYS", "TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(tmp_path)
    assert settings["IDLE_TIMEOUT_MINUTES"] == 30
    assert settings["REMEMBER_COOKIE_DURATION"].days == 7
    assert settings["TRUSTED_PROXIES"] == 0
    assert settings["MAX_CONTENT_LENGTH"] == 6 * 1024 * 1024

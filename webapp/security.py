"""Every request and every answer, in one place: the proxy, hostile input, security headers.

- **Proxy**: behind `TRUSTED_PROXIES` proxies (0: none), `ProxyFix` takes the client
  address, scheme, host and port from that many `X-Forwarded-*` hops, so sign-in
  throttling sees the person's address and HSTS and secure cookies see HTTPS.
- **Hostile input**: a control character (NUL and the other C0 codes but tab,
  newline and carriage return, and DEL) in the path, the query string, a form field
  or an uploaded file's name is refused with a 400 before any view runs: no field
  of the app accepts one, and PostgreSQL refuses NUL where SQLite stores it.
  Sizes: `MAX_CONTENT_LENGTH` (413 past it); numbers and dates are checked by the
  fields and converters (`webapp.forms`), against `webapp.domain.limits`.
- **Headers** on every answer: `CONTENT_SECURITY_POLICY` (a config value, see
  `default_content_security_policy`), `X-Content-Type-Options: nosniff`,
  `Referrer-Policy`, `X-Frame-Options: DENY` (with CSP's frame-ancestors 'none'),
  `Cross-Origin-Opener-Policy`, `Permissions-Policy`, HSTS when the request came
  over HTTPS. The `Server` header is the WSGI server's: werkzeug's (`flask run`, the
  Procfile's web process) is told to say "Covered" instead of its and Python's
  versions; gunicorn says "gunicorn" without a version.
"""

import re
from urllib.parse import urlsplit

from flask import Flask, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_MESSAGE = (
    "The request holds a control character (such as a NUL byte) that no field accepts. "
    "Nothing was saved."
)
SERVER_NAME_HEADER = "Covered"


def _server_header(_handler) -> str:
    return SERVER_NAME_HEADER


# werkzeug's server sends "Server: Werkzeug/3.1.x Python/3.11.x" before any app header.
WSGIRequestHandler.version_string = _server_header


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def default_content_security_policy(stripe_js_url: str, stripe_api_base: str) -> str:
    """The strict CSP every page runs under (`CONTENT_SECURITY_POLICY` replaces it).

    No inline script, no eval and no inline style: the templates carry no `<script>`
    body, no `on…=` handler, no `style=` attribute (tests/web/test_page_kit.py), behaviour
    is static/app.js on data- attributes, and htmx runs with `allowEval` off and without
    its injected indicator style (the htmx-config meta tag of templates/base.html).
    Beyond this site only the payment processor: Stripe.js (script-src; frame-src for
    its card frames and 3-D Secure) and its API (connect-src); against localstripe both
    are the localstripe address. frame-src 'self': the outbox shows a message's HTML in
    a sandboxed frame of its own (`MAIL_PREVIEW_POLICY`). `img-src data:`: Pico's icons.
    No site may frame a page (frame-ancestors). tests/browser/test_content_security_policy.py
    walks every page and dialog under it in Chromium and fails on any violation.
    """
    js, api = _origin(stripe_js_url), _origin(stripe_api_base)
    frames = f"{js} https://hooks.stripe.com" if js == "https://js.stripe.com" else js
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {js}",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {api}",
            f"frame-src 'self' {frames}",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


# A message's HTML in the outbox (webapp.views.outbox.html): mail styles itself inline, so
# inline styles and data: images are allowed there and nothing else, no script at all
# (sandbox), and only this site may frame it.
MAIL_PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"
)


def mail_preview_headers() -> dict[str, str]:
    """The headers of a mail preview answer: its own policy, framed by this site only."""
    return {"Content-Security-Policy": MAIL_PREVIEW_POLICY, "X-Frame-Options": "SAMEORIGIN"}


def _policy(app: Flask) -> str:
    configured = app.config.get("CONTENT_SECURITY_POLICY")
    if configured:
        return configured
    gateway = app.extensions["payment_gateway"]
    return default_content_security_policy(
        gateway.js_url, getattr(gateway, "api_base", gateway.js_url)
    )


def _has_control_characters() -> bool:
    texts = [request.path]
    for source in (request.args, request.form):
        for key, values in source.lists():
            texts.append(key)
            texts.extend(values)
    texts.extend(storage.filename or "" for storage in request.files.values())
    return any(CONTROL_CHARACTERS.search(text) for text in texts)


def init_app(app: Flask) -> None:
    """Wrap the app in ProxyFix when configured; add the request guard and the headers."""
    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if proxies:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )

    @app.before_request
    def refuse_control_characters():
        if request.endpoint == "webhooks.stripe":  # a signed JSON body, read by its view
            return None
        if _has_control_characters():
            return render_template("errors/error.html", code=400, message=CONTROL_MESSAGE), 400
        return None

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", _policy(app))
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.is_secure and app.config.get("HSTS_SECONDS"):
            headers.setdefault(
                "Strict-Transport-Security",
                f"max-age={app.config['HSTS_SECONDS']}; includeSubDomains",
            )
        return response

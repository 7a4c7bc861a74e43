"""A signed-in visitor of a running web server (loopback only): cookies, keep-alive, timing.

`Visitor(base_url).sign_in(email, password)` posts the login form with its CSRF token;
`get(path)` answers (status, body, seconds). `marked_texts(html, "data-health")` reads
the text of the elements a page marks with an attribute (what the System page says).
"""

import http.client
import re
import time
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

CSRF_INPUT = re.compile(
    rb'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"'
)


class Visitor:
    """One person's browser, minus the browser: one keep-alive connection and its cookies."""

    def __init__(self, base_url: str, timeout: float = 60):
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple:
        headers = dict(headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, self.timeout)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server closed while idle: one new try.
                self.close()
                if attempt == 2:
                    raise
        for value in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(value)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        return response.status, data, response.headers

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        status, data, _ = self._request("GET", path, None, headers or {})
        return status, data, time.perf_counter() - started

    def sign_in(self, email: str, password: str) -> None:
        """Raises RuntimeError unless the login form accepts the credentials."""
        status, page, _ = self.get("/login")
        found = CSRF_INPUT.search(page)
        if status != 200 or not found:
            raise RuntimeError(f"no login form at /login (HTTP {status})")
        token = (found.group(1) or found.group(2)).decode()
        body = urlencode({"csrf_token": token, "email": email, "password": password}).encode()
        status, _, _ = self._request(
            "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 302:
            raise RuntimeError(f"sign-in as {email} answered HTTP {status}")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class _Marked(HTMLParser):
    """Collects the text (and attributes) of each element carrying `attribute`."""

    VOID = frozenset({"br", "img", "input", "meta", "link", "hr", "wbr", "source", "col"})

    def __init__(self, attribute: str):
        super().__init__()
        self.attribute = attribute
        self.found: dict[str, dict] = {}
        self.stack: list[tuple[str, str | None]] = []  # (tag, marked name or None)

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        attributes = dict(attrs)
        name = attributes.get(self.attribute)
        if name is not None and name not in self.found:
            self.found[name] = {"attributes": attributes, "text": ""}
        self.stack.append((tag, name))

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        for _, name in self.stack:
            if name is not None:
                self.found[name]["text"] += data


def marked_texts(html: bytes, attribute: str) -> dict[str, dict]:
    """{value of `attribute`: {"attributes": {...}, "text": "collapsed text"}} of a page."""
    parser = _Marked(attribute)
    parser.feed(html.decode("utf-8", "replace"))
    for entry in parser.found.values():
        entry["text"] = " ".join(entry["text"].split())
    return parser.found

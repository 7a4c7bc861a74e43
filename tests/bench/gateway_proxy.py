"""A payment gateway at real latency: an HTTP proxy in front of localstripe for the bench.

    python -m tests.bench.gateway_proxy --upstream http://127.0.0.1:8420 \
        [--delay-ms 300] [--error-rate 0.01] [--errors 503,drop-before,drop-after] [--seed 14]

Stripe answers in a few hundred milliseconds and, now and then, not at all; localstripe
answers in about ten and always. Every call through this proxy first waits `delay`
seconds, then, with probability `error_rate`, fails in one of three ways (picked
uniformly from `errors`):

- ``503``: a Stripe-shaped 503 (``api_error``), before anything is forwarded;
- ``drop-before``: the connection is closed without an answer, nothing forwarded;
- ``drop-after``: the call is forwarded and done at localstripe, then the connection
  is closed without an answer: a lost reply (the hold may exist).

Stripe keeps the answer of a POST with an ``Idempotency-Key`` and replays it for a
retry with the same key; localstripe ignores the key. So the proxy does what Stripe
does (``--no-replay`` turns it off): the first answer to a key is kept and replayed,
and a retry that arrives while the first call is still running waits for it. Without
this a network retry of stripe-python after a lost reply would place a second hold
that Stripe never would.

`GET /_proxy/stats` answers counters as JSON (calls per route, injected errors per
kind, replays, the most calls in flight at once); `POST /_proxy/reset` zeroes them.
The first line printed is ``gateway proxy listening on http://127.0.0.1:<port>``.
"""

import argparse
import contextlib
import http.client
import json
import random
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ERROR_KINDS = ("503", "drop-before", "drop-after")
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)
# Gateway ids in a path become {id}, so the stats group calls by route.
ID_IN_PATH = re.compile(r"/(?:pi|pm|cus|seti|ch|re|in|txn|evt|card|src)_[A-Za-z0-9]+")
STRIPE_503 = json.dumps(
    {
        "error": {
            "type": "api_error",
            "message": "The gateway proxy of the bench answered 503 (injected transient error).",
        }
    }
).encode()


@dataclass
class Settings:
    """What the proxy does to each call: seconds of delay, error probability, error kinds."""

    upstream: str
    delay: float = 0.3
    error_rate: float = 0.01
    errors: tuple[str, ...] = ERROR_KINDS
    replay: bool = True
    seed: int | None = None


@dataclass
class Stats:
    calls: int = 0
    forwarded: int = 0
    replayed: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    injected: Counter = field(default_factory=Counter)
    routes: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "calls": self.calls,
            "forwarded": self.forwarded,
            "replayed": self.replayed,
            "most_in_flight": self.most_in_flight,
            "injected": dict(self.injected),
            "routes": dict(self.routes),
        }


@dataclass
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _Idempotent:
    """One key's answer, or the event a retry waits on while the first call runs."""

    def __init__(self):
        self.done = threading.Event()
        self.answer: _Answer | None = None


class GatewayProxy(ThreadingHTTPServer):
    """The proxy server; `start()` serves it on a daemon thread (tests), `url` is its address."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, settings: Settings, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.settings = settings
        upstream = urlsplit(settings.upstream)
        self.upstream_host, self.upstream_port = upstream.hostname, upstream.port or 80
        self.stats = Stats()
        self.lock = threading.Lock()
        self.random = random.Random(settings.seed)
        self.keys: dict[str, _Idempotent] = {}
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> "GatewayProxy":
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def draw_error(self) -> str | None:
        """None for a call that goes through, else the kind of failure to inject."""
        with self.lock:
            if self.random.random() >= self.settings.error_rate:
                return None
            return self.random.choice(self.settings.errors)

    def reset(self) -> None:
        with self.lock:
            self.stats = Stats()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GatewayProxy

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's name)
        return None

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_proxy/"):
            self._control()
            return
        proxy = self.server
        with proxy.lock:
            stats = proxy.stats
            stats.calls += 1
            stats.in_flight += 1
            stats.most_in_flight = max(stats.most_in_flight, stats.in_flight)
            stats.routes[f"{self.command} {ID_IN_PATH.sub('/{id}', self.path.split('?')[0])}"] += 1
        try:
            if proxy.settings.delay:
                time.sleep(proxy.settings.delay)
            error = proxy.draw_error()
            if error is not None:
                with proxy.lock:
                    stats.injected[error] += 1
            if error == "503":
                self._send(_Answer(503, [("Content-Type", "application/json")], STRIPE_503))
            elif error == "drop-before":
                self._drop()
            else:
                answer = self._forward_once(body)
                if error == "drop-after":
                    self._drop()
                else:
                    self._send(answer)
        finally:
            with proxy.lock:
                stats.in_flight -= 1

    def _forward_once(self, body: bytes) -> _Answer:
        """Forward, or replay the kept answer of this idempotency key (Stripe's rule)."""
        proxy = self.server
        key = self.headers.get("Idempotency-Key")
        if not (proxy.settings.replay and key and self.command == "POST"):
            return self._forward(body)
        with proxy.lock:
            entry = proxy.keys.get(key)
            first = entry is None
            if first:
                entry = proxy.keys[key] = _Idempotent()
        if not first:
            entry.done.wait(120)
            if entry.answer is not None:
                with proxy.lock:
                    proxy.stats.replayed += 1
                return entry.answer
            return self._forward(body)  # the first call never got an answer itself
        try:
            entry.answer = self._forward(body)
            return entry.answer
        finally:
            entry.done.set()

    def _forward(self, body: bytes) -> _Answer:
        proxy = self.server
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, 60)
        try:
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            answer = _Answer(
                response.status,
                [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP],
                response.read(),
            )
        finally:
            connection.close()
        with proxy.lock:
            proxy.stats.forwarded += 1
        return answer

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def _drop(self) -> None:
        """Close the connection without a byte of answer (a reset, as a lost reply looks)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _control(self) -> None:
        if self.command == "POST" and self.path == "/_proxy/reset":
            self.server.reset()
        with self.server.lock:
            body = json.dumps(self.server.stats.as_dict()).encode()
        self._send(_Answer(200, [("Content-Type", "application/json")], body))


def fetch_stats(url: str, *, reset: bool = False) -> dict:
    """The counters of the proxy at `url` (and zero them with `reset`)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(
            "POST" if reset else "GET", "/_proxy/reset" if reset else "/_proxy/stats"
        )
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def parse_errors(text: str) -> tuple[str, ...]:
    """'503,drop-after' → ('503', 'drop-after'). Raises ValueError for an unknown kind."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = set(kinds) - set(ERROR_KINDS)
    if unknown or not kinds:
        raise ValueError(f"error kinds are {', '.join(ERROR_KINDS)}; got {text!r}")
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.gateway_proxy")
    parser.add_argument("--upstream", required=True, help="localstripe's address")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=300.0)
    parser.add_argument("--error-rate", type=float, default=0.01)
    parser.add_argument("--errors", type=parse_errors, default=ERROR_KINDS)
    parser.add_argument("--no-replay", action="store_true")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    settings = Settings(
        upstream=args.upstream,
        delay=args.delay_ms / 1000,
        error_rate=args.error_rate,
        errors=args.errors,
        replay=not args.no_replay,
        seed=args.seed,
    )
    proxy = GatewayProxy(settings, args.port)
    print(f"gateway proxy listening on {proxy.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        proxy.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run localstripe (a Stripe-compatible test server) on 127.0.0.1 only.

Used by `make run` when the app talks to the default local address, and by the
test session. localstripe's own command line (`localstripe --port N`) listens
on every interface (IPv4 and IPv6) and keeps its state in /tmp/localstripe.pickle,
shared by every copy on the machine; this launcher serves the same aiohttp app
on 127.0.0.1 and keeps the state in a file of our choosing:

    python -m jobs.localstripe_server                  # port of STRIPE_API_BASE, state in instance/
    python -m jobs.localstripe_server --port 0 --no-state   # tests: any free port, memory only

It prints "localstripe listening on http://127.0.0.1:<port>" once it accepts
connections (tests wait for that line to learn a port chosen by the OS).
"""

import argparse
import asyncio
import contextlib
import logging
import os
import pickle
import sys
from pathlib import Path
from urllib.parse import urlparse

from aiohttp import web
from localstripe import resources, server

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_PORT = 8420
STRIPE_JS_PATH = "/js.stripe.com/v3/"


def block_scoped_stripe_js() -> str:
    """localstripe's test Stripe.js, wrapped in a block.

    Also: a card number typed with spaces is read without them (`accept_spaced_numbers`).
    Its top-level `class Element` shadows the DOM's `Element` for every script on the
    page, and htmx's `instanceof Element` checks then fail (no request is sent after
    the card form has loaded). Inside a block the class stays local, while the
    undeclared `Stripe = …` still becomes the global the page calls.
    """
    source = (Path(server.__file__).parent / "localstripe-v3.js").read_text()
    return "{\n" + accept_spaced_numbers(source) + "\n}\n"


TYPED_NUMBER = "number: this._inputs.number.value,"


def accept_spaced_numbers(source: str) -> str:
    """The card number as Stripe's own Element reads it: spaces and dashes left out.

    localstripe's Element sends the number as typed, so "4242 4242 4242 4242" (the
    README's test card) was refused for its length, and its jump to the expiry field
    after 16 characters cut a spaced number in two.

    Raises:
        ValueError: localstripe's script no longer reads the number the way patched here.
    """
    if TYPED_NUMBER not in source:
        raise ValueError("localstripe-v3.js changed: the card number patch does not apply")
    return source.replace(TYPED_NUMBER, "number: this._inputs.number.value.replace(/[\\s-]/g, ''),")


def serve_scoped_stripe_js(app: web.Application) -> None:
    script = block_scoped_stripe_js()

    @web.middleware
    async def scoped_stripe_js(request: web.Request, handler):
        if request.path == STRIPE_JS_PATH:
            return web.Response(text=script, content_type="application/javascript")
        return await handler(request)

    app.middlewares.append(scoped_stripe_js)


def keep_state_in(path: Path | None) -> None:
    """Point localstripe's store at `path` (written atomically), or keep it in memory."""

    def load(store) -> None:
        if path is None or not path.exists():
            return
        with path.open("rb") as f:
            saved = pickle.load(f)
        dict.clear(store)
        dict.update(store, saved)

    def dump(store) -> None:
        if path is None:
            return
        partial = path.with_suffix(".partial")
        with partial.open("wb") as f:
            pickle.dump(dict(store), f, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump


def default_port() -> int:
    base = os.environ.get("STRIPE_API_BASE") or ""
    return urlparse(base).port or DEFAULT_PORT


def parse_args(argv: list[str]) -> argparse.Namespace:
    instance = Path(os.environ.get("COVERED_INSTANCE_PATH", PROJECT_ROOT / "instance"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=default_port(), help="0: any free port")
    parser.add_argument("--state", type=Path, default=instance / "localstripe.pickle")
    parser.add_argument("--no-state", action="store_true", help="keep nothing on disk")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser.parse_args(argv)


async def serve(port: int, access_log: bool) -> None:
    runner = web.AppRunner(server.app, access_log=logging.getLogger("aiohttp.access"))
    if not access_log:
        runner = web.AppRunner(server.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"localstripe listening on http://127.0.0.1:{bound}", flush=True)
    try:
        await asyncio.Event().wait()  # until SIGTERM / Ctrl-C
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    state = None if args.no_state else args.state
    if state is not None:
        state.parent.mkdir(parents=True, exist_ok=True)
    keep_state_in(state)
    serve_scoped_stripe_js(server.app)
    resources.store.try_load_from_disk()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.access_log))


if __name__ == "__main__":
    main()

"""The bench is not run by `make test`, so this keeps it from rotting: every module imports,
its command line parses, and the gateway proxy forwards, delays, injects each kind of
error and replays an idempotency key's answer as Stripe does. No timing is asserted."""

import importlib
import json
import pkgutil
import urllib.error
import urllib.request

import pytest
import stripe

import tests.bench
from tests.bench import gateway_proxy
from tests.bench.__main__ import parser
from tests.bench.web import marked_texts

API_KEY = "sk_test_covered"


@pytest.fixture
def localstripe(localstripe_server):
    """The session's localstripe, emptied."""
    localstripe_server.flush()
    return localstripe_server


def test_it_imports_every_module_of_the_bench():
    names = [m.name for m in pkgutil.iter_modules(tests.bench.__path__) if m.name != "test_smoke"]
    assert {"gateway_proxy", "holds", "failover", "load", "topology", "printing"} <= set(names)
    for name in names:
        importlib.import_module(f"tests.bench.{name}")


def test_its_command_line_parses_parts_and_knobs():
    args = parser().parse_args(
        ["--postgres", "--only", "holds,failover", "--app-env", "A=1", "--latencies-ms", "0,300"]
    )
    assert args.only == {"holds", "failover"}
    assert args.app_env == [("A", "1")]
    assert args.latencies_ms == [0.0, 300.0]
    with pytest.raises(SystemExit):
        parser().parse_args(["--only", "everything"])


def _proxy(localstripe, **settings) -> gateway_proxy.GatewayProxy:
    values = {"delay": 0.0, "error_rate": 0.0, "seed": 1, **settings}
    return gateway_proxy.GatewayProxy(
        gateway_proxy.Settings(upstream=localstripe.url, **values)
    ).start()


def _client(url: str, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=retries)


def test_the_proxy_forwards_to_localstripe_and_counts_calls(localstripe):
    proxy = _proxy(localstripe, delay=0.05)
    try:
        customer = _client(proxy.url).v1.customers.create({"name": "Through the proxy"})
        found = _client(localstripe.url).v1.customers.retrieve(customer.id)
        stats = gateway_proxy.fetch_stats(proxy.url)
    finally:
        proxy.stop()
    assert found.name == "Through the proxy"
    assert stats["calls"] == stats["forwarded"] == 1
    assert stats["routes"] == {"POST /v1/customers": 1}


@pytest.mark.parametrize(
    ("kind", "reaches_localstripe"),
    [("503", False), ("drop-before", False), ("drop-after", True)],
)
def test_the_proxy_injects_each_kind_of_error(localstripe, kind, reaches_localstripe):
    proxy = _proxy(localstripe, error_rate=1.0, errors=(kind,))
    name = f"Injected {kind}"
    try:
        with pytest.raises(stripe.StripeError) as raised:
            _client(proxy.url).v1.customers.create({"name": name})
        stats = gateway_proxy.fetch_stats(proxy.url)
    finally:
        proxy.stop()
    expected = stripe.APIError if kind == "503" else stripe.APIConnectionError
    assert isinstance(raised.value, expected)
    assert stats["injected"] == {kind: 1}
    names = [c.name for c in _client(localstripe.url).v1.customers.list({"limit": 100}).data]
    assert (name in names) is reaches_localstripe


def test_a_lost_reply_is_replayed_for_a_retry_with_the_same_idempotency_key(localstripe):
    """drop-after, then stripe-python's network retry (same key) gets the first answer:
    one customer at localstripe, as at Stripe."""
    proxy = _proxy(localstripe, error_rate=1.0, errors=("drop-after",))
    try:
        request = urllib.request.Request(
            f"{proxy.url}/v1/customers",
            data=b"name=Replayed",
            headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "bench-key-1"},
        )
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(request, timeout=10)
        proxy.settings.error_rate = 0.0
        with urllib.request.urlopen(request, timeout=10) as answer:
            replayed = json.loads(answer.read())
        stats = gateway_proxy.fetch_stats(proxy.url)
    finally:
        proxy.stop()
    customers = _client(localstripe.url).v1.customers.list({"limit": 100}).data
    assert [c.id for c in customers if c.name == "Replayed"] == [replayed["id"]]
    assert stats["forwarded"] == 1
    assert stats["replayed"] == 1


def test_it_reads_the_marked_facts_of_a_page():
    page = (
        b'<div><p data-health="scheduler" data-ok="false">Scheduler <b>down</b> since 9:02</p>'
        b"<br><span data-health='oldest-overdue-hold'>3 min</span></div>"
    )
    marks = marked_texts(page, "data-health")
    assert marks["scheduler"]["text"] == "Scheduler down since 9:02"
    assert marks["scheduler"]["attributes"]["data-ok"] == "false"
    assert marks["oldest-overdue-hold"]["text"] == "3 min"


def test_the_holds_part_runs_end_to_end_on_a_tiny_size(tmp_path):
    """Three holds through the whole plumbing of `make bench`'s holds part: localstripe,
    the proxy, a worker and cron as deployed, the booking path, the outcome read at the
    gateway, the printed section. Only what happened is checked, never how fast."""
    from tests.bench import holds, printing

    phase = holds.run_phase(
        tmp_path / "holds",
        f"sqlite:///{tmp_path / 'holds.sqlite3'}",
        label="tiny",
        holds=3,
        workers=1,
        delay=0.0,
        error_rate=0.0,
        lead=120.0,
        due_in=2.0,
        timeout=180.0,
        extra_env={},
        floor=False,
        log=lambda *_args: None,
    )
    result = phase.outcome
    assert dict(result.states) == {"held": 3}
    assert (result.created_twice, result.live_twice) == (0, 0)
    assert (result.rows_not_live, result.live_untracked) == (0, 0)
    assert len(result.lateness()) == 3
    text = "\n".join(printing.holds_section(phase, goal_p99=10.0))
    assert "3 of 3" in text

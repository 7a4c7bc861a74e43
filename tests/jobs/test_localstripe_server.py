"""Our localstripe launcher: 127.0.0.1 only, state in our file, a Stripe.js that keeps to itself."""

import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.servers import free_port
from webapp.payments.stripe_gateway import StripeGateway

ROOT = Path(__file__).resolve().parents[2]


def start(port: int, state: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jobs.localstripe_server",
            "--port",
            str(port),
            "--state",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout.readline().strip() == f"localstripe listening on http://127.0.0.1:{port}"
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(10)
    process.stdout.close()


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port` (Linux /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def gateway(port: int) -> StripeGateway:
    return StripeGateway(
        api_key="sk_test_covered",
        api_base=f"http://127.0.0.1:{port}",
        publishable_key="pk_test_covered",
        js_url="unused",
        max_network_retries=0,
    )


def test_it_listens_on_127_0_0_1_only_and_keeps_its_state_in_our_file(tmp_path):
    port, state = free_port(), tmp_path / "localstripe.pickle"
    process = start(port, state)
    try:
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing on ::
        customer = gateway(port).create_customer(name="Ann", email=None, reference="client-1")
        assert state.exists()
    finally:
        stop(process)

    process = start(port, state)
    try:
        saved = gateway(port).v1.customers.retrieve(customer)
        assert saved.metadata["covered_reference"] == "client-1"
    finally:
        stop(process)


def test_it_serves_a_stripe_js_that_declares_no_globals_but_stripe(localstripe_server):
    with urllib.request.urlopen(localstripe_server.js_url, timeout=10) as response:
        script = response.read().decode()
        assert response.headers["Content-Type"].startswith("application/javascript")
    assert script.startswith("{\n") and script.rstrip().endswith("}")
    assert "class Element" in script and "Stripe = (apiKey) =>" in script


def test_the_served_card_element_reads_a_number_without_its_spaces():
    import warnings

    import pytest

    with warnings.catch_warnings():  # localstripe's aiohttp middleware style, on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from jobs.localstripe_server import (
            TYPED_NUMBER,
            accept_spaced_numbers,
            block_scoped_stripe_js,
        )

    served = block_scoped_stripe_js()
    assert TYPED_NUMBER not in served
    assert "number: this._inputs.number.value.replace(/[\\s-]/g, '')," in served
    with pytest.raises(ValueError):  # localstripe changed: say so rather than serve it unpatched
        accept_spaced_numbers("class Element {}")

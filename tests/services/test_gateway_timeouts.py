"""A payment gateway that never answers: the call gives up after the configured attempts.

The black hole accepts connections and reads requests but never answers, as a hung
gateway does. The app's StripeGateway (built from STRIPE_TIMEOUT_SECONDS and
STRIPE_MAX_NETWORK_RETRIES) raises a transient error after 1 + retries attempts, so
a web request ends with Covered's message before the web server's timeout
(deploy/gunicorn.conf.py, checked in tests/topology/test_deploy_files.py).
"""

import socket
import threading

import pytest

from webapp import create_app
from webapp.payments.gateway import TransientGatewayError


class BlackHole:
    """A TCP server on 127.0.0.1 that counts connections and never answers."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)  # kept open, never answered

    def close(self):
        self.server.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def black_hole():
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.mark.parametrize("retries", [0, 1])
def test_a_hung_gateway_is_given_up_after_the_configured_attempts(black_hole, monkeypatch, retries):
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("STRIPE_MAX_NETWORK_RETRIES", str(retries))
    monkeypatch.setenv("STRIPE_API_BASE", black_hole.url)
    app = create_app({"TESTING": True})
    gateway = app.extensions["payment_gateway"]
    with pytest.raises(TransientGatewayError) as error:
        gateway.create_customer(name="Ana Rivera", email=None, reference="client-1")
    assert error.value.code == "unreachable"
    assert len(black_hole.connections) == 1 + retries

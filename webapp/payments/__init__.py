"""Card payments: the gateway protocol, its Stripe implementation, error classes.

`current_gateway()` is the app's `PaymentGateway`: a `StripeGateway` built from the
STRIPE_* settings (localstripe on 127.0.0.1 by default; network timeout and
retries from STRIPE_TIMEOUT_SECONDS and STRIPE_MAX_NETWORK_RETRIES), or whatever object the
config key `PAYMENT_GATEWAY` holds (tests pass the strict in-memory gateway).
"""

from flask import Flask, current_app

from webapp.payments.gateway import PaymentGateway

EXTENSION = "payment_gateway"


def init_app(app: Flask) -> None:
    gateway_override = app.config.get("PAYMENT_GATEWAY")
    if gateway_override is not None:
        app.extensions[EXTENSION] = gateway_override
        return
    # reason: the Stripe SDK is loaded only when the app talks to Stripe or localstripe
    from webapp.payments.stripe_gateway import StripeGateway

    app.extensions[EXTENSION] = StripeGateway(
        api_key=app.config["STRIPE_API_KEY"],
        api_base=app.config["STRIPE_API_BASE"],
        publishable_key=app.config["STRIPE_PUBLISHABLE_KEY"],
        js_url=app.config["STRIPE_JS_URL"],
        # Bounded so a hung gateway answers before the web server's timeout (README).
        timeout=app.config["STRIPE_TIMEOUT_SECONDS"],
        max_network_retries=app.config["STRIPE_MAX_NETWORK_RETRIES"],
    )


def current_gateway() -> PaymentGateway:
    """The app's payment gateway (see the module's docstring)."""
    return current_app.extensions[EXTENSION]

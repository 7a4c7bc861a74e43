"""POST /webhooks/stripe: gateway events, signature checked with STRIPE_WEBHOOK_SECRET.

No session and no CSRF token (Stripe signs the body instead). A bad signature or
body, or an event dated in the future → 400; an event already seen, of a type we
ignore, for a reference we do not know, or one the gateway contradicts → 200
(Stripe stops resending it); the gateway unreachable while we re-read the object
→ 503 with Retry-After, nothing recorded (Stripe resends it).
"""

import logging

import stripe as stripe_sdk
from flask import Blueprint, current_app, jsonify, request

from webapp.extensions import csrf
from webapp.services import preauth_runs
from webapp.views.rendering import answer_refused

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)


@bp.post("/stripe")
@csrf.exempt
def stripe():
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    signature = request.headers.get("Stripe-Signature", "")
    try:
        event = stripe_sdk.Webhook.construct_event(request.get_data(), signature, secret)
    except (ValueError, TypeError, AttributeError, stripe_sdk.SignatureVerificationError) as error:
        # a bad signature, or a signed body that is not a JSON object
        log.warning("refused a Stripe webhook: %s", error)
        return jsonify(error="invalid signature or payload"), 400
    try:
        outcome = preauth_runs.handle_gateway_event(event)
    except preauth_runs.WebhookRefused as refused:
        message, status = answer_refused(refused)
        log.warning("refused a Stripe webhook: %s", message)
        return jsonify(error=message), status
    except preauth_runs.GatewayUnavailable:
        return jsonify(error="the payment service could not be reached"), 503, {"Retry-After": "60"}
    return jsonify(received=True, outcome=outcome), 200

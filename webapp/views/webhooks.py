"""POST /webhooks/stripe: gateway events, signature checked with STRIPE_WEBHOOK_SECRET.

No session and no CSRF token (Stripe signs the body instead). A bad signature or
body → 400; an event already seen, of a type we ignore, or for a reference we do
not know → 200 (Stripe stops resending it).
"""

import logging

import stripe as stripe_sdk
from flask import Blueprint, current_app, jsonify, request

from webapp.extensions import csrf
from webapp.services import preauth_runs

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
        obj = event["data"]["object"]
        payload = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        event_id, event_type = str(event["id"]), str(event["type"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        log.warning("refused a signed Stripe webhook without a usable event: %r", error)
        return jsonify(error="the event has no id, type or data.object"), 400
    outcome = preauth_runs.handle_gateway_event(event_id, event_type, payload)
    return jsonify(received=True, outcome=outcome), 200

"""One base `Refused` for every use case's refusal, answered the same way by every view."""

import inspect

import pytest

from webapp.services import (
    automations,
    booking,
    cards,
    charges,
    encounter_events,
    invoices,
    legacy_import,
    password_links,
    preauth_runs,
    preauth_state,
    refunds,
)
from webapp.services.errors import Refused
from webapp.views.rendering import answer_refused

SERVICES = (automations, booking, cards, charges, encounter_events, invoices, legacy_import,
            password_links, preauth_runs, preauth_state, refunds)  # fmt: skip


def refusal_kinds() -> list[type]:
    return sorted(
        {
            value
            for module in SERVICES
            for name, value in vars(module).items()
            if inspect.isclass(value) and name.endswith("Refused") and value is not Refused
        },
        key=lambda kind: kind.__name__,
    )


def test_every_refusal_of_a_service_is_a_refused():
    kinds = refusal_kinds()
    assert len(kinds) >= 11
    assert [k.__name__ for k in kinds if not issubclass(k, Refused)] == []


@pytest.mark.parametrize(
    ("refused", "answer"),
    [
        (charges.ChargeRefused("Already charged."), ("Already charged.", 409)),
        (cards.CardRefused("That card expired."), ("That card expired.", 422)),
        (preauth_runs.WebhookRefused("Dated in the future."), ("Dated in the future.", 400)),
        (password_links.LinkRefused("Expired.", 410), ("Expired.", 410)),
        (refunds.RefundRefused("Too much.", "amount"), ("Too much.", 409)),
    ],
)
def test_a_view_answers_a_refusal_with_its_message_and_status(refused, answer):
    assert answer_refused(refused) == answer
    assert str(refused) == refused.message


def test_a_refusal_no_view_catches_is_an_error_page_not_a_500(app, client):
    def refuse():
        raise preauth_state.ActionRefused("The hold is being renewed right now.")

    app.add_url_rule("/refuse-for-test", "refuse_for_test", refuse)
    response = client.get("/refuse-for-test")

    assert response.status_code == 409
    assert "The hold is being renewed right now." in response.get_data(as_text=True)

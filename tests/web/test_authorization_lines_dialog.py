"""The Add/Edit dialog with lines, through HTTP: add and remove lines without saving,
save several, refuse a line's dates outside the authorization's."""

from sqlalchemy import func, select

from tests import factories
from webapp.extensions import db
from webapp.models import Authorization, AuthorizationLine


def _practice(world):
    client = factories.client(world.org)
    payer = factories.payer(world.org, name="Suncoast")
    policy = factories.insurance(world.org, client, payer)
    aba = factories.service_type(world.org, cpt_code="97153", unit_minutes=15)
    supervision = factories.service_type(world.org, cpt_code="97155", unit_minutes=15)
    db.session.commit()
    return client, policy, aba, supervision


def _form(policy, aba, supervision, **extra):
    return {
        "client_insurance_id": policy.id, "number": "ABA-7", "start_date": "2026-03-01",
        "end_date": "2026-08-31", "decision": "approved", "urgency": "standard",
        "lines-0-kind": "units", "lines-0-allowed": "40", "lines-0-frequency": "week",
        "lines-0-service_type_ids": [aba.id], "lines-0-decision": "approved",
        "lines-1-kind": "units", "lines-1-allowed": "8", "lines-1-frequency": "week",
        "lines-1-service_type_ids": [supervision.id], "lines-1-decision": "approved",
        **extra,
    }  # fmt: skip


def _lines() -> int:
    return db.session.scalar(select(func.count()).select_from(AuthorizationLine))


def test_adding_and_removing_a_line_shows_the_dialog_again_and_saves_nothing(client, auth, world):
    sam, policy, aba, supervision = _practice(world)
    auth.login(world.biller)
    url = f"/clients/{sam.id}/authorizations/new"
    added = client.post(url, data=_form(policy, aba, supervision, add_line="1"))
    body = added.get_data(as_text=True)
    assert added.status_code == 200 and body.count('class="auth-line"') == 3
    removed = client.post(url, data=_form(policy, aba, supervision, remove_line="0"))
    body = removed.get_data(as_text=True)
    assert body.count('class="auth-line"') == 1 and 'value="8"' in body
    assert _lines() == 0


def test_an_authorization_with_two_lines_is_saved(client, auth, world):
    sam, policy, aba, supervision = _practice(world)
    auth.login(world.biller)
    url = f"/clients/{sam.id}/authorizations/new"
    saved = client.post(url, data=_form(policy, aba, supervision), headers={"HX-Request": "true"})
    assert "HX-Redirect" in saved.headers
    auth_row = db.session.scalars(select(Authorization)).one()
    assert [(x.codes, x.allowed, x.frequency) for x in auth_row.lines] == [
        ("97153", 40, "week"),
        ("97155", 8, "week"),
    ]
    edit = client.get(
        f"/authorizations/{auth_row.id}/edit", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert edit.count('class="auth-line"') == 2 and "checked" in edit


def test_a_line_outside_the_authorization_dates_is_refused_under_the_field(client, auth, world):
    sam, policy, aba, supervision = _practice(world)
    auth.login(world.biller)
    response = client.post(
        f"/clients/{sam.id}/authorizations/new",
        data=_form(policy, aba, supervision, **{"lines-1-start_date": "2026-09-01"}),
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Inside the authorization&#39;s dates, please." in body
    assert "Nothing was saved." in body and _lines() == 0

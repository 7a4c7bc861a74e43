"""The Insurance Authorizations section, its dialog, filters and ledger, through HTTP."""

from datetime import date

import pytest
from sqlalchemy import event, select

from tests import factories
from webapp.extensions import db
from webapp.models import AuditEvent, Authorization


@pytest.fixture
def practice(world):
    client = factories.client(world.org, first_name="Ada", last_name="Lovelace")
    payer = factories.payer(world.org, name="Blue Harbor", messaging_enabled=True)
    policy = factories.insurance(world.org, client, payer)
    therapy = factories.service_type(world.org, cpt_code="90837")
    aba = factories.service_type(world.org, cpt_code="97153", unit_minutes=15)
    foreign = factories.service_type(world.outsider_org, cpt_code="90834")
    db.session.commit()
    return dict(client=client, policy=policy, therapy=therapy, aba=aba, foreign=foreign)


def _form(p, **overrides):
    data = {
        "client_insurance_id": p["policy"].id,
        "number": "AUTH-77",
        "kind": "sessions",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "service_type_ids": [p["therapy"].id],
        "allowed": "12",
        "frequency": "",
    }
    data.update(overrides)
    return factories.one_line_form(data)


def test_it_adds_an_authorization_from_the_dialog(client, auth, world, practice):
    auth.login(world.biller)
    url = f"/clients/{practice['client'].id}/authorizations/new"
    dialog = client.get(url, headers={"HX-Request": "true"})
    assert b"<dialog" in dialog.data and b"<html" not in dialog.data
    response = client.post(url, data=_form(practice), headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"].endswith(f"/clients/{practice['client'].id}/insurance")
    saved = db.session.scalars(select(Authorization)).one()
    [line] = saved.lines
    assert (saved.number, line.kind, line.allowed, line.frequency) == (
        "AUTH-77",
        "sessions",
        12,
        None,
    )
    assert [s.cpt_code for s in line.service_types] == ["90837"]
    page = client.get(f"/clients/{practice['client'].id}/insurance").data.decode()
    assert "AUTH-77" in page and "Authorization added." in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"end_date": "2025-12-01"}, "The end date is before the start date."),
        ({"allowed": "2.5"}, "Sessions allowed must be a whole number from 1 to 10,000."),
        ({"allowed": "0"}, "Sessions allowed must be a whole number from 1 to 10,000."),
        (
            {"kind": "units", "allowed": "-3", "frequency": "week"},
            "Units allowed must be a whole number from 1 to 10,000.",
        ),
        ({"allowed": "10001"}, "Sessions allowed must be a whole number from 1 to 10,000."),
        ({"allowed": str(2**63)}, "Sessions allowed must be a whole number from 1 to 10,000."),
        ({"allowed": "\u00b2"}, "Sessions allowed must be a whole number from 1 to 10,000."),
        ({"end_date": "9999-12-31"}, "Enter a date from Jan 1, 1900 to Dec 31, 2099."),
        ({"start_date": "0001-01-01"}, "Enter a date from Jan 1, 1900 to Dec 31, 2099."),
        ({"frequency": "week"}, "Frequency applies to Units only"),
        ({"kind": "units"}, "Choose a frequency for a Units line."),
        ({"service_type_ids": []}, "Choose at least one service."),
        ({"start_date": ""}, "Enter a start date."),
        ({"kind": ""}, "Choose Sessions or Units."),
    ],
)
def test_it_rejects_bad_fields_with_a_message_and_saves_nothing(
    client, auth, world, practice, overrides, message
):
    auth.login(world.admin)
    response = client.post(
        f"/clients/{practice['client'].id}/authorizations/new",
        data=_form(practice, **overrides),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert message in response.data.decode()
    assert db.session.scalars(select(Authorization)).all() == []


def test_it_refuses_a_service_of_another_organization(client, auth, world, practice):
    auth.login(world.admin)
    response = client.post(
        f"/clients/{practice['client'].id}/authorizations/new",
        data=_form(practice, service_type_ids=[practice["foreign"].id]),
    )
    assert response.status_code == 422
    assert b"Choose services of this practice only." in response.data
    assert db.session.scalars(select(Authorization)).all() == []


def test_the_filter_tabs_count_and_swap_only_the_table(client, auth, world, practice):
    p = practice
    factories.authorization(
        world.org,
        p["policy"],
        [p["therapy"]],
        number="OLD",
        end_date=date(2025, 6, 30),
        start_date=date(2025, 1, 1),
    )
    factories.authorization(
        world.org, p["policy"], [p["therapy"]], number="NOW", end_date=date(2099, 1, 1)
    )
    db.session.commit()
    auth.login(world.clinician if False else world.biller)
    whole = client.get(f"/clients/{p['client'].id}/insurance")
    assert whole.headers["Vary"] == "Cookie, HX-Request" or "HX-Request" in whole.headers["Vary"]
    page = whole.data.decode()
    assert 'data-status="all"' in page and "OLD" in page and "NOW" in page
    partial = client.get(
        f"/clients/{p['client'].id}/insurance?status=expired", headers={"HX-Request": "true"}
    ).data.decode()
    assert "<html" not in partial and 'id="auth-section"' in partial
    assert "OLD" in partial and "NOW" not in partial
    assert '<span class="count">1</span></a>' in partial


def test_an_unknown_filter_shows_all(client, auth, world, practice):
    auth.login(world.admin)
    response = client.get(f"/clients/{practice['client'].id}/insurance?status=bogus")
    assert response.status_code == 200


def test_it_removes_an_authorization_with_an_audit_record(client, auth, world, practice):
    row = factories.authorization(
        world.org, practice["policy"], [practice["therapy"]], number="GONE"
    )
    db.session.commit()
    auth.login(world.admin)
    response = client.post(f"/authorizations/{row.id}/delete", headers={"HX-Request": "true"})
    assert "HX-Redirect" in response.headers
    assert db.session.get(Authorization, row.id) is None
    event_row = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "authorization.removed")
    ).one()
    assert event_row.before["number"] == "GONE"


def test_the_ledger_lists_each_counted_encounter_with_running_remaining(
    client, auth, world, practice
):
    p = practice
    row = factories.authorization(world.org, p["policy"], [p["therapy"]], number="L-1", allowed=3)
    kept = factories.encounter(
        world.org, p["client"], world.clinician, p["policy"], [p["therapy"]], status="kept"
    )
    db.session.commit()
    auth.login(world.admin)
    page = client.get(f"/authorizations/{row.id}").data.decode()
    assert f"/encounters/{kept.id}" in page
    assert 'id="ledger-remaining">2<' in page


def test_status_table_uses_a_fixed_number_of_queries(client, auth, world, practice, app):
    p = practice
    auth.login(world.admin)

    def count_queries(n_auths: int) -> int:
        for i in range(n_auths):
            a = factories.authorization(
                world.org, p["policy"], [p["therapy"], p["aba"]], number=f"Q{n_auths}-{i}"
            )
            factories.encounter(
                world.org, p["client"], world.clinician, p["policy"], [p["therapy"]], status="kept"
            )
            del a
        db.session.commit()
        statements = []

        def record(*_args):
            statements.append(1)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            response = client.get(
                f"/clients/{p['client'].id}/insurance", headers={"HX-Request": "true"}
            )
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert response.status_code == 200
        db.session.execute(Authorization.__table__.delete())
        db.session.commit()
        return len(statements)

    assert count_queries(1) == count_queries(50)

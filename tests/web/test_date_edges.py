"""Dates at the edges: refused with a message where a person types them, never a 500.

The supported range is 1900-01-01 … 2099-12-31 (webapp/domain/limits.py). An
authorization saved before that rule with an end date of 12/31/9999 still shows,
can be corrected in its dialog and removed; a 500, when one happens, never
claims the opposite of what happened.
"""

import io
from datetime import date

import pytest
from sqlalchemy import func, select

from tests import factories
from webapp.extensions import db
from webapp.models import Authorization, Encounter

HX = {"HX-Request": "true"}  # a dialog as htmx asks for it (a plain GET opens its page)

RANGE_MESSAGE = "Enter a date from Jan 1, 1900 to Dec 31, 2099."


@pytest.fixture
def practice(world):
    client = factories.client(world.org, primary_clinician_id=world.clinician.id)
    payer = factories.payer(world.org, messaging_enabled=True)
    policy = factories.insurance(world.org, client, payer)
    therapy = factories.service_type(world.org, cpt_code="97153", unit_minutes=15)
    db.session.commit()
    return {"client": client, "policy": policy, "therapy": therapy}


def _authorization_form(p, **overrides):
    data = {
        "client_insurance_id": p["policy"].id,
        "kind": "units",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "service_type_ids": [p["therapy"].id],
        "allowed": "8",
        "frequency": "week",
    }
    return factories.one_line_form({**data, **overrides})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("end_date", "9999-12-31"),
        ("end_date", "2100-01-01"),
        ("start_date", "0001-01-01"),
        ("start_date", "1899-12-31"),
    ],
)
def test_the_dialog_refuses_a_date_outside_the_range_under_the_field(
    client, auth, world, practice, field, value
):
    auth.login(world.biller)
    response = client.post(
        f"/clients/{practice['client'].id}/authorizations/new",
        data=_authorization_form(practice, **{field: value}),
        headers={"HX-Request": "true"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<small class="field-error" id="{field}-error">{RANGE_MESSAGE}</small>' in page
    assert "Authorization added." not in page and "Nothing was saved" in page
    assert db.session.scalar(select(func.count(Authorization.id))) == 0


def test_the_dialog_says_the_range_and_what_to_do_for_open_ended(client, auth, world, practice):
    auth.login(world.biller)
    page = client.get(f"/clients/{practice['client'].id}/authorizations/new", headers=HX).get_data(
        as_text=True
    )
    assert "From Jan 1, 1900 to Dec 31, 2099." in page  # under the start date
    assert "Open-ended (written 12/31/9999)? Enter 12/31/2099." in page  # under the end date
    assert 'max="2099-12-31"' in page and 'min="1900-01-01"' in page


@pytest.mark.parametrize("frequency", ["day", "week", "month", "period"])
def test_the_last_supported_day_saves_and_every_page_shows_it(
    client, auth, world, practice, frequency
):
    auth.login(world.biller)
    form = _authorization_form(practice, end_date="2099-12-31", frequency=frequency)
    response = client.post(f"/clients/{practice['client'].id}/authorizations/new", data=form)
    assert response.status_code == 200 and "HX-Redirect" in response.headers
    saved = db.session.scalars(select(Authorization)).one()
    for url in (
        f"/clients/{practice['client'].id}/insurance",
        f"/authorizations/{saved.id}",
        "/schedule?date=2099-12-31",
        "/reports/authorizations?start=2099-01-01&end=2099-12-31&by=week",
        "/reports/authorizations.csv?start=2099-01-01&end=2099-12-31&by=day",
    ):
        assert client.get(url).status_code == 200, url


@pytest.fixture
def stored_9999(world, practice):
    """An authorization saved before the range existed, ending 12/31/9999, with a visit."""
    row = factories.authorization(
        world.org, practice["policy"], [practice["therapy"]], kind="sessions", allowed=30,
        start_date=date(2026, 1, 1), end_date=date(9999, 12, 31),
    )  # fmt: skip
    factories.encounter(world.org, practice["client"], world.clinician, practice["policy"],
                        [practice["therapy"]])  # fmt: skip
    db.session.commit()
    return row


@pytest.mark.parametrize("role", ["admin", "biller", "clinician"])
def test_a_stored_year_9999_authorization_breaks_no_page(
    client, auth, world, practice, stored_9999, role
):
    auth.login(world.user(role))
    urls = [
        f"/clients/{practice['client'].id}/insurance",
        f"/authorizations/{stored_9999.id}",
        "/schedule",
        f"/encounters/{db.session.scalar(select(Encounter.id))}",
    ]
    if role != "clinician":
        urls.append("/reports/authorizations?start=2026-01-01&end=2026-12-31&by=week")
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    if role != "clinician":
        page = client.get(f"/clients/{practice['client'].id}/insurance").get_data(as_text=True)
        assert "Dec 31, 9999" in page


def test_a_stored_weekly_cap_to_year_9999_still_shows_its_page(client, auth, world, practice):
    """417,000 weekly windows: slow to draw, but drawn (the edit dialog then corrects it)."""
    row = factories.authorization(
        world.org, practice["policy"], [practice["therapy"]], kind="units", allowed=8,
        frequency="week", start_date=date(2026, 1, 1), end_date=date(9999, 12, 31),
    )  # fmt: skip
    db.session.commit()
    auth.login(world.biller)
    assert client.get(f"/clients/{practice['client'].id}/insurance").status_code == 200
    assert client.get(f"/authorizations/{row.id}/edit", headers=HX).status_code == 200


def test_a_stored_year_9999_authorization_can_be_corrected_or_removed(
    client, auth, world, practice, stored_9999
):
    auth.login(world.biller)
    url = f"/authorizations/{stored_9999.id}/edit"
    assert client.get(url, headers=HX).status_code == 200
    form = _authorization_form(practice, kind="sessions", frequency="")
    refused = client.post(url, data={**form, "end_date": "9999-12-31"})
    assert refused.status_code == 422 and RANGE_MESSAGE in refused.get_data(as_text=True)
    fixed = client.post(url, data={**form, "end_date": "2099-12-31"})
    assert fixed.status_code == 200
    db.session.expire_all()
    assert db.session.get(Authorization, stored_9999.id).end_date == date(2099, 12, 31)
    assert client.post(f"/authorizations/{stored_9999.id}/delete").status_code == 200
    assert db.session.scalar(select(func.count(Authorization.id))) == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date=9999-12-31", RANGE_MESSAGE),
        ("date=0001-01-01", RANGE_MESSAGE),
        ("date=1899-12-31&view=day", RANGE_MESSAGE),
        ("date=10000-01-01", "Enter the date as YYYY-MM-DD."),
        ("date=2026-02-30", "Enter the date as YYYY-MM-DD."),
    ],
)
def test_the_schedule_answers_a_date_outside_the_range_with_a_message(
    client, auth, world, query, message
):
    auth.login(world.clinician)
    response = client.get(f"/schedule?{query}")
    assert response.status_code == 422
    assert f"{message} Showing today instead." in response.get_data(as_text=True)


def test_the_schedule_at_the_range_ends_offers_no_step_outside_it(client, auth, world):
    auth.login(world.admin)
    last = client.get("/schedule?date=2099-12-31&view=day").get_data(as_text=True)
    assert "Next →" not in last and "← Previous" in last
    first = client.get("/schedule?date=1900-01-01&view=day").get_data(as_text=True)
    assert "← Previous" not in first and "Next →" in first


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("9999-01-01", "9999-12-31", RANGE_MESSAGE),
        ("0001-01-01", "0001-12-31", RANGE_MESSAGE),
        ("2099-06-01", "2100-01-31", RANGE_MESSAGE),
    ],
)
def test_the_report_refuses_a_range_outside_the_years_under_the_field(
    client, auth, world, start, end, message
):
    auth.login(world.biller)
    response = client.get(f"/reports/authorizations?start={start}&end={end}")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    csv = client.get(f"/reports/authorizations.csv?start={start}&end={end}")
    assert csv.status_code == 302  # back to the report, which shows the message


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "2026-13-01", "x" * 40])
def test_the_release_date_refuses_what_is_not_a_supported_date(client, auth, world, value):
    auth.login(world.admin)
    response = client.post("/admin/organization/release-date", data={"release_date": value})
    assert response.status_code == 422
    db.session.refresh(world.org)
    assert world.org.enhanced_authorizations_release_date is None


def test_a_legacy_row_ending_in_year_9999_is_a_bad_row(client, auth, world):
    from webapp.services import legacy_import

    org = factories.legacy_import_ready(world.org)  # client Ana Rivera with Aetna
    text = (
        "client,payer,authorization_number,end_date,sessions_allowed\n"
        "Ana Rivera,Aetna,OPEN-1,12/31/9999,4\n"
        "Ana Rivera,Aetna,BIG-1,,10001\n"
    )
    result = legacy_import.import_rows(org, legacy_import.parse_csv(text), actor_id=None)
    assert result.imported == 0
    reasons = [error["reason"] for error in result.errors]
    assert "out of range" in reasons[0] and "Dec 31, 2099" in reasons[0]
    assert "more than 10,000" in reasons[1]


def test_a_csv_cell_past_the_csv_limit_is_a_message_not_a_500(client, auth, world):
    factories.legacy_import_ready(world.org)
    db.session.commit()
    auth.login(world.admin)
    body = "client,payer,authorization_number,end_date,sessions_allowed\n" + "a" * 131_073 + ",b\n"
    response = client.post(
        "/admin/imports",
        data={"file": (io.BytesIO(body.encode()), "big.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Row 2 cannot be read" in response.get_data(as_text=True)


# --- a 500 never claims the opposite of what happened ----------------------------------------


@pytest.fixture
def failing(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production: the 500 page
    return app


def test_a_page_that_fails_after_a_save_does_not_say_nothing_was_saved(
    client, auth, world, practice, failing, monkeypatch
):
    from webapp.views import clients

    auth.login(world.biller)
    saved = client.post(
        f"/clients/{practice['client'].id}/authorizations/new", data=_authorization_form(practice)
    )
    assert saved.status_code == 200

    def broken(*_args, **_kwargs):
        raise RuntimeError("the page broke")

    monkeypatch.setattr(clients, "load_totals", broken)
    page = client.get(f"/clients/{practice['client'].id}/insurance")
    text = page.get_data(as_text=True)
    assert page.status_code == 500
    assert "Authorization added." in text  # the flash of the save that did happen
    assert "this page could not be shown" in text and "Nothing was saved" not in text


def test_a_change_that_fails_after_its_commit_says_it_was_saved(
    client, auth, world, practice, failing, monkeypatch
):
    from webapp.views import authorizations

    def broken(*_args, **_kwargs):
        raise RuntimeError("after the commit")

    monkeypatch.setattr(authorizations, "_saved", broken)
    auth.login(world.biller)
    response = client.post(
        f"/clients/{practice['client'].id}/authorizations/new", data=_authorization_form(practice)
    )
    assert response.status_code == 500
    assert "Your change was saved" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Authorization.id))) == 1


def test_a_change_that_fails_before_its_commit_says_nothing_was_saved(
    client, auth, world, practice, failing, monkeypatch
):
    from webapp.services import authorizations as service

    def broken(*_args, **_kwargs):
        raise RuntimeError("before the commit")

    monkeypatch.setattr(service, "reallocate_client", broken)
    auth.login(world.biller)
    response = client.post(
        f"/clients/{practice['client'].id}/authorizations/new", data=_authorization_form(practice)
    )
    assert response.status_code == 500
    assert "Nothing was saved" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Authorization.id))) == 0

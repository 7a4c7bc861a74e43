import re

import pytest

from tests.factories import PASSWORD


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def test_it_answers_a_form_without_its_token_with_a_clear_400_page(csrf_app, world):
    client = csrf_app.test_client()
    response = client.post("/login", data={"email": world.admin.email, "password": PASSWORD})
    assert response.status_code == 400
    assert b"security token" in response.data


def test_it_accepts_the_token_from_the_form_and_htmx_header(csrf_app, world):
    client = csrf_app.test_client()
    page = client.get("/login").data.decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": world.admin.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    clients_page = client.get("/clients").data.decode()
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', clients_page).group(1)
    refused = client.post("/logout")
    assert refused.status_code == 400
    accepted = client.post("/logout", headers={"X-CSRFToken": header_token})
    assert accepted.status_code == 302

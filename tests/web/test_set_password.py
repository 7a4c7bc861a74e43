"""The page a one-time link opens: choose a password, then sign in with it."""

import pytest

from tests import factories
from webapp.extensions import db
from webapp.models import User
from webapp.models.base import utcnow
from webapp.services import password_links as links

PASSWORD = "four words make a password"


@pytest.fixture
def newcomer(world) -> User:
    user = factories.user(world.org, "admin", email="new.admin@example.com")
    user.password_hash = links.unusable_password_hash()
    db.session.commit()
    return user


@pytest.fixture
def path(newcomer) -> str:
    return "/password/" + links.issue(newcomer, links.SET_UP, now=utcnow())


def test_it_shows_whose_password_is_being_chosen(client, path, world):
    response = client.get(path)
    assert response.status_code == 200
    page = response.text
    assert "Choose your password" in page
    assert "new.admin@example.com" in page and world.org.name in page
    assert 'autocomplete="new-password"' in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_it_sets_the_password_and_sends_the_person_to_sign_in(client, auth, path, newcomer):
    response = client.post(path, data={"password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert "Your password is set. Sign in with it." in client.get("/login").text
    auth.login(newcomer, PASSWORD)
    assert client.get("/clients").status_code == 200


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("", "", "Choose a password."),
        ("short", "short", "Use at least 12 characters."),
        (PASSWORD, "", "Type the password again."),
        (PASSWORD, PASSWORD + "!", "The two passwords are not the same."),
        ("y" * 257, "y" * 257, "Use at most 256 characters."),
    ],
)
def test_it_answers_a_bad_password_next_to_the_field(client, path, newcomer, password, confirm,
                                                     message):  # fmt: skip
    response = client.post(path, data={"password": password, "confirm": confirm})
    assert response.status_code == 422
    assert 'class="field-error"' in response.text and message in response.text
    db.session.expire_all()
    assert not links.has_usable_password(db.session.get(User, newcomer.id))
    assert client.get(path).status_code == 200  # the link still works


def test_a_used_link_says_so(client, path):
    client.post(path, data={"password": PASSWORD, "confirm": PASSWORD})
    again = {"password": PASSWORD * 2, "confirm": PASSWORD * 2}
    for response in (client.get(path), client.post(path, data=again)):
        assert response.status_code == 410
        assert "already used" in response.text
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("token", ["nonsense", "a.b", "x" * 3000, "eyJ1IjoxfQ.sig"])
def test_a_link_we_did_not_issue_is_not_found(client, token):
    for response in (client.get(f"/password/{token}"), client.post(f"/password/{token}")):
        assert response.status_code == 404
        assert "This link is not valid" in response.text


def test_whoever_was_signed_in_is_signed_out_once_the_password_is_set(client, auth, path, world):
    auth.login(world.biller)
    client.post(path, data={"password": PASSWORD, "confirm": PASSWORD})
    response = client.get("/clients")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_link_with_a_control_character_is_refused_before_it_is_read(client):
    """A NUL in the path is refused for every route (webapp/security.py), this one too."""
    for response in (client.get("/password/abc%00def"), client.post("/password/abc%00def")):
        assert response.status_code == 400

from tests.factories import PASSWORD


def test_it_shows_the_sign_in_page(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in to Covered" in response.data


def test_it_redirects_signed_out_visitors_to_login(client):
    response = client.get("/clients")
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


def test_it_signs_in_and_lands_on_today(client, world):
    response = client.post(
        "/login", data={"email": world.admin.email, "password": PASSWORD}, follow_redirects=True
    )
    assert response.status_code == 200
    assert b"<h1>Today</h1>" in response.data  # the work list is the home page
    assert world.admin.name.encode() in response.data


def test_it_accepts_the_email_in_any_case(client, world):
    response = client.post(
        "/login", data={"email": world.biller.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 302


def test_it_gives_one_message_for_a_wrong_password_or_unknown_email(client, world):
    wrong_password = client.post("/login", data={"email": world.admin.email, "password": "nope"})
    unknown_email = client.post("/login", data={"email": "ghost@example.com", "password": "nope"})
    assert wrong_password.status_code == unknown_email.status_code == 401
    message = b"That email and password do not match an account."
    assert message in wrong_password.data
    assert message in unknown_email.data


def test_it_refuses_an_inactive_user(client, world, app):
    from webapp.extensions import db

    world.biller.is_active_user = False
    db.session.commit()
    response = client.post("/login", data={"email": world.biller.email, "password": PASSWORD})
    assert response.status_code == 401


def test_it_only_follows_local_next_urls(client, world):
    response = client.post(
        "/login?next=https://evil.example/", data={"email": world.admin.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


def test_it_signs_out(client, auth, world):
    auth.login(world.admin)
    auth.logout()
    assert client.get("/clients").status_code == 302


def test_it_stores_only_a_password_hash(world):
    assert PASSWORD not in world.admin.password_hash
    assert world.admin.check_password(PASSWORD)

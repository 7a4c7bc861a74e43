"""One-time password links: signed, expiring, single use, dead once the account changes."""

from datetime import datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from tests import factories
from webapp.extensions import db
from webapp.models import AuditEvent, User
from webapp.services import password_links as links

NOW = datetime(2026, 3, 2, 15, 0)
NEW_PASSWORD = "a long enough passphrase"


@pytest.fixture
def newcomer(world) -> User:
    user = factories.user(world.org, "biller")
    user.password_hash = links.unusable_password_hash()
    db.session.commit()
    return user


def refused(token: str, *, now=NOW) -> links.LinkRefused:
    with pytest.raises(links.LinkRefused) as error:
        links.holder(token, now=now)
    return error.value


@pytest.mark.parametrize("purpose", sorted(links.LIFETIMES))
def test_a_link_opens_for_its_account_until_it_expires(newcomer, purpose):
    token = links.issue(newcomer, purpose, now=NOW)
    lifetime = links.LIFETIMES[purpose]
    assert links.holder(token, now=NOW) == newcomer
    assert links.holder(token, now=NOW + lifetime - timedelta(seconds=1)) == newcomer
    assert refused(token, now=NOW + lifetime) is links.EXPIRED
    assert refused(token, now=NOW + lifetime * 5) is links.EXPIRED


def test_setting_the_password_uses_the_link_up(newcomer):
    token = links.issue(newcomer, links.SET_UP, now=NOW)
    links.set_password(token, NEW_PASSWORD, now=NOW)
    db.session.expire_all()
    user = db.session.get(User, newcomer.id)
    assert user.check_password(NEW_PASSWORD) and links.has_usable_password(user)
    assert refused(token) is links.USED
    with pytest.raises(links.LinkRefused) as second_use:
        links.set_password(token, "another long passphrase", now=NOW)
    assert second_use.value is links.USED
    assert db.session.get(User, newcomer.id).check_password(NEW_PASSWORD)


def test_setting_a_password_kills_every_other_link_of_the_account(newcomer):
    older = links.issue(newcomer, links.SET_UP, now=NOW - timedelta(hours=1))
    reset = links.issue(newcomer, links.RESET, now=NOW)
    links.set_password(links.issue(newcomer, links.SET_UP, now=NOW), NEW_PASSWORD, now=NOW)
    assert refused(older) is links.USED
    assert refused(reset) is links.USED


def test_a_reset_link_works_once_for_an_account_with_a_password(world):
    token = links.issue(world.clinician, links.RESET, now=NOW)
    links.set_password(token, NEW_PASSWORD, now=NOW)
    db.session.expire_all()
    assert db.session.get(User, world.clinician.id).check_password(NEW_PASSWORD)
    assert not db.session.get(User, world.clinician.id).check_password(factories.PASSWORD)
    assert refused(token) is links.USED


@pytest.mark.parametrize(
    "change",
    [
        lambda user: setattr(user, "email", "someone.else@example.com"),
        lambda user: setattr(user, "is_active_user", False),
        links.revoke,
    ],
    ids=["email changed", "deactivated after the link", "revoked"],
)
def test_a_change_to_the_account_kills_its_links(newcomer, change):
    token = links.issue(newcomer, links.SET_UP, now=NOW)
    change(newcomer)
    db.session.commit()
    assert refused(token) is links.USED


def test_two_requests_with_one_link_set_one_password(newcomer, monkeypatch):
    """Another request sets the password between this one's reading and writing."""
    token = links.issue(newcomer, links.SET_UP, now=NOW)
    db.session.commit()
    winner = {}

    def the_other_request_wins(password, **_account):
        with db.engine.begin() as other:
            other.execute(db.update(User).where(User.id == newcomer.id).values(password_hash="w"))
        winner["done"] = True
        return None  # this request's password passes the policy

    monkeypatch.setattr(links, "password_refusal", the_other_request_wins)
    with pytest.raises(links.LinkRefused) as lost:
        links.set_password(token, NEW_PASSWORD, now=NOW)
    assert winner and lost.value is links.USED
    db.session.expire_all()
    assert db.session.get(User, newcomer.id).password_hash == "w"
    assert (
        db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.password_set"))
        is None
    )


def test_it_records_who_set_a_password_and_through_which_link(newcomer):
    links.set_password(links.issue(newcomer, links.SET_UP, now=NOW), NEW_PASSWORD, now=NOW)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.password_set"))
    assert (event.user_id, event.entity_type, event.entity_id) == (
        newcomer.id,
        "users",
        newcomer.id,
    )
    assert event.after == {"through": "set_up link"}
    assert "password" not in str(event.after).replace("password_set", "")


@pytest.mark.parametrize("password", ["", "short", "x" * 11, "x" * 257])
def test_a_password_the_policy_refuses_leaves_the_link_usable(newcomer, password):
    token = links.issue(newcomer, links.SET_UP, now=NOW)
    with pytest.raises(links.PasswordRejected):
        links.set_password(token, password, now=NOW)
    assert links.holder(token, now=NOW) == newcomer


def _signed(app, payload, secret=None) -> str:
    return URLSafeSerializer(secret or app.config["SECRET_KEY"], salt=links.SALT).dumps(payload)


def test_anything_but_a_link_we_issued_is_not_valid(app, newcomer, world):
    good = links.issue(newcomer, links.SET_UP, now=NOW)
    body, signature = good.rsplit(".", 1)
    fingerprint = links._fingerprint(newcomer)
    expires = int(NOW.timestamp()) + 3600
    forged = [
        "",
        "x",
        # the second-last character: the last one's low bits are padding, and a change
        # there alone can decode to the very same signature
        good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1],
        f"{body}x.{signature}",
        _signed(
            app, {"u": newcomer.id, "p": "set_up", "x": expires, "f": fingerprint}, "other" * 8
        ),
        _signed(app, {"u": newcomer.id, "p": "admin", "x": expires, "f": fingerprint}),
        _signed(app, {"u": str(newcomer.id), "p": "set_up", "x": expires, "f": fingerprint}),
        _signed(app, {"u": 2**63, "p": "set_up", "x": expires, "f": fingerprint}),
        _signed(app, {"u": 987654, "p": "set_up", "x": expires, "f": fingerprint}),
        _signed(app, {"u": newcomer.id, "p": "set_up", "x": "later", "f": fingerprint}),
        _signed(app, {"u": newcomer.id, "p": "set_up"}),
        _signed(app, [newcomer.id]),
        "\x00" * 10,
        "é" * 5000,
    ]
    for token in forged:
        assert refused(token) is links.INVALID, token
    # someone else's fingerprint on this account's id: a link for another state of the row
    other = _signed(
        app, {"u": newcomer.id, "p": "set_up", "x": expires, "f": links._fingerprint(world.admin)}
    )
    assert refused(other) is links.USED


def test_the_link_starts_with_the_public_url(app, newcomer):
    app.config["PUBLIC_URL"] = "https://covered.example.org"
    url = links.link(newcomer, links.SET_UP, now=NOW)
    assert url.startswith("https://covered.example.org/password/")
    assert links.holder(url.rsplit("/", 1)[1], now=NOW) == newcomer


def test_revoke_refuses_an_account_with_a_password(world):
    with pytest.raises(ValueError, match="without a password"):
        links.revoke(world.admin)


def test_a_deactivated_account_gets_no_password_through_a_link(newcomer):
    newcomer.is_active_user = False
    db.session.commit()
    token = links.issue(newcomer, links.SET_UP, now=NOW)  # issued after the deactivation
    assert refused(token) is links.DEACTIVATED
    with pytest.raises(links.LinkRefused):
        links.set_password(token, NEW_PASSWORD, now=NOW)
    db.session.expire_all()
    assert not links.has_usable_password(db.session.get(User, newcomer.id))

"""Admin › Users use cases on SQLite and PostgreSQL: who may act, invitations by real
email (the link followed), roles, deactivation ending sessions, lockouts, and the last
admin kept over sequences of changes."""

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.web.test_sessions import Browser
from webapp.domain import people_rules
from webapp.extensions import db
from webapp.models import AuditEvent, User
from webapp.models.base import utcnow
from webapp.services import password_links, people, sign_in

NOW = datetime(2026, 3, 2, 15, 0)
LINK = re.compile(r"https://covered\.test(/password/[A-Za-z0-9_.\-]+)")
NEW_PASSWORD = "harbor tide lantern quay"


def audit_count() -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)))


def state_of(user: User) -> tuple:
    db.session.expire_all()
    row = db.session.get(User, user.id)
    return (row.role, row.is_active_user, row.password_hash, row.session_version, row.invited_at)


def invited(world, role="clinician") -> User:
    user = factories.user(world.org, role)
    user.password_hash = password_links.unusable_password_hash()
    db.session.commit()
    return user


# Every role × every action: only an admin acts; anyone else changes nothing (403).
ACTIONS = {
    people_rules.INVITE: lambda actor, target: people.invite(
        actor, email="new.person@example.com", name="New Person", role="biller", now=NOW
    ),
    people_rules.RESEND: lambda actor, target: people.resend_invitation(actor, target, now=NOW),
    people_rules.CHANGE_ROLE: lambda actor, target: people.change_role(actor, target, "biller"),
    people_rules.DEACTIVATE: people.deactivate,
    people_rules.REACTIVATE: lambda actor, target: (
        people.deactivate(actor, target) if actor.is_admin else None,
        people.reactivate(actor, target),
    ),
    people_rules.UNLOCK: people.unlock,
}


def test_the_table_names_every_action():
    assert set(ACTIONS) == set(people_rules.ACTIONS)


@pytest.mark.parametrize("action", people_rules.ACTIONS)
@pytest.mark.parametrize("role", ["admin", "biller", "clinician"])
def test_only_an_admin_may_act_on_people(world, role, action, smtp):
    actor = world.user(role)
    target = invited(world)
    before, events = state_of(target), audit_count()
    if role == "admin":
        ACTIONS[action](actor, target)
        assert audit_count() > events
        return
    with pytest.raises(people.PeopleRefused) as refused:
        ACTIONS[action](actor, target)
    assert refused.value.status == 403 and refused.value.message == people_rules.NOT_ALLOWED
    db.session.rollback()
    assert state_of(target) == before and audit_count() == events
    assert db.session.scalar(select(User).where(User.email == "new.person@example.com")) is None
    assert smtp.received == []


def test_an_invitation_is_emailed_and_its_link_sets_the_password(world, smtp, client, auth):
    now = utcnow().replace(microsecond=0)  # the link page reads the real clock
    sent = people.invite(
        world.admin, email=" Dana.Reyes@Example.com ", name="Dana Reyes", role="biller", now=now
    )
    assert sent.delivery_problem is None
    user = db.session.get(User, sent.user.id)
    assert (user.email, user.role, user.organization_id) == (
        "dana.reyes@example.com",
        "biller",
        world.org.id,
    )
    assert not password_links.has_usable_password(user) and user.invited_at == now
    [received] = smtp.received
    assert received.recipients == ["dana.reyes@example.com"]
    assert received.subject == "You're invited to Harbor Therapy on Covered"
    text, html = received.part("plain"), received.part("html")
    assert "as Biller" in text and "72 hours" in text
    path = LINK.search(text).group(1)
    assert path in html
    page = client.get(path)
    assert page.status_code == 200 and "dana.reyes@example.com" in page.text
    answer = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert answer.status_code == 302
    auth.login(user, NEW_PASSWORD)
    assert client.get(path).status_code == 410  # used up
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.invited"))
    assert (event.user_id, event.entity_id) == (world.admin.id, user.id)
    assert event.after == {
        "email": "dana.reyes@example.com",
        "name": "Dana Reyes",
        "role": "biller",
    }


def test_resending_an_invitation_kills_the_old_link(world, smtp, client):
    sent = people.invite(world.admin, email="sam@example.com", name="Sam", role="clinician",
                         now=utcnow())  # fmt: skip
    old_path = LINK.search(smtp.received[0].part("plain")).group(1)
    assert client.get(old_path).status_code == 200
    people.resend_invitation(world.admin, sent.user, now=utcnow())
    new_path = LINK.search(smtp.received[1].part("plain")).group(1)
    assert new_path != old_path
    assert client.get(old_path).status_code == 410
    assert client.get(new_path).status_code == 200
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "user.invitation_resent")
    )


@pytest.mark.parametrize(
    ("email", "name", "role", "field"),
    [
        ("not an email", "Sam", "biller", "email"),
        ("", "Sam", "biller", "email"),
        ("sam@example.com", "   ", "biller", "name"),
        ("sam@example.com", "x" * 201, "biller", "name"),
        ("sam@example.com", "Sam", "owner", "role"),
        ("sam@example.com", "Sam", "", "role"),
    ],
)
def test_a_bad_invitation_names_its_field_and_adds_nobody(world, smtp, email, name, role, field):
    users, events = db.session.scalar(select(func.count(User.id))), audit_count()
    with pytest.raises(people.PeopleRefused) as refused:
        people.invite(world.admin, email=email, name=name, role=role, now=NOW)
    assert refused.value.field == field and refused.value.status == 422
    assert db.session.scalar(select(func.count(User.id))) == users and audit_count() == events
    assert smtp.received == []


@pytest.mark.parametrize("whose", ["admin", "outsider"])
def test_an_email_with_an_account_anywhere_is_not_invited_again(world, smtp, whose):
    email = world.user(whose).email.upper()
    with pytest.raises(people.PeopleRefused) as refused:
        people.invite(world.admin, email=email, name="Again", role="biller", now=NOW)
    assert refused.value.field == "email" and "already has an account" in refused.value.message


def test_when_the_mail_server_refuses_the_person_is_kept_and_the_admin_told(world, smtp):
    smtp.fail_next(554, "5.7.1 Rejected")
    sent = people.invite(world.admin, email="kim@example.com", name="Kim", role="biller", now=NOW)
    assert "554" in sent.delivery_problem
    assert db.session.get(User, sent.user.id).invited_at == NOW
    assert people.resend_invitation(world.admin, sent.user, now=NOW).delivery_problem is None
    assert len(smtp.messages_to("kim@example.com")) == 1


def test_an_invitation_is_not_resent_to_someone_with_a_password(world):
    with pytest.raises(people.PeopleRefused, match="already chose a password"):
        people.resend_invitation(world.admin, world.biller, now=NOW)


@pytest.mark.parametrize("remember", [False, True], ids=["session", "remember-me cookie"])
def test_deactivating_ends_every_session_at_once_and_reactivating_brings_none_back(
    app, world, remember
):
    app.test_client_class = Browser  # each request its own app context, as in production
    other = app.test_client()
    data = {"email": world.biller.email, "password": factories.PASSWORD}
    other.post("/login", data={**data, **({"remember": "y"} if remember else {})})
    if remember:
        other.delete_cookie("session", domain="covered.test")  # only the cookie is left
    assert other.get("/clients").status_code == 200
    assert people.deactivate(world.admin, world.biller) is True
    assert "/login" in other.get("/clients").headers["Location"]
    assert people.reactivate(world.admin, world.biller) is True
    assert "/login" in other.get("/clients").headers["Location"]  # the old session stays ended
    assert app.test_client().post("/login", data=data).status_code == 302  # signs in again
    kinds = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity_id == world.biller.id)
    ).all()
    assert kinds == ["user.deactivated", "user.reactivated"]


def test_a_deactivated_person_cannot_sign_in(world):
    people.deactivate(world.admin, world.clinician)
    result = sign_in.attempt(world.clinician.email, factories.PASSWORD, address="10.0.0.1")
    assert result.user is None and result.status == 401


def test_an_admin_does_not_deactivate_their_own_account(world):
    other_admin = factories.user(world.org, "admin")
    db.session.commit()
    with pytest.raises(people.PeopleRefused, match="your own account"):
        people.deactivate(other_admin, other_admin)
    assert db.session.get(User, other_admin.id).is_active_user


def test_a_role_change_is_audited_with_before_and_after(world):
    assert people.change_role(world.admin, world.clinician, "biller") is True
    assert people.change_role(world.admin, world.clinician, "biller") is False
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.role_changed"))
    assert event.before == {"role": "clinician", "active": True}
    assert event.after == {"role": "biller", "active": True}


# The last admin, over sequences of changes through the service (each step: the action,
# the target, the argument, whether it is refused).
SEQUENCES = {
    "the only admin demotes themselves": [("change_role", "admin", "biller", True)],
    "the only admin can't deactivate themselves": [("deactivate", "admin", None, True)],
    "a second admin, then the first steps down, then the second can't": [
        ("change_role", "biller", "admin", False),
        ("change_role", "admin", "clinician", False),
        ("change_role", "biller", "clinician", True),
        ("deactivate", "biller", None, True),
    ],
    "a second admin deactivates the first, and is then the last": [
        ("change_role", "biller", "admin", False),
        ("deactivate", "admin", None, False),
        ("change_role", "biller", "biller", True),
        ("reactivate", "admin", None, False),
        ("change_role", "biller", "biller", False),
    ],
    "an invited admin does not count": [
        ("change_role", "invited", "admin", False),
        ("change_role", "admin", "biller", True),
    ],
}


@pytest.mark.parametrize("steps", SEQUENCES.values(), ids=SEQUENCES.keys())
def test_the_practice_always_keeps_an_admin_who_can_sign_in(world, steps):
    cast = {"admin": world.admin, "biller": world.biller, "invited": invited(world)}
    for action, who, argument, refused in steps:
        target = cast[who]
        admins = [u for u in (world.admin, world.biller) if u.is_admin and u.is_active_user]
        actor = next((u for u in admins if u.id != target.id), admins[0])
        call = getattr(people, action)
        args = (actor, target) if argument is None else (actor, target, argument)
        before = state_of(target)
        if refused:
            with pytest.raises(people.PeopleRefused) as error:
                call(*args)
            own = action == "deactivate" and actor.id == target.id
            expected = "your own account" if own else "only admin who can"
            assert expected in error.value.message
            assert state_of(target) == before
        else:
            call(*args)
        db.session.expire_all()
        admins = db.session.scalars(
            select(User).where(User.role == "admin", User.is_active_user.is_(True))
        ).all()
        assert any(password_links.has_usable_password(u) for u in admins)


def test_people_read_with_their_state_and_a_lockout_is_lifted(app, world):
    newcomer = invited(world)
    people.deactivate(world.admin, world.clinician)
    for _ in range(5):
        sign_in.attempt(world.biller.email, "wrong password", address="10.0.0.9")
    rows = {row.user.id: row.state for row in people.people(world.org.id)}
    assert rows == {
        world.admin.id: "active",
        world.biller.id: "locked out",
        world.clinician.id: "deactivated",
        newcomer.id: "invited",
    }
    assert people.unlock(world.admin, world.biller) is True
    assert not sign_in.is_locked_out(world.biller.email)
    assert sign_in.attempt(world.biller.email, factories.PASSWORD, address="10.0.0.8").user
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.unlocked"))
    assert (event.before, event.after) == ({"locked_out": True}, {"locked_out": False})


def test_an_invitation_expires_after_72_hours(world, smtp, client):
    sent = people.invite(world.admin, email="late@example.com", name="Late", role="biller",
                         now=utcnow() - timedelta(hours=72, minutes=1))  # fmt: skip
    path = LINK.search(smtp.received[0].part("plain")).group(1)
    assert client.get(path).status_code == 410
    assert not password_links.has_usable_password(db.session.get(User, sent.user.id))

"""In-app notifications: notify adds rows the caller commits; counts and marking read."""

import pytest

from webapp.extensions import db
from webapp.models import Notification
from webapp.services import notifications


def test_it_adds_one_unread_notification_per_user_without_committing(world):
    notifications.notify(
        [world.admin, world.biller], kind="preauth.expired", title="Hold expired", link="/x"
    )
    assert db.session.new  # nothing committed yet: the caller decides
    db.session.commit()
    assert notifications.unread_count(world.admin) == 1
    assert notifications.unread_count(world.biller) == 1
    assert notifications.unread_count(world.clinician) == 0
    row = db.session.query(Notification).filter_by(user_id=world.biller.id).one()
    assert (row.kind, row.title, row.link, row.organization_id) == (
        "preauth.expired",
        "Hold expired",
        "/x",
        world.org.id,
    )


def test_a_rollback_drops_the_notification(world):
    notifications.notify([world.admin], kind="k", title="t")
    db.session.rollback()
    assert notifications.unread_count(world.admin) == 0


def test_it_marks_one_or_all_read_and_only_the_users_own(world):
    mine = notifications.notify([world.admin, world.admin], kind="k", title="t")
    theirs = notifications.notify([world.biller], kind="k", title="t")
    db.session.commit()

    assert notifications.mark_read(world.admin, [mine[0].id, theirs[0].id]) == 1
    assert notifications.unread_count(world.admin) == 1
    assert notifications.unread_count(world.biller) == 1

    assert notifications.mark_read(world.admin, "all") == 1
    assert notifications.unread_count(world.admin) == 0
    assert notifications.mark_read(world.admin, "all") == 0
    assert notifications.unread_count(world.biller) == 1


def test_it_truncates_long_titles(world):
    (row,) = notifications.notify([world.admin], kind="k", title="x" * 400)
    db.session.commit()
    assert len(row.title) == 300 and row.title.endswith("…")


def test_a_notification_links_only_inside_the_app(world):
    for bad in ("javascript:alert(1)", "https://evil.example/", "//evil.example/x"):
        with pytest.raises(ValueError, match="path inside the app"):
            notifications.notify([world.admin], kind="k", title="t", link=bad)

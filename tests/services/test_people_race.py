"""Two admins removing each other at once: the practice still keeps one (separate
connections; the organization row serializes them)."""

import threading

import pytest

from tests import factories
from webapp.extensions import db
from webapp.models import User
from webapp.services import people


@pytest.mark.parametrize("action", ["change_role", "deactivate"])
def test_two_admins_removing_each_other_at_once_leave_one(app, world, action):
    second = factories.user(world.org, "admin")
    db.session.commit()
    pairs = [(world.admin.id, second.id), (second.id, world.admin.id)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def remove(actor_id: int, target_id: int) -> None:
        with app.app_context():
            actor, target = db.session.get(User, actor_id), db.session.get(User, target_id)
            args = (actor, target, "biller") if action == "change_role" else (actor, target)
            barrier.wait()
            try:
                getattr(people, action)(*args)
                outcomes.append("done")
            except people.PeopleRefused as refused:
                outcomes.append(refused.message)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=remove, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 2 and outcomes.count("done") == 1, outcomes
    db.session.expire_all()
    practice = db.session.query(User).filter_by(organization_id=world.org.id).all()
    admins = [u for u in practice if u.role == "admin" and u.is_active_user]
    assert len(admins) == 1
    # the loser had lost its own admin role, or saw the other as the last admin
    [loser] = [outcome for outcome in outcomes if outcome != "done"]
    assert "Only an admin" in loser or "only admin who can sign in" in loser

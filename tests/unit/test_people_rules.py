"""Admin › Users rules: states, who may act, and a practice always keeping an admin."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.domain import people_rules as rules
from webapp.domain.people_rules import ADMIN, ROLES, Person


@pytest.mark.parametrize(
    ("active", "has_password", "locked_out", "state"),
    [
        (True, True, False, rules.ACTIVE),
        (True, True, True, rules.LOCKED_OUT),
        (True, False, False, rules.INVITED),
        (True, False, True, rules.INVITED),
        (False, True, False, rules.DEACTIVATED),
        (False, True, True, rules.DEACTIVATED),
        (False, False, False, rules.DEACTIVATED),
        (False, False, True, rules.DEACTIVATED),
    ],
)
def test_every_combination_reads_as_one_state(active, has_password, locked_out, state):
    assert (
        rules.user_state(active=active, has_password=has_password, locked_out=locked_out) == state
    )


@pytest.mark.parametrize("action", rules.ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_only_an_admin_manages_people(role, action):
    refusal = rules.action_refusal(role, action)
    assert (refusal is None) == (role == ADMIN)
    if refusal:
        assert refusal == rules.NOT_ALLOWED


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError):
        rules.action_refusal(ADMIN, "delete")


def test_an_admin_does_not_deactivate_themselves_but_may_act_on_themselves_otherwise():
    assert rules.self_refusal(1, 1, rules.DEACTIVATE) == rules.NOT_YOURSELF
    assert rules.self_refusal(1, 2, rules.DEACTIVATE) is None
    for action in set(rules.ACTIONS) - {rules.DEACTIVATE}:
        assert rules.self_refusal(1, 1, action) is None


def test_the_last_admin_who_can_sign_in_is_neither_demoted_nor_deactivated():
    people = [Person(1, ADMIN, True, True), Person(2, "biller", True, True)]
    for role, active in (("biller", True), ("clinician", True), (ADMIN, False)):
        refusal = rules.last_admin_refusal(people, 1, new_role=role, new_active=active, name="Ann")
        assert refusal == rules.LAST_ADMIN.format(name="Ann")
    assert rules.last_admin_refusal(people, 1, new_role=ADMIN, new_active=True) is None


def test_an_invited_or_deactivated_admin_does_not_count_as_the_one_kept():
    for other in (Person(2, ADMIN, True, False), Person(2, ADMIN, False, True)):
        people = [Person(1, ADMIN, True, True), other]
        assert rules.last_admin_refusal(people, 1, new_role="biller", new_active=True)
    people = [Person(1, ADMIN, True, True), Person(2, ADMIN, True, True)]
    assert rules.last_admin_refusal(people, 1, new_role="biller", new_active=True) is None


# Sequences of actions over a small practice: the rule refuses exactly the changes that
# would leave no admin who can sign in, so the practice always keeps one.
people_strategy = st.lists(
    st.tuples(st.sampled_from(ROLES), st.booleans(), st.booleans()), min_size=1, max_size=5
).map(lambda rows: [Person(i + 1, *row) for i, row in enumerate(rows)])
changes_strategy = st.lists(
    st.tuples(st.integers(0, 4), st.sampled_from(ROLES), st.booleans()), max_size=25
)


def _admins(people) -> int:
    return sum(p.can_sign_in_as_admin for p in people)


@given(people_strategy, changes_strategy)
def test_over_any_sequence_a_practice_with_an_admin_keeps_one(people, changes):
    people = [Person(0, ADMIN, True, True), *people]  # a practice starts with its admin
    for index, role, active in changes:
        target = people[index % len(people)]
        refusal = rules.last_admin_refusal(people, target.id, new_role=role, new_active=active)
        changed = Person(target.id, role, active, target.has_password)
        after = [changed if p.id == target.id else p for p in people]
        assert (refusal is not None) == (_admins(after) == 0), (people, target, role, active)
        if refusal is None:
            people = after
        assert _admins(people) >= 1


@given(people_strategy, st.integers(0, 4), st.sampled_from(ROLES), st.booleans())
def test_a_change_that_removes_no_admin_is_never_refused(people, index, role, active):
    target = people[index % len(people)]
    if not target.can_sign_in_as_admin:
        assert rules.last_admin_refusal(people, target.id, new_role=role, new_active=active) is None

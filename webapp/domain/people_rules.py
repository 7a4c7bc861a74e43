"""Who may do what to the people of a practice, and the rule that keeps one admin.

Pure rules for Admin › Users (`webapp/services/people.py`):

- `user_state`: how a person's account reads on the Users page.
- `ACTIONS` and `action_refusal`: only an admin manages people (DESIGN.md §1, People:
  "Admin: … users").
- `last_admin_refusal`: a practice always keeps an admin who can sign in. Counted:
  admins who are active and have set a password (an invited admin who never opened
  the link cannot sign in, so cannot stand in for the last one). Deactivating or
  demoting the last such admin would leave nobody able to manage the practice
  (and nobody to lift a lockout); the only way back would be the command line.
- `self_refusal`: an admin does not deactivate their own account (the page would
  sign them out mid-action); another admin does it.
"""

from dataclasses import dataclass

ADMIN, BILLER, CLINICIAN = "admin", "biller", "clinician"
ROLES = (ADMIN, BILLER, CLINICIAN)

ACTIVE, INVITED, DEACTIVATED, LOCKED_OUT = "active", "invited", "deactivated", "locked out"
STATES = (ACTIVE, INVITED, DEACTIVATED, LOCKED_OUT)

# The actions of Admin › Users, each audited under "user.<action>".
INVITE, RESEND, CHANGE_ROLE, DEACTIVATE, REACTIVATE, UNLOCK = (
    "invite",
    "resend_invitation",
    "change_role",
    "deactivate",
    "reactivate",
    "unlock",
)
ACTIONS = (INVITE, RESEND, CHANGE_ROLE, DEACTIVATE, REACTIVATE, UNLOCK)

LAST_ADMIN = (
    "{name} is the only admin who can sign in. Make someone else an admin first, "
    "so the practice keeps one."
)
NOT_ALLOWED = "Only an admin can manage the people of the practice."
NOT_YOURSELF = "You can't deactivate your own account. Ask another admin to do it."


@dataclass(frozen=True)
class Person:
    """What the rules need to know of an account."""

    id: int
    role: str
    active: bool
    has_password: bool

    @property
    def can_sign_in_as_admin(self) -> bool:
        return self.role == ADMIN and self.active and self.has_password


def user_state(*, active: bool, has_password: bool, locked_out: bool) -> str:
    """The account's state for the Users page, one of STATES.

    Deactivated wins (nothing else matters until reactivated); then invited (no
    password chosen yet); then locked out (too many failed sign-ins); else active.
    """
    if not active:
        return DEACTIVATED
    if not has_password:
        return INVITED
    if locked_out:
        return LOCKED_OUT
    return ACTIVE


def action_refusal(actor_role: str, action: str) -> str | None:
    """Why someone of `actor_role` may not do `action` to people; None for an admin.

    Raises:
        ValueError: `action` is not one of ACTIONS.
    """
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}")
    return None if actor_role == ADMIN else NOT_ALLOWED


def last_admin_refusal(
    people: list[Person], target_id: int, *, new_role: str, new_active: bool, name: str = ""
) -> str | None:
    """Why changing person `target_id` to (`new_role`, `new_active`) is refused; else None.

    Refused when it leaves the practice with no admin who can sign in (see the module
    docstring). A change that does not remove an admin who can sign in is never
    refused by this rule, even when the practice already has none (adding one is the
    way out).

    Raises:
        KeyError: `target_id` is not among `people`.
    """
    by_id = {person.id: person for person in people}
    target = by_id[target_id]
    if not target.can_sign_in_as_admin:
        return None
    after = Person(target.id, new_role, new_active, target.has_password)
    if after.can_sign_in_as_admin:
        return None
    others = sum(1 for p in people if p.id != target_id and p.can_sign_in_as_admin)
    return LAST_ADMIN.format(name=name or "This person") if others == 0 else None


def self_refusal(actor_id: int, target_id: int, action: str) -> str | None:
    """An admin may not deactivate their own account; None otherwise."""
    return NOT_YOURSELF if action == DEACTIVATE and actor_id == target_id else None

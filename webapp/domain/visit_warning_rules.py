"""What a visit's authorization use says on screen: its warnings and why it went where it did.

Both are read from the allocation (`webapp.domain.allocation_rules`), so the booking
form, the saved appointment, the schedule and the ledger say the same thing:

- A visit that never counts (cancelled, late-cancelled, no-show) has no warning.
- "inactive": the authorization's insurance is not active (any visit that counts).
- "expired": only for an Upcoming visit whose authorization has since ended —
  a visit is always inside the dates of the authorization it uses, so once Kept
  it was covered, whatever happened to the authorization later.
- "exhausted" / "exceeds_total" / "exceeds_window": the visit did not fit in any
  covering authorization, so it counts over the one that ends first. The numbers
  are those of the allocation: Kept and Upcoming visits placed before it.
- "none_covers" / "not_started": a service nothing covers (`uncovered_warning`).
"""

from collections.abc import Mapping, Sequence

from webapp.domain.allocation_rules import (
    CAN_COUNT,
    ENDS_FIRST,
    FULL_WINDOW,
    KEPT_HERE,
    NEXT_WITH_ROOM,
    NO_ROOM,
    NOT_COUNTED,
    Placement,
)
from webapp.domain.authorization_rules import (
    ENCOUNTER_STATUS_LABELS,
    EXCEEDS_TOTAL,
    EXCEEDS_WINDOW,
    EXHAUSTED,
    EXPIRED,
    INACTIVE,
    SESSIONS,
    UPCOMING,
    AuthorizationTerms,
    CoverageWarning,
)
from webapp.domain.windows import format_day

CAP_ADJECTIVES = {"day": "daily", "week": "weekly", "month": "monthly"}
_CAP_NOUNS = {"day": "daily cap", "week": "weekly cap", "month": "monthly cap"}


def noun(terms: AuthorizationTerms, amount: int) -> str:
    """'session', 'sessions', 'unit' or 'units' for an amount of this authorization."""
    word = "session" if terms.kind == SESSIONS else "unit"
    return word if amount == 1 else word + "s"


def placement_warnings(
    placement: Placement,
    *,
    terms: AuthorizationTerms,
    number: str,
    status: str,
    visit_status: str,
    others_full: Sequence[str] = (),
) -> list[CoverageWarning]:
    """The warnings of one visit's use of one authorization (see the module docstring).

    `status` is the authorization's status today; `others_full` names the other
    covering authorizations that had no room either (added to the first warning).
    """
    if visit_status not in CAN_COUNT:
        return []
    if status == INACTIVE:
        text = f"Authorization {number} is inactive: the client's insurance is not active."
        return [CoverageWarning(INACTIVE, text)]
    if status == EXPIRED and visit_status == UPCOMING:
        return [
            CoverageWarning(EXPIRED, f"Authorization {number} expired on {format_day(terms.end)}.")
        ]
    warnings = []
    amount, total = placement.amount, terms.total
    used = total - placement.room_before
    adds = f"this adds {amount} {noun(terms, amount)}"
    if placement.over_total and placement.room_before <= 0:
        text = (
            f"Authorization {number} is exhausted: {used} of {total} {noun(terms, total)} "
            "already kept or booked."
        )
        warnings.append(CoverageWarning(EXHAUSTED, text))
    elif placement.over_total:
        text = (
            f"This appointment would exceed authorization {number} "
            f"({total} allowed, {used} already kept or booked, {adds})."
        )
        warnings.append(CoverageWarning(EXCEEDS_TOTAL, text))
    window = terms.window_for(placement.day) if placement.day else None
    if placement.over_window and window is not None:
        in_window = terms.allowed - (placement.window_room_before or 0)
        text = (
            f"This appointment would exceed the {CAP_ADJECTIVES[terms.cap_frequency or '']} cap "
            f"of authorization {number} ({window.label}: {terms.allowed} allowed, "
            f"{in_window} already kept or booked, {adds})."
        )
        warnings.append(CoverageWarning(EXCEEDS_WINDOW, text))
    if warnings and others_full:
        first = warnings[0]
        names = ", ".join(others_full)
        warnings[0] = CoverageWarning(first.code, f"{first.message} No room in {names} either.")
    return warnings


def visit_warnings(
    placements: Sequence[Placement],
    *,
    visit_status: str,
    terms_by_id: Mapping[int, AuthorizationTerms],
    status_by_auth: Mapping[int, str],
    number_by_auth: Mapping[int, str],
    uncovered: Sequence[CoverageWarning] = (),
) -> list[CoverageWarning]:
    """Every warning of one visit: its uncovered services, then each authorization it uses.

    Nothing for a visit that never counts (cancelled, late-cancelled, no-show).
    """
    if visit_status not in CAN_COUNT:
        return []
    warnings = list(uncovered)
    for placement in placements:
        others = [
            number_by_auth[p.authorization_id]
            for p in placement.passed_over
            if p.authorization_id != placement.authorization_id
            and p.authorization_id in number_by_auth
        ]
        warnings += placement_warnings(
            placement,
            terms=terms_by_id[placement.authorization_id],
            number=number_by_auth[placement.authorization_id],
            status=status_by_auth[placement.authorization_id],
            visit_status=visit_status,
            others_full=others if placement.reason == NO_ROOM else (),
        )
    return warnings


def _full_words(terms: AuthorizationTerms, why: str) -> str:
    if why == FULL_WINDOW and terms.cap_frequency:
        return f"its {_CAP_NOUNS[terms.cap_frequency]} was reached"
    return f"no {noun(terms, 2)} were left"


def placement_reason(
    placement: Placement,
    *,
    visit_status: str,
    terms_by_id: Mapping[int, AuthorizationTerms],
    number_by_auth: Mapping[int, str],
) -> str:
    """Why the visit counts against this authorization, in one or two sentences."""
    if placement.reason == NOT_COUNTED or visit_status not in CAN_COUNT:
        label = ENCOUNTER_STATUS_LABELS.get(visit_status, visit_status).lower()
        return f"Not counted ({label}): listed here, it takes no room."
    if placement.reason == KEPT_HERE:
        return "Kept: it stays on the authorization it was counted against."
    skipped = [
        f"{number_by_auth.get(p.authorization_id, '?')} (ends "
        f"{format_day(terms_by_id[p.authorization_id].end)}): "
        f"{_full_words(terms_by_id[p.authorization_id], p.why)}"
        for p in placement.passed_over
        if p.authorization_id != placement.authorization_id and p.authorization_id in terms_by_id
    ]
    if placement.reason == NO_ROOM:
        return "No authorization covering it had room, so it counts over the one that ends first."
    if placement.reason == NEXT_WITH_ROOM and skipped:
        return "The next to end with room for it; " + "; ".join(skipped) + "."
    if placement.reason in (ENDS_FIRST, NEXT_WITH_ROOM):
        return "The authorization covering it that ends first, with room for it."
    return ""

"""A visit's place in the allocation ledger: which authorization it counts against,
why there (`reason`), and the room that was left before it. Written by the allocation
rule (`webapp.domain.allocation_rules`), read by the ledger and the warnings."""

from dataclasses import dataclass, field
from datetime import date

# Why a visit counts where it does.
KEPT_HERE = "kept_here"
ENDS_FIRST = "ends_first"
NEXT_WITH_ROOM = "next_with_room"
NO_ROOM = "no_room"
NOT_COUNTED = "not_counted"
REASONS = (KEPT_HERE, ENDS_FIRST, NEXT_WITH_ROOM, NO_ROOM, NOT_COUNTED)

FULL_TOTAL, FULL_WINDOW = "total", "window"


@dataclass(frozen=True)
class PassedOver:
    """An authorization that ends sooner but had no room: `why` is "total" or "window"."""

    authorization_id: int
    why: str


@dataclass
class Placement:
    """One visit's use of one authorization: one row of the allocation ledger.

    `room_before` is what was left of the total before this visit (Kept and
    Upcoming placed before it), `window_room_before` the same for its window
    (None without a cap). A placement is over when its amount does not fit.
    """

    authorization_id: int
    encounter_id: int
    day: date | None = None
    amount: int = 0
    reason: str = ENDS_FIRST
    room_before: int = 0
    window_room_before: int | None = None
    passed_over: list[PassedOver] = field(default_factory=list)
    line_indexes: list[int] = field(default_factory=list)
    counted: bool = True

    @property
    def over_total(self) -> bool:
        return self.counted and self.amount > self.room_before

    @property
    def over_window(self) -> bool:
        room = self.window_room_before
        return self.counted and room is not None and self.amount > room

    @property
    def over(self) -> bool:
        return self.over_total or self.over_window

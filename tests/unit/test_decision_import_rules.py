"""From a payer's item decision to an authorization line: table-driven, on the fixtures."""

from datetime import datetime

import pytest

from tests.pas_support import fixture_bytes, read
from webapp.domain.decision_import_rules import (
    NEW,
    NEWER,
    OLDER,
    SAME,
    line_draft,
    order,
    overall_decision,
)
from webapp.domain.decision_rules import (
    APPROVED,
    CANCELLED,
    DENIED,
    MODIFIED,
    PARTLY_APPROVED,
    PENDED,
)

CASES = [
    # fixture, item, (decision, codes, kind, allowed, frequency, requested, start, end)
    ("covered/aba-approved-two-lines.json", 0,
     ("approved", ("97153",), "units", 40, "week", None, "2026-03-02", "2026-08-31")),
    ("covered/aba-approved-two-lines.json", 1,
     ("approved", ("97155",), "units", 8, "week", None, "2026-03-02", "2026-08-31")),
    ("covered/aba-modified-lower-units.json", 0,
     ("modified", ("97153",), "units", 25, "week", 40, "2026-05-12", "2026-11-11")),
    ("covered/aba-pended.json", 0,
     ("pended", ("97153",), "units", 0, "period", 40, "2026-04-06", "2026-10-05")),
    ("covered/aba-denied-claimresponse.json", 0,
     ("denied", (), "units", 0, None, None, None, None)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "index", "expected"), CASES)
def test_each_review_action_makes_its_line(name, index, expected):
    item = read(fixture_bytes(name)).decisions[index]
    d = line_draft(item)
    start, end = (day.isoformat() if day else None for day in (d.start, d.end))
    seen = (d.decision, d.codes, d.kind, d.allowed, d.frequency, d.requested, start, end)
    assert seen == expected


ORDER = [
    (None, NEW),
    (datetime(2026, 4, 1, 13), NEWER),
    (datetime(2026, 4, 3, 17, 30), SAME),
    (datetime(2026, 4, 4), OLDER),
]


@pytest.mark.parametrize(("stored", "expected"), ORDER)
def test_a_newer_decision_replaces_and_an_older_one_is_refused(stored, expected):
    assert order(datetime(2026, 4, 3, 17, 30), stored) == expected


OVERALL = [
    ([APPROVED, APPROVED], APPROVED),
    ([MODIFIED, APPROVED], MODIFIED),
    ([PARTLY_APPROVED, APPROVED], PARTLY_APPROVED),
    ([APPROVED, DENIED], PARTLY_APPROVED),
    ([APPROVED, PENDED], PARTLY_APPROVED),
    ([PENDED, DENIED], PENDED),
    ([DENIED], DENIED),
    ([CANCELLED], CANCELLED),
]


@pytest.mark.parametrize(("lines", "expected"), OVERALL)
def test_the_authorization_decision_follows_its_lines(lines, expected):
    assert overall_decision(lines) == expected

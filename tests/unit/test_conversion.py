from datetime import date

import pytest

from webapp.domain.conversion import (
    ConvertedTerms,
    LegacyRow,
    LegacyRowError,
    add_months,
    convert_legacy,
    parse_legacy_row,
)

D = date
RELEASE = D(2025, 3, 15)


def legacy(end_date=None, sessions=12):
    return LegacyRow("C-1", "Aetna", "AUTH-9", end_date, sessions)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2025, 3, 15), 12, D(2026, 3, 15)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),
        (D(2023, 2, 28), 12, D(2024, 2, 28)),
        (D(2025, 1, 31), 1, D(2025, 2, 28)),
        (D(2024, 1, 31), 1, D(2024, 2, 29)),
        (D(2025, 8, 31), 1, D(2025, 9, 30)),
        (D(2025, 11, 30), 2, D(2026, 1, 30)),
        (D(2025, 1, 15), -1, D(2024, 12, 15)),
    ],
)
def test_it_adds_calendar_months(day, months, expected):
    assert add_months(day, months) == expected


def test_it_converts_to_sessions_starting_on_the_release_date():
    converted = convert_legacy(legacy(end_date=D(2025, 9, 30)), release_date=RELEASE)
    assert converted == ConvertedTerms(
        number="AUTH-9", start=RELEASE, end=D(2025, 9, 30), allowed=12
    )
    assert (converted.kind, converted.converted) == ("sessions", True)


@pytest.mark.parametrize(
    ("release", "end"),
    [(D(2025, 3, 15), D(2026, 3, 15)), (D(2024, 2, 29), D(2025, 2, 28))],
)
def test_it_ends_12_months_after_release_without_an_end_date(release, end):
    converted = convert_legacy(legacy(), release_date=release)
    assert (converted.start, converted.end) == (release, end)


def test_it_starts_an_already_ended_authorization_on_its_end_date():
    converted = convert_legacy(legacy(end_date=D(2024, 12, 31)), release_date=RELEASE)
    assert (converted.start, converted.end) == (D(2024, 12, 31), D(2024, 12, 31))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {
                "client": "C-1",
                "payer": "Aetna",
                "authorization_number": "AUTH-9",
                "end_date": "2025-09-30",
                "sessions_allowed": "12",
            },
            LegacyRow("C-1", "Aetna", "AUTH-9", D(2025, 9, 30), 12),
        ),
        (
            {
                " Client ": " C-2 ",
                "PAYER": "Blue Cross ",
                "Authorization Number": " 77 ",
                "End_Date": "9/3/2025",
                "\ufeffsessions_allowed": " 8 ",
            },
            LegacyRow("C-2", "Blue Cross", "77", D(2025, 9, 3), 8),
        ),
        (
            {
                "client": "C-3",
                "payer": "Cigna",
                "authorization_number": "X",
                "end_date": "  ",
                "sessions_allowed": "1",
            },
            LegacyRow("C-3", "Cigna", "X", None, 1),
        ),
        (
            {
                "client": "C-4",
                "payer": "Cigna",
                "authorization_number": "Y",
                "sessions_allowed": "3",
            },
            LegacyRow("C-4", "Cigna", "Y", None, 3),
        ),
    ],
)
def test_it_parses_a_legacy_row(raw, expected):
    assert parse_legacy_row(raw) == expected


GOOD = {
    "client": "C-1",
    "payer": "Aetna",
    "authorization_number": "AUTH-9",
    "end_date": "",
    "sessions_allowed": "12",
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"client": ""}, "Client is missing."),
        ({"payer": " "}, "Payer is missing."),
        ({"authorization_number": None}, "Authorization number is missing."),
        ({"sessions_allowed": ""}, "Sessions allowed is missing."),
        ({"end_date": "31/12/2025"}, "not a date"),
        ({"end_date": "2025-02-30"}, "not a date"),
        ({"end_date": "soon"}, "not a date"),
        ({"sessions_allowed": "0"}, "not a positive whole number"),
        ({"sessions_allowed": "-3"}, "not a positive whole number"),
        ({"sessions_allowed": "2.5"}, "not a positive whole number"),
        ({"sessions_allowed": "ten"}, "not a positive whole number"),
    ],
)
def test_it_explains_why_a_row_is_rejected(changes, message):
    with pytest.raises(LegacyRowError, match=message):
        parse_legacy_row({**GOOD, **changes})


def test_it_ignores_surplus_csv_cells():
    assert parse_legacy_row({**GOOD, None: ["extra"]}).number == "AUTH-9"

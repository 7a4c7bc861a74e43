"""Import of legacy authorizations through the real database (and the CLI)."""

from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from tests import factories
from webapp.extensions import db
from webapp.models import Allocation, AuditEvent, Authorization
from webapp.services import legacy_import
from webapp.services.legacy_import import ImportRefused, import_rows, parse_csv

RELEASE = date(2026, 1, 1)
HEADER = "client,payer,authorization_number,end_date,sessions_allowed"


def csv_text(*lines: str, header: str = HEADER) -> str:
    return "\n".join((header, *lines)) + "\n"


@pytest.fixture
def practice(world):
    org = world.org
    org.enhanced_authorizations_release_date = RELEASE
    therapy = factories.service_type(org, cpt_code="90837")
    aba = factories.service_type(org, cpt_code="97153", unit_minutes=15)
    aetna = factories.payer(org, name="Aetna")
    blue = factories.payer(org, name="Blue Cross")
    ana = factories.client(org, first_name="Ana", last_name="Rivera")
    marcus = factories.client(org, first_name="Marcus", last_name="Lee")
    ana_aetna = factories.insurance(org, ana, aetna)
    marcus_blue = factories.insurance(org, marcus, blue)
    db.session.commit()
    return SimpleNamespace(
        world=world,
        org=org,
        therapy=therapy,
        aba=aba,
        aetna=aetna,
        blue=blue,
        ana=ana,
        marcus=marcus,
        ana_aetna=ana_aetna,
        marcus_blue=marcus_blue,
    )


def run_import(p, text: str, **kwargs):
    return import_rows(p.org, parse_csv(text), actor_id=p.world.admin.id, **kwargs)


def authorizations() -> list[Authorization]:
    return list(db.session.scalars(select(Authorization).order_by(Authorization.id)))


def test_it_converts_a_row_to_a_sessions_authorization_covering_every_service_type(practice):
    p = practice
    result = run_import(p, csv_text('"Rivera, Ana",Aetna,AET-1,2026-06-30,24'))

    assert (result.total, result.imported, result.unchanged, result.errors) == (1, 1, 0, [])
    [auth] = authorizations()
    assert auth.organization_id == p.org.id
    assert auth.client_insurance_id == p.ana_aetna.id
    assert auth.number == "AET-1"
    [line] = auth.lines  # one line holding what the legacy row allowed
    assert line.kind == "sessions"
    assert auth.converted is True
    assert auth.start_date == RELEASE
    assert auth.end_date == date(2026, 6, 30)
    assert line.allowed == 24
    assert line.frequency is None
    assert {s.id for s in line.service_types} == {p.therapy.id, p.aba.id}


def test_a_missing_end_date_is_the_release_date_plus_twelve_months(practice):
    run_import(practice, csv_text("Ana Rivera,Aetna,AET-2,,10"))
    [auth] = authorizations()
    assert (auth.start_date, auth.end_date) == (RELEASE, date(2027, 1, 1))


def test_it_finds_clients_by_id_or_name_and_payers_by_name_in_any_case(practice):
    p = practice
    result = run_import(
        p,
        csv_text(
            f"{p.ana.id},Aetna,BY-ID,,5",
            "  ana   RIVERA ,aetna,BY-FIRST-LAST,,5",
            '"lee,marcus",BLUE CROSS,BY-LAST-FIRST,,5',
        ),
    )
    assert result.errors == []
    numbers = {a.number: a.client_insurance_id for a in authorizations()}
    assert numbers == {
        "BY-ID": p.ana_aetna.id,
        "BY-FIRST-LAST": p.ana_aetna.id,
        "BY-LAST-FIRST": p.marcus_blue.id,
    }


def test_bad_rows_are_reported_with_row_numbers_while_good_rows_import(practice):
    p = practice
    text = csv_text(
        "Ana Rivera,Aetna,GOOD-1,2026-12-31,12",  # row 2
        "Ana Rivera,Aetna,BAD-SESSIONS,,twelve",  # row 3
        "",  # row 4: blank, skipped but counted
        "Nobody Here,Aetna,BAD-CLIENT,,5",  # row 5
        "Ana Rivera,Cigna,BAD-PAYER,,5",  # row 6
        "Marcus Lee,Aetna,NO-INSURANCE,,5",  # row 7
        "Marcus Lee,Blue Cross,BAD-DATE,31/12/2026,5",  # row 8
        "Marcus Lee,Blue Cross,GOOD-2,12/31/2026,8",  # row 9
        f"{p.world.outsider.id + 1000},Aetna,BAD-ID,,5",  # row 10
    )
    result = run_import(p, text)

    assert (result.total, result.imported, result.unchanged) == (8, 2, 0)
    assert [e["row"] for e in result.errors] == [3, 5, 6, 7, 8, 10]
    reasons = {e["row"]: e["reason"] for e in result.errors}
    assert "Sessions allowed" in reasons[3]
    assert "No client matches 'Nobody Here'" in reasons[5]
    assert "No payer is named 'Cigna'" in reasons[6]
    assert reasons[7] == "The client has no insurance with Aetna."
    assert "is not a date" in reasons[8]
    assert "No client has the id" in reasons[10]
    assert [a.number for a in authorizations()] == ["GOOD-1", "GOOD-2"]
    assert authorizations()[1].end_date == date(2026, 12, 31)


def test_importing_the_same_file_again_adds_nothing(practice):
    text = csv_text("Ana Rivera,Aetna,AET-1,,10", "Marcus Lee,Blue Cross,BC-1,,6")
    first = run_import(practice, text)
    before = [(a.id, a.updated_at) for a in authorizations()]
    second = run_import(practice, text)

    assert (first.imported, first.unchanged) == (2, 0)
    assert (second.imported, second.unchanged, second.errors) == (0, 2, [])
    assert [(a.id, a.updated_at) for a in authorizations()] == before


def test_an_existing_authorization_is_left_unchanged_not_updated(practice):
    p = practice
    factories.authorization(p.org, p.ana_aetna, [p.therapy], number="AET-1", allowed=3)
    db.session.commit()
    result = run_import(p, csv_text("Ana Rivera,Aetna,AET-1,,99"))
    assert (result.imported, result.unchanged) == (0, 1)
    [auth] = authorizations()
    assert (auth.lines[0].allowed, auth.converted) == (3, False)


def test_a_row_repeated_in_the_same_file_is_reported_not_duplicated(practice):
    result = run_import(
        practice,
        csv_text("Ana Rivera,Aetna,AET-1,,10", '"Rivera, Ana",Aetna,AET-1,,10'),
    )
    assert (result.imported, result.unchanged) == (1, 0)
    assert result.errors == [
        {
            "row": 3,
            "reason": "Repeats authorization AET-1 of row 2 for the same client and payer.",
        }
    ]
    assert len(authorizations()) == 1


def test_an_ambiguous_client_name_is_an_error(practice):
    p = practice
    twin = factories.client(p.org, first_name="Ana", last_name="Rivera")
    factories.insurance(p.org, twin, p.aetna)
    db.session.commit()
    result = run_import(p, csv_text("Ana Rivera,Aetna,AET-1,,10"))
    assert result.imported == 0
    assert "2 clients are named 'Ana Rivera'" in result.errors[0]["reason"]
    assert "use the client's id" in result.errors[0]["reason"]


def test_it_uses_the_active_insurance_then_the_newest(practice):
    p = practice
    factories.insurance(p.org, p.marcus, p.aetna, active=True)
    newest_active = factories.insurance(p.org, p.marcus, p.aetna, active=True)
    factories.insurance(p.org, p.marcus, p.aetna, active=False)
    db.session.commit()
    run_import(p, csv_text("Marcus Lee,Aetna,AET-7,,4"))
    assert authorizations()[0].client_insurance_id == newest_active.id


def test_clients_and_payers_of_another_organization_are_not_found(practice):
    p = practice
    stranger = factories.client(p.world.outsider_org, first_name="Zed", last_name="Out")
    their_payer = factories.payer(p.world.outsider_org, name="Faraway Health")
    factories.insurance(p.world.outsider_org, stranger, their_payer)
    db.session.commit()
    result = run_import(
        p,
        csv_text(
            "Zed Out,Aetna,X-1,,4",
            f"{stranger.id},Aetna,X-2,,4",
            "Ana Rivera,Faraway Health,X-3,,4",
        ),
    )
    assert result.imported == 0
    assert [e["row"] for e in result.errors] == [2, 3, 4]


def test_it_reallocates_the_clients_encounters_to_the_new_authorization(practice):
    p = practice
    encounter = factories.encounter(p.org, p.ana, p.world.clinician, p.ana_aetna, [p.therapy])
    db.session.commit()
    run_import(p, csv_text("Ana Rivera,Aetna,AET-1,,10"))
    [auth] = authorizations()
    ledger = db.session.execute(
        select(Allocation.authorization_id, Allocation.encounter_id, Allocation.amount)
    ).all()
    assert ledger == [(auth.id, encounter.id, 1)]


def test_it_keeps_one_audit_event_with_the_counts(practice):
    p = practice
    run_import(p, csv_text("Ana Rivera,Aetna,AET-1,,10", "Nobody,Aetna,X,,1"))
    [event] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "authorization.legacy_import")
    ).all()
    assert event.organization_id == p.org.id
    assert event.user_id == p.world.admin.id
    assert event.after == {"total": 2, "imported": 1, "unchanged": 0, "errors": 1}


def test_a_row_the_database_refuses_is_rolled_back_to_its_savepoint(practice, monkeypatch):
    """A row that breaks a constraint leaves nothing behind; the other rows still import."""
    p = practice
    factories.authorization(p.org, p.ana_aetna, [p.therapy], number="TAKEN")
    db.session.commit()

    class Blind(legacy_import._Directory):  # misses the existing row, as a race would
        def __init__(self, org):
            super().__init__(org)
            self.existing = set()

    monkeypatch.setattr(legacy_import, "_Directory", Blind)
    result = run_import(
        p,
        csv_text(
            "Ana Rivera,Aetna,FIRST,,1",
            "Ana Rivera,Aetna,TAKEN,,2",
            "Marcus Lee,Blue Cross,LAST,,3",
        ),
    )
    assert (result.imported, [e["row"] for e in result.errors]) == (2, [3])
    assert result.errors[0]["reason"].startswith("Could not be saved")
    db.session.expire_all()
    assert sorted(a.number for a in authorizations()) == ["FIRST", "LAST", "TAKEN"]
    taken = next(a for a in authorizations() if a.number == "TAKEN")
    assert taken.converted is False


def test_it_reports_progress_every_twenty_rows_and_at_the_end(practice):
    lines = [f"Ana Rivera,Aetna,P-{n},,1" for n in range(45)]
    calls = []
    run_import(practice, csv_text(*lines), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 45), (20, 45), (40, 45), (45, 45)]


def test_an_organization_without_a_release_date_is_refused_and_nothing_written(practice):
    practice.org.enhanced_authorizations_release_date = None
    db.session.commit()
    with pytest.raises(ImportRefused, match="release date"):
        run_import(practice, csv_text("Ana Rivera,Aetna,AET-1,,10"))
    db.session.rollback()
    assert authorizations() == []
    assert db.session.scalar(select(func.count(AuditEvent.id))) == 0


def test_an_organization_without_service_types_is_refused(world):
    world.org.enhanced_authorizations_release_date = RELEASE
    db.session.commit()
    with pytest.raises(ImportRefused, match="service types"):
        import_rows(world.org, parse_csv(csv_text("A B,P,N,,1")), actor_id=None)


def test_parse_csv_reads_loose_headers_a_bom_and_blank_rows():
    text = (
        "\ufeffClient , PAYER,Authorization Number,End Date,Sessions Allowed\r\n"
        "\r\n"
        "A B,P,N,,3\r\n"
        ",,,,\r\n"
    )
    [row] = parse_csv(text)
    assert row[legacy_import.ROW_KEY] == "3"
    from webapp.domain.conversion import parse_legacy_row

    parsed = parse_legacy_row({k: v for k, v in row.items() if k != legacy_import.ROW_KEY})
    assert (parsed.client_ref, parsed.payer_name, parsed.number, parsed.sessions_allowed) == (
        "A B",
        "P",
        "N",
        3,
    )


def test_parse_csv_numbers_rows_as_a_spreadsheet_does_with_multiline_cells():
    text = csv_text('"Ana\nRivera",Aetna,A,,1', "Ana Rivera,Aetna,B,,1")
    assert [r[legacy_import.ROW_KEY] for r in parse_csv(text)] == ["2", "3"]


def test_the_end_date_column_may_be_left_out():
    rows = parse_csv(
        csv_text(
            "Ana Rivera,Aetna,A,3", header="client,payer,authorization_number,sessions_allowed"
        )
    )
    assert rows[0]["sessions_allowed"] == "3"


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("client,payer,end_date,sessions_allowed\nA,B,,1\n", "authorization_number"),
        ("name,insurer,number\nA,B,C\n", "client, payer, authorization_number, sessions_allowed"),
        ("", None),
    ],
)
def test_missing_headers_are_refused_with_the_expected_headers(text, missing):
    with pytest.raises(ValueError) as caught:
        parse_csv(text)
    message = str(caught.value)
    if missing:
        assert f"missing the column(s) {missing}" in message
    assert "client, payer, authorization_number, end_date (optional), sessions_allowed" in message


# --- the CLI ----------------------------------------------------------------------------


def test_the_cli_imports_a_file_and_lists_bad_rows(app, practice, tmp_path):
    path = tmp_path / "legacy.csv"
    path.write_text(csv_text("Ana Rivera,Aetna,AET-1,,10", "Nobody,Aetna,X,,1"), encoding="utf-8")
    runner = app.test_cli_runner()
    args = ["authorizations", "import-legacy", str(path), "--organization-id", str(practice.org.id)]

    first = runner.invoke(args=args)
    assert first.exit_code == 1, first.output
    assert "1 imported, 0 unchanged" in first.output
    assert "row 3: No client matches 'Nobody'" in first.output

    path.write_text(csv_text("Ana Rivera,Aetna,AET-1,,10"), encoding="utf-8")
    again = runner.invoke(args=args)
    assert again.exit_code == 0, again.output
    assert "0 imported, 1 unchanged" in again.output
    assert len(authorizations()) == 1


def test_the_cli_needs_an_organization_when_there_are_several(app, practice, tmp_path):
    path = tmp_path / "legacy.csv"
    path.write_text(csv_text("Ana Rivera,Aetna,AET-1,,10"), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["authorizations", "import-legacy", str(path)])
    assert result.exit_code != 0
    assert "--organization-id" in result.output
    assert authorizations() == []


def test_the_cli_refuses_without_a_release_date(app, practice, tmp_path):
    practice.org.enhanced_authorizations_release_date = None
    db.session.commit()
    path = tmp_path / "legacy.csv"
    path.write_text(csv_text("Ana Rivera,Aetna,AET-1,,10"), encoding="utf-8")
    result = app.test_cli_runner().invoke(
        args=[
            "authorizations",
            "import-legacy",
            str(path),
            "--organization-id",
            str(practice.org.id),
        ]
    )
    assert result.exit_code == 1
    assert "release date" in result.output

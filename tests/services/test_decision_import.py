"""Importing payer decisions (Da Vinci PAS) into authorization lines, on SQLite and PostgreSQL.

Each X12 306 review action (A1 approved, A2 partly approved, A3 denied, A4 pended,
A6 modified) becomes a line in its state; re-importing the same file changes nothing;
a newer decision on the same request and item replaces the older; an older one is
refused; a bad file is refused whole, naming what is wrong, and nothing is written.
"""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import time_machine
from sqlalchemy import func, select

from tests import factories
from tests.pas_support import (
    claim_response,
    edited,
    encoded,
    fixture_bytes,
    set_review_code,
)
from webapp.domain import authorization_rules as rules
from webapp.domain import decision_rules
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Authorization,
    AuthorizationLine,
    PayerDecisionFile,
)
from webapp.services import decision_import
from webapp.services.coverage import load_coverage
from webapp.services.decision_import import DecisionImportRefused

APPROVED_TWO = "covered/aba-approved-two-lines.json"
PENDED = "covered/aba-pended.json"
APPROVED_AFTER_PEND = "covered/aba-approved-after-pend-notification.json"
MODIFIED = "covered/aba-modified-lower-units.json"
DENIED = "covered/aba-denied-claimresponse.json"


@pytest.fixture(autouse=True)
def _spring_2026():
    with time_machine.travel(datetime(2026, 6, 2, 12, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def p(world):
    org = world.org
    client = factories.client(org, first_name="Sam", last_name="Rivera")
    payer = factories.payer(org, name="Suncoast Health Plan", payer_identifier="SCHP1")
    policy = factories.insurance(org, client, payer, member_id="SC-4471209")
    aba = factories.service_type(org, cpt_code="97153", unit_minutes=15)
    supervision = factories.service_type(org, cpt_code="97155", unit_minutes=15)
    db.session.commit()
    return SimpleNamespace(world=world, org=org, client=client, payer=payer, policy=policy,
                           aba=aba, supervision=supervision)  # fmt: skip


def run(p, raw: bytes, name="decision.json"):
    row = decision_import.upload(p.org, p.world.biller, name, raw)
    plan = decision_import.apply(p.org, row, actor=p.world.biller)
    return row, plan


def lines() -> list[tuple]:
    """(authorization number, its decision, item, codes, kind, allowed, frequency, decision,
    requested) of every line."""
    found = []
    for line in db.session.scalars(
        select(AuthorizationLine).order_by(
            AuthorizationLine.authorization_id, AuthorizationLine.position
        )
    ):
        auth = line.authorization
        found.append((auth.number, auth.decision, line.item_sequence, line.codes, line.kind,
                      line.allowed, line.frequency, line.decision, line.requested))  # fmt: skip
    return found


def counts() -> tuple[int, int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Authorization, AuthorizationLine, PayerDecisionFile, AuditEvent)
    )


def test_a1_two_approved_items_make_one_authorization_with_two_lines(p):
    row, plan = run(p, fixture_bytes(APPROVED_TWO))
    assert [i.action for i in plan.items] == ["create", "create"]
    assert lines() == [
        ("SC-ABA-778812", "approved", 1, "97153", "units", 40, "week", "approved", None),
        ("SC-ABA-778812", "approved", 2, "97155", "units", 8, "week", "approved", None),
    ]
    auth = db.session.scalars(select(Authorization)).one()
    assert (auth.start_date.isoformat(), auth.end_date.isoformat()) == ("2026-03-02", "2026-08-31")
    assert auth.client_insurance_id == p.policy.id and row.applied_at is not None
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "authorization.decision_imported")
    ).all()
    assert [(e.after["file_id"], e.after["item_sequence"], e.after["review_action"])
            for e in events] == [(row.id, 1, "A1"), (row.id, 2, "A1")]  # fmt: skip
    assert row.content == fixture_bytes(APPROVED_TWO)  # the source file is kept as it came


def test_a2_partly_approved_keeps_what_was_asked(p):
    def partly(data):
        response = claim_response(data)
        set_review_code(response["item"][0], "A2")

    run(p, encoded(edited(APPROVED_TWO, partly)))
    [direct, supervision] = lines()
    assert direct[1] == decision_rules.PARTLY_APPROVED  # the authorization: partly approved
    assert direct[7] == decision_rules.PARTLY_APPROVED and direct[5] == 40
    assert supervision[7] == decision_rules.APPROVED


def test_a3_denied_counts_nothing_and_shows_denied(p):
    run(p, fixture_bytes(DENIED))
    [(number, auth_decision, item, _codes, _kind, allowed, _f, decision, _r)] = lines()
    assert (auth_decision, item, allowed, decision) == ("denied", 1, 0, "denied")
    coverage = load_coverage(p.org, [p.client.id])
    [rollup] = coverage.authorizations_for_client(p.client.id)
    assert rollup.status == rules.DENIED


def test_a4_pended_then_a1_approved_replaces_the_pending_line(p):
    run(p, fixture_bytes(PENDED))
    assert lines() == [(None, "pended", 1, "97153", "units", 0, "period", "pended", 40)]
    auth = db.session.scalars(select(Authorization)).one()
    assert auth.requested_at == datetime(2026, 4, 1, 13, 0)  # created, in UTC
    _row, plan = run(p, fixture_bytes(APPROVED_AFTER_PEND))
    assert [i.action for i in plan.items] == ["change"]
    assert lines() == [
        ("SC-ABA-900114", "approved", 1, "97153", "units", 30, "week", "approved", None)
    ]
    assert db.session.scalar(select(func.count()).select_from(Authorization)) == 1


def test_a6_modified_lowers_the_units_and_keeps_the_request(p):
    run(p, fixture_bytes(MODIFIED))
    assert lines() == [
        ("SC-ABA-912330", "modified", 1, "97153", "units", 25, "week", "modified", 40),
        ("SC-ABA-912330", "modified", 2, "97155", "units", 8, "week", "approved", None),
    ]


def test_reimporting_the_same_file_changes_nothing(p):
    first, _ = run(p, fixture_bytes(APPROVED_TWO))
    before, snapshot = counts(), lines()
    again, plan = run(p, fixture_bytes(APPROVED_TWO))
    assert again.id == first.id
    assert [i.action for i in plan.items] == ["unchanged", "unchanged"] and plan.changes == []
    assert counts() == before and lines() == snapshot


def test_an_older_decision_is_refused_and_changes_nothing(p):
    run(p, fixture_bytes(APPROVED_AFTER_PEND))
    snapshot = lines()
    _row, plan = run(p, fixture_bytes(PENDED))
    [item] = plan.items
    assert item.action == "refused" and "newer decision" in item.message
    assert lines() == snapshot


BAD_FILES = [
    (b"not json at all", "JSON"),
    (encoded({"resourceType": "Patient", "id": "x"}), "ClaimResponse"),
    (fixture_bytes("ig-2.0.1/ClaimResponse-PractitionerRequestorResponseExample.json"), "no unit"),
    (fixture_bytes("ig-2.2.1/Bundle-ReferralAuthorizationBundleExample.json"), "no ClaimResponse"),
]


@pytest.mark.parametrize(("raw", "named"), BAD_FILES)
def test_a_bad_file_is_refused_whole_with_what_is_wrong(p, raw, named):
    before = counts()
    with pytest.raises(DecisionImportRefused) as refused:
        decision_import.upload(p.org, p.world.biller, "bad.json", raw)
    assert named in refused.value.message
    assert counts() == before


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("member", "Unknown member id 'SC-4471209'"),
        ("payer", "Unknown payer"),
        ("service", "Service code 97155 is not a service type"),
    ],
)
def test_a_file_that_does_not_match_this_practice_is_refused(p, change, named):
    if change == "member":
        p.policy.member_id = "SOMEONE-ELSE"
    elif change == "payer":
        p.payer.payer_identifier = "OTHER"
    else:
        db.session.delete(p.supervision)
    db.session.commit()
    before = counts()
    with pytest.raises(DecisionImportRefused) as refused:
        decision_import.upload(p.org, p.world.biller, "two.json", fixture_bytes(APPROVED_TWO))
    assert named in refused.value.message
    assert counts() == before


def test_a_failure_while_applying_writes_nothing(p, monkeypatch):
    row = decision_import.upload(p.org, p.world.biller, "two.json", fixture_bytes(APPROVED_TWO))
    before = counts()

    def broken(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(decision_import, "reallocate_client", broken)
    with pytest.raises(RuntimeError):
        decision_import.apply(p.org, row, actor=p.world.biller)
    assert counts() == before and lines() == []
    assert db.session.get(PayerDecisionFile, row.id).applied_at is None


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("Bundle-ReferralPendingAuthorizationResponseBundleExample.json", "pended"),
        ("Bundle-RejectionResponseBundleExample.json", "denied"),
    ],
)
def test_the_ig_examples_that_carry_a_decision_are_imported(p, name, state):
    """The PAS IG 2.2.1 pended and denied examples (NPI payer, member 12345678901): their
    requested code (X12 service type 3) is no service here, so the line has none."""
    p.payer.payer_identifier = "1234567893"
    p.policy.member_id = "12345678901"
    db.session.commit()
    run(p, fixture_bytes(f"ig-2.2.1/{name}"))
    [(_n, auth_decision, item, codes, _k, allowed, _f, decision, _r)] = lines()
    assert (auth_decision, item, codes, allowed, decision) == (state, 1, "", 0, state)

"""Reading PAS decision files: every fixture, every review-action code, each fallback rule.

Fixtures are the PAS IG's published examples (2.0.1, 2.2.1) and hand-written
behavioral-health cases; see tests/fixtures/pas/README.md.
"""

import json
from datetime import datetime
from decimal import Decimal

import pytest

from tests.pas_support import (
    FIXTURES,
    PAS,
    claim_response,
    edited,
    entry,
    fixture_bytes,
    read,
    remove_number,
    review_action,
    set_review_code,
    summary,
)
from webapp.domain.pas_terms import REVIEW_ACTIONS, Frequency, Quantity
from webapp.domain.payer_decisions import DecisionFileError, read_decisions

TWO_LINES = "covered/aba-approved-two-lines.json"
MODIFIED = "covered/aba-modified-lower-units.json"
DENIED = "covered/aba-denied-claimresponse.json"
SUNCOAST = ("payer-id", "SCHP1")
MARYLAND = ("npi", "1234567893")
UNITS_WEEKLY = ("units", "units", "week")
CONSULTATION = ("3", None, None, None, None, None)
NO_UNIT = "The quantity 1 has no unit"
ITEM_DETAIL_QUANTITY = ".item[0].extension[4].extension[2].valueQuantity"


def row(
    response,
    created,
    member,
    payer,
    sequence,
    code,
    state,
    number,
    reference,
    period,
    approved,
    requested=(),
):
    return (
        response,
        created,
        member,
        payer,
        sequence,
        code,
        state,
        number,
        reference,
        period,
        list(approved),
        list(requested),
    )


# Each fixture: the decisions it holds, or the refusal (message start, path) it gets.
EXPECTED = {
    "covered/aba-approved-two-lines.json": ("response-bundle", [
        row("ABA-1001", "2026-03-02T15:04:00-05:00", "SC-4471209", SUNCOAST, 1, "A1", "approved",
            "SC-ABA-778812", None, ("2026-03-02", "2026-08-31"),
            [("97153", "40", *UNITS_WEEKLY, None)]),
        row("ABA-1001", "2026-03-02T15:04:00-05:00", "SC-4471209", SUNCOAST, 2, "A1", "approved",
            "SC-ABA-778812", None, ("2026-03-02", "2026-08-31"),
            [("97155", "8", *UNITS_WEEKLY, None)]),
    ]),
    "covered/aba-pended.json": ("response-bundle", [
        row("ABA-2002", "2026-04-01T09:00:00-04:00", "SC-4471209", SUNCOAST, 1, "A4", "pended",
            None, "PEND-5521", None, [],
            [("97153", "40", "units", "units", None, ("2026-04-06", "2026-10-05"))]),
    ]),
    "covered/aba-approved-after-pend-notification.json": ("notification", [
        row("ABA-2002", "2026-04-03T13:30:00-04:00", "SC-4471209", SUNCOAST, 1, "A1", "approved",
            "SC-ABA-900114", None, ("2026-04-06", "2026-10-05"),
            [("97153", "30", *UNITS_WEEKLY, None)]),
    ]),
    "covered/aba-modified-lower-units.json": ("response-bundle", [
        row("ABA-3003", "2026-05-12T10:15:00-04:00", "SC-4471209", SUNCOAST, 1, "A6", "modified",
            "SC-ABA-912330", None, ("2026-05-12", "2026-11-11"),
            [("97153", "25", *UNITS_WEEKLY, ("2026-05-12", "2026-11-11"))],
            [("97153", "40", "units", "units", None, None)]),
        row("ABA-3003", "2026-05-12T10:15:00-04:00", "SC-4471209", SUNCOAST, 2, "A1", "approved",
            "SC-ABA-912330", None, ("2026-05-12", "2026-11-11"),
            [("97155", "8", *UNITS_WEEKLY, None)]),
    ]),
    "covered/aba-denied-claimresponse.json": ("claim-response", [
        row("ABA-4004", "2026-06-01T16:45:00-04:00", "SC-4471209", SUNCOAST, 1, "A3", "denied",
            None, None, None, []),
    ]),
    "ig-2.2.1/Bundle-ReferralPendingAuthorizationResponseBundleExample.json": ("response-bundle", [
        row("111099", "2005-05-02T11:02:00+05:00", "12345678901", MARYLAND, 1, "A4", "pended",
            None, "PEND0001", None, []),
    ]),
    "ig-2.2.1/Bundle-RejectionResponseBundleExample.json": ("response-bundle", [
        row("111099", "2005-05-02T11:02:00+05:00", "12345678901", MARYLAND, 1, "A3", "denied",
            None, None, None, [], [CONSULTATION]),
    ]),
    "ig-2.2.1/Bundle-PASClaimInquiryResponseBundleExample.json": ("response-bundle", [
        row("111099", "2019-07-20T11:01:00+05:00", "12345678901", MARYLAND, 1, "A1", "approved",
            "AUTH0001", None, None, [CONSULTATION], [CONSULTATION]),
    ]),
    "ig-2.0.1/Bundle-PASClaimInquiryResponseBundleExample.json": ("response-bundle", [
        row("111099", "2019-07-20T11:01:00+05:00", "12345678901", ("npi", "789312"), 1, "A1",
            "approved", "AUTH0001", None, None, []),
    ]),
    # The IG's approval examples state "quantity 1" with no unit, against its own PASQuantity
    # rule (prof-2, 2.2.0): refused, as the issue asks for any quantity without a unit.
    "ig-2.2.1/Bundle-ReferralAuthorizationResponseBundleExample.json": (
        NO_UNIT,
        "Bundle.entry[0].resource" + ITEM_DETAIL_QUANTITY,
    ),
    "ig-2.2.1/Bundle-PASSubscriptionNotification.json": (
        NO_UNIT,
        "Bundle.entry[1].resource.entry[0].resource" + ITEM_DETAIL_QUANTITY,
    ),
    "ig-2.2.1/ClaimResponse-PractitionerRequestorResponseExample.json": (
        NO_UNIT,
        "ClaimResponse" + ITEM_DETAIL_QUANTITY,
    ),
    "ig-2.2.1/ClaimResponse-PractitionerRequestorAdditionalContentResponseExample.json": (
        NO_UNIT,
        "ClaimResponse" + ITEM_DETAIL_QUANTITY,
    ),
    "ig-2.0.1/Bundle-ReferralAuthorizationResponseBundleExample.json": (
        NO_UNIT,
        "Bundle.entry[0].resource" + ITEM_DETAIL_QUANTITY,
    ),
    "ig-2.0.1/Bundle-ErrorResponseBundleExample.json": (
        NO_UNIT,
        "Bundle.entry[0].resource" + ITEM_DETAIL_QUANTITY,
    ),
    "ig-2.0.1/ClaimResponse-PractitionerRequestorResponseExample.json": (
        NO_UNIT,
        "ClaimResponse" + ITEM_DETAIL_QUANTITY,
    ),
    "ig-2.0.1/ClaimResponse-ReferralAuthorizationResponseExample.json": (
        NO_UNIT,
        "ClaimResponse" + ITEM_DETAIL_QUANTITY,
    ),
    "ig-2.2.1/Bundle-ErrorResponseBundleExample.json": (
        "The payer answered with errors, not a decision (X12 reject reasons: 04, T4)",
        "Bundle.entry[0].resource.error",
    ),
    "ig-2.2.1/ClaimResponse-ErrorResponseExample.json": (
        "The payer answered with errors, not a decision (X12 reject reasons: 04, T4)",
        "ClaimResponse.error",
    ),
    "ig-2.0.1/ClaimResponse-ErrorResponseExample.json": (
        "The payer answered with errors",
        "ClaimResponse.error",
    ),
    # A bare ClaimResponse whose Patient is only a relative reference: no member id in the file.
    "ig-2.2.1/ClaimResponse-RejectionResponseExample.json": (
        "Missing member id: the patient 'Patient/SubscriberExample'",
        "ClaimResponse.patient",
    ),
    "ig-2.2.1/ClaimResponse-PractitionerRequestorPendingResponseExample.json": (
        "Missing member id",
        "ClaimResponse.patient",
    ),
    "ig-2.2.1/ClaimResponse-PASClaimInquiryResponseExample.json": (
        "Missing member id",
        "ClaimResponse.patient",
    ),
    "ig-2.0.1/ClaimResponse-PASClaimInquiryResponseExample.json": (
        "Missing member id",
        "ClaimResponse.patient",
    ),
    "ig-2.2.1/Bundle-ReferralAuthorizationBundleExample.json": (
        "This Bundle has no ClaimResponse.",
        "Bundle.entry",
    ),
}  # fmt: skip


def test_it_expects_something_of_every_fixture():
    on_disk = {str(path.relative_to(FIXTURES)) for path in FIXTURES.glob("*/*.json")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_reads_each_fixture_as_expected(name):
    expected = EXPECTED[name]
    if isinstance(expected[1], list):
        decision_file = read_decisions(fixture_bytes(name))
        assert decision_file.kind == expected[0]
        assert summary(decision_file) == expected[1]
    else:
        with pytest.raises(DecisionFileError) as caught:
            read_decisions(fixture_bytes(name))
        assert caught.value.message.startswith(expected[0])
        assert caught.value.path == expected[1]


# Review-action codes on item 1 of the two-line ABA approval, which has an authorized detail.
CODES = {
    "A1": ("approved", ["97153"]),
    "A2": ("partly-approved", ["97153"]),
    "A3": ("denied", []),
    "A4": ("pended", []),
    "C": ("cancelled", []),
    "CT": ("contact-payer", []),
    "NA": ("not-required", []),
}


def test_it_covers_every_review_action_code():
    assert set(CODES) | {"A6"} == set(REVIEW_ACTIONS)


@pytest.mark.parametrize("code", sorted(CODES))
def test_it_reads_each_review_action_code(code):
    data = edited(TWO_LINES, lambda d: set_review_code(claim_response(d)["item"][0], code))
    item = read(data).decisions[0]
    assert (item.review_action, item.state) == (code, CODES[code][0])
    assert [line.code.code for line in item.approved] == CODES[code][1]
    assert item.authorization_number == "SC-ABA-778812"


def test_it_reads_a_modification_from_the_linked_added_item():
    modified = read_decisions(fixture_bytes(MODIFIED)).decisions[0]
    assert (modified.review_action, modified.state, modified.added) == ("A6", "modified", False)
    assert modified.approved[0].quantity == Quantity(
        Decimal(25), "units", "FL", "https://codesystem.x12.org/005010/673"
    )
    assert modified.approved[0].source == "added-item"
    assert modified.requested[0].quantity.value == 40


def test_it_reads_an_added_item_with_a_new_sequence_as_its_own_decision():
    def add(data):
        response = claim_response(data)
        response["addItem"][0]["itemSequence"] = [3]
        set_review_code(response["item"][0], "A3")

    decisions = read(edited(MODIFIED, add)).decisions
    assert [(d.item_sequence, d.state, d.added) for d in decisions] == [
        (1, "denied", False),
        (2, "approved", False),
        (3, "approved", True),
    ]
    assert decisions[2].approved[0].quantity.value == 25


def test_it_takes_the_number_from_pre_auth_ref_then_the_authorization_number_extension():
    data = edited(TWO_LINES, lambda d: remove_number(claim_response(d)["item"][0]))
    assert read(data).decisions[0].authorization_number == "SC-ABA-778812"  # preAuthRef

    def only_extension(d):
        response = claim_response(d)
        remove_number(response["item"][0])
        del response["preAuthRef"]
        response["extension"] = [
            {"url": PAS + "extension-authorizationNumber", "valueString": "EXT-42"}
        ]

    assert read(edited(TWO_LINES, only_extension)).decisions[0].authorization_number == "EXT-42"


def test_it_takes_the_period_from_the_response_when_the_item_has_none():
    def drop_item_period(d):
        item = claim_response(d)["item"][1]
        item["extension"] = [e for e in item["extension"] if "PreAuthPeriod" not in e["url"]]
        claim_response(d)["preAuthPeriod"] = {"start": "2026-03-09", "end": "2026-09-06"}

    period = read(edited(TWO_LINES, drop_item_period)).decisions[1].period
    assert (str(period.start), str(period.end)) == ("2026-03-09", "2026-09-06")


def test_it_falls_back_to_the_header_review_action():
    def header(d):
        response = claim_response(d)
        response["adjudication"] = json.loads(json.dumps(response["item"][0]["adjudication"]))
        for item in response["item"]:
            del item["adjudication"][0]["extension"]  # R4 requires the adjudication itself

    assert [d.review_action for d in read(edited(TWO_LINES, header)).decisions] == ["A1", "A1"]


def test_it_reads_reason_codes():
    def reasons(d):
        review_action(claim_response(d)["item"][0])["extension"].append(
            {"url": "reasonCode", "valueCodeableConcept": {"coding": [{"code": "0U"}]}}
        )

    assert read(edited(DENIED, reasons)).decisions[0].reason_codes == ("0U",)


def test_a_pended_then_approved_item_keeps_its_key_and_the_approval_is_newer():
    pended = read_decisions(fixture_bytes("covered/aba-pended.json")).responses[0]
    final = read_decisions(
        fixture_bytes("covered/aba-approved-after-pend-notification.json")
    ).responses[0]
    assert pended.item_key(pended.items[0]) == final.item_key(final.items[0])
    assert final.created > pended.created
    assert isinstance(final.created, datetime) and final.created.utcoffset() is not None


@pytest.mark.parametrize(
    ("repeat", "expected", "window"),
    [
        ({"period": 1, "periodUnit": "wk"}, Frequency(Decimal(1), "wk"), "week"),
        ({"period": 1, "periodUnit": "d", "frequency": 2}, Frequency(Decimal(1), "d", 2), "day"),
        ({"period": 1, "periodUnit": "mo"}, Frequency(Decimal(1), "mo"), "month"),
        ({"period": 2, "periodUnit": "wk"}, Frequency(Decimal(2), "wk"), None),
        ({"period": 1, "periodUnit": "a"}, Frequency(Decimal(1), "a"), None),
        ({"count": 12}, None, None),
    ],
)
def test_it_reads_the_frequency_from_the_authorized_service_timing(repeat, expected, window):
    data = edited(
        TWO_LINES, lambda d: entry(d, "ServiceRequest")["occurrenceTiming"].update(repeat=repeat)
    )
    frequency = read(data).decisions[0].approved[0].frequency
    assert frequency == expected
    assert (frequency.window if frequency else None) == window


def test_it_has_no_frequency_when_the_decision_points_at_no_service():
    def unlink(d):
        detail = claim_response(d)["item"][0]["extension"][4]
        detail["extension"] = [e for e in detail["extension"] if "requestedService" not in e["url"]]

    assert read(edited(TWO_LINES, unlink)).decisions[0].approved[0].frequency is None


@pytest.mark.parametrize(
    ("quantity", "measure"),
    [
        ({"value": 6, "code": "VS", "system": "https://codesystem.x12.org/005010/673"}, "visits"),
        ({"value": 6, "unit": "sessions"}, "visits"),
        ({"value": 6, "unit": "Units"}, "units"),
        ({"value": 2.5, "unit": "hours", "code": "HS"}, "hours"),
        ({"value": 6, "unit": "blocks"}, None),
    ],
)
def test_it_tells_what_a_quantity_counts(quantity, measure):
    data = edited(
        TWO_LINES,
        lambda d: claim_response(d)["item"][0]["extension"][4]["extension"][1].update(
            valueQuantity=quantity
        ),
    )
    assert read(data).decisions[0].approved[0].quantity.measure == measure


# Member id and payer: which identifier wins.
MB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]}


def test_it_prefers_the_coverage_member_id_over_an_untyped_patient_identifier():
    def untyped(d):
        patient = entry(d, "Patient")
        patient["identifier"] = [{"system": "urn:mrn", "value": "MRN-1"}, {"value": "X-2"}]
        entry(d, "Coverage")["identifier"] = [{"type": MB, "value": "COV-9"}]

    assert read(edited(TWO_LINES, untyped)).responses[0].member_id.value == "COV-9"


def test_it_uses_the_subscriber_id_of_a_self_coverage_last():
    def only_subscriber(d):
        entry(d, "Patient")["identifier"] = []
        coverage = entry(d, "Coverage")
        del coverage["identifier"], coverage["subscriber"]
        coverage["subscriberId"] = "SUB-77"

    assert read(edited(TWO_LINES, only_subscriber)).responses[0].member_id.value == "SUB-77"


@pytest.mark.parametrize(
    ("identifiers", "expected"),
    [
        (
            [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1"}, {"value": "2"}],
            ("npi", "1"),
        ),
        ([{"system": "http://terminology.hl7.org/NamingSystem/USEIN", "value": "3"}], ("tin", "3")),
        ([{"system": "urn:other", "value": "4"}], ("other", "4")),
    ],
)
def test_it_ranks_payer_identifiers(identifiers, expected):
    data = edited(TWO_LINES, lambda d: entry(d, "Organization").update(identifier=identifiers))
    payer = read(data).responses[0].payer
    assert (payer.kind, payer.value, payer.name) == (*expected, "SUNCOAST HEALTH PLAN")


def test_it_resolves_contained_resources_of_a_bare_claim_response():
    bundle = edited(TWO_LINES, lambda d: None)
    response = claim_response(bundle)
    response["contained"] = [
        {**entry(bundle, "Patient"), "id": "p"},
        {**entry(bundle, "Organization"), "id": "o"},
    ]
    response["patient"], response["insurer"] = {"reference": "#p"}, {"reference": "#o"}
    del response["insurance"]
    for item in response["item"]:
        item["extension"][4]["extension"].pop()  # the ServiceRequests are not in the file
    decision_file = read(response)
    assert decision_file.kind == "claim-response"
    assert decision_file.responses[0].member_id.value == "SC-4471209"
    assert decision_file.responses[0].payer.value == "SCHP1"


def test_it_resolves_urn_uuid_full_urls():
    def uuids(d):
        for index, item in enumerate(d["entry"]):
            old = item["fullUrl"].split("fhir/")[1]
            item["fullUrl"] = f"urn:uuid:00000000-0000-4000-8000-{index:012d}"
            for other in d["entry"]:
                text = json.dumps(other["resource"]).replace(f'"{old}"', f'"{item["fullUrl"]}"')
                other["resource"] = json.loads(text)

    decision_file = read(edited(TWO_LINES, uuids))
    assert decision_file.responses[0].member_id.value == "SC-4471209"
    assert decision_file.decisions[0].approved[0].frequency.window == "week"


def test_it_reads_a_notification_with_the_claim_response_as_a_later_entry():
    inner = edited("covered/aba-approved-after-pend-notification.json", lambda d: None)
    nested = inner["entry"][1]["resource"]["entry"]
    inner["entry"][1:] = [{"fullUrl": e["fullUrl"], "resource": e["resource"]} for e in nested]
    decision_file = read(inner)
    assert decision_file.kind == "notification"
    assert (
        summary(decision_file) == EXPECTED["covered/aba-approved-after-pend-notification.json"][1]
    )


def test_a_response_without_its_bundle_is_still_read_when_references_are_logical():
    assert read_decisions(fixture_bytes(DENIED)).responses[0].payer.name == "SUNCOAST HEALTH PLAN"


def test_it_drops_nothing_when_a_bundle_holds_two_claim_responses():
    def two(d):
        second = json.loads(json.dumps(d["entry"][0]))
        second["fullUrl"] += "-2"
        second["resource"]["id"] += "-2"
        second["resource"]["identifier"][0]["value"] = "ABA-1002"
        d["entry"].insert(1, second)

    decision_file = read(edited(TWO_LINES, two))
    assert [r.response_id.value for r in decision_file.responses] == ["ABA-1001", "ABA-1002"]
    assert len(decision_file.decisions) == 4


def test_it_ignores_coverages_of_other_patients():
    def other(d):
        entry(d, "Patient")["identifier"] = [{"value": "A"}, {"value": "B"}]
        claim_response(d).pop("insurance")
        entry(d, "Coverage")["beneficiary"] = {"reference": "Patient/someone-else"}

    with pytest.raises(DecisionFileError, match="Missing member id"):
        read(edited(TWO_LINES, other))

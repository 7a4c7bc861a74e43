"""Bad decision files: each kind gets a DecisionFileError naming what and where, and
nothing else ever escapes `read_decisions` (Hypothesis over arbitrary JSON and bytes,
and over the fixtures with one element replaced by arbitrary JSON)."""

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pas_support import (
    FIXTURES,
    PAS,
    claim_response,
    drop_entries,
    edited,
    entry,
    fixture,
    read,
    remove_number,
    review_action,
    set_review_code,
)
from webapp.domain.pas_terms import DecisionFile
from webapp.domain.payer_decisions import DecisionFileError, read_decisions

TWO_LINES = "covered/aba-approved-two-lines.json"
MODIFIED = "covered/aba-modified-lower-units.json"
NOTIFICATION = "covered/aba-approved-after-pend-notification.json"
ITEM0 = "Bundle.entry[0].resource.item[0]"


def first_item(d):
    return claim_response(d)["item"][0]


def quantity(d):
    return first_item(d)["extension"][4]["extension"][1]["valueQuantity"]


def set_status(d, kind):
    d["entry"][0]["resource"]["parameter"][3]["valueCode"] = kind


def id_only(d):
    for item in d["entry"][1:]:
        del item["resource"]


def no_payer_identifier(d):
    entry(d, "Organization")["identifier"] = []


def no_member_id(d):
    entry(d, "Patient")["identifier"] = []
    entry(d, "Coverage")["identifier"] = []
    entry(d, "Coverage")["subscriber"] = {"reference": "Patient/parent"}  # not self


def no_number(d):
    remove_number(first_item(d))
    del claim_response(d)["preAuthRef"]


def period_backwards(d):
    first_item(d)["extension"][2]["valuePeriod"] = {"start": "2026-09-01", "end": "2026-03-01"}


def duplicate_sequence(d):
    claim_response(d)["item"][1]["itemSequence"] = 1


def no_review_action(d):
    for item in claim_response(d)["item"]:
        del item["adjudication"][0]["extension"]


def review_without_code(d):
    review_action(first_item(d))["extension"] = [{"url": "number", "valueString": "N-1"}]


def added_without_review(d):
    added = claim_response(d)["addItem"][0]
    added["itemSequence"] = [9]
    set_review_code(first_item(d), "A1")
    del added["adjudication"][0]["extension"]


# (name, fixture or raw bytes, edit, message start, path)
BAD = [
    ("empty file", b"", None, "This file is not JSON", ""),
    ("text", b"approved 40 units", None, "This file is not JSON", ""),
    ("truncated JSON", b'{"resourceType": "Bundle", ', None, "This file is not JSON", ""),
    ("not UTF-8", b"\xff\xfe\x00{", None, "This file is not JSON: it is not UTF-8", ""),
    ("NaN", b'{"resourceType": "ClaimResponse", "x": NaN}', None, "This file is not JSON", ""),
    ("a JSON list", b"[]", None, "This file is JSON but not a FHIR resource", ""),
    ("no resourceType", b'{"type": "collection"}', None, "This file is JSON but not a FHIR", ""),
    (
        "unknown type",
        b'{"resourceType": "Decision"}',
        None,
        "This file is not FHIR R4: 'Decision'",
        "",
    ),
    (
        "a Patient",
        b'{"resourceType": "Patient"}',
        None,
        "This file has no ClaimResponse: it is a Patient",
        "Patient",
    ),
    (
        "R5 element",
        TWO_LINES,
        lambda d: claim_response(d).update(decision={"text": "approved"}),
        "This file is not FHIR R4: 'decision' is not an element",
        "Bundle.entry[0].resource.decision",
    ),
    (
        "R5 Bundle element",
        TWO_LINES,
        lambda d: d.update(issues={"resourceType": "OperationOutcome"}),
        "This file is not FHIR R4: 'issues'",
        "Bundle.issues",
    ),
    (
        "bad dateTime",
        TWO_LINES,
        lambda d: claim_response(d).update(created="March 2"),
        "This file is not valid FHIR R4",
        "Bundle.entry[0].resource.created",
    ),
    (
        "required element missing",
        TWO_LINES,
        lambda d: claim_response(d).pop("patient"),
        "This file is not valid FHIR R4: the required element 'patient' is missing.",
        "Bundle.entry[0].resource.patient",
    ),
    (
        "searchset Bundle",
        TWO_LINES,
        lambda d: d.update(type="searchset"),
        "This Bundle is of type 'searchset'",
        "Bundle.type",
    ),
    (
        "no ClaimResponse",
        TWO_LINES,
        lambda d: drop_entries(d, "ClaimResponse"),
        "This Bundle has no ClaimResponse.",
        "Bundle.entry",
    ),
    (
        "history, no status",
        NOTIFICATION,
        lambda d: d["entry"].pop(0),
        "This history Bundle is not a subscription notification",
        "Bundle.entry[0]",
    ),
    (
        "heartbeat",
        NOTIFICATION,
        lambda d: set_status(d, "heartbeat"),
        "This subscription notification is a heartbeat notification",
        "Bundle.entry[0].resource.parameter",
    ),
    (
        "id-only notification",
        NOTIFICATION,
        id_only,
        "This notification carries references only",
        "Bundle.entry",
    ),
    (
        "not active",
        TWO_LINES,
        lambda d: claim_response(d).update(status="entered-in-error"),
        "This ClaimResponse is 'entered-in-error'",
        "Bundle.entry[0].resource.status",
    ),
    (
        "a claim, not a prior auth",
        TWO_LINES,
        lambda d: claim_response(d).update(use="claim"),
        "This ClaimResponse is for use 'claim'",
        "Bundle.entry[0].resource.use",
    ),
    (
        "error outcome",
        TWO_LINES,
        lambda d: claim_response(d).update(outcome="error"),
        "The payer answered with errors",
        "Bundle.entry[0].resource.error",
    ),
    (
        "created without time",
        TWO_LINES,
        lambda d: claim_response(d).update(created="2026-03-02"),
        "ClaimResponse.created must give a time",
        "Bundle.entry[0].resource.created",
    ),
    (
        "no identifier",
        TWO_LINES,
        lambda d: claim_response(d).pop("identifier"),
        "This ClaimResponse has no identifier",
        "Bundle.entry[0].resource.identifier",
    ),
    (
        "no items",
        TWO_LINES,
        lambda d: claim_response(d).pop("item"),
        "This ClaimResponse has no item decisions.",
        "Bundle.entry[0].resource.item",
    ),
    (
        "quantity without unit",
        TWO_LINES,
        lambda d: quantity(d).clear() or quantity(d).update(value=40),
        "The quantity 40 has no unit",
        ITEM0 + ".extension[4].extension[1].valueQuantity",
    ),
    (
        "quantity without value",
        TWO_LINES,
        lambda d: quantity(d).pop("value"),
        "This quantity has no value",
        ITEM0 + ".extension[4].extension[1].valueQuantity",
    ),
    (
        "zero quantity",
        TWO_LINES,
        lambda d: quantity(d).update(value=0),
        "The quantity 0 is not more than zero",
        ITEM0 + ".extension[4].extension[1].valueQuantity",
    ),
    (
        "negative quantity",
        TWO_LINES,
        lambda d: quantity(d).update(value=-8),
        "The quantity -8 is not more than zero",
        ITEM0 + ".extension[4].extension[1].valueQuantity",
    ),
    (
        "added item quantity without unit",
        MODIFIED,
        lambda d: (
            claim_response(d)["addItem"][0]["quantity"].pop("unit")
            and claim_response(d)["addItem"][0]["quantity"].pop("code")
        ),
        "The quantity 25 has no unit",
        "Bundle.entry[0].resource.addItem[0].quantity",
    ),
    (
        "missing member id",
        TWO_LINES,
        no_member_id,
        "Missing member id: the patient 'Patient/member'",
        "Bundle.entry[0].resource.patient",
    ),
    (
        "missing payer identifier",
        TWO_LINES,
        no_payer_identifier,
        "Missing payer identifier: the insurer 'Organization/payer'",
        "Bundle.entry[0].resource.insurer",
    ),
    (
        "unknown review action",
        TWO_LINES,
        lambda d: set_review_code(first_item(d), "A5"),
        "Unknown review-action code 'A5'; X12 306 codes are A1, A2, A3, A4, A6, C, CT, NA.",
        ITEM0 + ".adjudication[0].extension[0]",
    ),
    (
        "review action of another system",
        TWO_LINES,
        lambda d: set_review_code(first_item(d), "approved", "urn:payer:codes"),
        "Unknown review-action code 'approved' (system urn:payer:codes); X12 306 codes",
        ITEM0 + ".adjudication[0].extension[0]",
    ),
    (
        "review action without code",
        TWO_LINES,
        review_without_code,
        "This review action has no code.",
        ITEM0 + ".adjudication[0].extension[0]",
    ),
    (
        "item without review action",
        TWO_LINES,
        no_review_action,
        "Item 1 has no review action",
        ITEM0,
    ),
    (
        "approved without number",
        TWO_LINES,
        no_number,
        "Item 1 is certified in total (A1) but carries no authorization number",
        ITEM0,
    ),
    (
        "modified without added item",
        MODIFIED,
        lambda d: claim_response(d).pop("addItem"),
        "Item 1 is modified (A6) but no addItem says what was authorized",
        ITEM0,
    ),
    (
        "added item without review action",
        MODIFIED,
        added_without_review,
        "This added item has no review action",
        "Bundle.entry[0].resource.addItem[0].adjudication",
    ),
    (
        "duplicate item sequence",
        TWO_LINES,
        duplicate_sequence,
        "Item sequence 1 appears twice.",
        "Bundle.entry[0].resource.item[1].itemSequence",
    ),
    (
        "period ends before it starts",
        TWO_LINES,
        period_backwards,
        "This period starts (2026-09-01) after it ends (2026-03-01).",
        ITEM0 + ".extension[2].valuePeriod",
    ),
    (
        "partial date",
        TWO_LINES,
        lambda d: first_item(d)["extension"][2]["valuePeriod"].update(start="2026-03"),
        "'2026-03' is not a full date",
        ITEM0 + ".extension[2].valuePeriod",
    ),
]


@pytest.mark.parametrize(
    ("source", "edit", "message", "path"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_it_refuses_each_kind_of_bad_file(source, edit, message, path):
    data = source if isinstance(source, bytes) else edited(source, edit)
    with pytest.raises(DecisionFileError) as caught:
        read(data)
    assert caught.value.message.startswith(message), caught.value.message
    assert caught.value.path == path
    assert str(caught.value) == (
        f"{caught.value.message} (at {path})" if path else caught.value.message
    )


def test_the_same_edit_on_a_valid_file_reads():
    """The edits above break only what they name: the untouched fixtures read."""
    for name in (TWO_LINES, MODIFIED, NOTIFICATION):
        assert isinstance(read(fixture(name)), DecisionFile)


def test_it_reads_a_byte_order_mark():
    raw = b"\xef\xbb\xbf" + json.dumps(fixture(TWO_LINES)).encode()
    assert len(read_decisions(raw).decisions) == 2


def test_it_refuses_an_unknown_contained_resource_type_as_not_fhir():
    data = edited(TWO_LINES, lambda d: claim_response(d).update(contained=[{"resourceType": "X"}]))
    with pytest.raises(DecisionFileError, match="not FHIR R4"):
        read(data)


def test_it_refuses_nesting_deeper_than_python_reads():
    with pytest.raises(DecisionFileError, match="not JSON"):
        read_decisions(b"[" * 100_000 + b"]" * 100_000)


# Hypothesis: arbitrary JSON, arbitrary bytes, and fixtures with one element replaced.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["ClaimResponse", "Bundle", "history", "collection", "A1", "active"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["resourceType", "entry", "resource", "item", "extension", "url", "type"]
            )
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
FIXTURE_NAMES = sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*.json"))


def reads_or_refuses(raw: bytes) -> None:
    try:
        result = read_decisions(raw)
    except DecisionFileError as error:
        assert error.message
        return
    assert isinstance(result, DecisionFile) and result.responses


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_is_read_or_refused(value):
    reads_or_refuses(json.dumps(value).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_read_or_refused(raw):
    reads_or_refuses(raw)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from paths(child, (*prefix, index))


def replaced(data, path, value):
    if not path:
        return value
    data = copy.deepcopy(data)
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURE_NAMES), st.data(), json_values)
def test_a_fixture_with_any_element_replaced_is_read_or_refused(name, data, value):
    original = fixture(name)
    path = data.draw(st.sampled_from(list(paths(original))))
    reads_or_refuses(json.dumps(replaced(original, path, value)).encode())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FIXTURE_NAMES), st.data())
def test_a_fixture_with_any_element_removed_is_read_or_refused(name, data):
    original = fixture(name)
    path = data.draw(st.sampled_from([p for p in paths(original) if p]))
    damaged = copy.deepcopy(original)
    parent = damaged
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    reads_or_refuses(json.dumps(damaged).encode())


def test_the_fixture_list_is_not_empty():
    assert len(FIXTURE_NAMES) >= 25 and PAS


def leaves(node):
    """Paths to every string, number and boolean of a fixture."""
    return [p for p in paths(node) if not isinstance(at(node, p), dict | list)]


def at(node, path):
    for step in path:
        node = node[step]
    return node


like = {
    str: st.text(max_size=10) | st.sampled_from(["", " ", "2026-02-30", "Patient/", "#x", "A6"]),
    int: st.integers(min_value=-3, max_value=10**12),
    float: st.floats(allow_nan=False, allow_infinity=False),
    bool: st.booleans(),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURE_NAMES), st.data())
def test_a_fixture_with_any_value_changed_in_kind_is_read_or_refused(name, data):
    """Values of the same JSON kind get past FHIR validation, so they reach the PAS rules."""
    original = fixture(name)
    path = data.draw(st.sampled_from(leaves(original)))
    value = data.draw(like[type(at(original, path))])
    reads_or_refuses(json.dumps(replaced(original, path, value)).encode())

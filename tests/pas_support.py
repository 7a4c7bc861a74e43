"""Helpers for the PAS decision-file tests: fixtures as dicts, edits, and a summary."""

import copy
import json
from pathlib import Path

from webapp.domain.payer_decisions import read_decisions

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pas"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def encoded(data) -> bytes:
    return json.dumps(data).encode()


def read(data):
    return read_decisions(encoded(data) if not isinstance(data, bytes) else data)


def edited(name: str, edit) -> dict:
    """A deep copy of fixture `name` after `edit(data)` changed it in place."""
    data = copy.deepcopy(fixture(name))
    edit(data)
    return data


def claim_response(data: dict) -> dict:
    """The first ClaimResponse of a response Bundle or a bare ClaimResponse."""
    if data["resourceType"] == "ClaimResponse":
        return data
    return next(
        e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "ClaimResponse"
    )


def entry(data: dict, resource_type: str, index: int = 0) -> dict:
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == resource_type][
        index
    ]


def drop_entries(data: dict, resource_type: str) -> None:
    data["entry"] = [e for e in data["entry"] if e["resource"]["resourceType"] != resource_type]


def review_action(item: dict) -> dict:
    """The review-action extension of an item's first adjudication."""
    return next(
        e
        for e in item["adjudication"][0]["extension"]
        if e["url"] == PAS + "extension-reviewAction"
    )


def set_review_code(item: dict, code: str, system="https://codesystem.x12.org/005010/306") -> None:
    for part in review_action(item)["extension"]:
        if part["url"] in ("code", PAS + "extension-reviewActionCode"):
            part["valueCodeableConcept"] = {"coding": [{"system": system, "code": code}]}


def remove_number(item: dict) -> None:
    action = review_action(item)
    action["extension"] = [p for p in action["extension"] if p["url"] != "number"]


def line(service) -> tuple:
    """(code, quantity, unit, measure, window, period) of a ServiceLine."""
    quantity, frequency, period = service.quantity, service.frequency, service.period
    return (
        service.code.code,
        str(quantity.value) if quantity else None,
        quantity.unit if quantity else None,
        quantity.measure if quantity else None,
        frequency.window if frequency else None,
        (str(period.start), str(period.end)) if period else None,
    )


def summary(decision_file) -> list[tuple]:
    """One tuple per item decision: everything the import will use, as plain values."""
    rows = []
    for response in decision_file.responses:
        for item in response.items:
            rows.append(
                (
                    response.response_id.value,
                    response.created.isoformat(),
                    response.member_id.value,
                    (response.payer.kind, response.payer.value),
                    item.item_sequence,
                    item.review_action,
                    item.state,
                    item.authorization_number,
                    item.administration_reference,
                    (str(item.period.start), str(item.period.end)) if item.period else None,
                    [line(s) for s in item.approved],
                    [line(s) for s in item.requested],
                )
            )
    return rows

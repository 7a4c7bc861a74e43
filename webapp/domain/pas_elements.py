"""Reading FHIR R4 elements of a PAS ClaimResponse into Covered's terms.

Extensions by url, codes, PASQuantity, full dates and periods, and who a response is
about (member id) and from (payer identifier). Each reader raises DecisionFileError
with the path of the element at fault.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from webapp.domain.pas_fhir import Resources
from webapp.domain.pas_terms import (
    CPT,
    HCPCS,
    Code,
    DatePeriod,
    DecisionFileError,
    Identifier,
    PayerIdentifier,
    Quantity,
)

NPI = "http://hl7.org/fhir/sid/us-npi"
TIN = "http://terminology.hl7.org/NamingSystem/USEIN"


def response_id(response: Any, at: str) -> Identifier:
    """The ClaimResponse identifier (PAS: the request's trace number, `urn:trnorg:`).

    Raises:
        DecisionFileError: it has none, so a later decision could not be matched to it.
    """
    identifiers = _valued(response.identifier)
    if not identifiers:
        raise DecisionFileError(
            "This ClaimResponse has no identifier, so a later decision on the same request "
            "could not be matched to it.",
            f"{at}.identifier",
        )
    chosen = next((i for i in identifiers if (i.system or "").startswith("urn:trnorg:")), None)
    chosen = chosen or identifiers[0]
    return Identifier(chosen.system, chosen.value.strip())


def member_id(response: Any, resources: Resources, at: str) -> Identifier:
    """The patient's member id: Patient identifier typed MB (PAS: "identified by their
    member identifier ... a type of 'MB'"), else the Coverage's MB identifier, else the
    Patient's only identifier, else the reference's identifier, else the subscriber id
    of a Coverage where the patient is the subscriber.

    Raises:
        DecisionFileError: none of these is in the file.
    """
    patient = resources.resolve(response.patient, "Patient")
    listed = [resources.resolve(i.coverage, "Coverage") for i in response.insurance or []]
    coverages = [c for c in listed if c is not None] or [
        r
        for r in resources.by_type_id.values()
        if r.get_resource_type() == "Coverage"
        and patient is not None
        and resources.resolve(r.beneficiary, "Patient") is patient
    ]
    patient_ids = _valued(patient.identifier if patient else None)
    coverage_ids = [i for c in coverages for i in _valued(c.identifier)]
    chosen = (
        typed(patient_ids, "MB")
        or typed(coverage_ids, "MB")
        or (patient_ids[0] if len(patient_ids) == 1 else None)
        or logical_identifier(response.patient)
    )
    if chosen is not None:
        return Identifier(chosen.system, chosen.value.strip())
    for coverage in coverages:
        if (coverage.subscriberId or "").strip() and is_self(coverage):
            return Identifier(None, coverage.subscriberId.strip())
    raise DecisionFileError(
        f"Missing member id: the patient {_shown(response.patient)} has no member "
        "identifier in this file.",
        f"{at}.patient",
    )


def payer(response: Any, resources: Resources, at: str) -> PayerIdentifier:
    """The insurer's identifier: payer id (PAS Organization PI slice), else NPI, else TIN,
    else its first identifier; an unresolved reference's own identifier counts.

    Raises:
        DecisionFileError: the insurer has no identifier in the file.
    """
    insurer = resources.resolve(response.insurer, "Organization")
    identifiers = _valued(insurer.identifier if insurer else None)
    logical = logical_identifier(response.insurer)
    identifiers = identifiers or ([logical] if logical is not None else [])
    name = insurer.name if insurer else getattr(response.insurer, "display", None)
    for kind, chosen in (
        ("payer-id", typed(identifiers, "payerid") or typed(identifiers, "PI")),
        ("npi", next((i for i in identifiers if i.system == NPI), None)),
        ("tin", next((i for i in identifiers if i.system == TIN), None)),
        ("other", identifiers[0] if identifiers else None),
    ):
        if chosen is not None:
            return PayerIdentifier(chosen.system, chosen.value.strip(), kind, name)
    raise DecisionFileError(
        f"Missing payer identifier: the insurer {_shown(response.insurer)} has no "
        "identifier in this file.",
        f"{at}.insurer",
    )


def _valued(identifiers: Any) -> list:
    return [i for i in identifiers or [] if (i.value or "").strip()]


def _shown(reference: Any) -> str:
    text = getattr(reference, "reference", None) or getattr(reference, "display", None)
    return repr(text) if text else "(no reference)"


def typed(identifiers: list, code: str) -> Any:
    """The first identifier whose type has `code` (e.g. MB member, payerid), or None."""
    for identifier in identifiers:
        codings = identifier.type.coding if identifier.type else None
        if any(c.code == code for c in codings or []):
            return identifier
    return None


def logical_identifier(reference: Any) -> Any:
    identifier = getattr(reference, "identifier", None)
    return identifier if identifier is not None and (identifier.value or "").strip() else None


def is_self(coverage: Any) -> bool:
    """Whether the beneficiary is the subscriber (relationship self / X12 18)."""
    codings = coverage.relationship.coding if coverage.relationship else None
    return coverage.subscriber is None or any(c.code in ("self", "18") for c in codings or [])


def path_of(extensions: Any, extension: Any, path: str) -> str:
    """The path of `extension` within its parent's extension list at `path`."""
    for index, candidate in enumerate(extensions or []):
        if candidate is extension:
            return f"{path}.extension[{index}]"
    return path


def all_of(extensions: Any, url: str) -> list:
    return [e for e in extensions or [] if e.url == url]


def one_of(extensions: Any, url: str) -> Any:
    found = all_of(extensions, url)
    return found[0] if found else None


def value_of(extensions: Any, url: str, attribute: str) -> Any:
    found = one_of(extensions, url)
    return getattr(found, attribute) if found is not None else None


def string_of(extensions: Any, url: str) -> str | None:
    return (value_of(extensions, url, "valueString") or "").strip() or None


def codes_text(concept: Any) -> str:
    """A CodeableConcept's codes joined with '/', else its text, else ''."""
    codings = concept.coding if concept is not None else None
    return "/".join(c.code for c in codings or [] if c.code) or (
        concept.text or "" if concept else ""
    )


def service_code(concept: Any, path: str) -> Code:
    """The service's code, a CPT or HCPCS coding first when there are several.

    Raises:
        DecisionFileError: the concept has no coded value.
    """
    codings = [c for c in (concept.coding if concept else None) or [] if c.code]
    if not codings:
        raise DecisionFileError("This service has no code.", path)
    preferred = [c for c in codings if c.system in (CPT, HCPCS)] or codings
    return Code(preferred[0].system, preferred[0].code, preferred[0].display)


def end_code(extension: Any) -> str | None:
    """The last code of a code range (productOrServiceCodeEnd), if given."""
    concept = extension.valueCodeableConcept if extension is not None else None
    return codes_text(concept) or None if concept is not None else None


def pas_quantity(quantity: Any, path: str) -> Quantity | None:
    """A PASQuantity (value and a unit or code, PAS prof-2), or None when absent.

    Raises:
        DecisionFileError: no value, no unit nor code, or a value not more than zero.
    """
    if quantity is None:
        return None
    if quantity.value is None:
        raise DecisionFileError("This quantity has no value.", path)
    unit = (quantity.unit or "").strip() or (quantity.code or "").strip()
    if not unit:
        raise DecisionFileError(
            f"The quantity {quantity.value} has no unit: PAS quantities need a unit or a "
            "unit code (prof-2), or the number could mean units, visits or days.",
            path,
        )
    value = Decimal(quantity.value)
    if not value.is_finite() or value <= 0:
        raise DecisionFileError(f"The quantity {quantity.value} is not more than zero.", path)
    return Quantity(value, unit, quantity.code, quantity.system)


def full_date(value: Any, path: str) -> date:
    """The calendar date of a FHIR date or dateTime (its own local date).

    Raises:
        DecisionFileError: a partial date (year, or year and month).
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise DecisionFileError(f"{value!r} is not a full date (year, month and day).", path)


def date_period(period: Any, path: str) -> DatePeriod | None:
    """A FHIR Period as inclusive dates, or None when it has neither end.

    Raises:
        DecisionFileError: a partial date, or a start after the end.
    """
    if period is None or (period.start is None and period.end is None):
        return None
    start = full_date(period.start, path) if period.start is not None else None
    end = full_date(period.end, path) if period.end is not None else None
    if start and end and start > end:
        raise DecisionFileError(f"This period starts ({start}) after it ends ({end}).", path)
    return DatePeriod(start, end)


def service_period(element: Any, path: str) -> DatePeriod | None:
    """The dates of a Claim item or addItem: servicedDate (one day) or servicedPeriod."""
    if getattr(element, "servicedDate", None) is not None:
        day = full_date(element.servicedDate, f"{path}.servicedDate")
        return DatePeriod(day, day)
    return date_period(getattr(element, "servicedPeriod", None), f"{path}.servicedPeriod")

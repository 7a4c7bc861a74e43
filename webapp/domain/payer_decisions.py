"""Reading payers' prior-authorization decisions from Da Vinci PAS (FHIR R4) files.

`read_decisions(raw)` takes the uploaded bytes and returns a `DecisionFile`, or
raises `DecisionFileError` naming what is wrong and where; it never raises anything
else. Rules, with their source (PAS IG 2.0.1 / 2.2.1, "spec-N" = its conformance ids):

- Decision: the X12 306 code of the review-action extension on the item's
  adjudication (spec: "ClaimResponse.item.adjudication.extension(reviewaction).code"),
  else on the ClaimResponse's own adjudication. Unknown codes are refused.
- Authorization number: the review action's `number`, else ClaimResponse.preAuthRef,
  else the ClaimResponse authorizationNumber extension. Approved, partly approved and
  modified items must have one.
- Dates: the item's preAuthPeriod extension, else ClaimResponse.preAuthPeriod.
- What is approved: A1/A2 - the item's authorizedDetail extension, else the addItems
  linked to it, else (A1 only, "certified in total") the request Claim's item when the
  Bundle carries it; A6 - the addItems linked by itemSequence (spec-36/37: the item
  holds what was requested, the addItem what was authorized). An addItem with a new
  sequence is an added item with its own review action.
- Quantities are PASQuantity: a value and a unit or code (prof-2); one without a unit
  is refused, as is a value that is not more than zero.
- Frequency: PAS has no per-week quantity on the ClaimResponse. X12 HSD05/06 (time
  period, number of periods) map to PASTiming on the requested service, so a frequency
  is read only when the authorized detail (`authorizedService`) or the addItem
  (`requestedService`) points at a ServiceRequest whose occurrenceTiming has
  repeat.period and repeat.periodUnit. Otherwise `frequency` is None.
- Member id: the Patient's identifier typed MB, else the Coverage's MB identifier,
  else the Patient's only identifier, else Coverage.subscriberId (self); a logical
  reference's identifier counts too. Payer: the insurer Organization's payer id
  (PI slice), else NPI, else TIN, else its first identifier.
"""

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from webapp.domain.pas_elements import (
    all_of,
    codes_text,
    date_period,
    end_code,
    full_date,
    member_id,
    one_of,
    pas_quantity,
    path_of,
    payer,
    response_id,
    service_code,
    service_period,
    string_of,
    value_of,
)
from webapp.domain.pas_fhir import Located, Resources, load_json, locate, validate
from webapp.domain.pas_terms import (
    GRANTING_STATES,
    MODIFIED,
    REVIEW_ACTIONS,
    X12_ACTION_CODES,
    DatePeriod,
    DecisionFile,
    DecisionFileError,
    Frequency,
    ItemDecision,
    PayerResponse,
    ReviewAction,
    ServiceLine,
)

__all__ = ["DecisionFile", "DecisionFileError", "read_decisions"]

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
REVIEW_ACTION = PAS + "extension-reviewAction"
PRE_AUTH_PERIOD = PAS + "extension-itemPreAuthPeriod"
PRE_AUTH_ISSUE_DATE = PAS + "extension-itemPreAuthIssueDate"
AUTHORIZED_DETAIL = PAS + "extension-itemAuthorizedDetail"
ADMINISTRATION_REFERENCE = PAS + "extension-administrationReferenceNumber"
AUTHORIZATION_NUMBER = PAS + "extension-authorizationNumber"
TRACE_NUMBER = PAS + "extension-itemTraceNumber"
REQUESTED_SERVICE = PAS + "extension-requestedService"
CODE_END = PAS + "extension-productOrServiceCodeEnd"


def read_decisions(raw: bytes) -> DecisionFile:
    """The decisions in an uploaded PAS file (response Bundle, notification, ClaimResponse).

    Returns a DecisionFile with one PayerResponse per ClaimResponse, each with its
    ItemDecisions in file order (items, then added items).

    Raises:
        DecisionFileError: not JSON, not FHIR R4, no ClaimResponse, an error response,
            a missing member id or payer identifier, an unknown review-action code, a
            quantity without a unit, ... (message and path say which).
    """
    try:
        kind, located = locate(validate(load_json(raw)))
        return DecisionFile(kind, tuple(_response(found) for found in located))
    except DecisionFileError:
        raise
    except RecursionError:
        raise DecisionFileError("This file is nested too deeply to read.") from None


def _response(found: Located) -> PayerResponse:
    response, at, resources = found.claim_response, found.path, found.resources
    if response.status != "active":
        raise DecisionFileError(
            f"This ClaimResponse is {response.status!r}; only active responses carry decisions.",
            f"{at}.status",
        )
    if response.use != "preauthorization":
        raise DecisionFileError(
            f"This ClaimResponse is for use {response.use!r}, not a prior authorization "
            "(use = preauthorization).",
            f"{at}.use",
        )
    if response.outcome == "error" or (response.error and not response.item):
        codes = ", ".join(codes_text(error.code) for error in response.error or []) or "none given"
        raise DecisionFileError(
            f"The payer answered with errors, not a decision (X12 reject reasons: {codes}).",
            f"{at}.error",
        )
    if not isinstance(response.created, datetime):
        raise DecisionFileError(
            "ClaimResponse.created must give a time with a time zone, so a newer decision "
            "can be told from an older one.",
            f"{at}.created",
        )
    header = _review_action(response.adjudication, f"{at}.adjudication")
    context = _Context(response, at, resources, header)
    items = context.items()
    if not items:
        raise DecisionFileError("This ClaimResponse has no item decisions.", f"{at}.item")
    return PayerResponse(
        response_id=response_id(response, at),
        created=response.created,
        member_id=member_id(response, resources, at),
        payer=payer(response, resources, at),
        outcome=response.outcome,
        pre_auth_ref=response.preAuthRef,
        disposition=response.disposition,
        items=items,
        path=at,
    )


class _Context:
    """Reads the items of one ClaimResponse."""

    def __init__(self, response: Any, at: str, resources: Resources, header: Any) -> None:
        self.response, self.at, self.resources, self.header = response, at, resources, header
        self.number = response.preAuthRef or string_of(response.extension, AUTHORIZATION_NUMBER)
        self.period = date_period(response.preAuthPeriod, f"{at}.preAuthPeriod")
        claim = resources.resolve(response.request, "Claim")
        self.requested = {item.sequence: item for item in (claim.item if claim else None) or []}

    def items(self) -> tuple[ItemDecision, ...]:
        decisions, seen = [], set()
        for index, item in enumerate(self.response.item or []):
            path = f"{self.at}.item[{index}]"
            if item.itemSequence in seen:
                raise DecisionFileError(
                    f"Item sequence {item.itemSequence} appears twice.", f"{path}.itemSequence"
                )
            seen.add(item.itemSequence)
            decisions.append(self.item(item, path))
        for index, added in enumerate(self.response.addItem or []):
            path = f"{self.at}.addItem[{index}]"
            if not set(added.itemSequence or []) & seen:
                decisions.append(self.added_item(added, path))
        return tuple(decisions)

    def item(self, item: Any, path: str) -> ItemDecision:
        found = _review_action(item.adjudication, f"{path}.adjudication") or self.header
        if found is None:
            raise DecisionFileError(
                f"Item {item.itemSequence} has no review action (X12 306 code).", path
            )
        action = found[0]
        detail = one_of(item.extension, AUTHORIZED_DETAIL)
        linked = [
            (index, added)
            for index, added in enumerate(self.response.addItem or [])
            if item.itemSequence in (added.itemSequence or [])
        ]
        requested = self._requested(item.itemSequence, path)
        if action.state == MODIFIED:
            if detail is not None:
                requested = (self._detail_line(detail, path_of(item.extension, detail, path)),)
            if not linked:
                raise DecisionFileError(
                    f"Item {item.itemSequence} is modified (A6) but no addItem says what was "
                    "authorized (PAS spec-37).",
                    path,
                )
        approved: tuple[ServiceLine, ...] = ()
        if action.state in GRANTING_STATES:
            if detail is not None and action.state != MODIFIED:
                approved = (self._detail_line(detail, path_of(item.extension, detail, path)),)
            elif linked:
                approved = tuple(
                    self._added_line(added, f"{self.at}.addItem[{index}]")
                    for index, added in linked
                )
            elif action.code == "A1":
                approved = requested
        period = self._own_period(item, path)
        return self._decision(item, path, item.itemSequence, found, approved, requested, period)

    def added_item(self, added: Any, path: str) -> ItemDecision:
        if not added.itemSequence:
            raise DecisionFileError("This addItem has no itemSequence.", path)
        found = _review_action(added.adjudication, f"{path}.adjudication")
        if found is None:
            raise DecisionFileError(
                "This added item has no review action (X12 306 code).", f"{path}.adjudication"
            )
        action = found[0]
        line = self._added_line(added, path)
        approved = (line,) if action.state in GRANTING_STATES else ()
        return self._decision(added, path, added.itemSequence[0], found, approved, (), None, True)

    def _decision(
        self,
        element: Any,
        path: str,
        sequence: int,
        found: tuple[ReviewAction, str | None, tuple[str, ...]],
        approved: tuple[ServiceLine, ...],
        requested: tuple[ServiceLine, ...],
        period: DatePeriod | None,
        added: bool = False,
    ) -> ItemDecision:
        """The decision on one item or added item; granting states need a number."""
        action, number, reasons = found
        number = number or self.number
        if action.state in GRANTING_STATES and not number:
            raise DecisionFileError(
                f"Item {sequence} is {action.label.lower()} ({action.code}) but carries no "
                "authorization number (review action number or preAuthRef).",
                path,
            )
        if period is None:
            period = next((line.period for line in approved if line.period), None) or self.period
        issued = value_of(element.extension, PRE_AUTH_ISSUE_DATE, "valueDate")
        trace = value_of(element.extension, TRACE_NUMBER, "valueIdentifier")
        return ItemDecision(
            item_sequence=sequence,
            review_action=action.code,
            state=action.state,
            authorization_number=number,
            administration_reference=string_of(element.extension, ADMINISTRATION_REFERENCE)
            or string_of(self.response.extension, ADMINISTRATION_REFERENCE),
            period=period,
            issued=full_date(issued, f"{path}.extension") if issued else None,
            approved=approved,
            requested=requested,
            reason_codes=reasons,
            trace_number=trace.value if trace is not None else None,
            added=added,
            path=path,
        )

    def _requested(self, sequence: int, path: str) -> tuple[ServiceLine, ...]:
        item = self.requested.get(sequence)
        if item is None or item.productOrService is None:
            return ()
        where = f"{self.at}.request(Claim).item[sequence={sequence}]"
        return (
            ServiceLine(
                code=service_code(item.productOrService, f"{where}.productOrService"),
                quantity=pas_quantity(item.quantity, f"{where}.quantity"),
                frequency=self._frequency(one_of(item.extension, REQUESTED_SERVICE), where),
                modifiers=tuple(codes_text(m) for m in item.modifier or []),
                period=service_period(item, where),
                source="request",
            ),
        )

    def _detail_line(self, detail: Any, path: str) -> ServiceLine:
        parts = detail.extension or []
        code = one_of(parts, "productOrServiceCode")
        if code is None or code.valueCodeableConcept is None:
            raise DecisionFileError("The authorized detail names no service code.", path)
        quantity = one_of(parts, "quantity")
        service = one_of(parts, "authorizedService") or one_of(parts, REQUESTED_SERVICE)
        return ServiceLine(
            code=service_code(code.valueCodeableConcept, path_of(parts, code, path)),
            quantity=pas_quantity(
                quantity.valueQuantity if quantity else None,
                path_of(parts, quantity, path) + ".valueQuantity",
            ),
            frequency=self._frequency(service, path_of(parts, service, path)),
            modifiers=tuple(codes_text(p.valueCodeableConcept) for p in all_of(parts, "modifier")),
            code_end=end_code(one_of(parts, "productOrServiceCodeEnd") or one_of(parts, CODE_END)),
            source="authorized-detail",
        )

    def _added_line(self, added: Any, path: str) -> ServiceLine:
        detail = one_of(added.extension, AUTHORIZED_DETAIL)
        period = self._own_period(added, path)
        if detail is not None:
            line = self._detail_line(detail, path_of(added.extension, detail, path))
        else:
            line = ServiceLine(
                code=service_code(added.productOrService, f"{path}.productOrService"),
                quantity=pas_quantity(added.quantity, f"{path}.quantity"),
                frequency=self._frequency(one_of(added.extension, REQUESTED_SERVICE), path),
                modifiers=tuple(codes_text(m) for m in added.modifier or []),
                code_end=end_code(one_of(added.extension, CODE_END)),
            )
        own = period or service_period(added, path)
        return replace(line, period=own, source="added-item")

    @staticmethod
    def _own_period(element: Any, path: str) -> DatePeriod | None:
        """The item's or added item's preAuthPeriod extension."""
        extension = one_of(element.extension, PRE_AUTH_PERIOD)
        if extension is None:
            return None
        where = path_of(element.extension, extension, path) + ".valuePeriod"
        return date_period(extension.valuePeriod, where)

    def _frequency(self, extension: Any, path: str) -> Frequency | None:
        if extension is None:
            return None
        service = self.resources.resolve(extension.valueReference, "ServiceRequest")
        timing = getattr(service, "occurrenceTiming", None)
        repeat = timing.repeat if timing is not None else None
        if repeat is None or repeat.period is None or not repeat.periodUnit:
            return None
        if repeat.period <= 0:
            raise DecisionFileError("A service's timing period must be more than zero.", path)
        return Frequency(Decimal(repeat.period), repeat.periodUnit, repeat.frequency)


def _review_action(adjudications: Any, at: str) -> tuple[ReviewAction, str | None, tuple] | None:
    for index, adjudication in enumerate(adjudications or []):
        for position, extension in enumerate(adjudication.extension or []):
            if extension.url != REVIEW_ACTION:
                continue
            path = f"{at}[{index}].extension[{position}]"
            parts = extension.extension or []
            coded = one_of(parts, PAS + "extension-reviewActionCode") or one_of(parts, "code")
            if coded is None or coded.valueCodeableConcept is None:
                raise DecisionFileError("This review action has no code.", path)
            codings = [
                c
                for c in coded.valueCodeableConcept.coding or []
                if c.system in (None, X12_ACTION_CODES)
            ]
            code = codings[0].code if codings and codings[0].code else None
            if code not in REVIEW_ACTIONS:
                others = [c for c in coded.valueCodeableConcept.coding or [] if c.code]
                shown = code or codes_text(coded.valueCodeableConcept) or "none"
                system = f" (system {others[0].system})" if not codings and others else ""
                raise DecisionFileError(
                    f"Unknown review-action code {shown!r}{system}; X12 306 codes are "
                    f"{', '.join(REVIEW_ACTIONS)}.",
                    path,
                )
            number = string_of(parts, "number")
            reasons = tuple(codes_text(p.valueCodeableConcept) for p in all_of(parts, "reasonCode"))
            return REVIEW_ACTIONS[code], number, reasons
    return None

"""What a payer's prior-authorization decision says, as read from a Da Vinci PAS response.

The types here are the result of `webapp.domain.payer_decisions.read_decisions`; they
carry no FHIR objects, so the import that builds authorization lines on them never
touches the FHIR library. Sources: HL7 Da Vinci Prior Authorization Support (PAS) IG
2.0.1 and 2.2.1 (FHIR R4 4.0.1), and the X12 005010X217 (278) code lists it binds to.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

# X12 306 "Action Code" (278 response HCR01), as bound by the PAS review-action extension.
X12_ACTION_CODES = "https://codesystem.x12.org/005010/306"
# X12 673 "Quantity Qualifier" (278 HSD01), the codes PASQuantity.code is bound to.
X12_QUANTITY_QUALIFIERS = "https://codesystem.x12.org/005010/673"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
X12_SERVICE_TYPES = "https://codesystem.x12.org/005010/1365"

# Decision states, in the vocabulary of Covered's authorizations (issue 16 part 2).
APPROVED = "approved"
PARTLY_APPROVED = "partly-approved"
DENIED = "denied"
PENDED = "pended"
MODIFIED = "modified"
CANCELLED = "cancelled"
CONTACT_PAYER = "contact-payer"
NOT_REQUIRED = "not-required"

# States whose item grants something: they must name an authorization number.
GRANTING_STATES = frozenset({APPROVED, PARTLY_APPROVED, MODIFIED})


@dataclass(frozen=True)
class ReviewAction:
    code: str
    state: str
    label: str


# X12 306 codes used by the 278 response (HCR01) and PAS ClaimResponse review actions.
# CT and NA are X12 codes too, but no authorization state of Covered: they are read
# (so the preview can say so) and grant nothing.
REVIEW_ACTIONS: dict[str, ReviewAction] = {
    action.code: action
    for action in (
        ReviewAction("A1", APPROVED, "Certified in total"),
        ReviewAction("A2", PARTLY_APPROVED, "Certified - partial"),
        ReviewAction("A3", DENIED, "Not certified"),
        ReviewAction("A4", PENDED, "Pended"),
        ReviewAction("A6", MODIFIED, "Modified"),
        ReviewAction("C", CANCELLED, "Cancelled"),
        ReviewAction("CT", CONTACT_PAYER, "Contact payer"),
        ReviewAction("NA", NOT_REQUIRED, "No action required"),
    )
}

# Where a decision file came from.
RESPONSE_BUNDLE = "response-bundle"  # PAS response Bundle (collection), incl. inquiry responses
NOTIFICATION = "notification"  # R4 backport subscription notification (Bundle.type = history)
CLAIM_RESPONSE = "claim-response"  # a bare ClaimResponse

# PASQuantity codes (X12 673) and common unit texts, read as what they count.
MEASURES = {
    "FL": "units",
    "UN": "units",
    "UNIT": "units",
    "UNITS": "units",
    "VS": "visits",
    "VISIT": "visits",
    "VISITS": "visits",
    "SESSION": "visits",
    "SESSIONS": "visits",
    "DY": "days",
    "DAY": "days",
    "DAYS": "days",
    "HS": "hours",
    "HOUR": "hours",
    "HOURS": "hours",
    "MN": "months",
    "MONTH": "months",
    "MONTHS": "months",
}
# UCUM units of Timing.repeat.periodUnit that match Covered's frequency windows.
WINDOWS = {"d": "day", "wk": "week", "mo": "month"}


class DecisionFileError(ValueError):
    """A decision file that cannot be read; `message` says what is wrong, `path` where.

    `path` is a FHIRPath-like location from the file's root resource, e.g.
    `Bundle.entry[0].resource.item[1].adjudication[0]`, or '' for the whole file.
    """

    def __init__(self, message: str, path: str = ""):
        super().__init__(f"{message} (at {path})" if path else message)
        self.message = message
        self.path = path


@dataclass(frozen=True)
class Code:
    """A coded service: CPT, HCPCS, an X12 service type (1365) or another system."""

    system: str | None
    code: str
    display: str | None = None

    @property
    def kind(self) -> str:
        """'cpt', 'hcpcs', 'x12-service-type' or 'other'. PAS examples put CPT codes
        under the HCPCS system too, so importers should match CPT or HCPCS on `code`."""
        return {CPT: "cpt", HCPCS: "hcpcs", X12_SERVICE_TYPES: "x12-service-type"}.get(
            self.system or "", "other"
        )


@dataclass(frozen=True)
class Quantity:
    """A PASQuantity: a value with its unit. `unit` is the unit text, or the code when
    the payer sent only a code; `code`/`system` as sent (X12 673 codes: FL units, VS
    visits, DY days, HS hours, MN months)."""

    value: Decimal
    unit: str
    code: str | None = None
    system: str | None = None

    @property
    def measure(self) -> str | None:
        """'units', 'visits', 'days', 'hours', 'months', or None when not recognised."""
        for word in (self.code, self.unit):
            if word and word.strip().upper() in MEASURES:
                return MEASURES[word.strip().upper()]
        return None


@dataclass(frozen=True)
class Frequency:
    """How often a quantity applies, from a PASTiming (`Timing.repeat`) on the service
    the decision points at: the quantity is allowed per `period` `period_unit` (UCUM:
    d, wk, mo, ...); `times` is `repeat.frequency` when given (occurrences per period)."""

    period: Decimal
    period_unit: str
    times: int | None = None

    @property
    def window(self) -> str | None:
        """'day', 'week' or 'month' when the period is exactly one of those, else None."""
        return WINDOWS.get(self.period_unit) if self.period == 1 else None


@dataclass(frozen=True)
class DatePeriod:
    """Inclusive dates; either end may be open (None)."""

    start: date | None
    end: date | None


@dataclass(frozen=True)
class ServiceLine:
    """One service of a decision: its code(s), quantity (None when the payer stated
    none), frequency (None when the file carries none) and its own dates if any."""

    code: Code
    quantity: Quantity | None
    frequency: Frequency | None = None
    modifiers: tuple[str, ...] = ()
    code_end: str | None = None  # last code of a range (productOrServiceCodeEnd)
    period: DatePeriod | None = None
    source: str = ""  # 'authorized-detail', 'added-item' or 'request'


@dataclass(frozen=True)
class ItemDecision:
    """The payer's decision on one item (service line) of a prior-authorization request.

    `item_sequence` echoes the request's item sequence (PAS spec-34), so with the
    response identifier it names the same item across pended and final decisions.
    `approved` lists what is granted (empty unless the state grants something);
    `requested` what was asked for, when the file says (the request Claim in the
    Bundle, or the item's authorized detail on a modification, PAS spec-36).
    `added` is True for an item the payer added (ClaimResponse.addItem with a new
    sequence)."""

    item_sequence: int
    review_action: str
    state: str
    authorization_number: str | None
    administration_reference: str | None
    period: DatePeriod | None
    issued: date | None
    approved: tuple[ServiceLine, ...]
    requested: tuple[ServiceLine, ...]
    reason_codes: tuple[str, ...]
    trace_number: str | None
    added: bool
    path: str


@dataclass(frozen=True)
class Identifier:
    system: str | None
    value: str


@dataclass(frozen=True)
class PayerIdentifier:
    """The insurer: `kind` is 'payer-id' (PAS PI slice), 'npi', 'tin' or 'other'."""

    system: str | None
    value: str
    kind: str
    name: str | None = None


@dataclass(frozen=True)
class PayerResponse:
    """One ClaimResponse: who it is about, who decided, when, and its item decisions.

    `created` is timezone-aware; it orders decisions ("newer decision wins").
    `response_id` is the ClaimResponse identifier (the request's trace number), the
    key, with the payer and item sequence, that a later decision replaces."""

    response_id: Identifier
    created: datetime
    member_id: Identifier
    payer: PayerIdentifier
    outcome: str
    pre_auth_ref: str | None
    disposition: str | None
    items: tuple[ItemDecision, ...]
    path: str

    def item_key(self, item: ItemDecision) -> tuple[str, str, str, str, int]:
        """(payer system, payer value, response system, response value, item sequence)."""
        return (
            self.payer.system or "",
            self.payer.value,
            self.response_id.system or "",
            self.response_id.value,
            item.item_sequence,
        )


@dataclass(frozen=True)
class DecisionFile:
    """Everything read from one uploaded file: `kind` is one of RESPONSE_BUNDLE,
    NOTIFICATION, CLAIM_RESPONSE; `responses` has at least one PayerResponse."""

    kind: str
    responses: tuple[PayerResponse, ...]

    @property
    def decisions(self) -> tuple[ItemDecision, ...]:
        return tuple(item for response in self.responses for item in response.items)

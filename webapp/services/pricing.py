"""What an encounter costs now: its service lines priced by units, the client's share,
the cancellation fee. One place for the hold amount, the Billing panel, Charge and
invoices, so they can never disagree.

Units of a self-pay visit (decision where the seed is silent):
- **Rounding rule**: the practice's *self-pay rounding* setting (Organization
  `self_pay_rounding_profile`, default the CMS 8-minute rule); a self-pay client has
  no payer whose profile could apply. An Insurance visit without a policy is billed
  as self-pay and rounds the same way.
- **Pooling**: a visit's own timed lines are pooled (CMS adds the minutes of a visit's
  codes first), but **not** with the client's other visits that day: a price held or
  invoiced for one visit must not change because another visit of the same day was
  booked, moved or cancelled. (Authorization units pool across the day; see
  `webapp.domain.units`.)
"""

from webapp.domain import billing_rules, preauth_rules
from webapp.domain.units import TimedLine, units_for_lines
from webapp.extensions import db
from webapp.models import Encounter, Organization


def rounding_profile(encounter: Encounter) -> str:
    """The rounding rule that turns this visit's minutes into priced units."""
    org = db.session.get(Organization, encounter.organization_id)
    return org.self_pay_rounding_profile


def service_charges(encounter: Encounter) -> list[billing_rules.ServiceCharge]:
    """Each service line with its price, its units (timed services) and its fee."""
    lines = list(encounter.lines)
    day = units_for_lines(
        [TimedLine(line.minutes, line.service_type.unit_minutes) for line in lines],
        rounding_profile(encounter),
    )
    return [
        billing_rules.ServiceCharge(
            line.service_type_id,
            line.service_type.cpt_code,
            line.service_type.name,
            line.service_type.price_cents,
            line.service_type.cancellation_fee_cents,
            units=units.units,
            unit_minutes=line.service_type.unit_minutes,
            fee_per_unit=line.service_type.cancellation_fee_per_unit,
        )
        for line, units in zip(lines, day.lines, strict=True)
    ]


def _copay(encounter: Encounter) -> tuple[int | None, str | None]:
    insurance = encounter.client_insurance if encounter.billing_type == "insurance" else None
    if insurance is None:
        return None, None
    return insurance.copay_cents, insurance.payer.name


def cost_lines(encounter: Encounter) -> list[billing_rules.Line]:
    """The client's share of the encounter as it stands now, as invoice lines."""
    copay, payer = _copay(encounter)
    return billing_rules.cost_lines(
        encounter.billing_type, service_charges(encounter), copay_cents=copay, payer_name=payer
    )


def cost_total(encounter: Encounter) -> int:
    """The client's share now, in cents (the copay, or the services priced by units)."""
    return billing_rules.total(cost_lines(encounter))


def hold_amount(encounter: Encounter) -> int:
    """What a hold would be for if it ran now (cents): the client's share now."""
    copay, _payer = _copay(encounter)
    charges = service_charges(encounter)
    return preauth_rules.hold_amount(
        encounter.billing_type, copay, [charge.amount_cents for charge in charges]
    )


def fee_lines(encounter: Encounter) -> list[billing_rules.Line]:
    return billing_rules.cancellation_fee_lines(service_charges(encounter), encounter.disposition)


def fee_total(encounter: Encounter) -> int:
    return billing_rules.total(fee_lines(encounter))

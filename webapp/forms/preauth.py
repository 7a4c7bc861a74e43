"""Payments Settings (Edit Config) and the pre-authorization Reschedule dialog."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import ValidationError

from webapp.domain import preauth_rules
from webapp.domain.units import ROUNDING_PROFILE_LABELS
from webapp.forms.fields import choices


class HoursField(StringField):
    """Whole hours before the appointment (0–168), typed by a person; `.data` is an int."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)

    def process_formdata(self, valuelist):
        self.data = None
        raw = valuelist[0] if valuelist else ""
        try:
            self.data = preauth_rules.parse_hours(raw)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class PaymentsSettingsForm(FlaskForm):
    active = BooleanField("Active: place pre-authorization holds before appointments")
    hours_before = HoursField(
        "Hours before the encounter start",
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
        description="A whole number from 0 to 168.",
    )
    self_pay_rounding = SelectField(
        "Units of self-pay visits",
        choices=choices(ROUNDING_PROFILE_LABELS.items()),
        validate_choice=False,  # left out: unchanged (checked below)
        description="How a timed service's minutes become the units its price per unit is "
        "multiplied by, for Self-pay and Unknown visits (insurance visits pay the copay).",
    )

    def validate_self_pay_rounding(self, field) -> None:
        if field.data not in (None, "", *ROUNDING_PROFILE_LABELS):
            raise ValidationError("Choose one of the listed rules.")


class RescheduleForm(FlaskForm):
    hours_before = HoursField(
        "Hours before the appointment",
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )

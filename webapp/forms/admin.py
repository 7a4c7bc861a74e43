from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from webapp.domain.units import ROUNDING_PROFILE_LABELS, ROUNDING_PROFILES
from webapp.forms.fields import MoneyField, choices

ROUNDING_OPTIONS = [(profile, ROUNDING_PROFILE_LABELS[profile]) for profile in ROUNDING_PROFILES]


class PayerForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    messaging_enabled = BooleanField("Authorization warnings on appointments (messaging)")
    rounding_profile = SelectField("Units rounding", choices=choices(ROUNDING_OPTIONS))
    payer_identifier = StringField(
        "Payer identifier in prior-authorization decisions",
        validators=[Optional(), Length(max=80)],
    )


class ServiceTypeForm(FlaskForm):
    cpt_code = StringField(
        "CPT code",
        validators=[
            DataRequired(),
            Regexp(r"^[0-9A-Z]{4,5}[A-Z0-9]?$", message="Use a CPT or HCPCS code such as 90837."),
        ],
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    price = MoneyField("Price", validators=[InputRequired(message="Enter the price, or 0.")])
    cancellation_fee = MoneyField(
        "Cancellation fee", validators=[InputRequired(message="Enter the fee, or 0.")]
    )
    unit_minutes = IntegerField(
        "Unit length (minutes)",
        validators=[Optional(), NumberRange(min=1, max=240, message="Between 1 and 240 minutes.")],
        description="Leave empty for an untimed service (counts 1 unit, priced per visit).",
    )
    cancellation_fee_per_unit = BooleanField("Charge the cancellation fee per unit")

    @property
    def price_label(self) -> str:
        """'Price per unit (15 min)' for a timed service, else 'Price per visit'."""
        minutes = self.unit_minutes.data
        return f"Price per unit ({minutes} min)" if minutes else "Price per visit"

    def validate_cancellation_fee_per_unit(self, field) -> None:
        if field.data and not self.unit_minutes.data:
            raise ValidationError(
                "Only a timed service (with a unit length) can charge its fee per unit."
            )

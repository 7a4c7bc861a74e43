"""The Add/Edit authorization dialog; every field answers with its own message."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.domain.authorization_rules import SESSIONS, UNITS
from webapp.domain.limits import DATE_RANGE_TEXT, LATEST_DATE, allowed_refusal
from webapp.domain.windows import FREQUENCIES, FREQUENCY_LABELS
from webapp.forms.fields import DateField, choices


class CheckboxListField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        known = {choice.value for choice in self.choices}
        if any(value not in known for value in self.data or []):
            raise ValidationError("Choose services of this practice only.")


class AuthorizationForm(FlaskForm):
    client_insurance_id = SelectField(
        "Insurance / payer",
        coerce=int,
        validators=[InputRequired(message="Choose the insurance this authorization belongs to.")],
    )
    number = StringField("Authorization #", validators=[Optional(), Length(max=64)])
    kind = RadioField(
        "Type",
        choices=choices([(SESSIONS, "Sessions"), (UNITS, "Units")]),
        validators=[InputRequired(message="Choose Sessions or Units.")],
    )
    start_date = DateField(
        "Start date",
        validators=[InputRequired(message="Enter a start date.")],
        description=f"From {DATE_RANGE_TEXT}.",
    )
    end_date = DateField(
        "End date",
        validators=[InputRequired(message="Enter an end date.")],
        description=f"Open-ended (written 12/31/9999)? Enter {LATEST_DATE:%m/%d/%Y}.",
    )
    service_type_ids = CheckboxListField("Services", coerce=int)
    allowed = StringField(
        "Allowed", validators=[InputRequired(message="Enter how many are allowed.")]
    )
    frequency = SelectField(
        "Frequency",
        choices=choices([("", "— choose —")] + [(f, FREQUENCY_LABELS[f]) for f in FREQUENCIES]),
        default="",
    )
    confirm_moves = BooleanField("Move these kept appointments")

    def validate_end_date(self, field):
        if self.start_date.data and field.data and field.data < self.start_date.data:
            raise ValidationError("The end date is before the start date.")

    def validate_service_type_ids(self, field):
        if not field.data:
            raise ValidationError("Choose at least one service.")

    def validate_allowed(self, field):
        noun = "Units" if self.kind.data == UNITS else "Sessions"
        problem = allowed_refusal(field.data or "", noun)
        if problem:
            raise ValidationError(problem)

    def validate_frequency(self, field):
        if self.kind.data == UNITS and not field.data:
            raise ValidationError("Choose a frequency for a Units authorization.")
        if self.kind.data == SESSIONS and field.data:
            raise ValidationError("Frequency applies to Units only; leave it empty for Sessions.")

    def values(self) -> dict:
        return {
            "client_insurance_id": self.client_insurance_id.data,
            "number": (self.number.data or "").strip() or None,
            "kind": self.kind.data,
            "start_date": self.start_date.data,
            "end_date": self.end_date.data,
            "allowed": int(self.allowed.data.strip()),
            "frequency": self.frequency.data or None,
        }

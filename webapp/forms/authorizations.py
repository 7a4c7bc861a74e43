"""The Add/Edit authorization dialog; every field answers with its own message."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.domain.authorization_rules import SESSIONS, UNITS
from webapp.domain.decision_rules import (
    APPROVED,
    DECISION_LABELS,
    DECISIONS,
    STANDARD,
    URGENCIES,
    URGENCY_LABELS,
)
from webapp.domain.limits import DATE_RANGE_TEXT, LATEST_DATE, allowed_refusal
from webapp.domain.windows import FREQUENCIES, FREQUENCY_LABELS
from webapp.forms.fields import DateField, choices

MAX_LINES = 20  # lines on one authorization: payers' ABA authorizations carry a handful


class CheckboxListField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        known = {choice.value for choice in self.choices}
        if any(value not in known for value in self.data or []):
            raise ValidationError("Choose services of this practice only.")


class LineForm(Form):
    """One line of the dialog: what the payer allows for some services."""

    id = HiddenField()
    service_type_ids = CheckboxListField("Services", coerce=int)
    kind = RadioField(
        "Type",
        choices=choices([(SESSIONS, "Sessions"), (UNITS, "Units")]),
        validators=[InputRequired(message="Choose Sessions or Units.")],
    )
    allowed = StringField(
        "Sessions / units allowed",
        validators=[InputRequired(message="Enter how many are allowed.")],
    )
    frequency = SelectField(
        "Frequency",
        choices=choices([("", "— choose —")] + [(f, FREQUENCY_LABELS[f]) for f in FREQUENCIES]),
        default="",
    )
    start_date = DateField("Line starts", validators=[Optional()])
    end_date = DateField("Line ends", validators=[Optional()])
    decision = SelectField(
        "Payer's decision",
        choices=choices([(d, DECISION_LABELS[d]) for d in DECISIONS]),
        default=APPROVED,
    )
    requested = StringField("Requested", validators=[Optional()])

    def validate_service_type_ids(self, field):
        if not field.data:
            raise ValidationError("Choose at least one service.")

    def validate_allowed(self, field):
        noun = "Units" if self.kind.data == UNITS else "Sessions"
        problem = allowed_refusal(field.data or "", noun)
        if problem:
            raise ValidationError(problem)

    def validate_requested(self, field):
        if not (field.data or "").strip():
            return
        noun = "Units" if self.kind.data == UNITS else "Sessions"
        problem = allowed_refusal(field.data, noun)
        if problem:
            raise ValidationError(problem.replace("allowed", "requested"))

    def validate_frequency(self, field):
        if self.kind.data == UNITS and not field.data:
            raise ValidationError("Choose a frequency for a Units line.")
        if self.kind.data == SESSIONS and field.data:
            raise ValidationError("Frequency applies to Units only; leave it empty for Sessions.")

    def validate_end_date(self, field):
        if self.start_date.data and field.data and field.data < self.start_date.data:
            raise ValidationError("The line ends before it starts.")

    def values(self) -> dict:
        """The line as `services.authorizations.apply_lines` takes it."""
        line_id = (self.id.data or "").strip()
        requested = (self.requested.data or "").strip()
        return {
            "id": int(line_id) if line_id.isdigit() and len(line_id) < 12 else None,
            "kind": self.kind.data,
            "allowed": int(self.allowed.data.strip()),
            "frequency": self.frequency.data or None,
            "start_date": self.start_date.data,
            "end_date": self.end_date.data,
            "decision": self.decision.data,
            "requested": int(requested) if requested else None,
            "service_type_ids": list(self.service_type_ids.data or []),
        }


class AuthorizationForm(FlaskForm):
    """The Add/Edit dialog: the authorization, then its lines (one or more)."""

    client_insurance_id = SelectField(
        "Insurance / payer",
        coerce=int,
        validators=[InputRequired(message="Choose the insurance this authorization belongs to.")],
    )
    number = StringField("Authorization #", validators=[Optional(), Length(max=64)])
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
    decision = SelectField(
        "Payer's decision",
        choices=choices([(d, DECISION_LABELS[d]) for d in DECISIONS]),
        default=APPROVED,
    )
    urgency = SelectField(
        "Request",
        choices=choices([(u, URGENCY_LABELS[u]) for u in URGENCIES]),
        default=STANDARD,
        description="Expedited: the payer decides within 72 hours; standard: 7 days.",
    )
    lines = FieldList(FormField(LineForm), min_entries=1, max_entries=MAX_LINES)
    confirm_moves = BooleanField("Move these kept appointments")

    def validate_end_date(self, field):
        if self.start_date.data and field.data and field.data < self.start_date.data:
            raise ValidationError("The end date is before the start date.")

    def validate_lines(self, field):
        start, end = self.start_date.data, self.end_date.data
        if not (start and end):
            return
        for entry in field.entries:
            line = entry.form
            for sub in (line.start_date, line.end_date):
                if sub.data and not start <= sub.data <= end:
                    sub.errors = [*sub.errors, "Inside the authorization's dates, please."]
                    raise ValidationError("A line's dates must be inside the authorization's.")

    def values(self) -> dict:
        return {
            "client_insurance_id": self.client_insurance_id.data,
            "number": (self.number.data or "").strip() or None,
            "start_date": self.start_date.data,
            "end_date": self.end_date.data,
            "decision": self.decision.data,
            "urgency": self.urgency.data,
        }

    def line_values(self) -> list[dict]:
        return [entry.form.values() for entry in self.lines.entries]

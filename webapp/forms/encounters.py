"""Booking form: clinician, start, duration, service lines, billing type, repeat."""

from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from webapp.domain.authorization_rules import ENCOUNTER_STATUS_LABELS, ENCOUNTER_STATUSES
from webapp.domain.schedule_rules import appointment_minutes
from webapp.forms.fields import DateField, choices
from webapp.models.encounters import BILLING_TYPE_LABELS, BILLING_TYPES

REPEAT_OPTIONS = [
    ("none", "Does not repeat"),
    ("weekly", "Weekly"),
    ("biweekly", "Every other week"),
]


class ServiceLineForm(Form):
    service_type_id = SelectField("Service", coerce=int, default=0, validate_choice=False)
    minutes = IntegerField(
        "Minutes",
        validators=[Optional(), NumberRange(min=1, max=600, message="Between 1 and 600 minutes.")],
        render_kw={"data-service-minutes": True},
    )


class BookingForm(FlaskForm):
    clinician_id = SelectField(
        "Clinician", coerce=int, validators=[InputRequired(message="Choose a clinician.")]
    )
    date = DateField("Date", validators=[InputRequired(message="Choose a date.")])
    time = TimeField("Start time", validators=[InputRequired(message="Choose a start time.")])
    # Empty: the services' minutes added up (schedule_rules.appointment_minutes).
    duration_minutes = IntegerField(
        "Duration (minutes)",
        validators=[
            Optional(),
            NumberRange(min=5, max=600, message="Between 5 and 600 minutes."),
        ],
        description="Follows the services' minutes unless you set it.",
        render_kw={"data-duration-from": True},
    )
    lines = FieldList(FormField(ServiceLineForm), min_entries=3, max_entries=3)
    billing_type = SelectField(
        "Billing type",
        choices=choices((b, BILLING_TYPE_LABELS[b]) for b in BILLING_TYPES),
        default="insurance",
    )
    client_insurance_id = SelectField("Insurance", coerce=int, default=0, validate_choice=False)
    repeat = SelectField("Repeat", choices=choices(REPEAT_OPTIONS), default="none")
    repeat_count = IntegerField(
        "Occurrences",
        validators=[Optional(), NumberRange(min=1, max=52, message="Between 1 and 52.")],
    )
    repeat_until = DateField("Until", validators=[Optional()])
    override_reason = TextAreaField("Override reason", validators=[Length(max=500)])

    def __init__(self, *args, service_choices=(), insurance_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self._service_ids = {value for value, _ in service_choices}
        self._insurance_ids = {value for value, _ in insurance_choices}
        for entry in self.lines:
            entry.form.service_type_id.choices = choices([(0, "—")] + list(service_choices))
        self.client_insurance_id.choices = choices([(0, "—")] + list(insurance_choices))

    def validate_lines(self, field):
        chosen = [entry.form for entry in field if entry.form.service_type_id.data]
        if not chosen:
            raise ValidationError("Add at least one service.")
        for line in chosen:
            if line.service_type_id.data not in self._service_ids:
                raise ValidationError("Choose services of this practice only.")
            if not line.minutes.data:
                raise ValidationError("Enter the minutes for each service.")

    def validate_client_insurance_id(self, field):
        if self.billing_type.data != "insurance":
            return
        if field.data not in self._insurance_ids:
            raise ValidationError("Choose one of the client's insurances, or bill as self-pay.")

    def validate_repeat(self, field):
        if field.data == "none":
            return
        until = self.repeat_until.data
        if not self.repeat_count.data and not until:
            raise ValidationError("Give the number of occurrences or an end date.")
        if until and self.date.data and until < self.date.data:
            raise ValidationError("The series ends before it starts.")

    def validate_duration_minutes(self, field):
        if field.data is None and field.raw_data and field.raw_data[0].strip():
            return  # not a number: IntegerField has said so
        if field.data:
            return
        minutes = [
            entry.form.minutes.data for entry in self.lines if entry.form.service_type_id.data
        ]
        try:
            total = appointment_minutes(None, minutes)
        except ValueError:
            raise ValidationError("Enter the duration, or the minutes of its services.") from None
        if not 5 <= total <= 600:
            raise ValidationError("The services add up to more than 600 minutes: set the duration.")

    def appointment_minutes(self) -> int:
        """The duration typed, or the chosen services' minutes added up (call after validate)."""
        return appointment_minutes(self.duration_minutes.data, [
            entry.form.minutes.data for entry in self.lines if entry.form.service_type_id.data
        ])  # fmt: skip

    def service_lines(self) -> list[tuple[int, int]]:
        return [
            (entry.form.service_type_id.data, entry.form.minutes.data)
            for entry in self.lines
            if entry.form.service_type_id.data
        ]


class StatusForm(FlaskForm):
    status = SelectField(
        "Status", choices=choices((s, ENCOUNTER_STATUS_LABELS[s]) for s in ENCOUNTER_STATUSES)
    )


class EncounterEditForm(BookingForm):
    """Edit encounter: the booking form without the clinician and the repeat fields."""

    clinician_id = None
    repeat = None
    repeat_count = None
    repeat_until = None


class MoveForm(FlaskForm):
    """Move an appointment (the calendar's drag or its Move dialog): a new date and time
    in the organization's zone; `acknowledged` names the warnings the person confirmed
    (services.schedule_moves)."""

    date = DateField("Date", validators=[InputRequired(message="Choose a date.")])
    time = TimeField("Start time", validators=[InputRequired(message="Choose a start time.")])
    acknowledged = HiddenField(validators=[Length(max=64)])
    override_reason = TextAreaField("Override reason", validators=[Length(max=500)])

"""The Authorizations Report's filter form, read from the query string (a GET form, no CSRF)."""

from wtforms import Form, RadioField, SearchField, SelectField
from wtforms.validators import Length, StopValidation, ValidationError

from webapp.domain import report_rules
from webapp.domain.authorization_rules import KINDS, STATUS_LABELS, STATUSES
from webapp.forms.fields import DateField, choices


class ReportDateField(DateField):
    """A required date: an emptied field is "missing", a mistyped one "not a date"."""

    def __init__(self, label, *, missing_message: str, **kwargs):
        super().__init__(label, **kwargs)
        self.missing_message = missing_message

    def process_formdata(self, valuelist):
        if valuelist and not valuelist[0].strip():
            self.data = None
            return
        super().process_formdata(valuelist)

    def pre_validate(self, form) -> None:
        if not self.process_errors and self.data is None:
            raise StopValidation(self.missing_message)
        super().pre_validate(form)  # the supported range


class ReportFilterForm(Form):
    """Fields are named as the URL's parameters, so a report is a link."""

    start = ReportDateField(
        "From",
        missing_message="Enter a start date.",
        invalid_value_message="Enter the start date as YYYY-MM-DD.",
    )
    end = ReportDateField(
        "To",
        missing_message="Enter an end date.",
        invalid_value_message="Enter the end date as YYYY-MM-DD.",
    )
    by = RadioField(
        "Break down by",
        choices=choices(
            (key, report_rules.BREAKDOWN_LABELS[key]) for key in report_rules.BREAKDOWNS
        ),
        default=report_rules.PERIOD,
        invalid_choice_message="Unknown breakdown: choose Entire period, Month, Week or Day.",
    )
    status = SelectField(
        "Status",
        choices=choices([("", "All statuses")] + [(s, STATUS_LABELS[s]) for s in STATUSES]),
        default="",
        invalid_choice_message="Unknown status: choose Active, Inactive, Expired or Exhausted.",
    )
    payer = SelectField(
        "Payer", default="", invalid_choice_message="Unknown payer: choose one from the list."
    )
    clinician = SelectField(
        "Clinician",
        default="",
        invalid_choice_message="Unknown clinician: choose one from the list.",
    )
    type = SelectField(
        "Type",
        choices=choices([("", "Sessions and units")] + [(k, k.title()) for k in KINDS]),
        default="",
        invalid_choice_message="Unknown type: choose Sessions or Units.",
    )
    client = SearchField(
        "Client",
        default="",
        validators=[Length(max=100, message="Search for at most 100 characters.")],
    )

    def __init__(self, formdata, *, payers, clinicians, default_range):
        start, end = default_range
        super().__init__(formdata, start=start, end=end)
        self.payer.choices = choices([("", "All payers")] + [(str(p.id), p.name) for p in payers])
        self.clinician.choices = choices(
            [("", "All clinicians")] + [(str(u.id), u.name) for u in clinicians]
        )

    def validate_end(self, field) -> None:
        if self.start.data and field.data:
            problem = report_rules.range_refusal(self.start.data, field.data)
            if problem:
                raise ValidationError(problem)

    def values(self) -> dict:
        """The checked filters as `ReportQuery` keywords."""
        return {
            "start": self.start.data,
            "end": self.end.data,
            "by": self.by.data,
            "status": self.status.data or None,
            "payer_id": int(self.payer.data) if self.payer.data else None,
            "clinician_id": int(self.clinician.data) if self.clinician.data else None,
            "client": (self.client.data or "").strip(),
            "kind": self.type.data or None,
        }

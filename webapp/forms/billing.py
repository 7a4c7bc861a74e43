"""Forms of billing: Cancel with a disposition, and an automation rule."""

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import InputRequired

from webapp.domain import billing
from webapp.forms.fields import choices


class CancelForm(FlaskForm):
    disposition = SelectField(
        "Disposition",
        choices=choices((d, billing.DISPOSITION_LABELS[d]) for d in billing.DISPOSITIONS),
        validators=[InputRequired(message="Choose why the appointment is cancelled.")],
    )


class AutomationForm(FlaskForm):
    event = SelectField(
        "When",
        choices=choices((e, billing.EVENT_LABELS[e]) for e in billing.EVENTS),
        validators=[InputRequired(message="Choose an event.")],
    )
    disposition = SelectField(
        "Only for disposition",
        choices=choices(
            [("", "Any disposition")]
            + [(d, billing.DISPOSITION_LABELS[d]) for d in billing.DISPOSITIONS]
        ),
        description="Cancellations only: limit the rule to one disposition.",
    )
    action = SelectField(
        "Do",
        choices=choices((a, billing.ACTION_LABELS[a]) for a in billing.ACTIONS),
        validators=[InputRequired(message="Choose an action.")],
    )

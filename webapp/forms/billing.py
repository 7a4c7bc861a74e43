"""Forms of billing: Cancel with a disposition, an automation rule, a refund, a void, a receipt."""

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, SelectField, StringField
from wtforms.validators import Email, InputRequired, Length, Optional, Regexp

from webapp.domain import billing_rules
from webapp.forms.fields import MoneyField, choices


class CancelForm(FlaskForm):
    disposition = SelectField(
        "Disposition",
        choices=choices(
            (d, billing_rules.DISPOSITION_LABELS[d]) for d in billing_rules.DISPOSITIONS
        ),
        validators=[InputRequired(message="Choose why the appointment is cancelled.")],
    )


class AutomationForm(FlaskForm):
    event = SelectField(
        "When",
        choices=choices((e, billing_rules.EVENT_LABELS[e]) for e in billing_rules.EVENTS),
        validators=[InputRequired(message="Choose an event.")],
    )
    disposition = SelectField(
        "Only for disposition",
        choices=choices(
            [("", "Any disposition")]
            + [(d, billing_rules.DISPOSITION_LABELS[d]) for d in billing_rules.DISPOSITIONS]
        ),
        description="Cancellations only: limit the rule to one disposition.",
    )
    action = SelectField(
        "Do",
        choices=choices((a, billing_rules.ACTION_LABELS[a]) for a in billing_rules.ACTIONS),
        validators=[InputRequired(message="Choose an action.")],
    )


class RefundForm(FlaskForm):
    amount = MoneyField("Amount to refund", validators=[InputRequired(message="Enter an amount.")])
    reason = SelectField(
        "Why",
        choices=choices([("", "Choose a reason")] + list(billing_rules.REFUND_REASONS.items())),
        validators=[InputRequired(message="Choose why the money is refunded.")],
    )
    note = StringField("Note (optional)", validators=[Optional(), Length(max=200)])
    # Issued with the dialog: the refund's idempotency key, so a second click of the
    # same dialog refunds nothing more.
    token = HiddenField(validators=[Regexp(r"^[0-9a-f]{32}$", message="This form has expired.")])


class VoidForm(FlaskForm):
    reason = StringField(
        "Why is it void?",
        validators=[InputRequired(message="Say why the invoice is void."), Length(max=300)],
    )


class ReceiptEmailForm(FlaskForm):
    """Email a receipt: to the client's address unless the biller types another."""

    email = EmailField(
        "Send to",
        validators=[
            InputRequired(message="Enter the email address to send the receipt to."),
            Email(message="That is not an email address."),
            Length(max=254),
        ],
    )

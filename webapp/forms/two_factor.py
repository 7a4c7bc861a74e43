"""Two-factor sign-in forms (services/two_factor.py): codes, proof, the practice's setting."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

CODE_KW = {"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"}


class SecondStepForm(FlaskForm):
    """The second sign-in step: the app's 6-digit code, or one recovery code."""

    code = StringField(
        "Code",
        validators=[DataRequired(message="Enter the code from your app."), Length(max=40)],
        description="The 6-digit code your authenticator app shows, or one of your recovery codes.",
        render_kw={**CODE_KW, "autofocus": True, "maxlength": 40},
    )


class ConfirmForm(FlaskForm):
    """Turning two-factor on: a code the app made from the new secret."""

    code = StringField(
        "Code from your app",
        validators=[DataRequired(message="Enter the 6-digit code your app shows."), Length(max=40)],
        render_kw={**CODE_KW, "inputmode": "numeric", "maxlength": 40},
    )


class ProofForm(FlaskForm):
    """Turning off, new recovery codes: a current code from the app, or the password."""

    proof = PasswordField(
        "Code from your app, or your password",
        validators=[
            DataRequired(message="Enter a code from your app or your password."),
            Length(max=256),
        ],  # fmt: skip
        render_kw={"autocomplete": "current-password", "maxlength": 256},
    )


class RequirementForm(FlaskForm):
    """The practice's setting (admins)."""

    required = BooleanField("Require two-factor sign-in for admins and billers")


class ResetForm(FlaskForm):
    """An admin turns off another person's two-factor (a lost phone)."""

    reason = StringField(
        "Reason (kept in the audit trail)",
        validators=[Optional(), Length(max=300)],
        render_kw={"maxlength": 300},
    )

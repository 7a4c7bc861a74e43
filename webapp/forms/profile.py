from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from webapp.domain.password_rules import MIN_LENGTH


class ReminderPreferencesForm(FlaskForm):
    """General Preferences: authorization reminders, by email and in the app."""

    remind_expiration_email = BooleanField("Expiration reminders by email")
    remind_expiration_in_app = BooleanField("Expiration reminders in the app")
    remind_exhaustion_email = BooleanField("Exhaustion reminders by email")
    remind_exhaustion_in_app = BooleanField("Exhaustion reminders in the app")


class ChangePasswordForm(FlaskForm):
    """My Profile › Password: the current password, then the new one twice."""

    current_password = PasswordField(
        "Current password",
        validators=[DataRequired(message="Enter your current password.")],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(message="Choose a new password.")],
        description=f"At least {MIN_LENGTH} characters, hard to guess: a phrase of a few "
        "uncommon words works well.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Type it again",
        validators=[
            DataRequired(message="Type the new password again."),
            EqualTo("new_password", message="The two passwords are not the same."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(message="Enter the email you sign in with."), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )

from flask_wtf import FlaskForm
from wtforms import BooleanField


class ReminderPreferencesForm(FlaskForm):
    """General Preferences: authorization reminders, by email and in the app."""

    remind_expiration_email = BooleanField("Expiration reminders by email")
    remind_expiration_in_app = BooleanField("Expiration reminders in the app")
    remind_exhaustion_email = BooleanField("Exhaustion reminders by email")
    remind_exhaustion_in_app = BooleanField("Exhaustion reminders in the app")

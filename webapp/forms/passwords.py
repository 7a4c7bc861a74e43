"""Choosing a password through a one-time link (services/password_links.py)."""

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, ValidationError

from webapp.domain.password_rules import MIN_LENGTH, password_refusal


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[DataRequired(message="Choose a password.")],
        description=f"At least {MIN_LENGTH} characters. A phrase of a few words works well.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Type it again",
        validators=[
            DataRequired(message="Type the password again."),
            EqualTo("password", message="The two passwords are not the same."),
        ],
        render_kw={"autocomplete": "new-password"},
    )

    def __init__(self, *args, account=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account

    def validate_password(self, field):
        problem = password_refusal(
            field.data or "",
            email=getattr(self.account, "email", ""),
            name=getattr(self.account, "name", ""),
        )
        if problem:
            raise ValidationError(problem)

"""Admin › Users: invite a person, change a role (rules: webapp/services/people.py)."""

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from webapp.forms.fields import choices
from webapp.models.organization import ROLE_LABELS, ROLES

ROLE_OPTIONS = [(role, ROLE_LABELS[role]) for role in ROLES]
ROLE_HINTS = {
    "admin": "Everything a biller does, plus settings, payers, services and people.",
    "biller": "Insurance, authorizations, cards, charges, invoices and reports.",
    "clinician": "The schedule and the clients they are the primary clinician of.",
}


class InviteForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired(message="Enter the person's name."), Length(max=200)],
        render_kw={"autocomplete": "off"},
    )
    email = EmailField(
        "Email",
        validators=[DataRequired(message="Enter the person's email."), Length(max=254)],
        render_kw={"autocomplete": "off"},
        description="The invitation goes here: a link to choose a password, good for 72 hours.",
    )
    person_role = SelectField("Role", choices=choices(ROLE_OPTIONS), default="clinician")


class RoleForm(FlaskForm):
    person_role = SelectField("Role", choices=choices(ROLE_OPTIONS))

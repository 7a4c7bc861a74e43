from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional

from webapp.forms.fields import DateField, MoneyField


class ClientForm(FlaskForm):
    first_name = StringField("First name", validators=[DataRequired(), Length(max=100)])
    last_name = StringField("Last name", validators=[DataRequired(), Length(max=100)])
    date_of_birth = DateField("Date of birth", validators=[Optional()])
    email = EmailField("Email", validators=[Optional(), Email(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    primary_clinician_id = SelectField("Primary clinician", coerce=int, validate_choice=True)


class InsuranceForm(FlaskForm):
    payer_id = SelectField(
        "Payer", coerce=int, validators=[InputRequired(message="Choose a payer.")]
    )
    member_id = StringField(
        "Member ID", validators=[DataRequired(message="Enter the member ID."), Length(max=64)]
    )
    copay = MoneyField("Copay", validators=[InputRequired(message="Enter the copay, or 0.")])
    active = BooleanField("Active", default=True)

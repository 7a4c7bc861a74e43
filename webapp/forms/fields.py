"""Form fields shared across areas."""

from wtforms import StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from webapp.domain.money import format_cents, parse_dollars


class MoneyField(StringField):
    """Dollars typed by a person, held as integer cents in `.data`."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return format_cents(self.data).replace("$", "").replace(",", "")

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        try:
            self.data = parse_dollars(valuelist[0])
        except ValueError as error:
            self.data = None
            raise ValidationError(str(error)) from None


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as the SelectChoice objects WTForms 3.3 expects."""
    return [SelectChoice(value, label) for value, label in pairs]

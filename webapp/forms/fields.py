"""Form fields shared across areas; each checks its value against `webapp.domain.limits`."""

from wtforms import DateField as _WTFormsDateField
from wtforms import StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation, ValidationError

from webapp.domain.limits import (
    DATE_RANGE_TEXT,
    EARLIEST_DATE,
    LATEST_DATE,
    date_refusal,
    money_refusal,
)
from webapp.domain.money import format_cents, parse_dollars


class MoneyField(StringField):
    """Dollars typed by a person, held as integer cents in `.data` (0 … $10,000.00)."""

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
            cents = parse_dollars(valuelist[0])
        except ValueError as error:
            raise ValidationError(str(error)) from None
        problem = money_refusal(cents)
        if problem:
            raise ValidationError(problem)
        self.data = cents


class DateField(_WTFormsDateField):
    """A date of the supported range (1900–2099); outside it, a message under the field.

    Every date field of the app is this one, so no date that Python or a calendar
    computation cannot carry (0001-01-01, 9999-12-31) reaches the rules.
    """

    range_hint = f"From {DATE_RANGE_TEXT}."

    def __init__(self, *args, render_kw=None, **kwargs):
        # The browser's date picker offers the same range.
        limits = {"min": EARLIEST_DATE.isoformat(), "max": LATEST_DATE.isoformat()}
        super().__init__(*args, render_kw={**limits, **(render_kw or {})}, **kwargs)

    def pre_validate(self, form) -> None:
        super().pre_validate(form)
        if self.data is not None and not self.process_errors:
            problem = date_refusal(self.data)
            if problem:
                self.data = None
                raise StopValidation(problem)


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as the SelectChoice objects WTForms 3.3 expects."""
    return [SelectChoice(value, label) for value, label in pairs]


__all__ = ["DateField", "MoneyField", "ValidationError", "choices"]

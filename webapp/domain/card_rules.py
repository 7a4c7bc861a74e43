"""Cards on file: how a card is named, and when it has expired."""

from datetime import date

BRAND_LABELS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}


def brand_label(brand: str) -> str:
    """Stripe's brand code as people write it ("amex" → "American Express")."""
    code = (brand or "").strip().lower()
    if code in ("", "unknown"):
        return "Card"
    return BRAND_LABELS.get(code, code.replace("_", " ").title())


def card_expired(exp_month: int, exp_year: int, today: date) -> bool:
    """A card is good through the last day of its expiry month."""
    return (exp_year, exp_month) < (today.year, today.month)

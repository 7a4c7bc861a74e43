"""Password reset emails, queued by "Forgot your password?" (webapp/services/passwords.py)."""

from jobs import with_app_context
from webapp.models.base import utcnow
from webapp.services import passwords


@with_app_context
def send_reset(email: str) -> str:
    """Email a reset link if `email` has an active account; says what it did."""
    return passwords.send_reset(email, now=utcnow()).outcome

"""Every few minutes: renew holds that would lapse before their visit (services.hold_renewal)."""

from jobs import with_app_context
from webapp.services.hold_renewal import renew_lapsing


@with_app_context
def run() -> str:
    return renew_lapsing().summary

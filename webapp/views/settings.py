"""Organization Settings (admin): the practice's time zone and week start, and the
authorization settings, saved by HTMX on change."""

from datetime import date

from flask import Blueprint, request
from flask_login import current_user

from webapp.access import role_required
from webapp.domain import practice_rules
from webapp.domain.limits import date_refusal
from webapp.models.base import utcnow
from webapp.models.organization import ADMIN
from webapp.services import settings
from webapp.views.rendering import answer_refused, render_page

bp = Blueprint("settings", __name__, url_prefix="/admin/organization")


@bp.get("")
@role_required(ADMIN)
def organization():
    return render_page(
        "settings/organization.html",
        "content",
        **_time_context(current_user.organization),
        saved=None,
        time_errors={},
    )


@bp.post("/release-date")
@role_required(ADMIN)
def release_date():
    """Save the enhanced-authorizations release date (legacy conversion starts from it)."""
    org = current_user.organization
    text = request.form.get("release_date", "").strip()
    try:
        value = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        value = None
    error = "Enter a date such as 2026-01-01." if value is None else date_refusal(value)
    if error is None:
        settings.set_release_date(org, value, actor=current_user)
    return render_page(
        "settings/organization.html",
        "setting_release_date",
        http_status=422 if error else 200,
        **_time_context(org),
        time_errors={},
        saved=None if error else "release_date",
        release_error=error,
    )


@bp.post("/time-and-week")
@role_required(ADMIN)
def time_and_week():
    """Save the time zone and the first day of the week; the whole page shows the change."""
    org = current_user.organization
    zone = request.form.get("timezone", "")[: practice_rules.TIME_ZONE_MAX_LENGTH * 2]
    week_start = request.form.get("week_start", "")[:20]
    errors, saved = {}, None
    try:
        if settings.set_time_and_week(org, zone, week_start, actor=current_user):
            saved = "time_and_week"
    except settings.SettingRefused as refused:
        message, _status = answer_refused(refused)
        errors[refused.field] = message
    return render_page(
        "settings/organization.html",
        "setting_time_and_week",
        http_status=422 if errors else 200,
        **_time_context(org),
        saved=saved,
        time_errors=errors,
        typed={"timezone": zone, "week_start": week_start} if errors else None,
    )


def _time_context(org) -> dict:
    return {
        "org": org,
        "time_zones": practice_rules.time_zone_choices(),
        "weekdays": list(enumerate(practice_rules.WEEKDAYS)),
        "now_utc": utcnow(),
    }


@bp.post("/<setting>")
@role_required(ADMIN)
def toggle(setting: str):
    """Save one checkbox; answers with the setting's row, showing that it was saved."""
    if setting not in settings.TOGGLES:
        return render_page("errors/error.html", "content", http_status=404, code=404,
                           message="There is no such setting.")  # fmt: skip
    enabled = request.form.get("enabled") == "on"
    settings.set_toggle(current_user.organization, setting, enabled, actor=current_user)
    return render_page(
        "settings/organization.html",
        f"setting_{setting}",
        **_time_context(current_user.organization),
        time_errors={},
        saved=setting,
    )

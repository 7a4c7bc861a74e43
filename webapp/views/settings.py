"""Organization Settings (admin): the authorization settings, saved by HTMX on change."""

from datetime import date

from flask import Blueprint, request
from flask_login import current_user

from webapp.access import role_required
from webapp.domain.limits import date_refusal
from webapp.models.organization import ADMIN
from webapp.services import settings
from webapp.views.rendering import render_page

bp = Blueprint("settings", __name__, url_prefix="/admin/organization")


@bp.get("")
@role_required(ADMIN)
def organization():
    return render_page(
        "settings/organization.html", "content", org=current_user.organization, saved=None
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
        org=org,
        saved=None if error else "release_date",
        release_error=error,
    )


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
        org=current_user.organization,
        saved=setting,
    )

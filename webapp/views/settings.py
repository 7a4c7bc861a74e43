"""Organization Settings (admin): the authorization settings, saved by HTMX on change."""

from flask import Blueprint, request
from flask_login import current_user

from webapp.access import role_required
from webapp.models.organization import ADMIN
from webapp.services import settings as service
from webapp.views.rendering import render_page

bp = Blueprint("settings", __name__, url_prefix="/admin/organization")


@bp.get("")
@role_required(ADMIN)
def organization():
    return render_page(
        "settings/organization.html", "content", org=current_user.organization, saved=None
    )


@bp.post("/<setting>")
@role_required(ADMIN)
def toggle(setting: str):
    """Save one checkbox; answers with the setting's row, showing that it was saved."""
    if setting not in service.TOGGLES:
        return render_page("errors/error.html", "content", http_status=404, code=404,
                           message="There is no such setting.")  # fmt: skip
    enabled = request.form.get("enabled") == "on"
    service.set_toggle(current_user.organization, setting, enabled, actor=current_user)
    return render_page(
        "settings/organization.html",
        f"setting_{setting}",
        org=current_user.organization,
        saved=setting,
    )

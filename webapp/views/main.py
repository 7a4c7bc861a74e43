"""The home page after sign-in: Today, the work list of the signed-in person."""

from flask import Blueprint, redirect, url_for
from flask_login import current_user

from webapp.access import ALL_ROLES, role_required
from webapp.domain import worklist_rules
from webapp.models.base import utcnow
from webapp.services import worklists
from webapp.services.coverage import organization_today
from webapp.views.rendering import render_page

bp = Blueprint("main", __name__)


@bp.get("/")
@role_required(*ALL_ROLES)
def home():
    org = current_user.organization
    today = worklists.today_list(org, current_user, today=organization_today(org), now=utcnow())
    return render_page("worklists/today.html", "content", today=today, rules=worklist_rules)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico where a page names no icon (a CSV, a raw message):
    the icon base.html links (static/favicon.svg), public, cached for a day."""
    response = redirect(url_for("static", filename="favicon.svg"), code=301)
    response.cache_control.max_age = 86400
    return response

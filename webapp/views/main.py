from flask import Blueprint, redirect, url_for
from flask_login import login_required

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def home():
    return redirect(url_for("clients.index"))


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico where a page names no icon (a CSV, a raw message):
    the icon base.html links (static/favicon.svg), public, cached for a day."""
    response = redirect(url_for("static", filename="favicon.svg"), code=301)
    response.cache_control.max_age = 86400
    return response

"""My Profile & Settings > Preferences > General Preferences (every signed-in user)."""

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from webapp.access import ALL_ROLES, role_required
from webapp.extensions import htmx
from webapp.forms.profile import ReminderPreferencesForm
from webapp.services.preferences import (
    REMINDER_PREFERENCES,
    reminder_preferences,
    save_reminder_preferences,
)
from webapp.views.rendering import render_page

bp = Blueprint("profile", __name__, url_prefix="/profile")


@bp.route("/preferences", methods=["GET", "POST"])
@role_required(*ALL_ROLES)
def preferences():
    # Explicit formdata: a POST with every box unticked must untick them all.
    formdata = request.form if request.method == "POST" else None
    form = ReminderPreferencesForm(formdata, data=reminder_preferences(current_user))
    saved = False
    if form.validate_on_submit():
        values = {name: form[name].data for name in REMINDER_PREFERENCES}
        save_reminder_preferences(current_user._get_current_object(), values)
        if not htmx:
            flash("Your preferences were saved.", "success")
            return redirect(url_for("profile.preferences"))
        saved = True
    status = 422 if form.errors else 200
    return render_page(
        "profile/preferences.html", "preferences_form", http_status=status, form=form, saved=saved
    )

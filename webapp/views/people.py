"""Admin › Users: the practice's people, invitations, roles, deactivation, lockouts
(rules: webapp/services/people.py, webapp/domain/people_rules.py)."""

from flask import Blueprint, flash, make_response, redirect, url_for
from flask_login import current_user

from webapp.access import get_user_or_404, role_required
from webapp.extensions import htmx
from webapp.forms.people import ROLE_HINTS, InviteForm, RoleForm
from webapp.models.base import utcnow
from webapp.models.organization import ADMIN
from webapp.services import password_links, people, sign_in
from webapp.views.rendering import answer_refused, render_dialog, render_page

bp = Blueprint("people", __name__, url_prefix="/admin/users")

DIALOG = "people/_person_dialog.html"
FORM_FIELDS = {"role": "person_role"}  # the service's field names → the form's


def _go(url: str):
    """A full page load: HX-Redirect for HTMX requests, a redirect otherwise."""
    if htmx:
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


def _actor():
    return current_user._get_current_object()


@bp.get("")
@role_required(ADMIN)
def index():
    return render_page(
        "people/index.html", "content", rows=people.people(current_user.organization_id)
    )


@bp.route("/invite", methods=["GET", "POST"])
@role_required(ADMIN)
def invite():
    """The invite dialog, then the invitation (an email with a one-time link)."""
    form = InviteForm()
    status, message = 200, None
    if form.validate_on_submit():
        try:
            sent = people.invite(
                _actor(),
                email=form.email.data,
                name=form.name.data,
                role=form.person_role.data,
                now=utcnow(),
            )
        except people.PeopleRefused as refused:
            message, status = answer_refused(refused)
            name = FORM_FIELDS.get(refused.field, refused.field)
            if name in form:
                form[name].errors = [*form[name].errors, message]
                message = None
        else:
            _flash_sent(sent, f"{sent.user.name} is invited as {sent.user.role_label}.")
            return _go(url_for("people.index"))
    elif form.is_submitted():
        status = 422
    return render_dialog(
        "people/_invite_dialog.html",
        behind=url_for("people.index"),
        slot="people-dialog",
        http_status=status,
        form=form,
        message=message,
        role_hints=ROLE_HINTS,
    )


def _flash_sent(sent: people.Sent, done: str) -> None:
    if sent.delivery_problem:
        flash(
            f"{done} The email could not be sent ({sent.delivery_problem}); "
            "use “Resend invitation” once the mail server answers.",
            "warning",
        )
    else:
        flash(f"{done} The invitation link went to {sent.user.email}.", "success")


def _dialog(person, *, status: int = 200, message=None, action=None, form=None):
    return render_dialog(
        DIALOG,
        behind=url_for("people.index"),
        slot="people-dialog",
        http_status=status,
        person=person,
        form=form or RoleForm(data={"person_role": person.role}),
        message=message,
        action=action,
        has_password=password_links.has_usable_password(person),
        locked_out=person.is_active_user and sign_in.is_locked_out(person.email),
        role_hints=ROLE_HINTS,
    )


@bp.get("/<int:user_id>")
@role_required(ADMIN)
def manage(user_id: int):
    """The dialog of one person: role, invitation, lockout, deactivation."""
    return _dialog(get_user_or_404(user_id))


@bp.post("/<int:user_id>/role")
@role_required(ADMIN)
def change_role(user_id: int):
    person = get_user_or_404(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _dialog(person, status=422, form=form)
    try:
        changed = people.change_role(_actor(), person, form.person_role.data)
    except people.PeopleRefused as refused:
        message, status = answer_refused(refused)
        return _dialog(person, status=status, message=message, action="role", form=form)
    if changed:
        flash(f"{person.name} is now {person.role_label}.", "success")
    return _go(url_for("people.index"))


def _act(user_id: int, action: str, done: str):
    person = get_user_or_404(user_id)
    try:
        result = getattr(people, action)(_actor(), person)
    except people.PeopleRefused as refused:
        message, status = answer_refused(refused)
        return _dialog(person, status=status, message=message, action=action)
    if result:
        flash(done.format(name=person.name), "success")
    return _go(url_for("people.index"))


@bp.post("/<int:user_id>/deactivate")
@role_required(ADMIN)
def deactivate(user_id: int):
    """Deactivate: no sign-in, and every session of the person ends now."""
    return _act(user_id, "deactivate", "{name} is deactivated; their sessions ended.")


@bp.post("/<int:user_id>/reactivate")
@role_required(ADMIN)
def reactivate(user_id: int):
    return _act(user_id, "reactivate", "{name} can sign in again.")


@bp.post("/<int:user_id>/unlock")
@role_required(ADMIN)
def unlock(user_id: int):
    """Lift the sign-in lockout (the same as `flask users unlock EMAIL`)."""
    person = get_user_or_404(user_id)
    try:
        people.unlock(_actor(), person)
    except people.PeopleRefused as refused:
        message, status = answer_refused(refused)
        return _dialog(person, status=status, message=message, action="unlock")
    flash(f"{person.name} can sign in again: the lockout is lifted.", "success")
    return _go(url_for("people.index"))


@bp.post("/<int:user_id>/resend")
@role_required(ADMIN)
def resend(user_id: int):
    """A new invitation link by email; the old one stops working."""
    person = get_user_or_404(user_id)
    try:
        sent = people.resend_invitation(_actor(), person, now=utcnow())
    except people.PeopleRefused as refused:
        message, status = answer_refused(refused)
        return _dialog(person, status=status, message=message, action="resend_invitation")
    _flash_sent(sent, f"The old invitation link of {person.name} stopped working.")
    return _go(url_for("people.index"))

"""Admin › Automations: rules in order (first listed wins), add, move, enable, delete.

Each action answers with the rules section as it now is (HTMX swaps it); a rule
whose action does not fit its event comes back 422 with the message by the field.
"""

from flask import Blueprint, request
from flask_login import current_user

from webapp.access import get_automation_or_404, role_required
from webapp.domain import billing_rules
from webapp.forms.billing import AutomationForm
from webapp.models.organization import ADMIN
from webapp.services import automations
from webapp.views.rendering import answer_refused, render_page

bp = Blueprint("automations", __name__, url_prefix="/admin/automations")


def _page(form: AutomationForm | None = None, *, status: int = 200, saved: str | None = None):
    rows = automations.organization_rules(current_user.organization_id)
    return render_page(
        "automations/index.html",
        "automations",
        http_status=status,
        rows=rows,
        shadowed=billing_rules.shadowing([automations.as_rule(r) for r in rows]),
        labels=billing_rules,
        form=form or AutomationForm(formdata=None),
        saved=saved,
    )


@bp.get("")
@role_required(ADMIN)
def index():
    return _page()


@bp.post("")
@role_required(ADMIN)
def add():
    form = AutomationForm()
    if form.validate_on_submit():
        try:
            automations.add_rule(
                current_user.organization,
                form.event.data,
                form.action.data,
                form.disposition.data,
                actor=current_user,
            )
        except automations.RuleRefused as refused:
            message, _status = answer_refused(refused)
            getattr(form, refused.field or "action").errors.append(message)
        else:
            return _page(saved="Rule added at the end of the list.")
    return _page(form, status=422)


@bp.post("/<int:automation_id>/move")
@role_required(ADMIN)
def move(automation_id: int):
    rule = get_automation_or_404(automation_id)
    direction = request.form.get("direction", "")
    if direction not in ("up", "down"):
        return _page(status=422)
    automations.move_rule(rule, direction, actor=current_user)
    return _page()


@bp.post("/<int:automation_id>/toggle")
@role_required(ADMIN)
def toggle(automation_id: int):
    rule = get_automation_or_404(automation_id)
    automations.set_active(rule, not rule.active, actor=current_user)
    return _page(saved=f"Rule {'enabled' if rule.active else 'disabled'}.")


@bp.post("/<int:automation_id>/delete")
@role_required(ADMIN)
def delete(automation_id: int):
    automations.delete_rule(get_automation_or_404(automation_id), actor=current_user)
    return _page(saved="Rule deleted. The audit log keeps a record of it.")

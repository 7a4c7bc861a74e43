"""Admin pages: payers, service types and the System page."""

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from webapp.access import (
    get_payer_or_404,
    get_service_type_or_404,
    organization_payers,
    organization_service_types,
    role_required,
)
from webapp.domain.units import ROUNDING_PROFILE_DESCRIPTIONS, ROUNDING_PROFILE_LABELS
from webapp.extensions import db
from webapp.forms.admin import PayerForm, ServiceTypeForm
from webapp.models import Payer, ServiceType
from webapp.models.base import utcnow
from webapp.models.organization import ADMIN
from webapp.services import hold_reconciliation, records, system
from webapp.views.rendering import render_page

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _taken(model, column, value: str, exclude_id: int | None) -> bool:
    """Whether another row of this organization already uses `value` (case-insensitive)."""
    query = select(func.count()).where(
        model.organization_id == current_user.organization_id,
        func.lower(column) == value.strip().lower(),
    )
    if exclude_id:
        query = query.where(model.id != exclude_id)
    return db.session.scalar(query) > 0


@bp.get("/payers")
@role_required(ADMIN)
def payers():
    return render_page(
        "admin/payers.html",
        "content",
        payers=organization_payers(),
        rounding_labels=ROUNDING_PROFILE_LABELS,
        rounding_descriptions=ROUNDING_PROFILE_DESCRIPTIONS,
    )


@bp.route("/payers/new", methods=["GET", "POST"])
@bp.route("/payers/<int:payer_id>/edit", methods=["GET", "POST"])
@role_required(ADMIN)
def edit_payer(payer_id: int | None = None):
    payer = get_payer_or_404(payer_id) if payer_id else None
    form = PayerForm(obj=payer)
    if form.validate_on_submit():
        if _taken(Payer, Payer.name, form.name.data, payer_id):
            form.name.errors.append("Another payer already has this name.")
        else:
            values = {
                "name": form.name.data.strip(),
                "messaging_enabled": form.messaging_enabled.data,
                "rounding_profile": form.rounding_profile.data,
                "payer_identifier": (form.payer_identifier.data or "").strip() or None,
            }
            records.save_payer(payer, values, actor=current_user)
            flash("Payer saved.", "success")
            return redirect(url_for("admin.payers"))
    return render_page(
        "admin/payer_form.html",
        "content",
        form=form,
        payer=payer,
        rounding_labels=ROUNDING_PROFILE_LABELS,
        rounding_descriptions=ROUNDING_PROFILE_DESCRIPTIONS,
    )


@bp.get("/service-types")
@role_required(ADMIN)
def service_types():
    return render_page(
        "admin/service_types.html", "content", service_types=organization_service_types()
    )


@bp.route("/service-types/new", methods=["GET", "POST"])
@bp.route("/service-types/<int:service_type_id>/edit", methods=["GET", "POST"])
@role_required(ADMIN)
def edit_service_type(service_type_id: int | None = None):
    service = get_service_type_or_404(service_type_id) if service_type_id else None
    form = ServiceTypeForm(obj=service)
    if service and request.method == "GET":
        form.price.data = service.price_cents
        form.cancellation_fee.data = service.cancellation_fee_cents
    if form.validate_on_submit():
        if _taken(ServiceType, ServiceType.cpt_code, form.cpt_code.data, service_type_id):
            form.cpt_code.errors.append("Another service type already uses this code.")
        else:
            values = {
                "cpt_code": form.cpt_code.data.strip().upper(),
                "name": form.name.data.strip(),
                "price_cents": form.price.data,
                "cancellation_fee_cents": form.cancellation_fee.data,
                "unit_minutes": form.unit_minutes.data,
                "cancellation_fee_per_unit": form.cancellation_fee_per_unit.data,
            }
            records.save_service_type(service, values, actor=current_user)
            flash("Service type saved.", "success")
            return redirect(url_for("admin.service_types"))
    status = 422 if form.errors else 200
    return render_page(
        "admin/service_type_form.html", "content", http_status=status, form=form, service=service
    )


@bp.get("/system")
@role_required(ADMIN)
def system_status():
    """Worker, RQ's scheduler, queues, this practice's overdue holds, and the card holds
    at the gateway against the rows (this practice's findings only)."""
    return render_page(
        "admin/system.html",
        "system_panel",
        status=system.current_status(),
        overdue=system.overdue_holds(current_user.organization_id, utcnow()),
        reconciliation=hold_reconciliation.last_run(),
        findings=hold_reconciliation.findings(current_user.organization_id),
    )

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_

from webapp.access import (
    ALL_ROLES,
    BILLING_ROLES,
    get_client_or_404,
    get_insurance_or_404,
    organization_clinicians,
    organization_payers,
    role_required,
    visible_clients,
)
from webapp.domain.authorization_rules import STATUSES
from webapp.domain.limits import MAX_SEARCH_LENGTH
from webapp.extensions import db
from webapp.forms.clients import ClientForm, InsuranceForm
from webapp.forms.fields import choices
from webapp.models import Client
from webapp.models.base import utcnow
from webapp.services import records
from webapp.services.authorization_totals import load_totals
from webapp.views.rendering import render_page

bp = Blueprint("clients", __name__, url_prefix="/clients")

PAGE_SIZE = 50


@bp.get("")
@role_required(*ALL_ROLES)
def index():
    search = request.args.get("q", "").strip()[:MAX_SEARCH_LENGTH]
    query = visible_clients().order_by(Client.last_name, Client.first_name).limit(PAGE_SIZE)
    if search:
        like = f"%{search.lower()}%"
        full_name = func.lower(Client.first_name + " " + Client.last_name)
        query = query.where(or_(full_name.like(like), func.lower(Client.email).like(like)))
    clients = db.session.scalars(query).all()
    return render_page("clients/index.html", "client_table", clients=clients, search=search)


@bp.route("/new", methods=["GET", "POST"])
@role_required(*ALL_ROLES)
def new():
    form = ClientForm()
    form.primary_clinician_id.choices = _clinician_choices()
    if request.method == "GET" and current_user.is_clinician:
        form.primary_clinician_id.data = current_user.id
    if form.validate_on_submit():
        values = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        client = records.save_client(None, values, actor=current_user)
        flash(f"{client.full_name} was added.", "success")
        return redirect(url_for("clients.insurance", client_id=client.id))
    return render_page("clients/form.html", "content", form=form)


@bp.get("/<int:client_id>")
@role_required(*ALL_ROLES)
def show(client_id: int):
    get_client_or_404(client_id)
    return redirect(url_for("clients.insurance", client_id=client_id))


@bp.get("/<int:client_id>/insurance")
@role_required(*ALL_ROLES)
def insurance(client_id: int):
    """Bill To & Insurance: policies, and the Insurance Authorizations table with filter tabs."""
    client = get_client_or_404(client_id)
    status = request.args.get("status", "all")
    if status not in ("all", *STATUSES):
        status = "all"
    coverage = load_totals(current_user.organization, [client.id])  # sums: no ledger rows
    rollups = coverage.authorizations_for_client(client.id)
    shown = [r for r in rollups if status in ("all", r.status)]
    return render_page(
        "clients/insurance.html",
        "auth_section",
        block_template="clients/_authorizations.html",
        client=client,
        tab="insurance",
        status=status,
        rollups=shown,
        counts={**coverage.counts_by_status(client.id), "all": len(rollups)},
        now=utcnow(),
    )


@bp.route("/<int:client_id>/insurances/new", methods=["GET", "POST"])
@bp.route("/<int:client_id>/insurances/<int:insurance_id>/edit", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def edit_insurance(client_id: int, insurance_id: int | None = None):
    client = get_client_or_404(client_id)
    policy = get_insurance_or_404(insurance_id) if insurance_id else None
    if policy and policy.client_id != client.id:
        return redirect(url_for("clients.insurance", client_id=client.id))
    form = InsuranceForm(obj=policy)
    if policy and request.method == "GET":
        form.copay.data = policy.copay_cents
    form.payer_id.choices = _payer_choices()
    if form.validate_on_submit():
        values = {
            "payer_id": form.payer_id.data,
            "member_id": form.member_id.data.strip(),
            "copay_cents": form.copay.data,
            "active": form.active.data,
        }
        records.save_insurance(policy, client, values, actor=current_user)
        flash("Insurance saved.", "success")
        return redirect(url_for("clients.insurance", client_id=client.id))
    return render_page(
        "clients/insurance_form.html", "content", form=form, client=client, policy=policy
    )


def _payer_choices():
    return choices((payer.id, payer.name) for payer in organization_payers())


def _clinician_choices():
    clinicians = organization_clinicians()
    return choices([(0, "— none —")] + [(user.id, user.name) for user in clinicians])

"""Encounters: booking (with live authorization warnings), the encounter page, the schedule."""

from datetime import datetime

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.access import (
    ALL_ROLES,
    get_client_or_404,
    get_encounter_or_404,
    organization_clinicians,
    organization_service_types,
    role_required,
    visible_clients,
)
from webapp.domain import schedule_rules
from webapp.domain.authorization_rules import ENCOUNTER_STATUS_LABELS
from webapp.domain.billing_rules import correction_refusal
from webapp.domain.limits import date_refusal
from webapp.domain.windows import to_local
from webapp.extensions import db
from webapp.forms.encounters import BookingForm, EncounterEditForm, StatusForm
from webapp.forms.fields import choices
from webapp.forms.urls import arg_date, arg_row_id
from webapp.models import Client, Encounter, EncounterService
from webapp.models.base import utcnow
from webapp.services import (
    allocation,
    billing_panel,
    booking,
    encounter_edit,
    encounter_events,
    hold_moves,
    preauth_notice,
    pricing,
)
from webapp.services.coverage import load_coverage, organization_today, uses_of, visit_warnings
from webapp.services.schedule import hold_states, load_schedule
from webapp.views.rendering import answer_refused, render_page

bp = Blueprint("encounters", __name__)


def _booking_form(client) -> BookingForm:
    form = BookingForm(
        service_choices=[(s.id, s.label) for s in organization_service_types()],
        insurance_choices=[(i.id, i.label) for i in client.insurances if i.active]
        + [(i.id, i.label) for i in client.insurances if not i.active],
    )
    form.clinician_id.choices = choices((u.id, u.name) for u in organization_clinicians())
    if request.method == "GET":
        form.clinician_id.data = client.primary_clinician_id or current_user.id
        active = [i for i in client.insurances if i.active]
        form.client_insurance_id.data = active[0].id if active else 0
        form.billing_type.data = "insurance" if active else "self_pay"
    return form


def _request_from(form: BookingForm) -> booking.BookingRequest:
    return booking.BookingRequest(
        clinician_id=form.clinician_id.data,
        start_local=datetime.combine(form.date.data, form.time.data),
        duration_minutes=form.appointment_minutes(),
        lines=form.service_lines(),
        billing_type=form.billing_type.data,
        client_insurance_id=form.client_insurance_id.data or None,
        repeat=form.repeat.data,
        repeat_count=form.repeat_count.data,
        repeat_until=form.repeat_until.data,
    )


@bp.route("/clients/<int:client_id>/encounters/new", methods=["GET", "POST"])
@role_required(*ALL_ROLES)
def new(client_id: int):
    client = get_client_or_404(client_id)
    form = _booking_form(client)
    check = refused = None
    status = 200
    if form.validate_on_submit():
        book_request = _request_from(form)
        try:
            encounters = booking.book(
                current_user.organization,
                client,
                book_request,
                actor=current_user,
                override_reason=(form.override_reason.data or "").strip() or None,
            )
        except booking.BookingRefused as error:
            check, (refused, status) = error.check, answer_refused(error)
        else:
            count = len(encounters)
            flash(f"Booked {count} appointment{'s' if count > 1 else ''}.", "success")
            return redirect(url_for("encounters.show", encounter_id=encounters[0].id))
    if form.errors:
        status = 422
    return render_page(
        "encounters/new.html",
        "content",
        http_status=status,
        client=client,
        form=form,
        check=check,
        refused=refused,
    )


@bp.post("/clients/<int:client_id>/encounters/check")
@role_required(*ALL_ROLES)
def check(client_id: int):
    """Live warnings for the booking form (HTMX, on every change)."""
    client = get_client_or_404(client_id)
    form = _booking_form(client)
    result = None
    if form.validate():
        result = booking.check_booking(current_user.organization, client, _request_from(form))
    return render_page(
        "encounters/_booking_warnings.html", "booking_warnings", check=result, refused=False
    )


@bp.get("/encounters/<int:encounter_id>")
@role_required(*ALL_ROLES)
def show(encounter_id: int):
    encounter = get_encounter_or_404(encounter_id)
    org = current_user.organization
    coverage = load_coverage(org, [encounter.client_id])
    warnings = visit_warnings(coverage, encounter)
    messaging_on = bool(
        encounter.client_insurance and encounter.client_insurance.payer.messaging_enabled
    )
    form = StatusForm(status=encounter.status)
    units = allocation.units_explained(encounter.client_id, [encounter.service_date])
    return render_page(
        "encounters/show.html",
        "content",
        encounter=encounter,
        warnings=warnings if messaging_on else [],
        conflicts=booking.clinician_conflicts(org, encounter),
        form=form,
        uses=uses_of(coverage, encounter),
        units=units.get(encounter.id),
        status_labels=ENCOUNTER_STATUS_LABELS,
        notice=preauth_notice.notice(encounter, current_user.organization),
        early=encounter_events.early_keep(org, encounter),
        panel=billing_panel.panel(encounter),
        charges=pricing.service_charges(encounter),
    )


@bp.post("/encounters/<int:encounter_id>/status")
@role_required(*ALL_ROLES)
def change_status(encounter_id: int):
    encounter = get_encounter_or_404(encounter_id)
    form = StatusForm()
    if not form.validate_on_submit():
        flash("Choose one of the listed statuses.", "danger")
    elif refusal := correction_refusal(encounter.status, form.status.data):
        flash(refusal, "danger")
    else:
        try:
            booking.set_status(
                encounter,
                form.status.data,
                actor=current_user,
                confirm_early=request.form.get("confirm_early"),
            )
        except booking.StatusRefused as refused:
            message, _status = answer_refused(refused)
            flash(message, "danger")
        else:
            label = ENCOUNTER_STATUS_LABELS[form.status.data]
            flash(f"Status corrected to {label}.", "success")
    return redirect(url_for("encounters.show", encounter_id=encounter.id))


def _edit_form(encounter: Encounter) -> EncounterEditForm:
    """The edit form, filled from the encounter on GET."""
    client = encounter.client
    data = None
    if request.method == "GET":
        start = to_local(encounter.starts_at, current_user.organization.timezone)
        data = {
            "date": start.date(),
            "time": start.time().replace(tzinfo=None),
            "duration_minutes": encounter.duration_minutes,
            "billing_type": encounter.billing_type,
            "client_insurance_id": encounter.client_insurance_id or 0,
            "lines": [
                {"service_type_id": line.service_type_id, "minutes": line.minutes}
                for line in encounter.lines
            ],
        }
    return EncounterEditForm(
        data=data,
        service_choices=[(s.id, s.label) for s in organization_service_types()],
        insurance_choices=[(i.id, i.label) for i in client.insurances],
    )


def _edit_request(form: EncounterEditForm, encounter: Encounter) -> booking.BookingRequest:
    return booking.BookingRequest(
        clinician_id=encounter.clinician_id,
        start_local=datetime.combine(form.date.data, form.time.data),
        duration_minutes=form.appointment_minutes(),
        lines=form.service_lines(),
        billing_type=form.billing_type.data,
        client_insurance_id=form.client_insurance_id.data or None,
    )


@bp.route("/encounters/<int:encounter_id>/edit", methods=["GET", "POST"])
@role_required(*ALL_ROLES)
def edit(encounter_id: int):
    """Edit encounter: start, duration, billing type, services (warnings as when booking)."""
    encounter = get_encounter_or_404(encounter_id)
    form = _edit_form(encounter)
    check = refused = None
    status = 200
    if form.validate_on_submit():
        change = _edit_request(form, encounter)
        reason = (form.override_reason.data or "").strip() or None
        try:
            encounter_edit.edit(
                current_user.organization,
                encounter,
                change,
                actor=current_user,
                override_reason=reason,
            )
        except booking.BookingRefused as error:
            check, (refused, status) = error.check, answer_refused(error)
        else:
            flash("Appointment changed.", "success")
            return redirect(url_for("encounters.show", encounter_id=encounter.id))
    return render_page(
        "encounters/edit.html",
        "content",
        http_status=422 if form.errors else status,
        encounter=encounter,
        form=form,
        check=check,
        refused=refused,
        move=hold_moves.standing_note(current_user.organization, encounter),
    )


@bp.post("/encounters/<int:encounter_id>/edit/check")
@role_required(*ALL_ROLES)
def check_edit(encounter_id: int):
    """Live warnings for the edit form (HTMX, on every change)."""
    encounter = get_encounter_or_404(encounter_id)
    form = _edit_form(encounter)
    result = move = None
    if form.validate():
        edit_request = _edit_request(form, encounter)
        result = encounter_edit.check_edit(current_user.organization, encounter, edit_request)
        move = encounter_edit.move_preview(current_user.organization, encounter, edit_request)
    return render_page(
        "encounters/_booking_warnings.html",
        "booking_warnings",
        check=result,
        refused=False,
        move_oob=move,
    )


@bp.get("/clients/<int:client_id>/appointments")
@role_required(*ALL_ROLES)
def client_appointments(client_id: int):
    client = get_client_or_404(client_id)
    encounters = db.session.scalars(
        select(Encounter)
        .where(Encounter.client_id == client.id)
        .options(selectinload(Encounter.lines).joinedload(EncounterService.service_type))
        .order_by(Encounter.starts_at.desc())
    ).all()
    return render_page(
        "encounters/client_list.html",
        "content",
        client=client,
        tab="appointments",
        encounters=encounters,
        status_labels=ENCOUNTER_STATUS_LABELS,
    )


@bp.get("/schedule")
@role_required(*ALL_ROLES)
def schedule():
    """Encounters by day or week, filterable by clinician, each with its warning badge:
    a time grid (static/calendar.js, fed by calendar.events) over the list, which stays
    for print and small screens; `mode=list` shows the list alone."""
    org = current_user.organization
    mode = "list" if request.args.get("mode") == "list" else "calendar"
    view = request.args.get("view", schedule_rules.WEEK_VIEW)
    view = view if view in schedule_rules.SCHEDULE_VIEWS else schedule_rules.WEEK_VIEW
    anchor, date_error = arg_date("date")
    anchor = anchor or organization_today(org)
    clinician_id = arg_row_id("clinician")
    if current_user.is_clinician:
        clinician_id = current_user.id
    found = load_schedule(
        org,
        schedule_rules.schedule_days(view, anchor, org.week_start),
        clinician_id=clinician_id,
        client_ids=visible_clients().with_only_columns(Client.id),
    )
    step = schedule_rules.schedule_step(view)
    return render_page(
        "encounters/schedule.html",
        "schedule_body",
        http_status=422 if date_error else 200,
        view=view,
        days=found.days,
        anchor=anchor,
        date_error=date_error,
        previous=anchor - step if date_refusal(anchor - step) is None else None,
        following=anchor + step if date_refusal(anchor + step) is None else None,
        encounters=found.encounters,
        warnings=found.warnings,
        double_booked=found.double_booked,
        clinicians=organization_clinicians(),
        clinician_id=clinician_id,
        status_labels=ENCOUNTER_STATUS_LABELS,
        mode=mode,
        today=organization_today(org),
        now_local=to_local(utcnow(), org.timezone).strftime("%Y-%m-%dT%H:%M"),
        holds=hold_states([e.id for e in found.encounters]),
        first_day=schedule_rules.calendar_first_day(org.week_start),
    )

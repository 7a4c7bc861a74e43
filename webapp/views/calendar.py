"""The schedule's calendar: its events (JSON), moving an appointment, Mark day as kept.

The page itself is encounters.schedule; static/calendar.js draws FullCalendar on it,
fed by `events`, and answers a drag through `move` (the same answer as the Move
dialog's form). Every answer that changed the schedule sends the `schedule-changed`
event (HX-Trigger) with a sentence saying what changed.
"""

import json
from datetime import datetime

from flask import Blueprint, jsonify, make_response, request, url_for
from flask_login import current_user

from webapp.access import ALL_ROLES, get_encounter_or_404, role_required, visible_clients
from webapp.domain import billing_rules, schedule_rules
from webapp.domain.authorization_rules import ENCOUNTER_STATUS_LABELS, UPCOMING
from webapp.domain.windows import format_day
from webapp.forms.encounters import MoveForm
from webapp.forms.urls import arg_date, arg_row_id
from webapp.models import Client
from webapp.services import automations, booking, day_close, schedule_moves
from webapp.services.coverage import organization_today
from webapp.services.schedule import calendar_days, hold_states, load_schedule
from webapp.views.rendering import answer_refused, render_dialog, render_page

bp = Blueprint("calendar", __name__)

CHANGED, REFUSED = "schedule-changed", "schedule-refused"


def _clinician_filter() -> int | None:
    """The clinician the schedule shows: a clinician always sees only their own."""
    return current_user.id if current_user.is_clinician else arg_row_id("clinician")


def _client_ids():
    return visible_clients().with_only_columns(Client.id)


@bp.get("/schedule/events")
@role_required(*ALL_ROLES)
def events():
    """The appointments of [start, end) as calendar events (JSON; 422 with `error`)."""
    start, start_error = arg_date("start")
    end, end_error = arg_date("end")
    problem = start_error or end_error
    if not problem and (start is None or end is None):
        problem = "Give the start and end dates as YYYY-MM-DD."
    problem = problem or schedule_rules.calendar_range_refusal(start, end)
    if problem:
        return jsonify(error=problem), 422
    org = current_user.organization
    found = load_schedule(
        org, calendar_days(start, end), clinician_id=_clinician_filter(), client_ids=_client_ids()
    )
    holds = hold_states([e.id for e in found.encounters])
    return jsonify([_event(org, e, found, holds.get(e.id)) for e in found.encounters])


def _event(org, encounter, found, hold) -> dict:
    start = schedule_moves.local_start(org, encounter)
    warnings = found.warnings.get(encounter.id) or []
    clash = found.double_booked.get(encounter.id) or []
    status_label = ENCOUNTER_STATUS_LABELS.get(encounter.status, encounter.status)
    return {
        "id": str(encounter.id),
        "title": encounter.client.full_name,
        "start": start.isoformat(timespec="minutes"),
        "end": (start + (encounter.ends_at - encounter.starts_at)).isoformat(timespec="minutes"),
        "editable": encounter.status == UPCOMING,
        "classNames": [f"enc-{encounter.status}"]
        + (["has-warning"] if warnings else [])
        + (["is-double-booked"] if clash else []),
        "extendedProps": {
            "clinician": encounter.clinician.name,
            "services": encounter.services_label,
            "status": encounter.status,
            "status_label": status_label,
            "warning": " ".join(w.message for w in warnings) or None,
            "double_booked": bool(clash),
            "double_booked_text": (
                f"{encounter.clinician.name} is booked at the same time "
                f"{len(clash)} more time{'' if len(clash) == 1 else 's'}."
                if clash
                else None
            ),
            "hold_state": hold[0] if hold else None,
            "hold_label": f"Hold: {hold[1]}" if hold else None,
            "url": url_for("encounters.show", encounter_id=encounter.id),
            "move_url": url_for("calendar.move", encounter_id=encounter.id),
        },
    }


def _triggered(response, name: str, message: str):
    response.headers["HX-Trigger"] = json.dumps({name: {"message": message}})
    return response


@bp.route("/encounters/<int:encounter_id>/move", methods=["GET", "POST"])
@role_required(*ALL_ROLES)
def move(encounter_id: int):
    """The Move dialog (GET); a move from it or from a drag (POST): saved, or the
    confirmation of what it carries, or the reason it is refused."""
    encounter = get_encounter_or_404(encounter_id)
    org = current_user.organization
    form = MoveForm()
    if request.method == "GET":
        start = schedule_moves.local_start(org, encounter)
        form.date.data, form.time.data = start.date(), start.time()
        return _move_dialog(encounter, form)
    if not form.validate_on_submit():
        response = _move_dialog(encounter, form, http_status=422)
        return _triggered(response, REFUSED, "Not moved: check the date and time.")
    start_local = datetime.combine(form.date.data, form.time.data)
    try:
        result = schedule_moves.move(
            org,
            encounter,
            start_local,
            actor=current_user,
            acknowledged=form.acknowledged.data or None,
            override_reason=form.override_reason.data,
        )
    except schedule_moves.MoveUnconfirmed as unconfirmed:
        form.acknowledged.data = unconfirmed.check.acknowledgement
        return render_page(
            "encounters/_move_confirm.html", "dialog", encounter=encounter,
            form=form, result=unconfirmed.check,
        )  # fmt: skip
    except (schedule_moves.MoveRefused, booking.BookingRefused) as refused:
        message, status = answer_refused(refused)
        response = _move_dialog(encounter, form, http_status=status, refusal=message)
        return _triggered(response, REFUSED, f"Not moved: {message}")
    when = f"{format_day(start_local.date())} at {start_local:%-I:%M %p}"
    sentence = f"Moved {encounter.client.full_name}'s appointment to {when}."
    if result.hold.kind != "none":
        sentence += f" {result.hold.sentence}"
    return _triggered(make_response("", 200), CHANGED, sentence)


def _move_dialog(encounter, form, http_status: int = 200, refusal: str | None = None):
    org = current_user.organization
    label = ENCOUNTER_STATUS_LABELS.get(encounter.status, encounter.status)
    return render_dialog(
        "encounters/_move_dialog.html",
        behind=url_for("encounters.schedule", date=encounter.service_date.isoformat()),
        slot="calendar-dialog",
        http_status=http_status,
        encounter=encounter,
        form=form,
        refusal=refusal,
        closed=schedule_rules.move_refusal(encounter.status, label),
        status_label=label,
        start=schedule_moves.local_start(org, encounter),
    )


@bp.route("/schedule/keep-day", methods=["GET", "POST"])
@role_required(*ALL_ROLES)
def keep_day():
    """Mark day as kept: the confirmation listing the day's started Upcoming visits
    (GET), then each through Finalize (POST) and what came of it."""
    org = current_user.organization
    day, date_error = arg_date("date")
    day = day or organization_today(org)
    clinician_id = _clinician_filter()
    if request.method == "POST" and not date_error:
        result = day_close.mark_day_kept(
            org, day, actor=current_user, clinician_id=clinician_id, client_ids=_client_ids()
        )
        sentence = result.summary
        response = render_page(
            "encounters/_keep_day_dialog.html", "dialog", day=day, result=result,
            sentence=sentence, encounters=None, clinician_id=clinician_id,
        )  # fmt: skip
        return _triggered(response, CHANGED, sentence)
    encounters = day_close.closable(org, day, clinician_id=clinician_id, client_ids=_client_ids())
    effects = {
        e.id: automations.preview_effect(e, billing_rules.ENCOUNTER_FINALIZED, None)
        for e in encounters
    }
    return render_dialog(
        "encounters/_keep_day_dialog.html",
        behind=url_for("encounters.schedule", date=day.isoformat()),
        slot="calendar-dialog",
        http_status=422 if date_error else 200,
        day=day,
        date_error=date_error,
        encounters=encounters,
        effects=effects,
        result=None,
        clinician_id=clinician_id,
    )

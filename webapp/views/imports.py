"""Admin: upload a CSV of legacy authorizations and watch its import job."""

from flask import Blueprint, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from webapp.access import get_legacy_import_or_404, role_required
from webapp.domain.conversion import add_months
from webapp.extensions import db
from webapp.models import LegacyImport, User
from webapp.models.organization import ADMIN
from webapp.services import legacy_import
from webapp.services.queue import redis_connection
from webapp.views.rendering import render_page

bp = Blueprint("imports", __name__, url_prefix="/admin/imports")

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
RECENT_IMPORTS = 20
STOPPED_JOB_STATES = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


class LegacyImportForm(FlaskForm):
    file = FileField(
        "CSV file",
        validators=[
            FileRequired(message="Choose a CSV file to upload."),
            FileAllowed(["csv"], message="Upload a .csv file (in Excel: Save As › CSV UTF-8)."),
            FileSize(MAX_UPLOAD_BYTES, message="The file is larger than 5 MB; split it."),
        ],
        render_kw={"accept": ".csv,text/csv"},
    )


def status_badge(item: LegacyImport) -> tuple[str, str]:
    """(badge class, label) for an import's status."""
    if item.status == "done" and item.errors:
        count = len(item.errors)
        return "badge-expired", f"Done, {count} bad {'row' if count == 1 else 'rows'}"
    return {
        "done": ("badge-active", "Done"),
        "failed": ("badge-danger", "Failed"),
        "running": ("badge-info", "Running"),
    }.get(item.status, ("badge-muted", "Queued"))


def _upload_page(form: LegacyImportForm, http_status: int = 200):
    org = current_user.organization
    release = org.enhanced_authorizations_release_date
    recent = db.session.execute(
        select(LegacyImport, User.name)
        .outerjoin(User, User.id == LegacyImport.user_id)
        .where(LegacyImport.organization_id == org.id)
        .order_by(LegacyImport.created_at.desc(), LegacyImport.id.desc())
        .limit(RECENT_IMPORTS)
    ).all()
    return render_page(
        "imports/upload.html",
        "content",
        http_status=http_status,
        form=form,
        imports=recent,
        release=release,
        default_end=add_months(release, 12) if release else None,
        not_ready=legacy_import.readiness_refusal(org),
        example=legacy_import.EXAMPLE_CSV,
        status_badge=status_badge,
    )


@bp.route("", methods=["GET", "POST"])
@role_required(ADMIN)
def upload():
    form = LegacyImportForm()
    if request.method == "GET":
        return _upload_page(form)
    if form.validate_on_submit():
        storage = form.file.data
        try:
            text = storage.read().decode("utf-8")
        except UnicodeDecodeError:
            form.file.errors.append(
                "The file is not UTF-8 text. In Excel, use Save As › CSV UTF-8, then upload it."
            )
        else:
            try:
                started = legacy_import.start_upload(
                    current_user.organization, current_user, storage.filename, text
                )
            except ValueError as error:  # bad headers, no rows, organization not ready
                form.file.errors.append(str(error))
            else:
                return redirect(url_for("imports.show", import_id=started.id))
    return _upload_page(form, http_status=422)


def _job_progress(upload: LegacyImport) -> dict:
    """done/total from the RQ job's meta while it runs; a missing job is no error."""
    progress = {"done": None, "total": upload.total_rows or None, "stalled": False}
    if upload.status not in ("queued", "running"):
        return progress
    try:
        job = Job.fetch(legacy_import.job_id(upload.id), connection=redis_connection())
    except (NoSuchJobError, RedisError):
        return progress
    progress["done"] = job.meta.get("done")
    progress["total"] = job.meta.get("total") or progress["total"]
    progress["stalled"] = job.get_status(refresh=False) in STOPPED_JOB_STATES
    return progress


@bp.get("/<int:import_id>")
@role_required(ADMIN)
def show(import_id: int):
    upload = get_legacy_import_or_404(import_id)
    return render_page(
        "imports/show.html",
        "import_progress",
        upload=upload,
        progress=_job_progress(upload),
        status_badge=status_badge,
    )

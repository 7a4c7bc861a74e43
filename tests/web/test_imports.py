"""The admin upload page for legacy authorizations and its progress page."""

import io

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from tests import factories
from webapp.extensions import db
from webapp.models import LegacyImport
from webapp.services.queue import queue, redis_connection

HEADER = "client,payer,authorization_number,end_date,sessions_allowed"
GOOD = f"{HEADER}\nAna Rivera,Aetna,AET-1,,4\nNobody,Aetna,X,,1\n"


@pytest.fixture
def org(world):
    return factories.legacy_import_ready(world.org)


def post_file(client, data: bytes, filename: str = "legacy.csv"):
    return client.post(
        "/admin/imports",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def imports_count() -> int:
    return db.session.scalar(select(func.count(LegacyImport.id)))


def test_the_admin_sees_the_upload_form_with_the_expected_columns(client, auth, world, org):
    auth.login(world.admin)
    page = client.get("/admin/imports").get_data(as_text=True)
    assert 'type="file"' in page and 'enctype="multipart/form-data"' in page
    for column in ("client", "payer", "authorization_number", "end_date", "sessions_allowed"):
        assert f"<code>{column}</code>" in page
    assert "Rivera, Ana" in page  # the example
    assert "No imports yet." in page


def test_a_biller_may_not_upload(client, auth, world, org):
    auth.login(world.biller)
    assert client.get("/admin/imports").status_code == 403
    assert post_file(client, GOOD.encode()).status_code == 403
    assert imports_count() == 0


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"name,number\nA,1\n", "legacy.csv", "missing the column(s) client, payer"),
        ("client,payer\nJos\u00e9,B\n".encode("latin-1"), "legacy.csv", "not UTF-8"),
        (GOOD.encode(), "legacy.xlsx", "Upload a .csv file"),
        (f"{HEADER}\n".encode(), "legacy.csv", "no rows to import"),
    ],
)
def test_a_bad_file_gets_a_message_next_to_the_field_and_creates_nothing(
    client, auth, world, org, data, filename, message
):
    auth.login(world.admin)
    response = post_file(client, data, filename)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'class="field-error"' in page
    assert message in page
    assert imports_count() == 0
    assert queue().count == 0


def test_no_file_at_all_is_refused(client, auth, world, org):
    auth.login(world.admin)
    response = client.post("/admin/imports", data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose a CSV file" in response.get_data(as_text=True)


def test_an_organization_without_a_release_date_is_told_to_set_it(client, auth, world, org):
    org.enhanced_authorizations_release_date = None
    db.session.commit()
    auth.login(world.admin)
    assert "release date" in client.get("/admin/imports").get_data(as_text=True)
    response = post_file(client, GOOD.encode())
    assert response.status_code == 422
    assert "Set the organization" in response.get_data(as_text=True)
    assert imports_count() == 0


def test_a_good_upload_redirects_to_its_progress_page_which_polls(client, auth, world, org):
    auth.login(world.admin)
    response = post_file(client, ("\ufeff" + GOOD).encode())
    assert response.status_code == 302
    [row] = db.session.scalars(select(LegacyImport)).all()
    assert response.headers["Location"].endswith(f"/admin/imports/{row.id}")
    assert (row.status, row.filename, row.user_id) == ("queued", "legacy.csv", world.admin.id)

    page = client.get(f"/admin/imports/{row.id}").get_data(as_text=True)
    assert 'id="import-progress"' in page
    assert 'hx-trigger="every 1s"' in page and 'hx-swap="outerHTML"' in page
    assert "<progress" in page and "Waiting for a worker" in page

    fragment = client.get(f"/admin/imports/{row.id}", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    assert body.lstrip().startswith('<section id="import-progress"')
    assert "<html" not in body


def test_the_progress_bar_reads_done_and_total_from_the_job(client, auth, world, org):
    from rq.job import Job

    auth.login(world.admin)
    post_file(client, GOOD.encode())
    row = db.session.scalars(select(LegacyImport)).one()
    row.status = "running"
    db.session.commit()
    job = Job.fetch(f"legacy-import-{row.id}", connection=redis_connection())
    job.meta.update(done=1, total=2)
    job.save_meta()

    page = client.get(f"/admin/imports/{row.id}", headers={"HX-Request": "true"})
    assert '<progress value="1" max="2">' in page.get_data(as_text=True)


def test_when_done_it_stops_polling_and_lists_the_bad_rows(client, auth, world, org):
    auth.login(world.admin)
    post_file(client, GOOD.encode())
    SimpleWorker([queue()], connection=redis_connection()).work(burst=True)
    row = db.session.scalars(select(LegacyImport)).one()

    page = client.get(f"/admin/imports/{row.id}", headers={"HX-Request": "true"})
    body = page.get_data(as_text=True)
    assert "hx-trigger" not in body
    assert "Imported" in body and "Done, 1 bad row" in body
    assert '<td class="num">3</td><td>No client matches &#39;Nobody&#39;' in body

    listing = client.get("/admin/imports").get_data(as_text=True)
    assert f"/admin/imports/{row.id}" in listing and "legacy.csv" in listing


def test_a_failed_import_shows_a_red_message(client, auth, world, org):
    failed = LegacyImport(
        organization_id=org.id,
        filename="old.csv",
        content=GOOD,
        status="failed",
        errors=[{"row": None, "reason": "RuntimeError: boom"}],
    )
    db.session.add(failed)
    db.session.commit()
    auth.login(world.admin)
    body = client.get(f"/admin/imports/{failed.id}").get_data(as_text=True)
    assert 'class="flash flash-danger"' in body
    assert "nothing was imported: RuntimeError: boom" in body
    assert 'hx-trigger="every 1s"' not in body  # no progress polling (the header's bell polls)


def test_an_import_of_another_organization_is_not_found(client, auth, world, org):
    auth.login(world.admin)
    post_file(client, GOOD.encode())
    row = db.session.scalars(select(LegacyImport)).one()
    auth.logout()
    auth.login(world.outsider)
    assert client.get(f"/admin/imports/{row.id}").status_code == 404
    assert "legacy.csv" not in client.get("/admin/imports").get_data(as_text=True)

"""The payer-decision pages through HTTP: a bad file is a message under the field and
nothing is written; a good one previews, applies, and its source is a download for
billers and admins of the practice only."""

import io

from sqlalchemy import func, select

from tests import factories
from tests.pas_support import fixture_bytes
from webapp.extensions import db
from webapp.models import Authorization, AuthorizationLine, PayerDecisionFile


def _practice(world):
    client = factories.client(world.org, first_name="Sam", last_name="Rivera")
    payer = factories.payer(world.org, name="Suncoast", payer_identifier="SCHP1")
    factories.insurance(world.org, client, payer, member_id="SC-4471209")
    factories.service_type(world.org, cpt_code="97153", unit_minutes=15)
    factories.service_type(world.org, cpt_code="97155", unit_minutes=15)
    db.session.commit()
    return client


def _upload(client, raw: bytes, name="decision.json"):
    return client.post(
        "/authorizations/decisions",
        data={"file": (io.BytesIO(raw), name)},
        content_type="multipart/form-data",
    )


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_bad_file_is_a_message_under_the_field_and_nothing_is_written(client, auth, world):
    _practice(world)
    auth.login(world.biller)
    for raw, named in (
        (b"{not json", "not JSON"),
        (fixture_bytes("ig-2.2.1/ClaimResponse-ErrorResponseExample.json"), "errors"),
    ):
        response = _upload(client, raw)
        body = response.get_data(as_text=True)
        assert response.status_code == 422
        assert 'class="field-error"' in body and named in body
    assert (_count(PayerDecisionFile), _count(Authorization)) == (0, 0)


def test_a_decision_previews_applies_and_its_file_is_a_download(client, auth, world):
    sam = _practice(world)
    auth.login(world.biller)
    uploaded = _upload(client, fixture_bytes("covered/aba-approved-two-lines.json"))
    assert uploaded.status_code == 302
    preview_url = uploaded.headers["Location"]
    preview = client.get(preview_url).get_data(as_text=True)
    assert 'data-action="create"' in preview and "SC-ABA-778812" in preview
    assert _count(AuthorizationLine) == 0  # nothing before the confirmation
    applied = client.post(f"{preview_url}/apply")
    assert applied.headers["Location"].endswith(f"/clients/{sam.id}/insurance")
    assert _count(AuthorizationLine) == 2
    page = client.get(f"/clients/{sam.id}/insurance").get_data(as_text=True)
    assert "SC-ABA-778812" in page and "2 lines" in page
    again = client.get(preview_url).get_data(as_text=True)
    assert 'data-action="unchanged"' in again and 'id="decision-apply"' not in again
    download = client.get(f"{preview_url}/file")
    assert download.data == fixture_bytes("covered/aba-approved-two-lines.json")
    assert download.headers["Content-Disposition"].startswith("attachment")
    auth.logout()
    auth.login(world.clinician)
    assert client.get(f"{preview_url}/file").status_code == 403
    auth.logout()
    auth.login(world.outsider)
    assert client.get(f"{preview_url}/file").status_code == 404

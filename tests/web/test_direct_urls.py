"""Every GET route opened directly (a typed URL, a bookmark, a new tab) shows a whole page.

Walks tests/web/test_access.py's ROUTES as a role that may open each: the answer is a
page with the layout, a redirect, or a download; never a bare dialog or panel (which a
browser shows as a blank page). A dialog's URL redirects to the page whose button opens
it, asking that page (`?dialog=&slot=`) to open the dialog in its slot; the same dialog
asked for by htmx is the dialog alone.
"""

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.web.test_access import ROUTES, _path, seed_rows

DOWNLOADS = {
    "reports.authorizations_csv": "text/csv",
    "billing.client_billing_csv": "text/csv",
    "billing.receipt_pdf": "application/pdf",
    "outbox.raw": "message/rfc822",
    "outbox.html": "text/html",  # a message's own HTML document (its own policy)
    "audit.export": "text/csv",
    "worklists.holds_csv": "text/csv",
    "worklists.invoices_csv": "text/csv",
    "decisions.source": "application/octet-stream",  # the payer's file, as received
    "calendar.events": "application/json",  # FullCalendar's feed
}
HX = {"HX-Request": "true"}
GETS = sorted(e for e, (method, _, _) in ROUTES.items() if method == "GET")


@pytest.fixture
def rows(world):
    return seed_rows(world)


def _role(endpoint: str) -> str:
    return ROUTES[endpoint][2][0]


@pytest.mark.parametrize("endpoint", GETS)
def test_a_get_route_opened_directly_is_a_whole_page(client, auth, world, rows, endpoint):
    auth.login(world.user(_role(endpoint)))
    response = client.get(_path(endpoint, rows))
    if endpoint in DOWNLOADS:
        assert response.mimetype == DOWNLOADS[endpoint]
        return
    if response.status_code == 302:
        target = urlsplit(response.headers["Location"])
        assert "?" not in target.query, f"one query string: {response.headers['Location']}"
        query = parse_qs(target.query)
        if "dialog" in query:  # a dialog: its page, told to open it
            assert query["dialog"] == [_path(endpoint, rows)]
            page = client.get(response.headers["Location"])
            assert page.status_code == 200
            html = page.get_data(as_text=True)
            assert f'data-load-dialog="{_path(endpoint, rows)}"' in html
            assert f'data-dialog-slot="{query["slot"][0]}"' in html
            assert f'id="{query["slot"][0]}"' in html or "hx-trigger=" in html
            dialog = client.get(_path(endpoint, rows), headers=HX).get_data(as_text=True)
            assert "<dialog" in dialog and "<html" not in dialog
        return
    html = response.get_data(as_text=True)
    assert response.status_code in (200, 422), endpoint
    assert "<html" in html and 'class="app-header"' in html, f"{endpoint} is a bare fragment"


@pytest.mark.parametrize(
    "query",
    [
        "dialog=https://evil.test/x&slot=dialog",
        "dialog=//evil.test/x&slot=dialog",
        "dialog=/no/such/page&slot=dialog",
        "dialog=/clients&slot=a%22b",
        "dialog=/clients&slot=",
        "dialog=" + "/clients" * 80 + "&slot=dialog",
    ],
)
def test_a_dialog_to_open_must_be_a_page_of_this_app(client, auth, world, query):
    auth.login(world.admin)
    html = client.get(f"/clients?{query}").get_data(as_text=True)
    assert "data-load-dialog" not in html

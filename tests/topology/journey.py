"""A person's work through the running app over HTTP: the forms they fill, as they post them.

`Browser` keeps the session cookie and sends the CSRF token the pages carry (as
htmx does, in the X-CSRFToken header). Each step posts a form, checks the answer
and returns what the next step needs (ids read from redirects and pages).
"""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


class Browser:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.csrf = None

    def get(self, path: str, *, status: int = 200, hx: bool = False) -> requests.Response:
        response = self.session.get(
            self._url(path), headers=self._headers(hx), allow_redirects=False, timeout=100
        )
        assert response.status_code == status, (path, response.status_code, response.text[:2000])
        self._remember_csrf(response)
        return response

    def post(self, path: str, data=None, *, status: int = 302, hx: bool = False):
        response = self.session.post(
            self._url(path),
            data=data or {},
            headers={**self._headers(hx), "X-CSRFToken": self.csrf or ""},
            allow_redirects=False,
            timeout=100,
        )
        assert response.status_code == status, (path, response.status_code, response.text[:2000])
        return response

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.base_url + path

    @staticmethod
    def _headers(hx: bool) -> dict:
        return {"HX-Request": "true"} if hx else {}

    def _remember_csrf(self, response) -> None:
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1) or found.group(2)


def location_id(response, pattern: str) -> int:
    """The id in a redirect's Location (or HX-Redirect), e.g. pattern r"/clients/(\\d+)"."""
    target = response.headers.get("Location") or response.headers.get("HX-Redirect") or ""
    found = re.search(pattern, target)
    assert found, (pattern, target)
    return int(found.group(1))


def option_value(page: str, select_name: str, label_part: str) -> str:
    """The value of the <option> whose label holds `label_part`, in <select name=…>."""
    select = page.split(f'name="{select_name}"', 1)[1].split("</select>", 1)[0]
    for value, label in re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)<', select):
        if label_part in label:
            return value
    raise AssertionError(f"no option with {label_part!r} in {select_name}")


# --- the steps ----------------------------------------------------------------------------


def set_password(browser: Browser, link: str, password: str) -> None:
    page = browser.get(link).text
    assert "Choose your password" in page
    done = browser.post(link, {"password": password, "confirm": password})
    assert done.headers["Location"].endswith("/login")


def sign_in(browser: Browser, email: str, password: str) -> None:
    browser.get("/login")
    browser.post("/login", {"email": email, "password": password})
    browser.get("/clients")  # the CSRF token of the signed-in session


def invite(browser: Browser, email: str, name: str, role: str) -> int:
    """Admin › Users › Invite someone; the new person's id, read from the Users page."""
    assert 'id="invite-dialog"' in browser.get("/admin/users/invite", hx=True).text
    data = {"name": name, "email": email, "person_role": role}
    answer = browser.post("/admin/users/invite", data, status=200, hx=True)
    assert answer.headers["HX-Redirect"].endswith("/admin/users"), answer.text[:2000]
    page = browser.get("/admin/users").text
    found = re.search(rf'id="person-(\d+)">(?:(?!</tr>).)*?{re.escape(email)}', page, re.DOTALL)
    assert found, page[:4000]
    return int(found.group(1))


def add_payer(browser: Browser, name: str) -> None:
    browser.get("/admin/payers/new")
    data = {"name": name, "messaging_enabled": "y", "rounding_profile": "cms-8-minute"}
    browser.post("/admin/payers/new", data)


def add_service_type(browser: Browser, code: str, name: str, price: str) -> None:
    data = {"cpt_code": code, "name": name, "price": price, "cancellation_fee": "0"}
    browser.post("/admin/service-types/new", data)


def turn_on_holds(browser: Browser, hours_before: int) -> None:
    data = {"active": "y", "hours_before": str(hours_before)}
    answer = browser.post("/admin/payments/edit", data, status=200, hx=True)
    assert answer.headers["HX-Redirect"].endswith("/admin/payments")


def add_client(browser: Browser, first: str, last: str, clinician_id: int) -> int:
    data = {"first_name": first, "last_name": last, "primary_clinician_id": str(clinician_id)}
    return location_id(browser.post("/clients/new", data), r"/clients/(\d+)/insurance")


def add_insurance(browser: Browser, client_id: int, payer: str, copay: str) -> None:
    page = browser.get(f"/clients/{client_id}/insurances/new").text
    data = {
        "payer_id": option_value(page, "payer_id", payer),
        "member_id": f"M-{client_id}-001",
        "copay": copay,
        "active": "y",
    }
    browser.post(f"/clients/{client_id}/insurances/new", data)


def add_authorization(browser: Browser, client_id: int, service: str, today) -> None:
    path = f"/clients/{client_id}/authorizations/new"
    page = browser.get(path, hx=True).text
    data = {
        "client_insurance_id": option_value(page, "client_insurance_id", ""),
        "number": f"AUTH-{client_id}",
        "decision": "approved",
        "start_date": (today - timedelta(days=30)).isoformat(),
        "end_date": (today + timedelta(days=150)).isoformat(),
        # One line (the dialog names a line's fields lines-0-…): 12 sessions of the service.
        "lines-0-kind": "sessions",
        "lines-0-service_type_ids": re.search(
            rf'value="(\d+)"[^>]*>\s*<label[^>]*>[^<]*{service}', page
        ).group(1),
        "lines-0-allowed": "12",
        "lines-0-frequency": "",
        "lines-0-decision": "approved",
    }
    answer = browser.post(path, data, status=200, hx=True)
    assert answer.headers["HX-Redirect"].endswith(f"/clients/{client_id}/insurance")


def add_card(browser: Browser, client_id: int, stripe_client, number: str) -> str:
    """Open Add card, confirm it as Stripe.js does (on the payments server), save it."""
    dialog = browser.post(f"/clients/{client_id}/cards/setup", status=200, hx=True).text
    setup_intent = dialog.split('data-setup-intent="', 1)[1].split('"', 1)[0]
    card = {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    stripe_client.v1.setup_intents.confirm(
        setup_intent, {"payment_method_data": {"type": "card", "card": card}}
    )
    saved = browser.post(
        f"/clients/{client_id}/cards", {"setup_intent_id": setup_intent}, status=200, hx=True
    )
    assert f"•••• {number[-4:]}" in saved.text
    return setup_intent


def book(browser: Browser, client_id: int, clinician_id: int, service: str, starts: datetime):
    """Book one visit at `starts` (the practice's local time); the encounter's id."""
    path = f"/clients/{client_id}/encounters/new"
    page = browser.get(path).text
    data = {
        "clinician_id": str(clinician_id),
        "date": starts.date().isoformat(),
        "time": starts.strftime("%H:%M"),
        "duration_minutes": "60",
        "lines-0-service_type_id": option_value(page, "lines-0-service_type_id", service),
        "lines-0-minutes": "60",
        "billing_type": "insurance",
        "client_insurance_id": option_value(page, "client_insurance_id", "M-"),
        "repeat": "none",
    }
    return location_id(browser.post(path, data), r"/encounters/(\d+)")


def hold_state(browser: Browser, encounter_id: int) -> tuple[str, str]:
    """(state, message) of the encounter's pre-authorization, as its notice shows them."""
    page = browser.get(f"/encounters/{encounter_id}/preauth", hx=True).text
    state = re.search(r'data-state="([a-z_]+)"', page).group(1)
    message = re.search(r'id="preauth-message">([^<]*)<', page)
    return state, (message.group(1) if message else "")


def charge(browser: Browser, encounter_id: int) -> int:
    """Charge the hold; the invoice's id."""
    browser.get(f"/encounters/{encounter_id}/charge", hx=True)
    return location_id(browser.post(f"/encounters/{encounter_id}/charge"), r"/invoices/(\d+)")


def invoice_figures(browser: Browser, invoice_id: int) -> dict[str, str]:
    page = browser.get(f"/invoices/{invoice_id}").text
    figures = {
        key: re.search(rf'id="invoice-{key}"[^>]*>([^<]*)<', page).group(1).strip()
        for key in ("status", "total", "paid", "due")
    }
    figures["references"] = re.findall(r'<code class="ref">(pi_[^<]+)</code>', page)
    return figures


def practice_now(time_zone: str) -> datetime:
    return datetime.now(ZoneInfo(time_zone)).replace(tzinfo=None)

"""Every route, every role, GET and POST, with hostile values: never a 5xx.

The walk takes each rule of `app.url_map` (so a new route is walked without being
listed), fills its path with real rows of the practice (the rows of
tests/web/test_access.py), then sends each value of HOSTILE in every query
parameter and every form field the app reads at once, and each of HOSTILE_IDS
in place of each id in the path. It runs signed out and as each role, on SQLite
and PostgreSQL (the `app` fixture). An exception or an answer of 500 or more is
a failure; every 4xx is fine, as long as it is one.
"""

import re
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask_wtf import FlaskForm

from tests.web.test_access import rows as rows  # the fixture
from webapp import forms

ROLES = (None, "clinician", "biller", "admin")  # None: signed out
METHODS = ("GET", "POST")

HOSTILE = {
    "int4 max + 1": "2147483648",
    "int8 max + 1": "9223372036854775808",
    "many digits": "9" * 5000,
    "negative": "-1",
    "zero": "0",
    "float": "1e308",
    "not a number": "NaN",
    "money at int4": "21474836.48",
    "money, many digits": "$99999999999999999999.99",
    "year 9999": "9999-12-31",
    "year 1": "0001-01-01",
    "year 10000": "10000-01-01",
    "no such day": "2026-02-30",
    "long text": "x" * 3000,
    "NUL": "a\x00b",
    "control": "\x01\x1b[31m",
    "newlines": "/\r\n/x\nSet-Cookie: a=b",
    "tab path": "/\t/evil.example",
    "unicode digits": "\u00b2\u0661\u0662",
    "right-to-left": "\u202eabc",
    "non-UTF-8": b"\xff\xfe\xc3",
}
HOSTILE_IDS = ("0", "2147483648", "9223372036854775808", "9" * 40)
HOSTILE_NAMES = ("..%2F..%2Fsecret_key", "x" * 300, "%00", "%FF%FE")

# Query parameters the views read: request.args and the report's filter form.
QUERY_NAMES = (
    "q", "status", "view", "date", "clinician", "page", "sort", "dir", "working", "start",
    "end", "by", "payer", "type", "client", "disposition", "next", "state",
    "person", "action", "record", "record_id", "from", "to",  # the audit trail's filters
)  # fmt: skip
# Form fields read with request.form (besides the FlaskForms' fields).
FORM_NAMES = ("release_date", "enabled", "direction", "id", "setup_intent_id", "add_line",
              "remove_line", "timezone", "week_start")  # fmt: skip

PATH_ROWS = {
    "payer_id": "payer",
    "service_type_id": "service_type",
    "auth_id": "authorization",
    "client_id": "client",
    "automation_id": "automation",
    "encounter_id": "encounter",
    "invoice_id": "invoice",
    "payment_id": "payment",
    "card_id": "card",
    "insurance_id": "insurance",
    "import_id": "legacy_import",
    "file_id": "decision_file",
    "name": "outbox_message",
    "user_id": "person",
}
PATH_CONSTANTS = {
    "setting": "block_overscheduling",
    "filename": "app.css",
    "token": "not-a-token-we-issued",
}
PATH_ARG = re.compile(r"<(?:(\w+):)?(\w+)>")


def _leaf_names(form) -> list[str]:
    names = []
    for field in form:
        if hasattr(field, "entries"):  # FieldList
            for entry in field.entries:
                names += _leaf_names(entry.form) if hasattr(entry, "form") else [entry.name]
        elif hasattr(field, "form"):  # FormField
            names += _leaf_names(field.form)
        else:
            names.append(field.name)
    return names


def _form_classes(base=FlaskForm):
    for sub in base.__subclasses__():
        if sub.__module__.startswith(forms.__name__ + "."):
            yield sub
        yield from _form_classes(sub)


def field_names(app: Flask) -> list[str]:
    """Every field name the app's forms read, FieldList entries included."""
    from webapp.forms.reports import ReportFilterForm

    names = set(FORM_NAMES)
    with app.test_request_context(method="POST"):
        for form_class in set(_form_classes()):
            names.update(_leaf_names(form_class(meta={"csrf": False})))
        report = ReportFilterForm(None, payers=[], clinicians=[], default_range=(None, None))
        names.update(_leaf_names(report))
    names.discard("csrf_token")
    return sorted(names)


def _rules(app: Flask):
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint, r.rule))


def _path(rule, rows_by_name: dict, replace: tuple[str, str] | None = None) -> str:
    def fill(match):
        converter, name = match.groups()
        if replace and name == replace[0]:
            return replace[1]
        if name in PATH_CONSTANTS:
            return PATH_CONSTANTS[name]
        return quote(str(rows_by_name[PATH_ROWS[name]]))

    return PATH_ARG.sub(fill, rule.rule)


def _encoded(names: list[str], value) -> str:
    return urlencode([(name, value) for name in names])


def _all_rules():
    """The app's rules, read from a throwaway app (pytest needs the ids up front)."""
    import os
    import tempfile

    os.environ.setdefault("COVERED_INSTANCE_PATH", tempfile.mkdtemp(prefix="covered-"))
    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": "redis://localhost/0"})
    return [(r.endpoint, r.rule) for r in _rules(app)]


ALL_RULES = _all_rules()


@pytest.mark.parametrize(
    ("endpoint", "rule_text"), ALL_RULES, ids=[f"{e}:{r}" for e, r in ALL_RULES]
)
def test_no_hostile_value_gets_a_server_error(app, world, rows, endpoint, rule_text):
    rule = next(
        r for r in app.url_map.iter_rules() if (r.endpoint, r.rule) == (endpoint, rule_text)
    )
    names = field_names(app)
    failures, sent = [], 0
    for role in ROLES:
        client = app.test_client()
        if role:
            response = client.post(
                "/login",
                data={"email": world.user(role).email, "password": "correct horse battery"},
            )
            assert response.status_code == 302, f"{role} could not sign in"
        requests = []
        for method in METHODS:
            path = _path(rule, rows)
            for label, value in HOSTILE.items():
                query = _encoded(QUERY_NAMES, value)
                body = _encoded(names, value) if method == "POST" else None
                requests.append((method, path, query, body, label))
            for arg in rule.arguments - set(PATH_CONSTANTS):
                hostile = HOSTILE_NAMES if arg == "name" else HOSTILE_IDS
                for value in hostile:
                    requests.append((method, _path(rule, rows, (arg, value)), "", None, arg))
        for method, path, query, body, label in requests:
            sent += 1
            try:
                response = client.open(
                    path,
                    method=method,
                    query_string=query,
                    data=body,
                    content_type="application/x-www-form-urlencoded" if body else None,
                )
                response.get_data()  # a streamed answer (the CSV) fails while it is read
            except Exception as error:  # noqa: BLE001 (any exception is the finding)
                failures.append(f"{role} {method} {path} [{label}]: {error!r}"[:300])
                continue
            if response.status_code >= 500:
                failures.append(f"{role} {method} {path} [{label}]: {response.status_code}")
            response.close()
    print(f"{endpoint} {rule_text}: {sent} requests, {len(failures)} server errors")
    assert failures == []


# One query parameter hostile at a time, the others valid: so a value that only hurts
# once the rest of the filters pass (a search text in a valid report range) is met too.
VALID_QUERY = {
    "start": "2026-03-01", "end": "2026-03-31", "by": "week", "status": "active", "view": "day",
    "date": "2026-03-02", "page": "1", "sort": "client", "dir": "asc", "type": "units",
    "q": "Number", "client": "Number", "next": "/schedule", "working": "1",
    "disposition": "late_cancellation", "from": "2026-03-01", "to": "2026-03-31",
    "record_id": "1", "state": "open",
}  # fmt: skip
QUERY_ROUTES = (
    "/reports/authorizations", "/reports/authorizations.csv", "/schedule", "/clients",
    "/notifications", "/login", "/encounters/{encounter}/cancel", "/encounters/{encounter}/billing",
    "/admin/audit", "/admin/audit/export.csv",
    "/", "/holds", "/holds.csv", "/invoices", "/invoices.csv", "/reports/authorizations/chart",
)  # fmt: skip


@pytest.mark.parametrize("route", QUERY_ROUTES)
def test_one_hostile_query_parameter_among_valid_ones_gets_no_server_error(
    app,
    client,
    auth,
    world,
    rows,
    route,
):
    auth.login(world.admin)
    path = route.format(**rows)
    baseline = {**VALID_QUERY, "payer": str(rows["payer"]), "clinician": str(world.clinician.id)}
    failures, sent = [], 0
    for name in QUERY_NAMES:
        for label, value in HOSTILE.items():
            query = urlencode({**baseline, name: value})
            sent += 1
            try:
                response = client.get(path, query_string=query)
                response.get_data()  # a streamed answer (the CSV) fails while it is read
            except Exception as error:  # noqa: BLE001 (any exception is the finding)
                failures.append(f"{path} {name}=[{label}]: {error!r}"[:300])
                continue
            if response.status_code >= 500:
                failures.append(f"{path} {name}=[{label}]: {response.status_code}")
            response.close()
    print(f"{route}: {sent} requests, {len(failures)} server errors")
    assert failures == []

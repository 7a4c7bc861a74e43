"""The pages are built from one kit, which is what lets the strict CSP on.

Every template and static file is read, so a new page that writes its own dialog shell,
an inline handler, an inline script or a role test fails here, with the file and line.
The kit: templates/components/ (dialog, confirm, badge, util bar, forms), the date and
money filters of webapp/templating.py, static/app.js (behaviour on data- attributes),
the colour variables at the top of static/app.css. The browser side of the same rule
(every page under the CSP, no violation) is tests/browser/test_content_security_policy.py.
"""

import re

import pytest

from webapp import PROJECT_ROOT
from webapp.models.organization import ADMIN, BILLER, CLINICIAN, User

TEMPLATES = PROJECT_ROOT / "templates"
STATIC = PROJECT_ROOT / "static"
KIT = TEMPLATES / "components"
# Email bodies are not pages: mail clients need inline styles and never run the app's CSP.
PAGES = sorted(p for p in TEMPLATES.rglob("*.html") if "email" not in p.parts)


def _hits(pattern: str, paths, flags=0) -> list[str]:
    """`path:line: text` for each line of `paths` that `pattern` matches."""
    found = []
    for path in paths:
        name = path.relative_to(PROJECT_ROOT) if PROJECT_ROOT in path.parents else path.name
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line, flags):
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_the_rule_finds_what_it_forbids(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<a onclick="go()">x</a>\n<script>go()</script>\n<b hx-on::load="x">\n')
    assert len(_hits(r"\son[a-z]+\s*=", [page], re.I)) == 1
    assert len(_hits(r"<script(?![^>]*\bsrc=)", [page])) == 1
    assert len(_hits(r"\bhx-on", [page])) == 1


def test_no_inline_event_handler():
    assert _hits(r"\son[a-z]+\s*=", PAGES, re.I) == []


def test_no_inline_script_and_no_script_outside_the_layout():
    """The layout's scripts, and a page's own static files through its {% block head %}."""
    assert _hits(r"<script(?![^>]*\bsrc=)", PAGES) == []
    scripts = [hit for hit in _hits(r"<script", PAGES) if not hit.startswith("templates/base.html")]
    own = re.compile(
        r"<script src=\"\{\{ url_for\('static', filename='[\w./-]+\.js'\) \}\}\" defer>"
    )
    assert all(own.search(hit) for hit in scripts), scripts
    for page in {hit.split(":", 1)[0] for hit in scripts}:
        text = (PROJECT_ROOT / page).read_text()
        head = text[text.index("{% block head %}") : text.index("{% block content %}")]
        assert head.count("<script") == text.count("<script"), page


def test_no_htmx_attribute_that_needs_eval():
    assert _hits(r"\bhx-on|\bhx-vars|js:|javascript:", PAGES) == []


def test_every_dialog_uses_the_one_shell():
    outside_the_kit = [p for p in PAGES if KIT not in p.parents]
    assert _hits(r"<dialog\b", outside_the_kit) == []
    assert _hits(r"data-close-dialog|<footer class=\"actions\"", outside_the_kit) == []
    shells = [p for p in outside_the_kit if "{% call dialog(" in p.read_text()]
    assert len(shells) >= 11  # the dialogs there are today, each through the kit


def test_roles_are_asked_as_properties_of_the_user():
    assert _hits(r"\.role\b(?!_label)|has_role", PAGES) == []
    views = sorted((PROJECT_ROOT / "webapp" / "views").glob("*.py"))
    python = [*views, PROJECT_ROOT / "webapp" / "access.py"]
    # has_role(*roles) stays: role_required's check of the roles a route declares.
    assert _hits(r"current_user\.role\b|has_role\((?!\*roles\))", python) == []


def test_generic_behaviour_lives_in_app_js_and_cards_js_is_only_the_card_form():
    assert sorted(p.name for p in STATIC.glob("*.js")) == ["app.js", "calendar.js", "cards.js"]
    assert "data-card-form" in (STATIC / "cards.js").read_text()
    assert "[data-calendar]" in (STATIC / "calendar.js").read_text()  # the schedule's grid only


@pytest.mark.parametrize(
    ("role", "is_admin", "can_bill", "is_clinician"),
    [
        (ADMIN, True, True, False),
        (BILLER, False, True, False),
        (CLINICIAN, False, False, True),
        ("someone", False, False, False),  # an unknown role may do nothing
    ],
)
def test_what_each_role_may_do(role, is_admin, can_bill, is_clinician):
    user = User(role=role)
    assert (user.is_admin, user.can_bill, user.is_clinician) == (is_admin, can_bill, is_clinician)


COLOUR = r"#[0-9a-fA-F]{3,8}\b|\b(?:rgb|hsl)a?\(|:\s*(?:white|black|red|green|blue|gr[ae]y)\b"


def test_colours_are_variables_of_the_root_block():
    css = (STATIC / "app.css").read_text()
    root = re.search(r"^:root \{\n(.*?)^\}", css, re.S | re.M)
    assert root and re.search(COLOUR, root.group(1))
    rules = css[: root.start()] + css[root.end() :]
    raw = [line for line in rules.splitlines() if re.search(COLOUR, line)]
    assert raw == []
    assert _hits(COLOUR, PAGES) == []


def test_no_style_attribute_so_styles_need_no_unsafe_inline():
    assert _hits(r"\bstyle=|<style", PAGES) == []


def test_dates_and_times_take_their_format_from_the_filters():
    assert _hits(r"strftime|local_datetime|short_date|%-?[abYIMpHA]\b|%-d", PAGES) == []


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("date", "Mar 3, 2026"),
        ("datetime", "Mar 3, 2026 9:05 AM"),
        ("visit", "Tue Mar 3, 2026 · 9:05 AM"),
        ("time", "9:05 AM"),
        ("weekday", "Tuesday"),
    ],
)
def test_each_filter_has_one_format_in_the_organizations_zone(app, value, shown):
    from datetime import date, datetime

    stored = datetime(2026, 3, 3, 14, 5)  # naive UTC: 9:05 AM in New York (EST)
    subject = date(2026, 3, 3) if value == "weekday" else stored
    with app.test_request_context():
        template = app.jinja_env.from_string("{{ subject | " + value + " }}")
        with _signed_in_zone("America/New_York"):
            assert template.render(subject=subject) == shown


def _signed_in_zone(zone: str):
    from unittest.mock import patch
    from zoneinfo import ZoneInfo

    return patch("webapp.templating.organization_zone", return_value=ZoneInfo(zone))


def test_confirmations_and_breadcrumbs_come_from_the_kit():
    """Confirm in the app's own dialog (hx-confirm, answered by static/app.js), never the
    browser's confirm()/alert(); breadcrumbs only through components/ui.html `crumbs`."""
    scripts = [STATIC / "app.js", STATIC / "cards.js"]
    assert _hits(r"(?<![.\w])(?:confirm|alert|prompt)\(|window\.confirm", scripts) == []
    assert _hits(r"window\.(?:confirm|alert|prompt)|return confirm\(", PAGES) == []  # the kit's
    # own `confirm(...)` macro is a form in a dialog, not the browser's
    outside_the_kit = [p for p in PAGES if KIT not in p.parents]
    assert _hits(r'class="crumbs', outside_the_kit) == []
    assert len(_hits(r"\{\{ crumbs\(", outside_the_kit)) >= 12


def test_dialogs_close_with_one_word():
    kit = (KIT / "dialog.html").read_text()
    assert '{% set CLOSE = "Close" %}' in kit
    assert _hits(r"dialog_actions\([\"'](?:Cancel|Back|Close)[\"']", PAGES) == []

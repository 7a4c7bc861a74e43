"""Billing of encounters: the Billing panel, Charge / Release Hold / cancellation fee,
Create invoice, Finalize / Cancel, the client's Billing tab and the invoice page.

Every money action opens a confirmation dialog (GET) showing the amounts, and acts
on POST; a refusal answers 409 with the reason in the dialog and changes nothing.
"""

import uuid

from flask import Blueprint, Response, flash, make_response, redirect, request, url_for
from flask_login import current_user

from webapp.access import (
    ALL_ROLES,
    BILLING_ROLES,
    get_client_or_404,
    get_encounter_or_404,
    get_invoice_or_404,
    get_payment_or_404,
    role_required,
)
from webapp.domain import billing_rules
from webapp.extensions import htmx
from webapp.forms.billing import CancelForm, ReceiptEmailForm, RefundForm, VoidForm
from webapp.models.base import utcnow
from webapp.services import (
    automations,
    billing_csv,
    charges,
    encounter_events,
    invoices,
    receipts,
    refunds,
)
from webapp.services.billing_panel import panel
from webapp.templating import datetime_text
from webapp.views.rendering import answer_refused, opened_directly, render_dialog, render_page

bp = Blueprint("billing", __name__)

MONEY_ACTIONS = {
    charges.CHARGE: charges.charge,
    charges.RELEASE: charges.release,
    charges.FEE: charges.charge_cancellation_fee,
}


def _go(url: str):
    """A full page load: HX-Redirect for HTMX requests, a redirect otherwise."""
    if htmx:
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


def _encounter_url(encounter) -> str:
    return url_for("encounters.show", encounter_id=encounter.id)


def _behind_encounter(encounter) -> dict:
    """An encounter's money dialogs open over its page, in the Billing panel's slot."""
    return {"behind": _encounter_url(encounter), "slot": "billing-dialog"}


def _behind_invoice(invoice_id: int) -> dict:
    """An invoice's dialogs (charge balance, void, refund) open over the invoice page."""
    return {"behind": url_for("billing.invoice", invoice_id=invoice_id), "slot": "billing-dialog"}


@bp.get("/encounters/<int:encounter_id>/billing")
@role_required(*ALL_ROLES)
def show_panel(encounter_id: int):
    """The Billing panel alone: polled while an automation or a payment is under way."""
    encounter = get_encounter_or_404(encounter_id)
    if whole_page := opened_directly(_encounter_url(encounter)):
        return whole_page
    billing_panel = panel(encounter)
    if request.args.get("working") and not billing_panel.working:
        response = make_response("", 200)
        response.headers["HX-Refresh"] = "true"  # done: the whole page shows the outcome
        return response
    return render_page(
        "encounters/_billing.html", "billing", encounter=encounter, panel=billing_panel
    )


def _money(encounter_id: int, action: str):
    encounter = get_encounter_or_404(encounter_id)
    message, status = None, 200
    if request.method == "POST":
        try:
            outcome = MONEY_ACTIONS[action](encounter, actor=current_user)
        except charges.ChargeRefused as refused:
            message, status = answer_refused(refused)
        else:
            flash(outcome.message, outcome.level)
            if outcome.invoice_id and action != charges.RELEASE:
                return _go(url_for("billing.invoice", invoice_id=outcome.invoice_id))
            return _go(_encounter_url(encounter))
    preview = charges.preview(encounter, action)
    return render_dialog(
        "billing/_money_dialog.html",
        **_behind_encounter(encounter),
        http_status=status,
        encounter=encounter,
        preview=preview,
        message=message,
    )


@bp.route("/encounters/<int:encounter_id>/charge", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def charge(encounter_id: int):
    return _money(encounter_id, charges.CHARGE)


@bp.route("/encounters/<int:encounter_id>/release", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def release(encounter_id: int):
    return _money(encounter_id, charges.RELEASE)


@bp.route("/encounters/<int:encounter_id>/cancellation-fee", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def cancellation_fee(encounter_id: int):
    return _money(encounter_id, charges.FEE)


@bp.route("/encounters/<int:encounter_id>/invoice", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def create_invoice(encounter_id: int):
    """Create the encounter's invoice by hand; refused while a hold is scheduled or held."""
    encounter = get_encounter_or_404(encounter_id)
    refusal, status = invoices.manual_invoice_refusal(encounter), 200
    if request.method == "POST":
        try:
            invoice = invoices.create_manual(encounter, actor=current_user)
        except invoices.InvoiceRefused as refused:
            refusal, status = answer_refused(refused)
        else:
            flash(f"Invoice {invoice.number} created.", "success")
            return _go(url_for("billing.invoice", invoice_id=invoice.id))
    return render_dialog(
        "billing/_invoice_dialog.html",
        **_behind_encounter(encounter),
        http_status=status,
        encounter=encounter,
        lines=invoices.cost_lines(encounter),
        refusal=refusal,
        existing=invoices.for_encounter(encounter.id),
    )


@bp.route("/encounters/<int:encounter_id>/finalize", methods=["GET", "POST"])
@role_required(*ALL_ROLES)
def finalize(encounter_id: int):
    encounter = get_encounter_or_404(encounter_id)
    return _close(encounter, billing_rules.ENCOUNTER_FINALIZED, None)


@bp.route("/encounters/<int:encounter_id>/cancel", methods=["GET", "POST"])
@role_required(*ALL_ROLES)
def cancel(encounter_id: int):
    encounter = get_encounter_or_404(encounter_id)
    form = CancelForm(formdata=request.form if request.method == "POST" else request.args)
    if request.method == "GET" and not request.args.get("disposition"):
        form.disposition.data = billing_rules.suggested_disposition(encounter.starts_at, utcnow())
    return _close(encounter, billing_rules.ENCOUNTER_CANCELLED, form)


def _close(encounter, event: str, form: CancelForm | None):
    """Finalize / Cancel: the dialog (with the rule that would run), or the event."""
    message, status = None, 200
    if request.method == "POST" and (form is None or form.validate()):
        try:
            if form is None:
                confirmed = request.form.get("confirm_early")
                run = encounter_events.finalize(
                    encounter, actor=current_user, confirm_early=confirmed
                )
            else:
                run = encounter_events.cancel(encounter, form.disposition.data, actor=current_user)
        except encounter_events.EventRefused as refused:
            message, status = answer_refused(refused)
        else:
            verb = "finalized" if form is None else "cancelled"
            flash(f"Appointment {verb}. {run.explanation}", "success")
            return _go(_encounter_url(encounter))
    elif form is not None and form.errors:
        status = 422
    disposition = form.disposition.data if form else None
    effect = automations.preview_effect(encounter, event, disposition)
    return render_dialog(
        "billing/_close_dialog.html",
        **_behind_encounter(encounter),
        http_status=status,
        encounter=encounter,
        event=event,
        form=form,
        match=effect.match,
        effect=effect,
        message=message,
        refusal=billing_rules.event_refusal(event, encounter.status),
        early=encounter_events.early_keep(current_user.organization, encounter)
        if form is None
        else None,
    )


@bp.get("/clients/<int:client_id>/billing")
@role_required(*BILLING_ROLES)
def client_billing(client_id: int):
    client = get_client_or_404(client_id)
    return render_page(
        "billing/client.html",
        "content",
        client=client,
        tab="billing",
        summaries=invoices.client_invoices(client.id),
        releases=invoices.client_releases(client.id),
        kind_labels=billing_rules.PAYMENT_KIND_LABELS,
        status_labels=billing_rules.INVOICE_STATUS_LABELS,
    )


@bp.get("/clients/<int:client_id>/billing.csv")
@role_required(*BILLING_ROLES)
def client_billing_csv(client_id: int):
    """The client's invoice lines as CSV (quantity × unit price = amount)."""
    client = get_client_or_404(client_id)
    return Response(
        billing_csv.client_invoice_lines(client),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{billing_csv.filename(client)}"'},
    )


@bp.route("/invoices/<int:invoice_id>/charge-balance", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def charge_balance(invoice_id: int):
    """Charge what is still due on the invoice to the card on file (confirm first)."""
    found = get_invoice_or_404(invoice_id)
    message, status = None, 200
    if request.method == "POST":
        try:
            outcome = charges.charge_balance(found, actor=current_user)
        except charges.ChargeRefused as refused:
            message, status = answer_refused(refused)
        else:
            flash(outcome.message, outcome.level)
            return _go(url_for("billing.invoice", invoice_id=found.id))
    return render_dialog(
        "billing/_balance_dialog.html",
        **_behind_invoice(found.id),
        http_status=status,
        invoice=found,
        preview=charges.balance_preview(found),
        message=message,
    )


@bp.route("/payments/<int:payment_id>/refund", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def refund(payment_id: int):
    """Refund (part of) a payment, with a reason: the dialog, then the refund."""
    payment = get_payment_or_404(payment_id)
    form = RefundForm()
    message, status = None, 200
    if request.method == "GET":
        form.token.data = uuid.uuid4().hex
        form.amount.data = refunds.preview(payment).refundable_cents
    elif form.validate_on_submit():
        data = form.data
        try:
            outcome = refunds.refund(payment, data["amount"], data["reason"], data["note"],
                                     data["token"], actor=current_user)  # fmt: skip
        except refunds.RefundRefused as refused:
            message, status = answer_refused(refused)
        else:
            flash(outcome.message, outcome.level)
            return _go(url_for("billing.invoice", invoice_id=payment.invoice_id))
    else:
        status = 422
    behind = (_behind_invoice(payment.invoice_id) if payment.invoice_id else
              {"behind": url_for("billing.client_billing", client_id=payment.client_id),
               "slot": "billing-dialog"})  # fmt: skip
    return render_dialog("billing/_refund_dialog.html", **behind, http_status=status,
                       form=form, preview=refunds.preview(payment), message=message,
                       kind_labels=billing_rules.PAYMENT_KIND_LABELS)  # fmt: skip


@bp.route("/invoices/<int:invoice_id>/void", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def void(invoice_id: int):
    """Void an invoice with nothing paid on it: the dialog, then the void."""
    found = get_invoice_or_404(invoice_id)
    form = VoidForm()
    message, status = None, 200
    if form.validate_on_submit():
        try:
            refunds.void(found, form.reason.data, actor=current_user)
        except refunds.RefundRefused as refused:
            message, status = answer_refused(refused)
        else:
            flash(f"Invoice {found.number} is void.", "success")
            return _go(url_for("billing.invoice", invoice_id=found.id))
    elif request.method == "POST":
        status = 422
    refusal = refunds.void_preview(found)
    return render_dialog("billing/_void_dialog.html", **_behind_invoice(found.id),
                         http_status=status, form=form,
                       invoice=found, refusal=refusal, message=message)  # fmt: skip


@bp.get("/invoices/<int:invoice_id>")
@role_required(*BILLING_ROLES)
def invoice(invoice_id: int):
    found = get_invoice_or_404(invoice_id)
    return render_page(
        "billing/invoice.html",
        "content",
        summary=invoices.summarize(found),
        hold=invoices.hold_money(found),
        refundable={p.id for p in found.payments if refunds.preview(p).refusal is None},
        kind_labels=billing_rules.PAYMENT_KIND_LABELS,
        status_labels=billing_rules.INVOICE_STATUS_LABELS,
    )


@bp.get("/invoices/<int:invoice_id>/receipt")
@role_required(*BILLING_ROLES)
def receipt(invoice_id: int):
    """The invoice's receipt, to print (the print stylesheet leaves only the receipt)."""
    found = get_invoice_or_404(invoice_id)
    return render_page("billing/receipt.html", "content", receipt=receipts.receipt(found))


@bp.get("/invoices/<int:invoice_id>/receipt.pdf")
@role_required(*BILLING_ROLES)
def receipt_pdf(invoice_id: int):
    """The receipt as a PDF download (webapp/services/receipts.py)."""
    found = receipts.receipt(get_invoice_or_404(invoice_id))
    body = receipts.pdf(found, show_time=datetime_text)
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
    )


@bp.route("/invoices/<int:invoice_id>/email-receipt", methods=["GET", "POST"])
@role_required(*BILLING_ROLES)
def email_receipt(invoice_id: int):
    """Email the receipt to the client (the PDF attached): the dialog, then the send."""
    found = get_invoice_or_404(invoice_id)
    form = ReceiptEmailForm()
    message, status = None, 200
    if request.method == "GET":
        form.email.data = found.client.email or ""
    elif form.validate_on_submit():
        try:
            receipts.send(found, form.email.data, actor=current_user, show_time=datetime_text)
        except receipts.ReceiptRefused as refused:
            message, status = answer_refused(refused)
        else:
            flash(f"Receipt {found.number} sent to {form.email.data.strip()}.", "success")
            return _go(url_for("billing.invoice", invoice_id=found.id))
    else:
        status = 422
    return render_dialog("billing/_receipt_dialog.html", **_behind_invoice(found.id),
                         http_status=status, form=form, invoice=found, message=message,
                         due_cents=invoices.summarize(found).due_cents)  # fmt: skip

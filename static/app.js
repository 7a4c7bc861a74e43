/* Covered's one script for generic page behaviour. Templates carry no inline script and
 * no on…= handler (the Content-Security-Policy forbids both): behaviour hangs off these
 * data- attributes, through listeners delegated from the document, so it works on
 * content htmx swaps in later as well as on the first page load.
 *
 *   <dialog data-modal>          opens as a modal as soon as it is loaded or swapped in
 *                                (templates/components/dialog.html writes the shell);
 *   [data-close-dialog]          a click closes (removes) the dialog it is in; Escape
 *                                does the same for the open dialog;
 *   [data-opens-dialog]          a button whose htmx request answers with a dialog: focus
 *                                returns to it when that dialog closes (any dialog gives
 *                                the focus back to whatever had it when it opened);
 *   [hx-confirm]                 asks in the app's own dialog (the <template
 *                                id="confirm-template"> of base.html), not the browser's;
 *                                data-confirm-label names its button ("Remove");
 *   [data-show-when="name=value"]  shown (its fields enabled) only while the radio or
 *                                select `name` of its form has that value; hidden, its
 *                                fields are disabled, so nothing hidden is sent;
 *   input[data-duration-from]    an appointment's duration: it follows the sum of the
 *                                form's [data-service-minutes] (of lines with a service
 *                                chosen) until someone types a duration of their own;
 *   [data-nav-toggle]            the header's Menu button: opens and folds the links
 *                                (narrow screens; aria-expanded says which);
 *   [data-load-dialog]           a dialog's own URL opened directly: the page behind it
 *                                loads it into its slot (data-dialog-slot) once there;
 *   <main> tables                each is wrapped in a .table-scroll, which scrolls
 *                                sideways by itself (class "scrolls" when it must), so
 *                                the page never does;
 *   [data-price-label]           a label whose text follows a unit-length field:
 *                                data-unit-field="#id" (the field),
 *                                data-per-unit="Price per unit ({} min)",
 *                                data-per-visit="Price per visit".
 *
 * static/cards.js is the one other script: the Stripe.js card form of the Add card dialog.
 */
(function () {
  "use strict";

  let lastTrigger = null;
  // What had the focus before each open dialog (by dialog), to give it back on close.
  const openers = new WeakMap();

  function within(root, selector) {
    const scope = root && root.querySelectorAll ? root : document;
    const found = Array.from(scope.querySelectorAll(selector));
    if (scope.matches && scope.matches(selector)) found.push(scope);
    return found;
  }

  function openDialogs(root) {
    within(root, "dialog[data-modal]").forEach(function (dialog) {
      if (dialog.open || !dialog.isConnected) return;
      const active = document.activeElement;
      openers.set(dialog, lastTrigger || (active !== document.body ? active : null));
      dialog.showModal();
    });
  }

  function giveFocusBack(dialog) {
    const opener = openers.get(dialog) || lastTrigger;
    if (opener && opener.isConnected) opener.focus();
    lastTrigger = null;
  }

  function closeDialog(dialog) {
    dialog.remove();
    giveFocusBack(dialog);
  }

  // A dialog htmx swaps away (a form that succeeded empties its slot) gives the focus back too.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const target = event.detail.target;
    if (!target || !target.querySelectorAll) return;
    const leaving = within(target, "dialog[open]");
    if (leaving.length) {
      const dialog = leaving[0];
      requestAnimationFrame(function () {
        if (!dialog.isConnected && !document.querySelector("dialog[open]")) giveFocusBack(dialog);
      });
    }
  });

  function wrapTables(root) {
    within(root, "main table").forEach(function (table) {
      const parent = table.parentElement;
      if (!parent || parent.classList.contains("table-scroll")) return;
      // A library's own grid (the calendar's) lays out its tables itself.
      if (table.closest("[data-calendar], [data-own-layout]")) return;
      const wrapper = document.createElement("div");
      wrapper.className = "table-scroll";
      parent.insertBefore(wrapper, table);
      wrapper.appendChild(table);
    });
    markScrolling();
  }

  function markScrolling() {
    document.querySelectorAll(".table-scroll").forEach(function (wrapper) {
      wrapper.classList.toggle("scrolls", wrapper.scrollWidth > wrapper.clientWidth + 1);
    });
  }

  function loadPendingDialog() {
    const pending = document.querySelector("[data-load-dialog]");
    if (!pending || !window.htmx) return;
    const slot = document.getElementById(pending.dataset.dialogSlot);
    if (!slot) return;  // the slot comes with a panel htmx loads later: try again then
    const url = pending.dataset.loadDialog;
    pending.remove();
    window.htmx.ajax("GET", url, { target: slot, swap: "innerHTML" });
  }

  function askInDialog(question, label, answer) {
    const template = document.getElementById("confirm-template");
    if (!template) return;  // a fragment opened by itself has no layout: nothing to ask in
    const dialog = template.content.firstElementChild.cloneNode(true);
    dialog.querySelector("[data-confirm-text]").textContent = question;
    const yes = dialog.querySelector("[data-confirm-yes]");
    yes.textContent = label || yes.textContent;
    yes.addEventListener("click", function () {
      closeDialog(dialog);
      answer(true);
    });
    document.body.appendChild(dialog);
    openDialogs(dialog);
    yes.focus();
  }

  document.addEventListener("htmx:confirm", function (event) {
    if (!event.detail.question) return;  // no hx-confirm: htmx goes ahead by itself
    event.preventDefault();
    const trigger = event.detail.elt;
    lastTrigger = trigger;
    askInDialog(event.detail.question, trigger.dataset.confirmLabel, function (yes) {
      if (yes) event.detail.issueRequest(true);
    });
  });

  function followUnits(root) {
    within(root, "[data-price-label]").forEach(function (label) {
      const field = document.querySelector(label.dataset.unitField);
      if (!field || label.dataset.ready) return;
      label.dataset.ready = "1";
      const target = label.querySelector("[data-label-text]") || label;
      function update() {
        const minutes = parseInt(field.value, 10);
        target.textContent = minutes > 0
          ? label.dataset.perUnit.replace("{}", String(minutes))
          : label.dataset.perVisit;
      }
      field.addEventListener("input", update);
      update();
    });
  }

  function showWhen() {
    document.querySelectorAll("[data-show-when]").forEach(function (element) {
      const [name, value] = element.dataset.showWhen.split("=");
      const scope = element.closest("form") || document;
      const chosen = Array.from(scope.querySelectorAll(`[name="${name}"]`))
        .find((field) => field.tagName === "SELECT" || field.checked);
      const show = Boolean(chosen) && chosen.value === value;
      element.hidden = !show;
      element.querySelectorAll("input, select, textarea").forEach(function (field) {
        field.disabled = !show;
      });
    });
  }

  function serviceMinutes(form) {
    return Array.from(form.querySelectorAll("input[data-service-minutes]"))
      .filter(function (input) {
        const line = input.closest(".line");
        const service = line && line.querySelector("select");
        return !service || (service.value !== "" && service.value !== "0");
      })
      .reduce((total, input) => total + (parseInt(input.value, 10) || 0), 0);
  }

  function followDuration(root) {
    within(root, "input[data-duration-from]").forEach(function (duration) {
      if (duration.dataset.ready || !duration.form) return;
      duration.dataset.ready = "1";
      const form = duration.form;
      let follows = !duration.value || parseInt(duration.value, 10) === serviceMinutes(form);
      duration.addEventListener("input", function () {
        follows = duration.value.trim() === "";
      });
      ["input", "change"].forEach(function (type) {
        form.addEventListener(type, function (event) {
          if (event.target === duration || !follows) return;
          const total = serviceMinutes(form);
          duration.value = total > 0 ? String(total) : "";
        });
      });
    });
  }

  function setUp(root) {
    openDialogs(root);
    followUnits(root);
    wrapTables(root);
    loadPendingDialog();
    showWhen();
    followDuration(root);
  }

  document.addEventListener("change", showWhen);

  window.addEventListener("resize", markScrolling);

  document.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-nav-toggle]");
    if (toggle) {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      toggle.closest(".site-nav").classList.toggle("open", open);
    }
    const trigger = event.target.closest("[data-opens-dialog]");
    if (trigger) lastTrigger = trigger;
    const closer = event.target.closest("[data-close-dialog]");
    if (closer && closer.closest("dialog")) closeDialog(closer.closest("dialog"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const dialog = event.target.closest && event.target.closest("dialog[data-modal]");
    if (dialog) {
      event.preventDefault();
      closeDialog(dialog);
    }
  });
  document.addEventListener("htmx:load", function (event) {
    setUp(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    setUp(document);
  });
})();

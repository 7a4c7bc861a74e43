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
 *                                returns to it when that dialog closes;
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

  function within(root, selector) {
    const scope = root && root.querySelectorAll ? root : document;
    const found = Array.from(scope.querySelectorAll(selector));
    if (scope.matches && scope.matches(selector)) found.push(scope);
    return found;
  }

  function openDialogs(root) {
    within(root, "dialog[data-modal]").forEach(function (dialog) {
      if (!dialog.open && dialog.isConnected) dialog.showModal();
    });
  }

  function closeDialog(dialog) {
    dialog.remove();
    if (lastTrigger && lastTrigger.isConnected) lastTrigger.focus();
    lastTrigger = null;
  }

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

  function setUp(root) {
    openDialogs(root);
    followUnits(root);
  }

  document.addEventListener("click", function (event) {
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

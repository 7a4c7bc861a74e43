/* Behaviour for server-rendered pieces, hung on data- attributes (no inline handlers,
 * so a strict Content-Security-Policy can forbid inline script):
 *   <dialog data-modal>        opens as a modal once swapped in (htmx) or loaded;
 *   [data-close-dialog]        closes (removes) the dialog it is in; Escape does too;
 *   [data-price-label]         a label whose text follows a unit-length field:
 *                              data-unit-field="#id", data-per-unit="Price per unit ({} min)",
 *                              data-per-visit="Price per visit". */
(function () {
  "use strict";

  function openDialogs(root) {
    const scope = root && root.querySelectorAll ? root : document;
    const dialogs = Array.from(scope.querySelectorAll("dialog[data-modal]"));
    if (scope.matches && scope.matches("dialog[data-modal]")) dialogs.push(scope);
    dialogs.forEach(function (dialog) {
      if (!dialog.open && dialog.isConnected) dialog.showModal();
    });
  }

  function followUnits(root) {
    const scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("[data-price-label]").forEach(function (label) {
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

  document.addEventListener("click", function (event) {
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").remove();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const dialog = event.target.closest && event.target.closest("dialog[data-modal]");
    if (dialog) {
      event.preventDefault();
      dialog.remove();
    }
  });
  document.addEventListener("htmx:load", function (event) {
    openDialogs(event.target);
    followUnits(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    openDialogs(document);
    followUnits(document);
  });
})();

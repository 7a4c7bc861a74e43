/* Add card: mount Stripe.js's card Element in <form data-card-form>, confirm the
 * SetupIntent in the browser, then post the SetupIntent's id to Covered, which reads the
 * card back from the payment processor. Stripe.js comes from the form's data-js-url
 * (STRIPE_JS_URL) only, which the Content-Security-Policy allows. The form's other data-
 * attributes: data-publishable-key, data-client-secret, data-save-url. Set up each time
 * the dialog is swapped in; a form is set up once. */
(function () {
  "use strict";

  function setUp(form) {
    if (form.dataset.ready) return;
    form.dataset.ready = "1";
    const submit = form.querySelector("#card-submit");
    const mountPoint = form.querySelector("#card-element");

    function showError(message) {
      const box = form.querySelector("#card-error");
      box.textContent = message;
      box.hidden = false;
    }

    function clearError() {
      const box = form.querySelector("#card-error");
      box.textContent = "";
      box.hidden = true;
    }

    function busy(on) {
      submit.disabled = on;
      submit.setAttribute("aria-busy", on ? "true" : "false");
    }

    function loadStripe(url) {
      if (window.Stripe) return Promise.resolve(window.Stripe);
      return new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = url;
        script.onload = function () { window.Stripe ? resolve(window.Stripe) : reject(new Error("no Stripe")); };
        script.onerror = function () { reject(new Error("unreachable")); };
        document.head.appendChild(script);
      });
    }

    loadStripe(form.dataset.jsUrl).then(function (Stripe) {
      const stripe = Stripe(form.dataset.publishableKey);
      const card = stripe.elements().create("card", { hidePostalCode: false });
      card.mount(mountPoint);
      mountPoint.removeAttribute("aria-busy");
      card.on("change", function (event) {
        if (event && event.error) showError(event.error.message); else clearError();
      });
      submit.disabled = false;

      form.addEventListener("submit", async function (event) {
        event.preventDefault();
        clearError();
        busy(true);
        let result;
        try {
          result = await stripe.confirmCardSetup(form.dataset.clientSecret, {
            payment_method: { card: card, billing_details: { name: form.cardholder_name.value } },
          });
        } catch (error) {
          result = { error: { message: "The payment processor could not be reached. Try again." } };
        }
        if (result.error) {
          showError(result.error.message || "The card could not be saved.");
          busy(false);
          return;
        }
        await htmx.ajax("POST", form.dataset.saveUrl, {
          source: form,
          target: "#cards-panel",
          swap: "outerHTML",
          values: { setup_intent_id: result.setupIntent.id },
        });
        if (document.body.contains(form)) busy(false); // an error came back next to the form
      });
    }).catch(function () {
      showError("The card form could not load from the payment processor. Close this and try again.");
    });
  }

  document.addEventListener("htmx:load", function (event) {
    const root = event.target;
    const forms = Array.from(root.querySelectorAll ? root.querySelectorAll("form[data-card-form]") : []);
    if (root.matches && root.matches("form[data-card-form]")) forms.push(root);
    forms.forEach(setUp);
  });
})();

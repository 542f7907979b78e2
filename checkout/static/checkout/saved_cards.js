/*
 * Paying with a saved card (#saved-card-form on the card page).
 *
 * Without JavaScript the form posts the chosen card's id and its CVC, and the server builds
 * the seToken. With the gateway's key on the form (data-setoken-key) and rsa.js at hand,
 * this script encrypts the CVC with the card's bindingId into the seToken (rsa.js's
 * buildForBinding: the bindingId slot filled, the card number and expiry left empty), removes the CVC input's name so that the browser
 * cannot post it, and posts the card's id and the seToken only.
 *
 * Signals: form[data-card-ready="true"] once set up; form[aria-busy="true"] once submitted.
 * Messages come from the page's <script id="card-messages"> (cvc_required, cvc_length_3,
 * cvc_length_4, encrypt_failed, module_failed, processing).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var RSA_URL = script && script.src ? new URL("rsa.js", script.src).href : "";
  var messages = {};

  function text(key) {
    return Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
  }

  function loadRsa() {
    if (window.checkoutSeToken) return Promise.resolve(window.checkoutSeToken);
    return new Promise(function (resolve, reject) {
      var tag = document.createElement("script");
      tag.src = RSA_URL;
      tag.async = true;
      tag.onload = function () {
        if (window.checkoutSeToken) resolve(window.checkoutSeToken);
        else reject(new Error("rsa.js did not load"));
      };
      tag.onerror = function () { reject(new Error("rsa.js did not load")); };
      document.head.appendChild(tag);
    });
  }

  function setUp(form) {
    var key = (form.getAttribute("data-setoken-key") || "").trim();
    var cvc = form.querySelector('input[name="cvc"]');
    var token = form.querySelector('input[name="se_token"]');
    var button = form.querySelector('button[type="submit"]');
    var canEncrypt = !!(key && token && typeof BigInt === "function" && window.crypto &&
      typeof window.crypto.getRandomValues === "function" && typeof TextEncoder === "function");
    var submitting = false;
    var error = null;

    function chosen() {
      return form.querySelector('input[name="saved_card"]:checked');
    }

    function showError(message) {
      if (!cvc) return;
      if (!error) {
        error = document.createElement("p");
        error.className = "field-error";
        error.id = cvc.id + "_error";
        cvc.parentNode.appendChild(error);
      }
      error.textContent = message;
      error.hidden = !message;
      if (message) {
        cvc.setAttribute("aria-invalid", "true");
        cvc.setAttribute("aria-describedby", error.id);
      } else {
        cvc.removeAttribute("aria-invalid");
      }
    }

    function cvcProblem() {
      if (!cvc) return "";
      var value = cvc.value.replace(/\D/g, "");
      var card = chosen();
      var wanted = card && card.getAttribute("data-brand").toUpperCase() === "AMEX" ? 4 : 3;
      if (!value) return text("cvc_required");
      if (value.length !== wanted) return text("cvc_length_" + wanted);
      return "";
    }

    if (cvc) {
      cvc.addEventListener("input", function () {
        cvc.value = cvc.value.replace(/\D/g, "").slice(0, 4);
        if (error && !error.hidden) showError(cvcProblem());
      });
    }

    if (canEncrypt && cvc) {
      cvc.setAttribute("data-field", "cvc");
      cvc.removeAttribute("name");
      form.setAttribute("data-setoken", "browser");
      loadRsa().catch(function () {});
    }

    function setBusy(busy) {
      submitting = busy;
      form.setAttribute("aria-busy", busy ? "true" : "false");
      if (cvc) cvc.readOnly = busy;
      if (button) {
        button.disabled = busy;
        if (busy) {
          button.setAttribute("data-label", button.textContent);
          button.textContent = text("processing");
        } else if (button.hasAttribute("data-label")) {
          button.textContent = button.getAttribute("data-label");
        }
      }
    }

    function encrypt(api) {
      var card = chosen();
      token.value = api.buildForBinding(card.getAttribute("data-binding-id"), cvc.value, key);
    }

    form.addEventListener("submit", function (event) {
      if (submitting) {
        event.preventDefault();
        return;
      }
      var problem = cvcProblem();
      showError(problem);
      if (problem || !chosen()) {
        event.preventDefault();
        if (cvc) cvc.focus();
        return;
      }
      if (!canEncrypt || !cvc) {
        window.setTimeout(function () { setBusy(true); }, 0);
        submitting = true;
        return;
      }
      event.preventDefault();
      setBusy(true);
      loadRsa().then(
        function (api) {
          try {
            encrypt(api);
          } catch (err) {
            token.value = "";
            setBusy(false);
            showError(text("encrypt_failed"));
            return;
          }
          form.submit();
        },
        function () {
          setBusy(false);
          showError(text("module_failed"));
        }
      );
    });

    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        setBusy(false);
        if (token) token.value = "";
      }
    });

    form.setAttribute("data-card-ready", "true");
  }

  function init() {
    var data = document.getElementById("card-messages");
    try {
      messages = data ? JSON.parse(data.textContent) : {};
    } catch (err) {
      messages = {};
    }
    var form = document.getElementById("saved-card-form");
    if (form) setUp(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

/*
 * The card form (#card-form): formatting, checks before submit, and the seToken.
 *
 * The page works without JavaScript: its inputs carry ordinary names and the server builds
 * the token. When the form carries the gateway's public key (data-setoken-key) and the
 * browser can encrypt, this script takes over: it removes the name attribute from the card
 * number, expiry and CVC inputs, so the browser cannot submit them, and posts only the
 * seToken, the cardholder name, the brand and the last four digits.
 *
 * Messages: every word the script shows the shopper comes from the page, in the page's
 * language, as JSON data in <script type="application/json" id="card-messages"> (the
 * checkout's {% card_messages %} tag writes it). A message the page lacks shows its key.
 *
 * Ready signal: once the form is set up (formatting, checks and, with a key, the takeover
 * above), the very last step marks it with data-card-ready="true". Tests, a shop's own
 * included, wait for form[data-card-ready] before they type into the fields or read them.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  // Resolved against this file's own URL, so it follows STATIC_URL (or a CDN) by itself.
  var RSA_URL = script && script.src ? new URL("rsa.js", script.src).href : "";

  var BRANDS = [
    { id: "AMEX", label: "American Express", re: /^3[47]/, lengths: [15], groups: [4, 6, 5], cvc: 4 },
    { id: "DINERS", label: "Diners Club", re: /^3(0[0-5]|[689])/, lengths: [14, 16, 19], groups: [4, 6, 4], cvc: 3 },
    { id: "JCB", label: "JCB", re: /^35(2[89]|[3-8])/, lengths: [16, 17, 18, 19], groups: [4, 4, 4, 4, 3], cvc: 3 },
    { id: "MAESTRO", label: "Maestro", re: /^(5018|5020|5038|5893|6304|6759|676[1-3])/, lengths: [13, 14, 15, 16, 17, 18, 19], groups: [4, 4, 4, 4, 3], cvc: 3 },
    { id: "MASTERCARD", label: "Mastercard", re: /^(5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720)/, lengths: [16], groups: [4, 4, 4, 4], cvc: 3 },
    { id: "VISA", label: "Visa", re: /^4/, lengths: [13, 16, 19], groups: [4, 4, 4, 4, 3], cvc: 3 },
    { id: "DISCOVER", label: "Discover", re: /^(6011|64[4-9]|65)/, lengths: [16, 17, 18, 19], groups: [4, 4, 4, 4, 3], cvc: 3 },
    { id: "CUP", label: "UnionPay", re: /^62/, lengths: [16, 17, 18, 19], groups: [4, 4, 4, 4, 3], cvc: 3 },
  ];
  // 13 digits at least: the seToken (rsa.js) and the gateway take 13 to 19.
  var UNKNOWN_BRAND = { id: "", label: "", lengths: [13, 14, 15, 16, 17, 18, 19], groups: [4, 4, 4, 4, 3], cvc: 3 };

  var messages = {};

  // The page's messages (see the top); read once the document is parsed.
  function readMessages() {
    var data = document.getElementById("card-messages");
    if (!data) return {};
    try {
      var parsed = JSON.parse(data.textContent || "{}");
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch (err) {
      return {};
    }
  }

  // Never empty: an empty message would count as "no error".
  function text(key) {
    var value = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : "";
    return String(value || "") || key;
  }

  function digits(value) {
    return String(value || "").replace(/\D/g, "");
  }

  function brandOf(number) {
    for (var i = 0; i < BRANDS.length; i++) if (BRANDS[i].re.test(number)) return BRANDS[i];
    return UNKNOWN_BRAND;
  }

  function luhnValid(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = number.charCodeAt(number.length - 1 - i) - 48;
      if (i % 2 === 1) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    return number.length > 0 && sum % 10 === 0;
  }

  function groupNumber(number, brand) {
    var parts = [];
    var pos = 0;
    for (var i = 0; i < brand.groups.length && pos < number.length; i++) {
      parts.push(number.slice(pos, pos + brand.groups[i]));
      pos += brand.groups[i];
    }
    if (pos < number.length) parts.push(number.slice(pos));
    return parts.join(" ");
  }

  // "MM/YY" (also "M/YY", "MM/YYYY") -> "YYYYMM", or "" when it is not a date at all.
  function expiryToYYYYMM(value) {
    var m = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(value || "");
    if (!m) return "";
    var month = parseInt(m[1], 10);
    if (month < 1 || month > 12) return "";
    var year = m[2].length === 2 ? 2000 + parseInt(m[2], 10) : parseInt(m[2], 10);
    return String(year) + (month < 10 ? "0" : "") + month;
  }

  function canEncrypt() {
    return (
      typeof BigInt === "function" &&
      typeof TextEncoder === "function" &&
      !!window.crypto &&
      typeof window.crypto.getRandomValues === "function"
    );
  }

  var rsaLoading = null;

  function loadRsa() {
    if (window.checkoutSeToken) return Promise.resolve(window.checkoutSeToken);
    if (!rsaLoading) {
      rsaLoading = new Promise(function (resolve, reject) {
        var tag = document.createElement("script");
        tag.src = RSA_URL;
        tag.async = true;
        tag.onload = function () {
          if (window.checkoutSeToken) resolve(window.checkoutSeToken);
          else reject(new Error("rsa.js did not load"));
        };
        tag.onerror = function () {
          rsaLoading = null;
          reject(new Error("rsa.js did not load"));
        };
        document.head.appendChild(tag);
      });
    }
    return rsaLoading;
  }

  function setUp(form) {
    var field = function (name) { return form.querySelector('[name="' + name + '"]'); };
    var inputs = {
      name: field("cardholder_name"),
      pan: field("pan"),
      expiry: field("expiry"),
      cvc: field("cvc"),
    };
    var hidden = { token: field("se_token"), brand: field("brand"), last4: field("last4") };
    if (!inputs.pan || !inputs.expiry || !inputs.cvc) return;
    var button = form.querySelector('button[type="submit"], button:not([type]), input[type="submit"]');
    var publicKey = (form.getAttribute("data-setoken-key") || "").trim();
    var tokenMode = !!publicKey && !!hidden.token && !!RSA_URL && canEncrypt();
    var submitting = false;
    // The checks below give clearer, accessible messages than the browser's own bubbles.
    form.noValidate = true;

    // Phones show a digit keypad; password managers and autofill recognise the fields.
    [["pan", "numeric", "cc-number"], ["expiry", "numeric", "cc-exp"], ["cvc", "numeric", "cc-csc"]]
      .forEach(function (spec) {
        var input = inputs[spec[0]];
        if (!input.hasAttribute("inputmode")) input.setAttribute("inputmode", spec[1]);
        if (!input.hasAttribute("autocomplete")) input.setAttribute("autocomplete", spec[2]);
      });
    if (inputs.name && !inputs.name.hasAttribute("autocomplete")) inputs.name.setAttribute("autocomplete", "cc-name");

    var brandBadge = form.querySelector("[data-card-brand]");
    if (!brandBadge) {
      brandBadge = document.createElement("span");
      brandBadge.className = "card-brand";
      brandBadge.setAttribute("data-card-brand", "");
      inputs.pan.insertAdjacentElement("afterend", brandBadge);
    }
    brandBadge.setAttribute("aria-live", "polite");

    var errorFor = {};
    function errorElement(input) {
      var key = input.id || input.getAttribute("data-field");
      if (errorFor[key]) return errorFor[key];
      var el = document.createElement("p");
      el.className = "field-error card-js-error";
      el.id = (input.id || "card-field") + "-js-error";
      el.setAttribute("aria-live", "polite");
      el.hidden = true;
      var anchor = input === inputs.pan ? brandBadge : input;
      anchor.insertAdjacentElement("afterend", el);
      // From now on the script keeps this field's message current. A message the server
      // rendered is hidden: left alone it would still say "invalid" after the fix.
      var described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
        var old = id ? document.getElementById(id) : null;
        if (old && old.classList.contains("field-error")) {
          old.hidden = true;
          return false;
        }
        return !!id;
      });
      described.push(el.id);
      input.setAttribute("aria-describedby", described.join(" "));
      errorFor[key] = el;
      return el;
    }

    function showError(input, message) {
      var el = errorElement(input);
      el.textContent = message || "";
      el.hidden = !message;
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }

    var formError = document.createElement("p");
    formError.className = "form-error card-js-error";
    formError.setAttribute("role", "alert");
    formError.hidden = true;
    form.insertBefore(formError, form.firstChild);

    function showFormError(message) {
      formError.textContent = message || "";
      formError.hidden = !message;
    }

    function checkName() {
      if (!inputs.name) return "";
      var value = inputs.name.value.trim();
      if (!value) return inputs.name.required ? text("name_required") : "";
      if (!/^[A-Za-z][A-Za-z .'-]*$/.test(value)) return text("name_latin");
      if (value.length < 2 || value.length > 45) return text("name_length");
      return "";
    }

    function checkPan() {
      var number = digits(inputs.pan.value);
      if (!number) return text("pan_required");
      var brand = brandOf(number);
      if (brand.lengths.indexOf(number.length) < 0 || !luhnValid(number)) {
        return text("pan_invalid");
      }
      return "";
    }

    function checkExpiry() {
      var value = inputs.expiry.value.trim();
      if (!value) return text("expiry_required");
      var yyyymm = expiryToYYYYMM(value);
      if (!yyyymm) return text("expiry_invalid");
      var now = new Date();
      var current = now.getFullYear() * 100 + now.getMonth() + 1;
      var given = parseInt(yyyymm, 10);
      if (given < current) return text("expiry_past");
      if (given > current + 2000) return text("expiry_year");
      return "";
    }

    function checkCvc() {
      var value = digits(inputs.cvc.value);
      var wanted = brandOf(digits(inputs.pan.value)).cvc;
      if (!value) return text("cvc_required");
      if (value.length !== wanted) return text("cvc_length_" + wanted);
      return "";
    }

    var checks = [
      [inputs.name, checkName],
      [inputs.pan, checkPan],
      [inputs.expiry, checkExpiry],
      [inputs.cvc, checkCvc],
    ].filter(function (pair) { return !!pair[0]; });

    // Fields are judged on submit, or as soon as a number or date is complete, never on blur:
    // a message appearing on blur moves the pay button away from under the pointer. Once a
    // field shows a message, it is kept current while the shopper fixes it.
    function complete(input) {
      if (input === inputs.pan) {
        var number = digits(input.value);
        return number.length >= Math.max.apply(null, brandOf(number).lengths);
      }
      if (input === inputs.expiry) return input.value.length >= 5;
      return false;
    }

    checks.forEach(function (pair) {
      var input = pair[0];
      input.addEventListener("input", function () {
        if (input.getAttribute("aria-invalid") === "true" || complete(input)) {
          showError(input, pair[1]());
        }
      });
    });

    function caretAfterDigits(value, count) {
      if (count <= 0) return 0;
      var seen = 0;
      for (var i = 0; i < value.length; i++) {
        if (/\d/.test(value[i]) && ++seen === count) return i + 1;
      }
      return value.length;
    }

    function reformat(input, format) {
      var before = input.value;
      var caret = input.selectionStart === null ? before.length : input.selectionStart;
      var digitsBeforeCaret = digits(before.slice(0, caret)).length;
      var after = format(before);
      if (after === before) return;
      input.value = after;
      if (document.activeElement === input) {
        // Typing at the end stays at the end, even when a digit was added in front ("4" -> "04").
        var pos = caret === before.length ? after.length : caretAfterDigits(after, digitsBeforeCaret);
        input.setSelectionRange(pos, pos);
      }
    }

    function updateBrand() {
      var brand = brandOf(digits(inputs.pan.value));
      brandBadge.textContent = brand.label;
      brandBadge.setAttribute("data-brand", brand.id);
      inputs.cvc.setAttribute("maxlength", String(brand.cvc));
      return brand;
    }

    inputs.pan.removeAttribute("pattern");
    inputs.pan.setAttribute("maxlength", "23");
    inputs.pan.addEventListener("input", function () {
      reformat(inputs.pan, function (value) {
        var number = digits(value).slice(0, 19);
        return groupNumber(number, brandOf(number));
      });
      updateBrand();
    });

    inputs.expiry.setAttribute("maxlength", "5");
    inputs.expiry.addEventListener("input", function () {
      reformat(inputs.expiry, function (value) {
        var d = digits(value).slice(0, 4);
        // A first digit above 1 can only be a single-digit month.
        if (d.length === 1 && d > "1") d = "0" + d;
        return d.length > 2 ? d.slice(0, 2) + "/" + d.slice(2) : d;
      });
    });

    inputs.cvc.addEventListener("input", function () {
      reformat(inputs.cvc, function (value) {
        return digits(value).slice(0, 4);
      });
    });

    if (inputs.pan.value) {
      inputs.pan.value = groupNumber(digits(inputs.pan.value), brandOf(digits(inputs.pan.value)));
    }
    updateBrand();

    if (tokenMode) {
      ["pan", "expiry", "cvc"].forEach(function (key) {
        inputs[key].setAttribute("data-field", key);
        inputs[key].removeAttribute("name");
      });
      form.setAttribute("data-setoken", "browser");
      loadRsa().catch(function () {});
    }

    function setBusy(busy) {
      submitting = busy;
      form.setAttribute("aria-busy", busy ? "true" : "false");
      if (!button) return;
      button.disabled = busy;
      if (button.tagName === "BUTTON") {
        if (busy) {
          button.setAttribute("data-label", button.textContent);
          button.textContent = text("processing");
        } else if (button.hasAttribute("data-label")) {
          button.textContent = button.getAttribute("data-label");
        }
      }
    }

    function fillDisplayData() {
      var number = digits(inputs.pan.value);
      if (hidden.brand) hidden.brand.value = brandOf(number).id;
      if (hidden.last4) hidden.last4.value = number.slice(-4);
    }

    function buildToken(api) {
      return api.build(
        {
          pan: digits(inputs.pan.value),
          cvc: digits(inputs.cvc.value),
          expiry: expiryToYYYYMM(inputs.expiry.value),
          cardholderName: inputs.name ? inputs.name.value : "",
        },
        publicKey
      );
    }

    function encryptAndSubmit(api) {
      try {
        hidden.token.value = buildToken(api);
      } catch (err) {
        hidden.token.value = "";
        setBusy(false);
        showFormError(text("encrypt_failed"));
        return false;
      }
      return true;
    }

    form.addEventListener("submit", function (event) {
      if (submitting) {
        event.preventDefault();
        return;
      }
      showFormError("");
      var firstInvalid = null;
      checks.forEach(function (pair) {
        var message = pair[1]();
        showError(pair[0], message);
        if (message && !firstInvalid) firstInvalid = pair[0];
      });
      if (firstInvalid) {
        event.preventDefault();
        firstInvalid.focus();
        return;
      }
      fillDisplayData();
      if (!tokenMode) {
        // Disabled only after this event: a disabled submitter would drop out of the post.
        window.setTimeout(function () { setBusy(true); }, 0);
        submitting = true;
        return;
      }
      setBusy(true);
      if (window.checkoutSeToken) {
        if (!encryptAndSubmit(window.checkoutSeToken)) event.preventDefault();
        return;
      }
      // rsa.js is still on its way (a very quick shopper or a slow network): wait for it.
      event.preventDefault();
      loadRsa().then(
        function (api) {
          if (encryptAndSubmit(api)) form.submit();
        },
        function () {
          setBusy(false);
          showFormError(text("module_failed"));
        }
      );
    });

    // Coming back with the Back button restores the page from the cache as it was left.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        setBusy(false);
        if (hidden.token) hidden.token.value = "";
      }
    });

    // The last step: everything above is in place (see the ready signal at the top).
    form.setAttribute("data-card-ready", "true");
  }

  function init() {
    messages = readMessages();
    var form = document.getElementById("card-form");
    if (form) setUp(form);
    // The 3-D Secure hop by POST: the Content-Security-Policy forbids inline scripts, so
    // the page that carries the bank's form relies on this file to send it on.
    var acs = document.getElementById("acs-form");
    if (acs) acs.submit();
  }

  // Exposed for the shop's own scripts and the browser tests.
  window.checkoutCard = { brandOf: brandOf, luhnValid: luhnValid, expiryToYYYYMM: expiryToYYYYMM };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

/*
 * The card form (#card-form): formatting, checks before submit, and the seToken.
 *
 * The page works without JavaScript: its inputs carry ordinary names and the server builds
 * the token. When the form carries the gateway's public key (data-setoken-key) and the
 * browser can encrypt, this script takes over: it removes the name attribute from the card
 * number, expiry and CVC inputs, so the browser cannot submit them, and posts only the
 * seToken, the cardholder name, the brand and the last four digits.
 *
 * The rules for what the shopper types are checkout/cards.py's, written again here:
 * parsePan, parseExpiry and parseName (with latinName, the ELOT 743 transcription of a
 * Greek name) answer the same as parse_pan, parse_expiry and parse_cardholder_name, and
 * both are tested against one table, tests/fixtures/card_inputs.json. An error is a code
 * ("format", "expired"...); the element showing it carries the code in data-error.
 *
 * Every word the script shows the shopper comes from the page, in the page's language: as
 * JSON data in <script type="application/json" id="card-messages"> (the checkout's
 * {% card_messages %} tag writes it), the pay button's data-busy-label and the trust
 * line's data-trust-browser. A message the page lacks shows its key.
 *
 * Signals, for tests and a shop's own scripts:
 * - form[data-card-ready="true"]: set up (formatting, checks and, with a key, the takeover
 *   above), the very last step. Wait for it before typing into the fields or reading them.
 * - form[aria-busy="true"][data-card-waiting]: submitted, waiting for the gateway's answer;
 *   the fields are read-only, the button disabled and "Please don't close this page" shown.
 */
(function () {
  "use strict";



  // The message for each field's error codes (cvc "length" adds the digits wanted).
  var MESSAGE_KEYS = {
    name: { required: "name_required", letters: "name_letters", length: "name_length" },
    pan: { required: "pan_required", invalid: "pan_invalid" },
    expiry: { required: "expiry_required", format: "expiry_invalid", expired: "expiry_past", year: "expiry_year" },
    cvc: { required: "cvc_required", length: "cvc_length_" },
  };

  var script = document.currentScript;
  // Resolved against this file's own URL, so it follows STATIC_URL (or a CDN) by itself.
  var RSA_URL = script && script.src ? new URL("rsa.js", script.src).href : "";
  var MARKS_URL = script && script.src ? new URL("brands/", script.src).href : "";

  var BRANDS = [
    { id: "AMEX", label: "American Express", mark: "amex", re: /^3[47]/, lengths: [15], groups: [4, 6, 5], cvc: 4 },
    { id: "DINERS", label: "Diners Club", mark: "diners", re: /^3(0[0-5]|[689])/, lengths: [14, 16, 19], groups: [4, 6, 4], cvc: 3 },
    { id: "JCB", label: "JCB", mark: "jcb", re: /^35(2[89]|[3-8])/, lengths: [16, 17, 18, 19], groups: [4, 4, 4, 4, 3], cvc: 3 },
    { id: "MAESTRO", label: "Maestro", mark: "maestro", re: /^(5018|5020|5038|5893|6304|6759|676[1-3])/, lengths: [13, 14, 15, 16, 17, 18, 19], groups: [4, 4, 4, 4, 3], cvc: 3 },
    { id: "MASTERCARD", label: "Mastercard", mark: "mastercard", re: /^(5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720)/, lengths: [16], groups: [4, 4, 4, 4], cvc: 3 },
    { id: "VISA", label: "Visa", mark: "visa", re: /^4/, lengths: [13, 16, 19], groups: [4, 4, 4, 4, 3], cvc: 3 },
    { id: "DISCOVER", label: "Discover", mark: "discover", re: /^(6011|64[4-9]|65)/, lengths: [16, 17, 18, 19], groups: [4, 4, 4, 4, 3], cvc: 3 },
    { id: "CUP", label: "UnionPay", mark: "unionpay", re: /^62/, lengths: [16, 17, 18, 19], groups: [4, 4, 4, 4, 3], cvc: 3 },
  ];
  // 13 digits at least: the seToken (rsa.js) and the gateway take 13 to 19.
  var UNKNOWN_BRAND = { id: "", label: "", mark: "", lengths: [13, 14, 15, 16, 17, 18, 19], groups: [4, 4, 4, 4, 3], cvc: 3 };

  // Longest expiry accepted, in years from now; longest name (checkout/cards.py).
  var MAX_CARD_YEARS = 20;
  var MAX_NAME_LENGTH = 45;

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

  // --- the rules (checkout/cards.py) ---------------------------------------------------

  // A card number as typed, spaces and dashes between digits allowed: {value: digits} or
  // {error: "invalid"} (13 to 19 digits, as many as its scheme issues, Luhn).
  function parsePan(value) {
    var typed = String(value || "").trim();
    if (!/^[0-9]+(?:[\s-]+[0-9]+)*$/.test(typed)) return { error: "invalid" };
    var number = digits(typed);
    if (brandOf(number).lengths.indexOf(number.length) < 0 || !luhnValid(number)) return { error: "invalid" };
    return { value: number };
  }

  // {month, year} of an expiry written in any accepted way, or null: MM/YY, MM/YYYY, M/YY,
  // M/YYYY with "/", "-", "." or spaces between, or none ("1230", "122030"; three or five
  // digits only when the first two cannot be a month: "130" is 1/30, "123" is refused).
  function expiryParts(value) {
    var text = String(value || "").trim();
    var groups = text.split(/[\s\/.\-]+/).filter(function (group) { return group !== ""; });
    for (var i = 0; i < groups.length; i++) if (!/^[0-9]+$/.test(groups[i])) return null;
    var month, year;
    if (groups.length === 2) {
      month = groups[0];
      year = groups[1];
      if (month.length > 2 || (year.length !== 2 && year.length !== 4)) return null;
    } else if (groups.length === 1) {
      var d = groups[0];
      var first = parseInt(d.slice(0, 2), 10);
      if (d.length === 4 || d.length === 6) {
        month = d.slice(0, 2);
        year = d.slice(2);
      } else if ((d.length === 3 || d.length === 5) && !(first >= 1 && first <= 12)) {
        month = d.slice(0, 1);
        year = d.slice(1);
      } else {
        return null;
      }
    } else {
      return null;
    }
    var number = parseInt(year, 10);
    return { month: parseInt(month, 10), year: year.length === 2 ? 2000 + number : number };
  }

  // {value: "YYYYMM"} or {error: "format" | "expired" | "year"}.
  function parseExpiry(value, now) {
    var parts = expiryParts(value);
    if (!parts || parts.month < 1 || parts.month > 12) return { error: "format" };
    now = now || new Date();
    var year = now.getFullYear();
    var month = now.getMonth() + 1;
    // A card is valid until the last day of its expiry month.
    if (parts.year < year || (parts.year === year && parts.month < month)) return { error: "expired" };
    if (parts.year > year + MAX_CARD_YEARS) return { error: "year" };
    return { value: String(parts.year) + (parts.month < 10 ? "0" : "") + parts.month };
  }

  // "MM/YY" (also "M/YY", "MM/YYYY"...) -> "YYYYMM", or "" when it is not a date at all.
  function expiryToYYYYMM(value) {
    var parts = expiryParts(value);
    if (!parts || parts.month < 1 || parts.month > 12) return "";
    return String(parts.year) + (parts.month < 10 ? "0" : "") + parts.month;
  }

  // ELOT 743 / ISO 843 (the Greek passport transcription), on lower-case letters.
  var GREEK_LETTERS = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th",
    "ι": "i", "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p",
    "ρ": "r", "σ": "s", "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps",
    "ω": "o",
  };
  // αυ, ευ, ηυ are av, ev, iv before a vowel or a voiced consonant; af, ef, if otherwise.
  var GREEK_VOICED = "αεηιουωβγδζλμνρ";
  var ACCENTS = /[\u0301\u0300\u0342]/;
  var DIAERESIS = "\u0308";
  var APOSTROPHES = "\u2019\u2018\u02bc`\u00b4";
  var DASHES = "\u2010\u2011\u2012\u2013\u2014";

  function isGreek(base) {
    return Object.prototype.hasOwnProperty.call(GREEK_LETTERS, base);
  }

  // The name in Latin letters for the gateway: Greek transcribed and then all in capitals
  // ("Ελένη Γεωργίου" -> "ELENI GEORGIOU"); a Latin name as typed, without accents.
  function latinName(value) {
    var letters = [];
    var chars = Array.from(String(value || "").normalize("NFD"));
    for (var i = 0; i < chars.length; i++) {
      var char = chars[i];
      if (/\p{Mn}/u.test(char)) {
        if (letters.length) letters[letters.length - 1].marks += char;
      } else if (char !== "\u0384") {
        var lower = char.toLowerCase();
        letters.push({ base: isGreek(lower) ? lower : char, marks: "" });
      }
    }
    var out = [];
    var greek = false;
    var index = 0;
    while (index < letters.length) {
      var letter = letters[index];
      var base = letter.base;
      var following = letters[index + 1] || { base: "", marks: "" };
      var after = letters[index + 2] ? letters[index + 2].base : "";
      if (!isGreek(base)) {
        if (APOSTROPHES.indexOf(base) >= 0) base = "'";
        else if (DASHES.indexOf(base) >= 0) base = "-";
        else if (/\s/.test(base)) base = " ";
        out.push(base);
        index += 1;
        continue;
      }
      greek = true;
      // A diphthong unless its first vowel is accented or its υ carries a diaeresis.
      var diphthong = following.base === "υ" && !ACCENTS.test(letter.marks) && following.marks.indexOf(DIAERESIS) < 0;
      var previous = index > 0 ? letters[index - 1].base : "";
      if (diphthong && "αεη".indexOf(base) >= 0) {
        out.push(GREEK_LETTERS[base] + (after && GREEK_VOICED.indexOf(after) >= 0 ? "v" : "f"));
        index += 2;
      } else if (diphthong && base === "ο") {
        out.push("ou");
        index += 2;
      } else if (base === "μ" && following.base === "π" && !(isGreek(previous) || /^[A-Za-z]$/.test(previous))) {
        // μπ is b at the start of a word, mp inside it.
        out.push("b");
        index += 2;
      } else if (base === "γ" && "γξχ".indexOf(following.base) >= 0 && following.base) {
        out.push("n");
        index += 1;
      } else {
        out.push(GREEK_LETTERS[base]);
        index += 1;
      }
    }
    var name = out.join("").replace(/\s+/g, " ").trim();
    return greek ? name.toUpperCase() : name;
  }

  // {value: the Latin name} or {error: "letters" | "length"}; "" is the caller's to judge.
  function parseName(value) {
    var name = latinName(value);
    if (!/^[A-Za-z][A-Za-z .'-]*$/.test(name)) return { error: "letters" };
    if (name.length < 2 || name.length > MAX_NAME_LENGTH) return { error: "length" };
    return { value: name };
  }

  // --- formatting as the shopper types ---------------------------------------------------

  // The expiry as typed so far, shown as MM/Y...: a first digit above 1 is a month of its
  // own ("4" -> "04"), a month followed by a separator is padded ("1/" -> "01/").
  function formatExpiryTyped(value) {
    var text = String(value || "").replace(/^\s+/, "");
    var lead = /^[0-9]*/.exec(text)[0];
    var rest = text.slice(lead.length);
    var more = digits(rest);
    if (!lead) return more ? formatExpiryTyped(more) : "";
    if (lead.length <= 2 && /^[\s\/.\-]/.test(rest)) {
      return (lead.length === 1 ? "0" + lead : lead) + "/" + more.slice(0, 4);
    }
    var d = lead + more;
    var month, year;
    if (d[0] > "1") {
      month = "0" + d[0];
      year = d.slice(1);
    } else if (d.length === 1) {
      return d;
    } else if (d[0] === "0" || parseInt(d.slice(0, 2), 10) <= 12) {
      month = d.slice(0, 2);
      year = d.slice(2);
    } else {
      month = "0" + d[0];
      year = d.slice(1);
    }
    year = year.slice(0, 4);
    return year ? month + "/" + year : month;
  }

  // A whole expiry (pasted, autofilled, or the field left): MM/YY when it reads as a date,
  // MM/YYYY outside 2000-2099; else as while typing.
  function formatExpiryWhole(value) {
    var parts = expiryParts(value);
    if (!parts) return formatExpiryTyped(value);
    var month = (parts.month < 10 ? "0" : "") + parts.month;
    var inCentury = parts.year >= 2000 && parts.year <= 2099;
    return month + "/" + (inCentury ? String(parts.year).slice(2) : String(parts.year));
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
    // The accepted schemes' marks on the page (card.html): the detected one is highlighted.
    var brandList = form.querySelector(".card-brands");
    var brandMarks = brandList ? brandList.querySelectorAll("[data-brand]") : [];

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

    // Shows the message for an error code of a field ("" clears it).
    function showError(input, fieldName, code) {
      var el = errorElement(input);
      var message = "";
      if (code) {
        var key = MESSAGE_KEYS[fieldName][code] || code;
        if (fieldName === "cvc" && code === "length") key += brandOf(digits(inputs.pan.value)).cvc;
        message = text(key);
      }
      el.textContent = message;
      el.hidden = !message;
      if (code) {
        el.setAttribute("data-error", code);
        input.setAttribute("aria-invalid", "true");
      } else {
        el.removeAttribute("data-error");
        input.removeAttribute("aria-invalid");
      }
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

    // Each check answers an error code, or "" when the field is fine.
    function checkName() {
      if (!inputs.name) return "";
      if (!inputs.name.value.trim()) return inputs.name.required ? "required" : "";
      return parseName(inputs.name.value).error || "";
    }

    function checkPan() {
      if (!inputs.pan.value.trim()) return "required";
      return parsePan(inputs.pan.value).error || "";
    }

    function checkExpiry() {
      if (!inputs.expiry.value.trim()) return "required";
      return parseExpiry(inputs.expiry.value).error || "";
    }

    function checkCvc() {
      var value = digits(inputs.cvc.value);
      if (!value) return "required";
      if (value.length !== brandOf(digits(inputs.pan.value)).cvc) return "length";
      return "";
    }

    var checks = [
      [inputs.name, "name", checkName],
      [inputs.pan, "pan", checkPan],
      [inputs.expiry, "expiry", checkExpiry],
      [inputs.cvc, "cvc", checkCvc],
    ].filter(function (spec) { return !!spec[0]; });

    // Fields are judged on submit, or as soon as a number or date is complete, never on blur:
    // a message appearing on blur moves the pay button away from under the pointer. Once a
    // field shows a message, it is kept current while the shopper fixes it.
    function complete(input) {
      if (input === inputs.pan) {
        var number = digits(input.value);
        return number.length >= Math.max.apply(null, brandOf(number).lengths);
      }
      // "12/20" may still become 12/2030: only a four-digit year or another two make a date.
      if (input === inputs.expiry) return /^\d\d\/(\d{4}|\d\d)$/.test(input.value) && !/\/20$/.test(input.value);
      return false;
    }

    checks.forEach(function (spec) {
      var input = spec[0];
      input.addEventListener("input", function () {
        if (input.getAttribute("aria-invalid") === "true" || complete(input)) {
          showError(input, spec[1], spec[2]());
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

    // One key typed, or a whole value at once (pasted, autofilled, dropped, Playwright's fill).
    function typedOneKey(event) {
      return event.inputType === "insertText" && !!event.data && event.data.length === 1;
    }

    function deleting(event) {
      return /^delete/.test(event.inputType || "");
    }

    var shownBrand = null;
    function updateBrand() {
      var brand = brandOf(digits(inputs.pan.value));
      inputs.cvc.setAttribute("maxlength", String(brand.cvc));
      if (brand === shownBrand) return brand;
      shownBrand = brand;
      brandBadge.textContent = "";
      brandBadge.setAttribute("data-brand", brand.id);
      if (brand.id && brand.mark && MARKS_URL) {
        var mark = document.createElement("img");
        mark.src = MARKS_URL + brand.mark + ".svg";
        mark.alt = "";
        mark.width = 32;
        mark.height = 20;
        brandBadge.appendChild(mark);
      }
      if (brand.label) brandBadge.appendChild(document.createTextNode(brand.label));
      if (brandList) brandList.setAttribute("data-detected-brand", brand.id);
      for (var i = 0; i < brandMarks.length; i++) {
        if (brand.id && brandMarks[i].getAttribute("data-brand") === brand.id) brandMarks[i].setAttribute("data-detected", "true");
        else brandMarks[i].removeAttribute("data-detected");
      }
      return brand;
    }

    // Digits only, grouped as the scheme prints them; pasted "4111-1111-…" too. No
    // maxlength: it would cut a pasted number with separators before the script sees it.
    inputs.pan.removeAttribute("pattern");
    inputs.pan.removeAttribute("maxlength");
    inputs.pan.addEventListener("input", function (event) {
      if (!deleting(event)) {
        reformat(inputs.pan, function (value) {
          var number = digits(value).slice(0, 19);
          return groupNumber(number, brandOf(number));
        });
      }
      updateBrand();
    });

    // No maxlength either: "12 / 2030" from autofill is longer than "MM/YY".
    inputs.expiry.removeAttribute("maxlength");
    inputs.expiry.addEventListener("input", function (event) {
      if (deleting(event)) return;
      reformat(inputs.expiry, typedOneKey(event) ? formatExpiryTyped : formatExpiryWhole);
    });
    inputs.expiry.addEventListener("change", function () {
      reformat(inputs.expiry, formatExpiryWhole);
    });

    inputs.cvc.addEventListener("input", function () {
      reformat(inputs.cvc, function (value) {
        return digits(value).slice(0, 4);
      });
    });

    // A Greek name is sent in Latin letters: the shopper sees how, under the field.
    var nameHint = form.querySelector("[data-name-latin]");
    var nameHintValue = nameHint ? nameHint.querySelector("[data-name-latin-value]") : null;
    function updateNameHint() {
      if (!inputs.name || !nameHint || !nameHintValue) return;
      var typed = inputs.name.value.replace(/\s+/g, " ").trim();
      var parsed = parseName(typed);
      var show = !!parsed.value && parsed.value !== typed;
      nameHintValue.textContent = show ? parsed.value : "";
      nameHint.hidden = !show;
      var described = (inputs.name.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
        return id && id !== nameHint.id;
      });
      if (show && nameHint.id) described.push(nameHint.id);
      if (described.length) inputs.name.setAttribute("aria-describedby", described.join(" "));
      else inputs.name.removeAttribute("aria-describedby");
    }
    if (inputs.name) inputs.name.addEventListener("input", updateNameHint);

    if (inputs.pan.value) {
      inputs.pan.value = groupNumber(digits(inputs.pan.value), brandOf(digits(inputs.pan.value)));
    }
    if (inputs.expiry.value) inputs.expiry.value = formatExpiryWhole(inputs.expiry.value);
    updateBrand();
    updateNameHint();

    if (tokenMode) {
      ["pan", "expiry", "cvc"].forEach(function (key) {
        inputs[key].setAttribute("data-field", key);
        inputs[key].removeAttribute("name");
      });
      form.setAttribute("data-setoken", "browser");
      // Only now is it true that the card is encrypted in the browser (card.html).
      var trust = form.querySelector("[data-trust][data-trust-browser]");
      if (trust) trust.textContent = trust.getAttribute("data-trust-browser");
      loadRsa().catch(function () {});
    }

    // The waiting state while the gateway answers: see "Signals" at the top.
    var waitNotice = form.querySelector("[data-card-wait] p");
    var buttonLabel = button ? button.querySelector(".card-pay-label") : null;
    function setBusy(busy) {
      submitting = busy;
      form.setAttribute("aria-busy", busy ? "true" : "false");
      if (busy) form.setAttribute("data-card-waiting", "true");
      else form.removeAttribute("data-card-waiting");
      Object.keys(inputs).forEach(function (key) {
        if (inputs[key]) inputs[key].readOnly = busy;
      });
      if (waitNotice) waitNotice.hidden = !busy;
      if (!button) return;
      button.disabled = busy;
      if (button.tagName === "BUTTON") {
        var label = buttonLabel || button;
        if (busy) {
          if (!button.hasAttribute("data-label")) button.setAttribute("data-label", label.textContent);
          label.textContent = button.getAttribute("data-busy-label") || text("processing");
        } else if (button.hasAttribute("data-label")) {
          label.textContent = button.getAttribute("data-label");
          button.removeAttribute("data-label");
        }
      }
    }

    function fillDisplayData() {
      var number = digits(inputs.pan.value);
      if (hidden.brand) hidden.brand.value = brandOf(number).id;
      if (hidden.last4) hidden.last4.value = number.slice(-4);
    }

    function buildToken(api) {
      var name = inputs.name && inputs.name.value.trim() ? parseName(inputs.name.value).value || "" : "";
      return api.build(
        {
          pan: parsePan(inputs.pan.value).value || "",
          cvc: digits(inputs.cvc.value),
          expiry: parseExpiry(inputs.expiry.value).value || "",
          cardholderName: name,
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
      checks.forEach(function (spec) {
        var code = spec[2]();
        showError(spec[0], spec[1], code);
        if (code && !firstInvalid) firstInvalid = spec[0];
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
  window.checkoutCard = {
    brandOf: brandOf,
    luhnValid: luhnValid,
    expiryToYYYYMM: expiryToYYYYMM,
    parsePan: parsePan,
    parseExpiry: parseExpiry,
    parseName: parseName,
    latinName: latinName,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

/*
 * The checkout's browser client for headless storefronts (an ES module, no build step, no
 * third-party code). It reads what the page needs to take the card, encrypts the card into
 * a seToken with the gateway's public key (rsa.js, loaded from beside this file), submits
 * it to the JSON API, follows 3-D Secure, and gives the result to the page as a promise.
 * Card number and CVC never leave the browser in the clear.
 *
 *   import { HeadlessCheckout } from "/static/checkout/headless.js";
 *   const checkout = new HeadlessCheckout({ api: "/checkout/api/", orderId, clientSecret,
 *                                           returnUrl: location.href });
 *   const config = await checkout.config();          // amount, brands, key, saved cards
 *   const payment = await checkout.pay({ pan, expiry: "12/30", cvc, cardholderName });
 *   // payment.state: "succeeded" | "failed" (payment.message, payment.can_retry) | ...
 *   // With 3-D Secure the page is left for the bank; back at returnUrl, call
 *   // checkout.resume(): it resolves with the settled payment (or null if none is named).
 *
 * Errors reject with an Error carrying code, status, message (translated), fields and,
 * where the API names one, payment (docs/integrating/headless.md lists the codes).
 */

const RSA_URL = new URL("rsa.js", import.meta.url).href;
const SETTLED = ["succeeded", "failed", "canceled", "review"];

let rsaLoading = null;

function loadRsa() {
  if (window.checkoutSeToken) return Promise.resolve(window.checkoutSeToken);
  if (!rsaLoading) {
    rsaLoading = new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = RSA_URL;
      tag.async = true;
      tag.onload = () => (window.checkoutSeToken ? resolve(window.checkoutSeToken) : reject(new Error("rsa.js did not load")));
      tag.onerror = () => {
        rsaLoading = null;
        reject(new Error("rsa.js did not load"));
      };
      document.head.appendChild(tag);
    });
  }
  return rsaLoading;
}

function newKey() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** "12/30", "12/2030", "1230" or "203012" as YYYYMM; "" when it is none of them. */
export function expiryYYYYMM(value) {
  const text = String(value || "").trim();
  let match = /^(\d{4})(\d{2})$/.exec(text);
  if (match && Number(match[2]) >= 1 && Number(match[2]) <= 12 && match[1] > "1999") return match[1] + match[2];
  match = /^(\d{1,2})\s*[\/\-. ]?\s*(\d{2}|\d{4})$/.exec(text);
  if (!match) return "";
  const month = Number(match[1]);
  if (month < 1 || month > 12) return "";
  const year = match[2].length === 2 ? "20" + match[2] : match[2];
  return year + String(month).padStart(2, "0");
}

function sleep(ms) {
  return new Promise((resolve) => window.setTimeout(resolve, ms));
}

export class CheckoutError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || "The payment service could not be reached.");
    this.name = "CheckoutError";
    this.status = status;
    this.code = error.code || "network_error";
    this.fields = error.fields || {};
    this.payment = (body && body.payment) || null;
  }
}

export class HeadlessCheckout {
  /**
   * api: where the checkout's API is mounted ("/checkout/api/" or an absolute URL);
   * orderId and clientSecret: from the shop's server; returnUrl: where the bank sends the
   * shopper back after 3-D Secure (the shop lists it in API_RETURN_URLS); language: sent as
   * Accept-Language (default: the page's lang).
   */
  constructor({ api, orderId, clientSecret, returnUrl = "", language = "" }) {
    this.api = new URL(api.endsWith("/") ? api : api + "/", window.location.href).href;
    this.orderId = orderId;
    this.clientSecret = clientSecret;
    this.returnUrl = returnUrl;
    this.language = language || document.documentElement.lang || "";
    this._config = null;
  }

  async _request(method, path, body, headers = {}) {
    const init = {
      method,
      headers: { Authorization: "Bearer " + this.clientSecret, Accept: "application/json", ...headers },
      // The client secret authenticates: no cookies are sent or needed.
      credentials: "omit",
      cache: "no-store",
    };
    if (this.language) init.headers["Accept-Language"] = this.language;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(new URL(path, this.api).href, init);
    } catch (err) {
      throw new CheckoutError(0, null);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) throw new CheckoutError(response.status, data);
    return data;
  }

  _orderPath(rest = "") {
    return "orders/" + encodeURIComponent(this.orderId) + "/" + rest;
  }

  /** What the page needs: order (amount, amount_display), merchant, brands, setoken, saved_cards. */
  async config() {
    this._config = await this._request("GET", this._orderPath());
    loadRsa().catch(() => {});
    return this._config;
  }

  /** The payment now, as the API shows it. */
  async status(paymentId) {
    const data = await this._request("GET", this._orderPath("payments/" + encodeURIComponent(paymentId) + "/"));
    return data.payment;
  }

  async _token(card) {
    const config = this._config || (await this.config());
    const key = config.setoken && config.setoken.public_key;
    if (!key) throw new CheckoutError(503, { error: { code: "gateway_unavailable", message: "" } });
    const api = await loadRsa();
    if (card.savedCard) {
      const saved = (config.saved_cards.cards || []).find((c) => c.id === card.savedCard);
      if (!saved) throw new CheckoutError(400, { error: { code: "validation_failed", fields: { saved_card: [{ code: "unknown" }] } } });
      // The bindingId and the CVC only: no card number, no expiry.
      return api.buildForBinding(saved.binding_id, card.cvc, key);
    }
    return api.build(
      { pan: card.pan, cvc: card.cvc, expiry: expiryYYYYMM(card.expiry), cardholderName: card.cardholderName || "" },
      key
    );
  }

  /**
   * Pay: card = {pan, expiry, cvc, cardholderName, saveCard} or {savedCard: id, cvc}.
   * Resolves with the payment once it is settled; leaves the page for 3-D Secure.
   */
  async pay(card) {
    let token;
    try {
      token = await this._token(card);
    } catch (err) {
      if (err instanceof CheckoutError) throw err;
      throw new CheckoutError(400, { error: { code: "encrypt_failed", message: String(err.message || err) } });
    }
    const body = { se_token: token };
    if (card.savedCard) body.saved_card = card.savedCard;
    else body.cardholder_name = card.cardholderName || "";
    if (card.saveCard) body.save_card = true;
    if (this.returnUrl) body.return_url = this.returnUrl;
    // One key per payment: a retry after a lost answer gets the first answer, never a
    // second charge.
    const key = newKey();
    let data;
    try {
      data = await this._request("POST", this._orderPath("payments/"), body, { "Idempotency-Key": key });
    } catch (err) {
      if (err.status !== 0 && err.code !== "idempotency_key_in_use") throw err;
      await sleep(1000);
      data = await this._request("POST", this._orderPath("payments/"), body, { "Idempotency-Key": key });
    }
    return this.follow(data.payment);
  }

  /**
   * Follow a payment to its end: 3-D Secure (leaves the page), or polling while it is
   * being confirmed. Back from the bank (returned), a payment still waiting for 3-D Secure
   * is asked about again rather than sent to the bank twice.
   */
  async follow(payment, { returned = false } = {}) {
    for (let polls = 0; ; polls++) {
      if (payment.state === "requires_action" && payment.next_action && !returned) {
        this._leaveFor(payment.next_action);
        return new Promise(() => {});
      }
      if (SETTLED.indexOf(payment.state) >= 0 || polls >= 40) return payment;
      await sleep(1000 * (payment.poll_after || 2));
      payment = await this.status(payment.id);
    }
  }

  /** Back from the bank: the payment named in the URL (?payment=), settled; null if none. */
  async resume(url = window.location.href) {
    const id = new URL(url).searchParams.get("payment");
    if (!id) return null;
    return this.follow(await this.status(id), { returned: true });
  }

  _leaveFor(action) {
    if (action.type === "post_form") {
      const form = document.createElement("form");
      form.method = "post";
      form.action = action.url;
      Object.keys(action.fields || {}).forEach((name) => {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = action.fields[name];
        form.appendChild(input);
      });
      document.body.appendChild(form);
      form.submit();
    } else {
      window.location.assign(action.url);
    }
  }
}

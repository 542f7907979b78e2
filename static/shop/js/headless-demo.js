// The demo's headless checkout (/headless/): cart, card, 3-D Secure and result in one page,
// through the checkout's JSON API and its browser client. The inputs have no name and sit
// in no form that posts: the card reaches the shop's server only as a seToken.
// Relative to this file, so it follows STATIC_URL.
import { HeadlessCheckout } from "../../checkout/headless.js";

const root = document.getElementById("headless");
const text = (key) => root.getAttribute("data-text-" + key) || key;
const $ = (id) => document.getElementById(id);
const STORE = "headless-order";
const cart = new Map();
let products = [];
let checkout = null;

function show(section) {
  for (const id of ["hl-shop", "hl-card", "hl-result"]) $(id).hidden = id !== section;
}

function showResult(payment) {
  show("hl-result");
  const ok = payment && payment.state === "succeeded";
  $("hl-result-title").textContent = ok ? text("paid") : text(payment && payment.state === "confirming" ? "confirming" : "failed");
  $("hl-result-message").textContent = payment ? payment.message : text("error");
  $("hl-result").setAttribute("data-state", payment ? payment.state : "error");
  if (ok) sessionStorage.removeItem(STORE);
}

function renderCart() {
  const body = $("hl-cart");
  body.textContent = "";
  let total = 0;
  let currency = "EUR";
  for (const [slug, quantity] of cart) {
    const product = products.find((p) => p.slug === slug);
    total += product.price * quantity;
    currency = product.currency;
    const row = body.insertRow();
    row.insertCell().textContent = quantity + " × " + product.name;
  }
  if (!cart.size) body.insertRow().insertCell().textContent = text("empty");
  $("hl-total").textContent = new Intl.NumberFormat(document.documentElement.lang || "en", { style: "currency", currency }).format(total / 100);
}

async function loadProducts() {
  const response = await fetch(root.getAttribute("data-products"), { headers: { Accept: "application/json" } });
  products = (await response.json()).products;
  const list = $("hl-products");
  for (const product of products) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-small";
    button.textContent = text("add");
    button.setAttribute("aria-label", text("add") + " " + product.name);
    button.addEventListener("click", () => {
      cart.set(product.slug, (cart.get(product.slug) || 0) + 1);
      renderCart();
    });
    item.append(product.name + " · " + product.price_display + " ", button);
    list.appendChild(item);
  }
  renderCart();
}

async function placeOrder(event) {
  event.preventDefault();
  $("hl-checkout-error").textContent = "";
  const response = await fetch(root.getAttribute("data-orders"), {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": root.getAttribute("data-csrf") },
    body: JSON.stringify({
      email: $("hl-email").value,
      lines: Array.from(cart, ([slug, quantity]) => ({ slug, quantity })),
    }),
  });
  const data = await response.json();
  if (!response.ok) {
    $("hl-checkout-error").textContent = data.error.message;
    return;
  }
  // Kept for the way back from the bank (3-D Secure leaves this page).
  sessionStorage.setItem(STORE, JSON.stringify({ orderId: data.order_id, clientSecret: data.client_secret }));
  await openCard(data.order_id, data.client_secret);
}

function client(orderId, clientSecret) {
  return new HeadlessCheckout({
    api: root.getAttribute("data-api"),
    orderId,
    clientSecret,
    returnUrl: new URL(root.getAttribute("data-return"), window.location.href).href,
  });
}

async function openCard(orderId, clientSecret) {
  checkout = client(orderId, clientSecret);
  const config = await checkout.config();
  $("hl-merchant").textContent = config.merchant.name;
  $("hl-amount").textContent = config.order.amount_display;
  $("hl-pay").textContent = text("pay") + " " + config.order.amount_display;
  show("hl-card");
  $("hl-card-form").setAttribute("data-ready", "true");
}

async function pay(event) {
  event.preventDefault();
  const button = $("hl-pay");
  const label = button.textContent;
  $("hl-card-error").textContent = "";
  button.disabled = true;
  button.textContent = text("processing");
  try {
    const payment = await checkout.pay({
      pan: $("hl-pan").value,
      expiry: $("hl-expiry").value,
      cvc: $("hl-cvc").value,
      cardholderName: $("hl-name").value,
    });
    if (payment.state === "failed" && payment.can_retry) {
      // Another card may be tried on the same order.
      $("hl-card-error").textContent = payment.message;
      $("hl-card-form").setAttribute("data-declined", payment.id);
      for (const id of ["hl-pan", "hl-expiry", "hl-cvc"]) $(id).value = "";
    } else {
      showResult(payment);
    }
  } catch (err) {
    const fields = Object.values(err.fields || {}).map((errors) => errors[0].message);
    $("hl-card-error").textContent = [err.message, ...fields].join(" ");
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

async function start() {
  $("hl-checkout").addEventListener("submit", placeOrder);
  $("hl-card-form").addEventListener("submit", pay);
  const stored = JSON.parse(sessionStorage.getItem(STORE) || "null");
  if (new URL(window.location.href).searchParams.get("payment") && stored) {
    // Back from 3-D Secure: the checkout settled the payment; read how it ended.
    checkout = client(stored.orderId, stored.clientSecret);
    const payment = await checkout.resume();
    if (payment && payment.state === "failed" && payment.can_retry) {
      await openCard(stored.orderId, stored.clientSecret);
      $("hl-card-error").textContent = payment.message;
    } else {
      showResult(payment);
    }
    return;
  }
  await loadProducts();
  root.setAttribute("data-ready", "true");
}

start().catch(() => showResult(null));

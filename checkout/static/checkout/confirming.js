/*
 * The "we are confirming your payment" page (confirming.html): it updates itself.
 *
 * Without JavaScript a <meta http-equiv="refresh"> in <noscript> reloads the page. With it,
 * this script asks for the page in the background every data-refresh seconds instead, and
 * moves on only once the page has something new to say (a result, or the bank to visit):
 * no reload the shopper did not ask for while nothing changed (WCAG 2.2.1, 3.2.5).
 */
(function () {
  "use strict";

  function stillConfirming(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    return !!page.body && page.body.classList.contains("checkout-confirming");
  }

  function init() {
    var status = document.querySelector("[data-refresh]");
    if (!status || typeof window.fetch !== "function") return;
    var delay = (parseInt(status.getAttribute("data-refresh"), 10) || 3) * 1000;
    var url = window.location.href;

    function later() {
      window.setTimeout(check, delay);
    }

    function check() {
      window
        .fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
        .then(function (response) {
          return response.text().then(function (html) {
            if (response.redirected || !stillConfirming(html)) window.location.replace(response.url || url);
            else later();
          });
        })
        .catch(later);
    }

    later();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

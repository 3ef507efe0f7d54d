/* Live price breakdown: the promo code is checked as it is typed (GET <quote url>&promo_code=),
   and the address fields show only when "A new address" is chosen. */
(function () {
  "use strict";
  var box = document.querySelector("[data-price]");
  if (box) {
    var url = box.getAttribute("data-quote-url");
    var input = box.querySelector("input[name=promo_code]");
    var errorEl = box.querySelector("[data-promo-error]");
    var apply = box.querySelector("[data-apply-promo]");
    var timer = null;
    var set = function (name, value) {
      var el = box.querySelector("[data-price-" + name + "]");
      if (el) el.textContent = (name === "discount" ? "−" : "") + value;
    };
    var update = function () {
      fetch(url + "&promo_code=" + encodeURIComponent(input.value.trim()), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          ["subtotal", "discount", "tax", "total"].forEach(function (n) { set(n, data[n]); });
          errorEl.textContent = data.promo_error || "";
          input.setAttribute("aria-invalid", data.promo_error ? "true" : "false");
          input.closest(".field").classList.toggle("has-error", !!data.promo_error);
        })
        .catch(function () {});
    };
    if (input) {
      input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(update, 400); });
      if (apply) apply.addEventListener("click", function (event) { event.preventDefault(); clearTimeout(timer); update(); });
    }
  }
  var choices = document.querySelectorAll("input[name=address_choice]");
  var fields = document.querySelector("[data-new-address]");
  if (choices.length && fields) {
    var sync = function () {
      var chosen = document.querySelector("input[name=address_choice]:checked");
      fields.hidden = !(chosen && chosen.value === "new");
    };
    choices.forEach(function (c) { c.addEventListener("change", sync); });
    sync();
  }
})();

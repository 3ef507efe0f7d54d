/* Checkout with the stripe gateway (PAYMENT_GATEWAY=stripe): Stripe Elements collects the card
   and confirms the PaymentIntent (3-D Secure included) in the browser; then the form posts
   empty and the server re-reads the intent — the card never reaches our server. */
(function () {
  "use strict";
  var form = document.getElementById("stripe-form");
  // No client secret: the gateway did not answer when the payment was prepared. The page says
  // so, and the Pay button posts the form as it is: the server prepares the payment again.
  if (!form || !window.Stripe || !form.getAttribute("data-client-secret")) return;
  var stripe = window.Stripe(form.getAttribute("data-stripe-key"));
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var errors = document.getElementById("card-errors");
  var secret = form.getAttribute("data-client-secret");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var confirm = secret.indexOf("seti_") === 0 ? stripe.confirmCardSetup : stripe.confirmCardPayment;
    confirm.call(stripe, secret, { payment_method: { card: card } }).then(function (result) {
      // An incomplete card stays here; anything the bank said goes to the server, which reads
      // the intent and opens a new attempt after a decline.
      if (result.error && result.error.type === "validation_error") { errors.textContent = result.error.message; return; }
      form.submit();
    });
  });
})();

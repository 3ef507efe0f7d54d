/* Live pages over WebSockets (ARCHITECTURE §8), as progressive enhancement: the page is complete
   without it. An element with data-live-ws="/ws/…/" is the live region: whenever its socket
   reports a change, the same page is fetched again and the region's content swapped in place
   (no reload, the server stays the one place that renders). Reconnects with a growing delay;
   offer countdowns ([data-expires-at]) tick every second. */
(function () {
  "use strict";
  var region = document.querySelector("[data-live-ws]");
  var announce = document.querySelector("[data-live-announce]");

  function tickCountdowns() {
    var now = Date.now();
    document.querySelectorAll("[data-expires-at]").forEach(function (el) {
      var left = Math.round((Date.parse(el.getAttribute("data-expires-at")) - now) / 1000);
      if (left <= 0) {
        el.textContent = el.getAttribute("data-expired-text") || "expired";
        var card = el.closest("[data-offer]");
        if (card) card.querySelectorAll("button[data-accept]").forEach(function (b) { b.disabled = true; });
        return;
      }
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = m + ":" + (s < 10 ? "0" : "") + s;
    });
  }
  tickCountdowns();
  setInterval(tickCountdowns, 1000);

  if (!region || !("WebSocket" in window)) return;
  var refreshing = false, again = false;

  function refresh(reason) {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "live" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(region.id);
        if (!fresh) return;
        // Keep what the person is typing in a form inside the region.
        if (region.contains(document.activeElement) && document.activeElement.form) return;
        region.innerHTML = fresh.innerHTML;
        Array.prototype.forEach.call(fresh.attributes, function (attr) { region.setAttribute(attr.name, attr.value); });
        tickCountdowns();
        if (announce && reason) announce.textContent = reason;
        document.dispatchEvent(new CustomEvent("live:updated"));
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  var delay = 1000;
  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + region.getAttribute("data-live-ws"));
    socket.onopen = function () { delay = 1000; region.setAttribute("data-live-connected", "1"); };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === "error" || message.type === "chat.message" || message.type === "chat.read") return;
      var shown = region.getAttribute("data-live-status");
      // The snapshot sent on connect only matters if the page is already stale.
      if (message.event === "snapshot" && (!shown || shown === message.status)) return;
      refresh(message.status ? "Status: " + message.status.replace("_", " ") : "Updated");
    };
    socket.onclose = function (event) {
      region.removeAttribute("data-live-connected");
      if (event.code === 4401 || event.code === 4403) return;  // not allowed: do not retry
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();

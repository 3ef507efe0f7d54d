/* The booking chat panel (templates/bookings/includes/chat.html) over the booking's socket: new
   messages appear as they arrive, the form sends with {"type": "chat.send"} when the socket is
   open (and falls back to its normal POST otherwise), the other side's messages are marked read
   while the page is visible, and a refusal is shown under the form. Progressive enhancement: the
   panel works without this file. */
(function () {
  "use strict";
  var panel = document.querySelector("[data-chat]");
  if (!panel || !("WebSocket" in window)) return;
  var thread = panel.querySelector("[data-chat-thread]");
  var form = panel.querySelector("[data-chat-form]");
  var errorBox = panel.querySelector("[data-chat-error]");
  var me = panel.getAttribute("data-chat-me");
  var customer = panel.getAttribute("data-chat-customer");
  var socket = null, delay = 1000, unread = false;

  function label(name) { return panel.getAttribute("data-label-" + name) || name; }

  function showError(text) {
    if (!errorBox) return;
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
  }

  function append(message) {
    if (thread.querySelector('[data-message-id="' + message.id + '"]')) return;
    var empty = thread.querySelector("[data-chat-empty]");
    if (empty) empty.remove();
    var item = document.createElement("li");
    var mine = message.sender === me;
    item.className = "chat-message" + (mine ? " mine" : "");
    item.setAttribute("data-message-id", message.id);
    var who = document.createElement("span");
    who.className = "chat-who";
    who.textContent = label(mine ? "you" : (message.sender === customer ? "customer" : "vendor"));
    var body = document.createElement("span");
    body.className = "chat-body";
    body.textContent = message.body;  // text, never HTML
    var when = document.createElement("time");
    when.className = "muted";
    when.setAttribute("datetime", message.at);
    when.textContent = new Date(message.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    item.appendChild(who);
    item.appendChild(body);
    item.appendChild(when);
    thread.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
    if (!mine) { unread = true; markRead(); }
  }

  function markRead() {
    if (!unread || document.hidden || !socket || socket.readyState !== WebSocket.OPEN) return;
    if (!form) return;  // ops read without marking
    unread = false;
    socket.send(JSON.stringify({ type: "chat.read" }));
  }

  function showRead(upTo) {
    thread.querySelectorAll(".chat-message.mine").forEach(function (item) {
      if (Number(item.getAttribute("data-message-id")) <= upTo && !item.querySelector(".chat-read")) {
        var read = document.createElement("span");
        read.className = "muted chat-read";
        read.textContent = " · " + label("read");
        item.appendChild(read);
      }
    });
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + panel.getAttribute("data-chat-ws"));
    socket.onopen = function () {
      delay = 1000;
      panel.setAttribute("data-chat-connected", "1");
      unread = thread.querySelector(".chat-message:not(.mine)") !== null;
      markRead();
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === "chat.message") { showError(""); append(message); }
      else if (message.type === "chat.read" && message.reader !== me) showRead(message.up_to);
      else if (message.type === "error" && message.request === "chat.send") showError(message.detail);
    };
    socket.onclose = function (event) {
      panel.removeAttribute("data-chat-connected");
      if (event.code === 4401 || event.code === 4403) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return;  // the form posts normally
      event.preventDefault();
      var field = form.querySelector("textarea");
      var text = field.value.trim();
      if (!text) { showError("Write a message."); return; }
      socket.send(JSON.stringify({ type: "chat.send", body: text }));
      field.value = "";
      field.focus();
    });
  }
  document.addEventListener("visibilitychange", markRead);
  connect();
})();

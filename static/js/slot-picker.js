/* The slot picker: when the day changes, the free times come from the availability API
   (GET /api/vendors/<id>/availability/?date=&service=) instead of a page reload; on the
   reschedule page (data-booking) it asks with &booking= instead of &service=, so the times are
   sized by the booking and its own current time counts as free. A picker with
   no availability URL (a booking no vendor holds yet: the server lists the platform's free
   times) stays as the server rendered it, "Show times" button included. */
(function () {
  "use strict";
  document.querySelectorAll("[data-slot-picker]").forEach(function (picker) {
    var url = picker.getAttribute("data-availability-url");
    var dateInput = picker.querySelector("input[type=date]");
    var list = picker.querySelector("[data-slot-list]");
    var dayLabel = picker.querySelector("[data-slot-day]");
    if (!url || !dateInput || !list) return;
    picker.querySelectorAll("[data-no-js-only]").forEach(function (el) { el.hidden = true; });

    function render(slots) {
      list.innerHTML = "";
      if (!slots.length) {
        var empty = document.createElement("li");
        empty.className = "muted";
        empty.textContent = "No free time this day. Try another day.";
        list.appendChild(empty);
        return;
      }
      slots.forEach(function (slot) {
        var li = document.createElement("li");
        var label = document.createElement("label");
        var input = document.createElement("input");
        input.type = "radio";
        input.name = "slot";
        input.value = slot.start;
        var span = document.createElement("span");
        span.textContent = slot.start.substring(11, 16);  // local wall time: the API answers in the platform zone
        label.appendChild(input);
        label.appendChild(document.createTextNode(" "));
        label.appendChild(span);
        li.appendChild(label);
        list.appendChild(li);
      });
    }

    dateInput.addEventListener("change", function () {
      if (!dateInput.value) return;
      list.setAttribute("aria-busy", "true");
      var booking = picker.getAttribute("data-booking");
      var query = "?date=" + encodeURIComponent(dateInput.value) + (booking
        ? "&booking=" + encodeURIComponent(booking)
        : "&service=" + encodeURIComponent(picker.getAttribute("data-service")));
      fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { slots: [] }; })
        .then(function (data) {
          render(data.slots || []);
          if (dayLabel) dayLabel.textContent = new Date(dateInput.value + "T12:00:00").toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long" });
        })
        .catch(function () { render([]); })
        .then(function () { list.removeAttribute("aria-busy"); });
    });
  });
})();

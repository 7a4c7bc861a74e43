/* The schedule's time grid: FullCalendar 6 (static/vendor, MIT) on [data-calendar].
 *
 *   [data-calendar]            the grid; its data- attributes: events-url (the JSON of
 *                              calendar.events), keep-day-url, view (week|day), date,
 *                              today, now (the organization's wall time), first-day,
 *                              earliest/latest (the dates the app accepts), clinician;
 *   [data-schedule-filters]    the View / Date / Clinician form: the grid follows it, and
 *                              it follows the grid's own Previous / Next / view buttons;
 *   [data-keep-day]            a day header's "Mark day as kept" (the date): its dialog,
 *                              for the clinician the grid shows;
 *   #calendar-dialog           where the Move, move confirmation and Mark day as kept
 *                              dialogs come (app.js opens and closes them).
 *
 * Times are the organization's wall time: events come as local times without a zone
 * and the grid runs in UTC, so nothing is shifted by the browser's own zone.
 *
 * A drag posts the new date and time to the event's move_url, exactly as the Move
 * dialog's form does (services.schedule_moves, the Edit appointment checks). The server
 * answers with nothing to confirm (saved: `schedule-changed`), a confirmation dialog
 * (warnings, double booking, the card hold), or the reason it is refused
 * (`schedule-refused`). The dragged event goes back unless the move was saved.
 * Every event is focusable (eventInteractive); Enter or Space is a click (FullCalendar's
 * own keyboard handling), which opens its Move dialog.
 */
(function () {
  "use strict";

  const WIDE = window.matchMedia("(min-width: 768px)");
  let calendar = null;
  let root = null; // the [data-calendar] element: its data- attributes are the grid's settings
  let pending = null; // the drop waiting for the server's answer or the person's confirmation

  function pad(number) {
    return String(number).padStart(2, "0");
  }

  // The grid runs in UTC on wall times: the date and time fields are the UTC parts.
  function dateOf(value) {
    return value.getUTCFullYear() + "-" + pad(value.getUTCMonth() + 1) + "-" + pad(value.getUTCDate());
  }

  function timeOf(value) {
    return pad(value.getUTCHours()) + ":" + pad(value.getUTCMinutes());
  }

  function csrfHeaders() {
    const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    return headers;
  }

  function say(message, kind) {
    const status = document.getElementById("schedule-status");
    if (!status) return;
    status.textContent = message;
    status.className = "flash flash-" + kind;
    status.hidden = !message;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function eventContent(arg) {
    const props = arg.event.extendedProps;
    const box = element("div", "cal-event");
    box.appendChild(element("div", "cal-time", arg.timeText));
    box.appendChild(element("div", "cal-title", arg.event.title));
    if (!root.dataset.clinician) {
      box.appendChild(element("div", "cal-clinician", props.clinician));
    }
    const badges = element("div", "cal-badges");
    if (props.status !== "upcoming") badges.appendChild(element("span", "cal-badge cal-status", props.status_label));
    if (props.warning) badges.appendChild(element("span", "cal-badge cal-warning", "Authorization warning"));
    if (props.double_booked) badges.appendChild(element("span", "cal-badge cal-double", "Double-booked"));
    if (props.hold_label) badges.appendChild(element("span", "cal-badge cal-hold", props.hold_label));
    if (badges.childNodes.length) box.appendChild(badges);
    return { domNodes: [box] };
  }

  function describe(event) {
    const props = event.extendedProps;
    return [
      event.title + ", " + dateOf(event.start) + " " + timeOf(event.start) + "–" + timeOf(event.end),
      props.clinician,
      props.status_label,
      props.warning,
      props.double_booked_text,
      props.hold_label,
    ].filter(Boolean).join(". ");
  }

  function eventDidMount(arg) {
    const el = arg.el;
    el.dataset.encounterId = arg.event.id;
    el.setAttribute("aria-label", describe(arg.event) + ". Press Enter to move or open it.");
    el.title = describe(arg.event);
  }

  function openMove(event, trigger) {
    if (trigger) trigger.setAttribute("data-opens-dialog", "");
    htmx.ajax("GET", event.extendedProps.move_url, { target: "#calendar-dialog", source: trigger || root });
  }

  function eventDrop(info) {
    if (pending) pending.revert();
    pending = info;
    say("", "info");
    htmx.ajax("POST", info.event.extendedProps.move_url, {
      target: "#calendar-dialog",
      source: root, // the dragged element is drawn again: htmx needs one in the page
      headers: csrfHeaders(),
      values: { date: dateOf(info.event.start), time: timeOf(info.event.start) },
    });
  }

  // A day that has begun gets "Mark day as kept"; the clinician filter is read on click.
  function dayHeaderDidMount(arg) {
    const day = dateOf(arg.date);
    if (day > root.dataset.today) return;
    const button = element("button", "small outline keep-day", "Mark day as kept");
    button.type = "button";
    button.dataset.keepDay = day;
    button.setAttribute("data-opens-dialog", "");
    button.setAttribute("aria-label", "Mark " + day + " as kept");
    arg.el.querySelector(".fc-scrollgrid-sync-inner").appendChild(button);
  }

  function openKeepDay(button) {
    const url = new URL(root.dataset.keepDayUrl, window.location.origin);
    url.searchParams.set("date", button.dataset.keepDay);
    if (root.dataset.clinician) url.searchParams.set("clinician", root.dataset.clinician);
    htmx.ajax("GET", url.pathname + url.search, { target: "#calendar-dialog", source: button });
  }

  function loadEvents(info, success, failure) {
    const url = new URL(root.dataset.eventsUrl, window.location.origin);
    url.searchParams.set("start", dateOf(info.start));
    url.searchParams.set("end", dateOf(info.end));
    if (root.dataset.clinician) url.searchParams.set("clinician", root.dataset.clinician);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || "The schedule could not be loaded.");
          return body;
        });
      })
      .then(function (events) {
        fitHours(events);
        success(events);
      })
      .catch(function (error) {
        say(error.message, "danger");
        failure(error);
      });
  }

  // Office hours (7 AM – 8 PM), widened to show every appointment of the range.
  function fitHours(events) {
    let first = 7;
    let last = 20;
    events.forEach(function (event) {
      const start = new Date(event.start + ":00Z");
      const end = new Date(event.end + ":00Z");
      const endHour = end.getUTCDate() !== start.getUTCDate()
        ? 24
        : end.getUTCHours() + (end.getUTCMinutes() ? 1 : 0);
      first = Math.min(first, start.getUTCHours());
      last = Math.max(last, endHour);
    });
    const min = pad(first) + ":00:00";
    const max = pad(last) + ":00:00";
    if (calendar.getOption("slotMinTime") !== min) calendar.setOption("slotMinTime", min);
    if (calendar.getOption("slotMaxTime") !== max) calendar.setOption("slotMaxTime", max);
  }

  // The filter form and the grid show the same view and dates.
  function form() {
    return document.querySelector("[data-schedule-filters]");
  }

  function syncForm(view, day) {
    const filters = form();
    if (!filters) return;
    const viewField = filters.elements.namedItem("view");
    const dateField = filters.elements.namedItem("date");
    if (viewField.value === view && dateField.value === day) return;
    viewField.value = view;
    dateField.value = day;
    htmx.trigger(filters, "change");
  }

  function datesSet(info) {
    const view = info.view.type === "timeGridDay" ? "day" : "week";
    const day = view === "day" ? dateOf(info.start) : dateOf(calendar.getDate());
    root.dataset.view = view;
    syncForm(view, day);
  }

  function followForm(event) {
    if (!calendar) return;
    const filters = event.target.closest("[data-schedule-filters]");
    if (!filters) return;
    const view = filters.elements.namedItem("view").value === "day" ? "timeGridDay" : "timeGridWeek";
    const day = filters.elements.namedItem("date").value;
    const clinician = filters.elements.namedItem("clinician");
    if (clinician && clinician.value !== root.dataset.clinician) {
      root.dataset.clinician = clinician.value;
      calendar.refetchEvents();
    }
    if (view !== calendar.view.type) calendar.changeView(view);
    if (/^\d{4}-\d{2}-\d{2}$/.test(day)) calendar.gotoDate(day);
  }

  function build(el) {
    root = el;
    const data = el.dataset;
    calendar = new FullCalendar.Calendar(el, {
      timeZone: "UTC",
      now: data.now,
      initialView: data.view === "day" ? "timeGridDay" : "timeGridWeek",
      initialDate: data.date,
      firstDay: parseInt(data.firstDay, 10),
      validRange: { start: data.earliest, end: data.latest },
      headerToolbar: { left: "prev,next today", center: "title", right: "timeGridWeek,timeGridDay" },
      // Text buttons: FullCalendar's arrow icons are a data: font, which font-src refuses.
      buttonIcons: false,
      buttonText: { prev: "‹ Previous", next: "Next ›", today: "Today", week: "Week", day: "Day" },
      height: "auto",
      slotMinTime: "07:00:00",
      slotMaxTime: "20:00:00",
      allDaySlot: false,
      nowIndicator: true,
      eventTimeFormat: { hour: "numeric", minute: "2-digit", meridiem: "short" },
      slotEventOverlap: false,
      editable: true,
      eventDurationEditable: false,
      eventStartEditable: true,
      snapDuration: "00:15:00",
      eventInteractive: true,
      events: loadEvents,
      eventContent: eventContent,
      eventDidMount: eventDidMount,
      eventDrop: eventDrop,
      eventClick: function (info) {
        info.jsEvent.preventDefault();
        openMove(info.event, info.el);
      },
      dayHeaderDidMount: dayHeaderDidMount,
      datesSet: datesSet,
    });
    calendar.render();
  }

  function start() {
    const el = document.querySelector("[data-calendar]");
    if (!el || calendar || !WIDE.matches) return;
    build(el);
  }

  // A dropped event waits for its answer; it goes back unless the move was saved.
  document.addEventListener("schedule-changed", function (event) {
    pending = null;
    if (calendar) calendar.refetchEvents();
    if (event.detail && event.detail.message) say(event.detail.message, "success");
  });
  document.addEventListener("schedule-refused", function (event) {
    if (pending) pending.revert();
    pending = null;
    if (event.detail && event.detail.message) say(event.detail.message, "danger");
  });

  function watchDialogSlot() {
    const slot = document.getElementById("calendar-dialog");
    if (!slot) return;
    new MutationObserver(function () {
      if (pending && !slot.querySelector("dialog")) {
        pending.revert(); // the confirmation was closed without moving
        pending = null;
        say("Not moved.", "info");
      }
    }).observe(slot, { childList: true, subtree: true });
  }

  document.addEventListener("change", followForm);
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-keep-day]");
    if (button && calendar) openKeepDay(button);
  });
  document.addEventListener("DOMContentLoaded", function () {
    watchDialogSlot();
    start();
    WIDE.addEventListener("change", start);
  });
})();

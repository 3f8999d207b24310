// The snippet page's install check and the live events table: both poll
// the console's API every 2 seconds. Everything shown came from a hit and
// is hostile: it goes into the page with textContent only, never innerHTML,
// and never becomes a link.
"use strict";

(function () {
  var every = 2000;

  // The install check: #install-check turns from data-state="waiting" to
  // "installed" with the page URL of the pixel's first hit in #install-url.
  function installCheck(box) {
    var pixel = box.getAttribute("data-pixel");
    var poll = function () {
      if (box.getAttribute("data-state") === "installed") { return; }
      window.getJSON("/api/pixels/" + encodeURIComponent(pixel) + "/install").then(function (r) {
        if (r.installed) {
          document.getElementById("install-url").textContent = r.url || "(no page URL)";
          box.setAttribute("data-state", "installed");
          return;
        }
        setTimeout(poll, every);
      }, function () { setTimeout(poll, every); });
    };
    setTimeout(poll, every);
  }

  // text makes a cell of class cls holding s as text.
  function cell(cls, s) {
    var td = document.createElement("td");
    td.className = cls;
    td.textContent = s;
    return td;
  }

  function campaign(e) {
    var parts = [];
    if (e.utm_campaign) { parts.push(e.utm_campaign); }
    var sm = [e.utm_source, e.utm_medium].filter(function (x) { return x; }).join(" / ");
    if (sm) { parts.push(sm); }
    return parts.join(" \u00b7 ");
  }

  function row(e) {
    var tr = document.createElement("tr");
    tr.className = "event-row fresh";
    tr.setAttribute("data-cursor", e.cursor);
    var when = document.createElement("td");
    when.className = "ev-time";
    var t = document.createElement("time");
    t.setAttribute("datetime", e.received_at);
    t.textContent = e.received_at.replace("T", " ").replace("Z", "");
    when.appendChild(t);
    tr.appendChild(when);
    tr.appendChild(cell("ev-name", e.event));
    tr.appendChild(cell("ev-page wrap", e.url));
    tr.appendChild(cell("ev-referrer wrap", e.referrer));
    tr.appendChild(cell("ev-campaign", campaign(e)));
    tr.appendChild(cell("ev-value num", e.value ? (String(e.value) + " " + e.currency).trim() : ""));
    tr.appendChild(cell("ev-consent", e.consent));
    tr.appendChild(cell("ev-signals", [e.gpc ? "gpc" : "", e.dnt ? "dnt" : ""].filter(function (x) { return x; }).join(" ")));
    tr.appendChild(cell("ev-bot", e.bot ? "bot" : ""));
    tr.appendChild(cell("ev-channel", e.channel));
    tr.appendChild(cell("ev-props wrap", e.props));
    tr.appendChild(cell("ev-ua", e.user_agent));
    return tr;
  }

  // The live table: new events go on top, the table keeps the newest 50.
  function liveEvents(table) {
    var pixel = table.getAttribute("data-pixel");
    var cursor = table.getAttribute("data-cursor") || "";
    var body = table.tBodies[0];
    var pause = document.getElementById("live-pause");
    var empty = document.getElementById("live-empty");
    var paused = false;
    var timer = null;
    var inflight = false;
    var poll = function () {
      timer = null;
      inflight = true;
      var url = "/api/pixels/" + encodeURIComponent(pixel) + "/events?limit=50&after=" + encodeURIComponent(cursor);
      window.getJSON(url).then(function (r) {
        inflight = false;
        // Paused meanwhile: drop the answer; the cursor did not move, so
        // the same events come again after Resume.
        if (paused) { return; }
        body.querySelectorAll("tr.fresh").forEach(function (tr) { tr.classList.remove("fresh"); });
        // r.events is newest first: insert the oldest first, each on top.
        for (var i = r.events.length - 1; i >= 0; i--) {
          body.insertBefore(row(r.events[i]), body.firstChild);
        }
        while (body.rows.length > 50) { body.deleteRow(body.rows.length - 1); }
        if (r.events.length && empty) { empty.hidden = true; }
        cursor = r.cursor || cursor;
        timer = setTimeout(poll, every);
      }, function () {
        inflight = false;
        if (!paused) { timer = setTimeout(poll, every); }
      });
    };
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.setAttribute("aria-pressed", paused ? "true" : "false");
      pause.textContent = paused ? "Resume" : "Pause";
      if (!paused && timer === null && !inflight) { poll(); }
      if (paused && timer !== null) { clearTimeout(timer); timer = null; }
    });
    timer = setTimeout(poll, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("install-check");
    if (box) { installCheck(box); }
    var table = document.getElementById("live-events");
    if (table) { liveEvents(table); }
  });
})();

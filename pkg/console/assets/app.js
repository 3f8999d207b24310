// The console's shared behaviour. No inline script anywhere: pages declare
// what they need with data- attributes, and this file wires it up.
"use strict";

// csrfToken is the session's CSRF token, for fetch() calls that change
// something (sent as X-CSRF-Token).
window.csrfToken = function () {
  var m = document.querySelector('meta[name="csrf"]');
  return m ? m.getAttribute("content") : "";
};

// getJSON fetches a console API URL and parses its JSON answer.
window.getJSON = function (url) {
  return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
    if (!r.ok) {
      throw new Error(url + ": HTTP " + r.status);
    }
    return r.json();
  });
};

document.addEventListener("DOMContentLoaded", function () {
  // <select data-autosubmit> submits its form when changed (the form also
  // has a button, for keyboards and browsers without script).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });

  // <button data-copy="ID"> copies the text of the element with that id.
  document.querySelectorAll("button[data-copy]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var src = document.getElementById(btn.getAttribute("data-copy"));
      if (!src) { return; }
      var text = src.textContent;
      var done = function () {
        btn.setAttribute("data-copied", "yes");
        btn.textContent = "Copied";
        setTimeout(function () { btn.textContent = "Copy"; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(src); });
      } else {
        selectText(src);
        try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
      }
    });
  });
});

function selectText(el) {
  var range = document.createRange();
  range.selectNodeContents(el);
  var sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

// The new destination form: show only the settings of the kind chosen.
// Without script the form shows every kind's section, each under its
// heading, and the console saves the chosen kind's only.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var select = document.querySelector("select[data-kind-select]");
  if (!select) { return; }
  var sections = document.querySelectorAll("fieldset[data-kind]");
  var show = function () {
    sections.forEach(function (fs) {
      fs.hidden = fs.getAttribute("data-kind") !== select.value;
    });
  };
  select.addEventListener("change", show);
  show();
});

// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Move focus to the error summary so screen readers announce it after a failed submit.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  });
  // An error summary's link to a group of radios or checkboxes points at the group: focus its
  // first input (and show the group's legend), as a link to a single field already does.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
    if (!link) { return; }
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target || target.matches("input, select, textarea")) { return; }
    var input = target.querySelector("input, select, textarea");
    if (!input) { return; }
    event.preventDefault();
    (target.closest("fieldset") || target).scrollIntoView({ block: "start" });
    input.focus({ preventScroll: true });
  });
  // A group shown only while another field has a value (data-show-if="name=value"), e.g. the
  // planned visits of a partial programme. Without this script the group is always shown.
  function syncShowIf() {
    document.querySelectorAll("div[data-show-if]").forEach(function (group) {
      var rule = group.getAttribute("data-show-if").split("=");
      var form = group.closest("form");
      var chosen = form && form.querySelector('input[name="' + rule[0] + '"]:checked');
      (group.closest("fieldset") || group).hidden = !chosen || chosen.value !== rule[1];
    });
  }
  document.addEventListener("DOMContentLoaded", syncShowIf);
  document.addEventListener("change", syncShowIf);
  // htmx sends Django's CSRF token from the page's meta tag on every unsafe request.
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { event.detail.headers["X-CSRFToken"] = meta.content; }
  });
})();
